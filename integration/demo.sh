#!/usr/bin/env bash
# The main job: install what is needed, build berth, and run a container
# with berth-runtime on a busybox rootfs built locally (no registry needed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "run as root: the runtime needs namespaces and mounts" >&2
  exit 1
fi
"$here/install-deps.sh"
(cd "$top" && cargo build --release --quiet)
rt="$top/target/x86_64-unknown-linux-gnu/release/berth-runtime"

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
root="$work/state"
cleanup() {
  "$rt" --root "$root" delete --force demo >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/bundle/rootfs/bin"
cp /bin/busybox "$work/bundle/rootfs/bin/busybox"
for app in sh ls cat echo id hostname mount ps uname sleep; do
  ln -s busybox "$work/bundle/rootfs/bin/$app"
done
cd "$work/bundle"
"$rt" spec
# Not a terminal, so the demo also works without a tty (CI).
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["hostname"] = "berth-demo"
c["process"]["args"] = ["sh", "-c",
    "echo \"hello from $(hostname), pid $$ in its own pid namespace\"; "
    "echo; echo 'processes:'; ps; echo; echo 'identity:'; id; "
    "echo; echo 'mounts:'; mount | head -8; echo ..."]
json.dump(c, open("config.json", "w"), indent=2)
PY
echo "\$ berth-runtime run demo"
status=0
"$rt" --root "$root" run demo || status=$?
echo
echo "container exited with status $status; berth-runtime state now:"
"$rt" --root "$root" list
