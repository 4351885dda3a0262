#!/bin/bash
# mkrootfs.sh DIR [PROBE]: a minimal busybox rootfs from Debian's busybox-static,
# plus the test probe binary.  No network.
set -euo pipefail
dir=$1; probe=${2:-}
bb=/bin/busybox
[ -x "$bb" ] || { echo "mkrootfs: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
file -L "$bb" 2>/dev/null | grep -q 'statically linked' || true
rm -rf "$dir.tmp"
mkdir -p "$dir.tmp"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc,tmp,proc,sys,dev,root,var,run,home}
chmod 1777 "$dir.tmp/tmp"
cp "$bb" "$dir.tmp/bin/busybox"
for a in $("$dir.tmp/bin/busybox" --list-full); do
  [ -e "$dir.tmp/$a" ] || ln -s /bin/busybox "$dir.tmp/$a"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$dir.tmp/etc/passwd"
printf 'root:x:0:\ntty:x:5:\nnogroup:x:65534:\n' > "$dir.tmp/etc/group"
echo moat > "$dir.tmp/etc/hostname"
[ -n "$probe" ] && cp "$probe" "$dir.tmp/usr/local/bin/probe"
chmod -R a+rX "$dir.tmp"
rm -rf "$dir"
mv "$dir.tmp" "$dir"
