#!/usr/bin/env bats
# Hostile root filesystems: symlinks and wrong file types where the runtime
# mounts things must be refused or neutralised, never followed out of the rootfs.

load ../lib/helpers

# own_rootfs: a private, writable copy of the test rootfs for this bundle.
own_rootfs() {
  ROOT=$BATS_TEST_TMPDIR/rootfs
  cp -a "$MOAT_ROOTFS" "$ROOT"
  rm -f "$BUNDLE/rootfs"
  ln -s "$ROOT" "$BUNDLE/rootfs"
  # the host-side canary that no test may touch
  CANARY=$BATS_TEST_TMPDIR/canary
  mkdir -p "$CANARY"
  echo untouched > "$CANARY/file"
}

teardown() {
  delete_all
  # the host-side submount of the rbind test, and the host mqueue instance
  if [ -n "${SUBMNT:-}" ]; then umount "$SUBMNT" 2>/dev/null || true; fi
  if [ -n "${SHMFILE:-}" ]; then rm -f "/dev/shm/$SHMFILE"; fi
  if [ -n "${HOSTMQ:-}" ]; then rm -f "$HOSTMQ/moat-host-q-$$"; umount "$HOSTMQ" 2>/dev/null || true; fi
  true
}

# mnt_of DEST: "FSTYPE MOUNT-OPTIONS" of the mount at DEST in the mountinfo on stdin
mnt_of() { awk -v d="$1" '$5 == d { for (i = 7; $i != "-"; i++); print $(i + 1), $6 }'; }

canary_intact() {
  [ "$(cat "$CANARY/file")" = untouched ]
  [ "$(ls -A "$CANARY")" = file ]
}

@test "a rootfs whose /proc is a symlink is refused" {
  own_rootfs
  rmdir "$ROOT/proc"
  ln -s "$CANARY" "$ROOT/proc"
  run_ctr true
  assert_failure
  assert_output --partial "mount '/proc' (proc): the target in the rootfs is or goes through a symlink"
  canary_intact
}

@test "a rootfs whose /sys is a symlink is refused" {
  own_rootfs
  rm -rf "$ROOT/sys"
  ln -s /etc "$ROOT/sys"
  run_ctr true
  assert_failure
  assert_output --partial "it must be an ordinary directory"
}

@test "a rootfs whose /dev is a symlink gets no device nodes outside" {
  own_rootfs
  rm -rf "$ROOT/dev"
  ln -s "$CANARY" "$ROOT/dev"
  run_ctr true
  assert_failure
  assert_output --partial "symlink"
  canary_intact
}

@test "a /dev/pts or /dev/mqueue symlink inside the image changes nothing" {
  own_rootfs
  mkdir -p "$ROOT/dev"
  ln -s "$CANARY" "$ROOT/dev/pts"
  ln -s "$CANARY" "$ROOT/dev/mqueue"
  ln -s /etc/passwd "$ROOT/dev/null"
  ln -s "$CANARY/file" "$ROOT/dev/console"
  # /dev is a fresh tmpfs: what the image had there is never seen
  run_ctr sh -c 'stat -c "%F %t:%T" /dev/null; [ -L /dev/pts ] && echo pts-link; echo x > /dev/null; echo ok'
  assert_success
  assert_line --index 0 "character special file 1:3"
  refute_output --partial pts-link
  canary_intact
}

@test "without a /dev tmpfs, an image's /dev/null symlink doesn't redirect masking (CVE-2025-31133 class)" {
  own_rootfs
  mkdir -p "$ROOT/dev"
  ln -s /proc/sys/kernel/core_pattern "$ROOT/dev/null"
  cfg 'del(.mounts[] | select(.destination | startswith("/dev")))'
  run_ctr sh -c 'stat -c "%t:%T" /proc/keys; echo x > /proc/sys/kernel/core_pattern 2>&1; echo done'
  assert_line --index 0 "1:3"
  assert_output --partial "Read-only file system"
}

@test "the console is a fresh node even if the image planted /dev/console" {
  own_rootfs
  cfg '.process.terminal = true'
  set_args sh -c 'stat -c "%F" /dev/console; readlink /dev/console || echo not-a-link'
  sock=$BATS_TEST_TMPDIR/c.sock
  "$MOAT_BUILD/tests/helpers/recvtty" "$sock" > "$BATS_TEST_TMPDIR/tty.out" &
  rpid=$!
  wait_for test -S "$sock"
  run rt run --console-socket "$sock" --bundle "$BUNDLE" "$CID"
  wait "$rpid" || true
  assert_success
  run cat "$BATS_TEST_TMPDIR/tty.out"
  assert_output --partial "character special file"
  assert_output --partial "not-a-link"
}

@test "a bind mount target through an absolute symlink lands inside the rootfs" {
  own_rootfs
  echo host-data > "$BATS_TEST_TMPDIR/data"
  chmod 644 "$BATS_TEST_TMPDIR/data"
  ln -s "$CANARY/file" "$ROOT/escape"
  cfg --arg s "$BATS_TEST_TMPDIR/data" '.mounts += [{"destination": "/escape", "type": "bind", "source": $s, "options": ["bind", "ro"]}]'
  run_ctr sh -c "cat $CANARY/file"
  assert_success
  assert_output host-data
  canary_intact
  # the file the mount needed was created inside the rootfs, at the symlink's target
  [ -f "$ROOT$CANARY/file" ]
}

@test "a mount target through .. and relative symlinks stays inside" {
  own_rootfs
  ln -s ../../../../../../.. "$ROOT/up"
  cfg '.mounts += [{"destination": "/up/tmp/x", "type": "tmpfs", "source": "tmpfs"}]'
  run_ctr sh -c 'grep -c " /tmp/x " /proc/self/mountinfo'
  assert_success
  assert_output 1
  [ -d "$ROOT/tmp/x" ]
  [ ! -e /tmp/x ] || [ "$(stat -c %i /tmp/x)" != "$(stat -c %i "$ROOT/tmp/x")" ]
}

@test "a cwd symlink pointing outside resolves inside the container" {
  own_rootfs
  ln -s /../../etc "$ROOT/wd"
  cfg '.process.cwd = "/wd"'
  run_ctr pwd
  assert_success
  assert_output /etc
}

@test "masked and read-only paths that are symlinks in the rootfs are not followed" {
  own_rootfs
  mkdir -p "$ROOT/data"
  echo secret > "$ROOT/data/f"
  chmod 777 "$ROOT/data"; chmod 666 "$ROOT/data/f"
  ln -s /data "$ROOT/masklink"
  cfg '.root.readonly = false | .linux.maskedPaths += ["/masklink"] | .linux.readonlyPaths += ["/masklink"]'
  run_ctr sh -c 'cat /data/f; echo more >> /data/f && echo still-writable'
  assert_success
  assert_output "secret
still-writable"
}

@test "a read-only rootfs and a writable one" {
  own_rootfs
  run_ctr sh -c 'touch /x 2>&1'
  assert_output --partial "Read-only file system"
  cfg '.root.readonly = false'
  run_ctr sh -c 'touch /x && echo made'
  if is_root; then
    # the copy is owned by host root: the container's root is someone else
    assert_output --partial "Permission denied"
  else
    assert_output made
  fi
}

@test "a rootfs whose /proc is a plain file is refused, and the file is left alone" {
  own_rootfs
  rmdir "$ROOT/proc"
  echo not-proc > "$ROOT/proc"
  run_ctr true
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "mount 0 ('/proc')"
  assert_output --partial "it must be an ordinary directory"
  [ "$(cat "$ROOT/proc")" = not-proc ]
  [ -f "$ROOT/proc" ]
}

@test "/dev/fd, /dev/stdin, /dev/stdout, /dev/stderr and /dev/ptmx" {
  run_ctr sh -c 'for l in fd stdin stdout stderr ptmx; do echo "$l -> $(readlink /dev/$l)"; done
                 ls /dev/fd/ | sort -n | head -3 | tr "\n" " "; echo
                 stat -L -c "ptmx %t:%T" /dev/ptmx
                 probe open /dev/ptmx
                 echo via-fd-link > /dev/fd/1'
  assert_success
  assert_output "fd -> /proc/self/fd
stdin -> /proc/self/fd/0
stdout -> /proc/self/fd/1
stderr -> /proc/self/fd/2
ptmx -> pts/ptmx
0 1 2 
ptmx 5:2
ok
via-fd-link"
}

@test "pivot_root: the host's root is unreachable and not in the mount table" {
  marker=$BATS_TEST_TMPDIR/host-only-marker
  echo host > "$marker"
  chmod 755 "$BATS_TEST_TMPDIR"
  chmod 644 "$marker"
  rootfs=$(realpath "$MOAT_ROOTFS")
  # the rootfs as the kernel names it: device and path inside that filesystem
  read -r dev fsroot target < <(findmnt -n -o MAJ:MIN,FSROOT,TARGET -T "$rootfs")
  want=$(echo "$dev $fsroot/${rootfs#"$target"}" | sed 's|//*|/|g')
  host_root=$(awk '$5 == "/" {print $3; exit}' /proc/self/mountinfo)
  set_args sh -c "cat $marker 2>&1; cd /..; ls -di . | cut -d' ' -f1; ls -di / | cut -d' ' -f1
                  awk '{print \$3, \$4, \$5}' /proc/self/mountinfo"
  run rt run --bundle "$BUNDLE" "$CID"
  assert_success
  assert_line --index 0 --partial "No such file or directory"
  # /.. is / (no way up to the old root)
  assert_equal "${lines[1]}" "${lines[2]}"
  mi=$(printf '%s\n' "${lines[@]:3}")
  # the one mount at / is the rootfs, not the host's root
  roots=$(awk '$3 == "/"' <<< "$mi")
  assert_equal "$roots" "$want /"
  # and the host's root filesystem is mounted nowhere from its own root
  run awk -v d="$host_root" '$1 == d && $2 == "/"' <<< "$mi"
  assert_output ""
}

# ovl_dirs: layers for run.moat.overlay.* in a directory the container's root
# (root lane: an unprivileged mapped id) can walk; upper/work belong to it.
ovl_dirs() {
  O=$(mktemp -d /tmp/moat-ovl.XXXXXX)
  chmod 755 "$O"
  mkdir -p "$O/top" "$O/upper" "$O/work"
  cp -a "$MOAT_ROOTFS" "$O/base"
  echo from-top > "$O/top/marker"
  chmod 644 "$O/top/marker"
  local hu hg
  hu=$(jq -r '.linux.uidMappings[0].hostID' "$BUNDLE/config.json")
  hg=$(jq -r '.linux.gidMappings[0].hostID' "$BUNDLE/config.json")
  if is_root; then chown "$hu:$hg" "$O/upper" "$O/work"; fi
  cfg --arg l "$O/top:$O/base" --arg u "$O/upper" --arg w "$O/work" \
    '.root.readonly = false | .annotations["run.moat.overlay.lowerdir"] = $l
     | .annotations["run.moat.overlay.upperdir"] = $u | .annotations["run.moat.overlay.workdir"] = $w'
}

@test "run.moat.overlay.*: the root is an overlay made inside the container's namespaces; writes land in upperdir only" {
  ovl_dirs
  run_ctr sh -c 'cat /marker; echo new > /new; cat /new; awk "\$5 == \"/\" {print \$8}" /proc/self/mountinfo'
  assert_success
  assert_output "from-top
new
overlay"
  [ "$(cat "$O/upper/new")" = new ]
  [ ! -e "$O/top/new" ] && [ ! -e "$O/base/new" ] && [ ! -e "$MOAT_ROOTFS/new" ]
  # the host's view of root.path is untouched: the overlay lived in the container's mount namespace
  ! grep -q " $(realpath "$MOAT_ROOTFS") " /proc/self/mountinfo
  # lowerdir alone: a read-only overlay of the layers
  cfg 'del(.annotations["run.moat.overlay.upperdir"], .annotations["run.moat.overlay.workdir"])'
  run_ctr sh -c 'cat /marker; touch /x 2>&1'
  assert_output --partial from-top
  assert_output --partial "Read-only file system"
  rm -rf "$O"
}

@test "run.moat.overlay.*: a bad annotation is one clear error before anything starts" {
  ovl_dirs
  cfg 'del(.annotations["run.moat.overlay.workdir"])'
  run_ctr true
  assert_failure
  assert_output --partial "run.moat.overlay.upperdir and run.moat.overlay.workdir go together"
  cfg --arg w "$O/work" '.annotations["run.moat.overlay.workdir"] = $w | .annotations["run.moat.overlay.lowerdir"] = "relative/dir"'
  run_ctr true
  assert_failure
  assert_output --partial "/annotations/run.moat.overlay.lowerdir: 'relative/dir' is not an absolute path"
  cfg --arg l "$O/top:$O/missing" '.annotations["run.moat.overlay.lowerdir"] = $l'
  run_ctr true
  assert_failure
  assert_output --partial "/annotations/run.moat.overlay.lowerdir: '$O/missing': No such file or directory"
  cfg 'del(.annotations["run.moat.overlay.lowerdir"])'
  run_ctr true
  assert_failure
  assert_output --partial "run.moat.overlay.upperdir needs run.moat.overlay.lowerdir"
  rm -rf "$O"
}

@test "run.moat.bind.nosymlinks: a bind source reached through a symlink is refused, never followed" {
  own_rootfs
  D=$(mktemp -d /tmp/moat-bindsrc.XXXXXX)
  chmod 755 "$D"
  mkdir "$D/real"
  echo real-data > "$D/real/f"
  chmod 644 "$D/real/f"
  ln -s real "$D/link"
  # without the annotation a symlink in the source is the host's to follow (OCI)
  mkdir -p "$ROOT/b"
  cfg --arg s "$D/link" '.mounts += [{"destination": "/b", "type": "bind", "source": $s, "options": ["rbind", "ro"]}]'
  run_ctr cat /b/f
  assert_success
  assert_output real-data
  # with it (the engine's specs: it resolved and checked every source) the link is refused
  cfg '.annotations["run.moat.bind.nosymlinks"] = "true"'
  run_ctr cat /b/f
  assert_failure
  assert_output --partial "open bind source '$D/link' for '/b' (a symlink appeared in it since the engine checked it): Too many levels of symbolic links"
  # a canonical source still works
  cfg --arg s "$D/real" '.mounts[-1].source = $s'
  run_ctr cat /b/f
  assert_success
  assert_output real-data
  rm -rf "$D"
}

@test "/dev/mqueue: an mqueue filesystem of the container's own IPC namespace" {
  set_args sleep 100
  detached
  pid=$(rt state "$CID" | jq -r .pid)
  run rt exec "$CID" sh -c 'cat /proc/self/mountinfo > /dev/shm/mi; touch /dev/mqueue/moat-q && cat /dev/mqueue/moat-q; ls /dev/mqueue'
  assert_success
  # a real message queue: the filesystem answers with its queue attributes
  assert_line --index 0 --regexp '^QSIZE:0 +NOTIFY:0 +SIGNO:0 +NOTIFY_PID:0'
  assert_line --index 1 moat-q
  run sh -c "'$RUNTIME' --root '$STATE' exec '$CID' cat /dev/shm/mi | awk -v d=/dev/mqueue '\$5 == d { for (i = 7; \$i != \"-\"; i++); print \$(i + 1), \$6 }'"
  assert_output --regexp '^mqueue rw,nosuid,nodev,noexec'
  # a second container (another IPC namespace) has its own, empty, instance
  [ "$(readlink "/proc/$pid/ns/ipc")" != "$(readlink /proc/self/ns/ipc)" ]
  B2=$BATS_TEST_TMPDIR/b2
  mkdir -p "$B2"
  cp "$BUNDLE/config.json" "$B2/"
  ln -s "$MOAT_ROOTFS" "$B2/rootfs"
  jq '.process.args = ["sh", "-c", "ls -A /dev/mqueue | wc -l"]' "$B2/config.json" > "$B2/c" && mv "$B2/c" "$B2/config.json"
  run rt run --bundle "$B2" "${CID}b"
  assert_success
  assert_output 0
  # and the host's instance (root: mounted here for a look) never sees the container's queue,
  # nor the container the host's
  if is_root; then
    HOSTMQ=$BATS_TEST_TMPDIR/host-mq
    mkdir -p "$HOSTMQ"
    mount -t mqueue none "$HOSTMQ"
    touch "$HOSTMQ/moat-host-q-$$"
    [ ! -e "$HOSTMQ/moat-q" ]
    run rt exec "$CID" ls -A /dev/mqueue
    assert_output moat-q
  fi
}

@test "/sys: sysfs of the container's own network namespace, mounted read-only" {
  run_ctr sh -c 'cat /proc/self/mountinfo > /dev/shm/mi
                 ls /sys/class/net
                 stat -c "%u %a" /sys/class/net/lo/mtu
                 probe write /sys/class/net/lo/mtu
                 touch /sys/moat-x 2>&1
                 echo 1 > /sys/kernel/uevent_helper 2>&1
                 mnt() { awk -v d="$1" "\$5 == d { for (i = 7; \$i != \"-\"; i++); print \$(i + 1), \$6 }" /dev/shm/mi; }
                 mnt /sys'
  assert_success
  # the container's own sysfs instance: its network namespace has only lo
  assert_line --index 0 lo
  # lo's attributes belong to the container's root (its network namespace's owner):
  # only the read-only mount refuses the write
  assert_line --index 1 "0 644"
  assert_line --index 2 "errno EROFS"
  assert_line --index 3 "touch: /sys/moat-x: Read-only file system"
  assert_line --index 4 --partial "Read-only file system"
  assert_line --index 5 --regexp '^sysfs ro,nosuid,nodev,noexec'
}

@test "an rbind ro of a host dir with a submount: the submount is there and read-only too (AT_RECURSIVE)" {
  requires_root # a host-side mount
  H=$BATS_TEST_TMPDIR/host
  mkdir -p "$H/sub"
  chmod 755 "$BATS_TEST_TMPDIR"
  SUBMNT=$H/sub
  mount -t tmpfs -o size=1m,mode=1777 moat-submount "$SUBMNT"
  echo top > "$H/f"
  echo sub > "$H/sub/f"
  chmod 777 "$H"
  chmod 666 "$H/f" "$H/sub/f"
  script='cat /proc/self/mountinfo > /dev/shm/mi
          cat /home/f /home/sub/f 2>&1
          probe write /home/f; probe write /home/sub/f
          touch /home/sub/new 2>&1
          mnt() { awk -v d="$1" "\$5 == d { for (i = 7; \$i != \"-\"; i++); print \$(i + 1), \$6 }" /dev/shm/mi; }
          mnt /home; mnt /home/sub'
  cfg --arg s "$H" '.mounts += [{"destination": "/home", "type": "bind", "source": $s, "options": ["rbind", "ro", "nosuid", "nodev"]}]'
  run_ctr sh -c "$script"
  assert_success
  # (both files are world-writable: only a read-only mount refuses the writes)
  assert_output --regexp "^top
sub
errno EROFS
errno EROFS
touch: /home/sub/new: Read-only file system
[a-z0-9]+ ro,nosuid,nodev[a-z,]*
tmpfs ro,nosuid,nodev[a-z,]*\$"
  [ ! -e "$H/sub/new" ]
  # the container's read-only view didn't change the host's submount
  echo host-write > "$H/sub/f"
  grep -q " $SUBMNT rw," /proc/self/mountinfo
  # rw: the same tree writable, submount included
  cfg '.mounts[-1].options = ["rbind", "rw", "nosuid", "nodev"]'
  run_ctr sh -c 'echo from-ctr > /home/sub/f && cat /home/sub/f'
  assert_success
  assert_output from-ctr
  # a plain bind (not rbind) doesn't carry the submount at all
  cfg '.mounts[-1].options = ["bind", "ro"]'
  run_ctr sh -c 'ls -A /home/sub | wc -l; grep -c " /home/sub " /proc/self/mountinfo'
  assert_output "0
0"
}

@test "an rbind ro of /dev: its /dev/shm submount is read-only inside (rootless too)" {
  mountpoint -q /dev/shm || skip "/dev/shm is not a mount of its own here"
  [ -w /dev/shm ] || skip "/dev/shm is not writable by $(id -un)"
  # (should the write get through, teardown removes the file from the host's /dev/shm)
  SHMFILE=moat-rbind-test-$$-$BATS_TEST_NUMBER
  cfg '.mounts += [{"destination": "/var", "type": "bind", "source": "/dev", "options": ["rbind", "ro", "nosuid", "nodev", "noexec"]}]'
  run_ctr sh -c "touch /var/shm/$SHMFILE 2>&1; grep ' /var/shm ' /proc/self/mountinfo | cut -d' ' -f6 | sort -u"
  assert_success
  assert_line --index 0 --partial "Read-only file system"
  assert_line --index 1 --regexp '^ro,nosuid,nodev,noexec'
  [ "${#lines[@]}" -eq 2 ]
  [ ! -e "/dev/shm/$SHMFILE" ]
}
