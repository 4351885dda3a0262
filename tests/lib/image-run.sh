#!/bin/bash
# image-run.sh IMAGE [CMD ARGS...]: run an image with moat-runtime until the
# engine exists.  A snapshot of the image (tests/helpers/snaptool) becomes the
# bundle's rootfs -- overlay mounted by fd as root, the copy driver rootless
# (only the runtime may mount inside the container's namespaces) -- and
# config.json is `moat-runtime spec` plus the image config's Entrypoint, Cmd,
# Env and WorkingDir.  Needs MOAT_BUILD and MOAT_ROOT (the store).
set -euo pipefail
: "${MOAT_BUILD:?}" "${MOAT_ROOT:?}"
image=$1
shift
moat=$MOAT_BUILD/bin/moat
snaptool=$MOAT_BUILD/tests/helpers/snaptool
runtime=$MOAT_BUILD/bin/moat-runtime
id=run-$$-$RANDOM
bundle=$(mktemp -d "${TMPDIR:-/tmp}/moat-image-run-XXXXXX")
mounted=
cleanup() {
  [ -n "$mounted" ] && umount "$bundle/rootfs" 2>/dev/null
  "$runtime" --root "$bundle/state" delete --force "$id" >/dev/null 2>&1 || true
  "$snaptool" "$MOAT_ROOT" rm "$id" >/dev/null 2>&1 || true
  rm -rf "$bundle"
}
trap cleanup EXIT

cfg=$("$moat" image inspect -f '{{json .Config}}' "$image")
if [ "$(id -u)" -eq 0 ]; then
  read -r driver rootfs < <("$snaptool" "$MOAT_ROOT" create "$id" "$image")
  mkdir "$bundle/rootfs"
  if [ "$driver" = overlay ]; then
    "$snaptool" "$MOAT_ROOT" mount "$id" "$bundle/rootfs"
    mounted=1
  else
    rmdir "$bundle/rootfs"
    ln -s "$rootfs" "$bundle/rootfs"
  fi
else
  read -r driver rootfs < <("$snaptool" "$MOAT_ROOT" create "$id" "$image" copy)
  ln -s "$rootfs" "$bundle/rootfs"
fi
"$runtime" spec --bundle "$bundle" >/dev/null
if [ $# -gt 0 ]; then
  args='[]'
  for x in "$@"; do args=$(jq -cn --argjson a "$args" --arg x "$x" '$a + [$x]'); done
  args=$(jq -c --argjson a "$args" '(.Entrypoint // []) + $a' <<<"$cfg")
else
  args=$(jq -c '(.Entrypoint // []) + (.Cmd // [])' <<<"$cfg")
fi
jq --argjson a "$args" --argjson c "$cfg" \
  '.process.terminal = false | .process.args = $a
   | .process.env = ($c.Env // ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])
   | .process.cwd = (if ($c.WorkingDir // "") == "" then "/" else $c.WorkingDir end)' \
  "$bundle/config.json" > "$bundle/config.new" && mv "$bundle/config.new" "$bundle/config.json"
"$runtime" --root "$bundle/state" run --bundle "$bundle" "$id" </dev/null
