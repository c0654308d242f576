#!/usr/bin/env bash
# Installs what berth needs on a fresh Debian machine (run as root):
# build dependencies, the busybox rootfs used by the demo and the tests,
# and runc for side-by-side tests and benchmarks.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(
  build-essential pkg-config libseccomp-dev   # building (static libseccomp)
  musl-tools                                  # building for musl: musl-gcc for crates' C code (ring, zstd)
  busybox-static                              # rootfs of demo and test images
  runc                                        # differential tests, benchmarks
  crun                                        # runtime benchmark peer (pure cgroup v2 hosts only)
  time                                        # GNU time: peak RSS in benchmarks
  iproute2 util-linux procps python3          # tests and benchmark scripts
  containerd umoci skopeo python3-grpcio      # drop-in tests under containerd (and CRI)
  docker.io podman conmon                     # drop-in tests under dockerd and podman
  docker-registry apache2-utils openssl zstd  # registry tests: a local registry, htpasswd, TLS
  tini                                        # `berth run --init` (tini-static)
  nftables iptables iperf3                    # networking: published ports, docker interop, benchmarks
  buildah                                     # berth build compared with buildah bud
  zsh fish                                    # berth completion zsh|fish: the scripts are checked by the shells
  podman-compose                              # berth compose compared (benchmark)
  systemd dbus                                # --systemd-cgroup tests: systemd as PID 1 of private namespaces, its bus
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# docker compose v2 (Debian 12's docker-compose is the old 1.29): Debian 13's package,
# unpacked where tests/tests/compose_docker.rs and integration/bench/compose.py look.
if [ ! -x /opt/docker-compose-v2/usr/bin/docker-compose ]; then
  "$(dirname "${BASH_SOURCE[0]}")/compose/fetch-docker-compose.sh" /opt/docker-compose-v2
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo (Rust toolchain) is required: install it with rustup or Debian's cargo package" >&2
  exit 1
fi
# The binaries build for .cargo/config.toml's target (x86_64-unknown-linux-musl; why in
# docs/runtime.md, "The C library"): Rust's standard library for it (with its own musl
# libc and start files) comes from rustup.
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target=$(awk -F'"' '/^\[/ { b = ($0 == "[build]") } b && /^target *=/ { print $2; exit }' "$top/.cargo/config.toml")
if [ -n "$target" ] && [ ! -d "$(rustc --print sysroot)/lib/rustlib/$target/lib" ]; then
  if command -v rustup >/dev/null 2>&1; then
    (cd "$top" && rustup target add "$target")
  else
    echo "the Rust standard library for $target is missing and rustup is not installed:" >&2
    echo "install Rust with rustup, then: rustup target add $target" >&2
    exit 1
  fi
fi
