#!/usr/bin/env bats
# The tamper-evident audit log through a real moatd: requests on the record with the
# caller's uid, `moat audit ls` filters, `moat audit verify` on the real log, then tamper
# cases on copies of it (edit, delete, swap, truncate, a tail replaced by a re-hashed chain,
# a rewritten or missing head), and fail-closed: with the log unable to grow (ulimit -f), a
# create is refused and does not happen, and moatd survives.  Root and rootless lanes.
load ../lib/helpers

MOATD=$MOAT_BUILD/bin/moatd

setup_file() {
  engine_env
  export AUD=$STORE/audit
  "$MOAT_BIN" --data-root "$STORE" image build-busybox >/dev/null
  start_moatd
}

start_moatd() { engine_start; }

wait_up() {
  local pid
  pid=$(cat "$ENG/moatd.pid")
  for _ in $(seq 200); do
    curl -sf --unix-socket "$SOCK" http://moat/_ping >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.05
  done
  return 1
}

stop_moatd() {
  local pid
  pid=$(cat "$ENG/moatd.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
  return 1
}

teardown_file() {
  for id in $(m ps -aq --no-trunc 2>/dev/null); do m rm -f "$id" >/dev/null 2>&1 || true; done
  stop_moatd || true
  MOAT_ROOT=$STORE "$MOAT_BIN" system reset -f >/dev/null 2>&1 || true
}

setup() { :; }
teardown() { :; }

m() { "$MOAT_BIN" -H "unix://$SOCK" --data-root "$STORE" "$@"; }
me() { echo "uid:$(id -u)"; }

# copy: a private copy of the real audit directory that verifies OK as copied.
copy() {
  T=$BATS_TEST_TMPDIR/aud.$RANDOM
  cp -a "$AUD" "$T"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_success
}

@test "audit: containers, execs and volumes through moatd are on the record with the caller's uid" {
  run m run --name aud1 busybox echo hello
  assert_success
  assert_output hello
  m create --name aud2 busybox sleep 100 >/dev/null
  m start aud2 >/dev/null
  run m exec aud2 echo inside
  assert_output inside
  m volume create audvol >/dev/null
  m rm -f aud2 >/dev/null
  run "$MOAT_BIN" audit ls --dir "$AUD"
  assert_success
  assert_line --index 0 --regexp '^TIME +IDENTITY +ACTION +OBJECT +DECISION$'
  assert_line --regexp "^[0-9T:-]+Z +$(me) +container.create +aud1 +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +container.create +aud2 +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +container.start +aud2 +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +exec.create +aud2 +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +exec.start +[0-9a-f]+ +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +volume.create +audvol +allow$"
  assert_line --regexp "^[0-9T:-]+Z +$(me) +container.delete +aud2 +allow$"
  # read-only requests (ps, inspect, and the POSTs that change nothing: wait, resize) are not
  refute_output --partial container.list
  refute_output --partial container.wait
  # filters
  run "$MOAT_BIN" audit ls --dir "$AUD" --action 'volume.*'
  [ "${#lines[@]}" -eq 2 ]
  assert_line --index 1 --partial audvol
  run "$MOAT_BIN" audit ls --dir "$AUD" --identity uid:424242
  [ "${#lines[@]}" -eq 1 ]
  run "$MOAT_BIN" audit ls --dir "$AUD" --decision deny
  [ "${#lines[@]}" -eq 1 ]
  run "$MOAT_BIN" audit ls --dir "$AUD" --since 10m --identity "$(me)" --action container.start --format json
  assert_success
  # aud1's start (by moat run) names its ID, aud2's (moat start aud2) its name: the record
  # keeps what the request named
  last=${lines[${#lines[@]}-1]}
  [ "$(jq -r .object <<<"$last")" = aud2 ]
  [ "$(jq -r .identity <<<"$last")" = "$(me)" ]
  [ "$(jq -r '.hash | length' <<<"$last")" = 64 ]
  [[ "$(jq -r .policy <<<"$last")" == "baseline.json (sha256:"* ]]
  run "$MOAT_BIN" audit ls --dir "$AUD" --since 2999-01-01T00:00:00Z
  [ "${#lines[@]}" -eq 1 ]
  run "$MOAT_BIN" audit ls --dir "$AUD" --decision maybe
  assert_failure
  assert_output --partial "invalid --decision"
  # the default directory is <data root>/audit
  run "$MOAT_BIN" --data-root "$STORE" audit verify
  assert_success
  assert_output --regexp "^audit log OK: [0-9]+ records, [0-9]+ checkpoints, last seq [0-9]+ \($AUD/audit.log\)$"
  # files and modes: 0700 directory, 0600 private key
  [ "$(stat -c %a "$AUD")" = 700 ]
  [ "$(stat -c %a "$AUD/audit.key")" = 600 ]
  [ "$(stat -c %u "$AUD/audit.key")" = "$(id -u)" ]
}

@test "audit: the start that ends a docker restart is on the record as the requester, not the engine" {
  m run -d --name audr busybox sleep 100 >/dev/null
  m restart -t 0 audr >/dev/null
  run m inspect -f '{{.State.Running}}' audr
  assert_output true
  run "$MOAT_BIN" audit ls --dir "$AUD" --action container.restart --format json
  assert_success
  # the request (naming audr), then the start after the stop (naming the ID): both the caller's
  [ "${#lines[@]}" -eq 2 ]
  [ "$(jq -r .object <<<"${lines[0]}")" = audr ]
  [ "$(jq -r .object <<<"${lines[1]}")" = "$(m inspect -f '{{.Id}}' audr)" ]
  for l in "${lines[@]}"; do
    [ "$(jq -r .identity <<<"$l")" = "$(me)" ]
    [ "$(jq -r .decision <<<"$l")" = allow ]
  done
  m rm -f audr >/dev/null
}

@test "audit verify: an edited line is caught and named" {
  copy
  n=$(grep -n '"action":"volume.create"' "$T/audit.log" | head -1 | cut -d: -f1)
  sed -i "${n}s/audvol/othvol/" "$T/audit.log"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output "moat: audit verify: $T/audit.log:$n: hash mismatch: the record was edited"
}

@test "audit verify: a deleted line is caught" {
  copy
  sed -i '3d' "$T/audit.log"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output --regexp "^moat: audit verify: $T/audit.log:3: seq [0-9]+ follows seq [0-9]+: 1 record\(s\) deleted or reordered$"
}

@test "audit verify: two swapped lines are caught" {
  copy
  awk 'NR==4{a=$0; next} NR==5{print; print a; next} {print}' "$AUD/audit.log" > "$T/audit.log"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output --regexp "^moat: audit verify: $T/audit.log:4: seq [0-9]+ follows seq [0-9]+: .*deleted or reordered$"
}

@test "audit verify: a truncated tail is caught by the signed head" {
  copy
  total=$(wc -l < "$T/audit.log")
  head -n $((total - 2)) "$AUD/audit.log" > "$T/audit.log"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output --regexp "^moat: audit verify: $T/audit.log:$((total - 1)): truncated: the log ends at seq [0-9]+ but the signed head records seq [0-9]+$"
  # and the engine refuses to continue such a log
  run "$MOATD" --data-root "$BATS_TEST_TMPDIR/nostore" --version
  mkdir -p "$BATS_TEST_TMPDIR/st2"
  cp -a "$T" "$BATS_TEST_TMPDIR/st2/audit"
  run "$MOATD" --data-root "$BATS_TEST_TMPDIR/st2" --run-dir "$BATS_TEST_TMPDIR/run2" --socket "$BATS_TEST_TMPDIR/s2.sock"
  assert_failure
  assert_output --partial "truncated or its tail replaced"
  assert_output --partial "moat audit verify"
}

# forge T N: replace the last N records with a fresh, internally valid chain (identity
# rewritten, every hash and prev recomputed as documented) - only the key can tell.
forge() {
  python3 - "$1/audit.log" "$2" <<'EOF'
import hashlib, json, sys
path, n = sys.argv[1], int(sys.argv[2])
lines = open(path).read().splitlines()
def seal(body):
    return body[:-1] + ',"hash":"%s"}' % hashlib.sha256(body.encode()).hexdigest()
for i in range(len(lines) - n, len(lines)):
    rec = json.loads(lines[i])
    prev = json.loads(lines[i - 1])["hash"]
    body = lines[i][:lines[i].rindex(',"hash":')] + "}"
    body = body.replace('"prev":"%s"' % rec["prev"], '"prev":"%s"' % prev)
    if rec.get("type") == "checkpoint":
        body = body.replace('"head":"%s"' % rec["head"], '"head":"%s"' % prev)
    if "identity" in rec:
        body = body.replace('"identity":"%s"' % rec["identity"], '"identity":"uid:31337"')
    lines[i] = seal(body)
    assert json.loads(lines[i])["hash"] == hashlib.sha256(body.encode()).hexdigest()
open(path, "w").write("\n".join(lines) + "\n")
EOF
}

@test "audit verify: a tail replaced by a fresh valid-looking chain is caught only by the signature" {
  copy
  forge "$T" 3
  # the forged chain is internally consistent: every line's hash and prev check out
  python3 - "$T/audit.log" <<'EOF'
import hashlib, json, sys
prev = None
for line in open(sys.argv[1]).read().splitlines():
    rec = json.loads(line)
    assert hashlib.sha256((line[:line.rindex(',"hash":')] + "}").encode()).hexdigest() == rec["hash"]
    assert prev is None or rec["prev"] == prev
    prev = rec["hash"]
EOF
  total=$(wc -l < "$T/audit.log")
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output --regexp "^moat: audit verify: $T/audit.log:$total: tail replaced: the signed head's record [0-9]+ \(hash [0-9a-f]{12}\) is not in the chain$"
  # the forger rewrites the head to match: its signature fails
  hash=$(tail -1 "$T/audit.log" | jq -r .hash)
  jq -c --arg h "$hash" '.hash = $h' "$T/audit.head" > "$T/h" && mv "$T/h" "$T/audit.head"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output "moat: audit verify: $T/audit.head: head signature invalid: audit.head was rewritten without the engine's key"
  # or removes it
  rm "$T/audit.head"
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output --partial "$T/audit.head: missing"
}

@test "audit verify: a forged chain reaching back over a checkpoint fails its signature" {
  # an engine restart appends an "open" checkpoint: one more record after it
  stop_moatd
  start_moatd
  m volume create audcp >/dev/null
  copy
  first_cp=$(grep -n '"type":"checkpoint"' "$T/audit.log" | sed -n 2p | cut -d: -f1)
  [ -n "$first_cp" ]
  total=$(wc -l < "$T/audit.log")
  forge "$T" $((total - first_cp + 2))
  run "$MOAT_BIN" audit verify --dir "$T"
  assert_failure
  assert_output "moat: audit verify: $T/audit.log:$first_cp: checkpoint signature invalid: the chain was rewritten without the engine's key (forged or replaced tail)"
}

@test "audit: fail closed: with the log unable to grow, create is refused, not executed, and moatd survives" {
  stop_moatd
  # pre-grown log: the limit sits just above its size (the engine's open checkpoint must fit)
  size=$(stat -c %s "$AUD/audit.log")
  started=
  for extra in 1 2 3; do
    lim=$((size / 1024 + extra))
    (ulimit -f "$lim"; exec "$MOATD" --data-root "$STORE" --run-dir "$RUN" --socket "$SOCK" --log-file "$ENG/moatd.log" </dev/null) &
    echo $! > "$ENG/moatd.pid"
    if wait_up; then started=1; break; fi
  done
  [ -n "$started" ]
  pid=$(cat "$ENG/moatd.pid")
  # fill the little room left; the first refusal must be the audit log's
  failed=
  for i in $(seq 40); do
    if ! out=$(m volume create "full$i" 2>&1); then failed=$i; break; fi
  done
  [ -n "$failed" ]
  [[ "$out" == *"audit log: write '$AUD/audit.log'"*"File too large; the request was not executed"* ]]
  [ ! -e "$STORE/volumes/full$failed" ]
  run m volume inspect "full$failed"
  assert_failure
  # a container create is refused the same way and leaves no container behind
  run m create --name notrecorded busybox true
  assert_failure
  assert_output --partial "audit log:"
  assert_output --partial "the request was not executed"
  run m ps -a --format '{{.Names}}'
  refute_output --partial notrecorded
  ! grep -qs '"/notrecorded"' "$STORE"/containers/*/container.json
  # moatd is alive and answering, and the log holds no half-written line
  kill -0 "$pid"
  curl -sf --unix-socket "$SOCK" http://moat/_ping >/dev/null
  run "$MOAT_BIN" audit verify --dir "$AUD"
  assert_success
  run "$MOAT_BIN" audit ls --dir "$AUD" --action volume.create
  refute_output --partial "full$failed "
  # without the limit, the same request works and is recorded
  stop_moatd
  start_moatd
  run m volume create "full$failed"
  assert_success
  run "$MOAT_BIN" audit ls --dir "$AUD" --action volume.create
  assert_output --partial "full$failed "
  run "$MOAT_BIN" audit verify --dir "$AUD"
  assert_success
}
