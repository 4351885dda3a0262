#!/usr/bin/env bats
# The real Docker clients against moatd, unchanged: Debian's docker CLI
# (/usr/bin/docker, 20.10, API 1.41), the newer CLI at /usr/local/bin/docker
# (28.x, negotiates down to 1.41) and Debian's python3-docker (with
# /usr/bin/python3).  As root the suite installs docker.io and python3-docker
# from Debian when they are missing (without starting Debian's dockerd).
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

install_clients() {
  is_root || return 0
  local need=()
  [ -x /usr/bin/docker ] || need+=(docker.io)
  /usr/bin/python3 -c 'import docker' 2>/dev/null || need+=(python3-docker)
  [ ${#need[@]} -eq 0 ] && return 0
  # policy-rc.d: the package must not start its own dockerd on this host
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
    { apt-get update -q >/dev/null 2>&1;
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null 2>&1; }
  rm -f /usr/sbin/policy-rc.d
}

setup_file() {
  install_clients
  engine_env
  export DOCKER_HOST=unix://$SOCK DOCKER_CONFIG=$ENG/docker-config
  mkdir -p "$DOCKER_CONFIG"
  engine_start
}

teardown_file() {
  local d
  for d in /usr/local/bin/docker /usr/bin/docker; do
    [ -x "$d" ] || continue
    "$d" rm -f $("$d" ps -aq) >/dev/null 2>&1 || true
    break
  done
  kill "$(cat "$ENG/moatd.pid")" 2>/dev/null || true
  sleep 0.2
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

setup() { :; }
teardown() { :; }

need() { [ -x "$1" ] || skip "$1 is not installed${2:+ ($2)}"; }

# The everyday commands the issue lists, with one CLI binary.
everyday() {
  local D=$1 n=c$RANDOM
  run "$D" run --rm busybox echo hi
  assert_success
  assert_output hi
  run "$D" run --rm busybox sh -c 'exit 42'
  [ "$status" -eq 42 ]
  id=$("$D" run -d --name "$n" busybox sh -c 'echo started; while :; do sleep 1; done')
  [ ${#id} -eq 64 ]
  run "$D" ps --format '{{.Names}} {{.Status}}'
  assert_output --partial "$n Up"
  run "$D" inspect --format '{{.State.Status}} {{.HostConfig.LogConfig.Type}}' "$n"
  assert_output "running json-file"
  run "$D" exec "$n" sh -c 'echo from-exec; exit 3'
  [ "$status" -eq 3 ]
  assert_output from-exec
  run "$D" logs "$n"
  assert_output started
  # logs -f follows until the container stops
  timeout 30 "$D" logs -f "$n" > "$BATS_TEST_TMPDIR/follow" 2>&1 &
  local lf=$!
  sleep 0.5
  run "$D" stop -t 1 "$n"
  assert_success
  assert_output "$n"
  wait "$lf"
  grep -q started "$BATS_TEST_TMPDIR/follow"
  run "$D" wait "$n"
  assert_output 137
  run "$D" rm "$n"
  assert_success
  run "$D" images --format '{{.Repository}}:{{.Tag}}'
  assert_line busybox:latest
  run "$D" volume create "v$n"
  assert_output "v$n"
  run "$D" volume ls -q
  assert_line "v$n"
  run "$D" run --rm -v "v$n:/data" busybox sh -c 'echo persisted > /data/f'
  assert_success
  run "$D" run --rm -v "v$n:/data:ro" busybox cat /data/f
  assert_output persisted
  run "$D" volume rm "v$n"
  assert_output "v$n"
  echo piped | "$D" run -i --rm busybox cat > "$BATS_TEST_TMPDIR/stdin.out"
  run cat "$BATS_TEST_TMPDIR/stdin.out"
  assert_output piped
}

@test "docker CLI 20.10 (/usr/bin/docker): run, -d, ps, inspect, exec, logs -f, stop, wait, rm, images, volumes, stdin" {
  need /usr/bin/docker "Debian's docker.io: installed by this suite as root"
  everyday /usr/bin/docker
}

@test "docker CLI 28 (/usr/local/bin/docker): the same commands, negotiated down to API 1.41" {
  need /usr/local/bin/docker "a newer docker CLI this kind of machine ships"
  everyday /usr/local/bin/docker
}

@test "docker CLI: error messages read like dockerd's" {
  D=/usr/bin/docker
  [ -x $D ] || D=/usr/local/bin/docker
  need $D
  run $D inspect nosuchcontainer
  [ "$status" -ne 0 ]
  assert_output --partial "No such object: nosuchcontainer"
  run $D run --rm --privileged busybox true
  [ "$status" -ne 0 ]
  assert_output --partial "privileged"
  run $D rm nosuchcontainer
  assert_output --partial "No such container: nosuchcontainer"
}

@test "python3-docker 5.0: containers.run() returns the output; exec_run; remove" {
  /usr/bin/python3 -c 'import docker' 2>/dev/null || skip "python3-docker is not installed (installed by this suite as root)"
  run env -u REQUESTS_CA_BUNDLE -u CURL_CA_BUNDLE /usr/bin/python3 - <<'EOF'
import docker
c = docker.from_env()
out = c.containers.run("busybox:latest", "echo ok", remove=True)
assert out == b"ok\n", out
ct = c.containers.run("busybox:latest", "sleep 100", detach=True)
r = ct.exec_run("sh -c 'echo in; exit 4'")
assert r.exit_code == 4 and r.output == b"in\n", r
ct.reload()
assert ct.status == "running", ct.status
ct.remove(force=True)
assert c.ping()
print("python ok")
EOF
  assert_success
  assert_output --partial "python ok"
}
