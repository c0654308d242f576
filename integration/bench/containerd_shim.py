#!/usr/bin/env python3
"""containerd-shim-berth-v2 against containerd's runc shim, side by side in one run.

Starts a private containerd (the same harness as containerd.py: own config, root,
state and socket in a temp dir, unique namespace), imports a locally built busybox
image, then measures interleaved per iteration:

  runc-v2/runc    `ctr run --rm --runtime io.containerd.runc.v2 --runc-binary runc`
  runc-v2/berth   `ctr run --rm --runtime io.containerd.runc.v2 --runc-binary berth-runtime`
  berth-v2        `ctr run --rm --runtime io.containerd.berth.v2` (our shim, berth-runtime)

for `run --rm IMAGE ID /bin/true` (wall time of ctr: shim start, create, start, wait,
delete, shim exit) and `task exec /bin/true` in a running container of each variant,
and the resident memory (VmRSS and Pss from /proc/PID/smaps_rollup) of each variant's
shim while it serves one idle container. Prints medians, p90 and the ratios to
runc-v2/runc. Everything it started is removed at the end, also after an error.

Then the resident memory of the one shim serving a pod of 10 idle containers (grouped
by the CRI sandbox id annotation, as containerd's CRI sets it).

Goals (issue 16): run --rm with berth-v2 <= 0.5x runc-v2/runc; the idle berth-v2 shim
<= 2 MiB resident, <= 3 MiB serving a pod of 10.

Python 3 standard library only. Must run as root. Needs containerd, ctr,
containerd-shim-runc-v2, runc, umoci, skopeo, busybox-static, and the release build
of containerd-shim-berth-v2 and berth-runtime.
"""

import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import BenchError, log, resolve_runtime, stats  # noqa: E402
from containerd import BUILD_IMAGE, IMAGE, Containerd  # noqa: E402

RELEASE = benchlib.RELEASE
BERTH_RUNTIME_ROOT = "/run/containerd/berth"
OPS = [("run", "ctr run --rm /bin/true"), ("exec", "ctr task exec /bin/true")]


def variants(runc, berth_runtime):
    return [
        {"key": "runc", "label": "runc-v2/runc",
         "args": ["--runtime", "io.containerd.runc.v2", "--runc-binary", runc]},
        {"key": "runc_berth", "label": "runc-v2/berth",
         "args": ["--runtime", "io.containerd.runc.v2", "--runc-binary", berth_runtime]},
        {"key": "berth", "label": "berth-v2",
         "args": ["--runtime", "io.containerd.berth.v2"]},
    ]


def baseline_variant(shim, berth_runtime, bindir):
    """Another build of containerd-shim-berth-v2 as a fourth variant (an A/B of a shim
    change in one run): containerd finds it as `io.containerd.berthbase.v2`, i.e. as
    containerd-shim-berthbase-v2 on its PATH (a copy in `bindir`, which the caller puts
    on PATH), with berth-runtime beside it."""
    os.makedirs(bindir, exist_ok=True)
    shutil.copy2(shim, os.path.join(bindir, "containerd-shim-berthbase-v2"))
    os.symlink(berth_runtime, os.path.join(bindir, "berth-runtime"))
    return {"key": "berth_base", "label": "berth-v2 base",
            "args": ["--runtime", "io.containerd.berthbase.v2"]}


def shim_of(ctd, cid):
    """The pid of the shim serving `cid`: the parent of its init (each shim is its
    containers' subreaper)."""
    _, p = ctd.ctr("task", "ls")
    init = next(int(line.split()[1]) for line in p.stdout.decode().splitlines()[1:]
                if line.split()[0] == cid)
    with open("/proc/%d/stat" % init) as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def shim_memory(ctd, cid):
    """(VmRSS KiB, Pss KiB) of the shim serving `cid`."""
    return proc_memory(shim_of(ctd, cid))


def proc_memory(pid):
    rss = pss = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


POD_SIZE = 10
SANDBOX_ID = "io.kubernetes.cri.sandbox-id"


def pod_memory(ctd, v):
    """(VmRSS KiB, Pss KiB) of the one shim serving a pod of POD_SIZE idle containers:
    containers annotated with the same sandbox id share a shim (in both shims), the
    first naming itself as the CRI sandbox does. Also checks that they do share one."""
    pod = "bench-pod-%s-%d" % (v["key"], os.getpid())
    ids = ["%s-%d" % (pod, i) if i else pod for i in range(POD_SIZE)]
    try:
        for cid in ids:
            ctd.ctr("run", "-d", "--fifo-dir", ctd.fifo_dir, *v["args"], "--annotation",
                    "%s=%s" % (SANDBOX_ID, pod), IMAGE, cid, "sleep", "100000")
        time.sleep(2.0)  # idle, as above
        shims = {shim_of(ctd, cid) for cid in ids}
        if len(shims) != 1:
            raise BenchError("%s: the pod's %d containers are served by %d shims"
                             % (v["label"], POD_SIZE, len(shims)))
        return proc_memory(shims.pop())
    finally:
        for cid in reversed(ids):
            ctd.remove(cid)


def run_bench(ctd, vs, iterations, warmup):
    samples = {v["key"]: {k: [] for k, _ in OPS} for v in vs}
    for v in vs:
        v["idle_id"] = "bench-idle-%s-%d" % (v["key"], os.getpid())
        ctd.ctr("run", "-d", "--fifo-dir", ctd.fifo_dir, *v["args"], IMAGE, v["idle_id"],
                "sleep", "100000")
    total = warmup + iterations
    for i in range(total):
        record = i >= warmup
        for v in vs:
            cid = "bench-%s-%d-%d" % (v["key"], os.getpid(), i)
            dt, _ = ctd.ctr("run", "--rm", "--fifo-dir", ctd.fifo_dir, *v["args"], IMAGE,
                            cid, "/bin/true")
            if record:
                samples[v["key"]]["run"].append(dt)
            dt, _ = ctd.ctr("task", "exec", "--fifo-dir", ctd.fifo_dir, "--exec-id",
                            "x%d" % i, v["idle_id"], "/bin/true")
            if record:
                samples[v["key"]]["exec"].append(dt)
        if sys.stderr.isatty():
            print("\r  iteration %d/%d%s" % (i + 1, total, "" if record else " (warm-up)"),
                  end="", file=sys.stderr, flush=True)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    # Idle: berth-v2 closes its events connection (and that client's two threads) after
    # 1 s without events; the execs above just published some.
    time.sleep(2.0)
    memory = {v["key"]: shim_memory(ctd, v["idle_id"]) for v in vs}
    for v in vs:
        ctd.remove(v["idle_id"])
    # The runc shim serves a pod the same way whichever runtime it runs: two variants.
    pod = {v["key"]: pod_memory(ctd, v) for v in vs if v["key"] != "runc_berth"}
    return samples, memory, pod


def report(vs, samples, memory, pod, args):
    base = vs[0]["key"]
    results = {}
    lines = ["%-26s %s" % ("operation [ms]", "  ".join("%22s" % (v["label"] + " med/p90")
                                                        for v in vs))]
    lines.append("-" * len(lines[0]))
    for key, name in OPS:
        st = {v["key"]: stats(samples[v["key"]][key]) for v in vs}
        results[key] = {v["key"]: {"median_ms": st[v["key"]]["median"] * 1000,
                                   "p90_ms": st[v["key"]]["p90"] * 1000,
                                   "ratio_median_to_runc": st[v["key"]]["median"]
                                   / st[base]["median"],
                                   "samples_ms": [round(x * 1000, 3)
                                                  for x in samples[v["key"]][key]]}
                        for v in vs}
        lines.append("%-26s %s" % (name, "  ".join(
            "%22s" % ("%.1f/%.1f (%.2fx)" % (results[key][v["key"]]["median_ms"],
                                             results[key][v["key"]]["p90_ms"],
                                             results[key][v["key"]]["ratio_median_to_runc"]))
            for v in vs)))
    lines.append("%-26s %s" % ("idle shim RSS/PSS [KiB]", "  ".join(
        "%22s" % ("%d/%d" % memory[v["key"]]) for v in vs)))
    lines.append("%-26s %s" % ("pod of %d: shim RSS/PSS" % POD_SIZE, "  ".join(
        "%22s" % ("%d/%d" % pod[v["key"]] if v["key"] in pod else "-") for v in vs)))
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"iterations": args.iterations, "warmup": args.warmup,
                       "kernel": platform.release(),
                       "containerd": subprocess.run(["containerd", "--version"],
                                                    capture_output=True,
                                                    text=True).stdout.strip(),
                       "variants": {v["key"]: v["label"] for v in vs},
                       "results": results,
                       "idle_shim_kib": {k: {"rss": m[0], "pss": m[1]}
                                         for k, m in memory.items()},
                       "pod_of_%d_shim_kib" % POD_SIZE: {k: {"rss": m[0], "pss": m[1]}
                                                         for k, m in pod.items()}},
                      f, indent=2)
        print("results written to %s" % args.json)


def main():
    ap = benchlib.argument_parser(
        "containerd-shim-berth-v2 against containerd-shim-runc-v2, interleaved.", warmup=3)
    ap.add_argument("--shim-dir", default=RELEASE,
                    help="directory holding containerd-shim-berth-v2 (default: %(default)s)")
    ap.add_argument("--baseline-shim", metavar="PATH",
                    help="another containerd-shim-berth-v2 binary, measured as a fourth "
                         "variant (berth-v2 base) in the same run")
    ap.add_argument("--baseline-runtime", metavar="PATH",
                    help="the berth-runtime beside --baseline-shim (default: --runtime-b), "
                         "e.g. the runtime of the same other build")
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    for tool in ("containerd", "ctr", "containerd-shim-runc-v2", "umoci", "skopeo"):
        if not shutil.which(tool):
            raise BenchError("%s not found (apt-get install containerd umoci skopeo)" % tool)
    shim = os.path.join(os.path.abspath(args.shim_dir), "containerd-shim-berth-v2")
    if not os.access(shim, os.X_OK):
        raise BenchError("%s not found: cargo build --release -p containerd-shim-berth-v2"
                         % shim)
    runc = resolve_runtime(args.runtime_a, "A")
    berth_runtime = resolve_runtime(args.runtime_b, "B")
    # containerd finds runtime v2 shims on its PATH; the shim finds berth-runtime beside
    # itself, else on that PATH.
    os.environ["PATH"] = ":".join([os.path.dirname(shim), os.path.dirname(berth_runtime),
                                   os.environ.get("PATH", "")])
    vs = variants(runc, berth_runtime)
    workdir = tempfile.mkdtemp(prefix="berth-bench-shim-", dir=args.tmpdir)
    if args.baseline_shim:
        bindir = os.path.join(workdir, "baseline-bin")
        base_runtime = (resolve_runtime(args.baseline_runtime, "baseline")
                        if args.baseline_runtime else berth_runtime)
        vs.append(baseline_variant(args.baseline_shim, base_runtime, bindir))
        os.environ["PATH"] = bindir + ":" + os.environ["PATH"]

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)

    rc = 0
    ctd = None
    try:
        archive = os.path.join(workdir, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        ctd = Containerd(workdir)
        ctd.start()
        ctd.ctr("images", "import", archive)
        log("containerd %s; kernel %s; %d iterations + %d warm-up, interleaved %s"
            % (subprocess.run(["containerd", "--version"], capture_output=True,
                              text=True).stdout.split()[2], platform.release(),
               args.iterations, args.warmup, ",".join(v["label"] for v in vs)))
        t0 = time.monotonic()
        samples, memory, pod = run_bench(ctd, vs, args.iterations, args.warmup)
        log("done in %.1fs" % (time.monotonic() - t0))
        report(vs, samples, memory, pod, args)
    except KeyboardInterrupt:
        log("\ninterrupted, cleaning up")
        rc = 130
    except (BenchError, subprocess.SubprocessError, OSError) as e:
        log("\nerror: %s" % e)
        if ctd:
            log(ctd.log_tail())
        rc = 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        problems = ctd.cleanup() if ctd else []
        if ctd:
            shutil.rmtree(os.path.join(BERTH_RUNTIME_ROOT, ctd.namespace), ignore_errors=True)
        shutil.rmtree(workdir, ignore_errors=True)
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
