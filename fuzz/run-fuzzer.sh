#!/bin/sh
# edgecoap fuzz: run one libFuzzer harness from its seed corpus, keeping new inputs and crashes in a work directory.
# SPDX-License-Identifier: Apache-2.0
# Usage: fuzz/run-fuzzer.sh BUILD_DIR HARNESS [SECONDS [libFuzzer flags...]]
#   BUILD_DIR was configured with CC=clang -DEDGECOAP_FUZZ=ON. New corpus
#   entries go to $FUZZ_WORK/HARNESS/corpus (default BUILD_DIR/fuzz-work), so
#   the committed seeds stay as they are until merged on purpose (README.md).
set -eu
[ $# -ge 2 ] || { sed -n '4,7p' "$0" >&2; exit 2; }
build=$1
h=$2
secs=${3:-600}
shift 2
[ $# -gt 0 ] && shift
here=$(cd "$(dirname "$0")" && pwd)
work=${FUZZ_WORK:-$build/fuzz-work}/$h
mkdir -p "$work/corpus" "$work/artifacts"
# The request harness keeps server state between inputs: on a failure it
# writes every input since its server started here, for the replay driver.
export EDGECOAP_FUZZ_HISTORY="${EDGECOAP_FUZZ_HISTORY:-$work/history}"
# Documents stay below the server's datagram-sized bodies' worth of nesting
# and caps; a datagram is at most what fits one UDP packet on Ethernet.
case $h in
request | device_coap) max=1280 ;;
*) max=4096 ;;
esac
exec "$build/fuzz/fuzz_$h" -max_len=$max -max_total_time="$secs" \
  -dict="$here/edgecoap.dict" -artifact_prefix="$work/artifacts/" \
  -print_final_stats=1 "$@" "$work/corpus" "$here/corpus/$h"
