"""What the benchmark scripts share: finding the runtimes, their versions,
summary statistics and mountinfo decoding."""

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys


class BenchError(Exception):
    pass


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def resolve_runtime(spec, which):
    """A runtime given by name (looked up in PATH) or path, as an absolute path."""
    path = os.path.abspath(spec) if "/" in spec else shutil.which(spec)
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        hint = ""
        if which == "B":
            hint = ("\n  Build berth with `cargo build --release -p berth-runtime` "
                    "in the repository root,\n  or pass --runtime-b PATH "
                    "(e.g. --runtime-b /usr/bin/runc to compare runc with itself).")
        raise BenchError("runtime %s not found or not executable: %s%s"
                         % (which, path or spec, hint))
    return os.path.realpath(path)


def runtime_version(path):
    try:
        out = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=10)
        lines = (out.stdout or out.stderr).strip().splitlines()
        return lines[0] if lines else "unknown"
    except Exception:  # noqa: BLE001 - a version string is only informative
        return "unknown"


def stats(samples):
    s = sorted(samples)
    p90 = statistics.quantiles(s, n=10, method="inclusive")[8] if len(s) >= 2 else s[0]
    return {
        "n": len(s),
        "median": statistics.median(s),
        "p90": p90,
        "min": s[0],
        "max": s[-1],
        "mean": statistics.fmean(s),
        "stdev": statistics.stdev(s) if len(s) >= 2 else 0.0,
    }


def unescape_mountinfo(s):
    """mountinfo escapes space, tab, newline and backslash as \\ooo."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def build_target():
    """The target the workspace builds for: $BERTH_TARGET, else `build.target`
    of .cargo/config.toml, the one place that names it (tests/run.sh reads it
    the same way)."""
    if os.environ.get("BERTH_TARGET"):
        return os.environ["BERTH_TARGET"]
    import tomllib
    with open(os.path.join(REPO, ".cargo", "config.toml"), "rb") as f:
        return tomllib.load(f)["build"]["target"]


# The release binaries: $BERTH_RELEASE_DIR (tests/run.sh exports it), else
# target/<build target>/release.
RELEASE = (os.environ.get("BERTH_RELEASE_DIR")
           or os.path.join(REPO, "target", build_target(), "release"))
DEFAULT_RUNTIME_A = "runc"
DEFAULT_RUNTIME_B = os.path.join(RELEASE, "berth-runtime")


def argument_parser(description, warmup):
    """The options every benchmark takes: the two runtimes, their labels,
    iterations, warm-up, JSON output and the work directory's parent."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--runtime-a", default=DEFAULT_RUNTIME_A,
                    help="baseline runtime, name or path (default: runc)")
    ap.add_argument("--runtime-b", default=DEFAULT_RUNTIME_B,
                    help="runtime under test (default: %(default)s)")
    ap.add_argument("--label-a", help="label for A (default: binary name)")
    ap.add_argument("--label-b", help="label for B (default: binary name)")
    ap.add_argument("-n", "--iterations", type=int, default=30,
                    help="measured iterations per runtime (default: 30)")
    ap.add_argument("--warmup", type=int, default=warmup,
                    help="unmeasured warm-up iterations per runtime (default: %(default)s)")
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON")
    ap.add_argument("--tmpdir", help="where to create the work directory "
                                     "(default: $TMPDIR or /tmp)")
    return ap


def parse_args(ap):
    args = ap.parse_args()
    if args.iterations < 1 or args.warmup < 0:
        ap.error("--iterations must be >= 1 and --warmup >= 0")
    return args


def remove_store_cgroups(work):
    """Remove the empty cgroup parents (`berth-<8 hex of sha256(root)>` in every
    hierarchy) of the private stores made directly under `work`: berth keeps a
    store's parent once made (as docker keeps /docker), and a bench's store goes
    with its work directory."""
    import hashlib
    try:
        names = os.listdir(work)
    except OSError:
        return
    tops = [os.path.join("/sys/fs/cgroup", h) for h in os.listdir("/sys/fs/cgroup")]
    tops.append("/sys/fs/cgroup")
    for name in names:
        root = os.path.join(work, name)
        parent = "berth-" + hashlib.sha256(root.encode()).hexdigest()[:8]
        for top in tops:
            try:
                os.rmdir(os.path.join(top, parent))
            except OSError:
                pass
