#!/usr/bin/env bats
# Seccomp on real containers: the default template (profiles/seccomp/default.json
# converted for an empty capability set), custom OCI sections, the restricted
# profile, exec, and no_new_privs off.  Each probe prints "ok" or "errno NAME".

load ../lib/helpers

CONVERT=$MOAT_BUILD/tests/helpers/seccomp-convert

# probes CMD...: run each "probe CMD" in one container, one "CMD: result" line each.
probes() {
  set_args sh -c 'for t; do echo "$t: $(probe $t)"; done' sh "$@"
  run rt run --bundle "$BUNDLE" "$CID"
}

# use_profile NAME|FILE [CAP...]: the bundle's linux.seccomp from a Docker-format
# profile converted by moat_seccomp_profile_to_oci() for that capability set.
use_profile() {
  local p=$1 sc
  shift
  [ -f "$p" ] || p=builtin:$p
  sc=$("$CONVERT" "$p" "$@")
  cfg --argjson s "$sc" '.linux.seccomp = $s'
}

# add_caps CAP...: give the container process these capabilities (in its user namespace).
add_caps() {
  local c
  c=$(printf '%s\n' "$@" | jq -R . | jq -sc .)
  cfg --argjson c "$c" '.process.capabilities = {bounding: $c, effective: $c, permitted: $c}'
}

@test "the template's filter is active: Seccomp 2 inside" {
  run jq -r '.linux.seccomp.defaultAction' "$BUNDLE/config.json"
  assert_output SCMP_ACT_ERRNO
  run_ctr grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status
  assert_success
  assert_line --partial "Seccomp:	2"
  assert_line --partial "NoNewPrivs:	1"
}

@test "default profile: escape primitives answer EPERM" {
  probes keyctl mount unshare-user unshare-mount clone-newns io_uring_setup "personality 0x40000" chroot
  assert_success
  assert_output "keyctl: errno EPERM
mount: errno EPERM
unshare-user: errno EPERM
unshare-mount: errno EPERM
clone-newns: errno EPERM
io_uring_setup: errno EPERM
personality 0x40000: errno EPERM
chroot: errno EPERM"
}

@test "without a seccomp section the same calls reach the kernel" {
  # The control for the tests above: in its own user namespace the container
  # may join a keyring, make a user namespace and set up io_uring; AF_ALG is simply
  # not built on this kernel (EAFNOSUPPORT, not EPERM).
  cfg 'del(.linux.seccomp)'
  probes keyctl unshare-user io_uring_setup "socket 38 5" "syscall 500"
  assert_success
  assert_line "keyctl: ok"
  assert_line "unshare-user: ok"
  assert_line "io_uring_setup: ok"
  refute_line "socket 38 5: errno EPERM"
  assert_line "syscall 500: errno ENOSYS"
  run_ctr grep '^Seccomp:' /proc/self/status
  assert_output --partial "Seccomp:	0"
}

@test "default profile: clone3 and syscalls newer than the profile answer ENOSYS" {
  # 500 is above every syscall the profile names: without the ENOSYS stub the
  # default action would answer EPERM and libc would not fall back.
  probes clone3 "syscall 500" "syscall 1000" "syscall 250"
  assert_success
  assert_output "clone3: errno ENOSYS
syscall 500: errno ENOSYS
syscall 1000: errno ENOSYS
syscall 250: errno EPERM"
}

@test "default profile: AF_ALG and AF_VSOCK refused, ordinary sockets work" {
  # 0x100000026 is AF_ALG with junk in the upper half (the kernel reads an int):
  # moat's socket rules compare all 64 bits (profiles/README.md).
  probes "socket 38 5" "socket 40 1" "socket 0x100000026 5" "socket 2 1" "socket 2 2" "socket 10 1" "socket 1 1" "socket 1 2"
  assert_success
  assert_output "socket 38 5: errno EPERM
socket 40 1: errno EPERM
socket 0x100000026 5: errno EPERM
socket 2 1: ok
socket 2 2: ok
socket 10 1: ok
socket 1 1: ok
socket 1 2: ok"
}

@test "default profile: ptrace only where the kernel allows it without CAP_SYS_PTRACE" {
  # As in Docker, default.json allows ptrace on kernels >= 4.8; with no
  # capabilities the kernel itself refuses a process of another uid.
  set_args sleep 100
  detached
  run rt exec "$CID" sh -c 'sleep 100 & sleep 0.1; probe ptrace $!; kill $!'
  assert_output ok
  run rt exec --user 1000:1000 "$CID" probe ptrace 1
  assert_failure
  assert_output "errno EPERM"
}

@test "custom section: errnoRet, as runc tests it (getcwd -> errno 100)" {
  cfg '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}]}'
  run_ctr sh -c 'probe getcwd; /bin/pwd'
  assert_failure
  assert_line "errno ENETDOWN"
  assert_line --partial "getcwd: Network is down"
}

@test "custom section: defaultErrnoRet applies to everything not listed" {
  cfg '.linux.seccomp.defaultErrnoRet = 100'
  probes keyctl mount getcwd
  assert_success
  assert_output "keyctl: errno ENETDOWN
mount: errno ENETDOWN
getcwd: ok"
}

@test "custom section: SCMP_ACT_KILL_PROCESS kills the container with SIGSYS" {
  # (not getcwd: busybox sh calls it at start-up)
  cfg '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["keyctl"], "action": "SCMP_ACT_KILL_PROCESS"}]}'
  run_ctr sh -c 'echo before; probe keyctl; echo after $?'
  assert_success
  assert_line --index 0 before
  assert_line "after 159"
  refute_line ok
  run_ctr probe keyctl
  assert_equal "$status" $((128 + 31))
  refute_output --partial ok
}

@test "custom section: argument conditions (EQ, MASKED_EQ, GE; all must hold)" {
  cfg '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
         {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13,
          "args": [{"index": 0, "value": 2, "op": "SCMP_CMP_EQ"},
                   {"index": 1, "value": 2, "valueTwo": 15, "op": "SCMP_CMP_MASKED_EQ"}]},
         {"names": ["socket"], "action": "SCMP_ACT_ERRNO", "errnoRet": 97,
          "args": [{"index": 0, "value": 10, "op": "SCMP_CMP_GE"}]}]}'
  # SOCK_CLOEXEC is set in the type: MASKED_EQ with 15 looks at the type alone
  probes "socket 2 2" "socket 2 1" "socket 10 1" "socket 16 3" "socket 1 1"
  assert_success
  assert_output "socket 2 2: errno EACCES
socket 2 1: ok
socket 10 1: errno EAFNOSUPPORT
socket 16 3: errno EAFNOSUPPORT
socket 1 1: ok"
}

@test "an invalid seccomp section fails create with one line naming the JSON path" {
  set_args true
  cfg '.linux.seccomp.syscalls[1].action = "SCMP_ACT_BOGUS"'
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output "moat-runtime: create container '$CID': seccomp: /linux/seccomp/syscalls/1/action: unknown action 'SCMP_ACT_BOGUS'"
  [ ! -d "$STATE/$CID" ]
  cfg '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW",
         "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_ALMOST"}]}]}'
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "/linux/seccomp/syscalls/0/args/0/op: unknown operator 'SCMP_CMP_ALMOST'"
  cfg '.linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_PDP11"]}'
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial "/linux/seccomp/architectures/0: unknown architecture 'SCMP_ARCH_PDP11'"
  [ ! -d "$STATE/$CID" ]
}

@test "restricted profile: refuses what profiles/README.md lists" {
  use_profile restricted
  probes "ptrace 1" process-vm-readv "name-to-handle /" modify-ldt clone3 unshare-user keyctl \
         "socket 17 3" "socket 16 3 9" "socket 16 3 0" "socket 1 1" "socket 2 1" "socket 10 2"
  assert_success
  assert_output "ptrace 1: errno EPERM
process-vm-readv: errno EPERM
name-to-handle /: errno EPERM
modify-ldt: errno EPERM
clone3: errno ENOSYS
unshare-user: errno EPERM
keyctl: errno EPERM
socket 17 3: errno EPERM
socket 16 3 9: errno EPERM
socket 16 3 0: ok
socket 1 1: ok
socket 2 1: ok
socket 10 2: ok"
}

@test "restricted profile: a same-uid ptrace the default profile allows is refused" {
  set_args sh -c 'sleep 100 & sleep 0.1; probe ptrace $!; kill $!'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_output ok
  use_profile restricted
  run rt run --bundle "$BUNDLE" "$CID"
  assert_output "errno EPERM"
}

@test "restricted profile: the i386 ABI kills the process; default allows it" {
  # a kernel without IA32 emulation answers int 0x80 with SIGSEGV, on the host too
  "$MOAT_BUILD/tests/helpers/probe" int80 >/dev/null 2>&1 || skip "the kernel has no IA32 emulation"
  run_ctr probe int80
  assert_success
  assert_output ok
  use_profile restricted
  run_ctr probe int80
  assert_equal "$status" $((128 + 31))
}

@test "restricted profile holds even if CAP_SYS_ADMIN is given; default does not" {
  add_caps CAP_SYS_ADMIN
  use_profile default CAP_SYS_ADMIN
  probes mount unshare-user
  assert_output "mount: ok
unshare-user: ok"
  use_profile restricted CAP_SYS_ADMIN
  probes mount unshare-user
  assert_output "mount: errno EPERM
unshare-user: errno EPERM"
}

@test "exec'd processes get the container's filter" {
  # (an unconditional rule for a syscall already allowed would be ignored by
  # libseccomp: take getcwd out of the allow list first)
  cfg '.linux.seccomp.syscalls |= map(.names -= ["getcwd"])
       | .linux.seccomp.syscalls += [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}]'
  set_args sleep 100
  detached
  run rt exec "$CID" grep '^Seccomp:' /proc/self/status
  assert_output --partial "Seccomp:	2"
  run rt exec "$CID" sh -c 'probe keyctl; probe getcwd; probe socket 38 5'
  assert_output "errno EPERM
errno ENETDOWN
errno EPERM"
  echo '{"args":["sh","-c","grep -E \"^(Seccomp|NoNewPrivs):\" /proc/self/status; probe keyctl"],"cwd":"/",
         "env":["PATH=/bin:/usr/local/bin"],"user":{"uid":0,"gid":0},"noNewPrivileges":false}' > "$BATS_TEST_TMPDIR/p.json"
  run rt exec --process "$BATS_TEST_TMPDIR/p.json" "$CID"
  assert_line --partial "Seccomp:	2"
  assert_line --partial "NoNewPrivs:	0"
  assert_line "errno EPERM"
}

@test "noNewPrivileges=false still gets the filter (loaded while CAP_SYS_ADMIN is held)" {
  cfg '.process.noNewPrivileges = false'
  set_args sh -c 'grep -E "^(Seccomp|NoNewPrivs|CapEff):" /proc/self/status; probe keyctl; probe mount; probe clone3'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_output "CapEff:	0000000000000000
NoNewPrivs:	0
Seccomp:	2
errno EPERM
errno EPERM
errno ENOSYS"
}

@test "noNewPrivileges=false: a profile refusing what set-up uses (openat2, getcwd) still starts" {
  # The early filter binds the container, not the runtime's cwd checks.
  cfg '.process.noNewPrivileges = false | .process.cwd = "/tmp"
       | .linux.seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
           {"names": ["getcwd", "openat2", "mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 100}]}'
  set_args sh -c 'probe getcwd; mkdir /dev/shm/foo'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_line "errno ENETDOWN"
  assert_line --partial "can't create directory '/dev/shm/foo': Network is down"
}
