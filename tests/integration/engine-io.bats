#!/usr/bin/env bats
# The engine's container I/O endpoints through its Docker API: stats,
# export, archive (docker cp: HEAD/GET/PUT), refused tars (nothing outside
# the rootfs may change), the read-only rootfs, and the real docker CLI
# against the engine.  Root and rootless lanes; one private moatd per file.
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  engine_start
  # one long-running container most tests use
  id=$(api POST '/containers/create?name=io1' '{"Image":"busybox","Cmd":["sleep","1000"]}' | jq -r .Id)
  api POST "/containers/$id/start" >/dev/null
  [ "$(code)" = 204 ]
  echo "$id" > "$ENG/io1.id"
}


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

# put_tar CTR DIR TARFILE: PUT archive; the body goes to stdout, the status to $ENG/status.
put_tar() {
  curl -sS --unix-socket "$SOCK" -X PUT -H 'Content-Type: application/x-tar' --data-binary "@$3" \
    -o "$ENG/body" -w '%{http_code}' "http://moat/v1.41/containers/$1/archive?path=$2" > "$ENG/status"
  cat "$ENG/body"
}

# exec_out CTR CMD...: a command's output through the exec API (no tty: frames stripped).
exec_out() {
  local c=$1
  shift
  local cmd
  cmd=$(printf '%s\n' "$@" | jq -Rsc 'split("\n")[:-1]')
  local x
  x=$(api POST "/containers/$c/exec" "{\"Cmd\":$cmd,\"AttachStdout\":true,\"AttachStderr\":true}" | jq -r .Id)
  curl -sS --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' -d '{"Detach":false,"Tty":false}' \
    "http://moat/v1.41/exec/$x/start" | tail -c +9
}

# mktar NAME SPEC...: a tar built with python's tarfile (entries the tar
# tool refuses to write): file:NAME:DATA sym:NAME:TARGET hard:NAME:TARGET chr:NAME
mktar() {
  local out=$1
  shift
  python3 - "$out" "$@" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT) as t:
    for spec in sys.argv[2:]:
        kind, name, *rest = spec.split(":", 2)
        ti = tarfile.TarInfo(name)
        ti.mode = 0o644
        if kind == "file":
            data = rest[0].encode()
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
            continue
        if kind == "sym":
            ti.type, ti.linkname = tarfile.SYMTYPE, rest[0]
        elif kind == "hard":
            ti.type, ti.linkname = tarfile.LNKTYPE, rest[0]
        elif kind == "chr":
            ti.type, ti.devmajor, ti.devminor = tarfile.CHRTYPE, 1, 3
        t.addfile(ti)
PY
}

docker_cli() {
  [ -x /usr/local/bin/docker ] || skip "no docker CLI at /usr/local/bin/docker"
  DOCKER_HOST=unix://$SOCK /usr/local/bin/docker "$@"
}

@test "engine-io: stats stream=0 has pids, cpu, memory, the previous sample and the name" {
  run api GET /containers/io1/stats?stream=0
  [ "$(code)" = 200 ]
  [ "$(jq -r .name <<<"$output")" = /io1 ]
  [ "$(jq -r .id <<<"$output")" = "$(cat "$ENG/io1.id")" ]
  [ "$(jq -r .pids_stats.current <<<"$output")" -ge 1 ]
  [ "$(jq -r .cpu_stats.online_cpus <<<"$output")" -ge 1 ]
  [ "$(jq -r .cpu_stats.system_cpu_usage <<<"$output")" -gt "$(jq -r .precpu_stats.system_cpu_usage <<<"$output")" ]
  [ "$(jq -r .memory_stats.limit <<<"$output")" -gt 0 ]
  [ "$(jq -r '.networks | type' <<<"$output")" = object ]
  [ "$(jq -r '.preread' <<<"$output")" != "0001-01-01T00:00:00Z" ]
  [ "$(jq -r '.read > .preread' <<<"$output")" = true ]
  if is_root; then
    [ "$(jq -r .memory_stats.usage <<<"$output")" -gt 0 ]
    [ "$(jq -r '.memory_stats.stats | length' <<<"$output")" -gt 0 ]
  fi
}

@test "engine-io: stats stream=1 sends one object per second and ends when the container stops" {
  id=$(api POST '/containers/create?name=io-stream' '{"Image":"busybox","Cmd":["sleep","1000"]}' | jq -r .Id)
  api POST "/containers/$id/start" >/dev/null
  curl -sS -N --unix-socket "$SOCK" "http://moat/v1.41/containers/$id/stats" > "$ENG/stream.out" &
  cpid=$!
  sleep 2.5
  api POST "/containers/$id/stop?t=1" >/dev/null
  # the stream ends by itself once the container is gone
  wait_for gone "$cpid"
  run wc -l < "$ENG/stream.out"
  [ "$output" -ge 2 ]
  run jq -sr '.[1].preread == .[0].read' "$ENG/stream.out"
  assert_output true
  api DELETE "/containers/$id?force=1" >/dev/null
}

@test "engine-io: stats of a missing container is 404" {
  run api GET /containers/nope/stats?stream=0
  [ "$(code)" = 404 ]
  assert_output --partial "No such container"
}

@test "engine-io: export is a tar of the rootfs with the owners seen inside" {
  curl -sS --unix-socket "$SOCK" -o "$ENG/exp.tar" -w '%{http_code}' http://moat/v1.41/containers/io1/export > "$ENG/status"
  [ "$(code)" = 200 ]
  run tar tvf "$ENG/exp.tar"
  assert_success
  assert_output --regexp '-rwxr-xr-x 0/0 +[0-9]+ .* bin/busybox'
  assert_output --partial 'bin/sh -> busybox'
  # /etc/passwd's content is the container's
  run tar xOf "$ENG/exp.tar" etc/passwd
  assert_output --partial 'root:x:0:0'
}

@test "engine-io: HEAD and GET archive of /etc/passwd: the stat header and the file" {
  curl -sS -I --unix-socket "$SOCK" "http://moat/v1.41/containers/io1/archive?path=/etc/passwd" > "$ENG/h"
  grep -q '^HTTP/1.1 200' "$ENG/h"
  stat=$(grep -i '^X-Docker-Container-Path-Stat:' "$ENG/h" | cut -d' ' -f2 | tr -d '\r' | base64 -d)
  [ "$(jq -r .name <<<"$stat")" = passwd ]
  [ "$(jq -r .mode <<<"$stat")" = 420 ]
  [ "$(jq -r .size <<<"$stat")" -gt 0 ]
  [[ "$(jq -r .mtime <<<"$stat")" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$ ]]
  # a directory: the Go os.ModeDir bit
  curl -sS -I --unix-socket "$SOCK" "http://moat/v1.41/containers/io1/archive?path=/etc" > "$ENG/h"
  stat=$(grep -i '^X-Docker-Container-Path-Stat:' "$ENG/h" | cut -d' ' -f2 | tr -d '\r' | base64 -d)
  [ "$(jq -r '.mode >= 2147483648' <<<"$stat")" = true ]
  # GET: a tar with the basename as its top entry
  curl -sS --unix-socket "$SOCK" -o "$ENG/pw.tar" "http://moat/v1.41/containers/io1/archive?path=/etc/passwd"
  run tar tvf "$ENG/pw.tar"
  assert_output --regexp '^-rw-r--r-- 0/0 .* passwd$'
  run tar xOf "$ENG/pw.tar" passwd
  assert_output --partial 'root:x:0:0'
  # missing
  run curl -sS --unix-socket "$SOCK" -w ' %{http_code}' "http://moat/v1.41/containers/io1/archive?path=/nope"
  assert_output --partial 'Could not find the file /nope in container io1'
  assert_output --partial ' 404'
}

@test "engine-io: PUT a tar into /tmp, then GET it back unchanged" {
  mkdir -p "$ENG/src/up/sub"
  head -c 100000 /dev/urandom > "$ENG/src/up/sub/blob"
  echo hello > "$ENG/src/up/a.txt"
  ln -s a.txt "$ENG/src/up/link"
  chmod 0750 "$ENG/src/up/sub"
  tar cf "$ENG/up.tar" -C "$ENG/src" up
  run put_tar io1 /tmp "$ENG/up.tar"
  [ "$(code)" = 200 ]
  run exec_out io1 cat /tmp/up/a.txt
  assert_output hello
  run exec_out io1 ls -lnd /tmp/up/sub
  assert_output --regexp 'drwxr-x--- +[0-9]+ 0 +0 '
  curl -sS --unix-socket "$SOCK" -o "$ENG/back.tar" "http://moat/v1.41/containers/io1/archive?path=/tmp/up"
  mkdir -p "$ENG/back"
  tar xf "$ENG/back.tar" -C "$ENG/back"
  cmp "$ENG/src/up/sub/blob" "$ENG/back/up/sub/blob"
  cmp "$ENG/src/up/a.txt" "$ENG/back/up/a.txt"
  [ "$(readlink "$ENG/back/up/link")" = a.txt ]
  # owners: the container's root unless copyUIDGID (root lane: the tar's ids, mapped)
  tar cf "$ENG/own.tar" --owner=1234 --group=4321 -C "$ENG/src/up" a.txt
  run put_tar io1 /root "$ENG/own.tar"
  [ "$(code)" = 200 ]
  run exec_out io1 ls -ln /root/a.txt
  assert_output --regexp ' 0 +0 '
  # copyUIDGID: as root the tar's ids mapped into the container's slice; rootless
  # with the overlay the child works inside the container's user namespace
  if is_root || [ "$(jq -r .driver "$STORE/storage.json")" = overlay ]; then
    run put_tar io1 "/tmp&copyUIDGID=1" "$ENG/own.tar"
    [ "$(code)" = 200 ]
    run exec_out io1 ls -ln /tmp/a.txt
    assert_output --regexp ' 1234 +4321 '
  fi
  # the destination must exist and be a directory
  run put_tar io1 /nonexistent "$ENG/up.tar"
  [ "$(code)" = 404 ]
  run put_tar io1 /etc/passwd "$ENG/up.tar"
  [ "$(code)" = 400 ]
}

@test "engine-io: malicious tars are refused and nothing outside the rootfs changes" {
  canary_dir=$BATS_FILE_TMPDIR/host
  mkdir -p "$canary_dir"
  echo original > "$canary_dir/canary"
  ups=$(printf '../%.0s' $(seq 30))
  mktar "$ENG/dotdot.tar" "file:${ups}${canary_dir#/}/canary:pwned"
  mktar "$ENG/abs.tar" "file:$canary_dir/canary:pwned"
  mktar "$ENG/sym.tar" "sym:evil:$canary_dir" "file:evil/canary:pwned"
  mktar "$ENG/hard.tar" "hard:h:/etc/passwd"
  mktar "$ENG/dev.tar" "chr:null2"
  for t in dotdot abs sym hard dev; do
    run put_tar io1 /tmp "$ENG/$t.tar"
    echo "# $t: $output" >&3 2>/dev/null || true
    [ "$(code)" = 400 ]
  done
  run put_tar io1 /tmp "$ENG/sym.tar"
  assert_output --partial "evil/canary"
  run put_tar io1 /tmp "$ENG/dotdot.tar"
  assert_output --partial "canary"
  run cat "$canary_dir/canary"
  assert_output original
  [ "$(ls "$canary_dir")" = canary ]
  # a symlink the container planted itself is not followed either
  run exec_out io1 ln -s "$canary_dir" /tmp/planted
  mktar "$ENG/planted.tar" "file:planted/canary:pwned"
  run exec_out io1 readlink /tmp/planted
  assert_output --partial "$canary_dir"
  run put_tar io1 /tmp "$ENG/planted.tar"
  echo "# planted: $output" >&3 2>/dev/null || true
  [ "$(code)" = 400 ]
  run cat "$canary_dir/canary"
  assert_output original
  # garbage is a bad tar
  echo garbage > "$ENG/bad.tar"
  run put_tar io1 /tmp "$ENG/bad.tar"
  [ "$(code)" = 400 ]
  assert_output --partial "bad tar"
}

@test "engine-io: PUT into a read-only rootfs is 403" {
  api POST '/containers/create?name=io-ro' '{"Image":"busybox","Cmd":["true"],"HostConfig":{"ReadonlyRootfs":true}}' >/dev/null
  [ "$(code)" = 201 ]
  tar cf "$ENG/ro.tar" -C "$ENG" status
  run put_tar io-ro /tmp "$ENG/ro.tar"
  [ "$(code)" = 403 ]
  assert_output --partial "container rootfs is marked read-only"
}

@test "engine-io: a stopped container: export, PUT and GET work on its snapshot" {
  id=$(api POST '/containers/create?name=io-stopped' '{"Image":"busybox","Cmd":["cat","/tmp/x/f"]}' | jq -r .Id)
  mkdir -p "$ENG/st/x"
  echo from-host > "$ENG/st/x/f"
  tar cf "$ENG/st.tar" -C "$ENG/st" x
  run put_tar io-stopped /tmp "$ENG/st.tar"
  [ "$(code)" = 200 ]
  curl -sS --unix-socket "$SOCK" -o "$ENG/st-exp.tar" http://moat/v1.41/containers/io-stopped/export
  run tar tvf "$ENG/st-exp.tar"
  assert_output --regexp '0/0 .* tmp/x/f'
  assert_output --partial 'bin/busybox'
  # copyUIDGID on a stopped container (rootless overlay: in the store's sandbox, ids as inside)
  if is_root || [ "$(jq -r .driver "$STORE/storage.json")" = overlay ]; then
    echo owned > "$ENG/st/owned"
    tar cf "$ENG/st-own.tar" --owner=1234 --group=4321 -C "$ENG/st" owned
    run put_tar io-stopped "/tmp&copyUIDGID=1" "$ENG/st-own.tar"
    [ "$(code)" = 200 ]
    curl -sS --unix-socket "$SOCK" -o "$ENG/st-exp2.tar" http://moat/v1.41/containers/io-stopped/export
    run tar tvnf "$ENG/st-exp2.tar" tmp/owned
    assert_output --regexp '^-rw-r--r-- 1234/4321 '
  fi
  # the container sees the file when it runs
  api POST "/containers/$id/start" >/dev/null
  api POST "/containers/$id/wait" >/dev/null
  run sh -c "curl -sS --unix-socket '$SOCK' 'http://moat/v1.41/containers/$id/logs?stdout=1' | tail -c +9"
  assert_output from-host
}

@test "engine-io: the overlay driver in both lanes: / is an overlay, writes land in the snapshot's upper directory, never in a layer" {
  driver=$(jq -r .driver "$STORE/storage.json")
  [ "$driver" = overlay ] || skip "the store's overlay probe failed here: $(jq -r .reason "$STORE/storage.json")"
  id=$(cat "$ENG/io1.id")
  run exec_out io1 sh -c 'echo layered > /written-by-io1; awk "\$5 == \"/\" {print \$8}" /proc/self/mountinfo'
  assert_output overlay
  [ "$(cat "$STORE/snapshots/$id/upper/written-by-io1")" = layered ]
  for l in "$STORE"/layers/*/diff; do
    [ ! -e "$l/written-by-io1" ]
  done
  if ! is_root; then
    # rootless: mounted only inside the container's own namespaces (moat-runtime
    # made it there from run.moat.overlay.*); the host side's mount point stays empty
    [ -z "$(ls -A "$STORE/snapshots/$id/rootfs")" ]
    run jq -r '.annotations["run.moat.overlay.upperdir"]' "$STORE/containers/$id/bundle/config.json"
    assert_output "$STORE/snapshots/$id/upper"
  fi
  # docker diff reads the same upper directory
  run sh -c "curl -sS --unix-socket '$SOCK' http://moat/v1.41/containers/io1/changes | jq -c '.[] | select(.Path == \"/written-by-io1\")'"
  assert_output '{"Path":"/written-by-io1","Kind":1}'
}

@test "engine-io: docker cp both ways, docker export, docker stats --no-stream (real CLI)" {
  echo cli-data > "$ENG/clifile"
  docker_cli cp "$ENG/clifile" io1:/root/clifile
  run exec_out io1 cat /root/clifile
  assert_output cli-data
  rm -rf "$ENG/cpout"
  docker_cli cp io1:/etc/passwd "$ENG/cpout"
  grep -q '^root:x:0:0' "$ENG/cpout"
  rm -rf "$ENG/cpdir"
  docker_cli cp io1:/etc "$ENG/cpdir"
  [ -f "$ENG/cpdir/group" ]
  docker_cli export io1 > "$ENG/cli-exp.tar"
  tar tf "$ENG/cli-exp.tar" | grep -qx 'bin/busybox'
  tar tf "$ENG/cli-exp.tar" | grep -qx 'root/clifile'
  run docker_cli stats --no-stream --format '{{.Name}} {{.CPUPerc}} {{.MemUsage}} {{.PIDs}}' io1
  assert_success
  assert_output --regexp '^io1 [0-9.]+% [0-9.]+[KMG]?i?B / [0-9.]+[KMG]iB [1-9][0-9]*$'
  if [ -x /usr/bin/docker ]; then
    run env DOCKER_HOST="unix://$SOCK" /usr/bin/docker stats --no-stream --format '{{.Name}} {{.PIDs}}' io1
    assert_success
    assert_output --regexp '^io1 [1-9]'
  fi
}

@test "exec records: exited ones are kept for inspect, the newest 64 per container" {
  id=$(api POST '/containers/create?name=io-exrec' '{"Image":"busybox","Cmd":["sleep","1000"]}' | jq -r .Id)
  api POST "/containers/$id/start" >/dev/null
  first=
  for i in $(seq 70); do
    x=$(api POST "/containers/$id/exec" '{"Cmd":["true"]}' | jq -r .Id)
    [ -n "$first" ] || first=$x
    api POST "/exec/$x/start" '{"Detach":true}' >/dev/null
    [ "$(code)" = 200 ]
    # wait until it has exited, so the next create may prune it
    for _ in $(seq 100); do
      [ "$(api GET "/exec/$x/json" | jq -r .Running)" = false ] && break
      sleep 0.02
    done
  done
  last=$x
  api GET "/exec/$last/json" >/dev/null
  [ "$(code)" = 200 ]
  [ "$(jq -r .ExitCode "$ENG/body")" = 0 ]
  api GET "/exec/$first/json" >/dev/null
  [ "$(code)" = 404 ]
  api DELETE "/containers/$id?force=1" >/dev/null
}
