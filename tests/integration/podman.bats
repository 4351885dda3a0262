#!/usr/bin/env bats
# podman (Debian's, with conmon) driving moat-runtime: `podman --runtime
# build/bin/moat-runtime run ...`.  Podman gets a private store, run root,
# tmp dir, lock files and containers.conf under this file's temp dir, so the
# host's own podman state is never touched.  Root lane and rootless lane.
#
# Host traps handled here (see /work/shared/reference/peers.md):
# - root lacks CAP_SYS_RESOURCE and podman lowers its own RLIMIT_NPROC hard
#   limit to 32768: podman's default ulimits (nofile 1048576...) cannot be
#   applied, so containers.conf sets ones within our hard limits;
# - no systemd: cgroupfs manager, file events logger;
# - networking is not the point: netns "none" (no CNI, no iptables);
# - no XDG_RUNTIME_DIR for the test user: a private one here (podman keeps
#   its rootless state there, moat-runtime its container states).

bats_require_minimum_version 1.5.0
load ../lib/helpers

IMAGE=localhost/moat-test-busybox

# pm ARGS: podman with the private store and moat-runtime ($PM/pm is the
# same as a command, for sh -c and script -c).
pm() { "$PM/pm" "$@"; }

# prun ARGS: `run pm ARGS` with stdout in $output and stderr in $stderr
# (rootless podman warns on stderr that / is not a shared mount).
prun() { run --separate-stderr pm "$@"; }

# cannot REASON: podman cannot be set up here.  As root that FAILS the file
# (every test, with REASON): CI runs as root on a Debian that has podman, and
# must really exercise `podman --runtime moat-runtime`, not pass by skipping.
# Rootless it skips: a normal user cannot install packages or add id ranges.
cannot() {
  if is_root; then
    echo "podman.bats setup as root: $1" >&2
    return 1
  fi
  skip "$1"
}

setup_file() {
  if ! command -v podman >/dev/null || ! command -v conmon >/dev/null; then
    is_root || skip "podman or conmon is not installed and only root can install them (apt-get install podman conmon)"
    local pkgs=(podman conmon uidmap catatonit slirp4netns fuse-overlayfs) log=$BATS_FILE_TMPDIR/apt.log
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >"$log" 2>&1 ||
      { apt-get update -q >>"$log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >>"$log" 2>&1; } ||
      { cannot "apt-get install ${pkgs[*]} failed: $(tail -n 3 "$log" | tr '\n' ' ')"; return 1; }
  fi
  command -v podman >/dev/null || { cannot "podman is still missing after apt-get install podman"; return 1; }
  command -v conmon >/dev/null || { cannot "conmon is missing (apt-get install conmon)"; return 1; }
  if ! is_root; then
    command -v newuidmap >/dev/null || skip "rootless podman needs newuidmap (uidmap package)"
    grep -q "^$(id -un):" /etc/subuid || skip "rootless podman needs a /etc/subuid range for $(id -un)"
    grep -q "^$(id -un):" /etc/subgid || skip "rootless podman needs a /etc/subgid range for $(id -un)"
    unshare -U true 2>/dev/null || skip "this kernel gives an unprivileged user no user namespace"
  fi
  export PM=$BATS_FILE_TMPDIR/pm
  mkdir -p "$PM/tmp" "$PM/xdg"
  chmod 700 "$PM/xdg"
  export XDG_RUNTIME_DIR=$PM/xdg
  # podman lowers its own RLIMIT_NPROC hard limit to 32768 before it starts
  # conmon; the container's limits must fit under what the runtime inherits.
  local nofile nproc
  nofile=$(ulimit -Hn)
  nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
  [ "$nofile" = unlimited ] && nofile=1048576
  cat > "$PM/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
netns = "none"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
# podman passes --log FILE --log-format=json to the runtimes named here
runtime_supports_json = ["moat-runtime"]
EOF
  printf '[storage]\ndriver = "vfs"\ngraphroot = "%s"\nrunroot = "%s"\n' "$PM/store" "$PM/run" > "$PM/storage.conf"
  export CONTAINERS_CONF=$PM/containers.conf CONTAINERS_STORAGE_CONF=$PM/storage.conf
  cat > "$PM/pm" <<EOF
#!/bin/sh
exec podman --root "$PM/store" --runroot "$PM/run" --tmpdir "$PM/tmp" --storage-driver vfs \\
  --cgroup-manager cgroupfs --events-backend file --runtime "$RUNTIME" "\$@"
EOF
  chmod 755 "$PM/pm"
  # the image: the test busybox rootfs, owned by (container) root
  # With podman, conmon and (rootless) the id ranges all there, a failed
  # import is a failure in both lanes, with podman's own words.
  tar --numeric-owner --owner=0 --group=0 -C "$MOAT_ROOTFS" -c . | pm import -q - "$IMAGE" >/dev/null 2>"$PM/import.err" || {
    echo "podman import failed: $(tail -n 5 "$PM/import.err")" >&2
    return 1
  }
}

setup() { :; }

teardown() {
  pm rm -a -f -t 0 >/dev/null 2>&1 || true
}

teardown_file() {
  [ -n "${PM:-}" ] || return 0
  pm rm -a -f -t 0 >/dev/null 2>&1 || true
  if ! is_root; then
    # the store holds files of subordinate ids: remove it inside the user
    # namespace, then stop the pause process podman left to keep it
    pm unshare rm -rf "$PM/store" >/dev/null 2>&1 || true
    [ -s "$PM/tmp/pause.pid" ] && kill "$(cat "$PM/tmp/pause.pid")" 2>/dev/null
  fi
  true
}

# id of container NAME
cid() { pm inspect --format '{{.Id}}' "$1"; }

@test "podman run --rm true uses moat-runtime and exits 0" {
  prun run --rm "$IMAGE" true
  assert_success
  prun create --name c1 "$IMAGE" true
  assert_success
  prun inspect --format '{{.OCIRuntime}}' c1
  assert_output "$RUNTIME"
}

@test "output comes back and exit codes propagate" {
  prun run --rm "$IMAGE" echo hello from moat
  assert_success
  assert_output "hello from moat"
  prun run --rm "$IMAGE" sh -c 'echo to-stderr >&2; exit 7'
  assert_equal "$status" 7
  assert_equal "$stderr" "to-stderr"
  # killed by a signal (from outside: init ignores its own): 128+N
  prun run -d --name k1 "$IMAGE" sleep 100
  assert_success
  prun kill -s KILL k1
  assert_success
  prun wait k1
  assert_output 137
}

@test "a missing executable: 127 and moat-runtime's message" {
  run -127 --separate-stderr pm run --rm "$IMAGE" /no/such/program
  assert_equal "$status" 127
  assert_equal "$output" ""
  [[ $stderr == *"exec '/no/such/program'"* ]]
  [[ $stderr == *"No such file or directory"* ]]
}

@test "stdin reaches the container (run -i)" {
  run --separate-stderr sh -c "printf 'line one\nline two\n' | $PM/pm run --rm -i $IMAGE sh -c 'wc -l; echo done'"
  assert_success
  assert_output "2
done"
}

@test "env, workdir, user and hostname flags" {
  prun run --rm -e A=1 --env B=two -w /tmp -u 65534:65534 --hostname box "$IMAGE" \
    sh -c 'echo "$A $B $(pwd) $(id -u) $(id -g) $(hostname)"'
  assert_success
  assert_output "1 two /tmp 65534 65534 box"
}

@test "run -d, inspect shows it running, exec, stop, rm" {
  prun run -d --name d1 "$IMAGE" sh -c 'trap "echo got-term; exit 0" TERM; echo started; while :; do sleep 0.1; done'
  assert_success
  wait_for sh -c "[ \"\$($PM/pm inspect --format '{{.State.Status}}' d1)\" = running ]"
  prun inspect --format '{{.State.Running}} {{.State.Pid}}' d1
  assert_success
  read -r running pid <<< "$output"
  assert_equal "$running" true
  [ "$pid" -gt 1 ]
  [ -d "/proc/$pid" ]
  # the runtime's own view (podman runs it without --root: the default root)
  id=$(cid d1)
  run "$RUNTIME" state "$id"
  assert_success
  assert_equal "$(echo "$output" | jq -r '.status + " " + (.pid|tostring)')" "running $pid"
  # exec: output, exit code, the container's pid namespace
  prun exec d1 sh -c 'echo in-exec; cat /proc/1/cmdline | tr "\0" " "'
  assert_success
  assert_line --index 0 in-exec
  assert_line --index 1 --partial "sh -c trap"
  prun exec d1 sh -c 'exit 5'
  assert_equal "$status" 5
  prun exec -e X=y -w /etc -u 65534 d1 sh -c 'echo "$X $(pwd) $(id -u)"'
  assert_output "y /etc 65534"
  # exec -d: the process keeps running after podman (and the runtime) return
  prun exec -d d1 sleep 77
  assert_success
  sleep 0.5
  prun exec d1 ps -o args
  assert_line "sleep 77"
  # stop: SIGTERM reaches the trap, no SIGKILL needed
  prun stop -t 10 d1
  assert_success
  [[ $stderr != *SIGKILL* ]]
  prun inspect --format '{{.State.Status}} {{.State.ExitCode}}' d1
  assert_output "exited 0"
  prun logs d1
  assert_output "started
got-term"
  gone "$pid"
  prun rm d1
  assert_success
  # the runtime's state went with it
  run "$RUNTIME" state "$id"
  assert_failure
  assert_output --partial "does not exist"
}

# With a terminal, podman 4.3 + conmon 2.1.6 lose the output of a container
# that exits right after writing it now and then (measured with crun too:
# 5 of 40 `run -it ... sh -c 'tty; exit 3'` printed nothing): these
# containers linger a moment after their output.
@test "run -t gets a terminal through the console socket" {
  prun run --rm -t "$IMAGE" sh -c 'tty; [ -t 0 ] && [ -t 1 ] && echo both-ttys; sleep 0.3' < /dev/null
  assert_success
  assert_line --index 0 --regexp '^/dev/pts/[0-9]+'
  assert_line --index 1 --partial both-ttys
  # -it under a terminal of our own (script(1)); the exit code still comes back
  run script -qec "$PM/pm run --rm -it $IMAGE sh -c 'tty; sleep 0.3; exit 3'" /dev/null < /dev/null
  assert_equal "$status" 3
  assert_output --partial /dev/pts/
}

@test "exec -t into a running container" {
  prun run -d --name t1 "$IMAGE" sleep 100
  assert_success
  prun exec -t t1 sh -c 'tty; [ -t 0 ] && echo is-a-tty; sleep 0.3' < /dev/null
  assert_success
  assert_line --index 0 --regexp '^/dev/pts/[0-9]+'
  assert_line --index 1 --partial is-a-tty
}

@test "podman's seccomp profile, capabilities, no_new_privs, read-only root, rlimits, oom_score_adj" {
  prun run --rm --cap-drop ALL --security-opt no-new-privileges --read-only --ulimit nofile=100:200 \
    --ulimit nproc=500:500 --oom-score-adj 200 "$IMAGE" sh -c \
    'grep -E "^(CapEff|NoNewPrivs|Seccomp):" /proc/self/status | tr -s "\t" " "; ulimit -n; ulimit -Hn;
     cat /proc/self/oom_score_adj; touch /x 2>&1 || echo read-only'
  assert_success
  assert_output "CapEff: 0000000000000000
NoNewPrivs: 1
Seccomp: 2
100
200
200
touch: /x: Read-only file system
read-only"
}

@test "bind mounts, tmpfs and devices from podman's config" {
  mkdir -p "$BATS_TEST_TMPDIR/vol"
  echo from-host > "$BATS_TEST_TMPDIR/vol/f"
  prun run --rm -v "$BATS_TEST_TMPDIR/vol:/v:ro" --tmpfs /scratch:size=1m "$IMAGE" sh -c \
    'cat /v/f; echo x > /v/g 2>/dev/null || echo ro-refused; echo t > /scratch/t && cat /scratch/t'
  assert_success
  assert_output "from-host
ro-refused
t"
  prun run --rm -v "$BATS_TEST_TMPDIR/vol:/v" "$IMAGE" sh -c 'echo written > /v/g'
  assert_success
  assert_equal "$(cat "$BATS_TEST_TMPDIR/vol/g")" written
  # podman's device fileMode carries the S_IFCHR bits
  prun run --rm --device /dev/null:/dev/mynull "$IMAGE" sh -c 'echo x > /dev/mynull && ls -l /dev/mynull'
  assert_success
  assert_output --regexp '^crw-rw-rw- .* 1, +3 .*/dev/mynull$'
}

@test "a user namespace from --uidmap/--gidmap" {
  prun run --rm --uidmap 0:1:1000 --gidmap 0:1:1000 "$IMAGE" sh -c 'cat /proc/self/uid_map | tr -s " "; id -u'
  assert_success
  # (rootless: ids of podman's own user namespace, whose 1 is our first subuid)
  assert_output " 0 1 1000
0"
}

@test "cgroup limits, podman update, pause and unpause (root)" {
  requires_root
  prun run -d --name g1 --memory 64m --pids-limit 50 "$IMAGE" sleep 100
  assert_success
  prun exec g1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max
  assert_output "67108864
50"
  prun update --memory 100m g1
  assert_success
  prun exec g1 cat /sys/fs/cgroup/memory/memory.limit_in_bytes
  assert_output 104857600
  prun pause g1
  assert_success
  prun inspect --format '{{.State.Status}}' g1
  assert_output paused
  prun unpause g1
  assert_success
  prun inspect --format '{{.State.Status}}' g1
  assert_output running
}

@test "OCI hooks from --hooks-dir get the state on stdin" {
  mkdir -p "$BATS_TEST_TMPDIR/hooks"
  local out=$BATS_TEST_TMPDIR/hook.out
  cat > "$BATS_TEST_TMPDIR/hooks/h.json" <<EOF
{"version":"1.0.0","hook":{"path":"/bin/sh","args":["sh","-c","cat >> $out; echo >> $out"]},
 "when":{"always":true},"stages":["prestart","poststop"]}
EOF
  prun --hooks-dir "$BATS_TEST_TMPDIR/hooks" run --name h1 "$IMAGE" true
  assert_success
  id=$(cid h1)
  prun rm h1
  assert_success
  run jq -r '.status + " " + .id' "$out"
  assert_line --index 0 "creating $id"
  assert_line --index 1 "stopped $id"
}

@test "global flags as podman and conmon pass them: --log FILE --log-format json" {
  # errors go to the log file as one JSON object per line, like runc and crun
  local log=$BATS_TEST_TMPDIR/oci-log
  mkdir -m 700 "$BATS_TEST_TMPDIR/state"
  run "$RUNTIME" --root "$BATS_TEST_TMPDIR/state" --log "$log" --log-format=json state no-such-ctr
  assert_failure
  run jq -r '.level + ": " + .msg' "$log"
  assert_success
  assert_output --partial "error: "
  assert_output --partial "does not exist"
  run "$RUNTIME" --root="$BATS_TEST_TMPDIR/state" --cgroup-manager=cgroupfs --rootless=false list --format json
  assert_success
  assert_output "[]"
}
