#!/usr/bin/env bats
# Namespaces: each one new by default, joined by path on request.

load ../lib/helpers

ns_of() { readlink "/proc/$1/ns/$2"; }

teardown() {
  delete_all
  # the shared host mount of the propagation test (and what was mounted under it)
  if [ -n "${PROP_ROOT:-}" ]; then umount -R "$PROP_ROOT" 2>/dev/null || true; fi
  true
}

@test "every namespace of the template is new" {
  set_args sleep 100
  detached
  pid=$(rt state "$CID" | jq -r .pid)
  for ns in user mnt pid net ipc uts cgroup; do
    [ "$(ns_of "$pid" $ns)" != "$(ns_of $$ $ns)" ] || { echo "$ns is shared"; return 1; }
  done
  # pid 1 inside is the container's process
  run rt exec "$CID" sh -c 'cat /proc/1/comm; readlink /proc/self/ns/net'
  assert_line --index 0 sleep
  assert_line --index 1 "$(ns_of "$pid" net)"
}

@test "a namespace left out of the config is shared with the host" {
  cfg 'del(.linux.namespaces[] | select(.type == "uts"))'
  cfg 'del(.hostname)'
  set_args sh -c 'readlink /proc/self/ns/uts; hostname'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_success
  assert_line --index 0 "$(readlink /proc/self/ns/uts)"
  assert_line --index 1 "$(hostname)"
}

@test "the uts namespace carries the hostname; the pid namespace starts at 1" {
  cfg '.hostname = "box-1" | .domainname = "example.test"'
  run_ctr sh -c 'hostname; cat /proc/sys/kernel/domainname; echo $$'
  assert_output "box-1
example.test
1"
  [ "$(hostname)" != box-1 ]
}

@test "user namespace maps and the setgroups policy" {
  run_ctr sh -c 'cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups'
  assert_success
  if is_root; then
    assert_line --index 0 --regexp '^ +0 +1000000000 +65536$'
    assert_line --index 2 allow
  else
    assert_line --index 0 --regexp "^ +0 +$(id -u) +1$"
    # the user's subordinate range follows (newuidmap)
    start=$(awk -F: -v u="$(id -un)" '$1 == u {print $2; exit}' /etc/subuid)
    assert_line --index 1 --regexp "^ +1 +$start +65535$"
  fi
}

@test "time namespace offsets" {
  cfg '.linux.namespaces += [{"type": "time"}] | .linux.timeOffsets = {"boottime": {"secs": 86400000}, "monotonic": {"secs": 0}}'
  run_ctr sh -c 'cut -d. -f1 /proc/uptime'
  assert_success
  [ "$output" -ge 86400000 ]
}

@test "join a network namespace by path" {
  requires_root
  ns=moat-t$$
  ip netns add "$ns"
  ip -n "$ns" link add moatveth0 type veth peer name moatveth1
  cfg --arg p "/run/netns/$ns" '(.linux.namespaces[] | select(.type == "network")) .path = $p'
  run_ctr sh -c 'ip link show moatveth0 >/dev/null && echo seen'
  ip netns del "$ns"
  assert_success
  assert_output seen
}

@test "join another container's namespaces by path (rootless too)" {
  set_args sleep 100
  detached
  pid=$(rt state "$CID" | jq -r .pid)
  # a second container in the first one's user, ipc and net namespaces
  B2=$BATS_TEST_TMPDIR/b2
  mkdir -p "$B2"
  cp "$BUNDLE/config.json" "$B2/"
  ln -s "$MOAT_ROOTFS" "$B2/rootfs"
  jq --arg p "$pid" '(.linux.namespaces[] | select(.type == "user" or .type == "ipc" or .type == "network")) |= (.path = ("/proc/" + $p + "/ns/" + (if .type == "network" then "net" else .type end)))
       | del(.linux.uidMappings, .linux.gidMappings)
       | .process.args = ["sh", "-c", "for n in net ipc pid; do readlink /proc/self/ns/$n; done"]' \
     "$B2/config.json" > "$B2/c" && mv "$B2/c" "$B2/config.json"
  run rt run --bundle "$B2" "${CID}b"
  assert_success
  assert_line --index 0 "$(ns_of "$pid" net)"
  assert_line --index 1 "$(ns_of "$pid" ipc)"
  [ "${lines[2]}" != "$(ns_of "$pid" pid)" ]
}

@test "a bad namespace path is a clear error" {
  cfg '(.linux.namespaces[] | select(.type == "network")) .path = "/nonexistent/ns"'
  run_ctr true
  assert_failure
  assert_output --partial "open network namespace '/nonexistent/ns'"
}

@test "the cgroup namespace hides the host's cgroup paths" {
  run_ctr cat /proc/self/cgroup
  assert_success
  refute_output --partial "/moat/"
}

@test "mount propagation: nothing mounted inside appears on the host" {
  requires_root
  d=$BATS_TEST_TMPDIR/shared
  mkdir -p "$d"
  cfg --arg d "$d" '.mounts += [{"destination": "/home", "type": "bind", "source": $d, "options": ["rbind", "rw"]}]
                   | .process.capabilities.bounding = ["CAP_SYS_ADMIN"] | .process.capabilities.effective = ["CAP_SYS_ADMIN"]
                   | .process.capabilities.permitted = ["CAP_SYS_ADMIN"] | del(.linux.seccomp)'
  run_ctr sh -c 'mount -t tmpfs x /home && echo mounted'
  assert_output --partial mounted
  ! grep -q " $d " /proc/self/mountinfo
}

@test "rootfsPropagation: rslave receives a host mount made after start, private doesn't" {
  requires_root # the host side needs a shared mount of its own, which only root can make
  PROP_ROOT=$BATS_TEST_TMPDIR/prop-rootfs
  cp -a "$MOAT_ROOTFS/." "$PROP_ROOT"
  mkdir -p "$PROP_ROOT/mnt"
  mount --bind "$PROP_ROOT" "$PROP_ROOT"
  mount --make-shared "$PROP_ROOT"
  rm -f "$BUNDLE/rootfs"
  ln -s "$PROP_ROOT" "$BUNDLE/rootfs"
  set_args sleep 100
  for prop in rslave private; do
    cfg --arg p "$prop" '.linux.rootfsPropagation = $p'
    detached
    # mounted on the host after the container started
    mount -t tmpfs -o size=1m "host-$prop" "$PROP_ROOT/mnt"
    echo "from-host" > "$PROP_ROOT/mnt/f"
    run rt exec "$CID" sh -c 'cat /mnt/f 2>&1; grep -c " /mnt " /proc/self/mountinfo'
    umount "$PROP_ROOT/mnt"
    rt delete --force "$CID"
    if [ "$prop" = rslave ]; then
      assert_output "from-host
1"
    else
      assert_output --partial "No such file or directory"
      assert_line --index 1 0
    fi
  done
  # and never the other way: a slave's mounts don't reach the host
  run grep -c " $PROP_ROOT/mnt " /proc/self/mountinfo
  assert_output 0
}
