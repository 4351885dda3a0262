#!/usr/bin/env bats
# The OCI lifecycle: spec, create, start, state, kill, delete, run, list, exec.

load ../lib/helpers

@test "spec writes a hardened template and refuses to overwrite" {
  run jq -r '.process.noNewPrivileges, (.process.capabilities.bounding|length), .root.readonly,
             ([.linux.namespaces[].type]|sort|join(",")), (.linux.uidMappings[0].hostID > 0)' "$BUNDLE/config.json"
  assert_success
  assert_output "true
0
true
cgroup,ipc,mount,network,pid,user,uts
true"
  run "$RUNTIME" spec --bundle "$BUNDLE"
  assert_failure
  assert_output --partial "exists: remove it first"
}

@test "spec --rootless: the user's own id and ranges; refused as root" {
  b=$BATS_TEST_TMPDIR/rl
  mkdir -p "$b"
  if is_root; then
    run "$RUNTIME" spec --rootless --bundle "$b"
    assert_failure
    assert_equal "${#lines[@]}" 1
    assert_output --partial "spec --rootless as root would map the container's root to host root (uid 0)"
    [ ! -e "$b/config.json" ]
    return 0
  fi
  run "$RUNTIME" spec --rootless --bundle "$b"
  assert_success
  start=$(awk -F: -v u="$(id -un)" '$1 == u {print $2; exit}' /etc/subuid)
  gstart=$(awk -F: -v u="$(id -un)" '$1 == u {print $2; exit}' /etc/subgid)
  run jq -c '.linux.uidMappings, .linux.gidMappings, .linux.resources' "$b/config.json"
  assert_output "[{\"containerID\":0,\"hostID\":$(id -u),\"size\":1},{\"containerID\":1,\"hostID\":$start,\"size\":65535}]
[{\"containerID\":0,\"hostID\":$(id -g),\"size\":1},{\"containerID\":1,\"hostID\":$gstart,\"size\":65535}]
null"
  # and it runs: the container's root is this user
  ln -s "$MOAT_ROOTFS" "$b/rootfs"
  jq '.process.terminal = false | .process.args = ["sh", "-c", "cat /proc/self/uid_map"]' "$b/config.json" > "$b/c" &&
    mv "$b/c" "$b/config.json"
  run rt run --bundle "$b" "$CID"
  assert_success
  assert_line --index 0 --regexp "^ +0 +$(id -u) +1$"
}

@test "run returns the container's exit status" {
  run_ctr sh -c 'exit 7'
  assert_equal "$status" 7
  run_ctr true
  assert_success
  # the container is gone afterwards
  run rt state "$CID"
  assert_failure
  assert_output --partial "does not exist"
}

@test "create, state, start, kill, delete" {
  set_args sh -c 'echo started > /dev/shm/x; sleep 100'
  rt create --bundle "$BUNDLE" --pid-file "$BATS_TEST_TMPDIR/pid" "$CID" > "$BATS_TEST_TMPDIR/out" 2>&1
  run rt state "$CID"
  assert_success
  assert_equal "$(echo "$output" | jq -r .status)" created
  pid=$(echo "$output" | jq -r .pid)
  assert_equal "$pid" "$(cat "$BATS_TEST_TMPDIR/pid")"
  [ -d "/proc/$pid" ]
  # before start, the process is still the runtime, from a sealed copy
  # (CVE-2019-5736), and not dumpable: only host root may look at it
  if is_root; then
    run readlink "/proc/$pid/exe"
    assert_output --partial "memfd:moat-runtime"
  else
    run readlink "/proc/$pid/exe"
    assert_failure
  fi

  rt start "$CID"
  wait_for sh -c "[ \"\$($RUNTIME --root $STATE state $CID | jq -r .status)\" = running ]"
  run rt start "$CID"
  assert_failure
  assert_output --partial "only a created container can be started"

  run rt delete "$CID"
  assert_failure
  assert_output --partial "stop it first or use --force"

  run rt kill "$CID" KILL
  assert_success
  wait_for sh -c "[ \"\$($RUNTIME --root $STATE state $CID | jq -r .status)\" = stopped ]"
  run rt kill "$CID" TERM
  assert_failure
  assert_output --partial "not running"
  run rt delete "$CID"
  assert_success
  [ ! -d "$STATE/$CID" ]
}

@test "delete --force kills a running container" {
  set_args sleep 100
  detached
  pid=$(rt state "$CID" | jq -r .pid)
  run rt delete --force "$CID"
  assert_success
  gone "$pid"
}

@test "kill accepts signal names and numbers; list shows containers" {
  set_args sleep 100
  detached
  run rt list
  assert_success
  assert_output --partial "$CID"
  run rt list --format json
  assert_equal "$(echo "$output" | jq -r '.[0].status')" running
  run rt kill "$CID" SIGNOPE
  assert_failure
  assert_output --partial "unknown signal"
  run rt kill "$CID" 9
  assert_success
}

@test "duplicate ids, bad ids and unknown ids are clear errors" {
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$CID" > /dev/null 2>&1
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output "moat-runtime: create container '$CID': container '$CID' already exists"
  run rt create --bundle "$BUNDLE" "../evil"
  assert_failure
  assert_output --partial "invalid container id"
  run rt state nosuch
  assert_failure
  assert_output --partial "container 'nosuch' does not exist"
}

@test "an invalid config.json gives one line and no crash" {
  echo '{"ociVersion": "1.0.2", "process": {"cwd": 5}}' > "$BUNDLE/config.json"
  run rt run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_equal "${#lines[@]}" 1
  assert_output --partial "/process/cwd: expected a string, got an integer"
  echo '{"ociVersion": "1.0.2", ' > "$BUNDLE/config.json"
  run rt run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial "config.json: unexpected end of input"
  [ ! -d "$STATE/$CID" ]
}

@test "unknown config fields are ignored" {
  cfg '.futureField = {"x": [1,2]} | .process.futureToo = true | .linux.alsoNew = "y"'
  run_ctr true
  assert_success
}

@test "a missing executable is reported by create" {
  set_args /no/such/binary
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial "exec '/no/such/binary': No such file or directory"
  set_args nosuchcmd
  run rt run --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial 'executable file not found in $PATH'
}

@test "exec runs in the container's namespaces with the container's restrictions" {
  set_args sleep 100
  detached
  run rt exec "$CID" sh -c 'echo $$; hostname; grep -E "^(CapEff|NoNewPrivs)" /proc/self/status'
  assert_success
  assert_line --index 1 moat
  assert_line --partial "CapEff:	0000000000000000"
  assert_line --partial "NoNewPrivs:	1"
  run rt exec --env FOO=bar --cwd /tmp "$CID" sh -c 'echo $FOO; pwd'
  assert_output "bar
/tmp"
  run rt exec "$CID" sh -c 'exit 3'
  assert_equal "$status" 3
  run rt exec "$CID" ps -o pid,comm
  assert_output --partial "sleep"
  # the exec'd process sees the container's pid namespace: pid 1 is sleep
  run rt exec "$CID" cat /proc/1/cmdline
  assert_output --partial sleep
  run rt exec "$CID" /nonexistent
  assert_failure
  assert_output --partial "No such file or directory"
}

@test "exec --process FILE and --detach with a pid file" {
  set_args sleep 100
  detached
  echo '{"args":["sh","-c","echo from-process-file > /dev/shm/out"],"cwd":"/","env":["PATH=/bin"],
         "user":{"uid":0,"gid":0},"noNewPrivileges":true}' > "$BATS_TEST_TMPDIR/p.json"
  run rt exec --process "$BATS_TEST_TMPDIR/p.json" "$CID"
  assert_success
  run rt exec "$CID" cat /dev/shm/out
  assert_output from-process-file
  rt exec --detach --pid-file "$BATS_TEST_TMPDIR/epid" "$CID" sleep 50 > /dev/null 2>&1
  [ -s "$BATS_TEST_TMPDIR/epid" ]
  kill -0 "$(cat "$BATS_TEST_TMPDIR/epid")"
  # a detached exec outlives the runtime that started it
  sleep 0.3
  ! gone "$(cat "$BATS_TEST_TMPDIR/epid")"
}

@test "run and exec hand their stdin to the container" {
  set_args sh -c 'read line; echo "got $line"'
  run sh -c "echo piped | $RUNTIME --root $STATE run --bundle $BUNDLE $CID"
  assert_success
  assert_output "got piped"
  set_args sleep 100
  detached
  run sh -c "echo to-exec | $RUNTIME --root $STATE exec $CID cat"
  assert_success
  assert_output to-exec
}

@test "exec into a stopped container fails clearly" {
  set_args true
  rt create --bundle "$BUNDLE" "$CID" > /dev/null 2>&1
  rt start "$CID"
  wait_for sh -c "[ \"\$($RUNTIME --root $STATE state $CID | jq -r .status)\" = stopped ]"
  run rt exec "$CID" true
  assert_failure
  assert_output --partial "is not running"
}

@test "features describes the runtime" {
  run "$RUNTIME" features
  assert_success
  assert_equal "$(echo "$output" | jq -r '.linux.namespaces | index("user") != null')" true
  assert_equal "$(echo "$output" | jq -r '.linux.seccomp.enabled')" true
  run "$RUNTIME" --version
  assert_output --partial "moat-runtime version"
}

@test "state directory: private, and a safe fallback without XDG_RUNTIME_DIR" {
  requires_rootless
  unset XDG_RUNTIME_DIR
  set_args sleep 100
  "$RUNTIME" run --detach --bundle "$BUNDLE" "$CID" > /dev/null 2>&1
  d=/tmp/moat-runtime-$(id -u)
  [ -d "$d/$CID" ]
  run stat -c %a "$d"
  assert_output 700
  "$RUNTIME" delete --force "$CID"
}

@test "a state root owned by someone else is refused" {
  requires_root
  mkdir -p "$BATS_TEST_TMPDIR/other"
  chown 12345 "$BATS_TEST_TMPDIR/other"
  run "$RUNTIME" --root "$BATS_TEST_TMPDIR/other" list
  assert_failure
  assert_output --partial "not by us"
}

@test "hooks run in order with the state on stdin" {
  # createContainer runs in the container's user namespace: it must be able to
  # reach the hook and the log as the container's (unprivileged) root
  hd=$(mktemp -d /tmp/moat-hooks-XXXXXX)
  chmod 755 "$hd"
  log=$hd/hooks.log
  : > "$log"; chmod 666 "$log"
  for h in prestart createRuntime createContainer startContainer poststart poststop; do
    printf '#!/bin/sh\nread -r state\necho "%s $(echo "$state" | sed -n "s/.*\\"id\\":\\"\\([^\\"]*\\)\\".*/\\1/p")" >> %s\n' "$h" "$log" > "$hd/$h.sh"
    chmod 755 "$hd/$h.sh"
  done
  # startContainer runs inside the container: the hook directory is bound at
  # /home there, and the hook keeps the whole state it was given
  : > "$hd/start.json"; chmod 666 "$hd/start.json"
  printf '#!/bin/sh\ncat > /home/start.json\necho startContainer >> /home/hooks.log\n' > "$hd/startContainer.sh"
  chmod 755 "$hd/startContainer.sh"
  cfg --arg d "$hd" '.hooks = {
      "prestart": [{"path": ($d + "/prestart.sh")}],
      "createRuntime": [{"path": ($d + "/createRuntime.sh")}],
      "createContainer": [{"path": ($d + "/createContainer.sh")}],
      "startContainer": [{"path": "/home/startContainer.sh"}],
      "poststart": [{"path": ($d + "/poststart.sh")}],
      "poststop": [{"path": ($d + "/poststop.sh")}]}
    | .mounts += [{"destination": "/home", "type": "bind", "source": $d, "options": ["rbind", "rw"]}]'
  run_ctr true
  assert_success
  run cat "$log"
  assert_output "prestart $CID
createRuntime $CID
createContainer $CID
startContainer
poststart $CID
poststop $CID"
  # the OCI state, with the pid as seen in the container (pid 1 of its namespace)
  run jq -r '.ociVersion != null, .id, .status, .pid, .bundle' "$hd/start.json"
  assert_success
  assert_output "true
$CID
created
1
$(realpath "$BUNDLE")"
  rm -rf "$hd"
}

@test "startContainer hooks get the state with create and start too" {
  hd=$(mktemp -d /tmp/moat-hooks-XXXXXX)
  chmod 755 "$hd"
  : > "$hd/start.json"; chmod 666 "$hd/start.json"
  printf '#!/bin/sh\ncat > /home/start.json\n' > "$hd/hook.sh"
  chmod 755 "$hd/hook.sh"
  cfg --arg d "$hd" '.hooks = {"startContainer": [{"path": "/home/hook.sh"}]}
    | .mounts += [{"destination": "/home", "type": "bind", "source": $d, "options": ["rbind", "rw"]}]
    | .annotations = {"org.example.k": "v"}'
  set_args sleep 100
  rt create --bundle "$BUNDLE" "$CID" < /dev/null > /dev/null 2>&1
  # nothing before start
  [ ! -s "$hd/start.json" ]
  rt start "$CID"
  wait_for jq -e .id "$hd/start.json" > /dev/null
  run jq -r '.id, .status, .pid, .annotations["org.example.k"]' "$hd/start.json"
  assert_output "$CID
created
1
v"
  rm -rf "$hd"
}

@test "a failing createRuntime hook aborts creation" {
  cfg '.hooks = {"createRuntime": [{"path": "/bin/false"}]}'
  run_ctr true
  assert_failure
  assert_output --partial "createRuntime hook 0: hook '/bin/false' failed with exit status 1"
  [ ! -d "$STATE/$CID" ]
}

@test "a hook that hangs is killed at its timeout" {
  cfg '.hooks = {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}'
  run_ctr true
  assert_failure
  assert_output --partial "timed out after 1 s"
}

@test "terminal: the pty master goes to the console socket" {
  cfg '.process.terminal = true'
  set_args sh -c 'tty; [ -t 0 ] && echo stdin-is-a-tty; ls -l /dev/console | cut -c1'
  sock=$BATS_TEST_TMPDIR/console.sock
  "$MOAT_BUILD/tests/helpers/recvtty" "$sock" > "$BATS_TEST_TMPDIR/tty.out" &
  rpid=$!
  wait_for test -S "$sock"
  run rt run --console-socket "$sock" --bundle "$BUNDLE" "$CID"
  assert_success
  wait "$rpid" || true
  run cat "$BATS_TEST_TMPDIR/tty.out"
  assert_output --partial "/dev/pts/0"
  assert_output --partial "stdin-is-a-tty"
  assert_output --partial "c"
}

@test "create with a terminal and no console socket is refused" {
  cfg '.process.terminal = true'
  run rt create --bundle "$BUNDLE" "$CID"
  assert_failure
  assert_output --partial "needs --console-socket"
}

@test "run with a terminal and no console socket: the runtime holds the pty" {
  command -v script >/dev/null || skip "script(1) from bsdutils is needed to give the runtime a terminal"
  cfg '.process.terminal = true'
  set_args sh -c 'tty; stty size'
  # script gives the runtime a real terminal on stdin/stdout
  run script -qec "stty rows 33 cols 77; $RUNTIME --root $STATE run --bundle $BUNDLE $CID" /dev/null
  assert_success
  assert_output --partial "/dev/pts/0"
  assert_output --partial "33 77"
}

@test "exec --tty sends the pty to the console socket" {
  set_args sleep 100
  detached
  sock=$BATS_TEST_TMPDIR/exec.sock
  "$MOAT_BUILD/tests/helpers/recvtty" "$sock" > "$BATS_TEST_TMPDIR/tty.out" &
  rpid=$!
  wait_for test -S "$sock"
  run rt exec --tty --console-socket "$sock" "$CID" sh -c '[ -t 1 ] && echo exec-has-a-tty'
  assert_success
  wait "$rpid" || true
  run cat "$BATS_TEST_TMPDIR/tty.out"
  assert_output --partial exec-has-a-tty
}

@test "exec --tty --detach without a console socket is refused" {
  set_args sleep 100
  detached
  run rt exec --tty --detach "$CID" true
  assert_failure
  assert_output --partial "needs --console-socket"
}

@test "compiled seccomp programs are cached privately in the state root" {
  run_ctr true
  assert_success
  [ "$(stat -c %a "$STATE/.seccomp-cache")" = 700 ]
  run find "$STATE/.seccomp-cache" -type f -name '*.bpf' -perm 600
  assert_equal "${#lines[@]}" 1
  # a second container with the same section hits it: still one file; exec too
  set_args sleep 100
  detached
  run rt exec "$CID" true
  assert_success
  run find "$STATE/.seccomp-cache" -type f -name '*.bpf'
  assert_equal "${#lines[@]}" 1
  # the cache never shows up as a container
  run rt list -q
  assert_output "$CID"
  # --no-seccomp-cache: compiled, nothing written
  rm -rf "$STATE/.seccomp-cache"
  run rt --no-seccomp-cache exec "$CID" true
  assert_success
  [ ! -e "$STATE/.seccomp-cache" ]
}
