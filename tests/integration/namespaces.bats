#!/usr/bin/env bats
# Namespaces: each one new by default, joined by path on request.

load ../lib/helpers

ns_of() { readlink "/proc/$1/ns/$2"; }

teardown() {
  delete_all
  # the unshare holders (pid 1 of their pid namespace when they have one: KILL)
  if [ -n "${HOLDERS:-}" ]; then kill -KILL $HOLDERS 2>/dev/null || true; fi
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

# ---- joining each namespace type by path ------------------------------------
# holder_ctr: a detached container whose namespaces others join (all of the
# template's plus a time namespace: hostname holder-uts, boottime +1000 days);
# HPID is its pid.
holder_ctr() {
  cfg '.hostname = "holder-uts" | .linux.namespaces += [{"type": "time"}]
       | .linux.timeOffsets = {"boottime": {"secs": 86400000}, "monotonic": {"secs": 0}}'
  set_args sleep 100
  detached
  HPID=$(rt state "$CID" | jq -r .pid)
}

# joiner PID TYPES...: a second bundle $B2 whose TYPES (config.json names) are
# PID's, by /proc/PID/ns path; the rest of the template's are new.
joiner() {
  local pid=$1
  shift
  B2=$BATS_TEST_TMPDIR/b2
  mkdir -p "$B2"
  ln -sfn "$MOAT_ROOTFS" "$B2/rootfs"
  rm -f "$B2/config.json"
  "$RUNTIME" spec --bundle "$B2" >/dev/null
  jq --arg p "$pid" --argjson t "$(printf '%s\n' "$@" | jq -R . | jq -sc .)" '
      .process.terminal = false | del(.hostname)
      | .linux.namespaces = [.linux.namespaces[] | select(.type as $x | $t | index($x) | not)]
          + [$t[] | {type: ., path: ("/proc/" + $p + "/ns/" + ({"network": "net", "mount": "mnt"}[.] // .))}]
      | if ($t | index("user")) then del(.linux.uidMappings, .linux.gidMappings) else . end' \
    "$B2/config.json" > "$B2/c" && mv "$B2/c" "$B2/config.json"
}

# run_joiner CMD: run $B2's container with CMD (sh -c)
run_joiner() {
  jq --arg c "$1" '.process.args = ["sh", "-c", $c]' "$B2/config.json" > "$B2/c" && mv "$B2/c" "$B2/config.json"
  run rt run --bundle "$B2" "${CID}b"
}

@test "join a uts namespace by path: the holder's hostname, the same inode (rootless too)" {
  holder_ctr
  joiner "$HPID" user uts
  run_joiner 'readlink /proc/self/ns/uts; hostname'
  assert_success
  assert_output "$(ns_of "$HPID" uts)
holder-uts"
}

@test "join a pid namespace by path: the holder's processes, not pid 1 (rootless too)" {
  holder_ctr
  joiner "$HPID" user pid
  run_joiner 'readlink /proc/self/ns/pid; cat /proc/1/comm; echo $$'
  assert_success
  assert_line --index 0 "$(ns_of "$HPID" pid)"
  # pid 1 is the holder's sleep; the joiner is another process of that namespace
  assert_line --index 1 sleep
  [ "${lines[2]}" -gt 1 ]
}

@test "join a cgroup namespace by path: cgroup paths relative to the holder's root (rootless too)" {
  holder_ctr
  joiner "$HPID" user cgroup
  run_joiner 'readlink /proc/self/ns/cgroup; grep -m1 ":pids:" /proc/self/cgroup || head -1 /proc/self/cgroup'
  assert_success
  assert_line --index 0 "$(ns_of "$HPID" cgroup)"
  if is_root; then
    # the joiner's own cgroup /moat/<id>, seen from the holder's root /moat/<holder>
    assert_line --index 1 --regexp ":/\.\./${CID}b\$"
  fi
}

@test "join a time namespace by path: the holder's clock offsets (rootless too)" {
  [ -e /proc/self/ns/time ] || skip "this kernel has no time namespaces"
  holder_ctr
  joiner "$HPID" user time
  run_joiner 'readlink /proc/self/ns/time; cut -d. -f1 /proc/uptime'
  assert_success
  assert_line --index 0 "$(ns_of "$HPID" time_for_children)"
  [ "${lines[1]}" -ge 86400000 ]
}

@test "a mount namespace by path is refused: moat-runtime always makes the container's own" {
  holder_ctr
  joiner "$HPID" user mount
  run_joiner true
  assert_failure
  assert_output --partial "moat-runtime needs a new mount namespace (type 'mount' without a path)"
}

# unshare_holder FLAGS...: a process outside any container holding new
# namespaces (owned by the host's user namespace); HPID is that process.
unshare_holder() {
  local d=$BATS_TEST_TMPDIR u
  rm -f "$d/holder.up"
  # (a subshell: not a job of the test's shell, whose kill would be reported)
  ( unshare "$@" --fork sh -c "hostname holder-unshare 2>/dev/null; echo > $d/holder.up; exec sleep 100" \
      </dev/null >/dev/null 2>&1 & echo $! > "$d/unshare.pid" )
  wait_for test -e "$d/holder.up"
  u=$(cat "$d/unshare.pid")
  # the holder is unshare's child (in a new pid namespace its own pid is 1)
  HPID=$(cat "/proc/$u/task/$u/children")
  HPID=${HPID%% *}
  HOLDERS="$u $HPID"
}

@test "join uts, cgroup and time namespaces of a process outside any container (root)" {
  requires_root
  unshare --time true 2>/dev/null || skip "unshare(1) or the kernel can't make a time namespace"
  unshare_holder --uts --cgroup --time --boottime 86400000
  # the container's user namespace is new: the runtime joins these (owned by
  # the host's) with its own credentials first
  joiner "$HPID" uts cgroup time
  run_joiner 'for n in uts cgroup time; do readlink /proc/self/ns/$n; done; hostname; cut -d. -f1 /proc/uptime; grep -m1 ":pids:" /proc/self/cgroup'
  assert_success
  assert_line --index 0 "$(ns_of "$HPID" uts)"
  assert_line --index 1 "$(ns_of "$HPID" cgroup)"
  assert_line --index 2 "$(ns_of "$HPID" time)"
  assert_line --index 3 holder-unshare
  [ "${lines[4]}" -ge 86400000 ]
  # seen from the holder's cgroup root (where this shell was), not from the container's own
  assert_line --index 5 --regexp "/moat/${CID}b\$"
  [ "$(readlink /proc/self/ns/time)" != "${lines[2]}" ]
}

@test "a joined pid or ipc namespace the container's user namespace doesn't own: a clear error, never the host's /proc or queues (root)" {
  requires_root
  unshare_holder --pid --ipc
  joiner "$HPID" pid
  run_joiner 'ls /proc | grep -c "^[0-9]"'
  assert_failure
  assert_output --partial "mount 0 ('/proc')"
  assert_output --partial "the pid namespace '/proc/$HPID/ns/pid' is not the host's and belongs to a user namespace the container is not in"
  joiner "$HPID" ipc
  run_joiner true
  assert_failure
  assert_output --partial "the ipc namespace '/proc/$HPID/ns/ipc' is not the host's"
  # the host's own pid namespace by path: the host's /proc is what was asked for
  joiner $$ pid
  run_joiner 'readlink /proc/self/ns/pid; cat /proc/'$$'/comm'
  assert_success
  assert_line --index 0 "$(readlink /proc/$$/ns/pid)"
  assert_line --index 1 "$(cat /proc/$$/comm)"
}
