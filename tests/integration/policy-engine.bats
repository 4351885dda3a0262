#!/usr/bin/env bats
# The engine enforces the effective policy: create and start (the policy's
# defaults build config.json), exec, cp, commit, update; the built-in
# restricted profile one flag away (--policy restricted); a host policy
# directory (--policy-dir); `moat policy check`-free: the real create is the
# check.  One moatd per file on a private store, both lanes.
load ../lib/helpers
bats_require_minimum_version 1.5.0

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  export PDIR=$ENG/policy.d
  mkdir -p "$PDIR"
  # the host's policy: no commit, memory at most 1 GiB; cp allowed, exec allowed
  printf '{"moatPolicy": 1, "commit": false, "resources": {"pids": {"max": 2048}}}\n' > "$PDIR/10-site.json"
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

@test "policy: every reason of a denied create at once, each naming its rule and file; nothing is created" {
  run m run --rm --privileged --cap-add NET_ADMIN --security-opt seccomp=unconfined busybox true
  assert_failure 125
  assert_line --index 0 --partial "denied by policy: privileged containers are not allowed (baseline.json: /privileged); capability NET_ADMIN is not allowed (baseline.json: /capabilities/allowed); security-opt seccomp=unconfined is not allowed: system calls are always filtered (baseline.json: /seccomp/unconfined)"
  run m run --rm --pids-limit 5000 busybox true
  assert_failure 125
  assert_output --partial "pids limit 5000 is above the maximum 2048 ($PDIR/10-site.json: /resources/pids/max)"
  run m ps -aq
  assert_output ''
}

@test "policy: --policy restricted refuses root, a writable rootfs, added capabilities, host network and host binds" {
  run m run --rm --policy restricted busybox true
  assert_failure 125
  assert_output --partial "the container would run as root (user 'root'): a non-root user is required (--user UID) (restricted.json: /runAsNonRoot)"
  assert_output --partial "a read-only root filesystem is required (restricted.json: /readOnlyRootfs)"
  run m run --rm --policy restricted --user 1000 --read-only --cap-add NET_BIND_SERVICE --network host -v /srv:/srv busybox true
  assert_failure 125
  assert_output --partial "capability NET_BIND_SERVICE is not allowed (restricted.json: /capabilities/allowed)"
  assert_output --partial "network mode host is not allowed (restricted.json: /network/modes)"
  assert_output --partial "bind mount of host path /srv is not allowed (restricted.json: /mounts/hostBinds)"
  run m run --rm --policy privileged busybox true
  assert_failure 125
  assert_output --partial "the privileged profile can only be a host policy's base"
}

@test "policy: a socket is never bind-mounted by default, nor another engine's socket or state (/mounts/sockets, @engines)" {
  d=$(mktemp -d "$ENG/sock-XXXXXX")
  chmod 755 "$d" # as root the container's root is an unprivileged host uid
  /usr/bin/python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/api.sock"
  [ -S "$d/api.sock" ]
  run m run --rm -v "$d/api.sock:/api.sock" busybox true
  assert_failure 125
  assert_output --partial "bind mount of $d/api.sock is not allowed: it is a socket (baseline.json: /mounts/sockets)"
  # through a symlink too: what would be bound counts
  ln -s api.sock "$d/link"
  run m run --rm --mount "type=bind,src=$d/link,dst=/s" busybox true
  assert_failure 125
  assert_output --partial "it is a socket (baseline.json: /mounts/sockets)"
  run m run --rm -v /run/docker.sock:/var/run/docker.sock busybox true
  assert_failure 125
  assert_output --partial "bind mount of /run/docker.sock is not allowed: it is /run/docker.sock a container engine's (baseline.json: /mounts/forbidden)"
  run m run --rm -v /run:/host-run:ro busybox true
  assert_failure 125
  assert_output --partial "bind mount of /run is not allowed: it holds /run/docker.sock a container engine's"
  # a symlink is judged where it leads
  ln -s /run "$d/to-run"
  run m run --rm -v "$d/to-run:/r:ro" busybox true
  assert_failure 125
  assert_output --partial "bind mount of /run is not allowed: it holds /run/docker.sock a container engine's"
  ln -s /proc "$d/to-proc"
  run m policy check -v "$d/to-proc:/p" busybox true
  assert_failure
  assert_output --partial "bind mount of /proc is not allowed: /proc is forbidden (baseline.json: /mounts/forbidden)"
  # the directory that holds a socket is an ordinary bind
  rm "$d/to-run" "$d/to-proc"
  run m run --rm -v "$d:/d:ro" busybox ls /d
  assert_success
  assert_output --partial api.sock
  run m ps -aq
  assert_output ''
}

@test "policy: runAsNonRoot judges the uid a name resolves to (start and exec); --volumes-from brings binds under the new container's policy" {
  # an image whose /etc/passwd gives the name toor uid 0
  local r=$BATS_TEST_TMPDIR/toor
  cp -a "$MOAT_ROOTFS" "$r"
  echo 'toor:x:0:0:root again:/:/bin/sh' >> "$r/etc/passwd"
  tar -C "$r" --numeric-owner -cf "$BATS_TEST_TMPDIR/toor.tar" .
  m import "$BATS_TEST_TMPDIR/toor.tar" toorimg:1 >/dev/null
  run m run --rm --policy restricted --user toor --read-only toorimg:1 true
  assert_failure
  assert_output --partial "the container would run as root (user 'toor'): a non-root user is required (--user UID) (restricted.json: /runAsNonRoot)"
  run m ps -aq
  m run -d --name nr --policy restricted --user 1000 --read-only toorimg:1 sleep 300 >/dev/null
  run m exec -u toor nr true
  assert_failure
  assert_output --partial "exec as root (user '0') is not allowed: a non-root user is required (restricted.json: /runAsNonRoot)"
  run m exec -u 1000 nr id -u
  assert_success
  assert_output 1000
  m rm -f nr >/dev/null
  # a baseline container with a host bind; a restricted one may not inherit it
  m run -d --name hb -v /etc:/hostetc:ro busybox sleep 300 >/dev/null
  run m run --rm --policy restricted --user 1000 --read-only --volumes-from hb busybox true
  assert_failure 125
  assert_output --partial "bind mount of host path /etc is not allowed (restricted.json: /mounts/hostBinds)"
  run m run --rm --volumes-from hb busybox cat /hostetc/hostname
  assert_success
  m rm -f hb >/dev/null
  m rmi toorimg:1 >/dev/null
}

@test "policy: a restricted container gets what its policy builds: no capabilities, the restricted seccomp profile" {
  run m run --rm --policy restricted --user 1000 --read-only busybox sh -c 'grep -E "^(CapEff|CapBnd|NoNewPrivs)" /proc/self/status; id -u; touch /x 2>&1 || echo ro'
  assert_success
  assert_line $'CapEff:\t0000000000000000'
  assert_line $'CapBnd:\t0000000000000000'
  assert_line $'NoNewPrivs:\t1'
  assert_line 1000
  assert_line ro
  run m inspect -f '{{json .HostConfig.MoatPolicy}}' "$(m create --policy restricted --user 1000 --read-only busybox true)"
  assert_output '"restricted"'
  # the default container still gets moat's 8 capabilities inside its user namespace
  run m run --rm busybox grep CapEff /proc/self/status
  assert_output $'CapEff:\t00000000000004fb'
}

@test "policy: a container's own policy file tightens, and may not widen" {
  printf '{"moatPolicy": 1, "exec": false, "cp": false}' > "$BATS_TEST_TMPDIR/p.json"
  m run -d --name pol1 --policy "$BATS_TEST_TMPDIR/p.json" busybox sleep 300 >/dev/null
  run m exec pol1 true
  assert_failure
  assert_output --partial "denied by policy: exec is not allowed (the container's policy: /exec)"
  run m cp "$BATS_TEST_TMPDIR/p.json" pol1:/tmp/p.json
  assert_failure
  # export copies the whole filesystem out: the cp rule decides it too
  run m export -o "$BATS_TEST_TMPDIR/x.tar" pol1
  assert_failure
  assert_output --partial "denied by policy: cp is not allowed (the container's policy: /cp)"
  [ ! -s "$BATS_TEST_TMPDIR/x.tar" ]
  run m exec pol1 true
  assert_failure
  printf '{"moatPolicy": 1, "commit": true}' > "$BATS_TEST_TMPDIR/w.json"
  run m run --rm --policy "$BATS_TEST_TMPDIR/w.json" busybox true
  assert_failure 125
  assert_output --partial "/commit: would widen the policy in force: it allows commit"
  assert_output --partial "10-site.json"
}

@test "policy: commit refused by the host policy; update limits checked; start re-evaluates" {
  m run -d --name pol2 busybox sleep 300 >/dev/null
  run m commit pol2
  assert_failure
  assert_output --partial "commit is not allowed ($PDIR/10-site.json: /commit)"
  if [ "$(id -u)" -eq 0 ]; then
    run m update --pids-limit 4096 pol2
    assert_failure
    assert_output --partial "pids limit 4096 is above the maximum 2048"
    run m update --pids-limit 100 pol2
    assert_success
  fi
  run m exec pol2 true
  assert_success
}

@test "policy check: answers what create would, for a table of cases, and creates nothing" {
  printf '{"moatPolicy": 1, "exec": false}' > "$BATS_TEST_TMPDIR/noexec.json"
  cases=(
    ""
    "--privileged"
    "--cap-add NET_ADMIN --cap-add SYS_ADMIN"
    "--cap-add NET_BIND_SERVICE"
    "--security-opt seccomp=unconfined"
    "--security-opt no-new-privileges=false"
    "--pids-limit 5000"
    "--pids-limit 100"
    "--policy restricted"
    "--policy restricted --user 1000 --read-only"
    "--policy restricted --user 1000 --read-only --network host"
    "-v /etc:/x:ro"
    "-v /proc:/x"
    "--policy $BATS_TEST_TMPDIR/noexec.json"
    "--security-opt bogus=1"
    "--device /dev/null:/dev/mydev"
    "--pid host --ipc host"
    "--device /nonexistent"
  )
  for flags in "${cases[@]}"; do
    # shellcheck disable=SC2086
    run m policy check $flags busybox true
    check_status=$status check_out=$output
    # shellcheck disable=SC2086
    run m create $flags busybox true
    create_status=$status create_out=$output
    echo "case '$flags': check $check_status, create $create_status" >&3
    if [ "$create_status" -eq 0 ]; then
      [ "$check_status" -eq 0 ]
      [[ "$check_out" == "allowed by policy: baseline.json, $PDIR/10-site.json"* ]]
      m rm -f "$create_out" >/dev/null
    else
      [ "$check_status" -ne 0 ]
      # every reason the check gives is in create's refusal
      while IFS= read -r line; do
        reason=${line#denied by policy: }
        reason=${reason#moat: }
        [[ "$create_out" == *"$reason"* ]] || { echo "missing in create: $reason / $create_out"; false; }
      done <<<"$check_out"
    fi
  done
  run m ps -aq
  assert_output ''
}

@test "policy and audit: a denial is on the record with every reason and the policy; inspect names the admitting layers" {
  run m run --rm --cap-add NET_ADMIN busybox true
  assert_failure 125
  run "$MOAT_BIN" audit ls --dir "$STORE/audit" --decision deny --action container.create --format json
  assert_success
  last=${lines[${#lines[@]}-1]}
  [ "$(jq -r '.reasons[0]' <<<"$last")" = "capability NET_ADMIN is not allowed (baseline.json: /capabilities/allowed)" ]
  [ "$(jq -r '.identity' <<<"$last")" = "uid:$(id -u)" ]
  [[ "$(jq -r '.policy' <<<"$last")" == "baseline.json, $PDIR/10-site.json (sha256:"* ]]
  id=$(m create --name adm1 busybox true)
  run m inspect -f '{{json .AdmittedBy.Policy}}' adm1
  assert_output "[\"baseline.json\",\"$PDIR/10-site.json\"]"
  run m inspect -f '{{.AdmittedBy.Action}} {{.AdmittedBy.Identity}}' adm1
  assert_output "create uid:$(id -u)"
  m start adm1 >/dev/null
  run m inspect -f '{{.AdmittedBy.Action}}' adm1
  assert_output start
  digest=$(m inspect -f '{{.AdmittedBy.Digest}}' adm1)
  [[ "$digest" == sha256:* ]]
  run "$MOAT_BIN" audit ls --dir "$STORE/audit" --action container.start --format json
  [[ "${lines[${#lines[@]}-1]}" == *"$digest"* ]]
  run "$MOAT_BIN" audit verify --dir "$STORE/audit"
  assert_success
}

info_policy() { curl -sf --unix-socket "$SOCK" http://moat/v1.41/info | jq -c "$1"; }
hup_and_wait() { # $1: jq condition on .MoatPolicy that holds once the reload is seen
  local before
  before=$(info_policy .MoatPolicy.LoadedAt)
  kill -HUP "$(cat "$ENG/moatd.pid")"
  for _ in $(seq 100); do
    [ "$(info_policy "$1")" = true ] && return 0
    sleep 0.05
  done
  echo "reload not seen (loaded at $before): $(info_policy .MoatPolicy)"
  return 1
}

@test "policy: a host file scoped to the caller's uid applies to its requests; SIGHUP reloads; a bad file keeps the last good policy" {
  m run -d --name scp1 busybox sleep 300 >/dev/null
  run m cp scp1:/etc/passwd "$BATS_TEST_TMPDIR/p1"
  assert_success
  d0=$(info_policy .MoatPolicy.Digest)
  printf '{"moatPolicy": 1, "scope": {"uids": [424242]}, "exec": false}\n' > "$PDIR/20-other.json"
  printf '{"moatPolicy": 1, "scope": {"uids": [%s]}, "cp": false}\n' "$(id -u)" > "$PDIR/30-me.json"
  hup_and_wait '.MoatPolicy.ReloadError == null and .MoatPolicy.LoadedAt != "x"'
  # another uid's scope does not apply to us; ours does, named in the reason
  run m exec scp1 true
  assert_success
  run m cp scp1:/etc/passwd "$BATS_TEST_TMPDIR/p2"
  assert_failure
  assert_output --partial "cp is not allowed ($PDIR/30-me.json: /cp)"
  run m policy check busybox true
  assert_success
  assert_output --partial "$PDIR/30-me.json"
  refute_output --partial "20-other.json"
  # a bad file: refused with file, line and reason; the last good policy stays in force
  printf '{"moatPolicy": 1,\n "bogus": 1}\n' > "$PDIR/40-bad.json"
  hup_and_wait '.MoatPolicy.ReloadError != null'
  run info_policy .MoatPolicy.ReloadError
  assert_output --partial "$PDIR/40-bad.json:2"
  assert_output --partial "bogus"
  grep -q "policy reload refused: .*40-bad.json.*stays in force" "$ENG/moatd.log"
  run m cp scp1:/etc/passwd "$BATS_TEST_TMPDIR/p3"
  assert_failure
  assert_output --partial "cp is not allowed ($PDIR/30-me.json: /cp)"
  run "$MOAT_BIN" audit ls --dir "$STORE/audit" --action policy.reload --format json
  [ "$(jq -r .decision <<<"${lines[${#lines[@]}-1]}")" = error ]
  # fixed: the new set is in force, and it is the original one again
  rm "$PDIR/40-bad.json" "$PDIR/20-other.json" "$PDIR/30-me.json"
  hup_and_wait '.MoatPolicy.ReloadError == null'
  [ "$(info_policy .MoatPolicy.Digest)" = "$d0" ]
  run m cp scp1:/etc/passwd "$BATS_TEST_TMPDIR/p4"
  assert_success
}

@test "policy: the default policy refuses --privileged, --device, host namespaces and weaker security options, each with its source" {
  run m run --rm --privileged busybox true
  assert_failure 125
  assert_output --partial "denied by policy: privileged containers are not allowed (baseline.json: /privileged)"
  run m run --rm --device /dev/null:/dev/mydev busybox true
  assert_failure 125
  assert_output --partial "denied by policy: host device /dev/null is not allowed (baseline.json: /devices)"
  for mode in pid ipc uts cgroupns; do
    run m run --rm --$mode host busybox true
    assert_failure 125
    assert_output --partial "=host is not allowed: a container never shares the host's namespaces (baseline.json: /hostNamespaces)"
  done
  run m run --rm --pid host busybox true
  assert_output --partial "HostConfig.PidMode=host is not allowed"
  run m run --rm --security-opt seccomp=unconfined --security-opt no-new-privileges=false --security-opt apparmor=unconfined --security-opt label=disable busybox true
  assert_failure 125
  assert_output --partial "security-opt seccomp=unconfined is not allowed: system calls are always filtered (baseline.json: /seccomp/unconfined)"
  assert_output --partial "security-opt no-new-privileges=false is not allowed: no_new_privs is required (baseline.json: /noNewPrivileges)"
  assert_output --partial "security-opt apparmor=unconfined is not allowed (baseline.json: /apparmor/unconfined)"
  assert_output --partial "security-opt label=disable is not allowed (baseline.json: /selinux/disable)"
  m run -d --name pol3 busybox sleep 300 >/dev/null
  run m exec --privileged pol3 true
  assert_failure
  assert_output --partial "denied by policy: privileged exec is not allowed (baseline.json: /privileged)"
  m rm -f pol3 >/dev/null
  # the refusal is the policy's, before any check of the host's device node
  run m run --rm --device /dev/moat-no-such-device busybox true
  assert_output --partial "host device /dev/moat-no-such-device is not allowed (baseline.json: /devices)"
  run m ps -aq
  assert_output ''
}

@test "policy: /mounts/volumes false refuses the image's VOLUME too; /mounts/tmpfs; /mounts/noexec on every mount" {
  tar -C "$MOAT_ROOTFS" --numeric-owner -cf "$BATS_TEST_TMPDIR/r.tar" .
  m import --change 'VOLUME /data' "$BATS_TEST_TMPDIR/r.tar" volimg:1 >/dev/null
  printf '{"moatPolicy": 1, "mounts": {"volumes": false, "tmpfs": false}}' > "$BATS_TEST_TMPDIR/nov.json"
  run m run --rm --policy "$BATS_TEST_TMPDIR/nov.json" volimg:1 true
  assert_failure 125
  assert_output --partial "volumes are not allowed (the image's VOLUME /data) (the container's policy: /mounts/volumes)"
  run m run --rm --policy "$BATS_TEST_TMPDIR/nov.json" --tmpfs /t busybox true
  assert_failure 125
  assert_output --partial "tmpfs mounts are not allowed (/t) (the container's policy: /mounts/tmpfs)"
  run m run --rm --policy "$BATS_TEST_TMPDIR/nov.json" busybox true
  assert_success
  # allowed where the policy allows it: the image's volume is an anonymous volume
  run m run --rm volimg:1 sh -c 'grep -c " /data " /proc/mounts'
  assert_output 1
  printf '{"moatPolicy": 1, "mounts": {"noexec": true}}' > "$BATS_TEST_TMPDIR/noexec.json"
  run m run --rm --policy "$BATS_TEST_TMPDIR/noexec.json" -v nx:/v --tmpfs /t busybox sh -c 'grep -E " /(v|t) " /proc/mounts'
  assert_success
  assert_line --regexp ' /v .*noexec'
  assert_line --regexp ' /t .*noexec'
  m volume rm nx >/dev/null
  m rmi volimg:1 >/dev/null
}

@test "policy: start judges a created container by the host policy in force now (tightened after create)" {
  m create --name late busybox true >/dev/null
  printf '{"moatPolicy": 1, "resources": {"memory": {"required": true}}}\n' > "$PDIR/50-mem.json"
  kill -HUP "$(cat "$ENG/moatd.pid")"
  for _ in $(seq 100); do
    m policy check busybox true >/dev/null 2>&1 || break
    sleep 0.05
  done
  run m start late
  assert_failure
  assert_output --partial "a memory limit (-m) is required ($PDIR/50-mem.json: /resources/memory/required)"
  run m inspect -f '{{.State.Status}}' late
  assert_output created
  rm "$PDIR/50-mem.json"
  kill -HUP "$(cat "$ENG/moatd.pid")"
  for _ in $(seq 100); do
    m policy check busybox true >/dev/null 2>&1 && break
    sleep 0.05
  done
  run m start late
  assert_success
}
