#!/usr/bin/env bats
# The moat CLI's container and volume verbs against a real moatd: ps, inspect,
# stop/kill/restart/pause/unpause/rm (several names, Docker's error lines and
# exit codes), rename, update, top, port, diff, commit, export, cp, container
# and volume prune, volume create/ls/inspect/rm.  Output shapes are Docker
# 20.10's.  One moatd per file on a private store.
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  "$MOAT_BIN" --data-root "$STORE" image build-busybox >/dev/null
  engine_start
}

teardown_file() {
  for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1 || true; done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

setup() { :; }
teardown() { m rm -f $(m ps -aq) >/dev/null 2>&1 || true; }

m() { "$MOAT_BIN" -H "unix://$SOCK" --data-root "$STORE" "$@"; }

# started NAME [CMD...]: a running busybox container.
started() {
  local n=$1
  shift
  [ $# -gt 0 ] || set -- sleep 1000
  m create --name "$n" -l tier=web busybox "$@" >/dev/null
  m start "$n" >/dev/null
}

@test "cli ps: Docker's table, -a, -q, --no-trunc, --format with labels" {
  run m ps
  assert_success
  assert_output "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES"
  started web
  m create --name idle busybox sh -c 'while true; do sleep 1; done' >/dev/null
  run m ps
  assert_success
  assert_line --index 0 --regexp '^CONTAINER ID   IMAGE     COMMAND +CREATED +STATUS +PORTS +NAMES$'
  assert_line --index 1 --regexp '^[0-9a-f]{12}   busybox   "sleep 1000" +.* ago +Up .* +web$'
  [ "${#lines[@]}" -eq 2 ]
  run m ps -a --format '{{.Names}}|{{.Command}}|{{.State}}|{{.Label "tier"}}'
  assert_success
  assert_line 'web|"sleep 1000"|running|web'
  assert_line 'idle|"sh -c while true; d…"|created|'
  run m ps -aq
  assert_success
  [ "${#lines[@]}" -eq 2 ]
  [[ ${lines[0]} =~ ^[0-9a-f]{12}$ ]]
  run m ps -a --no-trunc --format '{{.ID}} {{.Command}}' --filter label=tier=web
  assert_success
  assert_output --regexp '^[0-9a-f]{64} "sleep 1000"$'
  run m ps -a --format 'table {{.Names}}\t{{.Status}}' --filter status=created
  assert_success
  assert_line --index 0 --regexp '^NAMES +STATUS$'
  assert_line --index 1 --regexp '^idle +Created$'
}

@test "cli inspect: JSON array indented by 4, -f templates, image fallback, No such object" {
  started web
  run m inspect web
  assert_success
  assert_line --index 0 '['
  assert_line --index 1 '    {'
  assert_line --index 2 --regexp '^        "Id": "[0-9a-f]{64}",$'
  run m inspect -f '{{.State.Status}} {{.Name}} {{.Config.Cmd}} {{index .Config.Labels "tier"}} {{json .Config.Labels}}' web
  assert_success
  assert_output 'running /web [sleep 1000] web {"tier":"web"}'
  run m inspect -f '{{.Id}}' busybox
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  run m inspect nosuch
  assert_failure 1
  assert_line --index 0 '[]'
  assert_line 'Error: No such object: nosuch'
  run m inspect --type container busybox
  assert_failure 1
  assert_line 'Error: No such container: busybox'
  run m container inspect -f '{{.State.Running}}' web
  assert_success
  assert_output true
}

@test "cli stop/kill/restart/pause/unpause/rm: names echoed, one error line each, exit 1" {
  started ca
  started cb
  if is_root; then
    run m pause ca
    assert_success
    assert_output ca
    run m ps --format '{{.Names}} {{.State}}' --filter name=ca
    assert_output 'ca paused'
    run m unpause ca
    assert_output ca
  else # rootless on cgroup v1: no cgroup to freeze, and the refusal says so
    run m pause ca
    assert_failure 1
    assert_output --partial 'no cgroup'
  fi
  run m stop -t 1 ca nosuch cb
  assert_failure 1
  assert_line ca
  assert_line cb
  assert_line 'Error response from daemon: No such container: nosuch'
  run m ps -q
  assert_output ''
  run m restart -t 1 ca
  assert_success
  assert_output ca
  run m inspect -f '{{.State.Status}} {{.RestartCount}}' ca
  assert_output 'running 0'
  p1=$(m inspect -f '{{.State.Pid}} {{.State.StartedAt}}' ca)
  # a running container: stopped and started again, a new process
  run m restart -t 1 ca
  assert_success
  p2=$(m inspect -f '{{.State.Pid}} {{.State.StartedAt}}' ca)
  [ "${p1% *}" -gt 0 ] && [ "${p2% *}" -gt 0 ] && [ "${p1% *}" != "${p2% *}" ] && [ "${p1#* }" != "${p2#* }" ]
  run m inspect -f '{{.State.Status}}' ca
  assert_output running
  run m kill ca
  assert_success
  assert_output ca
  run m kill ca
  assert_failure 1
  assert_output --partial 'Error response from daemon: '
  assert_output --partial 'is not running'
  m start cb >/dev/null
  run m rm cb
  assert_failure 1
  assert_output --partial 'Error response from daemon: You cannot remove a running container'
  run m rm -f cb nosuch
  assert_success
  assert_output cb
  run m rm ca nosuch
  assert_failure 1
  assert_line ca
  assert_line 'Error response from daemon: No such container: nosuch'
}

@test "cli rename, update, top, port, diff" {
  started web
  run m rename web web2
  assert_success
  run m ps --format '{{.Names}}'
  assert_output web2
  run m rename nosuch x
  assert_failure 1
  assert_line 'Error: failed to rename container named nosuch'
  if is_root; then
    run m update -m 256m --pids-limit 50 web2
    assert_success
    assert_output web2
    run m inspect -f '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}' web2
    assert_output '268435456 50'
  else # rootless on cgroup v1: resources can't be applied, and the refusal says why
    run m update -m 256m web2
    assert_failure 1
    assert_output --partial 'need'
  fi
  run m update web2
  assert_failure
  assert_output --partial 'You must provide one or more flags'
  run m top web2
  assert_success
  assert_line --index 0 --regexp '^UID +PID +PPID +C +STIME +TTY +TIME +CMD$'
  assert_line --index 1 --regexp ' sleep 1000$'
  run m port web2
  assert_success
  assert_output ''
  run m port web2 80
  assert_failure 1
  assert_output "Error: No public port '80/tcp' published for web2"
  run m diff web2
  assert_success
  # a fresh container has changed nothing in its image (its mounts are not changes)
  assert_output ""
}

@test "cli diff: Docker's A/C/D lines, sorted by path, parents as C" {
  m run --name differ busybox sh -c 'touch /new; mkdir /tmp/sub; echo x > /tmp/sub/f; rm /etc/group; echo > /etc/passwd' >/dev/null
  run m diff differ
  assert_success
  assert_output "C /etc
D /etc/group
C /etc/passwd
A /new
C /tmp
A /tmp/sub
A /tmp/sub/f"
  run m diff nosuch
  assert_failure
  assert_output --partial "No such container: nosuch"
}

@test "cli system df: containers and volumes counted; -v prints Docker's four tables" {
  m volume create dfvol >/dev/null
  m run --name dfdone -v dfvol:/data busybox sh -c 'echo 12345 > /data/f' >/dev/null
  started dfup
  did=$(m inspect -f '{{.Id}}' dfdone)
  uid=$(m inspect -f '{{.Id}}' dfup)
  bb=$(m images -q busybox)
  run m system df
  assert_success
  assert_line --index 0 --regexp '^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$'
  assert_line --regexp '^Containers +2 +1 +'
  assert_line --regexp '^Local Volumes +[0-9]+ +[0-9]+ +'
  run m system df -v
  assert_success
  refute_line --regexp '^TYPE '
  assert_line --index 0 "Images space usage:"
  assert_line --regexp '^REPOSITORY +TAG +IMAGE ID +CREATED +SIZE +SHARED SIZE +UNIQUE SIZE +CONTAINERS$'
  assert_line --regexp "^busybox +latest +$bb +.+ ago +[0-9.]+[kM]?B +[0-9.]+[kM]?B +[0-9.]+[kM]?B +2\$"
  assert_line "Containers space usage:"
  assert_line --regexp '^CONTAINER ID +IMAGE +COMMAND +LOCAL VOLUMES +SIZE +CREATED +STATUS +NAMES$'
  assert_line --regexp "^${did:0:12} +busybox +\"sh -c echo 12345 > …\" +1 +[0-9.]+k?B +.+ ago +Exited \(0\) .+ ago +dfdone\$"
  assert_line --regexp "^${uid:0:12} +busybox +\"sleep 1000\" +0 +[0-9.]+k?B +.+ ago +Up .+ +dfup\$"
  assert_line "Local Volumes space usage:"
  assert_line --regexp '^VOLUME NAME +LINKS +SIZE$'
  assert_line --regexp '^dfvol +1 +6B$'
  assert_line "Build cache usage: 0B"
  assert_line --regexp '^CACHE ID +CACHE TYPE +SIZE +CREATED +LAST USED +USAGE +SHARED$'
  m rm -f dfdone dfup >/dev/null
  m volume rm dfvol >/dev/null
}

@test "cli commit: the new image ID, usable as an image" {
  started web
  run m commit -m msg -a me -c 'CMD ["echo","x"]' -c 'ENV A=1' web committed:v1
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  id=$output
  run m inspect -f '{{.Id}} {{.Author}} {{.Config.Cmd}} {{index .Config.Env 1}}' committed:v1
  assert_success
  assert_output "$id me [echo x] A=1"
}

# The archive endpoints; a moatd without them is reported, not passed.
archive_served() {
  local c
  c=$(curl -s -o /dev/null -w '%{http_code}' -I --unix-socket "$SOCK" "http://moat/v1.41/containers/$1/archive?path=/")
  [ "$c" = 200 ] || { echo "HEAD /containers/$1/archive answered $c" >&2; return 1; }
}

@test "cli cp: to and from a container, renames, stdout tar, missing paths" {
  started web
  archive_served web
  local d=$BATS_TEST_TMPDIR
  mkdir -p "$d/src/sub" "$d/out"
  echo hello > "$d/src/sub/f"
  echo top > "$d/t"
  run m cp "$d/src" web:/tmp/
  assert_success
  run m cp "$d/t" web:/tmp/renamed.txt
  assert_success
  run m exec web cat /tmp/src/sub/f /tmp/renamed.txt
  assert_output $'hello\ntop'
  run m cp web:/tmp/src "$d/out/"
  assert_success
  [ "$(cat "$d/out/src/sub/f")" = hello ]
  run m cp web:/tmp/renamed.txt "$d/out/new.txt"
  assert_success
  [ "$(cat "$d/out/new.txt")" = top ]
  m cp web:/tmp/renamed.txt - > "$d/x.tar"
  run tar tf "$d/x.tar"
  assert_output renamed.txt
  run m cp web:/nope "$d/out"
  assert_failure 1
  assert_output 'Error: No such container:path: web:/nope'
}

@test "cli export: a tar of the rootfs, never to a terminal" {
  started web
  run script -qec "$MOAT_BIN -H unix://$SOCK export web" /dev/null
  assert_failure
  assert_output --partial 'cowardly refusing to save to a terminal. Use the -o flag or redirect'
  local c
  c=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" "http://moat/v1.41/containers/web/export")
  [ "$c" = 200 ] || { echo "GET /containers/web/export answered $c" >&2; return 1; }
  local d=$BATS_TEST_TMPDIR
  run m export -o "$d/e.tar" web
  assert_success
  run tar tf "$d/e.tar"
  assert_line --regexp '^(\./)?bin/busybox$'
}

@test "cli container prune and volume create/ls/inspect/rm/prune" {
  m create --name dead busybox true >/dev/null
  run m container prune -f
  assert_success
  assert_line 'Deleted Containers:'
  assert_line --regexp '^[0-9a-f]{64}$'
  assert_line 'Total reclaimed space: 0B'
  run m volume create -l a=b myvol
  assert_success
  assert_output myvol
  run m volume ls
  assert_line --index 0 'DRIVER    VOLUME NAME'
  assert_line 'local     myvol'
  run m volume ls --format '{{.Name}} {{.Label "a"}}' --filter label=a=b
  assert_output 'myvol b'
  run m volume inspect -f '{{.Name}} {{.Driver}} {{index .Labels "a"}}' myvol
  assert_output 'myvol local b'
  run m volume inspect myvol nosuch
  assert_failure 1
  assert_line --index 0 '['
  assert_line 'Error: No such volume: nosuch'
  run m volume rm myvol nosuch
  assert_failure 1
  assert_line myvol
  assert_line --partial 'Error response from daemon: '
  m volume create scratch >/dev/null
  run m volume prune -f
  assert_success
  assert_line scratch
  assert_line 'Total reclaimed space: 0B'
}
