#!/bin/bash
# The README's test command runs this: unit tests, fuzz targets, integration
# suites (root and rootless lanes), then one closing line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
: "${MOAT_BUILD:=$PWD/build}" "${FUZZ_BUILD:=$MOAT_BUILD/fuzz}" "${FUZZ_SECONDS:=15}"
export MOAT_BUILD
log=$(mktemp /tmp/moat-check-XXXXXX.tap)
trap 'rm -f "$log"' EXIT

"$MOAT_BUILD/tests/unit-tests" 2>&1 | tee -a "$log"
if [ "$FUZZ_SECONDS" != 0 ]; then
  tests/run-fuzz.sh "$FUZZ_BUILD" "$FUZZ_SECONDS" 2>&1 | tee -a "$log"
fi
tests/run-integration.sh 2>&1 | tee -a "$log"
tests/vm/run-v2.sh 2>&1 | tee -a "$log"   # pure cgroup v2 in a VM (tests/vm/README.md)

ok=$(grep -cE '^ok ' "$log")
failed=$(grep -cE '^not ok ' "$log")
skipped=$(grep -cE '^ok .*# skip' "$log")
passed=$((ok - skipped))
echo
grep -E '^not ok ' "$log" | sed 's/^/FAILED: /'
echo "$skipped skipped (each with its reason above)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
