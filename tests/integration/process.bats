#!/usr/bin/env bats
# The process section (args, env, cwd, user, umask, rlimits, oomScoreAdj,
# capabilities, no_new_privs), sysctls and mount options, from inside and outside.

load ../lib/helpers

has_cap_sys_resource() { [ $(( 0x$(awk '/^CapEff/ {print $2}' /proc/self/status) >> 24 & 1 )) -eq 1 ]; }

@test "args, env and a working directory that is created when missing" {
  cfg '.process.env = ["PATH=/bin:/usr/bin", "GREETING=hello world", "EMPTY="] | .process.cwd = "/tmp/made/here"
       | .mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["mode=1777"]}]'
  run_ctr sh -c 'echo "$GREETING|$EMPTY|$0|$1"; pwd; env | wc -l' arg0 arg1
  assert_success
  assert_line --index 0 "hello world||arg0|arg1"
  assert_line --index 1 /tmp/made/here
}

@test "user, group and supplementary groups" {
  cfg '.process.user = {"uid": 1000, "gid": 1001, "additionalGids": [5, 1002]}'
  run_ctr sh -c 'id -u; id -g; id -G'
  assert_success
  assert_line --index 0 1000
  assert_line --index 1 1001
  if is_root; then
    assert_line --index 2 "1001 5 1002"
  else
    # a rootless user namespace may still allow setgroups: moat maps the
    # user's subordinate group range with newgidmap, which leaves it on
    assert_line --index 2 --regexp '1001'
  fi
}

@test "an unmapped uid is a clear error" {
  cfg '.process.user = {"uid": 70000, "gid": 0}'
  run_ctr true
  assert_failure
  assert_output --partial "setuid 70000 (is it mapped in the user namespace?)"
}

@test "umask" {
  cfg '.process.user.umask = 23'
  run_ctr sh -c umask
  assert_output 0027
  cfg 'del(.process.user.umask)'
  run_ctr sh -c umask
  assert_output 0022
}

@test "rlimits are applied, and one that can't be raised is a clear error" {
  cfg '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}, {"type": "RLIMIT_CORE", "soft": 0, "hard": 0}]'
  run_ctr sh -c 'ulimit -n; ulimit -Hn; ulimit -c'
  assert_output "100
200
0"
  hard=$(ulimit -Hn)
  over=$((hard + 1000))
  if has_cap_sys_resource; then skip "this host can raise RLIMIT_NOFILE (CAP_SYS_RESOURCE)"; fi
  cfg --argjson o "$over" '.process.rlimits = [{"type": "RLIMIT_NOFILE", "soft": $o, "hard": $o}]'
  run_ctr true
  assert_failure
  assert_output --partial "setrlimit RLIMIT_NOFILE soft=$over hard=$over: the hard limit can't be raised above $hard"
  cfg '.annotations["run.moat.rlimit.clamp"] = "true"'
  run_ctr probe rlimit
  assert_success
  assert_output --partial "RLIMIT_NOFILE clamped to soft=$hard hard=$hard"
  assert_output --partial "$hard $hard"
}

@test "oomScoreAdj: raising works, lowering without CAP_SYS_RESOURCE is refused clearly" {
  cfg '.process.oomScoreAdj = 500'
  run_ctr cat /proc/self/oom_score_adj
  assert_output 500
  if has_cap_sys_resource; then skip "this host may lower the OOM score (CAP_SYS_RESOURCE)"; fi
  cfg '.process.oomScoreAdj = -500'
  run_ctr true
  assert_failure
  assert_output --partial "oomScoreAdj -500: lowering the OOM score needs CAP_SYS_RESOURCE"
}

@test "capabilities: all five sets, inside the user namespace" {
  cfg '.process.capabilities = {"bounding": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "effective": ["CAP_NET_BIND_SERVICE"],
        "permitted": ["CAP_NET_BIND_SERVICE", "CAP_KILL"], "inheritable": ["CAP_NET_BIND_SERVICE"], "ambient": []}
       | .process.user = {"uid": 0, "gid": 0}'
  run_ctr sh -c 'grep -E "^Cap(Inh|Prm|Eff|Bnd|Amb)" /proc/self/status'
  # root after exec: effective = permitted = bounding (the kernel's rule for uid 0)
  assert_line "CapBnd:	0000000000000420"
  assert_line "CapPrm:	0000000000000420"
  assert_line "CapInh:	0000000000000400"
  # a non-root user keeps exactly the ambient set across exec
  cfg '.process.capabilities.ambient = ["CAP_NET_BIND_SERVICE"] | .process.user = {"uid": 1000, "gid": 1000}'
  run_ctr sh -c 'grep -E "^Cap(Eff|Amb)" /proc/self/status'
  assert_line "CapAmb:	0000000000000400"
  assert_line "CapEff:	0000000000000400"
}

@test "capabilities outside the container's user namespace are none" {
  cfg '.process.capabilities = {"bounding": ["CAP_SYS_ADMIN"], "effective": ["CAP_SYS_ADMIN"], "permitted": ["CAP_SYS_ADMIN"]}
       | del(.linux.seccomp)'
  # CAP_SYS_ADMIN in its own user namespace does not let it mount a host block device or set the host clock
  run_ctr sh -c 'mount -t ext4 /dev/vda /mnt 2>&1 || echo refused; date -s 2000-01-01 2>&1 | grep -q "not permitted" && echo clock-refused'
  assert_line refused
  assert_line clock-refused
}

@test "noNewPrivileges can be turned off explicitly" {
  cfg '.process.noNewPrivileges = false'
  run_ctr probe nnp
  assert_output 0
  cfg '.process.noNewPrivileges = true'
  run_ctr probe nnp
  assert_output 1
}

@test "namespaced sysctls are set; host-wide ones are refused" {
  cfg '.linux.sysctl = {"net.ipv4.ip_forward": "1", "kernel.shmmni": "1234", "net.ipv4.ping_group_range": "0 0"}'
  run_ctr sh -c 'cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmni'
  assert_success
  assert_output "1
1234"
  cfg '.linux.sysctl = {"kernel.panic": "1"}'
  run_ctr true
  assert_failure
  assert_output --partial "sysctl 'kernel.panic' is not namespaced"
  cfg '.linux.sysctl = {"net.ipv4.ip_forward": "1"} | del(.linux.namespaces[] | select(.type == "network"))'
  run_ctr true
  assert_failure
  assert_output --partial "needs the container's own network namespace"
}

@test "mount options: tmpfs size and mode; ro, noexec, nosuid, nodev bind mounts" {
  d=$BATS_TEST_TMPDIR/vol
  mkdir -p "$d"
  cp /bin/busybox "$d/bb"
  chmod 755 "$d" "$d/bb"
  cfg --arg d "$d" '.mounts += [
      {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=1700", "nodev"]},
      {"destination": "/home", "type": "bind", "source": $d, "options": ["rbind", "ro", "noexec", "nosuid", "nodev"]}]'
  run_ctr sh -c 'stat -c %a /tmp; grep " /tmp " /proc/self/mountinfo | grep -o "size=[0-9a-z]*";
                 touch /home/x 2>&1; /home/bb true 2>&1 || echo noexec-ok;
                 grep " /home " /proc/self/mountinfo | cut -d" " -f6'
  assert_line --index 0 1700
  assert_line --index 1 size=1024k
  assert_line --index 2 --partial "Read-only file system"
  assert_line noexec-ok
  assert_line --regexp '^ro,nosuid,nodev,noexec'
}

@test "tmpcopyup fills a tmpfs with the image's content" {
  cfg '.mounts += [{"destination": "/etc", "type": "tmpfs", "source": "tmpfs", "options": ["tmpcopyup", "mode=755"]}]'
  run_ctr sh -c 'cat /etc/hostname; echo new > /etc/extra && cat /etc/extra; grep -c " /etc " /proc/self/mountinfo'
  assert_success
  assert_output "moat
new
1"
}

@test "an idmap bind mount shows host-root files as the container's root" {
  requires_root
  d=$BATS_TEST_TMPDIR/owned
  mkdir -p "$d"
  chmod 755 "$BATS_TEST_TMPDIR" "$d"
  touch "$d/f"
  cfg --arg d "$d" '.mounts += [{"destination": "/home", "type": "bind", "source": $d, "options": ["bind", "idmap"]},
                               {"destination": "/root", "type": "bind", "source": $d, "options": ["bind"]}]'
  run_ctr sh -c 'stat -c %u /home/f /root/f'
  assert_success
  assert_output "0
65534"
}

@test "devices from linux.devices are created" {
  cfg '.linux.devices = [{"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 438}]'
  [ -c /dev/fuse ] || skip "no /dev/fuse on this host"
  run_ctr sh -c 'stat -c "%F %t:%T" /dev/fuse'
  assert_success
  assert_output "character special file a:e5"
}

@test "stdio pipes from the host: /dev/stdout, /dev/stderr and /dev/stdin can be opened (run and exec)" {
  # the pipes belong to the host user that made them (host root in the root
  # lane); the runtime gives them to the container's user (runc's fixStdioPermissions)
  set_args sh -c 'read l < /dev/stdin; echo "out $l" > /dev/stdout; echo err > /dev/stderr'
  run sh -c "echo piped | $RUNTIME --root $STATE run --bundle $BUNDLE $CID 2>&1 | cat"
  assert_success
  assert_output "out piped
err"
  # a non-root container user too (a subordinate uid of its own): the host
  # side hands the pipe over as root, the container's root does rootless
  cfg '.process.user = {"uid": 1000, "gid": 1000}'
  run sh -c "echo piped | $RUNTIME --root $STATE run --bundle $BUNDLE $CID 2>&1 | cat"
  assert_success
  assert_output "out piped
err"
  cfg '.process.user = {"uid": 0, "gid": 0}'
  set_args sleep 100
  detached
  run sh -c "echo piped | $RUNTIME --root $STATE exec $CID sh -c 'read l < /dev/stdin; echo \"exec \$l\" > /dev/stdout; echo exec-err > /dev/stderr' 2>&1 | cat"
  assert_success
  assert_output "exec piped
exec-err"
  run sh -c "$RUNTIME --root $STATE exec --user 1000:1000 $CID sh -c 'echo exec-user > /dev/stdout' | cat"
  assert_success
  assert_output exec-user
}

@test "stdio that is a host file keeps its owner (only pipes are handed to the container)" {
  out=$BATS_TEST_TMPDIR/out.log
  : > "$out"
  chmod 644 "$out"
  set_args sh -c 'echo through-the-fd; { echo reopened >> /dev/stdout; } 2>/dev/null || echo reopen-refused'
  rt run --bundle "$BUNDLE" "$CID" < /dev/null > "$out" 2>&1
  run cat "$out"
  assert_line --index 0 through-the-fd
  if is_root; then
    # a host root file, mode 644: the container's root (a subordinate uid) may
    # write through the fd it was given but not open it again
    assert_line --index 1 reopen-refused
  else
    # rootless, the file is the user's and so is the container's root
    assert_line --index 1 reopened
  fi
  assert_equal "$(stat -c %u:%g "$out")" "$(id -u):$(id -g)"
}
