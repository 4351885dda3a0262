#!/usr/bin/env bats
# moat policy show / lint: the built-in profiles, a host directory layered
# over its base (scopes by uid), a container's policy on top, refused
# widening, bad files named with file, line and JSON path.  Files only: no
# daemon.  (The engine's enforcement of the effective policy is issue 5's
# next step.)
load ../lib/helpers
bats_require_minimum_version 1.5.0

setup() {
  D=$BATS_TEST_TMPDIR/policy.d
  mkdir -p "$D"
}

show() { "$MOAT_BIN" policy show --dir "$D" "$@"; }
jq_() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }

@test "policy show: with no host files the default is the built-in baseline" {
  run show
  assert_success
  assert_equal "$(echo "$output" | jq_ 'd["name"], d["layers"]')" "('baseline', ['baseline.json'])"
  assert_equal "$(echo "$output" | jq_ 'sorted(d["capabilities"]["default"])')" \
    "['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'NET_BIND_SERVICE', 'SETGID', 'SETUID']"
  assert_equal "$(echo "$output" | jq_ 'd["privileged"], d["noNewPrivileges"], d["seccomp"]["default"], d["resources"]["pids"]["default"]')" \
    "(False, True, 'default', 1024)"
  assert_equal "$(echo "$output" | jq_ 'd["sources"]["/privileged"]')" "baseline.json:10"
}

@test "policy show restricted: one flag away, and tighter on every rule the issue lists" {
  run show restricted
  assert_success
  assert_equal "$(echo "$output" | jq_ 'd["layers"]')" "['baseline.json', 'restricted.json']"
  assert_equal "$(echo "$output" | jq_ 'd["capabilities"]["allowed"], d["runAsNonRoot"], d["readOnlyRootfs"], d["mounts"]["hostBinds"], d["network"]["modes"], d["seccomp"]["default"]')" \
    "([], True, True, [], ['none', 'bridge'], 'restricted')"
}

@test "policy: a host file tightens; a file that widens is refused naming both places" {
  printf '{"moatPolicy": 1,\n "capabilities": {"allowed": ["CHOWN", "KILL"]},\n "exec": false}\n' > "$D/10-site.json"
  run show
  assert_success
  assert_equal "$(echo "$output" | jq_ 'sorted(d["capabilities"]["allowed"]), sorted(d["capabilities"]["default"]), d["exec"]')" \
    "(['CHOWN', 'KILL'], ['CHOWN', 'KILL'], False)"
  assert_equal "$(echo "$output" | jq_ 'd["sources"]["/exec"]')" "$D/10-site.json:3"
  # the container's layer may not widen what the host allows
  printf '{"moatPolicy": 1, "capabilities": {"allowed": ["CHOWN", "SETUID"]}}' > "$BATS_TEST_TMPDIR/c.json"
  run show "$BATS_TEST_TMPDIR/c.json"
  assert_failure
  assert_output --partial "/capabilities/allowed: would widen the policy in force: capability SETUID"
  assert_output --partial "10-site.json"
  printf '{"moatPolicy": 1,\n\n "privileged": true}' > "$D/20-wide.json"
  run show
  assert_failure
  assert_output "moat: $D/20-wide.json:3: /privileged: would widen the policy in force: it allows privileged containers, which 10-site.json (baseline.json: /privileged) does not allow"
}

@test "policy: the host may choose the privileged base and tighten from there" {
  printf '{"moatPolicy": 1, "base": "privileged"}' > "$D/00-base.json"
  printf '{"moatPolicy": 1, "hostNamespaces": false}' > "$D/10-site.json"
  run show
  assert_success
  assert_equal "$(echo "$output" | jq_ 'd["privileged"], d["hostNamespaces"], d["layers"][0]')" "(True, False, 'privileged.json')"
  printf '{"moatPolicy": 1, "base": "restricted"}' > "$D/20-other.json"
  run show
  assert_failure
  assert_output --partial "'restricted' contradicts base 'privileged'"
}

@test "policy: a scoped file applies only to its uids" {
  printf '{"moatPolicy": 1, "scope": {"uids": [4242]}, "exec": false, "cp": false}' > "$D/50-tenant.json"
  run show --uid 4242
  assert_success
  assert_equal "$(echo "$output" | jq_ 'd["exec"], d["cp"], len(d["layers"])')" "(False, False, 2)"
  run show --uid 4243
  assert_success
  assert_equal "$(echo "$output" | jq_ 'd["exec"], len(d["layers"])')" "(True, 1)"
}

@test "policy lint: syntax, unknown keys, types and contradictions, each with file and line" {
  printf '{"moatPolicy": 1,\n "exec": "no"}' > "$D/a.json"
  printf '{"moatPolicy": 1,\n "netwrok": {}}' > "$D/b.json"
  printf '{"moatPolicy": 1,\n "capabilities": {"allowed": ["KILL"],\n "default": ["CHOWN"]}}' > "$D/c.json"
  printf '{"moatPolicy": 1, "exec": }' > "$D/d.json"
  printf '{"moatPolicy": 1, "resources": {"pids": {"max": 100}}}' > "$D/ok.json"
  run "$MOAT_BIN" policy lint "$D/a.json" "$D/b.json" "$D/c.json" "$D/d.json" "$D/ok.json"
  assert_failure 1
  assert_line "moat: $D/a.json:2: /exec: expected true or false"
  assert_line --partial "moat: $D/b.json:2: /netwrok: unknown key 'netwrok' (this version knows: images,"
  assert_line "moat: $D/c.json:3: /capabilities/default: CAP_CHOWN is a default but not in /capabilities/allowed"
  assert_line --partial "moat: $D/d.json: line 1 column"
  assert_line "$D/ok.json: OK"
  run "$MOAT_BIN" policy lint policy/privileged.json
  assert_failure
  assert_output --partial "would widen"
  run "$MOAT_BIN" policy lint policy/baseline.json policy/restricted.json
  assert_success
}
