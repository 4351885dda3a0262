#!/usr/bin/env bats
# moat-monitor (include/moat/monitor.h): daemonising, exit files, json-file
# logs and rotation, the attach socket (output, stdin, CLOSE_STDIN, resize),
# tty and exec modes, surviving its parent, runtime failures.

load ../lib/helpers

MON=$MOAT_BUILD/bin/moat-monitor

setup_file() {
  # monattach is a test tool (tests/tools/monattach.c, only the contract
  # header); until the GNUmakefile builds it (TOOL_HELPERS), compile it here.
  if [ -x "$MOAT_BUILD/tests/helpers/monattach" ]; then
    export ATTACH=$MOAT_BUILD/tests/helpers/monattach
  else
    local src=$BATS_TEST_DIRNAME/../..
    export ATTACH=$BATS_FILE_TMPDIR/monattach
    cc -std=gnu11 -O2 -Wall -Wextra -Werror -Wmissing-prototypes -Wstrict-prototypes -D_GNU_SOURCE \
      -I"$src/include" -o "$ATTACH" "$src/tests/tools/monattach.c"
  fi
}

setup() {
  [ -x "$MON" ] || skip "moat-monitor is not built"
  new_bundle
  # a short directory: unix socket paths are limited to 108 bytes
  RUN=$(mktemp -d /tmp/moat-mon.XXXXXX)
  LOG=$RUN/container.log
  EXIT=$RUN/exit.json
}

teardown() {
  delete_all
  local mp
  for f in "$RUN"/run*/monitor.pid; do
    [ -f "$f" ] && mp=$(cat "$f" 2>/dev/null) && kill -9 "$mp" 2>/dev/null
  done
  [ -n "${HOLDER:-}" ] && kill -9 "$HOLDER" 2>/dev/null
  rm -rf "$RUN"
}

# mon [ARGS...]: start a monitor for $CID (container mode unless --exec is
# given); its sync line lands in $RUN/sync.  Returns once the line is there.
mon() {
  local rd=${RUNDIR:-$RUN/run}
  "$MON" --id "$CID" --runtime "$RUNTIME" --runtime-root "$STATE" --run-dir "$rd" \
    --log-file "${MLOG:-$LOG}" --exit-file "${MEXIT:-$EXIT}" "$@" --sync-fd 5 5>"$RUN/sync"
  wait_for test -s "$RUN/sync"
}

# wait_exit [FILE]: wait up to 15 s for an exit file.
wait_exit() {
  local i f=${1:-$EXIT}
  for i in $(seq 150); do [ -s "$f" ] && return 0; sleep 0.1; done
  return 1
}

monpid() { cat "${RUNDIR:-$RUN/run}/monitor.pid"; }
alive() { [ -e "/proc/$1/stat" ] && ! gone "$1"; }

@test "exit codes 0 and 3 land in the exit file; the run dir is cleaned up" {
  set_args sh -c 'exit 3'
  mon --bundle "$BUNDLE"
  run jq -r '.pid > 0, .monitor > 0' "$RUN/sync"
  assert_output "true
true"
  mp=$(jq -r .monitor "$RUN/sync")
  assert_equal "$mp" "$(monpid)"
  # daemonised: not our child, not in our session
  [ "$(awk '{print $4}' /proc/$mp/stat)" != "$$" ]
  [ "$(awk '{print $6}' /proc/$mp/stat)" != "$(awk '{print $6}' /proc/$$/stat)" ]
  [ -S "$RUN/run/attach.sock" ]
  assert_equal "$(stat -c %a "$RUN/run/attach.sock")" 600
  assert_equal "$(rt state "$CID" | jq -r .status)" created
  rt start "$CID"
  wait_exit
  run jq -r '.ExitCode, .Signal, .OOMKilled, .Error, (.FinishedAt | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{9}Z$"))' "$EXIT"
  assert_output "3
0
false

true"
  wait_for gone "$mp"
  # the monitor deleted the container and its sockets and pid files
  run rt state "$CID"
  assert_failure
  [ ! -e "$RUN/run/attach.sock" ] && [ ! -e "$RUN/run/pid" ] && [ ! -e "$RUN/run/monitor.pid" ]

  rm -f "$EXIT" "$RUN/sync"
  set_args true
  mon --bundle "$BUNDLE"
  rt start "$CID"
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
}

@test "a signal-killed container: ExitCode 128+N and Signal N; SIGTERM to the monitor is ignored" {
  set_args sleep 100
  mon --bundle "$BUNDLE"
  mp=$(monpid)
  rt start "$CID"
  kill -TERM "$mp"
  kill -HUP "$mp"
  sleep 0.3
  alive "$mp"
  assert_equal "$(rt state "$CID" | jq -r .status)" running
  rt kill "$CID" KILL
  wait_exit
  run jq -c '[.ExitCode, .Signal]' "$EXIT"
  assert_output "[137,9]"
}

@test "stdout and stderr go to the json-file log with their stream" {
  set_args sh -c 'echo out; echo "err \"quoted\"" >&2; printf "tab\there\n"; printf partial'
  mon --bundle "$BUNDLE"
  rt start "$CID"
  wait_exit
  # every line is one valid JSON object
  run jq -e -c 'select((.log|type) == "string" and (.time | test("^[0-9-]{10}T[0-9:]{8}\\.[0-9]{9}Z$")) | not)' "$LOG"
  assert_output ""
  run jq -c '[.stream, .log]' "$LOG"
  assert_line '["stdout","out\n"]'
  assert_line '["stderr","err \"quoted\"\n"]'
  assert_line '["stdout","tab\there\n"]'
  # a partial last line is written at EOF, without a newline
  assert_line '["stdout","partial"]'
  assert_equal "$(wc -l < "$LOG")" 4
}

@test "a long line is cut into 16 KiB entries; invalid UTF-8 becomes U+FFFD" {
  set_args sh -c 'head -c 40000 /dev/zero | tr "\0" a; echo; printf "\377bad\n"'
  mon --bundle "$BUNDLE"
  rt start "$CID"
  wait_exit
  run jq -r '.log | length' "$LOG"
  assert_output "16384
16384
7233
5"
  run jq -r 'select(.log | test("bad")) | .log' "$LOG"
  assert_output "$(printf '\357\277\275bad')"
}

@test "the log rotates at --log-max-size, keeping --log-max-files files" {
  set_args sh -c 'i=1; while [ $i -le 60 ]; do echo "line $i"; i=$((i+1)); done'
  mon --bundle "$BUNDLE" --log-max-size 300 --log-max-files 3
  rt start "$CID"
  wait_exit
  [ -f "$LOG" ] && [ -f "$LOG.1" ] && [ -f "$LOG.2" ] && [ ! -e "$LOG.3" ]
  for f in "$LOG" "$LOG.1" "$LOG.2"; do
    jq -e . "$f" > /dev/null
    # a file is rotated once it reached the size: at most one entry over it
    [ "$(stat -c %s "$f")" -lt 400 ]
  done
  # the newest entries are in container.log, the older ones in .1, .2; the oldest are gone
  run jq -r .log "$LOG"
  assert_line "line 60"
  n1=$(jq -r '.log | ltrimstr("line ") | tonumber' "$LOG.1" | tail -1)
  n0=$(jq -r '.log | ltrimstr("line ") | tonumber' "$LOG" | head -1)
  assert_equal "$((n1 + 1))" "$n0"
  run jq -r .log "$LOG.2"
  refute_line "line 1"
}

@test "attach: a client gets the output and sends stdin; CLOSE_STDIN ends cat" {
  set_args cat
  mon --bundle "$BUNDLE" --stdin
  rt start "$CID"
  run bash -c "printf 'hello\nworld\n' | timeout 10 $ATTACH $RUN/run/attach.sock --stdin 2>$RUN/attach.err"
  assert_success
  assert_output "hello
world"
  run cat "$RUN/attach.err"
  assert_output 'exit: {"ExitCode":0}'
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
  run jq -j .log "$LOG"
  assert_output "hello
world"
}

@test "attach: several clients at once; CLOSE_STDIN waits for the other stdin holder" {
  set_args sh -c 'cat; echo cat-done'
  mon --bundle "$BUNDLE" --stdin
  rt start "$CID"
  # client A sends a line and keeps stdin held (never sends CLOSE_STDIN)
  (echo from-a; sleep 30) | "$ATTACH" "$RUN/run/attach.sock" --stdin --no-close > "$RUN/a.out" 2>&1 &
  HOLDER=$!
  wait_for grep -q from-a "$RUN/a.out"
  # client B only closes: A still holds stdin, so cat keeps running
  timeout 10 "$ATTACH" "$RUN/run/attach.sock" --stdin < /dev/null > "$RUN/b.out" 2>&1 &
  bpid=$!
  sleep 0.5
  assert_equal "$(rt state "$CID" | jq -r .status)" running
  # A leaves: it held stdin, B asks again -> closed
  kill "$HOLDER"
  HOLDER=
  sleep 0.2
  run bash -c "timeout 10 $ATTACH $RUN/run/attach.sock --stdin < /dev/null 2>/dev/null"
  assert_success
  assert_output "cat-done"
  wait "$bpid"
  grep -q cat-done "$RUN/b.out"
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
}

@test "--stdin-once: the attached client's disconnect closes stdin" {
  set_args sh -c 'cat; echo eof-seen'
  mon --bundle "$BUNDLE" --stdin --stdin-once
  rt start "$CID"
  (echo once; sleep 30) | timeout 1 "$ATTACH" "$RUN/run/attach.sock" --stdin --no-close > "$RUN/a.out" 2>&1 || true
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
  run jq -j .log "$LOG"
  assert_output "once
eof-seen"
}

@test "a client that doesn't read is disconnected; the container is never blocked" {
  # 12 MB in 1000-byte lines: more than a client may have queued (MOAT_MON_CLIENT_MAX, 8 MiB)
  set_args sh -c 'yes "$(head -c 999 /dev/zero | tr "\0" a)" | head -c 12000000; echo finished'
  mon --bundle "$BUNDLE" --log-max-size 1000000 --log-max-files 2
  "$ATTACH" "$RUN/run/attach.sock" --idle &
  HOLDER=$!
  sleep 0.2
  rt start "$CID"
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
  run jq -r .log "$LOG"
  assert_line finished
}

@test "tty mode: the pty comes over the console socket; output, input and resize work" {
  cfg '.process.terminal = true'
  set_args sh -c 'sleep 0.5; tty; stty size; read x; echo "got $x"'
  mon --bundle "$BUNDLE" --tty --stdin
  [ ! -e "$RUN/run/console.sock" ]
  rt start "$CID"
  run bash -c "(sleep 1.5; echo typed) | timeout 10 $ATTACH $RUN/run/attach.sock --stdin --no-close --resize 33 77"
  assert_success
  assert_line --partial "/dev/pts/0"
  assert_line --partial "33 77"
  assert_line --partial "got typed"
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 0
  # one stream with a tty; the terminal's \r\n is kept as Docker does
  run jq -r .stream "$LOG"
  refute_line stderr
  run jq -r .log "$LOG"
  assert_line $'/dev/pts/0\r'
}

@test "exec mode: START runs a second process in the running container" {
  set_args sleep 100
  mon --bundle "$BUNDLE"
  rt start "$CID"
  cmon=$(monpid)
  jq '.process | .args = ["sh", "-c", "echo in-exec; cat /proc/1/cmdline | tr \"\\0\" \" \"; echo; exit 4"]' \
    "$BUNDLE/config.json" > "$RUN/proc.json"
  RUNDIR=$RUN/run-exec MLOG=$RUN/exec.log MEXIT=$RUN/exec-exit.json mon --exec "$RUN/proc.json"
  run jq -c . "$RUN/sync"
  assert_output --partial '{"pid":0,'
  [ -S "$RUN/run-exec/attach.sock" ]
  run bash -c "timeout 10 $ATTACH $RUN/run-exec/attach.sock --start 2>/dev/null"
  assert_success
  assert_line in-exec
  assert_line "sleep 100 "
  wait_exit "$RUN/exec-exit.json"
  run jq -c '[.ExitCode, .Signal, .Error]' "$RUN/exec-exit.json"
  assert_output '[4,0,""]'
  run jq -r .log "$RUN/exec.log"
  assert_line in-exec
  # the exec monitor leaves the container alone
  assert_equal "$(rt state "$CID" | jq -r .status)" running
  alive "$cmon"

  # a process that cannot run: the runtime's message is the Error
  rm -f "$RUN/exec-exit.json"
  jq '.process | .args = ["/no/such/binary"]' "$BUNDLE/config.json" > "$RUN/proc2.json"
  RUNDIR=$RUN/run-exec MLOG=$RUN/exec.log MEXIT=$RUN/exec-exit.json mon --exec "$RUN/proc2.json"
  timeout 10 "$ATTACH" "$RUN/run-exec/attach.sock" --start > /dev/null 2>&1 || true
  wait_exit "$RUN/exec-exit.json"
  run jq -r '.ExitCode != 0, .Error' "$RUN/exec-exit.json"
  assert_line true
  assert_line --partial "/no/such/binary"
}

@test "exec mode with a tty: a RESIZE sent before START applies to the new terminal" {
  set_args sleep 100
  mon --bundle "$BUNDLE"
  rt start "$CID"
  jq '.process | .terminal = true | .args = ["sh", "-c", "tty; stty size; exit 2"]' "$BUNDLE/config.json" > "$RUN/proc.json"
  RUNDIR=$RUN/run-exec MLOG=$RUN/exec.log MEXIT=$RUN/exec-exit.json mon --exec "$RUN/proc.json" --tty
  run bash -c "timeout 10 $ATTACH $RUN/run-exec/attach.sock --resize 20 30 --start 2>/dev/null"
  assert_success
  assert_line --partial /dev/pts/
  assert_line --partial "20 30"
  wait_exit "$RUN/exec-exit.json"
  assert_equal "$(jq -r .ExitCode "$RUN/exec-exit.json")" 2
  [ ! -e "$RUN/run-exec/console.sock" ]
}

@test "the monitor survives its parent being killed; the container exits later with the file written" {
  set_args sh -c 'sleep 1.5; exit 5'
  setsid bash -c '"$0" --id "$1" --runtime "$2" --runtime-root "$3" --run-dir "$4/run" --log-file "$4/container.log" \
      --exit-file "$4/exit.json" --bundle "$5" --sync-fd 5 5>"$4/sync"; exec sleep 100' \
      "$MON" "$CID" "$RUNTIME" "$STATE" "$RUN" "$BUNDLE" < /dev/null > /dev/null 2>&1 &
  parent=$!
  wait_for test -s "$RUN/sync"
  mp=$(monpid)
  kill -9 "$parent"
  wait "$parent" || true
  rt start "$CID"
  sleep 0.3
  alive "$mp"
  wait_exit
  assert_equal "$(jq -r .ExitCode "$EXIT")" 5
}

@test "a runtime failure (bad bundle) gives an error line on the sync fd" {
  mkdir -p "$RUN/bad"
  echo '{' > "$RUN/bad/config.json"
  mon --bundle "$RUN/bad"
  run jq -r '.error, (.monitor > 0), has("pid")' "$RUN/sync"
  assert_line --partial "config.json"
  assert_line true
  assert_line false
  mp=$(jq -r .monitor "$RUN/sync")
  wait_for gone "$mp"
  [ ! -e "$EXIT" ] && [ ! -e "$RUN/run/attach.sock" ]
  # bad usage is reported on stderr before daemonising
  run "$MON" --id x
  assert_failure
  assert_output --partial "required"
}

@test "the monitor stays small (VmRSS < 1 MiB, the issue's target)" {
  grep -qa __asan_init "$MON" && skip "a sanitizer build is not small"
  set_args sleep 100
  mon --bundle "$BUNDLE"
  rt start "$CID"
  mp=$(monpid)
  sleep 0.2
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$mp/status)
  anon=$(awk '/^RssAnon/ {print $2}' /proc/$mp/status)
  echo "# moat-monitor VmRSS ${rss} kB, RssAnon ${anon} kB" >&3
  [ "$anon" -lt 1024 ]
  [ "$rss" -lt 1024 ] || { echo "moat-monitor VmRSS ${rss} kB: not under 1 MiB" >&2; false; }
  rt kill "$CID" KILL
  wait_exit
}
