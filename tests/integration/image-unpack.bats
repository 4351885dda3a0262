#!/usr/bin/env bats
# Hostile layers: every tar of the malicious corpus (tests/tools/tarcorpus.h,
# written by tests/tools/mktar) is refused by `moat import` with its expected
# message, and nothing outside the layer changes: the canary file beside the
# store, /tmp/moat-evil, the store's images, layers and staging directories.
load ../lib/helpers

setup_file() {
  export CORPUS=$BATS_FILE_TMPDIR/corpus OUTSIDE=$BATS_FILE_TMPDIR/outside
  mkdir -p "$CORPUS" "$OUTSIDE"
  "$MKTAR" "$CORPUS" "$OUTSIDE"
}

setup() {
  new_store
  echo canary > "$OUTSIDE/canary"
  rm -f /tmp/moat-evil 2>/dev/null || true
}

teardown() { reset_store; }

# refused NAME: the corpus entry NAME is refused with its expected message,
# as one line, and leaves the store and the outside untouched.
refused() {
  local name=$1 expect
  expect=$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$CORPUS/expected")
  run moat import "$CORPUS/$name.tar" "evil:$name"
  assert_failure
  [ "${#lines[@]}" -eq 1 ]
  assert_output --regexp "^moat: import: layer sha256:[0-9a-f]{64}: "
  assert_output --partial "$expect"
  # outside: the canary as it was, alone; nothing created by a traversal
  [ "$(cat "$OUTSIDE/canary")" = canary ]
  [ "$(stat -c %h "$OUTSIDE/canary")" -eq 1 ]
  [ "$(ls -A "$OUTSIDE")" = canary ]
  [ ! -e /tmp/moat-evil ]
  # the store: no image, no layer, no staging leftover, and it checks clean
  run moat images -q
  assert_output ""
  [ -z "$(ls -A "$MOAT_ROOT/layers")" ]
  [ -z "$(ls -A "$MOAT_ROOT/tmp")" ]
  run moat system check
  assert_success
}

@test "corpus: '..' traversal" { refused traversal; }
@test "corpus: '..' inside a path" { refused traversal-inner; }
@test "corpus: absolute path" { refused absolute; }
@test "corpus: symlink to outside, then a file through it" { refused symlink-escape; }
@test "corpus: relative symlink climbing out, then a file through it" { refused symlink-relative-escape; }
@test "corpus: symlink, then a file of the same name" { refused symlink-then-file; }
@test "corpus: hardlink escaping with '..'" { refused hardlink-escape; }
@test "corpus: hardlink to an absolute path" { refused hardlink-absolute; }
@test "corpus: hardlink through a symlink" { refused hardlink-via-symlink; }
@test "corpus: character device" { refused device-char; }
@test "corpus: block device" { refused device-block; }
@test "corpus: decompression bomb (zstd, default limits)" { refused bomb; }
@test "corpus: truncated tar" { refused truncated; }
@test "corpus: truncated gzip" { refused truncated-gzip; }
@test "corpus: duplicate entries" { refused duplicate; }
@test "corpus: huge xattr" { refused huge-xattr; }
@test "corpus: path longer than the limit" { refused long-path; }
@test "corpus: a whiteout and a file of the same name" { refused whiteout-and-file; }
@test "corpus: xz (unsupported compression)" { refused xz; }
@test "corpus: not a tar at all" { refused not-tar; }

@test "every corpus entry has a test above" {
  n=$(wc -l < "$CORPUS/expected")
  [ "$n" -eq 20 ]
}

@test "a refused layer in a docker-archive: the load fails as a whole, nothing is named" {
  moat image build-busybox >/dev/null
  moat save -o "$BATS_TEST_TMPDIR/ok.tar" busybox
  mkdir "$BATS_TEST_TMPDIR/a"
  tar -C "$BATS_TEST_TMPDIR/a" -xf "$BATS_TEST_TMPDIR/ok.tar"
  cfg=$(jq -r '.[0].Config' "$BATS_TEST_TMPDIR/a/manifest.json")
  cp "$CORPUS/symlink-escape.tar" "$BATS_TEST_TMPDIR/a/evil-layer.tar"
  diff=sha256:$(sha256sum < "$CORPUS/symlink-escape.tar" | cut -d' ' -f1)
  # a config that names the hostile layer, so that it really gets unpacked
  jq --arg d "$diff" '.rootfs.diff_ids = [$d]' "$BATS_TEST_TMPDIR/a/$cfg" > "$BATS_TEST_TMPDIR/a/evil.json"
  echo '[{"Config":"evil.json","RepoTags":["evil:load"],"Layers":["evil-layer.tar"]}]' > "$BATS_TEST_TMPDIR/a/manifest.json"
  tar -C "$BATS_TEST_TMPDIR/a" -cf "$BATS_TEST_TMPDIR/evil.tar" manifest.json evil.json evil-layer.tar
  run moat load -i "$BATS_TEST_TMPDIR/evil.tar"
  assert_failure
  assert_output --partial "is a symlink or goes through one"
  run moat images --format '{{.Repository}}:{{.Tag}}'
  assert_output "busybox:latest"
  [ "$(cat "$OUTSIDE/canary")" = canary ]
  run moat system check
  assert_success
}
