#!/usr/bin/env bash
# edgecoap tests: two nodes on one PostgreSQL behind nginx (scripts/cluster): what one node stores the other serves and notifies, and a node's kill -9 under writers.
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/it_cluster.sh BUILD_DIR. Every wait is bounded; about 15 s.
# EC_IT_KEEP=1 keeps the cluster's folder (logs); EC_IT_NODE_ARGS go to
# every node; EC_IT_CLUSTER_WRITES is each crash writer's count (25).
set -euo pipefail
build=${1:?usage: it_cluster.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
name=it_cluster
. "$root/tests/support/cluster.sh"
DEV=cluster-dev

# Write on A, read on B.
report pending | c --url "$A" status report "$DEV" "$DEP" - >"$dir/put1" 2>&1
check "a report stored on node A" grep -q "\"state\":\"Pending\"" "$dir/put1"
c --url "$B" status get "$DEV" "$DEP" >"$dir/get1" 2>&1 || true
check "node B reads what node A stored" grep -q '"state":"Pending"' "$dir/get1"

# Observe on B, write on A: the notification comes through B.
c --url "$B" status watch "$DEV" "$DEP" --count 2 --max-time 8 >"$dir/watch" 2>&1 &
watcher=$!
for _ in $(seq 50); do grep -q Pending "$dir/watch" 2>/dev/null && break; sleep 0.1; done
t0=$(date +%s%N)
report installing | c --url "$A" status report "$DEV" "$DEP" - >"$dir/put2" 2>&1
for _ in $(seq 80); do grep -q Installing "$dir/watch" 2>/dev/null && break; sleep 0.05; done
t1=$(date +%s%N)
wait "$watcher" || true
check "node B's observer hears of node A's write" grep -q Installing "$dir/watch"
ms=$(((t1 - t0) / 1000000))
echo "it_cluster: A's write to B's notification: $ms ms (report answered included)"
check "within a second" [ "$ms" -lt 1000 ]

# Node B has the pair's report cached and, the watch over, may have no
# observer: node A's next write drops B's cache (B reads nothing when
# nobody is told), and B's next read reads the store.
c --url "$B" status get "$DEV" "$DEP" >"$dir/get3" 2>&1 || true
check "node B serves the report its observer heard" grep -q '"state":"Installing"' "$dir/get3"
report removing | c --url "$A" status report "$DEV" "$DEP" - >/dev/null 2>&1 || true
for _ in $(seq 20); do
  c --url "$B" status get "$DEV" "$DEP" >"$dir/get4" 2>&1 || true
  grep -q '"state":"Removing"' "$dir/get4" && break
  sleep 0.05
done
check "node B reads node A's next write" grep -q '"state":"Removing"' "$dir/get4"

# A pair node B has not seen: B makes its route from the hint, and a read
# through nginx (whichever node the hash picks) has it.
report installed | c --url "$A" status report dev-new "$DEP" - >/dev/null 2>&1 || true
c --url "$FRONT" status get dev-new "$DEP" >"$dir/get2" 2>&1 || true
check "a read through nginx finds it" grep -q "\"state\":\"Installed\"" "$dir/get2"

# Status messages: observe latest on B (filtered by orderId), post on A.
msg O-cluster 100 | c --url "$A" messages post - >/dev/null 2>&1 || true
c --url "$B" messages watch orderId=O-cluster --count 3 --max-time 8 >"$dir/mwatch" 2>&1 &
watcher=$!
for _ in $(seq 50); do grep -q 'messageCode":100' "$dir/mwatch" 2>/dev/null && break; sleep 0.1; done
msg O-other 200 | c --url "$A" messages post - >/dev/null 2>&1 || true
msg O-cluster 300 | c --url "$A" messages post - >/dev/null 2>&1 || true
msg O-cluster 400 | c --url "$A" messages post - >/dev/null 2>&1 || true
wait "$watcher" || true
check "node B's latest observer hears of A's posts in order, filtered" \
  sh -c "grep -o 'messageCode\":[0-9]*' '$dir/mwatch' | tr -dc '0-9\n' | tr '\n' ' ' | grep -q '^100 300 400 \$'"

# PostgreSQL restarted: a write waits for it a bounded time, then 5.03
# with Max-Age; once it is back the nodes find it with no manual step,
# and B's observer ends on the latest state.
c --url "$B" status watch "$DEV" "$DEP" --count 2 --max-time 20 >"$dir/watch2" 2>&1 &
watcher=$!
for _ in $(seq 50); do grep -q Installing "$dir/watch2" 2>/dev/null && break; sleep 0.1; done
"$dir/c/pg/ctl" stop >/dev/null
t0=$(date +%s%N)
# (the client's timeout past the node's wait, 5 s)
report failed | "$client" --json --timeout 9000 --url "$A" status report "$DEV" "$DEP" - >"$dir/put3" 2>&1 || true
ms=$((($(date +%s%N) - t0) / 1000000))
echo "it_cluster: a write while PostgreSQL is away answered after $ms ms: $(head -c 120 "$dir/put3")"
check "a write while PostgreSQL is away: 5.03" grep -q "5.03" "$dir/put3"
check "answered within the bound" [ "$ms" -lt 9000 ]
"$dir/c/pg/ctl" start >/dev/null
ok=0
for _ in $(seq 20); do
  if report installed | c --url "$A" status report "$DEV" "$DEP" - >"$dir/put4" 2>&1; then ok=1; break; fi
  sleep 0.25
done
check "after the restart node A stores again, by itself" [ "$ok" -eq 1 ]
wait "$watcher" || true
check "node B's observer ends on the latest state" sh -c "tail -n 1 '$dir/watch2' | grep -q Installed"

# kill -9 of a node under 6 writers that use request identifiers and
# retry (through nginx, from 6 source addresses, so both nodes take some):
# every acknowledged write is stored once, retried writes once, and each
# writer's history sequence is gapless.
writes=${EC_IT_CLUSTER_WRITES:-25}
writer() { # writer W: $writes reports, each retried with its Request-Id
  local w=$1 i try out rid
  report installing >"$dir/body$w"
  for i in $(seq 1 "$writes"); do
    rid=$(printf '%08x%08x' "$w" "$i")
    for try in $(seq 1 20); do
      out=$(coap-client-notls -a "127.0.0.$((20 + w))" -m post -t 50 -B 3 \
        -O "65004,0x$rid" -f "$dir/body$w" \
        "coap://127.0.0.1:$front/device/crash-w$w/deployment/$DEP/status" 2>&1) || true
      case "$out" in *'"state"'*) echo "$rid $try" >>"$dir/acked$w"; break ;; esac
      sleep 0.2
    done
  done
}
writers=()
for w in 1 2 3 4 5 6; do writer "$w" & writers+=($!); done
sleep 0.5
victim=$(cat "$dir/c/node1.pid")
kill -9 "$victim"
t0=$(date +%s)
for p in "${writers[@]}"; do wait "$p" || true; done
echo "it_cluster: the writers took $(($(date +%s) - t0)) s after node 1's kill -9"
acked=$(cat "$dir"/acked* 2>/dev/null | wc -l)
retried=$(awk '$2 > 1' "$dir"/acked* 2>/dev/null | wc -l)
rows=$(q "SELECT count(*) FROM status_history WHERE device_id LIKE 'crash-w%'")
distinct=$(q "SELECT count(DISTINCT (device_id, request_id)) FROM status_history WHERE device_id LIKE 'crash-w%'")
gaps=$(q "SELECT count(*) FROM (SELECT device_id FROM status_history WHERE device_id LIKE 'crash-w%' GROUP BY device_id HAVING max(seq) <> count(*)) g")
missing=0
for f in "$dir"/acked*; do
  w=${f##*acked}
  while read -r rid _; do
    n=$(q "SELECT count(*) FROM status_history WHERE device_id = 'crash-w$w' AND request_id = '\\x$rid'")
    [ "$n" = 1 ] || missing=$((missing + 1))
  done <"$f"
done
echo "it_cluster: kill -9 under 6 writers: $acked of $((6 * writes)) acknowledged ($retried after a retry), $rows stored, $distinct distinct, $missing acknowledged not stored once, $gaps writers with a gap"
check "every acknowledged write stored once" [ "$missing" -eq 0 ]
check "nothing stored twice" [ "$rows" -eq "$distinct" ]
check "every write acknowledged in the end" [ "$acked" -eq $((6 * writes)) ]
check "history gapless per deployment" [ "$gaps" -eq 0 ]

# Stopping (TERM; Ctrl-C is the same) leaves nothing behind: nginx's
# workers included (a graceful stop would wait for each UDP session).
np=$(cat "$dir/c/nginx/nginx.pid")
kill -TERM "$cluster"
wait "$cluster" || true
cluster=
check "stopping leaves no nginx" sh -c "! kill -0 $np 2>/dev/null && ! pgrep -P $np >/dev/null"
check "nor PostgreSQL" [ ! -f "$dir/c/pg/data/postmaster.pid" ]

cluster_done
