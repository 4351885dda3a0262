#!/usr/bin/env bats
# Control groups on real containers: limits seen from inside and outside,
# devices, the read-only /sys/fs/cgroup view, paths (default, absolute,
# systemd form), pause/resume, kill --all, exec, delete, the disabled manager,
# and the rootless refusal.  This host is cgroup v1 with hugetlb on cgroup2
# (hybrid); the v1 paths below are what the suite checks.

load ../lib/helpers

# Every cgroup hierarchy mounted on the host (v1 controllers and cgroup2).
hierarchies() { grep -E ' - cgroup2? ' /proc/self/mountinfo | awk '{print $5}'; }

# cg_dirs REL: the hierarchies in which the directory REL exists.
cg_dirs() {
  local h
  for h in $(hierarchies); do [ -d "$h$1" ] && echo "$h$1"; done
  true
}

setup() {
  new_bundle
  is_root || return 0
  [ -d /sys/fs/cgroup/memory ] || skip "the suite checks cgroup v1 paths; this host has no v1 memory controller"
}

# Containers with cgroups need root here: on cgroup v1 nothing is delegated.
requires_cgroups() {
  is_root || skip "rootless on cgroup v1: no delegated cgroup to create (the rootless refusal is tested below)"
}

teardown() {
  delete_all
  [ -n "${OUT_DIR:-}" ] && rm -rf "$OUT_DIR"
  [ -n "${DEV_NODE:-}" ] && rm -f "$DEV_NODE"
  true
}

ctr_pid() { rt state "$CID" | jq -r .pid; }
ctr_status() { [ "$(rt state "$CID" | jq -r .status)" = "$1" ]; }

@test "pids limit: a fork bomb stops below the limit" {
  requires_cgroups
  cfg '.linux.resources.pids.limit = 20'
  run_ctr probe forkbomb 200
  assert_success
  n=${output#forked }
  [ "$n" -lt 20 ]
  [ "$n" -gt 10 ]
}

@test "memory limit: visible inside and outside, and enforced" {
  requires_cgroups
  cfg '.linux.resources.memory = {"limit": 33554432, "swap": 33554432}'
  set_args sh -c 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes; sleep 100'
  detached
  wait_for grep -q . "$BATS_TEST_TMPDIR/ctr.out"
  run cat "$BATS_TEST_TMPDIR/ctr.out"
  assert_output 33554432
  run cat "/sys/fs/cgroup/memory/moat/$CID/memory.limit_in_bytes"
  assert_output 33554432
  # `tail -n 1` of a stream with no newline keeps it all in memory
  # (the OOM killer picks tail, or the shell: either way 128 + SIGKILL)
  run rt exec "$CID" sh -c 'head -c 100000000 /dev/zero | tail -n 1 > /dev/null'
  assert_equal "$status" 137
  run cat "/sys/fs/cgroup/memory/moat/$CID/memory.oom_control"
  assert_line --regexp "^oom_kill [1-9]"
}

@test "cpu quota, shares and cpuset" {
  requires_cgroups
  cfg '.linux.resources.cpu = {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0", "mems": "0"}'
  run_ctr sh -c 'cd /sys/fs/cgroup; cat cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares cpuset/cpuset.cpus cpuset/cpuset.mems; grep Cpus_allowed_list /proc/self/status'
  assert_success
  assert_output "50000
100000
512
0
0
Cpus_allowed_list:	0"
}

@test "devices: deny-all, default devices usable, a created device only as far as allowed" {
  requires_cgroups
  # a host node (tun, 10:200) any user may open; bound in at the same path
  dev=/dev/moat-it-tun-$$
  DEV_NODE=$dev
  mknod -m 666 "$dev" c 10 200
  cfg --arg d "$dev" '.linux.devices = [{"path": $d, "type": "c", "major": 10, "minor": 200}]
       | .mounts += [{"destination": "/dev/tun-alias", "type": "bind", "source": $d, "options": ["bind"]}]'
  run jq -c '.linux.resources.devices' "$BUNDLE/config.json"
  assert_output '[{"allow":false,"access":"rwm"}]'
  set_args sh -c 'echo x > /dev/null && head -c 4 /dev/zero | wc -c && head -c 4 /dev/urandom | wc -c
                  for t in "write /dev/full" "open $0" "write $0" "open /dev/tun-alias"; do echo "$t: $(probe $t)"; done' "$dev"
  run rt run --bundle "$BUNDLE" "$CID"
  assert_output "4
4
write /dev/full: ok
open $dev: errno EPERM
write $dev: errno EPERM
open /dev/tun-alias: errno EPERM"
  # allowed read-only: reads work, writes don't, other paths to it neither
  cfg '.linux.resources.devices += [{"allow": true, "type": "c", "major": 10, "minor": 200, "access": "r"}]'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_line "open $dev: ok"
  assert_line "write $dev: errno EPERM"
  assert_line "open /dev/tun-alias: ok"
}

@test "/sys/fs/cgroup inside: read-only, only the container's own cgroups" {
  requires_cgroups
  cfg '.linux.resources.pids.limit = 33'
  set_args sh -c 'ls /sys/fs/cgroup; cat /sys/fs/cgroup/pids/pids.max; ls /sys/fs/cgroup/pids | grep -c -e "^moat$" -e slice
                  echo 5 > /sys/fs/cgroup/pids/pids.max || echo write-refused
                  mkdir /sys/fs/cgroup/pids/sub || echo mkdir-refused
                  touch /sys/fs/cgroup/x || echo tmpfs-refused
                  grep " /sys/fs/cgroup" /proc/self/mountinfo | grep -vc " ro,"'
  run rt run --bundle "$BUNDLE" "$CID"
  assert_line --index 0 blkio
  assert_line unified
  assert_line memory
  assert_line 33
  assert_line 0
  assert_line write-refused
  assert_line mkdir-refused
  assert_line tmpfs-refused
  assert_line --partial "Read-only file system"
  # and the last line: every mount under /sys/fs/cgroup is read-only
  [ "${lines[-1]}" = 0 ]
}

@test "hybrid: hugetlb limits on cgroup2, and the process is in the unified hierarchy" {
  requires_cgroups
  [ -e /sys/fs/cgroup/unified/hugetlb.2MB.max ] || [ -e /sys/fs/cgroup/unified/cgroup.controllers ] ||
    skip "no cgroup2 mount at /sys/fs/cgroup/unified (not a hybrid host)"
  grep -qw hugetlb /sys/fs/cgroup/unified/cgroup.controllers || skip "hugetlb is not on cgroup2 here"
  cfg '.linux.resources.hugepageLimits = [{"pageSize": "2MB", "limit": 4194304}]'
  set_args sh -c 'cat /sys/fs/cgroup/unified/hugetlb.2MB.max; sleep 100'
  detached
  wait_for grep -q . "$BATS_TEST_TMPDIR/ctr.out"
  run cat "$BATS_TEST_TMPDIR/ctr.out"
  assert_output 4194304
  pid=$(ctr_pid)
  run cat "/sys/fs/cgroup/unified/moat/$CID/hugetlb.2MB.max"
  assert_output 4194304
  run cat "/proc/$pid/cgroup"
  assert_line "0::/moat/$CID"
  assert_line --regexp "^[0-9]+:memory:/moat/$CID\$"
  assert_line --regexp "^[0-9]+:pids:/moat/$CID\$"
}

@test "cgroupsPath: default /moat/<id>, absolute, relative; delete removes every directory" {
  requires_cgroups
  set_args sleep 100
  detached
  pid=$(ctr_pid)
  n=$(hierarchies | wc -l)
  run cg_dirs "/moat/$CID"
  assert_equal "${#lines[@]}" "$n"
  for d in "${lines[@]}"; do grep -qx "$pid" "$d/cgroup.procs"; done
  rt delete --force "$CID"
  run cg_dirs "/moat/$CID"
  assert_output ""

  cfg --arg p "/moat-it-$$/$CID" '.linux.cgroupsPath = $p'
  detached
  run cg_dirs "/moat-it-$$/$CID"
  assert_equal "${#lines[@]}" "$n"
  rt kill "$CID" KILL
  wait_for ctr_status stopped
  rt delete "$CID"
  run cg_dirs "/moat-it-$$/$CID"
  assert_output ""
  for h in $(hierarchies); do rmdir "$h/moat-it-$$" 2>/dev/null || true; done

  # relative: below the runtime's own cgroup, in each hierarchy
  cfg --arg p "moat-it-rel-$$/$CID" '.linux.cgroupsPath = $p'
  detached
  pid=$(ctr_pid)
  while IFS=: read -r n c p; do
    grep -qx "$n:$c:${p%/}/moat-it-rel-$$/$CID" "/proc/$pid/cgroup"
  done < /proc/self/cgroup
  rt delete --force "$CID"
  run find /sys/fs/cgroup -maxdepth 5 -type d -path "*/moat-it-rel-$$/*"
  assert_output ""
  find /sys/fs/cgroup -maxdepth 4 -type d -name "moat-it-rel-$$" -exec rmdir {} +
}

@test "a run that completes, and a create that fails, leave no cgroup behind" {
  requires_cgroups
  cfg '.linux.resources.pids.limit = 50'
  run_ctr true
  assert_success
  run cg_dirs "/moat/$CID"
  assert_output ""
  cfg '.hooks = {"createRuntime": [{"path": "/bin/false"}]}'
  run_ctr true
  assert_failure
  run cg_dirs "/moat/$CID"
  assert_output ""
}

@test "--systemd-cgroup: slice:prefix:name becomes slice/prefix-name.scope" {
  requires_cgroups
  cfg --arg p "machine.slice:moat-it:$CID" '.linux.cgroupsPath = $p'
  set_args sleep 100
  "$RUNTIME" --root "$STATE" --systemd-cgroup run --detach --bundle "$BUNDLE" "$CID" < /dev/null > /dev/null 2>&1
  pid=$(ctr_pid)
  run cat "/proc/$pid/cgroup"
  assert_line --regexp "^[0-9]+:pids:/machine.slice/moat-it-$CID.scope\$"
  run cg_dirs "/machine.slice/moat-it-$CID.scope"
  assert_equal "${#lines[@]}" "$(hierarchies | wc -l)"
  rt delete --force "$CID"
  run cg_dirs "/machine.slice/moat-it-$CID.scope"
  assert_output ""
  cfg '.linux.cgroupsPath = "/not/systemd"'
  run "$RUNTIME" --root "$STATE" --systemd-cgroup run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial "expected \"slice:prefix:name\" with systemd cgroups"
}

@test "pause and resume freeze and thaw every process" {
  requires_cgroups
  # a directory the container's root can reach (bats' own temp dir is private)
  out=$(mktemp -d /tmp/moat-cg-XXXXXX)
  OUT_DIR=$out
  chmod 777 "$out"
  # (the root is read-only: /home is an existing directory to mount on)
  cfg --arg o "$out" '.mounts += [{"destination": "/home", "type": "bind", "source": $o, "options": ["rbind", "rw"]}]'
  # the counter is replaced atomically (temp file + rename): `echo > n` would
  # truncate first, and the host could read an empty file in between
  set_args sh -c 'i=0; while :; do i=$((i+1)); echo $i > /home/n.tmp; mv -f /home/n.tmp /home/n; usleep 20000; done'
  detached
  wait_for test -s "$out/n"
  rt pause "$CID"
  run rt state "$CID"
  assert_equal "$(echo "$output" | jq -r .status)" paused
  run cat "/sys/fs/cgroup/freezer/moat/$CID/freezer.state"
  assert_output FROZEN
  a=$(cat "$out/n"); sleep 0.3; b=$(cat "$out/n")
  assert_equal "$a" "$b"
  run rt exec "$CID" true
  assert_failure
  assert_output --partial "is paused: resume it first"
  run rt pause "$CID"
  assert_failure
  rt resume "$CID"
  wait_for ctr_status running
  # moving on again: the counter passes the frozen value (retried, a loaded host is slow to thaw)
  [ -n "$b" ]
  wait_for sh -c "[ \"\$(cat '$out/n')\" -gt $b ] 2>/dev/null"
  run rt resume "$CID"
  assert_failure
}

@test "kill --all signals every process in the cgroup; exec joins the cgroups" {
  requires_cgroups
  set_args sh -c 'sleep 100 & sleep 100 & wait'
  detached
  rt exec --detach --pid-file "$BATS_TEST_TMPDIR/epid" "$CID" sleep 100 > /dev/null 2>&1
  epid=$(cat "$BATS_TEST_TMPDIR/epid")
  for h in $(hierarchies); do grep -qx "$epid" "$h/moat/$CID/cgroup.procs"; done
  run cat "/sys/fs/cgroup/pids/moat/$CID/cgroup.procs"
  assert_equal "${#lines[@]}" 4
  rt kill --all "$CID" KILL
  wait_for ctr_status stopped
  wait_for sh -c "[ ! -s /sys/fs/cgroup/pids/moat/$CID/cgroup.procs ]"
  gone "$epid"
  rt delete "$CID"
  run cg_dirs "/moat/$CID"
  assert_output ""
}

@test "--cgroup-manager=disabled: no cgroup at all; limits warned about; pause refused" {
  cfg '.linux.resources.pids.limit = 20'
  set_args sleep 100
  "$RUNTIME" --root "$STATE" --cgroup-manager=disabled run --detach --bundle "$BUNDLE" "$CID" < /dev/null \
      > "$BATS_TEST_TMPDIR/out" 2>&1
  run cat "$BATS_TEST_TMPDIR/out"
  assert_output "moat-runtime: warning: cgroup limits ignored: the cgroup manager is disabled"
  run cg_dirs "/moat/$CID"
  assert_output ""
  pid=$(ctr_pid)
  run grep pids: "/proc/$pid/cgroup"
  refute_output --partial "$CID"
  run rt pause "$CID"
  assert_failure
  assert_output "moat-runtime: cannot pause the container: the container has no cgroup (the cgroup manager is disabled)"
  run rt delete --force "$CID"
  assert_success
  gone "$pid"
}

@test "rootless: limits fail clearly unless run.moat.cgroup.optional=true" {
  requires_rootless
  [ -w /sys/fs/cgroup/unified/cgroup.procs ] && skip "this user has a delegated cgroup"
  cfg '.linux.resources.pids.limit = 20'
  run_ctr true
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "cgroup limits cannot be applied: rootless on cgroup v1 has no delegated cgroup"
  assert_output --partial "run.moat.cgroup.optional=true"
  [ ! -d "$STATE/$CID" ]
  cfg '.annotations["run.moat.cgroup.optional"] = "true"'
  run_ctr echo ran
  assert_success
  assert_line "moat-runtime: warning: cgroup limits ignored: rootless on cgroup v1 has no delegated cgroup"
  assert_line ran
}

@test "rootless: without limits, no cgroup is needed; pause says why it can't" {
  requires_rootless
  run jq -r '.linux.resources' "$BUNDLE/config.json"
  assert_output null
  set_args sleep 100
  detached
  run rt pause "$CID"
  assert_failure
  assert_output --partial "the container has no cgroup (rootless on cgroup v1 has no delegated cgroup)"
}

@test "blkio (cgroup v1): throttle limits written, a weight where the kernel has one" {
  requires_cgroups
  [ -d /sys/fs/cgroup/blkio ] || skip "no blkio controller mounted on this host"
  dev=
  for b in /sys/block/*; do
    case ${b##*/} in loop*|ram*|zram*|nbd*) continue ;; esac
    dev=$(cat "$b/dev"); break
  done
  [ -n "$dev" ] || skip "no disk block device to throttle"
  maj=${dev%:*} min=${dev#*:}
  cfg --argjson ma "$maj" --argjson mi "$min" '.linux.resources.blockIO = {
      "throttleReadBpsDevice": [{"major": $ma, "minor": $mi, "rate": 1048576}],
      "throttleWriteIOPSDevice": [{"major": $ma, "minor": $mi, "rate": 100}]}'
  set_args sleep 100
  detached
  d=/sys/fs/cgroup/blkio/moat/$CID
  run cat "$d/blkio.throttle.read_bps_device"
  assert_output "$dev 1048576"
  run cat "$d/blkio.throttle.write_iops_device"
  assert_output "$dev 100"
  # seen from inside too (its own cgroup, read-only)
  run rt exec "$CID" cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device
  assert_output "$dev 1048576"
  wfile=
  for f in blkio.weight blkio.bfq.weight; do [ -e "$d/$f" ] && { wfile=$f; break; }; done
  rt delete --force "$CID"
  cfg '.linux.resources.blockIO.weight = 300'
  if [ -n "$wfile" ]; then
    detached
    run cat "$d/$wfile"
    assert_output --regexp "(^| )300$"
  else
    # neither CFQ nor BFQ here: refused clearly, not silently dropped
    run_ctr true
    assert_failure
    assert_output --partial "blkio weight is not supported by this kernel"
  fi
}
