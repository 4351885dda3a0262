#!/usr/bin/env bats
# The engine (moatd) through its Docker API, with curl on the unix socket:
# create/start/wait/logs/attach/exec/stop/kill/rm, state across an engine
# restart (kill -9), names and ID prefixes, volumes, errors.  Root and
# rootless lanes; each file runs its own moatd on a private store.
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  start_moatd
}

start_moatd() { engine_start; }

teardown_file() {
  for id in $(api GET '/containers/json?all=1' | jq -r '.[].Id' 2>/dev/null); do
    api DELETE "/containers/$id?force=1&v=1" >/dev/null || true
  done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

setup() { :; }
teardown() { :; }

# api METHOD PATH [BODY]: the response body; the status goes to $ENG/status.
api() {
  local m=$1 p=$2 b=${3:-}
  if [ -n "$b" ]; then
    curl -sS --unix-socket "$SOCK" -X "$m" -H 'Content-Type: application/json' -d "$b" \
      -o "$ENG/body" -w '%{http_code}' "http://moat/v1.41$p" > "$ENG/status"
  else
    curl -sS --unix-socket "$SOCK" -X "$m" -o "$ENG/body" -w '%{http_code}' "http://moat/v1.41$p" > "$ENG/status"
  fi
  cat "$ENG/body"
}
code() { cat "$ENG/status"; }

# create BODY [NAME]: prints the new container's ID.
create() {
  local q=""
  [ -n "${2:-}" ] && q="?name=$2"
  api POST "/containers/create$q" "$1" | jq -r .Id
}

# logs ID: stdout+stderr, demultiplexed by stripping Docker's 8-byte headers.
raw_logs() { curl -sS --unix-socket "$SOCK" "http://moat/v1.41/containers/$1/logs?stdout=1&stderr=1${2:-}"; }

@test "engine: _ping, version and info answer like dockerd" {
  run curl -sS -I --unix-socket "$SOCK" http://moat/_ping
  assert_success
  assert_output --partial "API-Version: 1.41"
  assert_output --partial "OSType: linux"
  run api GET /version
  [ "$(jq -r .ApiVersion <<<"$output")" = 1.41 ]
  run curl -sS --unix-socket "$SOCK" http://moat/v1.99/version
  assert_output --partial "is too new"
}

@test "engine: run busybox echo: create, wait (headers first), start, exit code, logs" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","echo out; echo err >&2; exit 3"]}' echo1)
  [ "$(code)" = 201 ]
  [ ${#id} -eq 64 ]
  # wait must send its headers before the container even starts (trap T1)
  curl -sS -N --unix-socket "$SOCK" -X POST -D "$ENG/wait.h" \
    "http://moat/v1.41/containers/$id/wait?condition=next-exit" > "$ENG/wait.out" &
  wpid=$!
  wait_for grep -q '200' "$ENG/wait.h"
  api POST "/containers/$id/start" >/dev/null
  [ "$(code)" = 204 ]
  wait "$wpid"
  run jq -r .StatusCode "$ENG/wait.out"
  assert_output 3
  run api GET "/containers/echo1/json"
  [ "$(jq -r .State.Status <<<"$output")" = exited ]
  [ "$(jq -r .State.ExitCode <<<"$output")" = 3 ]
  [ "$(jq -r .HostConfig.LogConfig.Type <<<"$output")" = json-file ]
  [ "$(jq -r .Name <<<"$output")" = /echo1 ]
  # logs: multiplexed frames; stdout is stream 1, stderr 2
  raw_logs "$id" > "$ENG/logs.bin"
  run od -An -tx1 -N1 "$ENG/logs.bin"
  assert_output --partial 01
  run sh -c "tr -d '\000-\010' < '$ENG/logs.bin'"
  assert_output --partial out
  assert_output --partial err
  curl -sS --unix-socket "$SOCK" "http://moat/v1.41/containers/$id/logs?stderr=1" | grep -qa err
  ! curl -sS --unix-socket "$SOCK" "http://moat/v1.41/containers/$id/logs?stderr=1" | grep -qa out
  api DELETE "/containers/$id" >/dev/null
  [ "$(code)" = 204 ]
}

@test "engine: the container is hardened: userns, no capabilities beyond the default set, seccomp, nnp" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","grep -E \"^(CapEff|NoNewPrivs|Seccomp):\" /proc/self/status; cat /proc/self/uid_map"]}')
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  out=$(raw_logs "$id" | tr -d '\000-\010')
  [[ "$out" == *"NoNewPrivs:"*1* ]]
  [[ "$out" == *"Seccomp:"*2* ]]
  # uid 0 inside is never host root
  map=$(grep -E '^ *0 ' <<<"$out" | awk '{print $2}')
  [ -n "$map" ] && [ "$map" != 0 ]
  if is_root; then
    # CHOWN DAC_OVERRIDE FOWNER FSETID KILL SETUID SETGID NET_BIND_SERVICE = 0x4fb
    [[ "$out" == *"CapEff:"*00000000000004fb* ]]
  fi
  api DELETE "/containers/$id" >/dev/null
}

@test "engine: names, ID prefixes, 404 and 409 with Docker's messages" {
  id=$(create '{"Image":"busybox","Cmd":["true"]}' named1)
  run api POST "/containers/create?name=named1" '{"Image":"busybox","Cmd":["true"]}'
  [ "$(code)" = 409 ]
  assert_output --partial 'is already in use by container'
  run api GET "/containers/${id:0:12}/json"
  [ "$(jq -r .Id <<<"$output")" = "$id" ]
  run api GET "/containers/nosuchthing/json"
  [ "$(code)" = 404 ]
  assert_output --partial 'No such container: nosuchthing'
  run api POST "/containers/create" '{"Image":"nosuchimage:1"}'
  [ "$(code)" = 404 ]
  assert_output --partial 'No such image'
  run api POST "/containers/create" '{"Image":"busybox","Cmd":"notalist'
  [ "$(code)" = 400 ]
  api POST "/containers/named1/rename?name=named2" >/dev/null
  [ "$(code)" = 204 ]
  run api GET "/containers/json?all=1&filters=%7B%22name%22%3A%5B%22named2%22%5D%7D"
  [ "$(jq -r '.[0].Names[0]' <<<"$output")" = /named2 ]
  api DELETE "/containers/named2" >/dev/null
}

@test "engine: detached run, ps, stop with SIGTERM, rm of a running container needs force" {
  id=$(create '{"Image":"busybox","Cmd":["sleep","1000"]}' sleeper)
  api POST "/containers/$id/start" >/dev/null
  run api GET "/containers/json"
  [ "$(jq -r '.[0].State' <<<"$output")" = running ]
  [[ "$(jq -r '.[0].Status' <<<"$output")" == Up* ]]
  run api DELETE "/containers/$id"
  [ "$(code)" = 409 ]
  api POST "/containers/$id/stop?t=5" >/dev/null
  [ "$(code)" = 204 ]
  run api GET "/containers/$id/json"
  [ "$(jq -r .State.Status <<<"$output")" = exited ]
  # sleep as pid 1 ignores SIGTERM: stop ends it with SIGKILL after the timeout
  [ "$(jq -r .State.ExitCode <<<"$output")" = 137 ]
  api POST "/containers/$id/stop" >/dev/null
  [ "$(code)" = 304 ]
  api DELETE "/containers/$id" >/dev/null
  [ "$(code)" = 204 ]
}

@test "engine: rm -f kills and removes; --rm (AutoRemove) removes after the exit" {
  id=$(create '{"Image":"busybox","Cmd":["sleep","1000"]}')
  api POST "/containers/$id/start" >/dev/null
  api DELETE "/containers/$id?force=1" >/dev/null
  [ "$(code)" = 204 ]
  api GET "/containers/$id/json" >/dev/null
  [ "$(code)" = 404 ]
  id=$(create '{"Image":"busybox","Cmd":["true"],"HostConfig":{"AutoRemove":true}}')
  curl -sS -N --unix-socket "$SOCK" -X POST "http://moat/v1.41/containers/$id/wait?condition=removed" > "$ENG/w" &
  wpid=$!
  sleep 0.2
  api POST "/containers/$id/start" >/dev/null
  wait "$wpid"
  [ "$(jq -r .StatusCode "$ENG/w")" = 0 ]
  api GET "/containers/$id/json" >/dev/null
  [ "$(code)" = 404 ]
}

@test "engine: logs follow of an AutoRemove container sends its last lines when it exits and is removed" {
  # docker-py's containers.run(remove=True): follow the logs, the container
  # writes and exits between two polls, and is removed before the next one
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","sleep 0.3; echo late"],"HostConfig":{"AutoRemove":true}}')
  api POST "/containers/$id/start" >/dev/null
  run sh -c "curl -sS -N --max-time 20 --unix-socket '$SOCK' 'http://moat/v1.41/containers/$id/logs?stdout=1&follow=1' | tail -c +9"
  assert_success
  assert_output "late"
}

@test "engine: exec runs in the container and reports its exit code" {
  id=$(create '{"Image":"busybox","Cmd":["sleep","1000"]}')
  api POST "/containers/$id/start" >/dev/null
  eid=$(api POST "/containers/$id/exec" '{"Cmd":["sh","-c","echo in-exec; exit 7"],"AttachStdout":true,"AttachStderr":true}' | jq -r .Id)
  [ "$(code)" = 201 ]
  out=$(curl -sS -N --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' \
        -d '{"Detach":false,"Tty":false}' "http://moat/v1.41/exec/$eid/start" | tr -d '\000-\010')
  [[ "$out" == *in-exec* ]]
  run api GET "/exec/$eid/json"
  [ "$(jq -r .ExitCode <<<"$output")" = 7 ]
  [ "$(jq -r .Running <<<"$output")" = false ]
  api DELETE "/containers/$id?force=1" >/dev/null
}

@test "engine: kill -9 of moatd leaves containers running; a new moatd manages them" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","echo before; sleep 1000"]}' survivor)
  api POST "/containers/$id/start" >/dev/null
  pid=$(api GET "/containers/$id/json" | jq -r .State.Pid)
  kill -9 "$(cat "$ENG/moatd.pid")"
  sleep 0.3
  kill -0 "$pid"
  start_moatd
  run api GET "/containers/survivor/json"
  [ "$(jq -r .State.Status <<<"$output")" = running ]
  [ "$(jq -r .State.Pid <<<"$output")" = "$pid" ]
  raw_logs "$id" | grep -qa before
  eid=$(api POST "/containers/$id/exec" '{"Cmd":["true"],"AttachStdout":true}' | jq -r .Id)
  curl -sS -N --unix-socket "$SOCK" -X POST -d '{}' -H 'Content-Type: application/json' "http://moat/v1.41/exec/$eid/start" >/dev/null
  [ "$(api GET "/exec/$eid/json" | jq -r .ExitCode)" = 0 ]
  api POST "/containers/$id/stop?t=1" >/dev/null
  [ "$(code)" = 204 ]
  [ "$(api GET "/containers/$id/json" | jq -r .State.Status)" = exited ]
  api DELETE "/containers/$id" >/dev/null
}

@test "engine: a container that exits while moatd is down is seen as exited after the restart" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","sleep 1; exit 5"]}')
  api POST "/containers/$id/start" >/dev/null
  kill -9 "$(cat "$ENG/moatd.pid")"
  sleep 2
  start_moatd
  wait_for sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://moat/containers/$id/json | jq -r .State.Status)\" = exited ]"
  [ "$(api GET "/containers/$id/json" | jq -r .State.ExitCode)" = 5 ]
  api DELETE "/containers/$id" >/dev/null
}

@test "engine: named volume persists across containers; binds are nosuid,nodev" {
  api POST /volumes/create '{"Name":"vol1"}' >/dev/null
  [ "$(code)" = 201 ]
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","echo kept > /data/f; grep \" /data \" /proc/mounts"],"HostConfig":{"Binds":["vol1:/data"]}}')
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  out=$(raw_logs "$id" | tr -d '\000-\010')
  [[ "$out" == *nosuid* ]] && [[ "$out" == *nodev* ]]
  id2=$(create '{"Image":"busybox","Cmd":["cat","/data/f"],"HostConfig":{"Binds":["vol1:/data:ro"]}}')
  api POST "/containers/$id2/start" >/dev/null
  api POST "/containers/$id2/wait" >/dev/null
  raw_logs "$id2" | grep -qa kept
  run api DELETE /volumes/vol1
  [ "$(code)" = 409 ]
  api DELETE "/containers/$id" >/dev/null
  api DELETE "/containers/$id2" >/dev/null
  api DELETE /volumes/vol1 >/dev/null
  [ "$(code)" = 204 ]
}

@test "engine: binding /proc or the engine's socket is refused" {
  run api POST /containers/create '{"Image":"busybox","HostConfig":{"Binds":["/proc:/x"]}}'
  [ "$(code)" != 201 ]
  run api POST /containers/create "{\"Image\":\"busybox\",\"HostConfig\":{\"Binds\":[\"$SOCK:/x\"]}}"
  [ "$(code)" != 201 ]
  run api POST /containers/create '{"Image":"busybox","HostConfig":{"Privileged":true}}'
  [ "$(code)" = 403 ]
}

@test "engine: malformed requests get 4xx and the engine keeps serving" {
  printf 'GARBAGE\r\n\r\n' | timeout 5 socat - "UNIX-CONNECT:$SOCK" >/dev/null 2>&1 || true
  run api POST /containers/create '{"Image":'
  [ "$(code)" = 400 ]
  run api POST /containers/create "$(head -c 100000 /dev/zero | tr '\0' '[')"
  [ "$(code)" = 400 ]
  run api GET /no/such/path
  [ "$(code)" = 404 ]
  run api GET /_ping
  assert_output OK
}

@test "engine: restart policies: on-failure:2 retries twice, always restarts after an exit, stop cancels it" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","echo run; exit 1"],"HostConfig":{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":2}}}')
  api POST "/containers/$id/start" >/dev/null
  wait_for sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://moat/containers/$id/json | jq -r '.RestartCount')\" = 2 ] &&
                  [ \"\$(curl -s --unix-socket '$SOCK' http://moat/containers/$id/json | jq -r '.State.Status')\" = exited ]"
  [ "$(raw_logs "$id" | tr -d '\000-\010' | grep -c run)" -eq 3 ]
  api DELETE "/containers/$id" >/dev/null
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","sleep 0.3; exit 0"],"HostConfig":{"RestartPolicy":{"Name":"always"}}}')
  api POST "/containers/$id/start" >/dev/null
  wait_for sh -c "[ \"\$(curl -s --unix-socket '$SOCK' http://moat/containers/$id/json | jq -r '.RestartCount')\" -ge 2 ]"
  api POST "/containers/$id/stop?t=1" >/dev/null
  sleep 1
  [ "$(api GET "/containers/$id/json" | jq -r .State.Status)" = exited ]
  n=$(api GET "/containers/$id/json" | jq -r .RestartCount)
  sleep 1
  [ "$(api GET "/containers/$id/json" | jq -r .RestartCount)" = "$n" ]
  api DELETE "/containers/$id" >/dev/null
}

@test "engine: --network host shares the host's interfaces; none has only lo" {
  id=$(create '{"Image":"busybox","Cmd":["ls","/sys/class/net"],"HostConfig":{"NetworkMode":"host"}}')
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  [ "$(raw_logs "$id" | tr -d '\000-\010' | sort | tr '\n' ' ')" = "$(ls /sys/class/net | sort | tr '\n' ' ')" ]
  api DELETE "/containers/$id" >/dev/null
  id=$(create '{"Image":"busybox","Cmd":["ls","/sys/class/net"]}')
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  [ "$(raw_logs "$id" | tr -d '\000-\010' | tr -d '\n')" = lo ]
  [ "$(api GET "/containers/$id/json" | jq -r '.HostConfig.NetworkMode')" = none ]
  api DELETE "/containers/$id" >/dev/null
}

@test "engine: the image's VOLUME and --volumes-from: anonymous volume, shared, removed with rm -v" {
  id=$(create '{"Image":"busybox","Cmd":["sh","-c","echo shared > /data/f"],"Volumes":{"/data":{}}}' vsrc)
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  vol=$(api GET "/containers/$id/json" | jq -r '.Mounts[0].Name')
  [ ${#vol} -eq 64 ]
  id2=$(create '{"Image":"busybox","Cmd":["cat","/data/f"],"HostConfig":{"VolumesFrom":["vsrc"]}}')
  api POST "/containers/$id2/start" >/dev/null
  api POST "/containers/$id2/wait" >/dev/null
  raw_logs "$id2" | grep -qa shared
  api DELETE "/containers/$id2?v=1" >/dev/null
  api GET "/volumes/$vol" >/dev/null
  [ "$(code)" = 200 ] # still used by vsrc
  api DELETE "/containers/$id?v=1" >/dev/null
  api GET "/volumes/$vol" >/dev/null
  [ "$(code)" = 404 ]
}

@test "engine: a runtime command that hangs is killed after --runtime-timeout; the engine keeps serving" {
  # A runtime whose pause never returns (as a cgroup stuck freezing would): the
  # engine waits for it in its event loop, so the bound is what keeps every
  # other client served.
  real=$MOAT_BUILD/bin/moat-runtime
  wrap=$ENG/hanging-runtime
  printf '#!/bin/sh\nfor a; do [ "$a" = pause ] && exec sleep 300; done\nexec %s "$@"\n' "$real" > "$wrap"
  chmod 755 "$wrap"
  kill "$(cat "$ENG/moatd.pid")"
  sleep 0.3
  engine_start --runtime "$wrap" --runtime-timeout 2
  id=$(create '{"Image":"busybox","Cmd":["sleep","1000"]}')
  api POST "/containers/$id/start" >/dev/null
  [ "$(code)" = 204 ]
  t0=$(date +%s)
  run api POST "/containers/$id/pause"
  t1=$(date +%s)
  [ "$(code)" = 500 ]
  [[ $output == *"moat-runtime pause did not answer in 2 s and was killed"* ]]
  [ $((t1 - t0)) -le 6 ]
  ! pgrep -f "^sleep 300$" -u "$(id -u)" >/dev/null
  api GET /_ping >/dev/null
  [ "$(code)" = 200 ]
  [ "$(api GET "/containers/$id/json" | jq -r .State.Status)" = running ]
  api DELETE "/containers/$id?force=1" >/dev/null
  [ "$(code)" = 204 ]
  kill "$(cat "$ENG/moatd.pid")"
  sleep 0.3
  start_moatd
}
