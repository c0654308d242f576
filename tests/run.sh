#!/usr/bin/env bash
# End-to-end tests of berth-runtime. Run as root from anywhere:
#
#   tests/run.sh                         # build everything, run the whole suite
#   tests/run.sh lifecycle               # cargo test args (e.g. a name filter) ...
#   tests/run.sh --test hooks -- --nocapture   # ... and, after --, test-binary args
#   BERTH_RUNTIME=/usr/bin/runc tests/run.sh   # run the suite against runc instead
#
# Steps:
#   1. cargo build --release -p berth -p berth-shim -p berth-runtime -p containerd-shim-berth-v2
#      for the build target (.cargo/config.toml's build.target, musl; $BERTH_TARGET
#      overrides it, e.g. BERTH_TARGET=x86_64-unknown-linux-gnu for the glibc build)
#      -> target/<target>/release, exported to the tests as BERTH_RELEASE_DIR
#   2. the static checker run inside test containers (glibc, static by .cargo/config.toml):
#        cargo build --release -p berth-checker --target x86_64-unknown-linux-gnu
#      -> target/x86_64-unknown-linux-gnu/release/berth-checker, exported as BERTH_CHECKER
#   3. on a full run (no arguments, BERTH_RUNTIME unset, BERTH_SKIP_UNIT unset): the unit
#      tests of the default workspace members (`cargo test`)
#   4. cargo test --release --no-fail-fast -p berth-tests -- --test-threads=2
#   5. the census (tests/src/bin/berth-census.rs): after a berth sweep, no berth object
#      (bridge, veth, nft table, iptables chain, subnet claim, mount, netns pin, responder,
#      shim, cgroup) of a root of this run or of any root that no longer exists may be
#      left on the host; one is a failure of the run. Objects of live roots that are not
#      this run's (other work on the host) are never counted.
#
# Needs: root, /bin/busybox (busybox-static), a Rust toolchain; runc (optional) for the
# differential tests. integration/install-deps.sh installs these on Debian.
# Skips: a test that cannot run here prints a `SKIPPED` line and counts as skipped in the
# closing `total:` line; with CI=true a missing peer that CI installs (runc, skopeo,
# umoci, zstd...) fails the test instead. Host properties (no block device, kvm,
# AppArmor enabled) and runc's known differences are skips even in CI.
# Env: BERTH_CENSUS=0 skips the census, BERTH_CENSUS=warn only reports (also the case
# with BERTH_KEEP_TMP, whose kept roots keep their objects); BERTH_STRICT=1 also runs the checks skipped under runc where runc 1.1.5 differs;
# BERTH_KEEP_TMP=1 keeps the test bundles under /tmp.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "tests/run.sh: the end-to-end tests must run as root" >&2
  exit 1
fi
if [ ! -x /bin/busybox ]; then
  echo "tests/run.sh: /bin/busybox is missing (apt-get install busybox-static)" >&2
  exit 1
fi

# Split the arguments: before `--` for cargo test, after it for the test binaries.
cargo_args=()
bin_args=()
seen_sep=0
for a in "$@"; do
  if [ "$seen_sep" -eq 0 ] && [ "$a" = "--" ]; then
    seen_sep=1
  elif [ "$seen_sep" -eq 0 ]; then
    cargo_args+=("$a")
  else
    bin_args+=("$a")
  fi
done

# The build target: the one place that names it is .cargo/config.toml ([build] target).
target="${BERTH_TARGET:-$(awk -F'"' '/^\[/ { b = ($0 == "[build]") } b && /^target *=/ { print $2; exit }' .cargo/config.toml)}"
if [ -z "$target" ]; then
  echo "tests/run.sh: no [build] target in .cargo/config.toml and BERTH_TARGET unset" >&2
  exit 1
fi
export BERTH_RELEASE_DIR="$PWD/target/$target/release"

echo "==> building berth, berth-shim and berth-runtime ($target)"
cargo build --release --target "$target" -p berth -p berth-shim -p berth-runtime -p containerd-shim-berth-v2

echo "==> building the static checker"
cargo build --release -p berth-checker --target x86_64-unknown-linux-gnu
checker=target/x86_64-unknown-linux-gnu/release/berth-checker
export BERTH_CHECKER="$PWD/$checker"
if ldd "$checker" 2>&1 | grep -q '=>'; then
  echo "tests/run.sh: $checker is not statically linked:" >&2
  ldd "$checker" >&2 || true
  exit 1
fi

# The README promises unit tests too: run the default members' (runtime, shim,
# manager) unit tests on a full run (no arguments, BERTH_RUNTIME unset).
# Every test binary's result line is collected for the closing total.
log="$(mktemp /tmp/berth-tests.XXXXXX)"
# Every temp dir (roots, state dirs) the tests make, for the census (tests/src/sys.rs).
dirs_log="$(mktemp /tmp/berth-test-dirs.XXXXXX)"
export BERTH_TEST_DIRS_LOG="$dirs_log"
trap 'rm -f "$log" "$dirs_log"' EXIT
if [ "$#" -eq 0 ] && [ -z "${BERTH_RUNTIME:-}" ] && [ -z "${BERTH_SKIP_UNIT:-}" ]; then
  echo "==> unit tests"
  cargo test --target "$target" 2>&1 | tee -a "$log"
fi

echo "==> running the end-to-end tests"
# The release profile uses fat LTO with one codegen unit, which makes the ~dozen test
# binaries slow to link; the tests themselves do not need it.
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-false}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-16}"
set +e
cargo test --release --target "$target" --no-fail-fast -p berth-tests ${cargo_args[@]+"${cargo_args[@]}"} \
  -- --test-threads=2 ${bin_args[@]+"${bin_args[@]}"} 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
set -e
census_failed=0
if [ "${BERTH_CENSUS:-1}" != 0 ]; then
  echo "==> census of berth objects left on the host"
  cargo build --release --target "$target" -q -p berth-tests --bin berth-census
  census_args=(--dirs-log "$dirs_log")
  if [ "${BERTH_CENSUS:-1}" = warn ] || [ -n "${BERTH_KEEP_TMP:-}" ]; then
    census_args+=(--warn-only)
  fi
  if ! "$BERTH_RELEASE_DIR/berth-census" "${census_args[@]}"; then
    census_failed=1
    [ "$rc" -ne 0 ] || rc=1
  fi
fi
total() { awk -v w="$1" '/^test result:/ { for (i = 2; i <= NF; i++) if ($i == w";") n += $(i - 1) } END { print n + 0 }' "$log"; }
# A skipped test (or one that skipped a part) prints `... [berth-test-skip] BIN::TEST`
# (tests/src/skip.rs); libtest counts it as passed, here it counts as skipped instead.
# One that skipped and then failed stays a failure.
skipped_tests="$(grep -ao '\[berth-test-skip\] [^ ]*' "$log" | awk '{ print $2 }' | sort -u || true)"
skipped=0
while IFS= read -r t; do
  [ -n "$t" ] || continue
  name="${t#*::}"
  if ! grep -aqF "test $name ... FAILED" "$log"; then
    skipped=$((skipped + 1))
  fi
done <<<"$skipped_tests"
passed=$(( $(total passed) - skipped ))
[ "$passed" -ge 0 ] || passed=0
echo "total: $passed passed, $(total failed) failed, $skipped skipped"
if [ "$census_failed" -ne 0 ]; then
  echo "census: FAILED (berth objects left on the host, listed above)"
fi
exit "$rc"
