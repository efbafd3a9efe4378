#!/usr/bin/env bash
# edgecoap tests: a long-running device over coaps:// through nginx keeps reporting after nginx reloads under its DTLS session.
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/it_cluster_dtls.sh BUILD_DIR. Every wait is bounded; about
# 15 s. EC_IT_KEEP=1 keeps the cluster's folder (logs).
#
# nginx's reload gives every client a new upstream port, where the node
# holds no DTLS session: it drops the device's records without an alert
# (docs/CLUSTER.md). The device (tests/it_dtls_device.c: the core's outbox
# on its POSIX port and DTLS hook, one session since its start) must see
# that its request's retransmissions went unanswered and handshake again,
# so that its report is delivered, once.
set -euo pipefail
build=${1:?usage: it_cluster_dtls.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
name=it_cluster_dtls
EC_IT_DTLS=1
. "$root/tests/support/cluster.sh"
delivered() { # delivered SEQ: the device printed that report's delivery
  grep -q "^delivered $1 2\.0[14] " "$dir/dev.out" 2>/dev/null
}
wait_for() { # wait_for TENTHS COMMAND...: until it succeeds, at most TENTHS / 10 s
  local n=$1
  shift
  for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
  return 1
}
sessions() { # how many DTLS sessions of dev-long the nodes made
  cat "$dir"/c/node*.log | grep -c "session for identity 'dev-long'" || true
}

key=$(admin device-add --identity dev-long 2>/dev/null)
mkfifo "$dir/in"
EDGECOAP_PSK_KEY=$key "$build/tests/it_dtls_device" 127.0.0.1 "$psk_front" dev-long \
  dev-long "$DEP" "$dir/outbox" <"$dir/in" >"$dir/dev.out" 2>"$dir/dev.err" &
device=$!
trap 'kill "$device" 2>/dev/null || true; finish' EXIT
exec 3>"$dir/in"
stop_device() {
  exec 3>&- || true
  wait_for 50 sh -c "! kill -0 $device 2>/dev/null" || kill "$device" 2>/dev/null || true
  wait "$device" 2>/dev/null || true
}

# One ec_client_* client too (tests/it_dtls_client.c), kept over the
# reload: its requests end at their own timeout (2 s here), before a
# request's last retransmission would end the session in the port, so a
# request that timed out ends it in the library.
ckey=$(admin device-add --identity dev-cli 2>/dev/null)
mkfifo "$dir/cin"
EDGECOAP_PSK_KEY=$ckey "$build/tests/it_dtls_client" "coaps://127.0.0.1:$psk_front" \
  dev-cli /device/dev-cli/deployments <"$dir/cin" >"$dir/cli.out" 2>"$dir/cli.err" &
cli=$!
trap 'kill "$device" "$cli" 2>/dev/null || true; finish' EXIT
exec 4>"$dir/cin"
said() { [ "$(wc -l <"$dir/cli.out")" -ge "$1" ]; }
cli_said() { # cli_said N WORD: the client's Nth line, within 10 s, starts with WORD
  wait_for 100 said "$1" && sed -n "$1p" "$dir/cli.out" | grep -q "^$2 "
}

echo "report Pending" >&3
check "the device's first report through nginx is delivered" wait_for 100 delivered 1
first=$(sessions)
check "over one DTLS session ($first)" [ "$first" -eq 1 ]
echo get >&4
check "the client's first GET through nginx is answered" cli_said 1 answered

kill -HUP "$(cat "$dir/c/nginx/nginx.pid")"
check "nginx reloaded" wait_for 50 grep -q "gracefully shutting down" "$dir/c/nginx/error.log"

echo "report Installing" >&3
check "after the reload the device's next report is delivered" wait_for 200 delivered 2
ms=$(sed -n 's/^delivered 2 2\.0[14] //p' "$dir/dev.out")
echo "$name: after nginx's reload, the report was delivered in ${ms:-?} ms"
check "within 10 s (CoAP's timers at 250 ms)" [ "${ms:-99999}" -lt 10000 ]
check "on a new DTLS session" [ "$(sessions)" -gt "$first" ]
stop_device

echo get >&4
check "the client's first GET after the reload times out (2 s)" cli_said 2 error
echo get >&4
check "and its next GET is answered" cli_said 3 answered
echo "$name: the client's GET after the one that timed out answered in $(sed -n '3s/^answered [0-9]* //p' "$dir/cli.out") ms"
check "on a new DTLS session of its own" \
  [ "$(cat "$dir"/c/node*.log | grep -c "session for identity 'dev-cli'")" -eq 2 ]
exec 4>&- || true
wait_for 50 sh -c "! kill -0 $cli 2>/dev/null" || kill "$cli" 2>/dev/null || true
wait "$cli" 2>/dev/null || true

n=$(q "SELECT count(*) FROM status_history WHERE device_id = 'dev-long'")
check "both reports stored once each ($n)" [ "$n" = 2 ]
state=$(c --url "$A" status get dev-long "$DEP" 2>/dev/null) || true
check "the status shows the second report" grep -q Installing <<<"$state"
if [ "$fails" -ne 0 ]; then
  echo "$name: the device's output:" >&2
  cat "$dir/dev.out" "$dir/dev.err" "$dir/cli.out" "$dir/cli.err" >&2
fi

cluster_done
