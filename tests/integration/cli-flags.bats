#!/usr/bin/env bats
# The moat CLI flags the other cli-* files leave out, each checked from inside
# the container or by its effect: run --entrypoint, --cap-add, --security-opt
# seccomp=FILE (the client reads it), --restart on-failure/unless-stopped,
# --network none|host, --cpus and update --cpus, start -ai, exec -it, kill -s,
# logs --since, ps -l/-n, stop (SIGTERM, then SIGKILL after the timeout), rm -v,
# --mount type=bind|volume, noexec volumes, a new named volume filled from the
# image, version, and MOAT_HOST/DOCKER_HOST selecting the endpoint.  One moatd
# per file on a private store, both lanes.
load ../lib/helpers
bats_require_minimum_version 1.5.0

setup_file() {
  engine_env
  "$MOAT_BIN" --data-root "$STORE" image build-busybox >/dev/null
  engine_start
}

teardown_file() {
  for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1 || true; done
  for v in $(m volume ls -q 2>/dev/null); do m volume rm -f "$v" >/dev/null 2>&1 || true; done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

teardown() { m rm -f $(m ps -aq) >/dev/null 2>&1 || true; }

m() { timeout -s KILL 30 "$MOAT_BIN" -H "unix://$SOCK" --data-root "$STORE" "$@"; }
MOATCMD() { printf '%s -H unix://%s --data-root %s' "$MOAT_BIN" "$SOCK" "$STORE"; }

# cgfile PID CONTROLLER FILE: FILE of PID's v1 cgroup of CONTROLLER (alone or co-mounted, as in
# "cpu,cpuacct"), under /sys/fs/cgroup/CONTROLLER
cgfile() {
  local p
  p=$(awk -F: -v c="$2" '{ n = split($2, a, ","); for (i = 1; i <= n; i++) if (a[i] == c) print $3 }' "/proc/$1/cgroup")
  [ -n "$p" ] || { echo "no $2 cgroup for $1" >&2; return 1; }
  cat "/sys/fs/cgroup/$2$p/$3"
}

# wait_for CMD...: up to 10 s for CMD to succeed
wait_for() {
  for _ in $(seq 100); do "$@" && return 0; sleep 0.1; done
  "$@"
}

@test "cli run --entrypoint: replaces the image's, the command becomes its arguments" {
  run m run --rm --entrypoint /bin/echo busybox hi there
  assert_success
  assert_output "hi there"
  run m create --name ep --entrypoint /bin/sh busybox -c true
  assert_success
  run m inspect -f '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' ep
  assert_output '["/bin/sh"] ["-c","true"]'
}

@test "cli run --cap-add: the capability is in the effective set (inside the user namespace)" {
  run m run --rm --cap-drop ALL --cap-add CHOWN busybox grep CapEff /proc/self/status
  assert_success
  assert_output --regexp 'CapEff:[[:space:]]+0000000000000001$'
  run m run --rm --cap-drop ALL --cap-add chown --cap-add CAP_KILL busybox grep CapEff /proc/self/status
  assert_output --regexp 'CapEff:[[:space:]]+0000000000000021$'
}

@test "cli run --security-opt seccomp=FILE: the client reads the profile; the engine opens no client path" {
  printf '%s\n' '{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]}' \
    > "$BATS_TEST_TMPDIR/nomkdir.json"
  run m run --rm --security-opt "seccomp=$BATS_TEST_TMPDIR/nomkdir.json" busybox sh -c 'mkdir /tmp/x 2>&1; touch /tmp/y && echo touched'
  assert_success
  assert_output --partial "Operation not permitted"
  assert_output --partial touched
  run m run --rm --security-opt seccomp=/nonexistent.json busybox true
  assert_failure
  assert_output --partial "opening seccomp profile (/nonexistent.json) failed"
  # a path sent over the API is a file on the engine's host: only one the policy names
  run curl -s --unix-socket "$SOCK" -H 'Content-Type: application/json' \
    -d '{"Image": "busybox", "Cmd": ["true"], "HostConfig": {"SecurityOpt": ["seccomp=/etc/shadow"]}}' \
    http://moat/v1.41/containers/create
  assert_output --partial "seccomp profile /etc/shadow is not allowed (baseline.json: /seccomp/profiles)"
}

@test "cli run --restart on-failure:2 and unless-stopped; stop ends unless-stopped for good" {
  m run -d --name of --restart on-failure:2 busybox false >/dev/null
  restarted() { [ "$(m inspect -f '{{.RestartCount}} {{.State.Status}}' of)" = "2 exited" ]; }
  wait_for restarted
  run m inspect -f '{{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}' of
  assert_output 'on-failure 2'
  m run -d --name us --restart unless-stopped busybox sh -c 'sleep 0.2; exit 1' >/dev/null
  again() { [ "$(m inspect -f '{{.RestartCount}}' us)" -ge 1 ]; }
  wait_for again
  m stop -t 1 us >/dev/null
  sleep 1
  run m inspect -f '{{.State.Status}}' us
  assert_output exited
  n=$(m inspect -f '{{.RestartCount}}' us)
  sleep 1
  run m inspect -f '{{.RestartCount}} {{.State.Status}}' us
  assert_output "$n exited"
}

@test "cli run --network none has only lo; --network host sees the host's interfaces" {
  run m run --rm --network none busybox sh -c 'ls /sys/class/net'
  assert_success
  assert_output lo
  host=$(ls /sys/class/net | sort | tr '\n' ' ')
  run m run --rm --network host busybox sh -c 'ls /sys/class/net | sort | tr "\n" " "'
  assert_success
  assert_output "$host"
  run m inspect -f '{{.HostConfig.NetworkMode}}' "$(m create --network host busybox true)"
  assert_output host
}

@test "cli run --cpus and update --cpus: NanoCpus and the cgroup v1 CFS quota" {
  is_root || skip "rootless has no cgroup limits on cgroup v1"
  m run -d --name cpu --cpus 1.5 busybox sleep 1000 >/dev/null
  pid=$(m inspect -f '{{.State.Pid}}' cpu)
  run cgfile "$pid" cpu cpu.cfs_quota_us
  assert_output 150000
  run m update --cpus 0.5 cpu
  assert_success
  assert_output cpu
  run cgfile "$pid" cpu cpu.cfs_quota_us
  assert_output 50000
  run m inspect -f '{{.HostConfig.NanoCpus}}' cpu
  assert_output 500000000
}

@test "cli start -ai: stdin reaches a created -i container, its output comes back" {
  m create -i --name si busybox sh -c 'read l; echo "got $l"' >/dev/null
  run bash -c "echo hello | $(MOATCMD) start -ai si"
  assert_success
  assert_output "got hello"
}

@test "cli exec -it: a pty in a running container" {
  command -v script >/dev/null || skip "util-linux script is not installed"
  m run -d --name xt busybox sleep 1000 >/dev/null
  run timeout -s KILL 20 script -qec "$(MOATCMD) exec -it xt sh -c 'tty; stty size'" /dev/null
  assert_success
  assert_output --regexp '/dev/pts/[0-9]+'
}

@test "cli kill -s: the named signal reaches the container's process" {
  m run -d --name ks busybox sh -c 'trap "echo got-usr1; exit 3" USR1; while :; do sleep 0.1; done' >/dev/null
  sleep 0.5
  run m kill -s USR1 ks
  assert_success
  assert_output ks
  run m wait ks
  assert_output 3
  run m logs ks
  assert_output got-usr1
  run m kill -s NOSUCH ks
  assert_failure
}

@test "cli logs --since: only lines logged at or after the time" {
  m run -d --name ls1 busybox sh -c 'echo one; sleep 2; echo two; sleep 1000' >/dev/null
  sleep 1
  t=$(date +%s.%N)
  wait_for bash -c "$(MOATCMD) logs ls1 | grep -q two"
  run m logs --since "$t" ls1
  assert_output two
  run m logs --since 0 ls1
  assert_output "one
two"
}

@test "cli ps -l and -n: the newest container, the last N" {
  m create --name p1 busybox true >/dev/null
  m create --name p2 busybox true >/dev/null
  m create --name p3 busybox true >/dev/null
  run m ps -l --format '{{.Names}}'
  assert_output p3
  run m ps -n 2 --format '{{.Names}}'
  assert_output "p3
p2"
  run m ps -a --format '{{.Names}}'
  assert_output "p3
p2
p1"
}

@test "cli stop: SIGTERM first (a handler runs, exit 0); SIGKILL after the timeout" {
  m run -d --name st busybox sh -c 'trap "echo term; exit 0" TERM; while :; do sleep 0.1; done' >/dev/null
  sleep 0.5
  run m stop st
  assert_success
  run m inspect -f '{{.State.ExitCode}}' st
  assert_output 0
  run m logs st
  assert_output term
  # a process that ignores SIGTERM is killed when -t runs out
  m run -d --name st2 busybox sh -c 'trap "" TERM; while :; do sleep 0.1; done' >/dev/null
  sleep 0.5
  s=$(date +%s%N)
  run m stop -t 2 st2
  assert_success
  e=$(( ($(date +%s%N) - s) / 1000000 ))
  run m inspect -f '{{.State.ExitCode}}' st2
  assert_output 137
  [ "$e" -ge 1900 ] || { echo "stop -t 2 took $e ms: SIGKILL came before the timeout" >&2; false; }
}

@test "cli rm -v removes the container's anonymous volumes; without -v they stay" {
  m create --name rv -v /data busybox true >/dev/null
  v=$(m inspect -f '{{range .Mounts}}{{.Name}}{{end}}' rv)
  [ -n "$v" ]
  run m volume ls -q
  assert_line "$v"
  m rm -v rv >/dev/null
  run m volume ls -q
  refute_output --partial "$v"
  m create --name rv2 -v /data busybox true >/dev/null
  v2=$(m inspect -f '{{range .Mounts}}{{.Name}}{{end}}' rv2)
  m rm rv2 >/dev/null
  run m volume ls -q
  assert_line "$v2"
  m volume rm "$v2" >/dev/null
}

@test "cli run --mount type=bind,readonly and type=volume: mounted nosuid,nodev; noexec on request" {
  d=$BATS_TEST_TMPDIR/bm
  mkdir -p "$d"
  chmod 755 "$d"
  echo bound > "$d/f"
  chmod 644 "$d/f"
  run m run --rm --mount "type=bind,source=$d,target=/b,readonly" busybox sh -c 'cat /b/f; touch /b/g 2>&1; grep " /b " /proc/mounts'
  assert_success
  assert_line bound
  assert_output --partial "Read-only file system"
  assert_output --regexp ' /b [a-z0-9]+ ro,nosuid,nodev'
  run m run --rm --mount type=volume,source=mv,target=/v busybox sh -c 'echo kept > /v/k; grep " /v " /proc/mounts'
  assert_success
  assert_output --regexp 'nosuid,nodev'
  run m run --rm -v mv:/w busybox cat /w/k
  assert_output kept
  run m run --rm -v mv:/w:noexec busybox sh -c 'cp /bin/busybox /w/true; /w/true 2>&1; grep " /w " /proc/mounts'
  assert_output --partial "Permission denied"
  assert_output --regexp 'nosuid,nodev,noexec'
  m volume rm mv >/dev/null
}

@test "cli run -v NEW:/etc: a new named volume is filled from the image's content there" {
  run m run --rm -v fill:/etc busybox true
  assert_success
  run m run --rm -v fill:/x busybox sh -c 'grep -c ^root: /x/passwd'
  assert_success
  assert_output 1
  # an existing volume is not filled again
  run -127 m run --rm -v fill:/bin busybox ls /bin/busybox
  m volume rm fill >/dev/null
}

@test "cli version: client and server, API 1.41" {
  run m version
  assert_success
  assert_line --partial "Client:"
  assert_line --partial "Server:"
  assert_output --regexp 'API version:[[:space:]]+1\.41'
  run m version --format '{{.Server.APIVersion}}'
  assert_output 1.41
}

@test "cli endpoint: MOAT_HOST and DOCKER_HOST select the engine when -H is not given; -H wins" {
  id=$(m create --name ep1 busybox true)
  run env -u DOCKER_HOST MOAT_HOST="unix://$SOCK" timeout 30 "$MOAT_BIN" ps -aq --no-trunc
  assert_success
  assert_line "$id"
  run env -u MOAT_HOST DOCKER_HOST="unix://$SOCK" timeout 30 "$MOAT_BIN" ps -aq --no-trunc
  assert_success
  assert_line "$id"
  run env MOAT_HOST="unix://$BATS_TEST_TMPDIR/nothing.sock" timeout 30 "$MOAT_BIN" -H "unix://$SOCK" ps -aq --no-trunc
  assert_success
  assert_line "$id"
  run env -u DOCKER_HOST MOAT_HOST="unix://$BATS_TEST_TMPDIR/nothing.sock" timeout 30 "$MOAT_BIN" ps
  assert_failure
  assert_output --partial "nothing.sock"
  # the engine's socket: 0660 as root, 0600 rootless
  if is_root; then want=660; else want=600; fi
  [ "$(stat -c %a "$SOCK")" = "$want" ]
}
