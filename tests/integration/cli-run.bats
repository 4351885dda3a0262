#!/usr/bin/env bats
# The moat CLI's streaming verbs against a real moatd: run (exit codes, stdio,
# -i, -e/--env-file/-w/-u/-h, --read-only, --tmpfs, limits, capabilities,
# refused options, volumes, binds, --mount), logs (--tail, -t, -f), exec,
# wait, start -a, create + start, attach, the tty path and the detach keys,
# events, stats, and the CLI starting the user's moatd itself.  Output and exit
# codes are Docker 20.10's.  One moatd per file on a private store.
load ../lib/helpers
bats_require_minimum_version 1.5.0

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  export ENG=$BATS_FILE_TMPDIR/eng
  mkdir -p "$ENG"
  export SOCK=$ENG/moat.sock STORE=$ENG/store RUN=$ENG/run
  "$MOAT_BIN" --data-root "$STORE" image build-busybox >/dev/null
  "$MOATD" --data-root "$STORE" --run-dir "$RUN" --socket "$SOCK" --log-file "$ENG/moatd.log" </dev/null &
  echo $! > "$ENG/moatd.pid"
  for _ in $(seq 100); do [ -S "$SOCK" ] && return 0; sleep 0.05; done
  cat "$ENG/moatd.log" >&2
  return 1
}

teardown_file() {
  for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1 || true; done
  for v in $(m volume ls -q 2>/dev/null); do m volume rm -f "$v" >/dev/null 2>&1 || true; done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

setup() { :; }
teardown() { m rm -f $(m ps -aq) >/dev/null 2>&1 || true; }

# m ARGS: the CLI against this file's moatd, never longer than 30 s.
m() { timeout -s KILL 30 "$MOAT_BIN" -H "unix://$SOCK" --data-root "$STORE" "$@"; }
MOATCMD() { printf '%s -H unix://%s --data-root %s' "$MOAT_BIN" "$SOCK" "$STORE"; }

# cgfile PID CONTROLLER FILE: FILE of the v1 CONTROLLER cgroup PID is in.
cgfile() {
  local p
  p=$(awk -F: -v c="$2" '$2 == c { print $3 }' "/proc/$1/cgroup")
  cat "/sys/fs/cgroup/$2$p/$3"
}

@test "cli run: --rm echo, exit codes, stdout and stderr kept apart" {
  run m run --rm busybox echo hi
  assert_success
  assert_output hi
  run m run --rm busybox sh -c 'exit 3'
  assert_failure 3
  assert_output ''
  m run --rm busybox sh -c 'echo out; echo err >&2; exit 5' >"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e" || rc=$?
  [ "$rc" -eq 5 ]
  [ "$(cat "$BATS_TEST_TMPDIR/o")" = out ]
  [ "$(cat "$BATS_TEST_TMPDIR/e")" = err ]
  # a command that does not exist: 127, as Docker
  run -127 m run --rm busybox nosuchcmd
  assert_failure 127
  run m ps -aq
  assert_output ''
}

@test "cli run: the container can open /dev/stdout and /dev/stderr (the monitor's pipes)" {
  run m run --rm busybox sh -c 'echo x > /dev/stdout; echo y > /dev/stderr'
  assert_success
  assert_output "x
y"
  run m run --rm -u 1000:1000 busybox sh -c 'echo as-user > /dev/stdout'
  assert_success
  assert_output as-user
}

@test "cli run -i: stdin reaches the container, EOF ends it" {
  run sh -c "echo x | $(MOATCMD) run -i --rm busybox cat"
  assert_success
  assert_output x
  run sh -c "printf 'a\nb\nc\n' | $(MOATCMD) run -i --rm busybox wc -l"
  assert_success
  assert_output 3
  # without -i the container's stdin is empty
  run sh -c "echo x | $(MOATCMD) run --rm busybox cat"
  assert_success
  assert_output ''
}

@test "cli run: -e, --env-file, -w, -u, -h" {
  printf 'FROMFILE=ff\n# comment\n\nSPACED=a b\n' > "$BATS_TEST_TMPDIR/env"
  run m run --rm -e A=1 -e 'B=two words' --env-file "$BATS_TEST_TMPDIR/env" busybox \
    sh -c 'echo "$A|$B|$FROMFILE|$SPACED"'
  assert_success
  assert_output '1|two words|ff|a b'
  run m run --rm -w /tmp/new/dir busybox pwd
  assert_success
  assert_output /tmp/new/dir
  run m run --rm -u 1000:1000 busybox id
  assert_success
  assert_output 'uid=1000 gid=1000'
  run m run --rm -h myhost busybox hostname
  assert_success
  assert_output myhost
  run m run --rm --env-file "$BATS_TEST_TMPDIR/nosuch" busybox true
  assert_failure 125
}

@test "cli run --read-only: / is read-only, --tmpfs /run stays writable" {
  run m run --rm --read-only busybox touch /x
  assert_failure 1
  assert_output --partial 'Read-only file system'
  run m run --rm --read-only --tmpfs /run busybox sh -c 'touch /run/x && echo ok && ! touch /y'
  assert_success
  assert_output --partial ok
  run m run --rm --read-only busybox sh -c 'grep " / " /proc/mounts'
  assert_output --regexp '^[^ ]+ / [^ ]+ ro[, ]'
}

@test "cli run -m 64m --pids-limit 50: the container's cgroup v1 limits" {
  is_root || skip "rootless has no cgroup limits on cgroup v1"
  m run -d --name lim -m 64m --pids-limit 50 busybox sleep 1000 >/dev/null
  pid=$(m inspect -f '{{.State.Pid}}' lim)
  [ "$pid" -gt 0 ]
  run cgfile "$pid" memory memory.limit_in_bytes
  assert_output 67108864
  run cgfile "$pid" pids pids.max
  assert_output 50
  run m inspect -f '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}' lim
  assert_output '67108864 50'
  m rm -f lim >/dev/null
}

@test "cli run: --cap-drop ALL, unknown --cap-add, --privileged and seccomp=unconfined refused" {
  run m run --rm --cap-drop ALL busybox grep CapEff /proc/self/status
  assert_success
  assert_output $'CapEff:\t0000000000000000'
  run m run --rm --cap-add NOSUCHCAP busybox true
  assert_failure 125
  assert_output --partial 'unknown capability'
  assert_output --partial NOSUCHCAP
  run m run --rm --privileged busybox true
  assert_failure 125
  assert_line --index 0 --partial 'Error response from daemon: denied by policy: privileged containers are not allowed (baseline.json: /privileged)'
  assert_line "See 'moat run --help'."
  run m run --rm --security-opt seccomp=unconfined busybox true
  assert_failure 125
  assert_output --partial 'seccomp=unconfined is not allowed'
  run m ps -aq
  assert_output ''
}

@test "cli run -v: a named volume persists, a host bind is shared, nosuid,nodev" {
  run m run --rm -v clitvol:/v busybox sh -c 'echo kept > /v/f'
  assert_success
  run m run --rm -v clitvol:/v busybox cat /v/f
  assert_success
  assert_output kept
  run m run --rm -v clitvol:/v busybox grep ' /v ' /proc/mounts
  assert_output --regexp 'nosuid'
  assert_output --regexp 'nodev'
  local d=$BATS_TEST_TMPDIR/d
  mkdir -p "$d"
  # as root the container's root is an id of its own slice, not host root
  chmod 777 "$d"
  echo fromhost > "$d/h"
  run m run --rm -v "$d:/d" busybox sh -c 'cat /d/h; echo inside > /d/f; grep " /d " /proc/mounts'
  assert_success
  assert_line --index 0 fromhost
  assert_line --index 1 --regexp ' /d [a-z0-9]+ rw,([a-z]+,)*nosuid,nodev'
  [ "$(cat "$d/f")" = inside ]
  run m run --rm -v "$d:/d:ro" busybox touch /d/g
  assert_failure 1
  assert_output --partial 'Read-only file system'
  [ ! -e "$d/g" ]
  m volume rm clitvol >/dev/null
}

@test "cli run --mount type=tmpfs: a writable tmpfs at the target" {
  run m run --rm --mount type=tmpfs,target=/x busybox sh -c 'grep " /x " /proc/mounts; touch /x/y && echo ok'
  assert_success
  assert_line --index 0 --regexp '^tmpfs /x tmpfs rw,nosuid,nodev'
  assert_line --index 1 ok
}

@test "cli run -d --name + logs, --tail 1, -t" {
  run m run -d --name lg busybox sh -c 'echo one; echo two; echo three >&2'
  assert_success
  assert_output --regexp '^[0-9a-f]{64}$'
  id=$output
  run m wait lg
  assert_output 0
  m logs lg >"$BATS_TEST_TMPDIR/o" 2>"$BATS_TEST_TMPDIR/e"
  [ "$(cat "$BATS_TEST_TMPDIR/o")" = $'one\ntwo' ]
  [ "$(cat "$BATS_TEST_TMPDIR/e")" = three ]
  run m logs --tail 1 lg
  assert_success
  assert_output three
  run m logs --tail 2 "${id:0:12}"
  assert_output $'two\nthree'
  run m logs -t lg
  assert_success
  [ "${#lines[@]}" -eq 3 ]
  for l in "${lines[@]}"; do
    [[ $l =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{1,9}Z\ (one|two|three)$ ]]
  done
  run m logs nosuch
  assert_failure 1
  assert_output --partial 'No such container: nosuch'
  m rm lg >/dev/null
}

@test "cli logs/attach of a missing container: Docker's 'Error: No such container' line" {
  run m logs nosuch
  assert_failure 1
  assert_output 'Error: No such container: nosuch'
  run m attach nosuch
  assert_failure 1
  assert_output 'Error: No such container: nosuch'
}

@test "cli logs -f: follows and ends when the container stops" {
  m run -d --name fol busybox sh -c 'for i in 1 2 3; do echo l$i; sleep 0.4; done' >/dev/null
  run m logs -f fol
  assert_success
  assert_output $'l1\nl2\nl3'
  run m inspect -f '{{.State.Running}}' fol
  assert_output false
  # a running container stopped from outside also ends the follower
  m run -d --name fol2 busybox sh -c 'echo up; exec sleep 1000' >/dev/null
  m logs -f fol2 > "$BATS_TEST_TMPDIR/f" &
  fpid=$!
  wait_for grep -q up "$BATS_TEST_TMPDIR/f"
  m kill fol2 >/dev/null
  wait "$fpid"
  [ "$(cat "$BATS_TEST_TMPDIR/f")" = up ]
  m rm -f fol fol2 >/dev/null
}

@test "cli exec: exit code, -e, -w, -u, -d, errors" {
  m run -d --name ex busybox sleep 1000 >/dev/null
  run m exec ex sh -c 'exit 4'
  assert_failure 4
  run m exec -e Z=9 -w /tmp -u 1000:1000 ex sh -c 'echo "$Z"; pwd; id -u; id -g'
  assert_success
  assert_output $'9\n/tmp\n1000\n1000'
  run m exec -d ex sh -c 'sleep 0.2; echo done > /tmp/dd'
  assert_success
  assert_output ''
  wait_for m exec ex test -s /tmp/dd
  run m exec ex cat /tmp/dd
  assert_output done
  run sh -c "echo piped | $(MOATCMD) exec -i ex cat"
  assert_output piped
  run -127 m exec ex nosuchcmd
  assert_failure 127
  run m exec nosuch true
  assert_failure 1
  assert_output --partial 'No such container: nosuch'
  m create --name notrun busybox true >/dev/null
  run m exec notrun true
  assert_failure 1
  assert_output --partial 'is not running'
  m rm -f ex notrun >/dev/null
}

@test "cli wait, start -a, create + start" {
  m run -d --name wt busybox sh -c 'sleep 0.3; exit 7' >/dev/null
  run m wait wt
  assert_success
  assert_output 7
  run m wait wt nosuch
  assert_failure 1
  assert_line 7
  assert_line --partial 'No such container: nosuch'
  m create --name sa busybox sh -c 'echo started; echo e >&2; exit 2' >/dev/null
  run m start -a sa
  assert_failure 2
  assert_line started
  assert_line e
  run m create --name cs busybox sh -c 'echo cs-out'
  assert_success
  assert_output --regexp '^[0-9a-f]{64}$'
  run m inspect -f '{{.State.Status}}' cs
  assert_output created
  run m start cs
  assert_success
  assert_output cs
  run m wait cs
  assert_output 0
  run m logs cs
  assert_output cs-out
  m rm wt sa cs >/dev/null
}

@test "cli attach: the output of a running container (timeout-bounded)" {
  m run -d --name at busybox sh -c 'while true; do echo tick; sleep 0.2; done' >/dev/null
  # attach proxies signals by default, and the shell as pid 1 ignores SIGTERM: KILL it
  timeout -s KILL 2 "$MOAT_BIN" -H "unix://$SOCK" attach --no-stdin at > "$BATS_TEST_TMPDIR/a" || true
  n=$(grep -c '^tick$' "$BATS_TEST_TMPDIR/a")
  [ "$n" -ge 3 ]
  [ "$n" -le 15 ]
  run m inspect -f '{{.State.Running}}' at
  assert_output true
  # attach ends with the container's exit code when it stops
  m run -d --name at2 busybox sh -c 'sleep 0.5; echo bye; exit 6' >/dev/null
  run m attach at2
  assert_failure 6
  assert_output bye
  m rm -f at at2 >/dev/null
}

@test "cli run -it: a pty (/dev/pts/0), and ctrl-p ctrl-q detaches leaving it running" {
  command -v script >/dev/null || skip "util-linux script is not installed"
  # script's stdin stays open while the container runs: at EOF, script writes an
  # end-of-file byte into the pty, which the raw-mode CLI would forward (and the
  # container's tty echo as ^@)
  run timeout -s KILL 20 script -qec "$(MOATCMD) run -it --rm busybox tty" /dev/null \
    < <(exec sleep 20 </dev/null 2>/dev/null 3>&-)
  assert_success
  assert_output --regexp '^/dev/pts/0'
  [ -x /usr/bin/python3 ] || skip "python3 is not installed"
  cat > "$BATS_TEST_TMPDIR/detach.py" <<'EOF'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[1], sys.argv[1:])
buf, deadline, sent = b"", time.time() + 15, False
while time.time() < deadline:
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            d = b""
        if not d:  # the pty's other side closed: moat exited
            _, st = os.waitpid(pid, 0)
            sys.stdout.write("exit=%d sent=%s\n" % (os.waitstatus_to_exitcode(st), sent))
            sys.exit(0 if sent else 1)
        buf += d
    if not sent and b"# " in buf:
        os.write(fd, b"\x10")
        time.sleep(0.2)
        os.write(fd, b"\x11")
        sent = True
    if sent:
        w, st = os.waitpid(pid, os.WNOHANG)
        if w:
            sys.stdout.write("exit=%d\n" % os.waitstatus_to_exitcode(st))
            sys.exit(0)
sys.stdout.write("timeout; output: %r\n" % buf)
sys.exit(1)
EOF
  run timeout -s KILL 30 /usr/bin/python3 "$BATS_TEST_TMPDIR/detach.py" "$MOAT_BIN" -H "unix://$SOCK" \
    --data-root "$STORE" run -it --name det busybox sh
  assert_success
  assert_output --partial 'exit=0'
  run m inspect -f '{{.State.Running}}' det
  assert_output true
  run m exec det echo still-here
  assert_output still-here
  m rm -f det >/dev/null
}

@test "cli events --since 0 --until now: create, start, die of a container" {
  m run --name evt busybox true >/dev/null
  run m events --since 0 --until "$(( $(date +%s) + 1 ))" --filter container=evt
  assert_success
  assert_line --regexp '^[0-9T:.-]+Z container create [0-9a-f]{64} \(.*name=evt.*\)$'
  assert_line --regexp '^[0-9T:.-]+Z container start [0-9a-f]{64} \(.*name=evt.*\)$'
  assert_line --regexp '^[0-9T:.-]+Z container die [0-9a-f]{64} \(exitCode=0, .*name=evt.*\)$'
  # in order: create before start before die
  run m events --since 0 --until "$(( $(date +%s) + 1 ))" --filter container=evt --format '{{.Action}}'
  assert_success
  [ "$(grep -E '^(create|start|die)$' <<<"$output" | tr '\n' ' ')" = 'create start die ' ]
  m rm evt >/dev/null
}

@test "cli stats --no-stream: a row for a running container" {
  m run -d --name st busybox sleep 1000 >/dev/null
  run m stats --no-stream st
  assert_success
  assert_line --index 0 --regexp '^CONTAINER ID +NAME +CPU % +MEM USAGE / LIMIT +MEM % +NET I/O +BLOCK I/O +PIDS$'
  assert_line --index 1 --regexp '^[0-9a-f]{12} +st +[0-9.]+% +[0-9.]+[KMG]?i?B / [0-9.]+[KMGT]?i?B +[0-9.]+% .* 1$'
  [ "${#lines[@]}" -eq 2 ]
  m rm -f st >/dev/null
}

@test "cli auto-start: no -H and no daemon, moat run starts the user's moatd for its store" {
  requires_rootless
  local uid sock run
  uid=$(id -u)
  export AUTOSTORE=$BATS_FILE_TMPDIR/autostore
  # a store of its own ($MOAT_ROOT) gets an engine of its own, under the user's run dir
  run=/tmp/moat-$uid/root-$(printf %s "$(realpath -m "$AUTOSTORE")" | sha256sum | cut -c1-16)
  sock=$run/moat.sock
  if [ -S "$sock" ] && curl -s --unix-socket "$sock" http://moat/_ping >/dev/null 2>&1; then
    skip "a moatd already answers on $sock"
  fi
  local had_run=; [ -e "/tmp/moat-$uid" ] && had_run=1
  run env -u HOME -u XDG_RUNTIME_DIR -u MOAT_HOST -u DOCKER_HOST -u XDG_DATA_HOME MOAT_ROOT="$AUTOSTORE" \
    timeout -s KILL 60 "$MOAT_BIN" run --rm busybox echo auto
  apid=$(pgrep -u "$uid" -f "moatd.*--socket $sock" || true)
  local st=$status out=$output
  local logged=0
  grep -qF "serving the Docker API on $sock (store $AUTOSTORE" "$run/moatd.log" && logged=1
  # the store's reset stops its engine and removes the engine's run dir
  MOAT_ROOT=$AUTOSTORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
  local stopped=1
  # (gone: absent, or a zombie that this machine's init has not reaped yet)
  if [ -n "$apid" ] && ! gone "$apid"; then stopped=0; kill $apid; fi
  for _ in $(seq 50); do [ -z "$apid" ] || gone "$apid" && break; sleep 0.1; done
  local run_left=0; [ -e "$run" ] && run_left=1
  [ -n "$had_run" ] || rm -rf "/tmp/moat-$uid"
  [ -n "$apid" ]
  [ "$logged" = 1 ]
  [ "$st" -eq 0 ] || { echo "$out"; false; }
  [ "$out" = auto ] || { echo "$out"; false; }
  [ -d "$AUTOSTORE" ]
  [ "$stopped" = 1 ]
  [ "$run_left" = 0 ]
  [ ! -S "$sock" ] || ! curl -s --unix-socket "$sock" http://moat/_ping >/dev/null 2>&1
}
