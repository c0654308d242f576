#!/usr/bin/env bash
# Builds a minimal busybox container image locally (no registry, no network) and
# writes it as an OCI archive and/or a docker archive, ready for
#   ctr -n NS images import FILE      (containerd, either archive)
#   docker load -i DOCKER_ARCHIVE
#   podman load -i OCI_OR_DOCKER_ARCHIVE
#
# Usage:
#   build-busybox-image.sh [--oci-archive FILE] [--docker-archive FILE]
#                          [--name REF] [--busybox PATH] [--cmd 'ARG ...']
#
#   --oci-archive FILE     write an OCI image layout archive (oci-archive) to FILE
#   --docker-archive FILE  write a `docker save` style archive to FILE
#   --name REF             image reference stored in the archives
#                          (default: docker.io/library/busybox:latest; the docker
#                          archive's RepoTags and the OCI archive's
#                          org.opencontainers.image.ref.name carry it)
#   --busybox PATH         static busybox binary (default: /bin/busybox, Debian's
#                          busybox-static)
#   --cmd 'ARG ...'        image Cmd, split on spaces (default: sh)
#
# At least one of --oci-archive / --docker-archive is required. Both archives hold the
# same single-layer linux/amd64 image: /bin/busybox, a symlink in /bin for every
# applet, /etc/passwd and /etc/group (root, nobody), empty /proc /sys /dev /tmp /root,
# Env PATH=..., Cmd as given.
#
# Needs root (umoci unpacks with real ownership), umoci and skopeo (Debian packages
# umoci, skopeo) and busybox-static.
set -euo pipefail

oci_out=""
docker_out=""
name="docker.io/library/busybox:latest"
busybox="/bin/busybox"
cmd="sh"

die() { echo "build-busybox-image.sh: $*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --oci-archive) oci_out="${2:?}"; shift 2 ;;
    --oci-archive=*) oci_out="${1#*=}"; shift ;;
    --docker-archive) docker_out="${2:?}"; shift 2 ;;
    --docker-archive=*) docker_out="${1#*=}"; shift ;;
    --name) name="${2:?}"; shift 2 ;;
    --name=*) name="${1#*=}"; shift ;;
    --busybox) busybox="${2:?}"; shift 2 ;;
    --busybox=*) busybox="${1#*=}"; shift ;;
    --cmd) cmd="${2:?}"; shift 2 ;;
    --cmd=*) cmd="${1#*=}"; shift ;;
    -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

[ -n "$oci_out$docker_out" ] || die "give --oci-archive FILE and/or --docker-archive FILE"
[ "$(id -u)" -eq 0 ] || die "must run as root"
for tool in umoci skopeo; do
  command -v "$tool" >/dev/null || die "$tool is missing (apt-get install $tool)"
done
[ -x "$busybox" ] || die "$busybox is missing (apt-get install busybox-static)"
if command -v ldd >/dev/null && ldd "$busybox" 2>&1 | grep -q '=>'; then
  die "$busybox is not statically linked"
fi

work="$(mktemp -d /tmp/berth-image.XXXXXX)"
trap 'rm -rf "$work"' EXIT

layout="$work/layout"
umoci init --layout "$layout"
umoci new --image "$layout:latest"
umoci unpack --image "$layout:latest" "$work/bundle" >/dev/null

root="$work/bundle/rootfs"
mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,root,run,var,usr/bin,usr/sbin,sbin}
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
"$busybox" --list | while read -r applet; do
  [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
done
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
: >"$root/etc/hosts"
: >"$root/etc/resolv.conf"

umoci repack --image "$layout:latest" "$work/bundle" >/dev/null

config_args=(--image "$layout:latest" --os linux --architecture amd64
  --author berth --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  --config.workingdir / --clear config.cmd)
read -r -a cmd_words <<<"$cmd"
for w in "${cmd_words[@]}"; do
  config_args+=(--config.cmd "$w")
done
umoci config "${config_args[@]}"

# skopeo: the source is a local layout, so no signature policy is needed.
if [ -n "$oci_out" ]; then
  mkdir -p "$(dirname "$oci_out")"
  rm -f "$oci_out"
  skopeo --insecure-policy copy --quiet "oci:$layout:latest" "oci-archive:$oci_out:$name"
  echo "wrote OCI archive $oci_out ($name)"
fi
if [ -n "$docker_out" ]; then
  mkdir -p "$(dirname "$docker_out")"
  rm -f "$docker_out"
  skopeo --insecure-policy copy --quiet "oci:$layout:latest" "docker-archive:$docker_out:$name"
  echo "wrote docker archive $docker_out ($name)"
fi
