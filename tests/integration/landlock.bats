#!/usr/bin/env bats
# Landlock (annotation run.moat.landlock, docs/landlock.md) on real containers:
# nothing changes inside; what lies outside the container's root (reached
# through a leaked fd or /proc/<pid>/root of a host process), abstract unix
# sockets and processes outside its domain become unreachable.  Each scenario
# runs once without Landlock (it works) and once with it (it is refused).

load ../lib/helpers

setup() {
  new_bundle
  [ "$("$MOAT_BUILD/tests/helpers/probe" landlock-abi)" -ge 1 ] 2>/dev/null || skip "this kernel has no Landlock"
  HOST_DIR=$(mktemp -d /tmp/moat-ll-XXXXXX)
  echo host-secret > "$HOST_DIR/secret"
  chmod 755 "$HOST_DIR"; chmod 644 "$HOST_DIR/secret"
}

teardown() {
  [ -n "${LISTENER:-}" ] && kill "$LISTENER" 2>/dev/null
  [ -n "${HOST_PROC:-}" ] && kill "$HOST_PROC" 2>/dev/null
  delete_all
  [ -n "${HOST_DIR:-}" ] && rm -rf "$HOST_DIR"
  true
}

landlock() { cfg '.annotations["run.moat.landlock"] = "true"'; }
requires_host_pidns() {
  is_root || skip "rootless: a container in the host pid namespace cannot mount its /proc (its user namespace does not own that pid namespace)"
}
requires_scoping() {
  [ "$("$MOAT_BUILD/tests/helpers/probe" landlock-abi)" -ge 6 ] || skip "Landlock ABI < 6: no IPC scoping"
}

@test "with Landlock, ordinary work inside the container is unchanged" {
  landlock
  cfg '.mounts += [{"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "mode=1777"]}]'
  set_args sh -c 'set -e
    echo data > /tmp/f; cat /tmp/f
    mkdir /tmp/d; mv /tmp/f /tmp/d/g; ln /tmp/d/g /tmp/h; ln -s /tmp/h /tmp/s; cat /tmp/s
    truncate -s 0 /tmp/h; rm -r /tmp/d /tmp/h /tmp/s
    echo shm > /dev/shm/x; cat /dev/shm/x
    echo gone > /dev/null; head -c 3 /dev/zero | wc -c
    grep -c ^Name: /proc/self/status
    ls /etc/hostname; busybox true; /usr/local/bin/probe open /etc/passwd
    sh -c "exit 0" && echo done'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_success
  assert_output "data
data
shm
3
1
/etc/hostname
ok
done"
}

@test "a leaked host directory fd: readable without Landlock, EACCES with it" {
  # the CVE-2024-21626 shape: a host directory open as fd 3 in the container
  set_args sh -c 'probe openat 3 secret; cat /proc/self/fd/3/secret; probe openat 3 ..'
  run rt run --preserve-fds 1 --bundle "$BUNDLE" "$CID" 3< "$HOST_DIR"
  assert_output "ok
host-secret
ok"
  landlock
  run rt run --preserve-fds 1 --bundle "$BUNDLE" "$CID" 3< "$HOST_DIR"
  assert_failure
  assert_line --index 0 "errno EACCES"
  assert_line --partial "Permission denied"
  assert_line --index 2 "errno EACCES"
  refute_output --partial host-secret
}

@test "/proc/<pid>/root of a host process (host pid namespace): readable without Landlock, EACCES with it" {
  requires_host_pidns
  # A container in the host's pid namespace, as host root without a user
  # namespace, with CAP_SYS_PTRACE: it may follow /proc/<pid>/root of a host
  # process out of its root, unless Landlock confines it.
  sleep 100 &
  HOST_PROC=$!
  cfg 'del(.linux.uidMappings, .linux.gidMappings)
       | .linux.namespaces |= map(select(.type != "user" and .type != "pid"))
       | .process.capabilities = {bounding: ["CAP_SYS_PTRACE"], effective: ["CAP_SYS_PTRACE"], permitted: ["CAP_SYS_PTRACE"]}'
  set_args sh -c 'probe open /proc/$0/root$1; cat /proc/$0/root$1' "$HOST_PROC" "$HOST_DIR/secret"
  run rt run --bundle "$BUNDLE" "$CID"
  assert_output "ok
host-secret"
  landlock
  run rt run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_line --index 0 "errno EACCES"
  refute_output --partial host-secret
}

@test "signals to a host process (host pid namespace): allowed without Landlock, EPERM with it" {
  requires_host_pidns
  requires_scoping
  sleep 100 &
  HOST_PROC=$!
  cfg 'del(.linux.uidMappings, .linux.gidMappings)
       | .linux.namespaces |= map(select(.type != "user" and .type != "pid"))'
  run_ctr probe kill "$HOST_PROC" 0
  assert_output ok
  landlock
  run_ctr probe kill "$HOST_PROC" 15
  assert_output "errno EPERM"
  kill -0 "$HOST_PROC"
}

@test "an abstract unix socket on the host (host network namespace): reachable without Landlock, not with it" {
  requires_scoping
  name=moat-it-$$-$BATS_TEST_NUMBER
  "$MOAT_BUILD/tests/helpers/probe" abstract-listen "$name" > "$BATS_TEST_TMPDIR/listener" &
  LISTENER=$!
  wait_for grep -q ok "$BATS_TEST_TMPDIR/listener"
  cfg '.linux.namespaces |= map(select(.type != "network"))'
  run_ctr probe abstract-connect "$name"
  assert_success
  assert_output ok
  landlock
  run_ctr probe abstract-connect "$name"
  assert_failure
  assert_output "errno EPERM"
  # a socket made inside the container's own domain still works
  run_ctr sh -c 'probe abstract-listen inner-$0 > /dev/null & sleep 0.2; probe abstract-connect inner-$0; kill $!' "$name"
  assert_output ok
}

@test "exec'd processes are restricted too" {
  landlock
  set_args sleep 100
  detached
  run rt exec --preserve-fds 1 "$CID" probe openat 3 secret 3< "$HOST_DIR"
  assert_failure
  assert_output "errno EACCES"
  # normal work in the exec'd process
  run rt exec "$CID" sh -c 'echo x > /dev/shm/y && cat /dev/shm/y /etc/hostname'
  assert_success
  assert_output "x
moat"
}

@test "exec'd processes get their own domain: no signals to the container's init" {
  requires_scoping
  set_args sleep 100
  detached
  run rt exec "$CID" probe kill 1 0
  assert_output ok
  rt delete --force "$CID"
  landlock
  detached
  run rt exec "$CID" probe kill 1 0
  assert_failure
  assert_output "errno EPERM"
}

@test "an invalid annotation value fails create, listing the accepted values" {
  cfg '.annotations["run.moat.landlock"] = "yes"'
  set_args true
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output "moat-runtime: create container '$CID': annotation run.moat.landlock: invalid value 'yes' (accepted: true, rootfs, false)"
  [ ! -d "$STATE/$CID" ]
  cfg '.annotations["run.moat.landlock"] = "rootfs"'
  run_ctr true
  assert_success
  cfg '.annotations["run.moat.landlock"] = "false"'
  run rt run --preserve-fds 1 --bundle "$BUNDLE" "$CID" 3< "$HOST_DIR"
  assert_success
}
