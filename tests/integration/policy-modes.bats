#!/usr/bin/env bats
# What a permissive host policy allows is really built: --privileged (every
# capability, no seccomp filter, nothing masked: inside the container's user
# namespace), --device (the host's node bound in), --pid/--ipc/--uts/--cgroupns
# host, seccomp=unconfined, no-new-privileges=false.  One moatd per file whose
# host policy is based on the built-in privileged profile; both lanes.  The
# default policy's refusals of the same flags are in policy-engine.bats.
load ../lib/helpers
bats_require_minimum_version 1.5.0

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  export PDIR=$ENG/policy.d
  mkdir -p "$PDIR"
  printf '{"moatPolicy": 1, "base": "privileged"}\n' > "$PDIR/00-base.json"
  "$MOAT_BIN" --data-root "$STORE" image build-busybox >/dev/null
  engine_start --policy-dir "$PDIR"
}

teardown_file() {
  for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1 || true; done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

teardown() { m rm -f $(m ps -aq) >/dev/null 2>&1 || true; }

m() { timeout -s KILL 30 "$MOAT_BIN" -H "unix://$SOCK" --data-root "$STORE" "$@"; }

# Every capability the kernel has, as /proc/self/status prints it.
all_caps() { printf '%016x' $(( (1 << ($(cat /proc/sys/kernel/cap_last_cap) + 1)) - 1 )); }

@test "modes: --privileged holds every capability and no seccomp filter, still inside its user namespace" {
  run m run --rm --privileged busybox sh -c 'grep -E "^(CapEff|CapPrm|CapBnd|Seccomp|NoNewPrivs):" /proc/self/status; cat /proc/self/uid_map; stat -c "interrupts %F" /proc/interrupts; grep -c " /proc/sys " /proc/self/mountinfo; awk "\$5 == \"/sys\" {print \"sys \" substr(\$6, 1, 2)}" /proc/self/mountinfo; ls /dev'
  assert_success
  assert_line "CapEff:	$(all_caps)"
  assert_line "CapPrm:	$(all_caps)"
  assert_line "CapBnd:	$(all_caps)"
  assert_line "Seccomp:	0"
  # no_new_privs stays as the policy says: on unless asked off
  assert_line "NoNewPrivs:	1"
  # container root is still not host root
  refute_line --regexp '^ +0 +0 +4294967295$'
  # nothing masked (/proc/interrupts is procfs's, not the null device), nothing read-only on top of /proc
  assert_line 'interrupts regular empty file'
  assert_line 0
  # /sys read-write (the kernel still checks each attribute against the host's capabilities)
  assert_line 'sys rw'
  # no host device comes in implicitly
  refute_line kvm
  refute_line loop0
  # and the container's root still can't do what needs host root
  run m run --rm --privileged busybox sh -c 'echo 1 > /proc/sys/kernel/sysrq'
  assert_failure
  # the default container, for contrast: masked, and /proc/sys read-only
  run m run --rm busybox sh -c 'stat -c "interrupts %F" /proc/interrupts; grep -c " /proc/sys " /proc/self/mountinfo; awk "\$5 == \"/sys\" {print \"sys \" substr(\$6, 1, 2)}" /proc/self/mountinfo'
  assert_line 'interrupts character special file'
  assert_line 1
  assert_line 'sys ro'
}

@test "modes: a privileged container keeps a seccomp filter when one is named" {
  run m run --rm --privileged --security-opt seccomp=default busybox grep -E '^(CapEff|Seccomp):' /proc/self/status
  assert_success
  assert_line "CapEff:	$(all_caps)"
  assert_line "Seccomp:	2"
}

@test "modes: exec --privileged holds every capability in a default container" {
  m run -d --name pe busybox sleep 300 >/dev/null
  run m exec --privileged pe grep CapEff /proc/self/status
  assert_success
  assert_output "CapEff:	$(all_caps)"
  run m exec pe grep CapEff /proc/self/status
  assert_output $'CapEff:\t00000000000004fb'
}

@test "modes: seccomp=unconfined and no-new-privileges=false are honoured" {
  run m run --rm --security-opt seccomp=unconfined --security-opt no-new-privileges=false busybox grep -E '^(CapEff|Seccomp|NoNewPrivs):' /proc/self/status
  assert_success
  assert_line "Seccomp:	0"
  assert_line "NoNewPrivs:	0"
  # the rest of the defaults stay: moat's 8 capabilities
  assert_line $'CapEff:\t00000000000004fb'
}

@test "modes: --device binds the host's node; a missing or non-device path is a clear error" {
  run m run --rm --device /dev/null:/dev/mydev busybox sh -c '[ -c /dev/mydev ] && echo char; stat -c "%t:%T" /dev/mydev; echo hi > /dev/mydev && echo written; cat /dev/mydev | wc -c'
  assert_success
  assert_line char
  assert_line '1:3'
  assert_line written
  assert_line 0
  # a device at its own path, where the runtime's default node would be
  run m run --rm --device /dev/zero busybox sh -c 'head -c 4 /dev/zero | wc -c'
  assert_success
  assert_output 4
  # permissions narrower than rw need a device cgroup: root has one, rootless does not
  run m run --rm --device /dev/null:/dev/ronly:r busybox sh -c '[ -c /dev/ronly ] && echo char'
  if is_root; then
    assert_success
    assert_output char
  else
    assert_failure 125
    assert_output --partial "--device /dev/null: permissions 'r' are not supported in rootless mode because a rootless container has no device cgroup to enforce them (use rw or rwm)"
  fi
  run m run --rm --device /dev/moat-no-such-device busybox true
  assert_failure 125
  assert_output --partial "--device /dev/moat-no-such-device: the host has no device node at '/dev/moat-no-such-device'"
  run m run --rm --device /dev/shm busybox true
  assert_failure 125
  assert_output --partial "--device /dev/shm: '/dev/shm' is not a character or block device"
  run m run --rm --device /dev/null:/dev/x:rwz busybox true
  assert_failure 125
  assert_output --partial "invalid device mode: rwz"
}

@test "modes: --pid host sees the host's processes" {
  sleep 300 &
  host=$!
  run m run --rm --pid host busybox sh -c "readlink /proc/self/ns/pid; [ -d /proc/$host ] && echo seen; tr '\\0' ' ' < /proc/$host/cmdline; echo; echo \$\$"
  kill "$host"
  assert_success
  assert_line --index 0 "$(readlink /proc/self/ns/pid)"
  assert_line seen
  assert_line 'sleep 300 '
  # the shell is not pid 1 of a namespace of its own
  refute_line --index 3 1
}

@test "modes: --ipc host, --uts host and --cgroupns host share the host's namespaces" {
  run m run --rm --ipc host --uts host --cgroupns host busybox sh -c 'readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts; readlink /proc/self/ns/cgroup; hostname; echo $HOSTNAME; [ -d /dev/shm ] && echo shm'
  assert_success
  assert_line --index 0 "$(readlink /proc/self/ns/ipc)"
  assert_line --index 1 "$(readlink /proc/self/ns/uts)"
  assert_line --index 2 "$(readlink /proc/self/ns/cgroup)"
  assert_line --index 3 "$(hostname)"
  assert_line --index 4 "$(hostname)"
  assert_line shm
  run m run --rm --uts host -h box busybox true
  assert_failure 125
  assert_output --partial "Conflicting options: hostname and the UTS mode"
}

@test "modes: what is not policy stays refused: UsernsMode host, an unknown mode" {
  run m run --rm --pid container:abc busybox true
  assert_failure 125
  assert_output --partial "HostConfig.PidMode: 'container:abc' is not supported"
  run m run --rm --sysctl kernel.panic=1 busybox true
  assert_failure 125
  assert_output --partial "sysctl 'kernel.panic' is not allowed"
}
