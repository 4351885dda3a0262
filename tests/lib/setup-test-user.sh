#!/bin/bash
# Create the unprivileged test user (for the rootless lane) with its own
# subordinate id ranges.  Idempotent; needs root.
set -euo pipefail
user=${MOAT_TEST_USER:-moattest}
[ "$(id -u)" -eq 0 ] || { echo "setup-test-user: needs root" >&2; exit 1; }
getent passwd "$user" >/dev/null || useradd -m -s /bin/bash "$user"
grep -q "^$user:" /etc/subuid || usermod --add-subuids 300000-365535 "$user"
grep -q "^$user:" /etc/subgid || usermod --add-subgids 300000-365535 "$user"
