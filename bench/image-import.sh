#!/bin/bash
# bench/image-import.sh: time importing and unpacking a large layer -- a
# Debian bookworm minbase rootfs (debootstrap, cached under /var/tmp) -- with
# moat against podman, and loading the same image from a docker-archive.
# Prints the median of RUNS runs of each, moat and podman taking turns, and
# the median of the per-round ratios podman/moat (>= 1: moat is at least as
# fast).  Not part of `make check` (debootstrap needs the
# Debian archive and takes half a minute the first time).
#
#   MOAT_BUILD=build bench/image-import.sh        (make bench-image)
#   RUNS=5 PODMAN_DRIVER=vfs bench/image-import.sh
#
# Both tools get private stores in a temporary directory; podman runs with
# --root/--runroot there (as root inside a private mount namespace with tmpfs
# over /var/lib/containers and /run/containers), so the host's podman state
# is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MOAT_BUILD:=$PWD/build}" "${RUNS:=3}" "${PODMAN_DRIVER:=overlay}"
CACHE=${MOAT_BENCH_CACHE:-/var/tmp/moat-bench}
MOAT=$MOAT_BUILD/bin/moat
[ -x "$MOAT" ] || { echo "bench: build first (make)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (debootstrap, podman's private mount namespace)" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null && return
  echo "bench: installing $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >/dev/null
}
need debootstrap debootstrap
need podman podman

mkdir -p "$CACHE"
if [ ! -s "$CACHE/minbase.tar" ] || tar -tvf "$CACHE/minbase.tar" | grep -q '^[cb]'; then
  echo "bench: debootstrap --variant=minbase bookworm (once, cached in $CACHE)"
  rm -rf "$CACHE/rootfs"
  debootstrap --variant=minbase bookworm "$CACHE/rootfs" >"$CACHE/debootstrap.log" 2>&1
  rm -rf "$CACHE/rootfs/var/cache/apt/archives/"*.deb
  # device nodes: an image has none (moat refuses them by default; the runtime makes /dev)
  find "$CACHE/rootfs/dev" -mindepth 1 -delete
  tar -C "$CACHE/rootfs" --numeric-owner -cf "$CACHE/minbase.tar.tmp" .
  mv "$CACHE/minbase.tar.tmp" "$CACHE/minbase.tar"
  rm -rf "$CACHE/rootfs"
fi
TAR=$CACHE/minbase.tar
paths=$(tar -tf "$TAR" | wc -l)
printf 'layer: %s, %s MB, %s paths\n' "$TAR" "$(( $(stat -c %s "$TAR") / 1000000 ))" "$paths"

work=$(mktemp -d /var/tmp/moat-bench-run-XXXXXX)
trap 'rm -rf "$work"' EXIT
trap 'exit 1' TERM # seconds() stops the whole bench on a failed command

pd() {
  unshare -m sh -c 'for d in /var/lib/containers /run/containers; do
      [ -d "$d" ] && mount -t tmpfs moat-bench "$d"; done; exec podman "$@"' sh \
    --root "$work/podman/root" --runroot "$work/podman/run" --tmpdir "$work/podman/tmp" \
    --storage-driver "$PODMAN_DRIVER" --events-backend none --cgroup-manager cgroupfs "$@"
}
mt() { "$MOAT" --data-root "$work/moat" "$@"; }
reset() {
  mt system reset -f >/dev/null 2>&1 || true
  rm -rf "$work/moat" "$work/podman"
  mkdir -p "$work/podman"
  sync
}

# seconds CMD...: wall time of one run
# seconds CMD...: its wall time; a command that fails stops the bench (a failed import must
# never be timed as a fast one)
seconds() {
  local t0 t1
  t0=$EPOCHREALTIME
  if ! "$@" >"$work/last.out" 2>&1; then
    echo "bench: failed: $*" >&2
    tail -5 "$work/last.out" >&2
    kill -TERM $$
    exit 1
  fi
  t1=$EPOCHREALTIME
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }'
}

median() { sort -g | awk '{ a[NR] = $1 } END { printf "%.3f", a[int((NR + 1) / 2)] }'; }

# pair NAME: RUNS rounds of (moat, podman), each from a reset store, taking
# turns so that a change in the machine's load hits both alike; the median
# time of each and the median of the per-round ratios podman/moat.
pair() { # NAME MOAT-CMD... -- PODMAN-CMD...
  local name=$1 i a b
  shift
  local -a m=() p=()
  while [ "$1" != -- ]; do m+=("$1"); shift; done
  shift
  p=("$@")
  : >"$work/$name.moat"
  : >"$work/$name.podman"
  : >"$work/$name.ratio"
  for i in $(seq "$RUNS"); do
    reset
    a=$(seconds "${m[@]}")
    reset
    b=$(seconds "${p[@]}")
    echo "$a" >>"$work/$name.moat"
    echo "$b" >>"$work/$name.podman"
    awk -v a="$a" -v b="$b" 'BEGIN { printf "%.6f\n", b / a }' >>"$work/$name.ratio"
  done
  printf '  %-22s %s s\n' "moat-$name" "$(median <"$work/$name.moat")"
  printf '  %-22s %s s\n' "podman-$name" "$(median <"$work/$name.podman")"
  median <"$work/$name.ratio" >"$work/$name"
}

ARCHIVE=$work/archive.tar
archive() { # the same image as a docker-archive, made once (reset keeps it)
  [ -s "$ARCHIVE" ] && return
  mt import "$TAR" bench/minbase:1 >/dev/null
  mt save -o "$ARCHIVE" bench/minbase:1
  reset
}

echo "import (a tar into an image, unpacked):"
pair import mt import "$TAR" bench/minbase:1 -- pd import "$TAR" localhost/bench/minbase:1
archive
echo "load (a docker-archive):"
pair load mt load -i "$ARCHIVE" -- pd load -i "$ARCHIVE"
reset

echo
echo "ratio podman/moat, median of the rounds (>= 1.00: moat at least as fast; podman storage driver: $PODMAN_DRIVER)"
echo "  import: $(awk '{ printf "%.2f", $1 }' "$work/import")"
echo "  load:   $(awk '{ printf "%.2f", $1 }' "$work/load")"
echo "  load average: $(cut -d' ' -f1-3 /proc/loadavg)"
