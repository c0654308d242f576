#!/usr/bin/env python3
"""berth networking benchmarks (issue 11), interleaved in one run:

  run     `berth run --rm --network NET IMAGE true` vs the same with `--network none`
          (goal: at most 10 ms more)
  iperf3  TCP throughput to a container's iperf3 through a published port on
          127.0.0.1 vs directly to the container's address (goal: >= 0.95x;
          docker's userland proxy gets ~0.72x)
  scale   `berth run -d` and a name lookup with 1 vs 100 containers on one
          network (goal: as fast with 100): rounds with 1, then with 100, then
          with 1 again; `--scale-only` runs only this, `--probes` adds the
          phase table of `run -d` at 1 vs 100, `--bin-dir` takes the binaries
          of an earlier build for a before/after comparison

The `run` row also times docker (a private dockerd, as integration/bench/docker.py
starts it: `--iptables=false`, so its bridge costs no firewall rules) and podman
(private store, its default network backend) in the same interleaved loop, each on
a user network of its own and with `--network none`; `--no-docker`/`--no-podman`
leave them out.

The busybox image is built locally (integration/containerd/build-busybox-image.sh);
iperf3 runs inside the container from the host's /usr and /lib, bind-mounted read
only. Everything started is removed at the end. Python 3 standard library only;
run as root; needs nft and iperf3 (integration/install-deps.sh).
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from benchlib import BenchError, log, stats  # noqa: E402
import docker as dockerbench  # noqa: E402

REPO = benchlib.REPO
REL = os.path.join(REPO, "target", "x86_64-unknown-linux-gnu", "release")  # --bin-dir
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"


def berth_cmd(env, *args, check=True):
    p = subprocess.run([os.path.join(REL, "berth")] + list(args), env=env,
                       capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise BenchError("berth %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout.strip()


def timed(env, *args):
    t0 = time.monotonic()
    berth_cmd(env, *args)
    return time.monotonic() - t0


def load():
    return os.getloadavg()[0]


def print_phases(phases, cols, heads):
    """A table of the medians of BERTH_TIMING phases, one column per key of
    `phases` in `cols` (a phase missing from a column: "-")."""
    print("%-40s" % "berth phase (BERTH_TIMING), ms" + "".join("%10s" % h for h in heads))
    keys = []
    for c in cols:
        keys += [k for k in phases[c] if k not in keys]
    for k in keys:
        vals = [stats(phases[c][k])["median"] if phases[c].get(k) else None for c in cols]
        print("%-40s" % k[:40] + "".join("%10s" % ("-" if v is None else "%.2f" % v)
                                          for v in vals))


PROBE = re.compile(r"berth\[\d+\] \+[\d.]+ms \(\+([\d.]+)\) (.*)")


def probed(env, phases, *args):
    """`timed`, with berth's BERTH_TIMING probes: each phase's time (from the
    mark before it) appended to phases[phase] (a repeated phase: "#2"...)."""
    t0 = time.monotonic()
    p = subprocess.run([os.path.join(REL, "berth")] + list(args),
                       env=dict(env, BERTH_TIMING="1"), capture_output=True, text=True,
                       timeout=120)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("berth %s: %s" % (" ".join(args), p.stderr.strip()))
    seen = {}
    for line in p.stderr.splitlines():
        m = PROBE.match(line)
        if m:
            k = m.group(2)
            seen[k] = seen.get(k, 0) + 1
            key = k if seen[k] == 1 else "%s #%d" % (k, seen[k])
            phases.setdefault(key, []).append(float(m.group(1)))
    return dt


def iperf(addr, port, seconds):
    p = subprocess.run(["iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J"],
                       capture_output=True, text=True, timeout=seconds + 30)
    if p.returncode != 0:
        raise BenchError("iperf3 to %s:%d: %s" % (addr, port, p.stderr.strip() or p.stdout[-300:]))
    return json.loads(p.stdout)["end"]["sum_received"]["bits_per_second"]


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=3)
    ap.add_argument("--scale", type=int, default=100, help="containers on one network")
    ap.add_argument("--iperf-seconds", type=int, default=5)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--skip-iperf", action="store_true")
    ap.add_argument("--probes", action="store_true",
                    help="collect berth's BERTH_TIMING phase probes in the run --rm loop "
                         "and the scale rounds, and print their medians")
    ap.add_argument("--scale-only", action="store_true",
                    help="only the scale benchmark (1 vs --scale containers on a network)")
    ap.add_argument("--bin-dir", metavar="DIR",
                    help="take berth, berth-shim and berth-runtime from DIR (e.g. a copy "
                         "of an earlier build, for a before/after comparison) instead of "
                         "the workspace's release build")
    args = benchlib.parse_args(ap)
    if args.bin_dir:
        global REL
        REL = os.path.abspath(args.bin_dir)
    if args.scale_only:
        args.no_docker = args.no_podman = args.skip_iperf = True
    if os.geteuid() != 0:
        raise SystemExit("network.py: run as root")
    work = tempfile.mkdtemp(prefix="berth-bench-net-", dir=args.tmpdir)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "root"),
               BERTH_STATE=os.path.join(work, "state"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    rc = 0
    out = {}
    dk = pm = None
    problems = []
    try:
        archive = os.path.join(work, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        berth_cmd(env, "load", "-i", archive)
        berth_cmd(env, "network", "create", "benchnet")
        # 1. run --rm on a user network vs --network none, berth beside its peers
        cg = "berth-bench-net-%d" % os.getpid()
        phases = {"none": {}, "benchnet": {}}
        runners = {
            "berth": (lambda net: probed(env, phases[net], "run", "--rm", "--network", net,
                                         IMAGE, "true"))
            if args.probes else
            (lambda net: timed(env, "run", "--rm", "--network", net, IMAGE, "true")),
        }
        if not args.no_docker and shutil.which("dockerd"):
            runc = shutil.which("runc")
            dk = dockerbench.Docker(work, cg, runc, runc)
            dk.start(archive)
            dk.docker("network", "create", "benchnet")
            runners["docker"] = lambda net: dk.docker(
                "run", "--rm", "--network", net, IMAGE, "/bin/true")[0]
        if not args.no_podman and shutil.which("podman"):
            runc = shutil.which("runc")
            pm = dockerbench.Podman(work, cg, {"a": runc})
            pm.start(archive)
            pm.pod(runc, "network", "create", "benchnet")
            runners["podman"] = lambda net: pm.pod(
                runc, "run", "--rm", "--cgroup-parent=/" + cg, "--network", net, IMAGE,
                "/bin/true")[0]
        samples = {(t, net): [] for t in runners for net in ("none", "benchnet")}
        for i in range(0 if args.scale_only else args.warmup + args.iterations):
            if i == args.warmup:
                for ph in phases.values():
                    ph.clear()  # the warm-up's probes
            for (t, net) in samples:
                dt = runners[t](net)
                if i >= args.warmup:
                    samples[(t, net)].append(dt)
        res = {"%s %s" % k: stats(v) for k, v in samples.items() if v}
        out["run"] = res
        print("%-40s %10s %10s" % ("operation", "median ms", "p90 ms"))
        for k, s in res.items():
            t, net = k.split()
            print("%-40s %10.1f %10.1f" % ("%s run --rm --network %s" % (t, net),
                                           s["median"] * 1e3, s["p90"] * 1e3))
        for t in runners if res else ():
            extra = (res[t + " benchnet"]["median"] - res[t + " none"]["median"]) * 1e3
            print("%s: a user network costs %.1f ms more than none%s"
                  % (t, extra, " (goal <= 10 ms)" if t == "berth" else ""))
        if args.probes and res:
            print_phases(phases, ("benchnet", "none"), ("net", "none"))
            out["phases"] = {n: {k: stats(v) for k, v in ph.items()}
                             for n, ph in phases.items()}
        # 2. iperf3 through a published port on 127.0.0.1 vs direct
        if args.skip_iperf:
            pass
        elif shutil.which("iperf3"):
            mounts = []
            for d in ("/usr", "/lib", "/lib64"):
                if os.path.isdir(d):
                    mounts += ["-v", "%s:%s:ro" % (d, d)]
            port = 45201
            # iperf3 makes its stream buffers in /tmp
            berth_cmd(env, "run", "-d", "--name", "iperf", "-p", "127.0.0.1:%d:5201" % port,
                      "--tmpfs", "/tmp", *mounts, IMAGE, "/usr/bin/iperf3", "-s")
            ip = berth_cmd(env, "inspect", "-f", "{{.NetworkSettings.IPAddress}}", "iperf")
            time.sleep(0.5)
            # pairs, each direct then published: on a loaded host the rate
            # swings 2x from one test to the next, so the median of the pairs'
            # ratios is the steadier figure (the ratio of the medians beside it)
            direct, published = [], []
            for _ in range(max(1, min(args.iterations, 6))):
                direct.append(iperf(ip, 5201, args.iperf_seconds))
                published.append(iperf("127.0.0.1", port, args.iperf_seconds))
            d, p = stats(direct)["median"], stats(published)["median"]
            pair = stats([b / a for a, b in zip(direct, published)])["median"]
            out["iperf3"] = {"direct_bps": d, "published_bps": p, "ratio": p / d,
                             "pair_ratio_median": pair}
            print("iperf3 direct %.2f Gbit/s, via 127.0.0.1:%d %.2f Gbit/s: ratio %.2f, "
                  "median of %d paired ratios %.2f (goal >= 0.95)"
                  % (d / 1e9, port, p / 1e9, p / d, len(direct), pair))
            berth_cmd(env, "rm", "-f", "iperf")
        else:
            log("iperf3 not installed: skipping the throughput benchmark")
        # 3. run -d and a lookup with 1 vs N containers on one network
        scale_phases = {"1": {}, str(args.scale): {}}
        loads = {"1": [], str(args.scale): []}

        def one_round(tag, label):
            loads[label].append(load())
            run_d = ("run", "-d", "--name", "probe-" + tag, "--network", "benchnet",
                     IMAGE, "sleep", "600")
            if args.probes:
                t_run = probed(env, scale_phases[label], *run_d)
            else:
                t_run = timed(env, *run_d)
            t0 = time.monotonic()
            berth_cmd(env, "exec", "probe-" + tag, "ping", "-c", "1", "-W", "1", "c0")
            t_res = time.monotonic() - t0
            berth_cmd(env, "rm", "-f", "probe-" + tag)
            return t_run, t_res
        berth_cmd(env, "run", "-d", "--name", "c0", "--network", "benchnet", IMAGE, "sleep", "600")
        # 1, then N, then 1 again (half the rounds at 1 each time): a load
        # that drifts during the run weighs on both sides alike
        half = (args.iterations + 1) // 2
        small = [one_round("a%d" % i, "1") for i in range(half)]
        for i in range(1, args.scale):
            berth_cmd(env, "run", "-d", "--name", "c%d" % i, "--network", "benchnet", IMAGE,
                      "sleep", "600")
        big = [one_round("b%d" % i, str(args.scale)) for i in range(args.iterations)]
        for i in range(1, args.scale):
            berth_cmd(env, "rm", "-f", "c%d" % i)
        small += [one_round("a%d" % i, "1") for i in range(half, 2 * half)]
        for label, rows in (("1", small), (str(args.scale), big)):
            r = stats([x[0] for x in rows])
            q = stats([x[1] for x in rows])
            out["scale_" + label] = {"run": r, "lookup": q, "load": stats(loads[label])}
            print("%-40s %10.1f %10.1f   (load %.1f)" % (
                "run -d with %s on the network" % label, r["median"] * 1e3, r["p90"] * 1e3,
                stats(loads[label])["median"]))
            print("%-40s %10.1f %10.1f" % ("exec ping NAME with %s" % label,
                                           q["median"] * 1e3, q["p90"] * 1e3))
        n = str(args.scale)
        print("run -d with %s vs 1: %.2fx (goal: flat, <= 1.05x); lookup %.2fx" % (
            n, out["scale_" + n]["run"]["median"] / out["scale_1"]["run"]["median"],
            out["scale_" + n]["lookup"]["median"] / out["scale_1"]["lookup"]["median"]))
        if args.probes:
            print_phases(scale_phases, ("1", n), ("with 1", "with " + n))
            out["scale_phases"] = {k: {p: stats(v) for p, v in ph.items()}
                                   for k, ph in scale_phases.items()}
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2)
    except (BenchError, subprocess.SubprocessError) as e:
        log("error: %s" % e)
        rc = 1
    finally:
        ids = berth_cmd(env, "ps", "-a", "-q", "--no-trunc", check=False)
        for cid in ids.split():
            berth_cmd(env, "rm", "-f", cid, check=False)
        berth_cmd(env, "network", "prune", "-f", check=False)
        # a user network's bridge outlives dockerd: remove the networks first
        if dk is not None:
            dk.docker("rm", "-f", *dk.docker("ps", "-aq", check=False)[1].stdout.decode().split(),
                      check=False)
            dk.docker("network", "rm", "benchnet", check=False)
        if pm is not None:
            pm.pod(shutil.which("runc"), "rm", "-af", "-t", "0", check=False)
            pm.pod(shutil.which("runc"), "network", "rm", "-f", "benchnet", check=False)
        for eng in (dk, pm):
            if eng is not None:
                eng.cleanup(problems)
        for pr in problems:
            log("cleanup: %s" % pr)
        subprocess.run(["umount", "-R", "-l", work], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
