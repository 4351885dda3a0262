#!/bin/bash
# bench/engine-run.sh [N]: time a whole engine round trip -- `moat run --rm
# --network none busybox true`, the CLI until it exits, through a moatd this
# script starts on a private store, run dir and socket -- against
#   crun    `crun run` of an equivalent bundle (moat-runtime's hardened root
#           template, args ["true"], terminal false, the busybox rootfs of
#           tests/lib/mkrootfs.sh, ociVersion 1.0.2 for crun 1.8), which is
#           the floor: no engine, no image store, no API;
#   podman  `podman run --rm --network none localhost/busybox true` (Debian's
#           podman, on a private --root/--runroot/--tmpdir, cgroupfs, the
#           image made with `podman import` of the same rootfs);
#   crun-default  `crun run` of crun's own `crun spec` bundle (no user
#           namespace, no seccomp filter, writable cgroups off): what a bare
#           crun start costs here, to read the figures against;
#   docker  `docker run --rm --network none busybox true`: the dockerd that
#           answers on /var/run/docker.sock, or else a private one this script
#           starts (Debian's docker.io: dockerd and containerd, on a private
#           --data-root/--exec-root/socket, no iptables, no bridge; the image
#           made with `docker import` of the same rootfs); BENCH_DOCKER=0 skips.
# and print medians, minima and moat/x ratios (of the medians, and the median
# of the per-round ratios).  Target: moat no slower than 2x crun.
#
# Then memory: the RSS (VmRSS) and anonymous RSS (RssAnon; smaps_rollup's Pss
# and Anonymous too) of the moat-monitor of a `moat run -d busybox sleep 100`
# container and of the idle moatd.  Targets: monitor < 1 MiB RSS, idle moatd
# < 8 MiB RSS.
#
# Conventions as bench/runtime-vs-crun.sh: root only; crun and podman come
# from Debian (apt-get) when absent; the script re-executes itself in a
# private mount namespace where the hybrid cgroup2 mount at
# /sys/fs/cgroup/unified is unmounted so that crun works (moatd, crun and
# podman all run there, on plain cgroup v1); rounds are interleaved ABBA
# (moat crun podman [docker], then the reverse) with a pause between runs
# (BENCH_GAP_MS, default 50).
#
# Environment: MOAT_BUILD (default ./build), BENCH_RUNS (default 20, or $1),
# BENCH_GAP_MS (default 50), BENCH_STRICT=1 makes a missed target exit 1.
# shellcheck disable=SC2317 # functions called through traps and "case_$c"
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
N=${1:-${BENCH_RUNS:-20}}
GAP=$(awk -v ms="${BENCH_GAP_MS:-50}" 'BEGIN {printf "%.3f", ms / 1000}')
MOAT_BUILD=${MOAT_BUILD:-$PWD/build}
BIN=$MOAT_BUILD/bin

die() { echo "engine-run: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || die "needs root (moatd, crun and podman run as root)"
if ! [[ $N =~ ^[0-9]+$ ]] || [ "$N" -lt 3 ]; then die "N must be a number >= 3"; fi

need() { # COMMAND PACKAGE
  command -v "$1" >/dev/null && return
  echo "# installing $2 (apt-get)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$2" >/dev/null ||
    { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
        --no-install-recommends "$2" >/dev/null; } || die "apt-get install $2 failed"
}

if [ -z "${BENCH_IN_NS:-}" ]; then
  for b in moat moatd moat-monitor moat-runtime; do [ -x "$BIN/$b" ] || missing=1; done
  [ -z "${missing:-}" ] || make -s BUILD="$MOAT_BUILD" || die "build failed"
  need crun crun
  need podman podman
  need jq jq
  need curl curl
  export BENCH_IN_NS=1 MOAT_BUILD
  exec unshare --mount --propagation private "$0" "$N"
fi

# ---- inside the private mount namespace --------------------------------
u=/sys/fs/cgroup/unified
if mountpoint -q "$u" && [ -n "$(cat "$u/cgroup.controllers" 2>/dev/null)" ]; then
  echo "# hybrid cgroups ($u holds: $(cat "$u/cgroup.controllers")): unmounted in a private mount namespace for crun"
  umount "$u" || die "cannot unmount $u in the private mount namespace"
fi

W=$(mktemp -d /tmp/moat-engine-bench-XXXXXX)
chmod 755 "$W"
R=$(mktemp -d /run/moat-eb-XXXXXX) # state on tmpfs: moatd's run dir and socket, crun's and podman's state
D=$W/store                         # moatd's data root
SOCK=$R/moat.sock
MOATD_PID=

m() { "$BIN/moat" -H "unix://$SOCK" "$@"; }
pd() {
  podman --root "$W/podman/root" --runroot "$R/podman/run" --tmpdir "$R/podman/tmp" \
    --storage-driver overlay --cgroup-manager cgroupfs --events-backend none "$@"
}

cleanup() {
  local id d
  set +e
  if [ -n "$MOATD_PID" ]; then
    for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1; done
    kill "$MOATD_PID" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$MOATD_PID" 2>/dev/null || break; sleep 0.1; done
    MOAT_ROOT=$D "$BIN/moat" system reset -f >/dev/null 2>&1
  fi
  if [ -d "$W/podman" ]; then
    pd rm -af >/dev/null 2>&1
    pd rmi -af >/dev/null 2>&1
    pd system reset -f >/dev/null 2>&1
  fi
  if [ -n "$DOCKERD_PID" ]; then
    docker -H "unix://$DOCKER_SOCK" ps -aq 2>/dev/null | xargs -r docker -H "unix://$DOCKER_SOCK" rm -f >/dev/null 2>&1
    kill "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$DOCKERD_PID" 2>/dev/null
  fi
  for d in "$R"/crun/*; do
    [ -d "$d" ] && crun --root "$R/crun" delete --force "${d##*/}" >/dev/null 2>&1
  done
  # overlay mounts left in this (private) mount namespace
  findmnt -rn -o TARGET | grep -e "^$W/" -e "^$R/" | sort -r | while read -r d; do umount -l "$d"; done
  rm -rf "$W" "$R"
}
trap cleanup EXIT

# ---- the bundle, the podman image, moatd --------------------------------
tests/lib/mkrootfs.sh "$W/rootfs" >/dev/null
mkdir -p "$W/bundle"
"$BIN/moat-runtime" spec --bundle "$W/bundle" >/dev/null
# json-c pretty print; sed (jq 1.6 would round 64-bit seccomp values)
sed -i -e 's/^    "terminal": true,/    "terminal": false,/' \
       -e '/^    "args": \[$/{n;s/^      "sh"$/      "true"/}' \
       -e 's/^  "ociVersion": "1\.2\.0",/  "ociVersion": "1.0.2",/' "$W/bundle/config.json"
ln -s "$W/rootfs" "$W/bundle/rootfs"
[ "$(jq -c '[.ociVersion, .process.terminal, .process.args]' "$W/bundle/config.json")" = '["1.0.2",false,["true"]]' ] ||
  die "could not edit the config.json template"
mkdir -m 700 "$R/crun"
mkdir -p "$W/bundle-default"
(cd "$W/bundle-default" && crun spec)
sed -i -e 's/"terminal": true/"terminal": false/' -e 's/^\(\s*\)"sh"$/\1"true"/' "$W/bundle-default/config.json"
ln -s "$W/rootfs" "$W/bundle-default/rootfs"
[ "$(jq -c '[.process.terminal, .process.args]' "$W/bundle-default/config.json")" = '[false,["true"]]' ] ||
  die "could not edit crun's default config.json"

mkdir -p "$W/podman"
# podman (as root) asks for RLIMIT_NOFILE 1048576 and RLIMIT_NPROC above the
# 32768 it lowers its own (and conmon's) to; without CAP_SYS_RESOURCE crun
# cannot raise them (EPERM).  Then ask for this host's hard limits instead.
PODMAN_ULIMITS=()
PODMAN_NOTE=
if (( (0x$(awk '/^CapEff:/ {print $2}' /proc/self/status) >> 24 & 1) == 0 )); then
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
  PODMAN_ULIMITS=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
  PODMAN_NOTE=", no CAP_SYS_RESOURCE here: ${PODMAN_ULIMITS[*]}"
fi
tar -C "$W/rootfs" --numeric-owner -cf "$W/rootfs.tar" .
pd import -q "$W/rootfs.tar" localhost/busybox:latest >/dev/null || die "podman import failed"

"$BIN/moatd" --data-root "$D" --run-dir "$R/moatd" --socket "$SOCK" --log-file "$W/moatd.log" </dev/null &
MOATD_PID=$!
for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
[ -S "$SOCK" ] || { cat "$W/moatd.log" >&2; die "moatd did not start"; }

DOCKER= DOCKER_SOCK=/var/run/docker.sock DOCKERD_PID= DOCKER_NOTE=
docker_pings() { curl -sSI --max-time 2 --unix-socket "$1" http://docker/_ping 2>/dev/null | grep -qi '^Server: Docker/'; }
if [ "${BENCH_DOCKER:-1}" != 0 ]; then
  if command -v docker >/dev/null && [ -S /var/run/docker.sock ] && docker_pings /var/run/docker.sock; then
    DOCKER=1 DOCKER_NOTE="the host's dockerd"
  elif command -v dockerd >/dev/null && command -v containerd >/dev/null && command -v docker >/dev/null; then
    DOCKER_SOCK=$R/docker.sock
    dockerd --data-root "$W/docker" --exec-root "$R/docker-exec" --pidfile "$R/docker.pid" -H "unix://$DOCKER_SOCK" \
      --iptables=false --ip6tables=false --bridge=none --ip-forward=false --ip-masq=false \
      --storage-driver overlay2 --log-level error > "$W/dockerd.log" 2>&1 &
    DOCKERD_PID=$!
    for _ in $(seq 200); do docker_pings "$DOCKER_SOCK" && break; sleep 0.1; done
    if docker_pings "$DOCKER_SOCK"; then
      DOCKER=1 DOCKER_NOTE="a private dockerd ($(dockerd --version | cut -d, -f1), overlay2, no bridge)"
    else
      echo "# docker: a private dockerd did not answer (see below); skipped"; tail -3 "$W/dockerd.log" | sed 's/^/#   /'
    fi
  fi
fi

# ---- timing -------------------------------------------------------------
# one timed run: microseconds on stdout; the command must exit 0
run_us() {
  [ -e "$W/stdin" ] || : > "$W/stdin"
  local t0 t1
  sleep "$GAP"
  t0=$EPOCHREALTIME
  # stdin is an empty file of ours, never /dev/null: crun 1.8 fchown()s the container's stdio
  # to the container's root, which would re-own the host's /dev/null
  "$@" < "$W/stdin" > "$W/out" 2>&1 || { echo "engine-run: failed: $*" >&2; cat "$W/out" >&2; exit 1; }
  t1=$EPOCHREALTIME
  echo $(( ${t1/./} - ${t0/./} ))
}
median() { sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print int((a[NR/2]+a[NR/2+1])/2)}'; }
ms() { awk -v u="$1" 'BEGIN {printf "%.2f", u/1000}'; }

case_moat() { run_us "$BIN/moat" -H "unix://$SOCK" run --rm --network none busybox true; }
case_crun() { run_us crun --root "$R/crun" run --bundle "$W/bundle" "eb${EPOCHREALTIME/./}"; }
case_podman() { run_us pd run --rm --network none "${PODMAN_ULIMITS[@]}" localhost/busybox true; }
case_crun_default() { run_us crun --root "$R/crun" run --bundle "$W/bundle-default" "ed${EPOCHREALTIME/./}"; }
case_docker() { run_us docker -H "unix://$DOCKER_SOCK" run --rm --network none busybox true; }

CASES=(moat crun crun_default podman)
[ -n "$DOCKER" ] && CASES+=(docker)
if [ -n "$DOCKER" ]; then
  docker -H "unix://$DOCKER_SOCK" image inspect busybox >/dev/null 2>&1 ||
    docker -H "unix://$DOCKER_SOCK" import "$W/rootfs.tar" busybox:latest >/dev/null
fi

echo "# $("$BIN/moat" --version | head -1); $(crun --version | head -1); $(podman --version); kernel $(uname -r); $(nproc) cpus; N=$N, gap ${GAP}s"
echo "# crun bundle: moat-runtime's template, $(jq -c '[.linux.namespaces[].type]' "$W/bundle/config.json"), seccomp $(jq '.linux.seccomp.syscalls|length' "$W/bundle/config.json") rules, read-only root; crun's default cgroupfs manager"
echo "# podman: $(pd info --format '{{.Host.OCIRuntime.Name}} {{.Host.OCIRuntime.Version}}' 2>/dev/null | head -1 | cut -c1-60), storage $(pd info --format '{{.Store.GraphDriverName}}' 2>/dev/null), private root$PODMAN_NOTE"

# warm-up: the first moat run builds the busybox image in the private store
for i in 1 2 3; do
  for c in "${CASES[@]}"; do "case_$c" >/dev/null; done
done
m image inspect busybox >/dev/null 2>&1 || die "moat has no busybox image after the warm-up"

for c in "${CASES[@]}"; do : > "$W/$c.us"; done
for i in $(seq "$N"); do
  if [ $((i % 2)) = 1 ]; then order=("${CASES[@]}"); else
    order=(); for ((k = ${#CASES[@]} - 1; k >= 0; k--)); do order+=("${CASES[k]}"); done
  fi
  declare -A t=()
  for c in "${order[@]}"; do t[$c]=$("case_$c"); done
  for c in "${CASES[@]}"; do
    echo "${t[$c]}" >> "$W/$c.us"
    awk -v a="${t[moat]}" -v b="${t[$c]}" 'BEGIN {printf "%d\n", a * 1000 / b}' >> "$W/$c.ratio"
  done
  unset t
done

declare -A med=()
printf '%-44s %9s %9s %8s %9s\n' "case (ms)" "median" "min" "moat/x" "pair-med"
label() {
  case $1 in
    moat) echo "moat run --rm --network none (CLI+moatd)" ;;
    crun) echo "crun run (bundle, no engine)" ;;
    crun_default) echo "crun run (crun spec's default bundle)" ;;
    podman) echo "podman run --rm --network none" ;;
    docker) echo "docker run --rm --network none" ;;
  esac
}
for c in "${CASES[@]}"; do
  med[$c]=$(median < "$W/$c.us")
  printf '%-44s %9s %9s %8s %9s\n' "$(label "$c")" "$(ms "${med[$c]}")" "$(ms "$(sort -n "$W/$c.us" | head -1)")" \
    "$(awk -v a="${med[moat]}" -v b="${med[$c]}" 'BEGIN {printf "%.2f", a/b}')" \
    "$(awk -v r="$(median < "$W/$c.ratio")" 'BEGIN {printf "%.2f", r/1000}')"
done
if [ -n "$DOCKER" ]; then echo "# docker: $DOCKER_NOTE"; else echo "docker: skipped (no dockerd on this host)"; fi

ratio() { awk -v a="${med[moat]}" -v b="${med[$1]}" 'BEGIN {printf "%.2f", a/b}'; }
missed=
if awk -v a="${med[moat]}" -v b="${med[crun]}" 'BEGIN {exit !(a <= 2 * b)}'; then
  echo "target (moat <= 2x crun): met, ratio $(ratio crun)"
else
  echo "target (moat <= 2x crun): NOT met, ratio $(ratio crun)"
  missed=1
fi
echo "moat/crun-default: $(ratio crun_default) (the bare crun start, without moat's hardening)"
echo "moat/podman: $(ratio podman) (< 1: moat faster)"
if [ -n "$DOCKER" ]; then echo "moat/docker: $(ratio docker) (< 1: moat faster)"; fi

# ---- memory -------------------------------------------------------------
kib() { awk -v k="$1" '$1 == k ":" {print $2; exit}' "$2" 2>/dev/null; }
# mem LABEL PID LIMIT-KIB: VmRSS, RssAnon (status), Pss, Anonymous (smaps_rollup)
mem() {
  local rss anon file pss sanon verdict
  rss=$(kib VmRSS "/proc/$2/status"); anon=$(kib RssAnon "/proc/$2/status"); file=$(kib RssFile "/proc/$2/status")
  pss=$(kib Pss "/proc/$2/smaps_rollup"); sanon=$(kib Anonymous "/proc/$2/smaps_rollup")
  [ -n "$rss" ] || { echo "$1: pid $2 vanished"; missed=1; return; }
  if [ "$3" = 0 ]; then verdict="no target"
  elif [ "$rss" -lt "$3" ]; then verdict="target < $3 KiB: met"
  else verdict="target < $3 KiB: NOT met"; missed=1; fi
  printf '%-19s pid %-6s VmRSS %5s KiB (RssAnon %4s, RssFile %5s)  smaps_rollup: Pss %5s, Anonymous %4s KiB  (VmRSS %s)\n' \
    "$1" "$2" "$rss" "$anon" "$file" "$pss" "$sanon" "$verdict"
}
sleep 0.3
mem "moatd (idle)" "$MOATD_PID" 8192
id=$(m run -d busybox sleep 100)
mon=
for _ in $(seq 50); do
  for p in /proc/[0-9]*; do
    cl=$({ tr '\0' ' ' < "$p/cmdline"; } 2>/dev/null) || continue
    case $cl in *moat-monitor*"$id"*) mon=${p#/proc/}; break ;; esac
  done
  [ -n "$mon" ] && break
  sleep 0.05
done
sleep 0.3
if [ -n "$mon" ]; then
  mem "moat-monitor" "$mon" 1024
else
  echo "moat-monitor: not found for container ${id:0:12}"; missed=1
fi
mem "moatd (1 container)" "$MOATD_PID" 0
m rm -f "$id" >/dev/null

[ -z "$missed" ] || [ -z "${BENCH_STRICT:-}" ] || exit 1
exit 0
