#!/usr/bin/env bash
# Unpacks Debian 13's containerd 1.7 (its binaries run on Debian 12) into DIR without
# installing it or touching the system's apt configuration, for running berth's
# containerd tests against containerd 1.7:
#
#   integration/containerd/fetch-containerd-1.7.sh /opt/containerd-1.7
#   PATH=/opt/containerd-1.7/usr/bin:$PATH tests/run.sh --test containerd_shim
#
# Needs root (apt's download), apt and dpkg-deb, and access to deb.debian.org (or the
# configured Debian mirror's trixie suite).
set -euo pipefail

dir="${1:?usage: fetch-containerd-1.7.sh DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$work/sources.list"
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
      -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update >/dev/null
(cd "$work" && apt-get "${opts[@]}" download containerd >/dev/null)
mkdir -p "$dir"
dpkg-deb -x "$work"/containerd_*.deb "$dir"
"$dir/usr/bin/containerd" --version
