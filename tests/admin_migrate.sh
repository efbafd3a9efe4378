#!/usr/bin/env bash
# edgecoap tests: `admin migrate --store postgres://...` run by four at once migrates once.
# SPDX-License-Identifier: Apache-2.0
#
# Usage (CTest, under tests/support/pgtmp): admin_migrate.sh EDGECOAP_SERVER
# Four `admin migrate` start together on the empty database EC_TEST_PG_URI
# names: every one exits 0, exactly one says it created the schema (the
# others waited for the advisory lock and found it done), and a fifth run
# afterwards creates nothing. A URI holding a password is refused and not
# echoed.
set -uo pipefail
bin=${1:?usage: admin_migrate.sh EDGECOAP_SERVER}
uri=${EC_TEST_PG_URI:?run under tests/support/pgtmp}
out=$(mktemp -d "${TMPDIR:-/tmp}/ec_migrate_XXXXXX")
trap 'rm -rf "$out"' EXIT
fail=0

pids=()
for i in 1 2 3 4; do
  "$bin" admin migrate --store "$uri" >"$out/$i.out" 2>"$out/$i.err" &
  pids+=($!)
done
for i in 1 2 3 4; do
  if ! wait "${pids[$((i - 1))]}"; then
    echo "admin_migrate: run $i failed:"; cat "$out/$i.err"; fail=1
  fi
  grep -q "the schema is this edgecoap's" "$out/$i.out" ||
    { echo "admin_migrate: run $i said:"; cat "$out/$i.out"; fail=1; }
done
created=$(cat "$out"/[1-4].err | grep -c "did not exist: created it")
[ "$created" -eq 1 ] ||
  { echo "admin_migrate: $created of 4 runs created the schema (want 1)"; fail=1; }

"$bin" admin migrate --store "$uri" >"$out/5.out" 2>"$out/5.err" ||
  { echo "admin_migrate: the fifth run failed:"; cat "$out/5.err"; fail=1; }
! grep -q "created it" "$out/5.err" ||
  { echo "admin_migrate: the fifth run created the schema again"; fail=1; }

bad=${uri/edgecoap@/edgecoap:s3cret@}
if "$bin" admin migrate --store "$bad" >"$out/6.out" 2>"$out/6.err"; then
  echo "admin_migrate: a URI with a password was taken"; fail=1
fi
grep -q "PGPASSFILE or ~/.pgpass" "$out/6.err" ||
  { echo "admin_migrate: no word of PGPASSFILE:"; cat "$out/6.err"; fail=1; }
! grep -q s3cret "$out/6.err" "$out/6.out" ||
  { echo "admin_migrate: the password was echoed"; fail=1; }
exit $fail
