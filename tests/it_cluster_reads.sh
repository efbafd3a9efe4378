#!/usr/bin/env bash
# edgecoap tests: provisioning reads on a PostgreSQL node do not hold its I/O loop: a read stuck on a lock leaves the node answering everything else (scripts/cluster).
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/it_cluster_reads.sh BUILD_DIR. Every wait is bounded; about
# 25 s. EC_IT_KEEP=1 keeps the cluster's folder (logs).
set -euo pipefail
build=${1:?usage: it_cluster_reads.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
name=it_cluster_reads
. "$root/tests/support/cluster.sh"
uri=$(cat "$dir/c/store_uri")
now_ms() { echo $(($(date +%s%N) / 1000000)); }
DEV=reads-dev

"$build/edgecoap-server" admin import --store "$uri" \
  "$root/tests/data/provisioning-catalog.json" >"$dir/import" 2>&1 && imported=0 || imported=$?
check "the catalog imported" [ "$imported" -eq 0 ]
token=$(EDGECOAP_PASSWORD=admin-pass-4e1f c --url "$A" login admin 2>"$dir/login.err") || true
check "logged in on node A" [ -n "$token" ]
export EDGECOAP_TOKEN=$token
c --url "$A" provisioning insert --provisioning-id 12 --component-type Sensor \
  --component-id 3 >"$dir/insert" 2>&1 || true
check "a component inserted" grep -q '"component_id"' "$dir/insert"
# A status node A stored and read once: it serves it from its cache.
report pending | c --url "$A" status report "$DEV" "$DEP" - >/dev/null 2>&1 || true
c --url "$A" status get "$DEV" "$DEP" >/dev/null 2>&1 || true

# A psql session that holds table $1 for $2 seconds (its pid in $locker);
# returns once PostgreSQL granted the lock, or fails in 2 s.
hold_lock() {
  psql "$uri" -q -c "BEGIN; LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE;
    SELECT pg_sleep($2); COMMIT;" >"$dir/lock.$1.$2" 2>&1 &
  locker=$!
  for _ in $(seq 100); do
    n=$(q "SELECT count(*) FROM pg_locks l JOIN pg_class k ON k.oid = l.relation
           WHERE k.relname = '$1' AND l.mode = 'AccessExclusiveLock'
           AND l.granted") || true
    [ "$n" = 1 ] && return 0
    sleep 0.02
  done
  return 1
}
# End the session holding table $1's lock, and wait for it.
drop_lock() {
  q "SELECT pg_terminate_backend(l.pid) FROM pg_locks l
     JOIN pg_class k ON k.oid = l.relation
     WHERE k.relname = '$1' AND l.mode = 'AccessExclusiveLock'" >/dev/null || true
  wait "$locker" || true
}

# ---- A provisioning read stuck on a lock --------------------------------
# A psql session holds the components table for HOLD seconds (as a
# migration or VACUUM FULL would); two selects on node A wait for it. The
# node answers a cached GET and a status write meanwhile, each within a
# second, and both selects once the lock goes.
HOLD=3
hold_lock prov_components $HOLD && held=1 || held=0
check "the lock is held" [ "$held" -eq 1 ]
t_lock=$(now_ms)
"$client" --json --timeout 9000 --url "$A" provisioning select --get >"$dir/sel_get" 2>&1 &
sel1=$!
"$client" --json --timeout 9000 --url "$A" provisioning select --provisioning-id 12 >"$dir/sel_post" 2>&1 &
sel2=$!
# The selects reach the node before the others go.
sleep 0.3
t0=$(now_ms)
c --url "$A" status get "$DEV" "$DEP" >"$dir/get" 2>&1 || true
t_get=$(($(now_ms) - t0))
t0=$(now_ms)
report installing | c --url "$A" status report "$DEV" "$DEP" - >"$dir/put" 2>&1 || true
t_put=$(($(now_ms) - t0))
echo "$name: while a provisioning read waits on a lock: cached GET $t_get ms, status write $t_put ms"
check "the cached GET is answered" grep -q '"state":"Pending"' "$dir/get"
check "within a second" [ "$t_get" -lt 1000 ]
check "the status write is stored" grep -q '"state":"Installing"' "$dir/put"
check "within a second" [ "$t_put" -lt 1000 ]
wait "$sel1" || true
wait "$sel2" || true
t_sel=$(($(now_ms) - t_lock))
wait "$locker" || true
echo "$name: the selects answered $t_sel ms after the lock was taken (held $HOLD s)"
check "the GET select is answered once the lock goes" grep -q '"component_id":3' "$dir/sel_get"
check "and the POST select" grep -q '"component_id":3' "$dir/sel_post"
check "not before" [ "$t_sel" -ge $((HOLD * 1000 - 500)) ]

# ---- A lock held past the reads' bound (EC_STORE_WAIT_MS, 5 s): every
# select waiting behind it is answered 5.03 within the bound of its own
# start, not one bound after the other (the third would wait 15 s).
HOLD=9
hold_lock prov_components $HOLD && held=1 || held=0
check "the lock is held again" [ "$held" -eq 1 ]
t0=$(now_ms)
pids=()
for i in 1 2 3; do
  ( "$client" --json --timeout 12000 --url "$A" provisioning select --get >"$dir/sel_late$i" 2>&1 || true
    echo $(($(now_ms) - t0)) >"$dir/sel_late$i.ms" ) &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || true; done
worst=0
for i in 1 2 3; do
  ms=$(cat "$dir/sel_late$i.ms")
  [ "$ms" -gt "$worst" ] && worst=$ms
  check "select $i behind the long lock is answered 5.03 storage-unavailable" \
    grep -q "5.03.*storage-unavailable" "$dir/sel_late$i"
done
echo "$name: three selects behind a ${HOLD} s lock: the last answered after $worst ms"
check "all within the bound of their start (5 s, and a second of slack)" [ "$worst" -lt 6500 ]
drop_lock prov_components

# ---- A status write behind a lock held past the bound (a VACUUM FULL of
# the status table): answered 5.03 storage-unavailable within 5 s of its
# arrival, not held until the lock goes; the node stores writes again once
# it has. (A lone write waits on the node's loop, so the client's
# retransmission, with the same Request-Id, is read only after that answer
# and may be stored once the lock goes: once, never twice.)
n_hist=$(q "SELECT count(*) FROM status_history")
hold_lock deployment_status 9 && held=1 || held=0
check "the status table is locked" [ "$held" -eq 1 ]
t0=$(now_ms)
report failed | "$client" --json --timeout 12000 --url "$A" status report "$DEV" "$DEP" - \
  >"$dir/put_locked" 2>&1 || true
t_put=$(($(now_ms) - t0))
echo "$name: a status write behind a 9 s lock: $t_put ms: $(head -c 120 "$dir/put_locked")"
check "answered 5.03 storage-unavailable" grep -q "5.03.*storage-unavailable" "$dir/put_locked"
check "within its bound (5 s, and a second of slack)" [ "$t_put" -lt 6500 ]
drop_lock deployment_status
report installing | c --url "$A" status report "$DEV" "$DEP" - >"$dir/put_after" 2>&1 || true
check "the next write is stored" grep -q '"state":"Installing"' "$dir/put_after"
n_now=$(q "SELECT count(*) FROM status_history")
echo "$name: history rows before the lock $n_hist, after the next write $n_now"
check "the timed-out write stored once at most" [ "$n_now" -le $((n_hist + 2)) ]

# ---- PostgreSQL away: a provisioning read is 5.03 with Max-Age at once,
# and the node goes on serving what it has cached.
"$dir/c/pg/ctl" stop >/dev/null
t0=$(now_ms)
"$client" --json --timeout 9000 --url "$A" provisioning select --get >"$dir/sel_down" 2>&1 || true
t_down=$(($(now_ms) - t0))
echo "$name: a provisioning read while PostgreSQL is away: $t_down ms: $(head -c 160 "$dir/sel_down")"
check "answered 5.03 storage-unavailable" grep -q "5.03.*storage-unavailable" "$dir/sel_down"
check "at once" [ "$t_down" -lt 1000 ]
c --url "$A" status get "$DEV" "$DEP" >"$dir/get_down" 2>&1 || true
check "the cached GET is still served" grep -q '"state":"Installing"' "$dir/get_down"
"$dir/c/pg/ctl" start >/dev/null
ok=0
for _ in $(seq 40); do
  if "$client" --json --timeout 2000 --url "$A" provisioning select --get >"$dir/sel_back" 2>&1 &&
    grep -q '"component_id":3' "$dir/sel_back"; then ok=1; break; fi
  sleep 0.25
done
check "once PostgreSQL is back the reads are answered again, by themselves" [ "$ok" -eq 1 ]

cluster_done
