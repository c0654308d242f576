#!/usr/bin/env bash
# The main job: install what is needed, build berth, and run containers with
# the berth manager on an image built locally from busybox-static (no
# registry on the internet is needed): import, run, then a compose
# application (an image built from a Dockerfile, two services on a network,
# a named volume, a published port queried from here) brought up with
# `berth up` and torn down with `berth down`; save/load, and a push/pull round
# trip through a registry on 127.0.0.1. The demo uses a private store under /tmp and removes it at the
# end with `berth system reset -f`; nothing is left in /var/lib/berth nor on the host.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
if [ "$(id -u)" != 0 ]; then
  echo "run as root: containers need namespaces, mounts and cgroups" >&2
  exit 1
fi
"$here/install-deps.sh"
(cd "$top" && cargo build --release --quiet)
# The build target is .cargo/config.toml's [build] target (musl).
target=$(awk -F'"' '/^\[/ { b = ($0 == "[build]") } b && /^target *=/ { print $2; exit }' "$top/.cargo/config.toml")
bin="$top/target/$target/release"
export PATH="$bin:$PATH"

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
export BERTH_ROOT="$work/root" BERTH_STATE="$work/state"
registry_pid=
app_up=
cleanup() {
  set +e
  [ -n "$app_up" ] && (cd "$here/demo-app" && berth down -v -t 1 >/dev/null 2>&1)
  [ -n "$registry_pid" ] && kill "$registry_pid" 2>/dev/null && wait "$registry_pid" 2>/dev/null
  # Everything of the demo's root: containers, networks (the default
  # bridge's device, rules and subnet claim), volumes, images, its cgroup
  # parents, and the root and state directories; rm -rf alone would leave
  # the host objects for a later berth command to sweep.
  berth system reset -f >/dev/null || echo "demo: berth system reset failed" >&2
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

# The demo application (integration/demo-app): a web front end built from its
# Dockerfile, an api service it asks by name over the project's network, a named
# volume, and a port published on 127.0.0.1 that this script queries.
app="$here/demo-app"
DEMO_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export DEMO_PORT
cd "$app"
app_up=1
say berth up -d --wait
say berth compose ps
fetch() { python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())' "$1"; }
say fetch "http://127.0.0.1:$DEMO_PORT/cgi-bin/hello"
answer=$(fetch "http://127.0.0.1:$DEMO_PORT/cgi-bin/hello")
echo "$answer"
case "$answer" in
  "visit 2 "*"the api service says: hello from the api service"*) ;;
  *) echo "demo: unexpected answer from the web service: $answer" >&2; exit 1 ;;
esac
say berth compose exec web cat /data/visits
say berth compose logs --tail 2 api
say berth images
say berth down -v
app_up=
cd "$top"
left=$(berth ps -aq | wc -l)
echo "containers left after down: $left"
[ "$left" -eq 0 ] || { echo "demo: down left containers behind" >&2; exit 1; }

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
