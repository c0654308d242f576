#!/usr/bin/env python3
"""Where one `ctr run --rm /bin/true` spends its time, per shim, side by side.

Starts a private containerd (as containerd_shim.py does) with its debug log, records
system-wide with `perf record` the kernel's process tracepoints (exec, exit, fork) and
mount, umount and connect calls (no ptrace: the traced programs run at full speed),
and runs `ctr run --rm` per variant, interleaved as containerd_shim.py does. Each run
is cut into milestones (ms after ctr's exec): ctr's start-up, containerd's snapshot and
container steps (its debug log), the shim's `start`, the shim daemon, the runtime's
create, start and delete, the container's init, the unmount, the shim's exit and
containerd's `delete` of the shim, ctr's exit. Prints each milestone's median per
variant; `--timeline` prints every event of every run.

Python 3 standard library only. Must run as root; needs perf besides what
containerd_shim.py needs.
"""

import calendar
import os
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
from benchlib import BenchError, log, resolve_runtime  # noqa: E402
from containerd import BUILD_IMAGE, IMAGE, Containerd  # noqa: E402
from containerd_shim import (BERTH_RUNTIME_ROOT, RELEASE, baseline_variant,  # noqa: E402
                             variants)

EVENTS = ",".join(["sched:sched_process_exec", "sched:sched_process_exit",
                   "sched:sched_process_fork", "syscalls:sys_enter_mount",
                   "syscalls:sys_enter_umount", "syscalls:sys_enter_connect"])
PERF_LINE = re.compile(r"^\s*(.*?)\s+(\d+)/(\d+)\s+(\d+\.\d+):\s+(\S+):\s*(.*)$")
LOG_TIME = re.compile(r'^time="([^"]+)"')


class TracedContainerd(Containerd):
    """containerd with its debug log."""

    def __init__(self, workdir):
        super().__init__(workdir)
        with open(self.config, "a") as f:
            f.write("[debug]\n  level = \"debug\"\n")


def perf_events(path):
    """[(monotonic s, tgid, tid, comm, event, fields)] of a `perf record`."""
    p = subprocess.run(["perf", "script", "-i", path, "-F", "comm,pid,tid,time,event,trace"],
                       capture_output=True, text=True, errors="replace")
    out = []
    for line in p.stdout.splitlines():
        m = PERF_LINE.match(line)
        if m:
            comm, pid, tid, t, ev, rest = m.groups()
            out.append((float(t), int(pid), int(tid), comm, ev.split(":")[-1], rest))
    return out


def field(rest, key):
    m = re.search(r"\b%s=(\S+)" % key, rest)
    return m.group(1) if m else None


def phases(evs, ctr_pid, ctd_pid, log_lines, t_real_off, wall):
    """The milestones of one `ctr run` (ms after ctr's exec) from the perf events of
    the descendants of ctr and containerd, and containerd's log lines."""
    parent = {}
    forked_at = {}
    for t, pid, tid, comm, ev, rest in evs:
        if ev == "sched_process_fork":
            parent[int(field(rest, "child_pid"))] = pid
            forked_at[int(field(rest, "child_pid"))] = t

    def ours(pid):
        seen = 0
        while pid and seen < 64:
            if pid in (ctr_pid, ctd_pid):
                return True
            pid = parent.get(pid)
            seen += 1
        return False

    t0 = next(t for t, pid, tid, comm, ev, rest in evs
              if ev == "sched_process_exec" and pid == ctr_pid)
    # ctr's run and containerd's `delete` of the shim after it.
    t_end = t0 + wall + 0.15
    ms = {}
    timeline = []

    def mark(k, t):
        if k not in ms:
            ms[k] = (t - t0) * 1000

    exe = {}
    shim_procs = {}  # pid -> role
    runtime_seq = 0
    roles = {}
    for t, pid, tid, comm, ev, rest in evs:
        if t < t0 or t > t_end or not ours(pid):
            continue
        if ev == "sched_process_exec":
            fn = field(rest, "filename") or "?"
            exe[pid] = fn
            base = os.path.basename(fn)
            par = parent.get(pid)
            if pid == ctr_pid:
                role = "ctr"
            elif base.startswith("containerd-shim"):
                if par == ctd_pid:
                    # containerd runs `start` first and `delete` last; the daemon is
                    # started by `start`.
                    role = "shim start" if "shim start" not in ms else "shim delete"
                else:
                    role = "shim daemon"
                shim_procs[pid] = role
            elif base in ("runc", "berth-runtime") and shim_procs.get(par) == "shim daemon":
                role = ["runtime create", "runtime start", "runtime delete"][min(runtime_seq, 2)]
                runtime_seq += 1
            elif base == "true":
                role = "init"
            elif roles.get(pid, "").startswith("runtime"):
                # runc's `init`, berth-runtime's sealed re-exec.
                role = roles[pid] + " re-exec"
            elif roles.get(par, "").startswith("runtime"):
                role = roles[par].split(" re-exec")[0] + " child"
            else:
                role = base
            roles[pid] = role
            if role.startswith("runtime") and pid in forked_at and "re-exec" not in role:
                mark(role + " forked", forked_at[pid])
            mark(role, t)
            timeline.append((t, pid, "exec " + fn + " (" + role + ")"))
        elif ev == "sched_process_exit" and (field(rest, "group_dead") == "true"
                                             or tid == pid):
            # The main thread's exit: a thread still finishing a syscall (one in an
            # uninterruptible wait) must not count as the process's run time.
            role = roles.get(pid)
            if role:
                mark(role + " exits", t)
                timeline.append((t, pid, "exit (" + role + ")"))
        elif ev == "sched_process_fork" and shim_procs.get(pid) == "shim start":
            # A daemon forked by `start` without an exec (the single-threaded `start`
            # creates no thread, so its one fork is the daemon).
            child = int(field(rest, "child_pid"))
            shim_procs[child] = roles[child] = "shim daemon"
            mark("shim daemon", t)
            timeline.append((t, child, "fork (shim daemon)"))
        elif ev in ("sys_enter_mount", "sys_enter_umount"):
            role = roles.get(pid, "containerd" if pid == ctd_pid else "container init")
            mark("%s by %s" % (ev[10:], role), t)
            timeline.append((t, pid, "%s by %s" % (ev[10:], role)))
        elif ev == "sys_enter_connect" and pid == ctr_pid:
            mark("ctr connects", t)
    for real, text in log_lines:
        t = real - t_real_off
        if t0 <= t <= t_end:
            msg = re.search(r'msg="([^"]*)"', text)
            msg = msg.group(1) if msg else text[:80]
            msg = re.sub(r"trace-\w+-\d+", "ID", msg).replace("containerd-shim-berth-v2", "shim")
            timeline.append((t, 0, "containerd: " + msg))
            mark("containerd: " + msg, t)
    timeline.sort()
    return ms, [((t - t0) * 1000, pid, what) for t, pid, what in timeline]


# Phases of a run: (name, from milestone, to milestone); the first milestone of each
# list that the run has counts (runc's create exits as itself, berth-runtime's create
# as its sealed re-exec).
PHASES = [
    ("ctr start-up", ["ctr"], ["ctr connects"]),
    ("containerd: snapshot, container, task request", ["ctr connects"], ["shim start"]),
    ("shim `start` command", ["shim start"], ["shim start exits"]),
    ("shim daemon up, Create to runtime fork", ["shim start exits"],
     ["runtime create forked"]),
    ("runtime create", ["runtime create forked"],
     ["runtime create re-exec exits", "runtime create exits"]),
    ("Create reply to Start (containerd, ctr)",
     ["runtime create re-exec exits", "runtime create exits"], ["runtime start forked"]),
    ("runtime start", ["runtime start forked"], ["runtime start exits"]),
    ("init exit to shim exit (Wait, Delete, Shutdown)", ["init exits"],
     ["shim daemon exits"]),
    ("shim exit to its `delete` command's exit", ["shim daemon exits"],
     ["shim delete exits"]),
    ("`delete` command to ctr's exit (snapshot removal)", ["shim delete exits"],
     ["ctr exits"]),
    ("total (ctr's exec to exit)", ["ctr"], ["ctr exits"]),
]


def phase_ms(ms):
    out = {}
    for name, a, b in PHASES:
        ta = next((ms[k] for k in a if k in ms), None)
        tb = next((ms[k] for k in b if k in ms), None)
        if ta is not None and tb is not None:
            out[name] = tb - ta
    return out


def read_log(path):
    out = []
    with open(path, errors="replace") as f:
        for line in f:
            m = LOG_TIME.match(line)
            if not m:
                continue
            # 2026-12-07T03:14:08.854019643Z (UTC)
            t = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?", m.group(1))
            if not t:
                continue
            secs = calendar.timegm(time.strptime(t.group(1), "%Y-%m-%dT%H:%M:%S"))
            out.append((secs + float("0." + (t.group(2) or "0")), line.strip()))
    return out


def main():
    ap = benchlib.argument_parser("milestones of `ctr run --rm` per shim (perf)", warmup=1)
    ap.add_argument("--shim-dir", default=RELEASE)
    ap.add_argument("--timeline", action="store_true",
                    help="print the events of every run")
    ap.add_argument("--only", metavar="KEYS",
                    help="comma-separated variants to run (runc,runc_berth,berth,berth_base)")
    ap.add_argument("--baseline-shim", metavar="PATH",
                    help="another containerd-shim-berth-v2 binary, traced as a fourth "
                         "variant (berth-v2 base) in the same run")
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    if not shutil.which("perf"):
        raise BenchError("perf not found (apt-get install linux-perf)")
    shim = os.path.join(os.path.abspath(args.shim_dir), "containerd-shim-berth-v2")
    runc = resolve_runtime(args.runtime_a, "A")
    berth_runtime = resolve_runtime(args.runtime_b, "B")
    os.environ["PATH"] = ":".join([os.path.dirname(shim), os.path.dirname(berth_runtime),
                                   os.environ.get("PATH", "")])
    vs = variants(runc, berth_runtime)
    workdir = tempfile.mkdtemp(prefix="berth-trace-shim-", dir=args.tmpdir)
    if args.baseline_shim:
        bindir = os.path.join(workdir, "baseline-bin")
        vs.append(baseline_variant(args.baseline_shim, berth_runtime, bindir))
        os.environ["PATH"] = bindir + ":" + os.environ["PATH"]
    if args.only:
        vs = [v for v in vs if v["key"] in args.only.split(",")]

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    ctd = None
    perf = None
    rc = 0
    try:
        archive = os.path.join(workdir, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        ctd = TracedContainerd(workdir)
        ctd.start()
        ctd.ctr("images", "import", archive)
        perf_data = os.path.join(workdir, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-q", "-k", "mono", "-a", "-o", perf_data,
                                 "-e", EVENTS], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        runs = []
        for i in range(args.warmup + args.iterations):
            for v in vs:
                cid = "trace-%s-%d" % (v["key"], i)
                cmd = ["ctr", "--address", ctd.address, "-n", ctd.namespace, "run", "--rm",
                       "--fifo-dir", ctd.fifo_dir] + v["args"] + [IMAGE, cid, "/bin/true"]
                t = time.monotonic()
                p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
                _, err = p.communicate(timeout=60)
                dt = time.monotonic() - t
                if p.returncode != 0:
                    raise BenchError("%s failed: %s" % (" ".join(cmd), err.decode()[-300:]))
                if i >= args.warmup:
                    runs.append((v["key"], p.pid, dt))
                time.sleep(0.2)  # the shim's `delete` after ctr returned
        perf.send_signal(signal.SIGINT)
        perf.wait(60)
        perf = None
        evs = perf_events(perf_data)
        logs = read_log(ctd.log_path)
        off = time.time() - time.monotonic()
        table = {v["key"]: {} for v in vs}
        phases_table = {v["key"]: {} for v in vs}
        last = {}
        for key, pid, dt in runs:
            ms, tl = phases(evs, pid, ctd.proc.pid, logs, off, dt)
            ms["(wall time of ctr, measured)"] = dt * 1000
            for k, val in ms.items():
                table[key].setdefault(k, []).append(val)
            for k, val in phase_ms(ms).items():
                phases_table[key].setdefault(k, []).append(val)
            last.setdefault(key, []).append(tl)
        ref = table[vs[-1]["key"]]
        keys = sorted({k for d in table.values() for k in d},
                      key=lambda k: statistics.median(ref.get(k, table[vs[0]["key"]].get(k, [1e9]))))
        print("%-44s %s" % ("milestone, ms after ctr's exec (median)",
                            "".join("%15s" % v["label"] for v in vs)))
        for k in keys:
            row = []
            for v in vs:
                xs = table[v["key"]].get(k)
                row.append("%15s" % ("%.1f" % statistics.median(xs) if xs else "-"))
            print("%-44s %s" % (k[:44], "".join(row)))
        print("\n%-50s %s" % ("phase, ms (median of the runs' own phases)",
                              "".join("%15s" % v["label"] for v in vs)))
        for name, _, _ in PHASES:
            row = []
            for v in vs:
                xs = phases_table[v["key"]].get(name)
                row.append("%15s" % ("%.1f" % statistics.median(xs) if xs else "-"))
            print("%-50s %s" % (name[:50], "".join(row)))
        if args.timeline:
            for v in vs:
                for n, tl in enumerate(last[v["key"]]):
                    print("\n== %s, run %d" % (v["label"], n + 1))
                    for t, pid, what in tl:
                        print("%8.1f %7s %s" % (t, pid or "", what[:150]))
    except KeyboardInterrupt:
        rc = 130
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        log("error: %s" % e)
        if ctd:
            log(ctd.log_tail())
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if perf:
            perf.send_signal(signal.SIGINT)
            perf.wait(60)
        problems = ctd.cleanup() if ctd else []
        if ctd:
            shutil.rmtree(os.path.join(BERTH_RUNTIME_ROOT, ctd.namespace), ignore_errors=True)
        if os.environ.get("KEEP_TRACE"):
            log("kept %s" % workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
        for p in problems:
            log("cleanup: %s" % p)
    return rc


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        log("error: %s" % e)
        sys.exit(1)
