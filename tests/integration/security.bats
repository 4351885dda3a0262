#!/usr/bin/env bats
# What a default container (the `spec` template) can and cannot do, looked at
# from inside and from outside.

load ../lib/helpers

@test "default container: no capabilities, no_new_privs, seccomp filter" {
  run_ctr sh -c 'grep -E "^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):" /proc/self/status'
  assert_success
  assert_line "CapEff:	0000000000000000"
  assert_line "CapPrm:	0000000000000000"
  assert_line "CapBnd:	0000000000000000"
  assert_line "CapAmb:	0000000000000000"
  assert_line "NoNewPrivs:	1"
  assert_line "Seccomp:	2"
}

@test "container root is an unprivileged host uid" {
  set_args sh -c 'cat /proc/self/uid_map; sleep 100'
  detached
  pid=$(rt state "$CID" | jq -r .pid)
  host_uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
  if is_root; then
    # mapped into the range of the dedicated user "moat", never to host root
    [ "$host_uid" -ge 1000000000 ]
    grep -q "^moat:" /etc/subuid
  else
    assert_equal "$host_uid" "$(id -u)"
  fi
  [ "$host_uid" -ne 0 ]
  run rt exec "$CID" id -u
  assert_output 0
}

@test "mount, unshare, keyctl and namespace clones fail inside" {
  run_ctr sh -c 'probe mount; probe unshare-user; probe unshare-mount; probe keyctl; probe clone-newns; probe chroot; probe mknod /dev/shm/x'
  refute_line ok
  assert_line --index 0 "errno EPERM"
  assert_line --index 1 "errno EPERM"
  assert_line --index 3 "errno EPERM"
}

@test "host processes are invisible and can't be traced" {
  sleep 100 &
  host=$!
  run_ctr sh -c "ps -o pid= | wc -l; probe kill $host; ls /proc | grep -c '^[0-9]'"
  kill "$host"
  assert_success
  # only the shell, ps and wc are there
  [ "${lines[0]}" -le 4 ]
  assert_line --index 1 "errno ESRCH"
}

@test "without a pid namespace, host processes still can't be traced or signalled" {
  cfg 'del(.linux.namespaces[] | select(.type == "pid"))'
  run_ctr sh -c 'probe ptrace 1; probe kill 1'
  assert_line --index 0 "errno EPERM"
  assert_line --index 1 "errno EPERM"
}

@test "/proc/kcore and friends are masked; /proc/sysrq-trigger and /proc/sys are read-only" {
  # this kernel may lack /proc/kcore (CONFIG_PROC_KCORE): /proc/keys is masked the same way
  m=/proc/kcore; [ -e $m ] || m=/proc/keys
  run_ctr sh -c '
    wc -c < '$m'
    [ ! -e /proc/kcore ] || [ "$(wc -c < /proc/kcore)" = 0 ] || echo kcore-readable
    find /proc/acpi /sys/firmware -mindepth 1 | wc -l
    echo x > '$m' 2>/dev/null; [ "$(wc -c < '$m')" = 0 ] || echo mask-keeps-writes
    rm -f '$m' 2>/dev/null && echo removed
    umount '$m' 2>/dev/null && echo unmounted
    echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo sys-writable
    if [ -e /proc/sysrq-trigger ]; then echo h > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; fi
    echo done'
  assert_line --index 0 0
  assert_line --index 1 0
  refute_output --partial writable
  refute_output --partial readable
  refute_output --partial mask-keeps
  refute_output --partial removed
  refute_output --partial unmounted
  assert_line done
}

@test "masked files are the null device, not an image's /dev/null" {
  run_ctr sh -c 'stat -c "%t:%T" /proc/keys'
  assert_output "1:3"
}

@test "no host file descriptor reaches the container (CVE-2024-21626 class)" {
  set_args probe fds
  # extra fds the caller had open (a directory, a file, a socket) must not leak
  run bash -c 'exec 5</etc 6</etc/hostname 7<>/dev/null; '"$RUNTIME"' --root '"$STATE"' run --bundle '"$BUNDLE"' '"$CID"
  assert_success
  assert_line "0 extra fds"
}

@test "--preserve-fds passes exactly the fds asked for" {
  set_args probe fds
  run bash -c 'exec 3</etc/hostname 4</etc/hostname; '"$RUNTIME"' --root '"$STATE"' run --preserve-fds 1 --bundle '"$BUNDLE"' '"$CID"
  assert_success
  assert_line "1 extra fds"
  assert_line --partial "fd 3 /etc/hostname"
}

@test "the working directory can't be a leaked descriptor" {
  cfg '.process.cwd = "/proc/self/fd/5"'
  set_args pwd
  run bash -c 'exec 5</etc; '"$RUNTIME"' --root '"$STATE"' run --bundle '"$BUNDLE"' '"$CID"
  assert_failure
  refute_output --regexp '^/etc'
}

@test "the rootfs is read-only and bind mounts get nosuid,nodev" {
  d=$BATS_TEST_TMPDIR/vol
  mkdir -p "$d"
  chmod 777 "$d"
  cfg --arg d "$d" '.mounts += [{"destination": "/home", "type": "bind", "source": $d, "options": ["rbind", "nosuid", "nodev"]}]'
  run_ctr sh -c 'touch /newfile 2>/dev/null && echo root-writable; grep " /home " /proc/self/mountinfo'
  refute_output --partial root-writable
  assert_output --partial "nosuid"
  assert_output --partial "nodev"
}

@test "setuid binaries gain nothing under no_new_privs" {
  # container root makes a setuid-root copy of the probe, then drops to uid 1000
  # (not busybox: it drops setuid privileges itself for most applets)
  caps='["CAP_SETUID","CAP_SETGID","CAP_CHOWN","CAP_FOWNER","CAP_FSETID"]'
  cfg --argjson c "$caps" '.process.capabilities = {"bounding": $c, "effective": $c, "permitted": $c}
       | .mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}]'
  set_args sh -c 'cp /usr/local/bin/probe /tmp/p && chmod 4755 /tmp/p && probe as-user 1000 /tmp/p euid'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_success
  assert_output 1000
  cfg '.process.noNewPrivileges = false'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_success
  assert_output 0
}

# The LSMs moat applies labels through, as the kernel reports them active.
lsm_active() {
  [ "$(cat /sys/module/apparmor/parameters/enabled 2>/dev/null)" = Y ] && return 0
  [ -e /sys/fs/selinux/enforce ] && return 0
  return 1
}

@test "an AppArmor profile or SELinux label without that LSM: a clear error, or run without it when optional" {
  lsm_active && skip "AppArmor or SELinux is active on this host: the label would be applied"
  cfg '.process.apparmorProfile = "moat-default"'
  run_ctr true
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "AppArmor profile 'moat-default' requested, but AppArmor is not enabled on this host (set run.moat.lsm.optional=true to run without it)"
  [ ! -d "$STATE/$CID" ]
  cfg 'del(.process.apparmorProfile) | .process.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2"'
  run_ctr true
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "SELinux label 'system_u:system_r:container_t:s0:c1,c2' requested, but SELinux is not enabled on this host"
  cfg '.linux.mountLabel = "system_u:object_r:container_file_t:s0:c1,c2" | del(.process.selinuxLabel)'
  run_ctr true
  assert_failure
  assert_output --partial "SELinux mount label 'system_u:object_r:container_file_t:s0:c1,c2' requested, but SELinux is not enabled"
  # optional: the container runs, each dropped label named in a warning
  cfg '.process.apparmorProfile = "moat-default" | .process.selinuxLabel = "system_u:system_r:container_t:s0:c1,c2"
       | .annotations["run.moat.lsm.optional"] = "true"'
  run_ctr echo ran
  assert_success
  assert_line "moat-runtime: warning: AppArmor profile 'moat-default' requested, but AppArmor is not enabled on this host; running without it (run.moat.lsm.optional=true)"
  assert_line --partial "warning: SELinux label 'system_u:system_r:container_t:s0:c1,c2' requested, but SELinux is not enabled on this host; running without it"
  assert_line --partial "warning: SELinux mount label"
  assert_line ran
  # a malformed label is refused even when optional
  cfg '.process.selinuxLabel = "not-a-context"'
  run_ctr true
  assert_failure
  assert_output --partial "is not an SELinux context of the form user:role:type[:level]"
}
