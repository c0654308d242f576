#!/usr/bin/env python3
"""berth under load (issue 15, part 5): N sequential and M concurrent
`berth run -d busybox sleep` + `berth rm -f`, on a private store.

Prints the time per container against the count (an ASCII plot of the
sequential run's medians per bucket), times `ps -a`, `logs` and `inspect` of a
long-lived witness container along the way, and ends with a leak census of
everything the store could leave on the host: mounts, cgroups, processes, open
fds (of the shims and of this script), container lock files, temp entries,
runtime state, pinned netns, veths, the default bridge and the nftables table.
Exit status 1 if the census finds anything or the time per container grows
more than --max-growth times (last bucket's median against the first's).

  integration/bench/load.py                    # 1000 sequential, 100 concurrent
  integration/bench/load.py -n 200 -c 20       # smaller
  integration/bench/load.py --json out.json

Python 3 standard library only; run as root, after
`cargo build --release -p berth -p berth-shim -p berth-runtime`.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import BenchError, log  # noqa: E402

REL = benchlib.RELEASE


class Berth:
    def __init__(self, work):
        self.root = os.path.join(work, "root")
        self.state = os.path.join(work, "state")
        self.bin = os.path.join(REL, "berth")
        self.env = dict(os.environ, BERTH_ROOT=self.root, BERTH_STATE=self.state,
                        BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
                        BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))

    def run(self, *args, check=True, timeout=120):
        p = subprocess.run([self.bin, *args], env=self.env, capture_output=True,
                           text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise BenchError("berth %s: %s" % (" ".join(args), p.stderr.strip()))
        return p

    def timed(self, *args):
        t0 = time.monotonic()
        p = self.run(*args)
        return time.monotonic() - t0, p


def busybox_tar(work):
    """A busybox-static rootfs as a tar (as the end-to-end tests make it)."""
    if not os.path.isfile("/bin/busybox"):
        raise BenchError("/bin/busybox missing (apt-get install busybox-static)")
    rootfs = os.path.join(work, "rootfs")
    for d in ("bin", "etc", "tmp", "proc", "sys", "dev", "root"):
        os.makedirs(os.path.join(rootfs, d), exist_ok=True)
    shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
    for applet in ("sh", "sleep", "echo", "true", "cat"):
        os.symlink("busybox", os.path.join(rootfs, "bin", applet))
    with open(os.path.join(rootfs, "etc", "passwd"), "w") as f:
        f.write("root:x:0:0:root:/root:/bin/sh\n")
    with open(os.path.join(rootfs, "etc", "group"), "w") as f:
        f.write("root:x:0:\n")
    tar = os.path.join(work, "busybox.tar")
    with tarfile.open(tar, "w") as t:
        t.add(rootfs, arcname=".")
    return tar


# ---- the leak census (the same kinds as tests/src/census.rs)

def root_tag(root):
    h = 0xcbf29ce484222325
    for c in root.encode():
        h ^= c
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return "%08x" % (h & 0xFFFFFFFF)


def cgroup_parent(root):
    return "berth-" + hashlib.sha256(root.encode()).hexdigest()[:8]


def listdir(p):
    try:
        return os.listdir(p)
    except OSError:
        return []


def proc_environ_has(pid, needle):
    try:
        with open("/proc/%s/environ" % pid, "rb") as f:
            return needle in f.read().split(b"\0")
    except OSError:
        return False


def census(b):
    """What the store has on the host: {kind: [items]} (empty lists when clean)."""
    out = {}
    with open("/proc/self/mountinfo") as f:
        mps = [benchlib.unescape_mountinfo(l.split()[4]) for l in f]
    out["mounts"] = [m for m in mps if any(m == d or m.startswith(d + "/")
                                           for d in (b.root, b.state))]
    parent = cgroup_parent(b.root)
    cgs = []
    for h in listdir("/sys/fs/cgroup"):
        base = os.path.join("/sys/fs/cgroup", h, parent)
        for dirpath, dirnames, _ in os.walk(base):
            cgs.extend(os.path.join(dirpath, d) for d in dirnames)
    out["cgroups"] = cgs
    needle = ("BERTH_STATE=" + b.state).encode()
    me = str(os.getpid())
    procs = [p for p in listdir("/proc") if p.isdigit() and p != me
             and proc_environ_has(p, needle)]
    out["processes"] = procs
    out["fds of those processes"] = sum(len(listdir("/proc/%s/fd" % p)) for p in procs)
    cdir = os.path.join(b.root, "containers")
    out["orphan lock files"] = [i for i in listdir(os.path.join(cdir, ".locks"))
                                if not os.path.isfile(os.path.join(cdir, i, "container.json"))]
    temps = []
    for dirpath, dirnames, filenames in os.walk(b.root):
        if dirpath.count(os.sep) - b.root.count(os.sep) > 3:
            dirnames[:] = []
            continue
        for n in dirnames + filenames:
            if n.startswith(".tmp-"):
                temps.append(os.path.join(dirpath, n))
        dirnames[:] = [d for d in dirnames if d not in ("fs", "rootfs", "_data")]
    out["temp entries"] = temps
    out["runtime state"] = [i for i in listdir(os.path.join(b.state, "runtime"))
                            if not i.startswith("@")]
    out["shim dirs"] = listdir(os.path.join(b.state, "containers"))
    out["pinned netns"] = listdir(os.path.join(b.state, "netns"))
    tag = root_tag(b.root)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                           text=True).stdout
    out["veths"] = [l.split(":")[1].strip().split("@")[0] for l in links.splitlines()
                    if "master bb%s " % tag in l]
    out["bridges"] = [l.split(":")[1].strip() for l in links.splitlines()
                      if l.split(":")[1].strip() == "bb" + tag]
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True,
                            text=True).stdout if shutil.which("nft") else ""
    out["nft tables"] = [t for t in tables.splitlines()
                         if t.split() and t.split()[-1] == "berth_" + tag]
    return out


def leaks(c):
    return {k: v for k, v in c.items() if v}


# ---- output

def plot(buckets, width=60):
    """An ASCII bar per bucket: count -> median seconds per container."""
    top = max(m for _, m in buckets) or 1.0
    lines = ["time per container (median of each bucket) against the count:"]
    for n, m in buckets:
        bar = "#" * max(1, int(round(m / top * width)))
        lines.append("%6d | %-*s %7.1f ms" % (n, width, bar, m * 1000))
    return "\n".join(lines)


def sequential(b, n, bucket, samples):
    b.run("run", "-d", "--name", "witness", "busybox", "sh", "-c",
          "i=0; while [ $i -lt 1000 ]; do echo line-$i; i=$((i+1)); done; sleep 100000")
    per, side = [], []
    for i in range(n):
        t0 = time.monotonic()
        cid = b.run("run", "-d", "busybox", "sleep", "100000").stdout.strip()
        b.run("rm", "-f", cid)
        per.append(time.monotonic() - t0)
        if (i + 1) % bucket == 0:
            row = {"count": i + 1}
            for what, args in (("ps", ("ps", "-a")), ("logs", ("logs", "witness")),
                               ("inspect", ("inspect", "witness"))):
                row[what] = min(b.timed(*args)[0] for _ in range(samples))
            side.append(row)
            log("%d: %.1f ms/container, ps %.1f ms, logs %.1f ms, inspect %.1f ms"
                % (i + 1, statistics.median(per[-bucket:]) * 1000, row["ps"] * 1000,
                   row["logs"] * 1000, row["inspect"] * 1000))
    b.run("rm", "-f", "witness")
    buckets = [(min((k + 1) * bucket, n), statistics.median(per[k * bucket:(k + 1) * bucket]))
               for k in range((n + bucket - 1) // bucket)]
    return per, buckets, side


def concurrent(b, m):
    times, errors = [None] * m, []

    def one(i):
        try:
            t0 = time.monotonic()
            b.run("run", "-d", "--name", "conc%d" % i, "busybox", "sleep", "100000",
                  timeout=600)
            b.run("rm", "-f", "conc%d" % i, timeout=600)
            times[i] = time.monotonic() - t0
        except Exception as e:  # noqa: BLE001 - every failure is reported
            errors.append("conc%d: %s" % (i, e))

    t0 = time.monotonic()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(m)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, [t for t in times if t is not None], errors


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--sequential", type=int, default=1000)
    ap.add_argument("-c", "--concurrent", type=int, default=100)
    ap.add_argument("--bucket", type=int, default=50,
                    help="containers per plotted point and per ps/logs/inspect timing")
    ap.add_argument("--samples", type=int, default=3,
                    help="timings of ps/logs/inspect per point (the fastest is kept)")
    ap.add_argument("--max-growth", type=float, default=2.0,
                    help="fail if the last bucket's median exceeds the first's this many times")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--tmpdir", default=None)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("load.py: run as root")
    for exe in ("berth", "berth-shim", "berth-runtime"):
        if not os.path.isfile(os.path.join(REL, exe)):
            raise SystemExit("load.py: %s not built (cargo build --release -p %s)"
                             % (os.path.join(REL, exe), exe))
    work = tempfile.mkdtemp(prefix="berth-load-", dir=args.tmpdir)
    b = Berth(work)
    fds_before = len(listdir("/proc/self/fd"))
    failed = False
    try:
        b.run("import", busybox_tar(work), "busybox")
        res = {"sequential": args.sequential, "concurrent": args.concurrent}
        if args.sequential:
            per, buckets, side = sequential(b, args.sequential, args.bucket, args.samples)
            print(plot(buckets))
            print("%d sequential run -d + rm -f: total %.1f s, median %.1f ms, p90 %.1f ms"
                  % (len(per), sum(per), statistics.median(per) * 1000,
                     benchlib.stats(per)["p90"] * 1000))
            print("%8s %10s %10s %10s" % ("count", "ps ms", "logs ms", "inspect ms"))
            for r in side:
                print("%8d %10.1f %10.1f %10.1f" % (r["count"], r["ps"] * 1000,
                                                    r["logs"] * 1000, r["inspect"] * 1000))
            growth = buckets[-1][1] / buckets[0][1]
            print("growth (last bucket / first bucket): %.2f" % growth)
            if growth > args.max_growth:
                print("FAIL: time per container grew %.2fx (> %.2fx)" % (growth, args.max_growth))
                failed = True
            res.update(per_container=per, buckets=buckets, side=side, growth=growth)
        if args.concurrent:
            total, times, errors = concurrent(b, args.concurrent)
            print("%d concurrent run -d + rm -f: wall %.1f s, median %.1f ms, max %.1f ms, "
                  "%d failed" % (args.concurrent, total,
                                 statistics.median(times) * 1000 if times else 0,
                                 max(times) * 1000 if times else 0, len(errors)))
            for e in errors:
                print("  " + e)
            failed |= bool(errors)
            res.update(concurrent_wall=total, concurrent_times=times, concurrent_errors=errors)
        left = b.run("ps", "-a", "-q").stdout.split()
        if left:
            print("FAIL: containers left: %s" % left)
            failed = True
        # exit hooks may still be finishing: give them a moment
        deadline = time.monotonic() + 10
        while leaks(census(b)) and time.monotonic() < deadline:
            time.sleep(0.2)
        c = leaks(census(b))
        fds_after = len(listdir("/proc/self/fd"))
        if fds_after > fds_before:
            c["fds of this script"] = "%d -> %d" % (fds_before, fds_after)
        print("leak census: %s" % ("clean" if not c else json.dumps(c, indent=1)))
        failed |= bool(c)
        res["census"] = c
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=1)
    except BenchError as e:
        print("load.py: %s" % e, file=sys.stderr)
        failed = True
    finally:
        for cid in b.run("ps", "-a", "-q", "--no-trunc", check=False).stdout.split():
            b.run("rm", "-f", cid, check=False)
        b.run("system", "prune", "-a", "-f", check=False)
        if not args.keep:
            if census(b)["mounts"]:
                # never delete through a mount that is still there
                print("load.py: mounts left, keeping %s" % work, file=sys.stderr)
            else:
                benchlib.remove_store_cgroups(work)
                shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
