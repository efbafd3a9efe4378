#!/usr/bin/env bash
# edgecoap tests: accounts, tokens, failed logins and DTLS identities across two nodes on one PostgreSQL behind nginx (scripts/cluster).
# SPDX-License-Identifier: Apache-2.0
#
# Usage: tests/it_cluster_auth.sh BUILD_DIR. Every wait is bounded; about
# 10 s. EC_IT_KEEP=1 keeps the cluster's folder (logs).
set -euo pipefail
build=${1:?usage: it_cluster_auth.sh BUILD_DIR}
root="$(cd "$(dirname "$0")/.." && pwd)"
name=it_cluster_auth
# Each node serves coaps:// too, and nginx proxies it (SA, SB, SF).
# Behind nginx every client is nginx's address: scripts/cluster starts
# its nodes with the per-address login limits out of reach, as
# docs/CLUSTER.md says to (the owner's login below fails without).
EC_IT_DTLS=1
. "$root/tests/support/cluster.sh"
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# ---- Logins and tokens: made on A, used and ended on B, refused on A.
printf 'pw-alice-1\n' | admin user-add --username alice --role admin >/dev/null 2>&1
token=$(EDGECOAP_PASSWORD=pw-alice-1 c --url "$A" login alice 2>"$dir/login.err") || true
check "login on node A gives a token" [ -n "$token" ]
# A select of an empty catalog: 4.04 NO_DATA once the token is taken,
# 4.01 INVALID_TOKEN when it is not.
answers() { # answers NODE WORD: a select with the token is answered WORD
  local out
  out=$(c --url "$1" provisioning select --get --token "$token" 2>&1) || true
  case "$out" in *"$2"*) return 0 ;; esac
  echo "$name: $1 answered: $out" >&2
  return 1
}
check "node B takes node A's token" answers "$B" NO_DATA
check "and node A too, before the logout" answers "$A" NO_DATA
c --url "$B" logout --token "$token" >"$dir/logout" 2>&1 && out=0 || out=$?
check "logout on node B" [ "$out" -eq 0 ]
check "node A refuses the token logged out on B (4.01)" answers "$A" "4.01 INVALID_TOKEN"
check "and node B" answers "$B" "4.01 INVALID_TOKEN"

# ---- Failed logins: one window per username in the database, which every
# node counts into and reads. Five failures on A (--login-slow-after's
# default) slow the username's next login down on B, which saw none.
printf 'pw-bob-1\n' | admin user-add --username bob --role admin >/dev/null 2>&1
for _ in 1 2 3; do EDGECOAP_PASSWORD=wrong c --url "$A" login bob >/dev/null 2>&1 || true; done
for _ in 1 2; do EDGECOAP_PASSWORD=wrong c --url "$B" login bob >/dev/null 2>&1 || true; done
n=$(q "SELECT count FROM login_failures WHERE username = 'bob'")
check "failures on both nodes counted in one window (5: $n)" [ "$n" = 5 ]
token=$(EDGECOAP_PASSWORD=pw-bob-1 c --url "$A" login bob 2>/dev/null) || true
check "the right password still logs in (slowed, never refused)" [ -n "$token" ]
check "node A slowed bob's login for the failures on both nodes" \
  grep -q "login of 'bob' delayed .* 5 failed attempts from all addresses" "$dir/c/node1.log"

# Through nginx, failures of one client do not lock the username's owner
# out of its node, from whatever address (with the per-address limits at
# their defaults, the owner reaching that node would be refused: every
# client there is nginx's address). The first login comes from the failing
# client's own address, so it reaches that client's node.
printf 'pw-carol-1\n' | admin user-add --username carol --role admin >/dev/null 2>&1
for _ in 1 2 3 4 5 6; do EDGECOAP_PASSWORD=wrong c --url "$FRONT" login carol >/dev/null 2>&1 || true; done
owner_in=0
for src in 127.0.0.1 127.0.0.9 127.0.0.10 127.0.0.11; do
  out=$(coap-client-notls -a "$src" -m post -t 50 -A 50 -B 8 \
    -e '{"username":"carol","password":"pw-carol-1"}' "$FRONT/v1/Login" 2>&1) || true
  case "$out" in *'"status":"SUCCESS"'*) owner_in=$((owner_in + 1)) ;; *) echo "$name: from $src: $out" >&2 ;; esac
done
check "after 6 failures through nginx the owner logs in from 4 addresses ($owner_in)" [ "$owner_in" -eq 4 ]

# ---- DTLS identities: added through the store (admin, as on any node),
# served by both nodes' handshakes within a second of the command's end;
# removed, refused by both within a second, and the session still open on
# B ends at its next notification. Each node knows of the change from the
# hint its identities in memory hear (server/coap/identities.c): without
# it, neither the added identity nor the removal would show.
dtls() { # dtls URL: a GET of the device's deployments over coaps://; 0 when served
  EDGECOAP_PSK_KEY=$key "$client" --json --timeout 1500 --url "$1" --psk-identity dev-psk \
    deployments dev-psk >/dev/null 2>&1
}
key=$(admin device-add --identity dev-psk 2>/dev/null)
t0=$(date +%s%N)
served=0
for _ in $(seq 40); do
  if dtls "$SA" && dtls "$SB"; then served=1; break; fi
  sleep 0.05
done
ms=$(ms_since "$t0")
echo "$name: an identity added, served by both nodes after $ms ms"
check "an identity added is served by both nodes" [ "$served" -eq 1 ]
check "within a second" [ "$ms" -lt 1000 ]

report pending | c --url "$A" status report dev-psk "$DEP" - >/dev/null 2>&1 || true
coap-client-openssl -u dev-psk -k "$key" -s 30 -A 50 -B 30 \
  "$SB/device/dev-psk/deployment/$DEP/status" >"$dir/obs.out" 2>"$dir/obs.err" &
observer=$!
for _ in $(seq 50); do grep -q Pending "$dir/obs.out" 2>/dev/null && break; sleep 0.1; done
check "a DTLS observer on node B" grep -q Pending "$dir/obs.out"

admin device-remove --identity dev-psk >/dev/null 2>&1
t0=$(date +%s%N)
refused_a=0 refused_b=0
for _ in $(seq 40); do
  [ "$refused_a" -eq 1 ] || { dtls "$SA" || refused_a=1; }
  [ "$refused_b" -eq 1 ] || { dtls "$SB" || refused_b=1; }
  [ "$refused_a" -eq 1 ] && [ "$refused_b" -eq 1 ] && break
done
ms=$(ms_since "$t0")
echo "$name: an identity removed, refused by both nodes after $ms ms"
check "a removed identity's handshakes are refused on node A" [ "$refused_a" -eq 1 ]
check "and on node B" [ "$refused_b" -eq 1 ]
check "within a second" [ "$ms" -lt 1000 ]
# A report through A: B's observer of the removed identity gets the last
# word, 4.01, not the report.
report failed | c --url "$A" status report dev-psk "$DEP" - >/dev/null 2>&1 || true
for _ in $(seq 50); do kill -0 "$observer" 2>/dev/null || break; sleep 0.1; done
kill "$observer" 2>/dev/null || true
wait "$observer" 2>/dev/null || true
check "node B's session of the removed identity ends with 4.01 credentials-revoked" \
  grep -q "4.01.*credentials-revoked\|credentials-revoked" "$dir/obs.err"
check "and is not told of the report" sh -c "! grep -q Failed '$dir/obs.out'"

# ---- coaps:// through nginx: DTLS records are datagrams to nginx, hashed
# by the client's address as coap:// is, so a client's handshake and its
# requests reach one node. A POST and a GET with coap-client's PSK
# (-u/-k), and an observation, through nginx's coaps:// port.
fkey=$(admin device-add --identity dev-front 2>/dev/null)
fpath="device/dev-front/deployment/$DEP/status"
fget() { # fget FILE: the device's status through nginx over coaps://
  coap-client-openssl -u dev-front -k "$fkey" -A 50 -B 3 "$SF/$fpath" >"$1" 2>&1 || true
}
served=0
for _ in $(seq 40); do
  coap-client-openssl -u dev-front -k "$fkey" -m post -t 50 -B 3 -e "$(report pending)" \
    "$SF/$fpath" >"$dir/fpost" 2>&1 || true
  grep -q '"state":"Pending"' "$dir/fpost" && { served=1; break; }
  sleep 0.05
done
check "a coaps:// POST through nginx is stored" [ "$served" -eq 1 ]
fget "$dir/fget1"
check "a coaps:// GET through nginx reads it" grep -q '"state":"Pending"' "$dir/fget1"
coap-client-openssl -u dev-front -k "$fkey" -s 3 -A 50 -B 3 "$SF/$fpath" \
  >"$dir/fobs.out" 2>"$dir/fobs.err" &
fobs=$!
for _ in $(seq 50); do grep -q Pending "$dir/fobs.out" 2>/dev/null && break; sleep 0.05; done
report installing | c --url "$A" status report dev-front "$DEP" - >/dev/null 2>&1 || true
for _ in $(seq 50); do grep -q Installing "$dir/fobs.out" 2>/dev/null && break; sleep 0.05; done
check "a coaps:// observer through nginx hears a write made on node A" grep -q Installing "$dir/fobs.out"
sessions() { # sessions NODE: its DTLS sessions of dev-front so far
  grep -c "session for identity 'dev-front'" "$dir/c/node$1.log" || true
}
check "each handshake through nginx reached one node (hash \$remote_addr)" \
  sh -c "[ $(sessions 1) -eq 0 ] || [ $(sessions 2) -eq 0 ]"

# nginx reloads: its new worker reaches the nodes from new upstream
# ports, so the observer's DTLS session, which the node keeps under the
# old port, is orphaned: the next write is not heard through it. A new
# handshake through nginx (coap-client's next run) is served at once.
before=$(($(sessions 1) + $(sessions 2)))
kill -HUP "$(cat "$dir/c/nginx/nginx.pid")"
for _ in $(seq 50); do grep -q "gracefully shutting down" "$dir/c/nginx/error.log" && break; sleep 0.05; done
report installed | c --url "$A" status report dev-front "$DEP" - >/dev/null 2>&1 || true
t0=$(date +%s%N)
fget "$dir/fget2"
ms=$(ms_since "$t0")
echo "$name: after nginx's reload, a new coaps:// session through it answered in $ms ms"
check "after the reload a new coaps:// session through nginx is served" \
  grep -q '"state":"Installed"' "$dir/fget2"
check "with a handshake of its own" [ $(($(sessions 1) + $(sessions 2))) -gt "$before" ]
wait "$fobs" 2>/dev/null || true
check "the observer's old session hears nothing after the reload" \
  sh -c "! grep -q Installed '$dir/fobs.out'"

cluster_done
