#!/bin/bash
# make demo: a default moat container on the built-in busybox rootfs, and what
# it can and cannot do.  Uses only the built binaries and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MOAT_BUILD:=$PWD/build}"
rt=$MOAT_BUILD/bin/moat-runtime
work=$(mktemp -d /tmp/moat-demo-XXXXXX)
chmod 755 "$work"
moatd_pid=
cleanup() {
  if [ -n "$moatd_pid" ]; then
    "$MOAT_BUILD/bin/moat" -H "unix://$work/engine/moat.sock" rm -f demo-web >/dev/null 2>&1 || true
    kill "$moatd_pid" 2>/dev/null || true
    wait "$moatd_pid" 2>/dev/null || true
    MOAT_ROOT=$work/engine/store "$MOAT_BUILD/bin/moat" system reset -f >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
tests/lib/mkrootfs.sh "$work/rootfs" "$MOAT_BUILD/tests/helpers/probe"
"$rt" spec --bundle "$work"
jq '.process.terminal = false | .process.args = ["/bin/sh", "/demo.sh"]' \
  "$work/config.json" > "$work/c" && mv "$work/c" "$work/config.json"
cat > "$work/rootfs/demo.sh" <<'IN'
say() { printf '  %-46s %s\n' "$1" "$2"; }
try() { r=$(probe "$@" 2>&1); case $r in ok) echo "ALLOWED";; "errno "*) echo "refused (${r#errno })";; *) echo "$r";; esac; }
st() { grep "^$1:" /proc/self/status | awk '{print $2}'; }
echo "inside the container:"
say "user" "uid $(id -u), mapped to host uid $(awk 'NR==1 {print $2}' /proc/self/uid_map)"
say "effective capabilities" "$(st CapEff)"
say "bounding set" "$(st CapBnd)"
say "no_new_privs" "$(st NoNewPrivs)"
say "seccomp" "$( [ "$(st Seccomp)" = 2 ] && echo 'filter (default profile)' || st Seccomp)"
say "processes visible" "$(ls /proc | grep -c '^[0-9]') (its own pid namespace)"
say "network interfaces" "$(ls /sys/class/net | tr '\n' ' ')"
say "mount a filesystem" "$(try mount)"
say "create a user namespace" "$(try unshare-user)"
say "use the kernel keyring (keyctl)" "$(try keyctl)"
say "clone3 (libc falls back to clone)" "$(try clone3)"
say "io_uring" "$(try io_uring_setup)"
say "AF_ALG crypto socket" "$(try socket 38 5)"
say "AF_INET socket" "$(try socket 2)"
say "mknod a device" "$(try mknod /dev/shm/null)"
say "/proc/keys (masked)" "$(wc -c < /proc/keys) bytes"
say "write /proc/sys/kernel/hostname" "$( (echo x > /proc/sys/kernel/hostname) 2>/dev/null && echo ALLOWED || echo 'refused (read-only)')"
say "write to the root filesystem" "$( (touch /x) 2>/dev/null && echo ALLOWED || echo 'refused (read-only)')"
say "file descriptors inherited from the host" "$(probe fds | tail -1)"
IN
chmod 644 "$work/rootfs/demo.sh"
echo "moat demo: a container from \`moat-runtime spec\` (the hardened defaults), busybox rootfs"
[ "$(id -u)" -eq 0 ] && echo "(run as root: the container still gets no host privilege)"
"$rt" --root "$work/state" run --bundle "$work" "demo-$$"
TIMEFORMAT=%R
t=$( { time "$rt" --root "$work/state" run --bundle "$work" "demo2-$$" >/dev/null; } 2>&1 )
echo "(one such container: created, run and deleted in $t s)"

echo
echo "moat demo: the engine -- moatd serving the Docker API, the moat CLI, the built-in busybox image"
mkdir -p "$work/engine"
"$MOAT_BUILD/bin/moatd" --data-root "$work/engine/store" --run-dir "$work/engine/run" \
  --socket "$work/engine/moat.sock" --log-file "$work/engine/moatd.log" </dev/null &
moatd_pid=$!
for _ in $(seq 100); do [ -S "$work/engine/moat.sock" ] && break; sleep 0.05; done
m() { echo "\$ moat $*"; "$MOAT_BUILD/bin/moat" -H "unix://$work/engine/moat.sock" "$@"; }
m run --rm busybox sh -c 'echo "hello from busybox: uid $(id -u) inside is host uid $(awk "NR==1 {print \$2}" /proc/self/uid_map)"; grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status'
m run -d --name demo-web busybox sh -c 'while :; do echo tick; sleep 1; done' >/dev/null
sleep 1.2
m ps
m logs --tail 1 demo-web
m exec demo-web ps
m stop -t 1 demo-web
m rm demo-web
m run --rm --privileged busybox true || echo "(refused by the default policy, naming the rule and its file)"
m run --rm -v /proc:/host-proc busybox true || echo "(refused: a bind of /proc would expose the host's kernel interfaces)"
if [ -x /usr/bin/docker ] || [ -x /usr/local/bin/docker ]; then
  d=/usr/bin/docker; [ -x "$d" ] || d=/usr/local/bin/docker
  echo "\$ DOCKER_HOST=unix://.../moat.sock $d run --rm busybox echo hi  # the real docker CLI, unchanged"
  DOCKER_HOST=unix://$work/engine/moat.sock "$d" run --rm busybox echo hi
fi
m policy check --policy restricted --cap-add NET_ADMIN busybox true || echo "(policy check: the same question, nothing created)"
m policy check --policy restricted --user 1000 --read-only busybox true
echo "\$ moat audit ls --decision deny"
"$MOAT_BUILD/bin/moat" audit ls --dir "$work/engine/store/audit" --decision deny
echo "\$ moat audit verify"
"$MOAT_BUILD/bin/moat" audit verify --dir "$work/engine/store/audit"
