#!/usr/bin/env bats
# The image commands of the moat CLI on a private store per test: the
# built-in busybox image, import, tag, rmi, images (filters, formats),
# inspect, history, prune, save/load, system df/check, info, limits.  The
# commands Docker's CLI makes over the API go through the engine the CLI
# starts for the test's store (MOAT_ROOT); teardown's reset stops it.
load ../lib/helpers

setup() { new_store; }
teardown() { reset_store; }

@test "images: an empty store prints Docker's header" {
  run moat images
  assert_success
  assert_output "REPOSITORY   TAG       IMAGE ID   CREATED   SIZE"
}

@test "busybox: built on first use from busybox-static, deterministic, runs" {
  run moat history busybox
  assert_success
  assert_line --index 0 --regexp '^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$'
  assert_line --index 1 --regexp '^[0-9a-f]{12} .*moat built-in image: BusyBox'
  id1=$(moat images -q busybox)
  [ ${#id1} -eq 12 ]
  id2=$(moat image build-busybox)
  [ "${id2:7:12}" = "$id1" ]
  run moat images --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_output "busybox:latest $id1"
  run image_run busybox echo hello from busybox
  assert_success
  assert_output "hello from busybox"
}

@test "import: a tar with --change, from a file and from stdin" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  run moat import -c 'CMD ["/bin/cat","/etc/hello"]' -c 'ENV A=1 B="two words"' -c 'LABEL x=y' \
      -c 'WORKDIR /etc' -m 'from a test' "$BATS_TEST_TMPDIR/r.tar" example.com/mine:1
  assert_success
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  id=$output
  run moat image inspect -f '{{.Id}} {{json .Config.Cmd}} {{.Config.WorkingDir}} {{.Config.Labels.x}}' example.com/mine:1
  assert_output "$id [\"/bin/cat\",\"/etc/hello\"] /etc y"
  run moat image inspect -f '{{json .Config.Env}}' example.com/mine:1
  assert_output '["A=1","B=two words"]'
  run moat history example.com/mine:1
  assert_line --index 1 --regexp '^[0-9a-f]{12} .* from a test$'
  gzip -c "$BATS_TEST_TMPDIR/r.tar" | moat import - >"$BATS_TEST_TMPDIR/id2"
  run moat images
  assert_line --regexp '^<none> +<none> +[0-9a-f]{12} +(Less than a second|[0-9]+ seconds?) ago +6B$'
  assert_line --regexp '^example.com/mine +1 +'"${id:7:12}"' '
  run moat import -c 'RUN rm -rf /' "$BATS_TEST_TMPDIR/r.tar"
  assert_failure
  assert_output "moat: --change 'RUN rm -rf /': RUN is not a valid change command (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR)"
  run moat import http://example.com/x.tar
  assert_failure
  assert_output --partial "moat: import from a URL"
}

@test "tag and rmi: Docker's semantics and error texts" {
  moat tag busybox one:1
  moat tag one:1 registry.example:5000/ns/two
  run moat images --format '{{.Repository}}:{{.Tag}}'
  assert_line "one:1"
  assert_line "registry.example:5000/ns/two:latest"
  id=$(moat images -q one:1)
  run moat rmi "$id"
  assert_failure
  assert_output "moat: conflict: unable to delete $id (must be forced) - image is referenced in multiple repositories"
  run moat rmi one:1
  assert_success
  assert_output "Untagged: one:1"
  run moat rmi nosuch
  assert_failure
  assert_output "moat: No such image: nosuch:latest"
  run moat rmi Bad
  assert_output "moat: invalid reference format: repository name (library/Bad) must be lowercase"
  run moat tag busybox 'x@sha256:0000000000000000000000000000000000000000000000000000000000000000'
  assert_failure
  run moat rmi -f "$id"
  assert_success
  assert_line "Untagged: busybox:latest"
  assert_line "Untagged: registry.example:5000/ns/two:latest"
  assert_line --regexp '^Deleted: sha256:[0-9a-f]{64}$'
  run moat images -q
  assert_output ""
  run moat system check
  assert_success
  assert_output --regexp "Checked 0 images, 0 layers, 0 blobs"
}

@test "rmi of an image a container uses: Docker's conflicts by tag and by ID; -f untags, keeps it while running" {
  cid=$(moat create busybox echo still here)
  id=$(moat images -q busybox)
  full=$(moat images -q --no-trunc busybox)
  # a stopped (created) container: refused by tag and by ID, short or full
  run moat rmi busybox
  assert_failure
  assert_output "moat: conflict: unable to remove repository reference \"busybox\" (must force) - container ${cid:0:12} is using its referenced image $id"
  run moat rmi busybox:latest
  assert_output "moat: conflict: unable to remove repository reference \"busybox:latest\" (must force) - container ${cid:0:12} is using its referenced image $id"
  run moat rmi "$id"
  assert_failure
  assert_output "moat: conflict: unable to delete $id (must be forced) - image is being used by stopped container ${cid:0:12}"
  run moat rmi "$full"
  assert_output "moat: conflict: unable to delete $id (must be forced) - image is being used by stopped container ${cid:0:12}"
  # two names: by ID that conflict comes first (as dockerd), by one tag only that tag goes
  moat tag busybox other:1
  run moat rmi "$id"
  assert_output "moat: conflict: unable to delete $id (must be forced) - image is referenced in multiple repositories"
  run moat rmi other:1
  assert_success
  assert_output "Untagged: other:1"
  run moat images -q busybox
  assert_output "$id"
  # a running container: by ID it cannot be forced; -f by tag untags and the image stays, dangling
  rid=$(moat run -d busybox sleep 120)
  run moat rmi -f "$id"
  assert_failure
  assert_output "moat: conflict: unable to delete $id (cannot be forced) - image is being used by running container ${rid:0:12}"
  run moat rmi -f busybox
  assert_success
  assert_output "Untagged: busybox:latest"
  run moat images -a --format '{{.Repository}}:{{.Tag}} {{.ID}}'
  assert_output "<none>:<none> $id"
  run moat inspect -f '{{.Image}}' "$rid"
  assert_output "$full"
  # ps: the name no longer names its image, so the image ID (Docker's rule), short unless --no-trunc
  run moat ps --filter "id=$rid" --format '{{.Image}}'
  assert_output "$id"
  run moat ps --no-trunc --filter "id=$rid" --format '{{.Image}}'
  assert_output "$full"
  # only stopped users left: -f deletes it (dockerd does); each container keeps its snapshot's layers
  moat tag "$id" again:1
  moat kill "$rid" >/dev/null
  moat wait "$rid" >/dev/null || true
  run moat rmi -f again:1
  assert_success
  assert_output "Untagged: again:1
Deleted: $full"
  run moat images -aq
  assert_output ""
  run moat system check
  assert_success
  assert_output --regexp 'Checked 0 images, 1 layers, 0 blobs .*, 2 snapshots: no problems found'
  run moat start -a "$cid"
  assert_success
  assert_output "still here"
  moat rm "$cid" "$rid" >/dev/null
}

@test "history: -q, --no-trunc, -H=false / --human=false, a bad -H value; rmi --no-prune" {
  moat run --name h1 busybox touch /x >/dev/null
  moat commit -m "second step" h1 hist:2 >/dev/null
  moat rm h1 >/dev/null
  id=$(moat images -q hist:2)
  full=$(moat images -q --no-trunc hist:2)
  bb=$(moat images -q busybox)
  bbsize=$(moat image inspect -f '{{.Size}}' busybox)
  run moat history -q hist:2
  assert_success
  assert_output "$id
<missing>"
  run moat history -q --no-trunc hist:2
  assert_output "$full
<missing>"
  run moat history busybox
  assert_line --index 1 --regexp "^$bb +.+ ago +moat built-in image: .{23}… +[0-9.]+MB +\$"
  run moat history --no-trunc busybox
  assert_line --index 1 --regexp "^sha256:[0-9a-f]{64} +.+ ago +moat built-in image: BusyBox v[0-9.]+ \(Debian [^)]+\) from /bin/busybox +[0-9.]+MB +\$"
  for flag in -H=false --human=false --human=0; do
    run moat history "$flag" hist:2
    assert_success
    assert_line --index 0 --regexp '^IMAGE +CREATED +CREATED BY +SIZE +COMMENT$'
    assert_line --index 1 --regexp "^$id +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2}) +moat commit +0 +second step\$"
    assert_line --index 2 --regexp "^<missing> +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}(Z|[+-][0-9]{2}:[0-9]{2}) +moat built-in image: .+ +$bbsize +\$"
  done
  run moat history -H hist:2
  assert_line --index 1 --regexp "^$id +.+ ago +moat commit +0B +second step\$"
  run moat history --human=maybe hist:2
  assert_failure
  assert_output 'moat: invalid argument "maybe" for "-H, --human" flag: strconv.ParseBool: parsing "maybe": invalid syntax'
  # moat's images have no parent chain (commit records none): --no-prune is accepted, the removal the same
  top=$(moat image inspect -f '{{json .RootFS.Layers}}' hist:2 | jq -r '.[1]')
  [[ $top =~ ^sha256:[0-9a-f]{64}$ ]]
  run moat rmi --no-prune hist:2
  assert_success
  assert_output "Untagged: hist:2
Deleted: $full
Deleted: $top"
  run moat images -q
  assert_output "$bb"
}

@test "images: -a, --digests, --no-trunc, -q, filters, REPOSITORY argument" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  moat import -c 'LABEL tier=web' "$BATS_TEST_TMPDIR/r.tar" web:1 >/dev/null
  moat import "$BATS_TEST_TMPDIR/r.tar" >/dev/null
  moat tag busybox tools/bb:2
  run moat images -a
  assert_success
  [ "${#lines[@]}" -eq 5 ]
  run moat images --filter dangling=true --format '{{.Repository}} {{.Tag}}'
  assert_output "<none> <none>"
  run moat images --filter dangling=false --filter 'reference=tools/*' --format '{{.Repository}}:{{.Tag}}'
  assert_output "tools/bb:2"
  run moat images --filter label=tier=web --format '{{.Repository}}'
  assert_output "web"
  run moat images busybox --format '{{.Tag}}'
  assert_output "latest"
  run moat images --digests busybox
  assert_line --index 0 --regexp '^REPOSITORY +TAG +DIGEST +IMAGE ID +CREATED +SIZE$'
  assert_line --index 1 --regexp '^busybox +latest +sha256:[0-9a-f]{64} +[0-9a-f]{12} '
  run moat images --no-trunc -q busybox
  assert_output --regexp '^sha256:[0-9a-f]{64}$'
  run moat images --filter bogus=1
  assert_failure
  assert_output "moat: invalid filter 'bogus'"
  run moat images --bogus
  assert_output "moat: unknown flag: --bogus (see 'moat images --help')"
}

@test "image inspect: Docker's JSON shape; IDs and unique prefixes resolve" {
  run moat image inspect busybox
  assert_success
  echo "$output" | jq -e '.[0] | (.Id|startswith("sha256:")) and .RepoTags == ["busybox:latest"]
      and (.RepoDigests[0]|startswith("busybox@sha256:")) and .Config.Cmd == ["sh"] and .Os == "linux"
      and (.RootFS.Layers|length) == 1 and .Size > 1000000 and .GraphDriver.Name == "overlay"
      and (.Metadata.LastTagTime|length) > 0'
  id=$(echo "$output" | jq -r '.[0].Id')
  run moat image inspect -f '{{.Id}}' "${id#sha256:}" "${id:7:6}" "$id"
  assert_output "$id"$'\n'"$id"$'\n'"$id"
  run moat image inspect nosuch
  assert_failure
  assert_output "moat: Error: No such image: nosuch"$'\n'"[]"
}

@test "image prune: dangling by default, unused with -a" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  moat import "$BATS_TEST_TMPDIR/r.tar" >/dev/null
  moat image build-busybox >/dev/null
  run moat image prune -f
  assert_success
  assert_line "Deleted Images:"
  assert_line --regexp '^deleted: sha256:[0-9a-f]{64}$'
  assert_line --regexp '^Total reclaimed space: [0-9.]+[kM]?B$'
  run moat images -q
  [ "${#lines[@]}" -eq 1 ]
  run moat image prune -a -f
  assert_line "untagged: busybox:latest"
  run moat images -q
  assert_output ""
}

@test "save and load: a round trip keeps IDs and names; OCI layout directories load too" {
  moat image build-busybox >/dev/null
  id=$(moat images -q --no-trunc busybox)
  moat tag busybox other:2
  moat save -o "$BATS_TEST_TMPDIR/all.tar" busybox other:2
  tar -tf "$BATS_TEST_TMPDIR/all.tar" | grep -qx manifest.json
  tar -tf "$BATS_TEST_TMPDIR/all.tar" | grep -qx index.json
  tar -tf "$BATS_TEST_TMPDIR/all.tar" | grep -qx oci-layout
  moat rmi -f "$id" >/dev/null
  run moat load -i "$BATS_TEST_TMPDIR/all.tar"
  assert_success
  assert_output "Loaded image: busybox:latest"$'\n'"Loaded image: other:2"
  [ "$(moat images -q --no-trunc other:2)" = "$id" ]
  moat rmi -f "$id" >/dev/null
  moat load -q < "$BATS_TEST_TMPDIR/all.tar"
  [ "$(moat images -q --no-trunc busybox)" = "$id" ]
  # the same archive as an OCI image layout directory
  mkdir "$BATS_TEST_TMPDIR/layout"
  tar -C "$BATS_TEST_TMPDIR/layout" -xf "$BATS_TEST_TMPDIR/all.tar"
  rm "$BATS_TEST_TMPDIR/layout/manifest.json"
  moat rmi -f "$id" >/dev/null
  run moat load -i "$BATS_TEST_TMPDIR/layout"
  assert_success
  assert_line "Loaded image: busybox:latest"
  run moat load -i "$BATS_TEST_TMPDIR/nonexistent.tar"
  assert_failure
  assert_output --partial "moat: open $BATS_TEST_TMPDIR/nonexistent.tar: No such file or directory"
  run moat system check
  assert_success
}

@test "system df, system check (finds and repairs corruption), info" {
  moat image build-busybox >/dev/null
  run moat system df
  assert_success
  assert_line --index 0 --regexp '^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$'
  assert_line --index 1 --regexp '^Images +1 +0 +[0-9.]+MB +[0-9.]+MB \(100%\)$'
  assert_line --index 2 --regexp '^Containers +0 +0 +0B +0B$'
  run moat system check
  assert_success
  assert_output --regexp 'Checked 1 images, 1 layers, 3 blobs .*: no problems found'
  layer=$(cd "$MOAT_ROOT/blobs/sha256" && find . -size +100k -printf '%f\n')
  printf 'X' | dd of="$MOAT_ROOT/blobs/sha256/$layer" bs=1 seek=5000 conv=notrunc status=none
  run moat system check
  assert_failure
  assert_line --regexp "^blob sha256:$layer is corrupt: its content hashes to sha256:[0-9a-f]{64}\$"
  run moat system check --repair
  assert_success
  run moat system check
  assert_success
  assert_output --regexp 'Checked 0 images'
  run moat info
  assert_success
  assert_line --regexp '^ Storage Driver: (overlay|copy)$'
  if is_root; then assert_line " Rootless: false"; else assert_line " Rootless: true"; fi
  assert_line " Moat Root Dir: $MOAT_ROOT"
}

# info's driver is the one containers get (the snapshot record says it too)
ctr_driver() {
  local id
  id=$(moat create busybox true) || return 1
  jq -r .driver "$MOAT_ROOT/snapshots/$id/snapshot.json"
  moat rm "$id" >/dev/null
}

@test "info: the storage driver containers really get, and why once when it is the copy fallback" {
  run moat info
  assert_success
  # the store's overlay probe decides (recorded in storage.json; rootless it
  # ran in the store's user and mount namespace, as moat-runtime mounts it)
  probed=$(jq -r .driver "$MOAT_ROOT/storage.json")
  assert_line " Storage Driver: $probed"
  if [ "$probed" = overlay ]; then
    refute_line --partial "Copy fallback"
    assert_line "  Native Overlay Diff: true"
  else
    assert_line --regexp '^  Copy fallback: overlay probe failed: .+'
  fi
  [ "$(grep -c 'Copy fallback' <<<"$output")" -le 1 ]
  driver=$(sed -n 's/^ Storage Driver: //p' <<<"$output")
  run ctr_driver
  assert_success
  assert_output "$driver"
}

@test "info: as root, a store whose overlay probe failed says why and containers get copies" {
  requires_root
  mkdir -p "$MOAT_ROOT"
  printf '{"version":1,"rootless":false,"driver":"copy","reason":"mount overlay: Invalid argument (test)"}\n' \
    >"$MOAT_ROOT/storage.json"
  run moat info
  assert_success
  assert_line " Storage Driver: copy"
  assert_line "  Copy fallback: overlay probe failed: mount overlay: Invalid argument (test)"
  refute_line "  Native Overlay Diff: true"
  run ctr_driver
  assert_output copy
  id=$(moat create busybox cat /etc/passwd)
  run moat start -a "$id"
  assert_success
  assert_line --regexp '^root:'
  moat rm "$id" >/dev/null
}

@test "limits: limits.json refuses a layer over a limit, names it and leaves nothing" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  limits '{"layerEntries": 2}'
  run moat import "$BATS_TEST_TMPDIR/r.tar" big
  assert_failure
  assert_output --regexp '^moat: import: layer sha256:[0-9a-f]{64}: more than 2 entries: exceeds limit layerEntries \(2\) by 1$'
  run moat images -q
  assert_output ""
  [ -z "$(ls -A "$MOAT_ROOT/layers")" ] && [ -z "$(ls -A "$MOAT_ROOT/tmp")" ]
  # the engine opens the store again for each import: a bad limits.json refuses it
  limits '{"layerEntrys": 2}'
  run moat import "$BATS_TEST_TMPDIR/r.tar" big
  assert_failure
  assert_output --partial "limits.json: /layerEntrys: unknown limit"
  run moat images -q
  assert_output ""
}

@test "concurrent commands share the store under its lock" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  for i in 1 2 3 4; do moat import -c "LABEL n=$i" "$BATS_TEST_TMPDIR/r.tar" "c:$i" >/dev/null & done
  moat image build-busybox >/dev/null &
  wait
  run moat images --format '{{.Repository}}:{{.Tag}}'
  for i in 1 2 3 4; do assert_line "c:$i"; done
  assert_line "busybox:latest"
  run moat system check
  assert_success
}

@test "image commands are requests to the store's engine: on its audit log" {
  mkimage_tar "$BATS_TEST_TMPDIR/r.tar"
  moat import "$BATS_TEST_TMPDIR/r.tar" audited:1 >/dev/null
  moat tag audited:1 audited:2
  moat save -o "$BATS_TEST_TMPDIR/a.tar" audited:2
  moat rmi audited:2 >/dev/null
  moat load -q -i "$BATS_TEST_TMPDIR/a.tar"
  moat image prune -f >/dev/null
  run "$MOAT_BIN" audit ls --dir "$MOAT_ROOT/audit" --action 'image.*'
  assert_success
  assert_line --regexp '^[0-9TZ:-]+ +uid:'"$(id -u)"' +image\.create +.* +allow$'
  assert_line --regexp ' image\.tag +audited:1 +allow$'
  assert_line --regexp ' image\.delete +audited:2 +allow$'
  assert_line --regexp ' image\.load +.* +allow$'
  assert_line --regexp ' image\.prune +- +allow$'
  run "$MOAT_BIN" audit verify --dir "$MOAT_ROOT/audit"
  assert_success
  # the engine serves this store (its socket is the store's own), and only it
  run pgrep -f -- "moatd .*--data-root $MOAT_ROOT\$"
  assert_success
  [ "${#lines[@]}" -eq 1 ]
}

@test "CLI: errors are one line 'moat: ...' with a non-zero status" {
  run moat nosuchcommand
  assert_failure
  assert_output "moat: 'nosuchcommand' is not a moat command (see 'moat --help')"
  run moat tag onlyone
  assert_failure
  assert_output "moat: \"moat tag\" requires exactly 2 arguments (see 'moat tag --help')"
  run moat image nosuch
  assert_output "moat: 'image nosuch' is not a moat command (see 'moat image --help')"
  run "$MOAT_BIN" --data-root "$BATS_TEST_TMPDIR/other" images -q
  assert_success
  [ -d "$BATS_TEST_TMPDIR/other/blobs/sha256" ]
  # that store got an engine of its own, which its reset stops
  run pgrep -f -- "moatd .*--data-root $BATS_TEST_TMPDIR/other\$"
  assert_success
  "$MOAT_BIN" --data-root "$BATS_TEST_TMPDIR/other" system reset -f
  run pgrep -f -- "moatd .*--data-root $BATS_TEST_TMPDIR/other\$"
  assert_failure
}
