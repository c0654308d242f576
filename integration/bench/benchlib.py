"""What the benchmark scripts share: finding the runtimes, their versions,
summary statistics and mountinfo decoding."""

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
