#!/usr/bin/env python3
"""End-to-end benchmark under containerd: runtime A (default runc) against runtime B
(default berth-runtime) as the runc binary of containerd's runc shim.

Starts a private containerd (own config, root, state and socket in a temp dir, unique
namespace), imports a locally built busybox image
(integration/containerd/build-busybox-image.sh), then measures, interleaved
A, B, A, B, ... in the same run:

  run    `ctr run --rm --runc-binary RT IMAGE ID /bin/true` (wall time of ctr: shim
         start, create, start, wait, delete; what a user of containerd sees)
  exec   `ctr task exec --exec-id X ID /bin/true` in a running container of that
         runtime (shim already up: runtime `exec` + process reaping)

and prints medians, p90 and the B/A ratio of the medians. Everything it started
(containerd, shims, containers, mounts, cgroups, runtime state) is removed at the end,
also after an error or Ctrl-C.

Python 3 standard library only. Must run as root. Needs containerd, ctr,
containerd-shim-runc-v2, umoci, skopeo, busybox-static.
"""

import ctypes
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import (  # noqa: E402
    argument_parser,
    BenchError, log, resolve_runtime, runtime_version, stats, unescape_mountinfo,
)

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"
SHIM_RUNC_ROOT = "/run/containerd/runc"
CMD_TIMEOUT_S = 60.0
MNT_DETACH = 2

OPS = [
    ("run", "ctr run --rm /bin/true"),
    ("exec", "ctr task exec /bin/true"),
]


def cgroup_mount_points():
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            if parts[sep + 1] in ("cgroup", "cgroup2"):
                out.append(unescape_mountinfo(parts[4]))
    return out


def processes():
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % name, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        yield int(name), cmd


def pids_in_cgroup(top):
    pids = []
    for pid, _ in processes():
        try:
            with open("/proc/%d/cgroup" % pid) as f:
                for line in f:
                    path = line.rstrip("\n").split(":", 2)[2]
                    if path == "/" + top or path.startswith("/" + top + "/"):
                        pids.append(pid)
                        break
        except OSError:
            pass
    return pids


class Containerd:
    def __init__(self, workdir):
        self.dir = workdir
        self.address = os.path.join(workdir, "c.sock")
        self.namespace = "berth-bench-%d" % os.getpid()
        self.fifo_dir = os.path.join(workdir, "fifo")
        self.proc = None
        self.log_path = os.path.join(workdir, "containerd.log")
        config = os.path.join(workdir, "config.toml")
        with open(config, "w") as f:
            f.write("""version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{d}/c.sock"
[ttrpc]
  address = "{d}/c.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
""".format(d=workdir))
        self.config = config

    def start(self):
        logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["containerd", "--config", self.config],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     start_new_session=True)
        logf.close()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError("containerd exited while starting:\n" + self.log_tail())
            if os.path.exists(self.address):
                p = subprocess.run(["ctr", "--address", self.address, "version"],
                                   capture_output=True, stdin=subprocess.DEVNULL, timeout=10)
                if p.returncode == 0:
                    return
            time.sleep(0.05)
        raise BenchError("containerd did not answer within 20s:\n" + self.log_tail())

    def log_tail(self, n=20):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def ctr(self, *args, check=True, ns=True):
        cmd = ["ctr", "--address", self.address]
        if ns:
            cmd += ["-n", self.namespace]
        cmd += list(args)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=CMD_TIMEOUT_S)
        dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            raise BenchError("`%s` failed (exit %d): %s" % (
                " ".join(cmd), p.returncode, p.stderr.decode(errors="replace").strip()))
        return dt, p

    def task_status(self, cid):
        _, p = self.ctr("task", "ls", check=False)
        for line in p.stdout.decode(errors="replace").splitlines()[1:]:
            f = line.split()
            if f and f[0] == cid:
                return f[2] if len(f) > 2 else None
        return None

    def remove(self, cid):
        self.ctr("task", "kill", "-s", "SIGKILL", cid, check=False)
        deadline = time.monotonic() + 10
        while self.task_status(cid) in ("RUNNING", "PAUSED") and time.monotonic() < deadline:
            time.sleep(0.02)
        self.ctr("task", "delete", "--force", cid, check=False)
        self.ctr("containers", "rm", cid, check=False)

    def cleanup(self):
        """Stop everything; return a list of problems."""
        problems = []
        if self.proc and self.proc.poll() is None:
            try:
                _, p = self.ctr("containers", "ls", "-q", check=False)
                for cid in p.stdout.decode().split():
                    self.remove(cid)
            except Exception as e:  # noqa: BLE001
                problems.append("removing containers: %s" % e)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Shims and container processes that survived (e.g. after an error).
        sockets = []
        tasks = os.path.join(self.dir, "state", "io.containerd.runtime.v2.task",
                             self.namespace)
        if os.path.isdir(tasks):
            for cid in os.listdir(tasks):
                try:
                    with open(os.path.join(tasks, cid, "address")) as f:
                        a = f.read().strip()
                    if a.startswith("unix://"):
                        sockets.append(a[len("unix://"):])
                except OSError:
                    pass
        victims = [pid for pid, cmd in processes()
                   if "containerd-shim" in cmd and self.address in cmd]
        victims += pids_in_cgroup(self.namespace)
        for pid in set(victims):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if victims:
            time.sleep(0.2)
        for s in sockets:
            try:
                os.unlink(s)
            except OSError:
                pass
        libc = ctypes.CDLL(None, use_errno=True)
        with open("/proc/self/mountinfo") as f:
            mounts = [unescape_mountinfo(line.split()[4]) for line in f]
        for m in reversed(mounts):
            if m == self.dir or m.startswith(self.dir + "/"):
                libc.umount2(m.encode(), MNT_DETACH)
        for mnt in cgroup_mount_points():
            top = os.path.join(mnt, self.namespace)
            for dirpath, _, _ in sorted(os.walk(top), key=lambda w: -len(w[0])):
                try:
                    os.rmdir(dirpath)
                except OSError as e:
                    problems.append("cgroup %s: %s" % (dirpath, e))
        shutil.rmtree(os.path.join(SHIM_RUNC_ROOT, self.namespace), ignore_errors=True)
        return problems


def run_bench(ctd, runtimes, iterations, warmup):
    samples = {rt["key"]: {k: [] for k, _ in OPS} for rt in runtimes}
    # One long-running container per runtime for the exec measurements.
    for rt in runtimes:
        rt["exec_id"] = "bench-exec-%s-%d" % (rt["key"], os.getpid())
        ctd.ctr("run", "-d", "--fifo-dir", ctd.fifo_dir, "--runc-binary", rt["path"],
                IMAGE, rt["exec_id"], "sleep", "100000")
    total = warmup + iterations
    for i in range(total):
        record = i >= warmup
        for rt in runtimes:
            cid = "bench-%s-%d-%d" % (rt["key"], os.getpid(), i)
            dt, p = ctd.ctr("run", "--rm", "--fifo-dir", ctd.fifo_dir, "--runc-binary",
                            rt["path"], IMAGE, cid, "/bin/true")
            if record:
                samples[rt["key"]]["run"].append(dt)
            dt, p = ctd.ctr("task", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id",
                            "x%d" % i, rt["exec_id"], "/bin/true")
            if record:
                samples[rt["key"]]["exec"].append(dt)
        if sys.stderr.isatty():
            print("\r  iteration %d/%d%s" % (i + 1, total, "" if record else " (warm-up)"),
                  end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    for rt in runtimes:
        ctd.remove(rt["exec_id"])
    return samples


def report(runtimes, samples, args):
    a, b = runtimes
    results = {}
    for key, name in OPS:
        sa, sb = stats(samples["a"][key]), stats(samples["b"][key])
        results[key] = {
            "name": name,
            "a": {k + ("_ms" if k != "n" else ""): (v * 1000 if k != "n" else v)
                  for k, v in sa.items()},
            "b": {k + ("_ms" if k != "n" else ""): (v * 1000 if k != "n" else v)
                  for k, v in sb.items()},
            "ratio_median_b_over_a": sb["median"] / sa["median"],
        }
        results[key]["a"]["samples_ms"] = [round(x * 1000, 3) for x in samples["a"][key]]
        results[key]["b"]["samples_ms"] = [round(x * 1000, 3) for x in samples["b"][key]]
    w = max(len(n) for _, n in OPS) + 5
    c = max(10, len(a["label"]) + 4, len(b["label"]) + 4)

    def row(*cols):
        name, rest = cols[0], cols[1:]
        return "%-*s  %*s %*s  %*s %*s  %6s" % (w, name, c, rest[0], c, rest[1], c,
                                                 rest[2], c, rest[3], rest[4])

    head = row("operation [ms]", a["label"] + " med", a["label"] + " p90",
               b["label"] + " med", b["label"] + " p90", "B/A")
    lines = [head, "-" * len(head)]
    for key, name in OPS:
        r = results[key]
        lines.append(row(name, "%.2f" % r["a"]["median_ms"], "%.2f" % r["a"]["p90_ms"],
                         "%.2f" % r["b"]["median_ms"], "%.2f" % r["b"]["p90_ms"],
                         "%.2f" % r["ratio_median_b_over_a"]))
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({
                "iterations": args.iterations, "warmup": args.warmup,
                "order": "interleaved A,B per iteration",
                "kernel": platform.release(),
                "containerd": subprocess.run(["containerd", "--version"],
                                             capture_output=True, text=True).stdout.strip(),
                "runtimes": {rt["key"]: {"label": rt["label"], "path": rt["path"],
                                         "version": rt["version"]} for rt in runtimes},
                "results": results,
            }, f, indent=2)
        print("results written to %s" % args.json)


def parse_args():
    ap = argument_parser(
        "Interleaved benchmark of two runc-compatible runtimes under containerd's runc shim.",
        warmup=3)
    return benchlib.parse_args(ap)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2", "umoci", "skopeo"):
        if not shutil.which(tool):
            raise BenchError("%s not found (apt-get install containerd umoci skopeo)" % tool)
    path_a = resolve_runtime(args.runtime_a, "A")
    path_b = resolve_runtime(args.runtime_b, "B")
    label_a = args.label_a or os.path.basename(path_a)
    label_b = args.label_b or os.path.basename(path_b)
    if label_a == label_b:
        label_a, label_b = label_a + "(A)", label_b + "(B)"
    runtimes = [
        {"key": "a", "label": label_a, "path": path_a, "version": runtime_version(path_a)},
        {"key": "b", "label": label_b, "path": path_b, "version": runtime_version(path_b)},
    ]

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_term)

    rc = 0
    ctd = None
    workdir = tempfile.mkdtemp(prefix="berth-bench-ctd-", dir=args.tmpdir)
    try:
        archive = os.path.join(workdir, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        ctd = Containerd(workdir)
        ctd.start()
        ctd.ctr("images", "import", archive)
        for rt in runtimes:
            log("%s = %-14s %s  (%s)" % (rt["key"].upper(), rt["label"], rt["path"],
                                          rt["version"]))
        log("containerd %s; kernel %s; %d iterations + %d warm-up, interleaved A,B"
            % (subprocess.run(["containerd", "--version"], capture_output=True,
                              text=True).stdout.split()[2], platform.release(),
               args.iterations, args.warmup))
        t0 = time.monotonic()
        samples = run_bench(ctd, runtimes, args.iterations, args.warmup)
        log("done in %.1fs" % (time.monotonic() - t0))
        report(runtimes, samples, args)
    except KeyboardInterrupt:
        log("\ninterrupted, cleaning up")
        rc = 130
    except (BenchError, subprocess.SubprocessError) as e:
        log("\nerror: %s" % e)
        if ctd:
            log(ctd.log_tail())
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems = ctd.cleanup() if ctd else []
        shutil.rmtree(workdir, ignore_errors=True)
        if os.path.exists(workdir):
            problems.append("could not remove %s" % workdir)
        for p in problems:
            log("cleanup: %s" % p)
        if problems and rc == 0:
            rc = 1
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log("error: %s" % e)
        sys.exit(1)
