#!/usr/bin/env bash
# Unpacks Debian 13's docker-compose (compose v2; the binary is static Go and runs on
# Debian 12, talking to whatever DOCKER_HOST names) into DIR without installing it or
# touching the system's apt configuration, for berth's compose tests and benchmark:
#
#   integration/compose/fetch-docker-compose.sh /opt/docker-compose-v2
#   /opt/docker-compose-v2/usr/bin/docker-compose version
#
# Debian 12's own docker-compose package is compose 1.29 (python), not the v2 that docker
# users run today; that is why this fetches trixie's.
# Needs root (apt's download), apt and dpkg-deb, and access to deb.debian.org (or the
# configured Debian mirror's trixie suite).
set -euo pipefail

dir="${1:?usage: fetch-docker-compose.sh DIR}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" \
  > "$work/sources.list"
opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives"
      -o APT::Sandbox::User=root)
apt-get "${opts[@]}" update >/dev/null
(cd "$work" && apt-get "${opts[@]}" download docker-compose >/dev/null)
mkdir -p "$dir"
dpkg-deb -x "$work"/docker-compose_*.deb "$dir"
"$dir/usr/bin/docker-compose" version
