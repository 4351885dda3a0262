#!/bin/bash
# bench/runtime-vs-crun.sh [N]: time `moat-runtime run` against `crun run`
# (Debian's crun, installed when absent) on the same container, and print
# medians and the ratio.  Target: moat-runtime no slower than 1.2x crun.
#
# Like with like: both bundles hold the same config.json (moat-runtime's
# hardened root template: new user namespace mapped to a subordinate range,
# pid/net/ipc/uts/mount/cgroup namespaces, the default seccomp profile, no
# capabilities, no_new_privs, read-only root, masked and read-only paths),
# the same busybox rootfs (tests/lib/mkrootfs.sh) and the command `true`;
# only ociVersion differs (crun 1.8 refuses 1.2.0).  Runs are interleaved
# in ABBA order (moat crun, crun moat, ...) so that drift hits both alike,
# with a pause between runs (BENCH_GAP_MS, default 50) so that no run
# inherits kernel state from the one before: moving a process into a v1
# cgroup waits for an RCU grace period (~10 ms here) unless another move
# happened a few ms earlier, which would favour whichever runtime comes
# second, and by how much depends on each one's timing.
#
# crun refuses a "hybrid" cgroup layout whose cgroup2 mount still owns a
# controller, even with --cgroup-manager=disabled.  The host is left alone:
# the benchmark re-executes itself in a private mount namespace where the
# cgroup2 mount at /sys/fs/cgroup/unified is unmounted (both runtimes then
# see plain cgroup v1).  Rows: both with --cgroup-manager=disabled (the
# comparison the target is about), and both with cgroupfs (v1).
#
# Environment: MOAT_BUILD (default ./build), BENCH_RUNS (default 50, or $1),
# BENCH_GAP_MS (pause between runs, default 50),
# BENCH_STRICT=1 makes a missed target exit 1.  Needs root.
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
N=${1:-${BENCH_RUNS:-50}}
GAP=$(awk -v ms="${BENCH_GAP_MS:-50}" 'BEGIN {printf "%.3f", ms / 1000}')
MOAT_BUILD=${MOAT_BUILD:-$PWD/build}
MOAT=$MOAT_BUILD/bin/moat-runtime

die() { echo "runtime-vs-crun: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (runs both runtimes as root on a root bundle)"
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -lt 3 ]; then die "N must be a number >= 3"; fi

if [ -z "${BENCH_IN_NS:-}" ]; then
  [ -x "$MOAT" ] || make -s || die "build failed"
  if ! command -v crun >/dev/null; then
    echo "# installing crun (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends crun >/dev/null ||
      { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
          --no-install-recommends crun >/dev/null; } || die "apt-get install crun failed"
  fi
  export BENCH_IN_NS=1 MOAT_BUILD
  exec unshare --mount --propagation private "$0" "$N"
fi

# ---- inside the private mount namespace --------------------------------
u=/sys/fs/cgroup/unified
if mountpoint -q "$u" && [ -n "$(cat "$u/cgroup.controllers" 2>/dev/null)" ]; then
  echo "# hybrid cgroups ($u holds: $(cat "$u/cgroup.controllers")): unmounted in a private mount namespace for crun"
  umount "$u" || die "cannot unmount $u in the private mount namespace"
fi

W=$(mktemp -d /tmp/moat-bench-XXXXXX)
chmod 755 "$W"
# state roots on tmpfs, where both runtimes keep them by default (/run)
S=$(mktemp -d /run/moat-bench-XXXXXX)
cleanup() {
  local d
  for d in "$S"/state-*/*; do
    [ -d "$d" ] || continue
    case $d in
      "$S"/state-crun*) crun --root "${d%/*}" delete --force "${d##*/}" >/dev/null 2>&1 ;;
      *) "$MOAT" --root "${d%/*}" delete --force "${d##*/}" >/dev/null 2>&1 ;;
    esac
  done
  rm -rf "$W" "$S"
}
trap cleanup EXIT

tests/lib/mkrootfs.sh "$W/rootfs" >/dev/null
mkdir -p "$W/bundle-moat"
"$MOAT" spec --bundle "$W/bundle-moat" >/dev/null
# the template is json-c's pretty print; edit it with sed (jq 1.6 would
# round the 64-bit seccomp argument values through doubles) and check
sed -i -e 's/^    "terminal": true,/    "terminal": false,/' \
       -e '/^    "args": \[$/{n;s/^      "sh"$/      "true"/}' "$W/bundle-moat/config.json"
ln -s "$W/rootfs" "$W/bundle-moat/rootfs"
mkdir -p "$W/bundle-crun"
sed 's/^  "ociVersion": "1\.2\.0",/  "ociVersion": "1.0.2",/' "$W/bundle-moat/config.json" > "$W/bundle-crun/config.json"
ln -s "$W/rootfs" "$W/bundle-crun/rootfs"
if [ "$(jq -c '[.process.terminal, .process.args]' "$W/bundle-moat/config.json")" != '[false,["true"]]' ] ||
   [ "$(jq -r .ociVersion "$W/bundle-crun/config.json")" != 1.0.2 ]; then
  die "could not edit the config.json template"
fi
mkdir -m 700 "$S/state-moat" "$S/state-moat-nc" "$S/state-moat-cg" "$S/state-crun" "$S/state-crun-cg"

# one timed run: microseconds on stdout; the container must exit 0
run_us() {
  [ -e "$W/stdin" ] || : > "$W/stdin"
  local t0 t1
  sleep "$GAP"
  t0=$EPOCHREALTIME
  # stdin is an empty file of ours, never /dev/null: crun 1.8 fchown()s the container's stdio
  # to the container's root, which would re-own the host's /dev/null
  "$@" < "$W/stdin" > "$W/out" 2>&1 || { echo "runtime-vs-crun: failed: $*" >&2; cat "$W/out" >&2; exit 1; }
  t1=$EPOCHREALTIME
  echo $(( ${t1/./} - ${t0/./} ))
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u/1000}'; }

# pair NAME LABEL MOAT-ARGS -- CRUN-ARGS: N interleaved runs of each
pair() {
  local name=$1 label=$2 i a b; shift 2
  local -a ma=() ca=()
  while [ "$1" != -- ]; do ma+=("$1"); shift; done
  shift
  ca=("$@")
  : > "$W/$name.moat"; : > "$W/$name.crun"; : > "$W/$name.ratio"
  for i in 1 2 3; do # warm-up (page cache, dentries)
    run_us "$MOAT" "${ma[@]}" run --bundle "$W/bundle-moat" "w$name$i" >/dev/null
    run_us crun "${ca[@]}" run --bundle "$W/bundle-crun" "w$name$i" >/dev/null
  done
  for i in $(seq "$N"); do
    if [ $((i % 2)) = 1 ]; then
      a=$(run_us "$MOAT" "${ma[@]}" run --bundle "$W/bundle-moat" "m$name$i")
      b=$(run_us crun "${ca[@]}" run --bundle "$W/bundle-crun" "c$name$i")
    else
      b=$(run_us crun "${ca[@]}" run --bundle "$W/bundle-crun" "c$name$i")
      a=$(run_us "$MOAT" "${ma[@]}" run --bundle "$W/bundle-moat" "m$name$i")
    fi
    echo "$a" >> "$W/$name.moat"
    echo "$b" >> "$W/$name.crun"
    awk -v a="$a" -v b="$b" 'BEGIN {printf "%d\n", a * 1000 / b}' >> "$W/$name.ratio"
  done
  local mm cm rr
  mm=$(median < "$W/$name.moat")
  cm=$(median < "$W/$name.crun")
  rr=$(median < "$W/$name.ratio")
  printf '%-34s %9s %9s %9s %9s %7s %9s\n' "$label" "$(ms "$mm")" "$(ms "$(sort -n "$W/$name.moat" | head -1)")" \
    "$(ms "$cm")" "$(ms "$(sort -n "$W/$name.crun" | head -1)")" \
    "$(awk -v a="$mm" -v b="$cm" 'BEGIN {printf "%.2f", a/b}')" "$(awk -v r="$rr" 'BEGIN {printf "%.2f", r/1000}')"
  echo "$mm $cm" > "$W/$name.result"
}

echo "# $("$MOAT" --version | head -1); $(crun --version | head -1); kernel $(uname -r); $(nproc) cpus; N=$N, gap ${GAP}s"
echo "# bundle: $("$MOAT" --version >/dev/null; jq -c '[.linux.namespaces[].type]' "$W/bundle-moat/config.json") user ns, seccomp $(jq '.linux.seccomp.syscalls|length' "$W/bundle-moat/config.json") rules, $(jq '.linux.maskedPaths|length' "$W/bundle-moat/config.json") masked paths, $(jq '.mounts|length' "$W/bundle-moat/config.json") mounts, read-only root"
printf '%-34s %9s %9s %9s %9s %7s %9s\n' "case (ms)" "moat med" "moat min" "crun med" "crun min" "ratio" "pair-med"
pair nocg "cgroup-manager=disabled" --cgroup-manager=disabled --root "$S/state-moat" -- \
  --cgroup-manager=disabled --root "$S/state-crun"
pair cg "cgroupfs (v1)" --root "$S/state-moat-cg" -- --cgroup-manager=cgroupfs --root "$S/state-crun-cg"
# crun 1.8 compiles the seccomp profile on every run; so does moat without its cache
"$MOAT" --help | grep -q -- --no-seccomp-cache &&
  pair nocache "disabled, moat --no-seccomp-cache" --cgroup-manager=disabled --no-seccomp-cache \
  --root "$S/state-moat-nc" -- --cgroup-manager=disabled --root "$S/state-crun"

read -r mm cm < "$W/nocg.result"
ratio=$(awk -v a="$mm" -v b="$cm" 'BEGIN {printf "%.2f", a/b}')
if awk -v a="$mm" -v b="$cm" 'BEGIN {exit !(a <= 1.2 * b)}'; then
  echo "target (moat <= 1.2x crun, cgroup-manager=disabled): met, ratio $ratio"
else
  echo "target (moat <= 1.2x crun, cgroup-manager=disabled): NOT met, ratio $ratio"
  [ -z "${BENCH_STRICT:-}" ] || exit 1
fi
