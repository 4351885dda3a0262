#!/usr/bin/env bats
# Crash safety: moat killed with SIGKILL at any moment of import, load or
# commit (the CLI, and the engine that writes the store) never leaves a half image visible; `moat system check` passes
# afterwards (it only clears the dead process's staging directory) and the
# store keeps working.  The kills land at several points of each operation.
load ../lib/helpers

setup_file() {
  # a layer big enough to be killed in the middle of: 24 MB of data, 3000 files
  local d=$BATS_FILE_TMPDIR/big
  mkdir -p "$d/many"
  head -c 24M /dev/urandom > "$d/data"
  (cd "$d/many" && seq -f 'f%g' 3000 | xargs touch)
  tar -C "$d" -cf "$BATS_FILE_TMPDIR/big.tar" .
  rm -rf "$d"
  export BIG=$BATS_FILE_TMPDIR/big.tar
}

setup() { new_store; }
teardown() { reset_store; }

# after_kill NAME: the image NAME is either absent or complete; the store checks clean
after_kill() {
  local name=$1
  # the sandboxed children die with moat (PR_SET_PDEATHSIG): nothing still writes
  sleep 0.1
  run pgrep -f -- "$MOAT_BIN .*$MOAT_ROOT"
  assert_failure
  run moat images --format '{{.Repository}}:{{.Tag}}'
  assert_success
  if [[ "$output" == *"$name"* ]]; then
    run moat image inspect -f '{{json .RootFS.Layers}}' "$name"
    assert_success
  fi
  run moat system check
  assert_success
  assert_line --regexp ': no problems found$'
}

@test "kill -9 during import" {
  for delay in 0.03 0.1 0.25 0.5; do
    "$MOAT_BIN" --data-root "$MOAT_ROOT" import "$BIG" "crash:$delay" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    after_kill "crash:$delay"
  done
  run moat import "$BIG" crash:final
  assert_success
  run moat system check
  assert_success
}

@test "kill -9 during load" {
  moat import "$BIG" big:1 >/dev/null
  moat image build-busybox >/dev/null
  moat save -o "$BATS_TEST_TMPDIR/save.tar" big:1 busybox
  moat system reset -f
  for delay in 0.03 0.1 0.25; do
    "$MOAT_BIN" --data-root "$MOAT_ROOT" load -i "$BATS_TEST_TMPDIR/save.tar" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    after_kill "big:1"
    moat system reset -f
  done
  run moat load -i "$BATS_TEST_TMPDIR/save.tar"
  assert_success
  assert_line "Loaded image: big:1"
}

# kill_engine_mid CMD...: run the CLI command in the background; once the store's engine
# (the per-store moatd that does the work) has begun to stage into <store>/tmp, wait $delay
# and kill -9 that engine.  Sets landed=1 when the staging area was still in use at the kill.
kill_engine_mid() {
  moat images >/dev/null # the store's engine is up
  local epid
  epid=$(pgrep -f -- "moatd .*--data-root $MOAT_ROOT\$") || { echo "no engine for $MOAT_ROOT" >&2; return 1; }
  "$@" >/dev/null 2>&1 &
  local cpid=$! i
  for i in $(seq 400); do
    [ -n "$(ls -A "$MOAT_ROOT/tmp" 2>/dev/null)" ] && break
    sleep 0.01
  done
  sleep "$delay"
  [ -n "$(ls -A "$MOAT_ROOT/tmp" 2>/dev/null)" ] && landed=1
  kill -9 "$epid"
  wait "$cpid" 2>/dev/null || true
  for i in $(seq 100); do kill -0 "$epid" 2>/dev/null || break; sleep 0.02; done
}

@test "kill -9 of the engine (moatd, the writer) during import and load" {
  landed=
  for delay in 0 0.1 0.3; do
    kill_engine_mid "$MOAT_BIN" --data-root "$MOAT_ROOT" import "$BIG" "crash:$delay"
    after_kill "crash:$delay"
  done
  moat import "$BIG" big:1 >/dev/null
  moat save -o "$BATS_TEST_TMPDIR/save.tar" big:1
  moat system reset -f
  for delay in 0 0.1 0.3; do
    kill_engine_mid "$MOAT_BIN" --data-root "$MOAT_ROOT" load -i "$BATS_TEST_TMPDIR/save.tar"
    after_kill "big:1"
    moat system reset -f
  done
  # at least one kill hit the engine while it was staging (not before, not after)
  [ -n "$landed" ]
  run moat load -i "$BATS_TEST_TMPDIR/save.tar"
  assert_success
  assert_line "Loaded image: big:1"
}

@test "kill -9 during commit" {
  moat image build-busybox >/dev/null
  read -r driver rootfs < <("$SNAPTOOL" "$MOAT_ROOT" create c1 busybox copy)
  tar -C "$rootfs" -xf "$BIG"
  for delay in 0.03 0.1 0.3; do
    "$SNAPTOOL" "$MOAT_ROOT" commit c1 "committed:$delay" >/dev/null 2>&1 &
    pid=$!
    sleep "$delay"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    after_kill "committed:$delay"
  done
  run "$SNAPTOOL" "$MOAT_ROOT" commit c1 committed:final
  assert_success
  run moat history committed:final
  assert_line --index 1 --regexp 'moat commit'
  "$SNAPTOOL" "$MOAT_ROOT" rm c1
  run moat system check
  assert_success
}
