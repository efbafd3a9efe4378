#!/usr/bin/env bash
# edgecoap tests: two nodes on one PostgreSQL (scripts/cluster): the status-message feed and provisioning observers across nodes, and PostgreSQL restarted under writers.
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/it_cluster_feed.sh BUILD_DIR. Every wait is bounded; about
# 20 s. EC_IT_KEEP=1 keeps the cluster's folder (logs); EC_IT_NODE_ARGS go
# to every node; EC_IT_FEED_BATCHES is each feed writer's count of posts
# (12), EC_IT_RESTART_WRITES each restart writer's count of writes (30).
set -euo pipefail
build=${1:?usage: it_cluster_feed.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
name=it_cluster_feed
. "$root/tests/support/cluster.sh"
port=${A##*:}
node_url() { # node_url N: node N's coap:// URL (1: A, 2: B)
  echo "coap://127.0.0.$(($1 + 1)):$port"
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
lines() { cat "$@" 2>/dev/null || true; } # lines FILE...: those that exist

# ---- 1, 2: the feed -------------------------------------------------------
# 4 writers, 2 on each node, post batches of 5 messages with Request-Ids,
# each retried until acknowledged. Message j of writer w's batch i has the
# accessId W<w>B<i>M<j>, by which it is found in the database; in every
# batch exactly one message has orderId OA (A's observer follows it) and
# one subscriptionId SB (B's observer): each of their notifications is one
# batch's.
batches=${EC_IT_FEED_BATCHES:-12}
feed_body() { # feed_body W I: writer W's batch I
  local w=$1 i=$2 j sep=
  printf '{"StatusMessages":['
  for j in 0 1 2 3 4; do
    case $j in
      1) key='"orderId":"OA"' ;;
      3) key='"subscriptionId":"SB"' ;;
      *) key="\"orderId\":\"F$w\"" ;;
    esac
    printf '%s{"messageCode":%d,"accessId":"W%dB%dM%d",%s}' "$sep" $((100 + j)) "$w" "$i" "$j" "$key"
    sep=,
  done
  printf ']}'
}
feed_writer() { # feed_writer W NODE: $batches posts to node NODE
  local w=$1 url i try out
  url=$(node_url "$2")
  for i in $(seq 1 "$batches"); do
    feed_body "$w" "$i" >"$dir/fbody$w"
    for try in $(seq 1 20); do
      out=$(coap-client-notls -m post -t 50 -B 3 -O "65004,0x$(printf 'f%07x%08x' "$w" "$i")" \
        -f "$dir/fbody$w" "$url/api/2.3/statusmessages" 2>&1) || true
      case "$out" in *statusMessageID*) echo "$i $try" >>"$dir/facked$w"; break ;; esac
      sleep 0.1
    done
  done
}
ids_of() { jq -r '.StatusMessages[]?.statusMessageID' 2>/dev/null; }

# The observers, registered before the writers start: each prints the
# current latest first ({"StatusMessages":[]} here).
c --url "$A" messages watch orderId=OA --max-time 60 >"$dir/obsA" 2>"$dir/obsA.err" &
obsA=$!
c --url "$B" messages watch subscriptionId=SB --max-time 60 >"$dir/obsB" 2>"$dir/obsB.err" &
obsB=$!
for _ in $(seq 50); do [ -s "$dir/obsA" ] && [ -s "$dir/obsB" ] && break; sleep 0.1; done

t0=$(now_ms)
writers=()
feed_writer 1 1 & writers+=($!)
feed_writer 2 1 & writers+=($!)
feed_writer 3 2 & writers+=($!)
feed_writer 4 2 & writers+=($!)

# The reader syncs as a client does: pages of at most 7 from the last ID
# it has, from node A and node B in turn, until the writers are done and
# a page comes back empty.
: >"$dir/seen"
last=0
pages=0
node=1
for _ in $(seq 2000); do
  alive=0
  for p in "${writers[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  c --url "$(node_url $node)" messages list "fromStatusMessageID=$last" limit=7 >"$dir/page" 2>&1 || true
  node=$((3 - node))
  pages=$((pages + 1))
  ids_of <"$dir/page" >"$dir/page.ids"
  if [ -s "$dir/page.ids" ]; then
    cat "$dir/page.ids" >>"$dir/seen"
    last=$(tail -n 1 "$dir/page.ids")
  elif [ "$alive" -eq 0 ]; then
    break
  else
    sleep 0.05
  fi
done
for p in "${writers[@]}"; do wait "$p" || true; done
t1=$(now_ms)

total=$(q "SELECT count(*) FROM status_messages")
maxid=$(q "SELECT coalesce(max(id), 0) FROM status_messages")
seen=$(wc -l <"$dir/seen")
dups=$(sort -n "$dir/seen" | uniq -d | wc -l)
# Gapless: the n-th ID seen is n (the feed starts at 1, and nothing else
# posted here).
gaps=$(awk '$1 != NR' "$dir/seen" | wc -l)
acked=$(lines "$dir"/facked* | wc -l)
retried=$(lines "$dir"/facked* | awk '$2 > 1' | wc -l)
# One query: the acknowledged batches not stored whole, once.
rows_of() { # rows_of FORMAT FILE...: a VALUES list, FORMAT of each file's
  # number (the digits ending its name) and each line's first field
  local f=$1 sep= i w file
  shift
  for file in "$@"; do
    [ -f "$file" ] || continue
    w=${file##*[a-z]}
    while read -r i _; do printf "%s$f" "$sep" "$w" "$i"; sep=,; done <"$file"
  done
}
vals=$(rows_of "('W%dB%d')" "$dir"/facked*)
missing=0
[ -z "$vals" ] || missing=$(q "SELECT count(*) FROM (VALUES $vals) v(b)
  WHERE (SELECT count(*) FROM status_messages WHERE access_id LIKE v.b || 'M_') <> 5")
twice=$(q "SELECT count(*) - count(DISTINCT access_id) FROM status_messages")
echo "$name: 4 writers on 2 nodes, $acked of $((4 * batches)) batches acknowledged ($retried after a retry) in $((t1 - t0)) ms;" \
  "the reader saw $seen IDs in $pages pages ($dups twice, $gaps out of place), the database holds $total (last ID $maxid)"
check "every batch acknowledged" [ "$acked" -eq $((4 * batches)) ]
check "every acknowledged batch stored once, whole" [ "$missing" -eq 0 ]
check "no message stored twice" [ "$twice" -eq 0 ]
check "the reader saw no ID twice" [ "$dups" -eq 0 ]
check "the reader's IDs are gapless" [ "$gaps" -eq 0 ]
check "the reader saw every ID the database holds" [ "$seen" -eq "$total" ] && [ "$seen" -eq "$maxid" ]

# The observers: every OA (A's) and SB (B's) message, in ID order, each
# once, after the empty first answer. Waited for a bounded time.
for f in OA:order_id:obsA SB:subscription_id:obsB; do
  IFS=: read -r val col file <<<"$f"
  q "SELECT id FROM status_messages WHERE $col = '$val' ORDER BY id" >"$dir/$file.want"
  want=$(wc -l <"$dir/$file.want")
  for _ in $(seq 50); do
    [ "$(($(wc -l <"$dir/$file") - 1))" -ge "$want" ] && break
    sleep 0.1
  done
  tail -n +2 "$dir/$file" | while read -r line; do ids_of <<<"$line"; done >"$dir/$file.got"
  got=$(wc -l <"$dir/$file.got")
  echo "$name: the $val observer on node $([ "$file" = obsA ] && echo A || echo B): $got notifications of $want stored"
  check "the $val observer heard every match once, in ID order" cmp -s "$dir/$file.want" "$dir/$file.got"
done
kill "$obsA" "$obsB" 2>/dev/null || true
wait "$obsA" "$obsB" 2>/dev/null || true

# ---- 3: provisioning observers across nodes ------------------------------
admin import "$root/tests/data/provisioning-catalog.json" >"$dir/import" 2>&1 && imported=0 || imported=$?
check "the catalog imported" [ "$imported" -eq 0 ]
token=$(EDGECOAP_PASSWORD=admin-pass-4e1f c --url "$A" login admin 2>"$dir/login.err") || true
check "logged in on node A" [ -n "$token" ]
export EDGECOAP_TOKEN=$token
# B's observer hears of A's writes; A's own, once each (not again from its
# own hint).
c --url "$B" provisioning watch --provisioning-id 12 --max-time 20 >"$dir/pwatch" 2>&1 &
pw=$!
c --url "$A" provisioning watch --provisioning-id 12 --max-time 20 >"$dir/pwatchA" 2>&1 &
pwA=$!
for _ in $(seq 50); do [ -s "$dir/pwatch" ] && [ -s "$dir/pwatchA" ] && break; sleep 0.1; done
lat=()
for step in "insert --component-type Sensor --component-id 3" \
  "update --component-type Sensor --component-id 3 --active-status 1" \
  "insert --component-type Parameter --component-id 2,4"; do
  before=$(wc -l <"$dir/pwatch")
  t0=$(now_ms)
  # shellcheck disable=SC2086
  c --url "$A" provisioning $step --provisioning-id 12 >"$dir/pwrite" 2>&1 || true
  for _ in $(seq 100); do [ "$(wc -l <"$dir/pwatch")" -gt "$before" ] && break; sleep 0.02; done
  lat+=($(($(now_ms) - t0)))
done
sleep 0.2
kill "$pw" "$pwA" 2>/dev/null || true
wait "$pw" "$pwA" 2>/dev/null || true
echo "$name: provisioning 12 written on A, heard on B after ${lat[*]} ms (the write answered included)"
check "B's provisioning observer heard all three writes" [ "$(wc -l <"$dir/pwatch")" -eq 4 ]
check "the last notification is the latest state" \
  sh -c "tail -n 1 '$dir/pwatch' | grep -q '\"component_id\":4'"
check "A's own observer heard each write once" [ "$(wc -l <"$dir/pwatchA")" -eq 4 ]
slow=0
for l in "${lat[@]}"; do [ "$l" -lt 1000 ] || slow=1; done
check "each within a second" [ "$slow" -eq 0 ]

# An import by admin on the same PostgreSQL (sensor 3 renamed) reaches an
# observer on a running node: the import's transaction sends the hints of
# the provisionings whose answers it changes, as a write of components
# does; without them nobody would hear of it.
printf '{"sensors": [{"id": 3, "name": "Relative Humidity"}]}\n' >"$dir/rename.json"
c --url "$B" provisioning watch --provisioning-id 12 --max-time 20 >"$dir/iwatch" 2>&1 &
iw=$!
for _ in $(seq 50); do [ -s "$dir/iwatch" ] && break; sleep 0.1; done
admin import "$dir/rename.json" >"$dir/import2" 2>&1 && imported=0 || imported=$?
t0=$(now_ms)
check "a sensor renamed by admin import" [ "$imported" -eq 0 ]
for _ in $(seq 100); do grep -q "Relative Humidity" "$dir/iwatch" && break; sleep 0.02; done
ms=$(($(now_ms) - t0))
kill "$iw" 2>/dev/null || true
wait "$iw" 2>/dev/null || true
echo "$name: an admin import heard by B's provisioning observer ${ms} ms after the command returned"
check "B's provisioning observer hears of the import" grep -q "Relative Humidity" "$dir/iwatch"
check "within a second" [ "$ms" -lt 1000 ]

# ---- 4: PostgreSQL restarted under writers --------------------------------
# 6 writers, 3 on each node: 4 report statuses (each write's report names
# its number in status.error.code), 2 post messages, every write under a
# Request-Id of its own and retried with it until acknowledged. While they
# write, PostgreSQL is stopped and started again. A write that meets it
# away waits for it (docs/CLUSTER.md), so a restart shorter than that wait
# is not seen by the writers at all: no error, only slower answers.
writes=${EC_IT_RESTART_WRITES:-30}
restart_writer() { # restart_writer W NODE: $writes writes to node NODE
  local w=$1 url i try code rid t0 t1 path
  url=$(node_url "$2")
  for i in $(seq 1 "$writes"); do
    rid=$(printf 'e%07x%08x' "$w" "$i")
    if [ "$w" -le 4 ]; then
      printf '{"apiVersion":"deployment.margo/v1","kind":"DeploymentStatus","deploymentId":"%s","status":{"state":"Installing","error":{"code":"w%d-%d","message":""}},"components":[]}' \
        "$DEP" "$w" "$i" >"$dir/rbody$w"
      path="device/restart-w$w/deployment/$DEP/status"
    else
      printf '{"messageCode":101,"orderId":"R%d","accessId":"R%dN%d"}' "$w" "$w" "$i" >"$dir/rbody$w"
      path=api/2.3/statusmessages
    fi
    for try in $(seq 1 20); do
      t0=$(now_ms)
      # The answer's code is the last response's the PDU trace shows (a
      # 2.04 to an address not verified has no payload).
      code=$(coap-client-notls -v 6 -m post -t 50 -B 20 -O "65004,0x$rid" -f "$dir/rbody$w" \
        "$url/$path" 2>&1 | grep -o ' c:[245]\.[0-9][0-9] ' | tail -n 1) || true
      t1=$(now_ms)
      case "$code" in
        ' c:2.'*) echo "$i $try $((t1 - t0))" >>"$dir/racked$w"; break ;;
        *) echo "$i $try $((t1 - t0)) ${code:-none}" >>"$dir/rfailed$w" ;;
      esac
      sleep 0.2
    done
    sleep 0.05
  done
}
# B's observer of writer 1's pair (written on A).
report pending | c --url "$A" status report restart-w1 "$DEP" - >/dev/null 2>&1 || true
c --url "$B" status watch restart-w1 "$DEP" --max-time 60 >"$dir/rwatch" 2>&1 &
rw=$!
for _ in $(seq 50); do [ -s "$dir/rwatch" ] && break; sleep 0.1; done
writers=()
for w in 1 2 3 4 5 6; do restart_writer "$w" $((w % 2 + 1)) & writers+=($!); done
sleep 0.5
t0=$(now_ms)
"$dir/c/pg/ctl" stop >/dev/null
t1=$(now_ms)
sleep 0.3
"$dir/c/pg/ctl" start >/dev/null
t2=$(now_ms)
outage=$((t2 - t0))
for p in "${writers[@]}"; do wait "$p" || true; done
t3=$(now_ms)
acked=$(lines "$dir"/racked* | wc -l)
retried=$(lines "$dir"/racked* | awk '$2 > 1' | wc -l)
errors=$(lines "$dir"/rfailed* | wc -l)
slowest=$(lines "$dir"/racked* | sort -k3 -n | tail -n 1 | cut -d' ' -f3)
slow=$(lines "$dir"/racked* | awk '$3 > 500' | wc -l)
rows=$(q "SELECT count(*) FROM status_history WHERE device_id LIKE 'restart-w%' AND request_id IS NOT NULL")
distinct=$(q "SELECT count(DISTINCT (device_id, request_id)) FROM status_history WHERE device_id LIKE 'restart-w%' AND request_id IS NOT NULL")
gaps=$(q "SELECT count(*) FROM (SELECT device_id FROM status_history WHERE device_id LIKE 'restart-w%' GROUP BY device_id HAVING max(seq) <> count(*)) g")
mrows=$(q "SELECT count(*) FROM status_messages WHERE access_id LIKE 'R_N%'")
mdistinct=$(q "SELECT count(DISTINCT access_id) FROM status_messages WHERE access_id LIKE 'R_N%'")
vals=$(rows_of "(%d,%d)" "$dir"/racked[1-4])
missing=0
[ -z "$vals" ] || missing=$(q "SELECT count(*) FROM (VALUES $vals) v(w, i)
  WHERE (SELECT count(*) FROM status_history WHERE device_id = 'restart-w' || v.w
         AND request_id = decode('e' || lpad(to_hex(v.w), 7, '0') || lpad(to_hex(v.i), 8, '0'), 'hex')) <> 1")
vals=$(rows_of "('R%dN%d')" "$dir"/racked[56])
[ -z "$vals" ] || missing=$((missing + $(q "SELECT count(*) FROM (VALUES $vals) v(a)
  WHERE (SELECT count(*) FROM status_messages WHERE access_id = v.a) <> 1")))
echo "$name: PostgreSQL stopped for $outage ms (stop $((t1 - t0)) ms, start $((t2 - t1 - 300)) ms) under 6 writers:" \
  "$acked of $((6 * writes)) acknowledged ($retried after a retry, $errors error answers), $slow answered after more than 500 ms, the slowest after $slowest ms;" \
  "$rows reports stored ($distinct distinct), $mrows messages ($mdistinct distinct), $missing acknowledged not stored once, $gaps writers with a gap; the writers took $((t3 - t0)) ms after the stop"
[ "$errors" -eq 0 ] || head -n 5 "$dir"/rfailed* >&2
check "every write acknowledged in the end" [ "$acked" -eq $((6 * writes)) ]
check "every acknowledged write stored once" [ "$missing" -eq 0 ]
check "no report stored twice" [ "$rows" -eq "$distinct" ]
check "no message stored twice" [ "$mrows" -eq "$mdistinct" ]
check "history gapless per deployment" [ "$gaps" -eq 0 ]
# Shorter than the wait (5 s), the restart is invisible: no error answer,
# no retry (a slow machine that took longer is told, not failed).
if [ "$outage" -lt 4000 ]; then
  check "a restart shorter than the wait: no error answer" [ "$errors" -eq 0 ]
else
  echo "$name: the restart took $outage ms, past what the invisible check needs"
fi
last="w1-$writes" # writer 1's last report
for _ in $(seq 50); do tail -n 1 "$dir/rwatch" | grep -q "\"code\":\"$last\"" && break; sleep 0.1; done
kill "$rw" 2>/dev/null || true
wait "$rw" 2>/dev/null || true
check "B's observer ends on the latest state ($last)" sh -c "tail -n 1 '$dir/rwatch' | grep -q '\"code\":\"$last\"'"

# A longer outage: a write waits the bound, then 5.03 with Max-Age, and
# nothing of it is stored.
"$dir/c/pg/ctl" stop >/dev/null
t0=$(now_ms)
out=$(coap-client-notls -m post -t 50 -B 20 -O 65004,0xe0ff00000000000f -f "$dir/rbody1" \
  "$A/device/restart-w1/deployment/$DEP/status" 2>&1) || true
ms=$(($(now_ms) - t0))
"$dir/c/pg/ctl" start >/dev/null
echo "$name: a write while PostgreSQL stayed away answered after $ms ms: $(printf '%s' "$out" | head -c 100 | tr '\n' ' ')"
check "a write that waited the bound: 5.03" sh -c "printf '%s' '$out' | grep -q storage-unavailable"
check "after waiting about 5 s" [ "$ms" -ge 4500 ] && [ "$ms" -lt 8000 ]
sleep 0.5
n=$(q "SELECT count(*) FROM status_history WHERE request_id = '\\xe0ff00000000000f'")
check "nothing of it stored" [ "$n" = 0 ]

cluster_done
