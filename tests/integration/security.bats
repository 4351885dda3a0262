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

# ---- CVE-2019-5736: a container can't overwrite the runtime's binary --------
# What defends it (src/runtime/sealed.c, main.c): every command that enters a
# container (create, run, exec) first re-executes itself from a sealed memfd
# copy of its binary (F_SEAL_WRITE|F_SEAL_GROW|F_SEAL_SHRINK|F_SEAL_SEAL).  So
# /proc/PID/exe of any runtime process a container can see, and whatever a
# `#!/proc/self/exe` script makes the kernel run inside the container, is that
# copy, never the file on the host: busy (ETXTBSY) while anything runs it,
# unwritable (EPERM, the seals) once it is free.  Until it execs the
# container's command the runtime process is also non-dumpable (container.c,
# exec.c): the container can't even open its /proc/PID/exe.  A user namespace
# adds a third layer (the host binary's owner is not mapped), so the attack is
# also run without one, container root being host root with every capability:
# there only the sealed copy stands between it and the binary.
# The runtime under test is a copy ($RTC), so a failure can't corrupt the build.

# cve_setup: $RTC and its sha256 $RTSUM; a rootfs that can run it (its dynamic
# loader and libraries: in the CVE the image has a libc); a /tmp that can
# hold an executable script and a fifo.
cve_setup() {
  RTC=$BATS_TEST_TMPDIR/rt/moat-runtime
  mkdir -p "${RTC%/*}"
  cp "$RUNTIME" "$RTC"
  chmod 755 "$RTC" "${RTC%/*}"
  RTSUM=$(sha256sum < "$RTC")
  ROOT=$BATS_TEST_TMPDIR/rootfs
  cp -a "$MOAT_ROOTFS" "$ROOT"
  local l
  for l in $(ldd "$RTC" | grep -o '/[^ ]*'); do cp -L --parents "$l" "$ROOT/"; done
  chmod -R a+rX "$ROOT"
  rm -f "$BUNDLE/rootfs"
  ln -s "$ROOT" "$BUNDLE/rootfs"
  cfg '.mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}]'
}

rtc() { "$RTC" --root "$STATE" "$@"; }

# cve_attack: run the attack and check that nothing was written.
cve_attack() {
  local out=$BATS_TEST_TMPDIR/ctr.out
  # 1. exe-attack: wait for a runtime process inside, hold its exe, let it
  #    go, write through the handle once it has exited (the published exploit);
  # 2. exe-scan: for 4 s, open /proc/PID/exe for writing of everything in
  #    sight while processes enter through `moat-runtime exec`.
  set_args sh -c 'mkfifo /tmp/fifo; printf "#!/proc/self/exe --log=/tmp/fifo\n" > /tmp/evil; chmod 755 /tmp/evil
                  echo ready; probe exe-attack /tmp/fifo 20; echo "attack-rc $?"
                  probe exe-scan 4; echo "scan-rc $?"; sleep 100'
  rtc run --detach --bundle "$BUNDLE" "$CID" < /dev/null > "$out" 2>&1
  wait_for grep -q '^ready' "$out"
  # The kernel runs /proc/self/exe of the process entering the container (the
  # runtime) for /tmp/evil: the runtime runs inside the container, held on the
  # fifo (its --log) until the attacker lets it go.
  run timeout 30 "$RTC" --root "$STATE" exec "$CID" /tmp/evil
  assert_output --partial "unknown command '/tmp/evil'"
  wait_for grep -q '^attack-rc' "$out"
  for _ in $(seq 30); do rtc exec "$CID" true; done
  for _ in $(seq 100); do grep -q '^scan-rc' "$out" && break; sleep 0.1; done
  run cat "$out"
  # the process the attacker reached was the runtime, and its exe the sealed copy
  assert_line --regexp '^target pid [0-9]+ exe /memfd:moat-runtime \(deleted\)$'
  assert_line "running open errno ETXTBSY"
  refute_line --partial "write ok"
  assert_line "exe-attack reached 1 written 0"
  assert_line "attack-rc 0"
  assert_line --regexp '^exe-scan tries [1-9][0-9]* seen-runtime [0-9]+ opened [0-9]+ written 0$'
  assert_line "scan-rc 0"
  # the binary on the host is unchanged
  assert_equal "$(sha256sum < "$RTC")" "$RTSUM"
}

@test "CVE-2019-5736: #!/proc/self/exe and /proc/PID/exe of processes entering the container can't overwrite the runtime" {
  cve_setup
  cve_attack
  # once free, the copy refuses writes: sealed (EPERM), whatever let it open
  assert_line --regexp '^exited-via-o_path (open errno [A-Z]+|write errno EPERM)$'
}

@test "CVE-2019-5736 without a user namespace: container root with every capability still can't overwrite the runtime" {
  requires_root
  cve_setup
  cfg 'del(.linux.namespaces[] | select(.type == "user")) | del(.linux.uidMappings, .linux.gidMappings, .linux.seccomp)
       | .process.capabilities = ({} | .bounding = ["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_CHOWN", "CAP_LINUX_IMMUTABLE"]
         | .effective = .bounding | .permitted = .bounding)'
  cve_attack
  # host root gets the copy open once it is free: only the seals refuse the write
  assert_line "exited-via-o_path open ok"
  assert_line "exited-via-o_path write errno EPERM"
  # and while it ran, the host binary was never what /proc/PID/exe led to
  refute_output --partial "exe $RTC"
}
