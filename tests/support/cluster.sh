# edgecoap tests: what every two-node cluster test shares (sourced, bash).
# SPDX-License-Identifier: Apache-2.0
#
# Before sourcing, set: build (the build folder), root (the repository),
# name (the test's name, for messages). Sourcing starts a cluster of
# EC_IT_NODES nodes (2) behind nginx through scripts/cluster, in a folder of
# its own ($dir), and stops it on exit. It defines:
#   A, B        the first two nodes' coap:// URLs; FRONT nginx's
#   SA, SB, SF  with EC_IT_DTLS=1 (every node serves coaps:// too, and
#               nginx proxies it: scripts/cluster --psk-port): the same
#               for coaps://
#   check WHAT COMMAND...  run it and count a failure in $fails
#   report STATE, msg ORDER CODE   documents; c ARGS   edgecoap-client --json
#   q SQL       psql on the cluster's database
#   admin CMD ARGS...   edgecoap-server admin CMD on the cluster's store
#   cluster_done   print the verdict and the nodes' logs on failure, exit
# EC_IT_KEEP=1 keeps the folder (logs); EC_IT_NODE_ARGS go to every node.
client="$build/edgecoap-client"
dir=$(mktemp -d "${TMPDIR:-/tmp}/ec_${name}_XXXXXX")
[ "$(id -u)" -ne 0 ] || chown "${EC_CLUSTER_USER:-nobody}" "$dir"
fails=0
cluster=

finish() {
  if [ -n "$cluster" ]; then
    kill -TERM "$cluster" 2>/dev/null || true
    wait "$cluster" 2>/dev/null || true
  fi
  [ -n "${EC_IT_KEEP:-}" ] || rm -rf "$dir"
}
trap finish EXIT

check() { # check WHAT COMMAND...: run it, count a failure
  local what=$1
  shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what" >&2; fails=$((fails + 1)); fi
}

# Free UDP ports for the front and the nodes.
udp_taken() { grep -q "$(printf ':%04X ' "$1")" /proc/net/udp 2>/dev/null; }
pick() {
  local p
  for _ in $(seq 50); do
    p=$((20000 + RANDOM % 40000))
    udp_taken "$p" || { echo "$p"; return; }
  done
  echo "$name: no free port" >&2
  exit 1
}
front=$(pick)
node_port=$(pick)
dtls_args=
if [ -n "${EC_IT_DTLS:-}" ]; then
  psk=$(pick)
  psk_front=$(pick)
  dtls_args="--psk-port $psk --psk-front $psk_front"
fi

"$root/scripts/cluster" --nodes "${EC_IT_NODES:-2}" --port "$front" --node-port "$node_port" \
  --http-port 0 --dir "$dir/c" --build "$build" $dtls_args -- ${EC_IT_NODE_ARGS:-} >"$dir/cluster.out" 2>&1 &
cluster=$!
for _ in $(seq 300); do
  [ -s "$dir/c/store_uri" ] && break
  kill -0 "$cluster" 2>/dev/null || break
  sleep 0.1
done
[ -s "$dir/c/store_uri" ] || { echo "$name: the cluster did not start:" >&2; cat "$dir/cluster.out" >&2; exit 1; }

A="coap://127.0.0.2:$node_port"
B="coap://127.0.0.3:$node_port"
FRONT="coap://127.0.0.1:$front"
if [ -n "${EC_IT_DTLS:-}" ]; then
  SA="coaps://127.0.0.2:$psk"
  SB="coaps://127.0.0.3:$psk"
  SF="coaps://127.0.0.1:$psk_front"
fi
DEP=a3e2f5dc-912e-494f-8395-52cf3769bc06
report() { # report STATE: a DeploymentStatus document
  printf '{"apiVersion":"deployment.margo/v1","kind":"DeploymentStatus","deploymentId":"%s","status":{"state":"%s","error":{"code":"","message":""}},"components":[]}' "$DEP" "$1"
}
msg() { # msg ORDER CODE: a status message
  printf '{"messageDate":"2026-12-02T10:00:00.000","messageCode":"%s","orderId":"%s"}' "$2" "$1"
}
c() { "$client" --json --timeout 5000 "$@"; }
q() { psql "$(cat "$dir/c/store_uri")" -tAc "$1"; }
admin() { "$build/edgecoap-server" admin "$1" --store "$(cat "$dir/c/store_uri")" "${@:2}"; }

cluster_done() {
  [ "$fails" -eq 0 ] || { echo "$name: $fails failed; the logs:" >&2; tail -n 20 "$dir"/c/node*.log >&2; exit 1; }
  echo "$name: all passed"
}
