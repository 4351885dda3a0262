#!/usr/bin/env bats
# moatd's Docker API: the system, image and volume endpoints, over curl and
# the real docker CLIs (Debian's 20.10 /usr/bin/docker; the newer
# /usr/local/bin/docker when present).  One moatd per file, on a private
# socket, run directory and data root.
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  [ -x "$MOATD" ] || return 0
  if [ ! -x /usr/bin/docker ] && is_root && ! dpkg -s docker.io >/dev/null 2>&1; then
    apt-get install -y docker.io >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y docker.io >/dev/null 2>&1; } || true
  fi
  # a short directory: the socket path must fit in sun_path
  API_DIR=$(mktemp -d /tmp/moat-api-XXXXXX)
  export API_DIR API_SOCK=$API_DIR/sock API_DATA=$API_DIR/data
  "$MOATD" --data-root "$API_DATA" --socket "$API_SOCK" --run-dir "$API_DIR/run" \
      >"$API_DIR/moatd.log" 2>&1 &
  echo $! >"$API_DIR/moatd.pid"
  local i
  for i in $(seq 100); do [ -S "$API_SOCK" ] && break; sleep 0.05; done
}

teardown_file() {
  [ -n "${API_DIR:-}" ] || return 0
  if [ -f "$API_DIR/moatd.pid" ]; then
    kill "$(cat "$API_DIR/moatd.pid")" 2>/dev/null || true
    for i in $(seq 50); do kill -0 "$(cat "$API_DIR/moatd.pid")" 2>/dev/null || break; sleep 0.1; done
  fi
  MOAT_ROOT=$API_DATA "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
  rm -rf "$API_DIR"
}

setup() {
  [ -x "$MOATD" ] || skip "moatd is not built ($MOATD)"
  [ -S "${API_SOCK:-}" ] || fail "moatd did not start: $(cat "$API_DIR/moatd.log" 2>/dev/null)"
  export DOCKER_HOST=unix://$API_SOCK DOCKER_CONFIG=$BATS_TEST_TMPDIR/docker-config
}
teardown() { :; }

# api [curl args] PATH: a request on the private socket.
api() { curl -sS --unix-socket "$API_SOCK" "${@:1:$#-1}" "http://docker${!#}"; }
needs_docker() { [ -x /usr/bin/docker ] || skip "no /usr/bin/docker (docker.io; installed only as root)"; }
docker() { /usr/bin/docker "$@"; }
# the built-in busybox, as `docker pull` makes it
ensure_busybox() { api -X POST '/v1.41/images/create?fromImage=busybox&tag=latest' >/dev/null; }

@test "_ping: HEAD and GET, versioned or not, with the negotiation headers" {
  run api -I /_ping
  assert_success
  assert_line --regexp '^HTTP/1.1 200'
  assert_line --regexp '^API-Version: 1.41'
  assert_line --regexp '^OSType: linux'
  assert_line --regexp '^Builder-Version: 1'
  assert_line --regexp '^Docker-Experimental: false'
  assert_line --regexp '^Cache-Control: no-cache, no-store, must-revalidate'
  assert_line --regexp '^Pragma: no-cache'
  run api /v1.41/_ping
  assert_output "OK"
}

@test "version: Docker's fields; docker version talks 1.41" {
  run api /version
  assert_success
  run jq -r '[.Version, .ApiVersion, .MinAPIVersion, .Os, (.Components[0].Name), .Components[0].Details.ApiVersion, (.KernelVersion == "'"$(uname -r)"'")] | join(" ")' <<<"$output"
  assert_output --regexp '^[0-9]+\.[0-9]+\.[0-9]+ 1\.41 1\.24 linux Engine 1\.41 true$'
  needs_docker
  run docker version --format '{{.Server.APIVersion}} {{.Server.Os}} {{.Client.APIVersion}}'
  assert_success
  assert_output "1.41 linux 1.41"
}

@test "info: stable ID, counts, driver, security options, swarm inactive" {
  run api /info
  assert_success
  info=$output
  id=$(jq -r .ID <<<"$info")
  [[ $id =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]]
  [ "$(tr -d '\n' <"$API_DATA/engine-id")" = "$id" ]
  [ "$(api /info | jq -r .ID)" = "$id" ]
  run jq -r '[.Swarm.LocalNodeState, .Swarm.ControlAvailable, .IndexServerAddress, .DefaultRuntime,
              (.Runtimes | keys[0]), .CgroupDriver, .OSType, .LoggingDriver, .DockerRootDir,
              (.SecurityOptions | index("name=seccomp,profile=default") != null),
              (.SecurityOptions | index("name=no-new-privileges") != null),
              (.Warnings | length), (.Containers >= 0), (.NCPU > 0), (.MemTotal > 0)] | map(tostring) | join(" ")' <<<"$info"
  assert_output "inactive false https://index.docker.io/v1/ moat-runtime moat-runtime cgroupfs linux json-file $API_DATA true true 0 true true true"
  run jq -r '.CgroupVersion, .Driver' <<<"$info"
  assert_line --index 0 --regexp '^[12]$'
  # the driver containers get: the store's probe (rootless made in the store's user namespace)
  assert_line --index 1 "$(jq -r .driver "$API_DATA/storage.json")"
  driver=${lines[1]}
  run jq -r '[.DriverStatus[] | select(.[0] == "Copy fallback") | .[1]] | join("|")' <<<"$info"
  if [ "$driver" = overlay ]; then
    assert_output ""
  else
    assert_output --regexp '^overlay probe failed: [^|]+$'
  fi
  if is_root; then
    run jq -r '.SecurityOptions | index("name=rootless")' <<<"$info"
    assert_output null
  else
    run jq -r '.SecurityOptions | index("name=rootless") != null' <<<"$info"
    assert_output true
  fi
  needs_docker
  run docker info --format '{{.ID}} {{.Swarm.LocalNodeState}} {{.Driver}}'
  assert_success
  assert_output "$id inactive $driver"
}

@test "pull: busybox is built in, with Docker's stream; other names 404" {
  needs_docker
  docker rmi -f busybox >/dev/null 2>&1 || true
  run docker pull busybox
  assert_success
  assert_line "latest: Pulling from library/busybox"
  assert_line --regexp '^Digest: sha256:[0-9a-f]{64}$'
  assert_line "Status: Downloaded newer image for busybox:latest"
  run docker pull busybox:latest
  assert_line "Status: Image is up to date for busybox:latest"
  run docker pull alpine:3.18
  assert_failure
  assert_output --partial "pull access denied for alpine, repository does not exist"
  run api -w '\n%{http_code} %{content_type}' -X POST '/v1.41/images/create?fromImage=nonexist%2Ffoo&tag=latest'
  assert_line --index 1 "404 application/json"
}

@test "images/json: summaries, <none>:<none>, filters (dangling, reference, label, before, since)" {
  needs_docker
  ensure_busybox
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  old=$(docker import -c 'LABEL tier=one' "$BATS_TEST_TMPDIR/r.tar" apitest/labelled:1)
  sleep 1.1
  dang=$(docker import "$BATS_TEST_TMPDIR/r.tar")
  [[ $dang =~ ^sha256:[0-9a-f]{64}$ ]]
  run api /v1.41/images/json
  run jq -r --arg id "$dang" '.[] | select(.Id == $id) | [(.RepoTags|join(",")), (.RepoDigests|join(",")), .ParentId, .SharedSize, .Containers, (.Size == .VirtualSize)] | map(tostring) | join(" ")' <<<"$output"
  assert_output "<none>:<none> <none>@<none>  -1 -1 true"
  run docker images -q --no-trunc -f dangling=true
  assert_output "$dang"
  run docker images --format '{{.Repository}}:{{.Tag}}' -f reference='apitest/*'
  assert_output "apitest/labelled:1"
  run docker images --format '{{.Repository}}' -f label=tier=one
  assert_output "apitest/labelled"
  run docker images --format '{{.Repository}}' -f label=tier=two
  assert_output ""
  run docker images -q --no-trunc -f since=apitest/labelled:1
  assert_output "$dang"
  run docker images -q --no-trunc -f before="$dang" -f reference=apitest/labelled
  assert_output "$old"
  # docker-py's list shape of filters (T12)
  run api -G --data-urlencode 'filters={"label":["tier=one"]}' /v1.41/images/json
  run jq -r '.[].RepoTags[0]' <<<"$output"
  assert_output "apitest/labelled:1"
  run api -w '\n%{http_code}' -G --data-urlencode 'filters={"bogus":{"x":true}}' /v1.41/images/json
  assert_line --index 1 400
  docker rmi apitest/labelled:1 "$dang" >/dev/null
}

@test "image inspect: ContainerConfig for compose (T7); 404 says No such image (T5, T6)" {
  needs_docker
  ensure_busybox
  run docker image inspect -f '{{.Id}} {{.Os}} {{json .ContainerConfig.Volumes}} {{json .Config.Cmd}}' busybox
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64} linux null \["sh"\]$'
  id=$(docker image inspect -f '{{.Id}}' busybox)
  run docker image inspect -f '{{.Id}}' "${id:7:12}"
  assert_output "$id"
  run api -w '\n%{http_code} %{content_type}' /v1.41/images/no-such-thing:1/json
  assert_line --index 0 '{"message":"No such image: no-such-thing:1"}'
  assert_line --index 1 "404 application/json"
  run docker image inspect no-such-thing:1
  assert_failure
  assert_output --partial "No such image: no-such-thing:1"
}

@test "history: rows with the newest ID and its tags" {
  needs_docker
  ensure_busybox
  run api /v1.41/images/busybox/history
  assert_success
  run jq -r '.[0] | [(.Id|startswith("sha256:")), (.Tags|join(",")), (.Created > 0), (.CreatedBy|test("BusyBox"))] | map(tostring) | join(" ")' <<<"$output"
  assert_output "true busybox:latest true true"
  run docker history busybox
  assert_line --index 1 --regexp '^[0-9a-f]{12} .*moat built-in image: BusyBox'
}

@test "tag and rmi: 201, names with a registry port, Untagged/Deleted lines" {
  needs_docker
  ensure_busybox
  run api -w '%{http_code}' -X POST '/v1.41/images/busybox/tag?repo=localhost%3A5000%2Fbusybox&tag=v1'
  assert_output 201
  run docker images --format '{{.Repository}}:{{.Tag}}' localhost:5000/busybox
  assert_output "localhost:5000/busybox:v1"
  run api -X DELETE /v1.41/images/localhost:5000/busybox:v1
  assert_output '[{"Untagged":"localhost:5000/busybox:v1"}]'
  run api -w '%{http_code}' -X POST '/v1.41/images/nope/tag?repo=x&tag=y'
  assert_output --regexp 'No such image: nope:latest.*404$'
  docker tag busybox apitest/gone:1
  run docker rmi apitest/gone:1
  assert_output "Untagged: apitest/gone:1"
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  id=$(docker import "$BATS_TEST_TMPDIR/r.tar" apitest/del:1)
  docker tag apitest/del:1 apitest/del:2
  run docker rmi "${id:7:12}"
  assert_failure
  assert_output --partial "conflict: unable to delete"
  run docker rmi -f "${id:7:12}"
  assert_success
  assert_line "Untagged: apitest/del:1"
  assert_line "Untagged: apitest/del:2"
  assert_line "Deleted: $id"
  run docker rmi nope
  assert_failure
  assert_output --partial "No such image"
}

@test "save and load: a tar stream from a child, loaded back; bad archives fail in the stream" {
  needs_docker
  ensure_busybox
  docker tag busybox apitest/saved:1
  docker save busybox apitest/saved:1 >"$BATS_TEST_TMPDIR/s.tar"
  run tar tf "$BATS_TEST_TMPDIR/s.tar"
  assert_line manifest.json
  assert_line index.json
  assert_line oci-layout
  run jq -r '[.[].RepoTags[]] | sort | join(",")' < <(tar xOf "$BATS_TEST_TMPDIR/s.tar" manifest.json)
  assert_output "apitest/saved:1,busybox:latest"
  run api -w '\n%{http_code} %{content_type}' '/v1.41/images/busybox/get'
  [ "${lines[-1]}" = "200 application/x-tar" ]
  run api -w '\n%{http_code}' '/v1.41/images/get?names=nope'
  assert_line --index 1 404
  docker rmi apitest/saved:1 >/dev/null
  run docker load -i "$BATS_TEST_TMPDIR/s.tar"
  assert_success
  assert_line "Loaded image: apitest/saved:1"
  assert_line "Loaded image: busybox:latest"
  run docker images --format '{{.Repository}}:{{.Tag}}' apitest/saved
  assert_output "apitest/saved:1"
  head -c 3000 /dev/urandom >"$BATS_TEST_TMPDIR/junk.tar"
  run docker load -i "$BATS_TEST_TMPDIR/junk.tar"
  assert_failure
  run api -H 'Content-Type: application/x-tar' --data-binary @"$BATS_TEST_TMPDIR/junk.tar" '/v1.41/images/load?quiet=1'
  run jq -r 'select(.errorDetail) | (.error == .errorDetail.message) and (.error | length > 0)' <<<"$output"
  assert_output true
  docker rmi apitest/saved:1 >/dev/null
  # every job child is reaped: moatd keeps no zombie
  sleep 0.5
  run ps -o stat= --ppid "$(cat "$API_DIR/moatd.pid")"
  refute_output --partial Z
}

@test "import: fromSrc=- with repo, tag, message and changes; the stream names the ID" {
  needs_docker
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  run docker import -c 'CMD ["/bin/cat","/etc/hello"]' -m 'via the api' "$BATS_TEST_TMPDIR/r.tar" apitest/imp:7
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  id=$output
  run docker image inspect -f '{{.Id}} {{json .Config.Cmd}}' apitest/imp:7
  assert_output "$id [\"/bin/cat\",\"/etc/hello\"]"
  run docker history --format '{{.Comment}}' apitest/imp:7
  assert_line --index 0 "via the api"
  run api -X POST -H 'Content-Type: application/x-tar' --data-binary @"$BATS_TEST_TMPDIR/r.tar" '/v1.41/images/create?fromSrc=-'
  run jq -r .status <<<"$output"
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  run api -w '\n%{http_code}' -X POST '/v1.41/images/create?fromSrc=http%3A%2F%2Fexample.com%2Fx.tar'
  assert_line --index 1 501
  docker rmi apitest/imp:7 >/dev/null
  docker image prune -f >/dev/null
}

@test "image prune: dangling only by default, -a every unused image, label filter" {
  needs_docker
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  d1=$(docker import "$BATS_TEST_TMPDIR/r.tar")
  keep=$(docker import -c 'LABEL keep=yes' "$BATS_TEST_TMPDIR/r.tar" apitest/keep:1)
  run docker image prune -f
  assert_success
  assert_line "deleted: $d1"
  run docker images -q --no-trunc apitest/keep
  assert_output "$keep"
  run docker image prune -af --filter label=keep=no
  refute_output --partial "$keep"
  run docker image prune -af --filter label=keep=yes
  assert_line "untagged: apitest/keep:1"
  assert_line "deleted: $keep"
  run api -w '\n%{http_code}' -X POST -G --data-urlencode 'filters={"nonsense":["1"]}' /v1.41/images/prune
  assert_line --index 1 400
}

@test "system df: layers, images, volumes" {
  needs_docker
  ensure_busybox
  docker volume create apitest-df >/dev/null
  echo 12345 >"$(docker volume inspect -f '{{.Mountpoint}}' apitest-df)/f"
  run api /v1.41/system/df
  assert_success
  run jq -r '[(.LayersSize > 0), (.Images | map(select(.RepoTags | index("busybox:latest"))) | length),
              (.Volumes[] | select(.Name == "apitest-df") | .UsageData.Size), (.Containers|type), (.BuildCache|length)] | map(tostring) | join(" ")' <<<"$output"
  assert_output "true 1 6 array 0"
  run docker system df
  assert_success
  assert_line --regexp '^Images +[0-9]+ '
  docker volume rm apitest-df >/dev/null
}

@test "volumes: create, ls with filters, inspect, rm, 404s, prune" {
  needs_docker
  run docker volume create --label a=b apitest-v1
  assert_output apitest-v1
  run api -w '\n%{http_code}' -X POST -H 'Content-Type: application/json' \
      -d '{"Name":"apitest-v2","Driver":"local","DriverOpts":{},"Labels":{"x":"y"}}' /v1.41/volumes/create
  assert_line --index 1 201
  run jq -r '[.Name, .Driver, .Labels.x, .Scope] | join(" ")' <<<"${lines[0]}"
  assert_output "apitest-v2 local y local"
  anon=$(docker volume create)
  [[ $anon =~ ^[0-9a-f]{64}$ ]]
  run docker volume ls -q -f label=a=b
  assert_output apitest-v1
  run docker volume ls -q -f name=test-v2
  assert_output apitest-v2
  run docker volume ls -q -f dangling=true
  assert_line apitest-v1
  assert_line "$anon"
  run docker volume inspect -f '{{.Name}} {{.Driver}} {{.Labels.a}} {{.Mountpoint}}' apitest-v1
  assert_output "apitest-v1 local b $API_DATA/volumes/apitest-v1/_data"
  run api -w '\n%{http_code} %{content_type}' /v1.41/volumes/apitest-nope
  assert_line --index 1 "404 application/json"
  run api -w '\n%{http_code}' -X POST -d '{"Name":"x","Driver":"flocker"}' /v1.41/volumes/create
  assert_line --index 1 404
  run api -w '\n%{http_code}' -X POST -d '{"Name":"bad/name"}' /v1.41/volumes/create
  assert_line --index 1 400
  run docker volume rm apitest-v2
  assert_output apitest-v2
  run docker volume rm apitest-v2
  assert_failure
  run api -w '%{http_code}' -X DELETE '/v1.41/volumes/apitest-v2?force=1'
  assert_output 204
  run docker volume prune -f --filter label=a=b
  assert_line apitest-v1
  refute_line "$anon"
  run docker volume prune -f
  assert_line "$anon"
  run docker volume ls -q
  assert_output ""
}

@test "events: tag, untag, import, load, pull, volume create/destroy reach GET /events" {
  needs_docker
  run api -o /dev/null -w '%{http_code} %{content_type}' '/v1.41/events?since=1&until=2'
  assert_output "200 application/json"
  run api -w '%{http_code}' '/v1.41/events?since=garbage'
  assert_output --regexp '400$'
  ensure_busybox
  since=$(date +%s)
  docker tag busybox apitest/ev:1
  docker rmi apitest/ev:1 >/dev/null
  docker volume create apitest-ev >/dev/null
  docker volume rm apitest-ev >/dev/null
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  id=$(docker import "$BATS_TEST_TMPDIR/r.tar" apitest/evimp:1)
  docker save busybox | docker load >/dev/null
  docker pull busybox >/dev/null
  docker rmi apitest/evimp:1 >/dev/null
  run docker events --since "$since" --until "$(( $(date +%s) + 1 ))" --format '{{.Type}} {{.Action}} {{.Actor.Attributes.name}}'
  assert_line "image tag apitest/ev:1"
  assert_line --regexp '^image untag '
  assert_line --regexp '^volume create'
  assert_line --regexp '^volume destroy'
  assert_line "image import $id"
  assert_line "image tag apitest/evimp:1"
  assert_line "image load busybox:latest"
  assert_line "image pull busybox"
  assert_line "image delete $id"
}

@test "docker create with the built-in busybox missing: pulled or built, then in use (409)" {
  needs_docker
  ensure_busybox
  for t in $(docker image inspect -f '{{join .RepoTags " "}}' busybox); do docker rmi "$t" >/dev/null; done
  run docker create --name apitest-autopull busybox true
  assert_success
  run docker image inspect -f '{{join .RepoTags ","}}' busybox
  assert_output "busybox:latest"
  run docker rmi busybox
  assert_failure
  assert_output --partial "conflict"
  run api /v1.41/system/df
  run jq -r '.Images[] | select(.RepoTags | index("busybox:latest")) | .Containers' <<<"$output"
  assert_output 1
  docker rm apitest-autopull >/dev/null
}

@test "the newer docker CLI (/usr/local/bin/docker) negotiates 1.41 and works" {
  [ -x /usr/local/bin/docker ] || skip "no /usr/local/bin/docker"
  ensure_busybox
  d() { /usr/local/bin/docker "$@"; }
  run d version --format '{{.Server.APIVersion}}'
  assert_output "1.41"
  run d images --format '{{.Repository}}:{{.Tag}}' busybox
  assert_output "busybox:latest"
  run d image inspect -f '{{json .ContainerConfig.Volumes}}' busybox
  assert_output null
  d save busybox | tar t >"$BATS_TEST_TMPDIR/list"
  grep -qx manifest.json "$BATS_TEST_TMPDIR/list"
  run d volume create apitest-new
  assert_output apitest-new
  run d volume ls -q
  assert_line apitest-new
  run d volume rm apitest-new
  assert_success
  run d info --format '{{.Swarm.LocalNodeState}} {{.IndexServerAddress}}'
  assert_output "inactive https://index.docker.io/v1/"
}
