#!/bin/bash
# Install every build and test dependency from Debian's archive (idempotent:
# apt-get runs only when something is missing), and, as root, create the
# dedicated user "moat" whose subordinate id range root's containers use.
set -euo pipefail

PKGS=(
  build-essential pkg-config clang llvm
  libseccomp-dev libcap-ng-dev libapparmor-dev libselinux1-dev libsepol-dev libpcre2-dev libbpf-dev libelf-dev
  zlib1g-dev libbz2-dev liblzma-dev libzstd-dev liblz4-dev libacl1-dev libattr1-dev
  libssl-dev libarchive-dev libjson-c-dev libsubid-dev libevent-dev libhttp-parser-dev
  bats bats-assert bats-support bats-file
  busybox-static uidmap iproute2 procps jq util-linux curl socat python3
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "make deps: missing packages: ${missing[*]} (run make deps as root)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  echo "make deps: installing ${missing[*]}"
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$(id -u)" -eq 0 ]; then
  # Root's containers are mapped into this unprivileged range, never to host root.
  getent passwd moat >/dev/null || useradd --system --no-create-home --shell /usr/sbin/nologin moat
  grep -q '^moat:' /etc/subuid || usermod --add-subuids 1000000000-1016777215 moat
  grep -q '^moat:' /etc/subgid || usermod --add-subgids 1000000000-1016777215 moat
fi
