#!/bin/bash
# Run every libFuzzer target for a short while on its seed corpus (copied, so
# the checked-in corpus is never modified).  Prints one TAP line per target.
set -uo pipefail
dir=$1; secs=${2:-15}
cd "$(dirname "$0")/.."
n=0
for bin in "$dir"/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  n=$((n+1))
  work=$(mktemp -d /tmp/moat-fuzz-XXXXXX)
  seeds=fuzz/corpus/$name
  [ -d "$seeds" ] || seeds=fuzz/corpus/${name#fuzz_}
  [ -d "$seeds" ] && cp -r "$seeds"/. "$work/" 2>/dev/null
  if "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$work/" "$work" \
       > "$work.log" 2>&1; then
    echo "ok - fuzz $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$work.log" | awk '{print $2}') runs)"
  else
    echo "not ok - fuzz $name"
    grep -E 'ERROR|SUMMARY|crash-|leak-|timeout-' "$work.log" | head -20 | sed 's/^/# /'
  fi
  rm -rf "$work" "$work.log"
done
[ "$n" -gt 0 ] || echo "not ok - fuzz: no targets built"
