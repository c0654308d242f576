#!/usr/bin/env bash
# The main job: install what is needed, build berth, and run containers with
# the berth manager on an image built locally from busybox-static (no
# registry on the internet is needed): import, run, volumes, logs, exec,
# healthchecks, save/load, and a push/pull round trip through a registry on
# 127.0.0.1. The demo uses a private store under /tmp and removes it at the
# end; nothing is left in /var/lib/berth.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "run as root: containers need namespaces, mounts and cgroups" >&2
  exit 1
fi
"$here/install-deps.sh"
(cd "$top" && cargo build --release --quiet)
bin="$top/target/x86_64-unknown-linux-gnu/release"
export PATH="$bin:$PATH"

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT="$work/root" BERTH_STATE="$work/state"
registry_pid=
cleanup() {
  set +e
  for c in $(berth ps -aq 2>/dev/null); do berth rm -f -v "$c" >/dev/null 2>&1; done
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

# An image from busybox-static: a rootfs tarball, imported.
rootfs="$work/rootfs"
mkdir -p "$rootfs"/{bin,etc,tmp,root,data}
cp /bin/busybox "$rootfs/bin/busybox"
for app in $(/bin/busybox --list); do
  [ "$app" = busybox ] || ln -s busybox "$rootfs/bin/$app"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
echo "seeded from the image" >"$rootfs/data/README"
tar --numeric-owner -C "$rootfs" -cf "$work/rootfs.tar" .

say berth import -c 'CMD ["sh"]' "$work/rootfs.tar" demo/busybox:1.0
say berth images

say berth run --rm --hostname berth-demo demo/busybox:1.0 \
  sh -c 'echo "hello from $(hostname), pid $$ in its own pid namespace"; id; ps'

say berth volume create demo-data
say berth run -d --name counter -v demo-data:/data --memory 64m \
  --health-cmd 'test -s /data/count' --health-interval 1s \
  demo/busybox:1.0 sh -c 'trap "echo stopping; exit 0" TERM
    i=0; while true; do i=$((i+1)); echo $i >/data/count; echo "tick $i"; sleep 0.5; done'
sleep 2.5
say berth ps
say berth logs --tail 3 counter
say berth exec counter sh -c 'echo "count is $(cat /data/count)"; cat /data/README'
say berth inspect -f '{{.State.Status}} {{.State.Health.Status}} {{.HostConfig.Memory}}' counter
say berth stop -t 5 counter
say berth inspect -f 'exit code {{.State.ExitCode}}' counter
say berth logs --tail 1 counter
say berth rm -v counter
say berth volume rm demo-data

# Archives: save, remove, load back.
say berth save -o "$work/busybox.tar" demo/busybox:1.0
say berth rmi demo/busybox:1.0
say berth load -i "$work/busybox.tar"

# A registry on 127.0.0.1 (Debian's docker-registry): push, remove, pull, run.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/registry"
cat >"$work/registry/config.yml" <<EOF
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry/data}}
http: {addr: 127.0.0.1:$port}
EOF
docker-registry serve "$work/registry/config.yml" >"$work/registry/log" 2>&1 &
registry_pid=$!
for _ in $(seq 50); do
  python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 0.2)" 2>/dev/null && break
  sleep 0.1
done
say berth tag demo/busybox:1.0 "127.0.0.1:$port/demo/busybox:1.0"
say berth push "127.0.0.1:$port/demo/busybox:1.0"
say berth rmi demo/busybox:1.0 "127.0.0.1:$port/demo/busybox:1.0"
say berth pull "127.0.0.1:$port/demo/busybox:1.0"
status=0
say berth run --rm "127.0.0.1:$port/demo/busybox:1.0" sh -c 'echo "pulled and running"; exit 3' || status=$?
echo
echo "the last container exited with status $status (berth passes it through)"
