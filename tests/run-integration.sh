#!/bin/bash
# Integration suites: as root, then (when root) again as the unprivileged test
# user for the rootless lane.  Prints TAP; run-all.sh tallies it.
set -uo pipefail
cd "$(dirname "$0")/.."
: "${MOAT_BUILD:=$PWD/build}"
export MOAT_BUILD
suites=${MOAT_SUITES:-tests/integration/*.bats}
user=${MOAT_TEST_USER:-moattest}

cache=$(mktemp -d /tmp/moat-it-XXXXXX)
chmod 755 "$cache"
trap 'rm -rf "$cache"' EXIT

tests/lib/mkrootfs.sh "$cache/rootfs" "$MOAT_BUILD/tests/helpers/probe" || exit 1
export MOAT_ROOTFS=$cache/rootfs

echo "# lane: $(id -un) (uid $(id -u))"
bats --tap $suites
rc=$?

if [ "$(id -u)" -eq 0 ] && [ -z "${MOAT_NO_ROOTLESS:-}" ]; then
  tests/lib/setup-test-user.sh
  # the user's own rootfs copy: in its user namespace, container root is the user
  cp -a "$cache/rootfs" "$cache/rootfs-user"
  chown -R "$user:" "$cache/rootfs-user"
  echo "# lane: $user (rootless)"
  runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$(getent passwd "$user" | cut -d: -f6)" \
      MOAT_BUILD="$MOAT_BUILD" MOAT_ROOTFS="$cache/rootfs-user" TMPDIR=/tmp \
      ASAN_OPTIONS="${ASAN_OPTIONS:-}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-}" \
      bats --tap $suites
  rc2=$?
  [ $rc -eq 0 ] && rc=$rc2
fi
# Host canary: no suite, root or rootless, may have changed the host's device nodes.
bad=$(stat -c '%n %u:%g %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty | awk '$2 != "0:0" || $3 != "666"')
if [ -z "$bad" ]; then echo "ok - host device nodes unchanged"; else echo "not ok - host device nodes changed: $bad"; rc=1; fi
exit $rc
