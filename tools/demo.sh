#!/bin/bash
# make demo: a default moat container on the built-in busybox rootfs, and what
# it can and cannot do.  Uses only the built binaries and Debian's busybox-static.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${MOAT_BUILD:=$PWD/build}"
rt=$MOAT_BUILD/bin/moat-runtime
work=$(mktemp -d /tmp/moat-demo-XXXXXX)
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
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
