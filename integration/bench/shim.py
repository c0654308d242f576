#!/usr/bin/env python3
"""berth-shim benchmark: idle memory and log throughput.

* idle RSS: VmRSS of the shim (from /proc/PID/status) while a `sleep` container runs
  (goal: at most 1.5 MiB);
* log throughput: a container writes ~100 MB of text lines to stdout under the shim
  (json-file log) versus the same container run by the runtime directly with stdout
  on /dev/null; whole-container wall time (shim launch to exit), interleaved runs,
  ratio of medians (goal: at most 1.20). Two writers:
  - "gen": `head -c 75000000 /dev/urandom | base64` (101 MB of 76-char lines; the
    writer does real work, as an application would);
  - "cat": `cat` of a prepared 100 MB file (a writer that costs nothing, so /dev/null
    is nearly free: this shows the shim's raw throughput, not a realistic ratio).

Python 3 standard library only; run as root from anywhere:
  integration/bench/shim.py [-n 5] [--size-mb 100] [--json]
"""

import argparse
import base64
import ctypes
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import RELEASE, BenchError, log, stats  # noqa: E402

REL = RELEASE
PR_SET_CHILD_SUBREAPER = 36


def make_bundle(work, runtime, args):
    b = os.path.join(work, "bundle")
    rootfs = os.path.join(b, "rootfs")
    if not os.path.exists(rootfs):
        for d in ("bin", "proc", "sys", "dev", "tmp"):
            os.makedirs(os.path.join(rootfs, d), exist_ok=True)
        shutil.copy("/bin/busybox", os.path.join(rootfs, "bin", "busybox"))
        for a in ("sh", "sleep", "cat", "head", "base64", "true"):
            os.symlink("busybox", os.path.join(rootfs, "bin", a))
        subprocess.run([runtime, "spec", "--bundle", b], check=True)
    with open(os.path.join(b, "config.json")) as f:
        cfg = json.load(f)
    cfg["process"]["terminal"] = False
    cfg["process"]["args"] = args
    cfg["root"]["readonly"] = False
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(cfg, f)
    return b


def make_data(rootfs, size_mb):
    path = os.path.join(rootfs, "data.txt")
    want = size_mb * 1000 * 1000
    if os.path.exists(path) and os.path.getsize(path) >= want:
        return
    chunk = base64.encodebytes(os.urandom(57 * 20000))  # 76-char lines
    with open(path, "wb") as f:
        n = 0
        while n < want:
            f.write(chunk)
            n += len(chunk)


class ShimRun:
    """One shim (and container) launched through the documented interface."""

    def __init__(self, shim, runtime, root, work, bundle, idx):
        self.dir = os.path.join(work, "shim-%d" % idx)
        os.makedirs(self.dir)
        self.id = "bench-shim-%d-%d" % (os.getpid(), idx)
        cfg = {"id": self.id, "bundle": bundle, "runtime": runtime, "runtime_root": root,
               "log": {"path": os.path.join(self.dir, "log.json"), "max_size": 0,
                       "max_files": 1}}
        with open(os.path.join(self.dir, "shim.json"), "w") as f:
            json.dump(cfg, f)
        out = subprocess.run([shim, "--dir", self.dir], capture_output=True, text=True,
                             timeout=60)
        if out.returncode != 0:
            raise BenchError("shim failed: %s %s" % (out.stdout, out.stderr))
        self.pid = json.loads(out.stdout)["shim_pid"]

    def ctl(self, req, timeout=120):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(os.path.join(self.dir, "ctl.sock"))
            s.sendall((json.dumps(req) + "\n").encode())
            line = s.makefile().readline()
            return json.loads(line) if line else None
        except (ConnectionError, FileNotFoundError):
            return None
        finally:
            s.close()

    def wait(self):
        """The exit status (from status.json if the shim already exited); reaps the shim,
        which was reparented to us (a subreaper)."""
        r = self.ctl({"op": "wait"})
        if r is None:
            with open(os.path.join(self.dir, "status.json")) as f:
                r = json.load(f)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                if os.waitpid(self.pid, os.WNOHANG)[0]:
                    break
            except ChildProcessError:
                if not os.path.exists("/proc/%d" % self.pid):
                    break
            time.sleep(0.005)
        return r


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def bench_idle(a, work, root, result):
    bundle = make_bundle(work, a.runtime,
                         ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 100 & wait"])
    rss = []
    for i in range(3):
        r = ShimRun(a.shim, a.runtime, root, work, bundle, 1000 + i)
        time.sleep(0.5)
        rss.append(vmrss_kib(r.pid))
        r.ctl({"op": "stop", "signal": 15, "timeout_s": 5})
        r.wait()
    result["idle_rss_kib"] = {"samples": rss, "max": max(rss)}
    log("idle shim VmRSS: %s KiB (goal <= 1536)" % rss)


def bench_throughput(a, work, root, result):
    bundle = make_bundle(work, a.runtime, ["/bin/true"])
    make_data(os.path.join(bundle, "rootfs"), a.size_mb)
    workloads = {
        "gen": ["/bin/sh", "-c", "head -c %d /dev/urandom | base64" % (a.size_mb * 750000)],
        "cat": ["/bin/cat", "/data.txt"],
    }
    idx = 0
    for name, args in workloads.items():
        make_bundle(work, a.runtime, args)
        shim_t, null_t, logsz = [], [], []
        for i in range(a.iterations + 1):  # the first round is a warm-up
            idx += 1
            t0 = time.monotonic()
            r = ShimRun(a.shim, a.runtime, root, work, bundle, idx)
            st = r.wait()
            t_shim = time.monotonic() - t0
            if st.get("exit_code") != 0:
                raise BenchError("container under the shim failed: %s" % st)
            logsz.append(os.path.getsize(os.path.join(r.dir, "log.json")))
            os.unlink(os.path.join(r.dir, "log.json"))
            cid = "bench-null-%s-%d-%d" % (name, os.getpid(), i)
            t0 = time.monotonic()
            subprocess.run([a.runtime, "--root", root, "run", "--bundle", bundle, cid],
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True)
            t_null = time.monotonic() - t0
            if i > 0:
                shim_t.append(t_shim)
                null_t.append(t_null)
                log("%s run %d: shim %.3fs, /dev/null %.3fs" % (name, i, t_shim, t_null))
        s, n = stats(shim_t), stats(null_t)
        result["throughput_" + name] = {
            "log_bytes": logsz[-1], "shim_s": s, "devnull_s": n,
            "ratio_median": s["median"] / n["median"],
        }
        log("%s: shim median %.3fs, /dev/null median %.3fs, ratio %.3f (goal <= 1.20), "
            "log file %.0f MB" % (name, s["median"], n["median"], s["median"] / n["median"],
                                  logsz[-1] / 1e6))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-n", "--iterations", type=int, default=5)
    ap.add_argument("--size-mb", type=int, default=100)
    ap.add_argument("--shim", default=os.path.join(REL, "berth-shim"))
    ap.add_argument("--runtime", default=os.path.join(REL, "berth-runtime"))
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    a = ap.parse_args()
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    work = tempfile.mkdtemp(prefix="berth-bench-shim-")
    root = os.path.join(work, "root")
    os.makedirs(root)
    result = {}
    try:
        bench_idle(a, work, root, result)
        bench_throughput(a, work, root, result)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if a.json:
        print(json.dumps(result, indent=2))


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        log("error: %s" % e)
        sys.exit(1)
