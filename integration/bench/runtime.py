#!/usr/bin/env python3
"""Latency / memory benchmark: compare two OCI runtimes (runc CLI compatible).

Runtime A (default: runc) and runtime B (default: berth-runtime), and C
(default: crun, when it is installed and works on this host) are measured
interleaved in the same run (A, B, C, A, B, C, ...), each with its own private
`--root`, on identical minimal busybox bundles. The /bin/true cycle is also
measured separately (each runtime's cycles back to back, without another
runtime's create and delete in between), so that a figure cannot depend on
what the harness runs between two cycles. See README.md next to this file.

Python 3 standard library only. Must run as root.
"""

import copy
import ctypes
import json
import os
import platform
import re
import resource
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

BUSYBOX = "/bin/busybox"
APPLETS = ("true", "sh", "sleep")

PR_SET_CHILD_SUBREAPER = 36
MNT_DETACH = 2
WAIT_TIMEOUT_S = 10.0   # max time to wait for a container to reach "stopped"
CMD_TIMEOUT_S = 30.0    # max time for any single runtime invocation
GNU_TIME = "/usr/bin/time"  # Debian package `time`; reports ru_maxrss in KiB
PIDS_LIMITS = (1000, 2000)
# berth-runtime's budget for the peak RSS of `create` (KiB): the goal is
# 2 MiB (issue 17), kept with a margin so that the next change does not
# cross it unnoticed; see the memory section of docs/runtime.md.
CREATE_RSS_GOAL_KIB = 2048
CREATE_RSS_BUDGET_KIB = 1990  # `update --pids-limit`, alternating per iteration

# Operation keys, in table order, with their display names.
OPS = [
    ("create", "create (sleep bundle)"),
    ("start", "start"),
    ("state", "state (running)"),
    ("exec", "exec /bin/true"),
    ("update", "update --pids-limit"),
    ("events", "events --stats"),
    ("kill", "kill KILL"),
    ("delete", "delete (stopped)"),
    ("cycle_create", "create in the cycle"),
    ("cycle", "cycle /bin/true"),
    ("sep_create", "create in the cycle, separate"),
    ("sep_cycle", "cycle /bin/true, separate"),
    # CPU time (user + sys) of the processes an operation ran, from the
    # rusage of reaped children: what the runtime itself costs, without the
    # run-queue waits that dominate wall time on a loaded host.
    ("cpu_create", "CPU: create process"),
    ("cpu_exec", "CPU: exec /bin/true, all processes"),
    ("cpu_cycle", "CPU: cycle, all processes"),
    ("cpu_sep_cycle", "CPU: cycle, all processes, separate"),
]

# `runc spec` output of runc 1.1.5 (ociVersion 1.0.2-dev), embedded so that
# `runc spec` is not needed at run time. Adjusted in make_config().
DEFAULT_SPEC = {
    "ociVersion": "1.0.2-dev",
    "process": {
        "terminal": True,
        "user": {"uid": 0, "gid": 0},
        "args": ["sh"],
        "env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "TERM=xterm",
        ],
        "cwd": "/",
        "capabilities": {
            k: ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            for k in ("bounding", "effective", "permitted", "ambient")
        },
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
        "noNewPrivileges": True,
    },
    "root": {"path": "rootfs", "readonly": True},
    "hostname": "runc",
    "mounts": [
        {"destination": "/proc", "type": "proc", "source": "proc"},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666",
                     "mode=0620", "gid=5"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
    ],
    "linux": {
        "resources": {"devices": [{"allow": False, "access": "rwm"}]},
        "namespaces": [{"type": t} for t in
                       ("pid", "network", "ipc", "uts", "mount")],
        "maskedPaths": [
            "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
            "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
            "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
        ],
        "readonlyPaths": [
            "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys",
            "/proc/sysrq-trigger",
        ],
    },
}


def make_config(args):
    spec = copy.deepcopy(DEFAULT_SPEC)
    spec["process"]["terminal"] = False
    spec["process"]["args"] = list(args)
    # linux.resources stays minimal: only runc's default "deny all devices"
    # rule. No cgroupsPath, so both runtimes use their default cgroup /<id>
    # in every hierarchy, which `update` and `events --stats` need.
    spec["linux"]["resources"] = copy.deepcopy(
        DEFAULT_SPEC["linux"]["resources"])
    spec["linux"].pop("cgroupsPath", None)
    return spec


def make_bundle(path, args):
    rootfs = os.path.join(path, "rootfs")
    bindir = os.path.join(rootfs, "bin")
    os.makedirs(bindir)
    # Mount points, so neither runtime has to create them in the rootfs.
    for d in ("proc", "dev", "sys", "tmp"):
        os.makedirs(os.path.join(rootfs, d))
    shutil.copy2(BUSYBOX, os.path.join(bindir, "busybox"))
    for applet in APPLETS:
        os.symlink("busybox", os.path.join(bindir, applet))
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(make_config(args), f, indent=2)
    return path


def reap():
    """Reap every exited child (container inits are reparented to us)."""
    n = 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return n
        if pid == 0:
            return n
        n += 1


def children_cpu():
    """User + sys seconds of every child reaped so far (and of what those
    children reaped themselves)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def child_pids():
    me = os.getpid()
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me:
            pids.append(int(name))
    return pids


class Runtime:
    def __init__(self, key, label, path, workdir, id_prefix):
        self.key = key
        self.label = label
        self.path = path
        self.version = runtime_version(path)
        base = os.path.join(workdir, key)
        self.root = os.path.join(base, "state")
        os.makedirs(self.root, mode=0o700)
        self.bundle_sleep = make_bundle(os.path.join(base, "bundle-sleep"),
                                        ["/bin/sleep", "1000"])
        self.bundle_true = make_bundle(os.path.join(base, "bundle-true"),
                                       ["/bin/true"])
        self.id_prefix = "%s-%s-" % (id_prefix, key)
        self.live = set()          # container ids that may exist
        self.samples = {k: [] for k, _ in OPS}
        self.rss = []              # KiB, one per timed create
        self.create_cpu = None     # user + sys seconds of the last create
        self.cycle_polls = []
        self.warnings = []

    def cmd(self, *args):
        return [self.path, "--root", self.root] + list(args)

    # -- primitive invocations -------------------------------------------

    def run(self, *args, check=True):
        """Run a runtime command; return (seconds, CompletedProcess)."""
        cmd = self.cmd(*args)
        t0 = time.perf_counter()
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=CMD_TIMEOUT_S)
        dt = time.perf_counter() - t0
        if check and p.returncode != 0:
            raise BenchError("[%s] `%s` failed (exit %d): %s" % (
                self.label, " ".join(cmd), p.returncode,
                p.stderr.decode(errors="replace").strip()))
        return dt, p

    def create(self, cid, bundle):
        """Time `create`; return (seconds, ru_maxrss KiB).

        The container inherits the runtime's stdio (terminal=false), so all of
        it is /dev/null: no pipe is held open by the container afterwards.
        """
        self.live.add(cid)
        cmd = self.cmd("create", "--bundle", bundle, cid)
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        try:
            _, status, ru = os.wait4(p.pid, 0)
        except BaseException:
            p.kill()
            p.wait()
            raise
        dt = time.perf_counter() - t0
        self.create_cpu = ru.ru_utime + ru.ru_stime
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode != 0:
            raise BenchError("[%s] `%s` failed (exit %d): %s" % (
                self.label, " ".join(cmd), p.returncode,
                self.diagnose_create(bundle)))
        return dt, ru.ru_maxrss

    def create_rss(self, cid, bundle):
        """Peak RSS (KiB) of one `create`, read by /usr/bin/time."""
        self.live.add(cid)
        out = os.path.join(os.path.dirname(self.root), "rss-" + cid)
        cmd = [GNU_TIME, "-f", "%M", "-o", out] + self.cmd("create", "--bundle", bundle, cid)
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=CMD_TIMEOUT_S)
        if p.returncode != 0:
            raise BenchError("[%s] `%s` failed (exit %d): %s" % (
                self.label, " ".join(cmd), p.returncode, self.diagnose_create(bundle)))
        with open(out) as f:
            rss = int(f.read().strip().splitlines()[-1])
        os.unlink(out)
        return rss

    def diagnose_create(self, bundle):
        """Re-run a failed create with stderr in a file, to show the error."""
        cid = self.id_prefix + "diag"
        errfile = os.path.join(os.path.dirname(self.root), "create-stderr")
        self.live.add(cid)
        try:
            with open(errfile, "w+b") as err:
                subprocess.run(self.cmd("create", "--bundle", bundle, cid),
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=err,
                               timeout=CMD_TIMEOUT_S)
                err.seek(0)
                msg = err.read().decode(errors="replace").strip()
        except Exception as e:  # noqa: BLE001
            msg = "(could not re-run create for diagnostics: %s)" % e
        return msg or "(no stderr output)"

    def state(self, cid):
        """Time `state`; return (seconds, parsed JSON document)."""
        dt, p = self.run("state", cid)
        try:
            doc = json.loads(p.stdout)
            doc["status"]
            return dt, doc
        except (ValueError, KeyError, TypeError) as e:
            raise BenchError("[%s] unparsable `state %s` output (%s): %r"
                             % (self.label, cid, e, p.stdout[:200]))

    def status(self, cid):
        dt, doc = self.state(cid)
        return dt, doc["status"]

    def wait_stopped(self, cid, pause=0.001):
        """Poll `state` until "stopped", reaping zombies; return #polls."""
        deadline = time.monotonic() + WAIT_TIMEOUT_S
        polls = 0
        while True:
            reap()
            polls += 1
            _, st = self.status(cid)
            if st == "stopped":
                return polls
            if time.monotonic() > deadline:
                raise BenchError("[%s] container %s still %r after %.0fs"
                                 % (self.label, cid, st, WAIT_TIMEOUT_S))
            if pause:
                time.sleep(pause)

    def delete(self, cid, *flags):
        dt, _ = self.run("delete", *flags, cid)
        self.live.discard(cid)
        return dt

    def cycle(self, cid):
        """create -> start -> poll state until stopped -> delete of the
        /bin/true bundle; return (seconds of create, of all, #polls, CPU
        seconds of every process the cycle ran: the runtime's invocations,
        their helpers and the container's init, all reaped by the end)."""
        reap()
        cpu0 = children_cpu()
        t0 = time.perf_counter()
        dt_create, _ = self.create(cid, self.bundle_true)
        self.run("start", cid)
        polls = self.wait_stopped(cid, pause=0)
        self.delete(cid)
        dt = time.perf_counter() - t0
        reap()
        return dt_create, dt, polls, children_cpu() - cpu0

    def separate(self, n, record):
        """`n` cycles back to back (the "separate" rows)."""
        for i in range(n):
            c, t, _, cpu = self.cycle("%sc%d" % (self.id_prefix, i))
            if record:
                self.samples["sep_create"].append(c)
                self.samples["sep_cycle"].append(t)
                self.samples["cpu_sep_cycle"].append(cpu)

    # -- one benchmark iteration -----------------------------------------

    def iteration(self, i, record):
        s = {}
        # 1-5: lifecycle of the long-running sleep container.
        cid = "%ss%d" % (self.id_prefix, i)
        s["create"], _ = self.create(cid, self.bundle_sleep)
        s["cpu_create"] = self.create_cpu
        s["start"], _ = self.run("start", cid)
        s["state"], doc = self.state(cid)
        st = doc["status"]
        if st != "running" and record:
            self.warnings.append("iteration %d: state after start was %r, "
                                 "expected 'running'" % (i, st))
        # exec (foreground): exits with /bin/true's status, checked to be 0.
        reap()
        cpu0 = children_cpu()
        s["exec"], _ = self.run("exec", cid, "/bin/true")
        reap()
        s["cpu_exec"] = children_cpu() - cpu0
        limit = PIDS_LIMITS[i % 2]
        s["update"], _ = self.run("update", "--pids-limit", str(limit), cid)
        got = pids_max(doc.get("pid"))          # not timed
        if got != str(limit) and record:
            self.warnings.append("iteration %d: pids.max after `update "
                                 "--pids-limit %d` is %r" % (i, limit, got))
        s["events"], p = self.run("events", "--stats", cid)
        problem = check_stats_event(p.stdout, cid)   # not timed
        if problem and record:
            self.warnings.append("iteration %d: `events --stats`: %s"
                                 % (i, problem))
        s["kill"], _ = self.run("kill", cid, "KILL")
        self.wait_stopped(cid)          # not timed
        reap()                          # zombie init gone, like under a shim
        s["delete"] = self.delete(cid)

        # 6: full cycle of /bin/true, timed as one unit.
        s["cycle_create"], s["cycle"], polls, s["cpu_cycle"] = self.cycle(
            "%st%d" % (self.id_prefix, i))

        # Peak RSS of create, measured apart from the timings: under GNU
        # time, whose own small fork is what ru_maxrss starts from (a fork
        # of this Python process would report Python's RSS instead).
        cid = "%sm%d" % (self.id_prefix, i)
        rss = self.create_rss(cid, self.bundle_sleep)
        self.run("delete", "--force", cid)
        self.live.discard(cid)
        reap()

        if record:
            for k, v in s.items():
                self.samples[k].append(v)
            self.rss.append(rss)
            self.cycle_polls.append(polls)

    # -- cleanup ---------------------------------------------------------

    def listed(self):
        try:
            p = subprocess.run(self.cmd("list", "-q"), stdin=subprocess.DEVNULL,
                               capture_output=True, text=True, timeout=10)
            return set(p.stdout.split()) if p.returncode == 0 else set()
        except Exception:  # noqa: BLE001
            return set()

    def force_delete_all(self):
        for cid in sorted(self.live | self.listed()):
            try:
                p = subprocess.run(self.cmd("delete", "--force", cid),
                                   stdin=subprocess.DEVNULL,
                                   capture_output=True, timeout=CMD_TIMEOUT_S)
                if p.returncode == 0 or cid not in self.listed():
                    self.live.discard(cid)
            except Exception:  # noqa: BLE001
                pass
        return self.live | self.listed()


def cgroup_mounts():
    """[(fstype, super options, mount root, mount point)] of cgroup mounts."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            sep = parts.index("-")
            fstype = parts[sep + 1]
            if fstype in ("cgroup", "cgroup2"):
                out.append((fstype, parts[sep + 3].split(","),
                            unescape_mountinfo(parts[3]),
                            unescape_mountinfo(parts[4])))
    return out


def pids_max(pid):
    """Content of pids.max in the pids cgroup of `pid` (None if not found)."""
    if not pid:
        return None
    try:
        with open("/proc/%d/cgroup" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        v2 = controllers == ""
        if not v2 and "pids" not in controllers.split(","):
            continue
        for fstype, opts, root, mnt in cgroup_mounts():
            if (fstype == "cgroup2") != v2 or (not v2 and "pids" not in opts):
                continue
            rel = os.path.relpath(path, root) if root != "/" else path
            if rel.startswith(".."):
                continue
            try:
                with open(os.path.join(mnt, rel.lstrip("/"), "pids.max")) as f:
                    return f.read().strip()
            except OSError:
                continue
    return None


def check_stats_event(stdout, cid):
    """Problem with `events --stats` output (one JSON object), or None."""
    lines = stdout.decode(errors="replace").strip().splitlines()
    if len(lines) != 1:
        return "expected one line, got %d" % len(lines)
    try:
        ev = json.loads(lines[0])
    except ValueError as e:
        return "unparsable (%s): %r" % (e, lines[0][:200])
    if not isinstance(ev, dict) or ev.get("type") != "stats" \
            or ev.get("id") != cid or not isinstance(ev.get("data"), dict):
        return "not a stats event for %s: %r" % (cid, lines[0][:200])
    return None


def kill_children(timeout=5.0):
    """SIGKILL every remaining child (by pid) and reap; repeat until none."""
    deadline = time.monotonic() + timeout
    while True:
        reap()
        pids = child_pids()
        if not pids:
            return []
        if time.monotonic() > deadline:
            return pids
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.02)


def leftover_mounts(prefix):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mnt = unescape_mountinfo(line.split()[4])
            if mnt == prefix or mnt.startswith(prefix + "/"):
                out.append(mnt)
    return out


def leftover_cgroups(id_prefix):
    """Cgroup dirs named after our containers (both runtimes create /<id>)."""
    mounts = [m[3] for m in cgroup_mounts()]
    found = []
    for m in mounts:
        base_depth = m.rstrip("/").count("/")
        for dirpath, dirnames, _ in os.walk(m):
            if dirpath.count("/") - base_depth >= 4:
                dirnames[:] = []
            for d in list(dirnames):
                if d.startswith(id_prefix):
                    found.append(os.path.join(dirpath, d))
                    dirnames.remove(d)
    return found


def cleanup(runtimes, workdir, id_prefix):
    problems = []
    for rt in runtimes:
        rt.force_delete_all()
    stuck = kill_children()
    if stuck:
        problems.append("processes would not die: %s" % stuck)
    for rt in runtimes:   # again: now everything is stopped
        left = rt.force_delete_all()
        if left:
            problems.append("[%s] containers could not be deleted: %s"
                            % (rt.label, sorted(left)))
    for cg in sorted(leftover_cgroups(id_prefix), key=len, reverse=True):
        try:
            os.rmdir(cg)
        except OSError as e:
            problems.append("leftover cgroup %s: %s" % (cg, e))
    if workdir:
        libc = ctypes.CDLL(None, use_errno=True)
        for mnt in reversed(leftover_mounts(workdir)):
            problems.append("leftover mount %s (detached)" % mnt)
            libc.umount2(mnt.encode(), MNT_DETACH)
        shutil.rmtree(workdir, ignore_errors=True)
        if os.path.exists(workdir):
            problems.append("could not remove %s" % workdir)
    return problems


# ---------------------------------------------------------------------------


def fmt_ms(v):
    return "%.2f" % (v * 1000.0)


def report(rts, args):
    """One table: per runtime its median and p90, then B's median over A's
    (and over C's when C ran)."""
    a, b = rts[0], rts[1]
    others = [rt for rt in rts if rt is not b]

    def ms(samples):
        st = stats(samples)
        d = {"n": st.pop("n")}
        d.update({k + "_ms": v * 1000.0 for k, v in st.items()})
        d["samples_ms"] = [round(x * 1000.0, 4) for x in samples]
        return d

    results = {}
    for key, name in OPS:
        r = {"name": name}
        for rt in rts:
            r[rt.key] = ms(rt.samples[key])
        for o in others:
            r["ratio_median_b_over_" + o.key] = \
                r["b"]["median_ms"] / r[o.key]["median_ms"]
        results[key] = r
    rss = {}
    for rt in rts:
        rss[rt.key] = {"median_kib": statistics.median(rt.rss),
                       "max_kib": max(rt.rss), "samples_kib": rt.rss}
    for o in others:
        rss["ratio_median_b_over_" + o.key] = \
            rss["b"]["median_kib"] / rss[o.key]["median_kib"]

    w = max(len(n) for _, n in OPS + [("", "peak RSS of create [KiB]")])
    c = max([10] + [len(rt.label) + 4 for rt in rts])
    ratio_heads = ["B/" + o.key.upper() for o in others]

    def row(name, cells, ratios):
        return "%-*s  %s  %s" % (
            w, name, " ".join("%*s" % (c, x) for x in cells),
            " ".join("%6s" % r for r in ratios))

    heads = []
    for rt in rts:
        heads += [rt.label + " med", rt.label + " p90"]
    head = row("operation [ms]", heads, ratio_heads)
    lines = [head, "-" * len(head)]
    for key, name in OPS:
        r = results[key]
        cells = []
        for rt in rts:
            cells += ["%.2f" % r[rt.key]["median_ms"], "%.2f" % r[rt.key]["p90_ms"]]
        lines.append(row(name, cells, ["%.2f" % r["ratio_median_b_over_" + o.key]
                                       for o in others]))
    lines.append("-" * len(head))
    heads = []
    for rt in rts:
        heads += [rt.label + " med", rt.label + " max"]
    lines.append(row("peak RSS of create [KiB]", heads, ratio_heads))
    cells = []
    for rt in rts:
        cells += ["%d" % rss[rt.key]["median_kib"], "%d" % rss[rt.key]["max_kib"]]
    lines.append(row("", cells, ["%.2f" % rss["ratio_median_b_over_" + o.key]
                                 for o in others]))
    lines.append("(state polls per /bin/true cycle, median: %s)" % ", ".join(
        "%s %g" % (rt.label, statistics.median(rt.cycle_polls)) for rt in rts))
    print("\n".join(lines))

    for rt in rts:
        msg = rss_budget_warning(rt.label, rt.version, rss[rt.key]["median_kib"])
        if msg:
            rt.warnings.append(msg)
    for rt in rts:
        for wmsg in rt.warnings[:5]:
            print("warning [%s]: %s" % (rt.label, wmsg))
        if len(rt.warnings) > 5:
            print("warning [%s]: ... %d more" % (rt.label, len(rt.warnings) - 5))

    if args.json:
        doc = {
            "iterations": args.iterations,
            "warmup": args.warmup,
            "separate_cycles": args.separate,
            "order": "interleaved %s per iteration; then each runtime's "
                     "separate cycles back to back" % ",".join(
                         rt.key.upper() for rt in rts),
            "kernel": platform.release(),
            "runtimes": {rt.key: {"label": rt.label, "path": rt.path,
                                  "version": rt.version} for rt in rts},
            "results": results,
            "create_peak_rss": rss,
            "cycle_state_polls": {rt.key: rt.cycle_polls for rt in rts},
            "warnings": {rt.key: rt.warnings for rt in rts},
        }
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print("results written to %s" % args.json)


def rss_budget_warning(label, version, median_kib):
    """A warning naming the regression when berth-runtime's `create` needs
    more memory than its budget, else None."""
    if "berth-runtime" not in (version or "") + label:
        return None
    if median_kib <= CREATE_RSS_BUDGET_KIB:
        return None
    return ("create peak RSS regressed: median %d KiB is over the budget of "
            "%d KiB (goal %d KiB%s); regenerate runtime/link/hot-text.ld "
            "(docs/runtime.md, \"Memory\") or find what create now touches"
            % (median_kib, CREATE_RSS_BUDGET_KIB, CREATE_RSS_GOAL_KIB,
               ", exceeded" if median_kib > CREATE_RSS_GOAL_KIB else ""))


def probe(rt):
    """None if `rt` can run the cycle here, else its error (crun 1.8 refuses
    hybrid cgroup hosts, for one)."""
    try:
        rt.cycle(rt.id_prefix + "probe")
        return None
    except BenchError as e:
        return str(e)


def parse_args():
    ap = argument_parser(
        "Interleaved latency/RSS benchmark of OCI runtimes (runc-compatible CLI).",
        warmup=2)
    ap.add_argument("--runtime-c", default="crun",
                    help="a third runtime, name or path, measured when it "
                         "works on this host; 'none' to leave it out "
                         "(default: crun)")
    ap.add_argument("--label-c", help="label for C (default: binary name)")
    ap.add_argument("--separate", type=int, default=None, metavar="N",
                    help="cycles per runtime in the separate phase "
                         "(default: --iterations)")
    args = benchlib.parse_args(ap)
    if args.separate is None:
        args.separate = args.iterations
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    if not os.path.isfile(BUSYBOX):
        raise BenchError("%s not found (install busybox-static)" % BUSYBOX)
    path_a = resolve_runtime(args.runtime_a, "A")
    path_b = resolve_runtime(args.runtime_b, "B")
    label_a = args.label_a or os.path.basename(path_a)
    label_b = args.label_b or os.path.basename(path_b)
    if label_a == label_b:
        label_a, label_b = label_a + "(A)", label_b + "(B)"

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise BenchError("prctl(PR_SET_CHILD_SUBREAPER): %s"
                         % os.strerror(ctypes.get_errno()))

    id_prefix = "bench%d" % os.getpid()
    workdir = None
    runtimes = []

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    # Respect an inherited SIG_IGN for SIGINT/SIGHUP (e.g. `nohup`, `cmd &`).
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_term)
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    rc = 0
    try:
        workdir = tempfile.mkdtemp(prefix="berth-bench-", dir=args.tmpdir)
        a = Runtime("a", label_a, path_a, workdir, id_prefix)
        runtimes.append(a)
        b = Runtime("b", label_b, path_b, workdir, id_prefix)
        runtimes.append(b)
        log("A = %-12s %s  (%s)" % (a.label, a.path, a.version))
        log("B = %-12s %s  (%s)" % (b.label, b.path, b.version))
        path_c, why = None, None
        if args.runtime_c != "none":
            try:
                path_c = resolve_runtime(args.runtime_c, "C")
            except BenchError as e:
                log("C left out: %s" % e)
        if path_c:
            c = Runtime("c", args.label_c or os.path.basename(path_c), path_c,
                        workdir, id_prefix)
            runtimes.append(c)
            why = probe(c)
            if why:
                log("C = %s left out, it cannot run the cycle here: %s" % (c.label, why))
                c.force_delete_all()
            else:
                log("C = %-12s %s  (%s)" % (c.label, c.path, c.version))
        measured = [a, b] + (runtimes[2:] if path_c and not why else [])
        log("kernel %s; %d iterations + %d warm-up, interleaved %s, then %d "
            "separate cycles each; workdir %s"
            % (platform.release(), args.iterations, args.warmup,
               ",".join(rt.key.upper() for rt in measured), args.separate, workdir))
        t_start = time.monotonic()
        total = args.warmup + args.iterations
        for i in range(total):
            record = i >= args.warmup
            for rt in measured:
                rt.iteration(i, record)
            if sys.stderr.isatty():
                print("\r  iteration %d/%d%s" % (
                    i + 1, total, "" if record else " (warm-up)"),
                    end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        # Separate: each runtime's cycles back to back (one unmeasured
        # warm-up cycle first), runtimes one after the other.
        for rt in measured:
            rt.separate(1, False)
            rt.separate(args.separate, True)
        log("done in %.1fs" % (time.monotonic() - t_start))
        report(measured, args)
    except KeyboardInterrupt:
        log("\ninterrupted, cleaning up")
        rc = 130
    except (BenchError, subprocess.TimeoutExpired) as e:
        log("\nerror: %s" % e)
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        problems = cleanup(runtimes, workdir, id_prefix)
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
