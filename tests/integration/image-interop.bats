#!/usr/bin/env bats
# Interoperability with podman: `moat save` loads in podman, and images podman
# made and saved (docker-archive, oci-archive) load in moat and run.
#
# podman gets a private store (--root/--runroot in a temporary directory,
# --storage-driver vfs) and, as root, a private mount namespace with tmpfs
# over /var/lib/containers and /run/containers, rootless private XDG
# directories, so that it never touches the host's podman state.
load ../lib/helpers

setup_file() {
  if ! command -v podman >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then
      export DEBIAN_FRONTEND=noninteractive
      timeout 300 apt-get install -y -q --no-install-recommends podman >/dev/null 2>&1 ||
        { timeout 300 apt-get update -q >/dev/null 2>&1 &&
          timeout 300 apt-get install -y -q --no-install-recommends podman >/dev/null 2>&1; } || true
    fi
  fi
  export PD=$BATS_FILE_TMPDIR/podman
  mkdir -p "$PD"/{root,run,tmp,xdg-run,xdg-config,xdg-data}
  chmod 700 "$PD/xdg-run"
}

teardown_file() {
  if [ "$(id -u)" -ne 0 ] && command -v podman >/dev/null; then
    # its store holds files of subordinate ids; and it leaves a pause process
    pd unshare rm -rf "$PD/root" "$PD/run" >/dev/null 2>&1 || true
    local p
    p=$(cat "$PD/tmp/pause.pid" 2>/dev/null) && [ -n "$p" ] && kill "$p" 2>/dev/null
  fi
  true
}

setup() {
  command -v podman >/dev/null || skip "podman is not installed (and only root may install it)"
  new_store
}

teardown() { reset_store; }

# pd ARGS: podman on its private store.
pd() {
  local flags=(--root "$PD/root" --runroot "$PD/run" --storage-driver vfs --tmpdir "$PD/tmp"
               --events-backend none --cgroup-manager cgroupfs)
  if [ "$(id -u)" -eq 0 ]; then
    unshare -m sh -c 'for d in /var/lib/containers /run/containers; do
        [ -d "$d" ] && mount -t tmpfs moat-test "$d"; done; exec podman "$@"' sh "${flags[@]}" "$@"
  else
    XDG_RUNTIME_DIR=$PD/xdg-run XDG_CONFIG_HOME=$PD/xdg-config XDG_DATA_HOME=$PD/xdg-data \
      podman "${flags[@]}" "$@"
  fi
}

@test "interop: moat save loads in podman, same image ID and config" {
  moat image build-busybox >/dev/null
  moat tag busybox interop/bb:1
  id=$(moat images -q --no-trunc interop/bb:1)
  moat save -o "$BATS_TEST_TMPDIR/moat.tar" interop/bb:1
  run pd load -i "$BATS_TEST_TMPDIR/moat.tar"
  assert_success
  assert_line "Loaded image: docker.io/interop/bb:1"
  run pd image inspect --format '{{.Id}} {{.Config.Cmd}}' docker.io/interop/bb:1
  assert_success
  assert_output "${id#sha256:} [sh]"
}

@test "interop: moat save is also an OCI layout: podman reads it as an oci-archive (no manifest.json)" {
  moat image build-busybox >/dev/null
  moat tag busybox interop/oci:1
  id=$(moat images -q --no-trunc interop/oci:1)
  moat save -o "$BATS_TEST_TMPDIR/moat.tar" interop/oci:1
  mkdir "$BATS_TEST_TMPDIR/x"
  tar -C "$BATS_TEST_TMPDIR/x" -xf "$BATS_TEST_TMPDIR/moat.tar"
  [ -f "$BATS_TEST_TMPDIR/x/index.json" ] && [ -f "$BATS_TEST_TMPDIR/x/oci-layout" ]
  rm -f "$BATS_TEST_TMPDIR/x/manifest.json" "$BATS_TEST_TMPDIR/x/repositories"
  tar -C "$BATS_TEST_TMPDIR/x" -cf "$BATS_TEST_TMPDIR/oci.tar" .
  run pd pull -q "oci-archive:$BATS_TEST_TMPDIR/oci.tar"
  assert_success
  # the same image ID: the same config, which names the same layers
  [ "$(pd image inspect --format '{{.Id}}' "${lines[-1]}")" = "${id#sha256:}" ]
  run pd image inspect --format '{{.Config.Cmd}} {{len .RootFS.Layers}}' "${lines[-1]}"
  assert_output "[sh] 1"
}

# a podman-made image: the test rootfs imported by podman, with a command
podman_image() {
  tar -C "$MOAT_ROOTFS" -cf "$BATS_TEST_TMPDIR/rootfs.tar" .
  pd import --change 'CMD ["/bin/echo","hello from podman"]' --change 'ENV FROM=podman' \
    "$BATS_TEST_TMPDIR/rootfs.tar" localhost/fromp:1 >/dev/null
}

@test "interop: podman save --format docker-archive loads in moat and runs" {
  podman_image
  pd save --format docker-archive -o "$BATS_TEST_TMPDIR/d.tar" localhost/fromp:1
  pid=$(pd image inspect --format '{{.Id}}' localhost/fromp:1)
  run moat load -i "$BATS_TEST_TMPDIR/d.tar"
  assert_success
  assert_output "Loaded image: localhost/fromp:1"
  [ "$(moat images -q --no-trunc localhost/fromp:1)" = "sha256:$pid" ]
  run image_run localhost/fromp:1
  assert_success
  assert_output "hello from podman"
  run image_run localhost/fromp:1 /bin/sh -c 'echo $FROM; id -u'
  assert_output "podman"$'\n'"0"
  run moat system check
  assert_success
}

@test "interop: podman save --format oci-archive loads in moat and runs" {
  podman_image
  pd save --format oci-archive -o "$BATS_TEST_TMPDIR/o.tar" localhost/fromp:1
  run moat load -i "$BATS_TEST_TMPDIR/o.tar"
  assert_success
  assert_output "Loaded image: localhost/fromp:1"
  run image_run localhost/fromp:1
  assert_success
  assert_output "hello from podman"
  run moat history localhost/fromp:1
  assert_success
  run moat system check
  assert_success
}
