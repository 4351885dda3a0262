#!/bin/bash
# The pure cgroup v2 lane: boots Debian's current kernel in QEMU (KVM, or TCG
# on a PVM host) with cgroup_no_v1=all and an initramfs holding busybox, jq,
# the built binaries and a busybox rootfs, runs tests/vm/guest.sh there and
# prints its TAP lines as "ok - vm-v2 ..." / "not ok - vm-v2 ...".  Skips
# without /dev/kvm or root.  See tests/vm/README.md.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
: "${MOAT_BUILD:=$PWD/build}"
cache=${MOAT_VM_CACHE:-/var/cache/moat-vm}
limit=${MOAT_VM_TIMEOUT:-180}
P=vm-v2

skip() { echo "ok - $P # skip $*"; exit 0; }
fail() { echo "not ok - $P $*"; exit 1; }

[ -n "${MOAT_NO_VM:-}" ] && skip "MOAT_NO_VM is set"
[ "$(id -u)" -eq 0 ] || skip "needs root (apt-get, the kernel download, /dev/kvm)"
# Accelerator: KVM on hardware virtualization (kvm_intel, kvm_amd).  A PVM
# host (kvm_pvm: KVM without VT-x/AMD-V, e.g. inside a Firecracker sandbox)
# only runs PVM-enabled guest kernels; Debian's hangs right after its
# decompressor there, so such hosts use QEMU's TCG emulation instead, as do
# hosts without /dev/kvm.
accel=${MOAT_VM_ACCEL:-}
if [ -z "$accel" ]; then
  # Without a usable /dev/kvm the lane still runs, emulated (TCG: about 30 s
  # here, 45 s with the ASan build), rather than skipping.
  accel=tcg
  if [ -c /dev/kvm ] && { exec 3<>/dev/kvm; } 2>/dev/null; then
    exec 3>&-
    accel=kvm
    if [ -d /sys/module/kvm_pvm ] && [ ! -d /sys/module/kvm_intel ] && [ ! -d /sys/module/kvm_amd ]; then
      accel=tcg
    fi
  else
    echo "# vm-v2: no usable /dev/kvm: QEMU's TCG emulation"
  fi
fi
case $accel in
kvm) accel_args=(-enable-kvm -cpu host) ;;
tcg) accel_args=(-accel "tcg,thread=multi" -cpu max) ;;
*) fail "setup: MOAT_VM_ACCEL must be kvm or tcg, not '$accel'" ;;
esac
for f in tests/unit-tests bin/moat-runtime tests/helpers/probe; do
  [ -x "$MOAT_BUILD/$f" ] || fail "setup: $MOAT_BUILD/$f missing (run make first)"
done

export DEBIAN_FRONTEND=noninteractive
# need_pkgs PKG...: apt-get only for what is missing; refresh the lists once if needed.
need_pkgs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "# vm-v2: installing ${missing[*]}"
  apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null 2>&1 && return 0
  apt-get update -q > /dev/null 2>&1
  apt-get install -y -q --no-install-recommends "${missing[@]}" > /dev/null
}
need_pkgs qemu-system-x86 busybox-static jq || fail "setup: apt-get install qemu-system-x86 busybox-static jq"

# kernel: the current linux-image-6.x-amd64 (what linux-image-amd64 depends on),
# downloaded once; only its vmlinuz, config and brd.ko (a ram disk for the io
# throttling test, the one module the guest loads) are kept.
kernel_pkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ {print $2; exit}'; }
pkg=$(kernel_pkg)
if [ -z "$pkg" ]; then
  apt-get update -q > /dev/null 2>&1
  pkg=$(kernel_pkg)
fi
mkdir -p "$cache"
if [ -n "$pkg" ]; then
  kver=${pkg#linux-image-}
  if [ ! -s "$cache/vmlinuz-$kver" ]; then
    echo "# vm-v2: downloading $pkg"
    dl=$(mktemp -d "$cache/dl.XXXXXX")
    if (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" > /dev/null) &&
       dpkg-deb --fsys-tarfile "$dl"/*.deb |
         tar -x -C "$dl" "./boot/vmlinuz-$kver" "./boot/config-$kver" "./lib/modules/$kver/kernel/drivers/block/brd.ko"; then
      rm -f "$cache"/vmlinuz-* "$cache"/config-* "$cache"/brd-*.ko
      mv "$dl/boot/vmlinuz-$kver" "$dl/boot/config-$kver" "$cache/"
      mv "$dl/lib/modules/$kver/kernel/drivers/block/brd.ko" "$cache/brd-$kver.ko"
    fi
    rm -rf "$dl"
  fi
fi
if [ ! -s "$cache/vmlinuz-${kver:-none}" ]; then
  # no package lists or no archive: the newest kernel already cached, if any
  kver=$(find "$cache" -name 'vmlinuz-*' -printf '%f\n' 2>/dev/null | sort -V | tail -n1)
  kver=${kver#vmlinuz-}
fi
vmlinuz=$cache/vmlinuz-${kver:-none}
[ -s "$vmlinuz" ] || fail "setup: no kernel (apt-get download ${pkg:-linux-image-6.x-amd64} failed)"
# Built in, not modules: the guest loads no module but brd (for the io test only).
for opt in BLK_DEV_INITRD RD_GZIP DEVTMPFS SERIAL_8250_CONSOLE CGROUPS MEMCG CGROUP_PIDS CGROUP_BPF CGROUP_FREEZER \
           CFS_BANDWIDTH CPUSETS BPF_SYSCALL USER_NS PID_NS SECCOMP_FILTER; do
  grep -qx "CONFIG_$opt=y" "$cache/config-$kver" || fail "setup: $kver lacks CONFIG_$opt=y"
done

# apparmor_parser (AppArmor is active in Debian's kernel), from the apparmor
# package, also downloaded once and never installed on the host.
if [ ! -x "$cache/apparmor_parser" ]; then
  dl=$(mktemp -d "$cache/dl.XXXXXX")
  (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root apparmor > /dev/null 2>&1) &&
    dpkg-deb --fsys-tarfile "$dl"/apparmor_*.deb | tar -x -C "$dl" ./sbin/apparmor_parser &&
    mv "$dl/sbin/apparmor_parser" "$cache/apparmor_parser"
  rm -rf "$dl"
fi

work=$(mktemp -d /tmp/moat-vm-XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,proc,sys,dev,run,tmp,newroot,moat,root}
chmod 1777 "$root/tmp"

# copy_bin SRC DEST: a binary plus every shared library and the loader ldd names.
copy_bin() {
  install -D -m 0755 "$1" "$root$2" || return 1
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -o '/[^ ]*'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib" || return 1
  done
}
build_initramfs() {
  cp /bin/busybox "$root/bin/busybox" &&
  for a in $(/bin/busybox --list-full); do [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"; done &&
  copy_bin "$MOAT_BUILD/tests/unit-tests" /moat/unit-tests &&
  copy_bin "$MOAT_BUILD/bin/moat-runtime" /usr/local/bin/moat-runtime &&
  # `spec` dlopens libsubid (ldd does not list it): it and its libraries
  subid=$(ldconfig -p | awk '$1 == "libsubid.so.4" && /x86-64/ {p = $NF} END {print p}') &&
  [ -n "$subid" ] && copy_bin "$subid" "$subid" &&
  copy_bin "$(command -v jq)" /usr/bin/jq &&
  copy_bin /usr/bin/newuidmap /usr/bin/newuidmap && copy_bin /usr/bin/newgidmap /usr/bin/newgidmap &&
  chmod 4755 "$root/usr/bin/newuidmap" "$root/usr/bin/newgidmap" &&
  tests/lib/mkrootfs.sh "$root/moat/rootfs" "$MOAT_BUILD/tests/helpers/probe" &&
  install -m 0755 tests/vm/init "$root/init" &&
  install -m 0755 tests/vm/guest.sh "$root/moat/guest.sh" || return 1
  [ -e "$cache/brd-$kver.ko" ] && cp "$cache/brd-$kver.ko" "$root/moat/brd.ko"
  [ -x "$cache/apparmor_parser" ] && copy_bin "$cache/apparmor_parser" /sbin/apparmor_parser
  printf '%s\n' root:x:0:0:root:/root:/bin/sh moat:x:999:999:moat:/nonexistent:/bin/false \
    tester:x:1000:1000:tester:/home/tester:/bin/sh nobody:x:65534:65534:nobody:/nonexistent:/bin/false > "$root/etc/passwd"
  printf '%s\n' root:x:0: tty:x:5: moat:x:999: tester:x:1000: nogroup:x:65534: > "$root/etc/group"
  # root's containers map into the "moat" user's range, as `make deps` sets up;
  # the rootless user "tester" has a range of its own
  printf '%s\n' moat:1000000000:16777216 tester:100000:65536 > "$root/etc/subuid"
  cp "$root/etc/subuid" "$root/etc/subgid"
  mkdir -p "$root/home/tester" "$root/etc/apparmor"
  : > "$root/etc/apparmor/parser.conf"
  echo moat-vm > "$root/etc/hostname"
  (cd "$root" && find . | busybox cpio -o -H newc 2> /dev/null) | gzip -1 > "$work/initrd.gz"
}
t0=$(date +%s.%N)
build_initramfs || fail "setup: build the initramfs"
t1=$(date +%s.%N)

# ttyS0: the kernel console, kept in a file (shown when something fails);
# ttyS1: the guest's TAP lines, streamed.
timeout -k 5 "$limit" qemu-system-x86_64 "${accel_args[@]}" -m 1024 -smp 2 \
  -nodefaults -no-user-config -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/initrd.gz" \
  -append "console=ttyS0 cgroup_no_v1=all panic=-1 ${MOAT_VM_APPEND:-quiet loglevel=4}" \
  -serial "file:$work/console.log" -serial stdio < /dev/null 2> "$work/qemu.err" |
  tr -d '\r' | sed -uE '/^(ok|not ok|#)/!s/^/# /; s/^(ok|not ok) - /\1 - '$P' /' | tee "$work/tap.log"
rc=${PIPESTATUS[0]}
t2=$(date +%s.%N)

bad=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "not ok - $P the guest finished within ${limit}s"
  bad=1
elif ! grep -q '^# vm-v2 guest done' "$work/tap.log"; then
  echo "not ok - $P the guest ran to its end (qemu exit $rc)"
  bad=1
fi
grep -q '^not ok ' "$work/tap.log" && bad=1
if [ $bad -ne 0 ]; then
  sed 's/^/# qemu: /' "$work/qemu.err"
  # the kernel's console, without BIOS escape sequences
  tail -n 40 "$work/console.log" | tr -d '\r' | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' |
    awk '{ print "# console: " $0 }'
fi
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
echo "# vm-v2: kernel $kver ($accel); initramfs of $(du -h "$work/initrd.gz" | cut -f1) built in $(secs "$t0" "$t1") s; VM ran $(secs "$t1" "$t2") s"
exit $bad
