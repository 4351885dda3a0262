# Shared set-up for the integration suites.  Every test gets its own bundle
# (config.json from `moat-runtime spec`, rootfs = the shared busybox tree) and
# its own state root, so tests never see each other's containers.
load /usr/lib/bats/bats-support/load
load /usr/lib/bats/bats-assert/load

: "${MOAT_BUILD:?MOAT_BUILD must point at the build directory}"
: "${MOAT_ROOTFS:?MOAT_ROOTFS must point at the test rootfs}"
RUNTIME=$MOAT_BUILD/bin/moat-runtime

is_root() { [ "$(id -u)" -eq 0 ]; }
requires_root() { is_root || skip "needs root (the rootless lane cannot do this)"; }
requires_rootless() { is_root && skip "rootless lane only"; true; }

# rt ARGS: the runtime with this test's private state root.
rt() { "$RUNTIME" --root "$STATE" "$@"; }

# cfg JQ-FILTER [jq args]: edit the bundle's config.json.
cfg() {
  local f=$BUNDLE/config.json
  jq "$@" "$f" > "$f.new" && mv "$f.new" "$f"
}

# set_args CMD ARGS...: the container's command.
set_args() {
  local a='[]' x
  for x in "$@"; do a=$(jq -cn --argjson a "$a" --arg x "$x" '$a + [$x]'); done
  cfg --argjson a "$a" '.process.args = $a'
}

new_bundle() {
  BUNDLE=$BATS_TEST_TMPDIR/bundle
  STATE=$BATS_TEST_TMPDIR/state
  CID=c$BATS_TEST_NUMBER-$$
  mkdir -p "$BUNDLE"
  ln -sfn "$MOAT_ROOTFS" "$BUNDLE/rootfs"
  "$RUNTIME" spec --bundle "$BUNDLE" >/dev/null
  cfg '.process.terminal = false'
}

# run_ctr CMD ARGS...: run a container to completion; sets $status/$output.
run_ctr() {
  set_args "$@"
  run rt run --bundle "$BUNDLE" "$CID"
}

# detached: start the bundle's container in the background.  A detached
# container keeps the stdio it was given, so never hand it bats' pipes.
detached() { rt run --detach --bundle "$BUNDLE" "$CID" < /dev/null > "$BATS_TEST_TMPDIR/ctr.out" 2>&1; }

setup() { new_bundle; }

# delete_all: remove every container of this test's state root.
delete_all() {
  [ -n "${STATE:-}" ] || return 0
  for id in $("$RUNTIME" --root "$STATE" list -q 2>/dev/null); do
    "$RUNTIME" --root "$STATE" delete --force "$id" >/dev/null 2>&1 || true
  done
}

teardown() { delete_all; }

# gone PID: the process no longer runs (absent, or a zombie awaiting its reaper).
gone() { [ ! -e "/proc/$1/stat" ] || [ "$(sed 's/.*) //' "/proc/$1/stat" | cut -c1)" = Z ]; }

# wait_for CMD...: retry for up to 5 s.
wait_for() {
  local i
  for i in $(seq 50); do "$@" && return 0; sleep 0.1; done
  return 1
}

# ---- image store suites --------------------------------------------------------
MOAT_BIN=$MOAT_BUILD/bin/moat
SNAPTOOL=$MOAT_BUILD/tests/helpers/snaptool
MKTAR=$MOAT_BUILD/tests/helpers/mktar

# new_store: a private image store and config directory for this test
# (MOAT_ROOT / MOAT_CONFIG_DIR are what the moat CLI reads).
new_store() {
  export MOAT_ROOT=$BATS_TEST_TMPDIR/store
  export MOAT_CONFIG_DIR=$BATS_TEST_TMPDIR/config
  mkdir -p "$MOAT_CONFIG_DIR"
}

# reset_store: empty the store (rootless it holds files of subordinate ids
# that only the store's user namespace can remove).
reset_store() { "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true; }

# moat ARGS: the CLI on this test's store.
moat() { "$MOAT_BIN" "$@"; }

# limits JSON: write this test's limits.json.
limits() { printf '%s\n' "$1" > "$MOAT_CONFIG_DIR/limits.json"; }

# mkimage_tar OUT: a small rootfs tar (etc/hello, bin/) to import.
mkimage_tar() {
  local d=$BATS_TEST_TMPDIR/src.$RANDOM
  mkdir -p "$d/etc" "$d/bin"
  echo hello > "$d/etc/hello"
  tar -C "$d" -cf "$1" .
}

# image_run IMAGE [CMD ARGS...]: run an image's command in a container
# (tests/lib/image-run.sh: snapshot + moat-runtime spec + moat-runtime run).
image_run() { "$BATS_TEST_DIRNAME/../lib/image-run.sh" "$@"; }

# ---- a private moatd for one bats file ----
# engine_env: ENG (the file's directory), SOCK, STORE, RUN exported.
engine_env() {
  export ENG=$BATS_FILE_TMPDIR/eng
  mkdir -p "$ENG"
  export SOCK=$ENG/moat.sock STORE=$ENG/store RUN=$ENG/run
}
# engine_start [MOATD FLAGS...]: start it on that store (pid in $ENG/moatd.pid) and wait for an
# answer on the socket, not for the file (a killed engine's socket file may still be there).
engine_start() {
  "$MOAT_BUILD/bin/moatd" --data-root "$STORE" --run-dir "$RUN" --socket "$SOCK" --log-file "$ENG/moatd.log" \
    "$@" </dev/null &
  local pid=$!
  echo "$pid" > "$ENG/moatd.pid"
  for _ in $(seq 200); do
    curl -sf --unix-socket "$SOCK" http://moat/_ping >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  cat "$ENG/moatd.log" >&2
  return 1
}
