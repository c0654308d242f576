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
          of an earlier build for a before/after comparison; `--interleave`
          alternates the rounds between a second root holding 1 container
          and the root holding 100 (both on the host at once), so that a
          drifting load weighs on both alike: what grows per root and network
          (the store, the repair scan, IPAM, the bridge), not what grows with
          the host's mounts or cgroups (the 100 are there for both sides);
          `--same-root` (with `--interleave`) puts both sides in one root, on
          two networks (1 and 100 containers), as the peers' rounds do: what
          grows with the containers on the network alone, not with the store
          The same rounds time docker and podman (below) after berth's,
          each on user networks of its own (`run -d`, then the container
          removed; docker's also `exec nslookup NAME` through its embedded
          DNS, podman's only with netavark's aardvark-dns): each engine's
          100/1 ratio beside berth's (`scale_docker_*`, `scale_podman_*`)

The `run` row also times docker (a private dockerd, as integration/bench/docker.py
starts it: `--iptables=false`, so its bridge costs no firewall rules) and podman
(private store, its default network backend) in the same interleaved loop, each on
a user network of its own and with `--network none`, and both run the scale
rounds (also with `--scale-only`); `--no-docker`/`--no-podman` leave them out.

The busybox image is built locally (integration/containerd/build-busybox-image.sh);
iperf3 runs inside the container from the host's /usr and /lib, bind-mounted read
only. Everything started is removed at the end. Python 3 standard library only;
run as root; needs nft and iperf3 (integration/install-deps.sh).
"""

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib  # noqa: E402
from cni import cni_leftovers, remove_cni_ipam, remove_cni_leftovers  # noqa: E402
from benchlib import BenchError, log, stats  # noqa: E402
import docker as dockerbench  # noqa: E402

REPO = benchlib.REPO
REL = benchlib.RELEASE  # --bin-dir
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"
# --iperf-bitrate: iperf3's `-b` for every test (a fixed rate: the CPU per GB
# figures then compare the ways at the same work, not at whatever rate the
# load left)
IPERF_RATE = []
# the client's own address in each way's last test (the socket redirect
# shows there: the bridge's address instead of 127.0.0.1)
LOCAL = {}
# name queries per exec in the scale rounds' lookup figure
LOOKUPS = 20

# --questions: A questions sent one after the other from a container's
# network namespace (entered by nsenter; this interpreter, from the host),
# each timed alone; prints the median in ms. argv: server, name, count.
QUESTION_LOOP = r"""
import random, socket, statistics, struct, sys, time
server, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect((server, 53))
s.settimeout(2)
qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
times = []
for _ in range(count):
    q = struct.pack(">HHHHHH", random.randrange(65536), 0x0100, 1, 0, 0, 0) + qname
    q += struct.pack(">HH", 1, 1)
    t0 = time.perf_counter()
    s.send(q)
    while True:
        a = s.recv(4096)
        if a[:2] == q[:2]:
            break
    times.append(time.perf_counter() - t0)
    if struct.unpack(">H", a[6:8])[0] < 1:
        sys.exit("no answer for %s (rcode %d)" % (name, a[3] & 15))
print("%.4f" % (statistics.median(times) * 1e3))
"""


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
# --probes: the sum of a run's "net: " phases (the start's network work)
NET_PART = "= network's part (sum of net: phases)"


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
    net = None
    for line in p.stderr.splitlines():
        m = PROBE.match(line)
        if m:
            k = m.group(2)
            seen[k] = seen.get(k, 0) + 1
            key = k if seen[k] == 1 else "%s #%d" % (k, seen[k])
            phases.setdefault(key, []).append(float(m.group(1)))
            if k.startswith("net: "):
                net = (net or 0.0) + float(m.group(1))
    if net is not None:
        # the start's network work as one figure per run (what issue 11's
        # scale goal wants flat), summed before the medians are taken
        phases.setdefault(NET_PART, []).append(net)
    return dt


def peer_scale(tool, cli, n, iterations, interleave, lookup, made, run_opts=(),
               rm=("rm", "-f")):
    """The scale rounds for a peer engine (docker or podman): `run -d` (and,
    with `lookup`, `exec nslookup` of the network's first container) with 1 vs
    n containers on a user network of the engine's own, paired as berth's
    rounds are (--interleave: two networks, one with 1 container, one with n,
    ABBA; else one network: 1, then n, then 1 again). `cli(*args, check=True)`
    runs the engine's CLI and returns (seconds, CompletedProcess); `made`
    collects the networks created (the caller removes them, also on failure);
    `run_opts` go to every `run -d`, `rm` removes containers (podman's `rm -f`
    waits out the stop timeout unless told `-t 0`: sleep ignores SIGTERM).
    Returns the rounds' (run -d, lookup or None, load) of each side."""
    big_label = str(n)
    nets = {"1": "scale1", big_label: "scale%d" % n} if interleave else \
        {"1": "scale", big_label: "scale"}
    first = {k: v + "-c0" for k, v in nets.items()}
    fill = ["%s-c%d" % (nets[big_label], i) for i in range(1, n)]
    ask = [lookup]

    def start(name, label):
        return cli("run", "-d", *run_opts, "--name", name, "--network", nets[label], IMAGE,
                   "sleep", "600")[0]

    def one_round(tag, label):
        name = "probe-" + tag
        ld = load()
        t_run = start(name, label)
        t_res = None
        if ask[0]:
            t_res, p = cli("exec", name, "nslookup", first[label], check=False)
            if p.returncode != 0:
                # no name service on the network (podman's CNI backend
                # without the dnsname plugin): run -d alone from here on
                log("%s: exec nslookup %s failed: %s: no lookup figure"
                    % (tool, first[label], (p.stderr or p.stdout).decode().strip()[-200:]))
                ask[0] = False
        cli(*rm, name)
        return t_run, t_res, ld

    for net in sorted(set(nets.values())):
        cli("network", "create", net)
        made.append(net)
    for label in sorted(nets) if interleave else ("1",):
        start(first[label], label)
    if interleave:
        for c in fill:
            start(c, big_label)
        small, big = [], []
        for i in range(iterations):
            sides = [("1", small), (big_label, big)]
            for label, rows in sides if i % 2 == 0 else reversed(sides):
                rows.append(one_round("%s%d" % ("a" if label == "1" else "b", i), label))
    else:
        half = (iterations + 1) // 2
        small = [one_round("a%d" % i, "1") for i in range(half)]
        for c in fill:
            start(c, big_label)
        big = [one_round("b%d" % i, big_label) for i in range(iterations)]
        cli(*rm, *fill)
        small += [one_round("a%d" % i, "1") for i in range(half, 2 * half)]
    # this engine's containers go before the next engine's rounds
    cli(*rm, *sorted(set(first.values())), *(fill if interleave else ()))
    if not ask[0]:
        # a lookup that failed part way: no figure for either side
        small = [(r, None, ld) for r, _, ld in small]
        big = [(r, None, ld) for r, _, ld in big]
    return small, big

def iperf(addr, port, seconds, extra=()):
    """One iperf3 test to addr:port: (received bits/s, the sender's retransmits,
    the CPU both iperf3 ends used per GB received: their user and system time,
    softirq work done in their context included).
    A server still closing the last test answers "busy": asked again, a few
    times, after a pause."""
    for attempt in range(4):
        p = subprocess.run(["iperf3", "-c", addr, "-p", str(port), "-t", str(seconds), "-J",
                            *IPERF_RATE, *extra],
                           capture_output=True, text=True, timeout=seconds + 30)
        try:
            res = json.loads(p.stdout)
        except ValueError:
            res = {"error": p.stderr.strip() or p.stdout[-300:]}
        err = res.get("error")
        if err and "busy" in err and attempt < 3:
            time.sleep(1)
            continue
        if p.returncode != 0 or err or "sum_received" not in res.get("end", {}):
            raise BenchError("iperf3 to %s:%d: %s" % (addr, port, err or p.stdout[-300:]))
        break
    conn = (res.get("start", {}).get("connected") or [{}])[0]
    LOCAL[(addr, port, tuple(extra))] = conn.get("local_host", "?")
    end = res["end"]
    cpu = end.get("cpu_utilization_percent", {})
    gb = end["sum_received"]["bytes"] / 1e9
    cpu_s = (cpu.get("host_total", 0) + cpu.get("remote_total", 0)) / 100 \
        * end["sum_received"]["seconds"]
    return (end["sum_received"]["bits_per_second"],
            end.get("sum_sent", {}).get("retransmits", 0),
            cpu_s / gb if gb > 0 else 0.0)


def iperf_pairs(ip, port, seconds, pairs, nat=False):
    """`pairs` pairs of tests, direct to ip:5201 and through 127.0.0.1:port,
    after one unmeasured pair (the server's first test pays for its buffers).
    Each pair runs the two back to back and the order alternates from pair to
    pair (ABBA): a load that rises or falls across a pair favours neither way.
    On a loaded host the rate swings 2x from one test to the next, so the
    median of the pairs' ratios is the steadier figure. Both ways run the
    same iperf3 options.
    `nat`: a third way in every round, "nat": 127.0.0.1:port from a client
    bound to 127.0.0.1 (`-B`), which berth's socket redirect leaves to the
    NAT rules: the published way as it is without the redirect, side by side
    in one run (the order then rotates over the three)."""
    ways = {"direct": (ip, 5201, ()), "published": ("127.0.0.1", port, ())}
    if nat:
        ways["nat"] = ("127.0.0.1", port, ("-B", "127.0.0.1"))
    for w, (addr, p, extra) in ways.items():
        iperf(addr, p, min(seconds, 2), extra)
        log("iperf3 %s: %s:%d from %s" % (w, addr, p, LOCAL[(addr, p, tuple(extra))]))
    res = {w: [] for w in ways}
    rtx = {w: [] for w in ways}
    cpu = {w: [] for w in ways}
    load = [os.getloadavg()[0]]
    names = list(ways)
    for i in range(pairs):
        if len(names) == 2:
            order = names if i % 2 == 0 else list(reversed(names))
        else:
            k = i % len(names)
            order = names[k:] + names[:k]
            if (i // len(names)) % 2:
                order.reverse()
        for w in order:
            addr, p, extra = ways[w]
            bps, r, c = iperf(addr, p, seconds, extra)
            res[w].append(bps)
            rtx[w].append(r)
            cpu[w].append(c)
        load.append(os.getloadavg()[0])
    ratios = sorted(b / a for a, b in zip(res["direct"], res["published"]))
    q = statistics.quantiles(ratios, n=4, method="inclusive") if len(ratios) >= 2 \
        else [ratios[0]] * 3
    extra = {}
    if nat:
        nr = sorted(b / a for a, b in zip(res["direct"], res["nat"]))
        pn = sorted(b / a for a, b in zip(res["nat"], res["published"]))
        extra = {
            "nat_bps": stats(res["nat"])["median"],
            "nat_pair_ratio_median": statistics.median(nr),
            "nat_pair_ratios": nr,
            "published_over_nat_median": statistics.median(pn),
            "nat_cpu_per_gb_pair_ratio_median": statistics.median(
                [b / a for a, b in zip(cpu["direct"], cpu["nat"]) if a > 0] or [0.0]),
        }
    return {
        **extra,
        "direct_bps": stats(res["direct"])["median"],
        "published_bps": stats(res["published"])["median"],
        "pair_ratio_median": q[1],
        "pair_ratio_quartiles": [q[0], q[2]],
        "pair_ratios": ratios,
        "pairs_at_goal": sum(1 for r in ratios if r >= 0.95),
        "retransmits_median": {w: statistics.median(v) for w, v in rtx.items()},
        # the published way's CPU per byte over the direct way's, per pair:
        # what the NAT costs, steadier than the rate under load
        "cpu_per_gb_pair_ratio_median": statistics.median(
            [b / a for a, b in zip(cpu["direct"], cpu["published"]) if a > 0] or [0.0]),
        "load": [min(load), max(load)],
        "samples_bps": res,
    }


def iperf_side_by_side(ip, port, seconds, rounds):
    """Both ways at once, `rounds` times: direct to ip:5202 (a second server
    in the container) and through 127.0.0.1:port to its first, started
    together. Whatever load the host has, both meet the same, so the ratio
    shows what the published way costs against the direct one for the same
    share of the CPUs (a diagnostic beside the goal's one-after-the-other
    pairs, not the goal's figure)."""
    def start(addr, p):
        return subprocess.Popen(["iperf3", "-c", addr, "-p", str(p), "-t", str(seconds), "-J"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    ratios = []
    for _ in range(rounds):
        procs = {"direct": start(ip, 5202), "published": start("127.0.0.1", port)}
        bps = {}
        for w, pr in procs.items():
            out, err = pr.communicate(timeout=seconds + 30)
            try:
                end = json.loads(out)["end"]
                bps[w] = end["sum_received"]["bits_per_second"]
            except (ValueError, KeyError):
                raise BenchError("iperf3 side by side (%s): %s" % (w, err.strip() or out[-300:]))
        ratios.append(bps["published"] / bps["direct"])
    return sorted(ratios)

def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=3)
    ap.add_argument("--scale", type=int, default=100, help="containers on one network")
    ap.add_argument("--iperf-seconds", type=int, default=5)
    ap.add_argument("--iperf-pairs", type=int, default=8,
                    help="measured iperf3 pairs, direct and published (default: 8)")
    ap.add_argument("--iperf-side-by-side", type=int, default=0, metavar="N",
                    help="also N rounds of both ways at once (a diagnostic; default: 0)")
    ap.add_argument("--iperf-nat", action="store_true",
                    help="a third way in each iperf3 round: 127.0.0.1 from a client bound to "
                         "127.0.0.1, which the socket redirect leaves to NAT")
    ap.add_argument("--iperf-bitrate", metavar="RATE",
                    help="iperf3 -b RATE for every test (e.g. 3G)")
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--skip-iperf", action="store_true")
    ap.add_argument("--probes", action="store_true",
                    help="collect berth's BERTH_TIMING phase probes in the run --rm loop "
                         "and the scale rounds, and print their medians")
    ap.add_argument("--questions", type=int, default=0, metavar="N",
                    help="scale rounds: also time N DNS questions for c0 sent one by one "
                         "from the round's container's network namespace right after its "
                         "run -d (no process or exec per question: the responder's own "
                         "cost; needs nsenter), median per round")
    ap.add_argument("--scale-only", action="store_true",
                    help="only the scale benchmark (1 vs --scale containers on a network)")
    ap.add_argument("--interleave", action="store_true",
                    help="scale rounds alternate between a second root with 1 container "
                         "and the root with --scale containers (paired, one loop)")
    ap.add_argument("--same-root", action="store_true",
                    help="with --interleave: the 1-container side is a second network in "
                         "the same root (as docker's and podman's rounds), not a second root")
    ap.add_argument("--bin-dir", metavar="DIR",
                    help="take berth, berth-shim and berth-runtime from DIR (e.g. a copy "
                         "of an earlier build, for a before/after comparison) instead of "
                         "the workspace's release build")
    args = benchlib.parse_args(ap)
    if args.iperf_bitrate:
        IPERF_RATE.extend(["-b", args.iperf_bitrate])
    if args.bin_dir:
        global REL
        REL = os.path.abspath(args.bin_dir)
    if args.scale_only:
        # the peers stay (their scale rounds), unless --no-docker/--no-podman
        args.skip_iperf = True
    if args.same_root and not args.interleave:
        raise SystemExit("network.py: --same-root pairs the rounds: it needs --interleave")
    if os.geteuid() != 0:
        raise SystemExit("network.py: run as root")
    work = tempfile.mkdtemp(prefix="berth-bench-net-", dir=args.tmpdir)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "root"),
               BERTH_STATE=os.path.join(work, "state"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    # --interleave: the root of the 1-container side
    env1 = dict(env, BERTH_ROOT=os.path.join(work, "root1"),
                BERTH_STATE=os.path.join(work, "state1"))
    used1 = False
    rc = 0
    out = {}
    dk = pm = None
    # the peers' scale networks (removed at the end, also on failure)
    dk_nets, pm_nets = [], []
    cni_before = cni_leftovers()
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
            r = iperf_pairs(ip, port, args.iperf_seconds, max(1, args.iperf_pairs),
                            args.iperf_nat)
            d, p = r["direct_bps"], r["published_bps"]
            out["iperf3"] = dict(r, ratio=p / d)
            print("iperf3 direct %.2f Gbit/s, via 127.0.0.1:%d %.2f Gbit/s: ratio %.2f, "
                  "median of %d paired ratios %.3f (quartiles %.3f-%.3f; %d pairs >= 0.95; "
                  "goal >= 0.95); retransmits per test %d direct, %d published; CPU per GB "
                  "published/direct %.3f; load %.1f-%.1f"
                  % (d / 1e9, port, p / 1e9, p / d, len(r["pair_ratios"]),
                     r["pair_ratio_median"], *r["pair_ratio_quartiles"], r["pairs_at_goal"],
                     r["retransmits_median"]["direct"], r["retransmits_median"]["published"],
                     r["cpu_per_gb_pair_ratio_median"], *r["load"]))
            if args.iperf_nat:
                print("iperf3 through NAT (client bound to 127.0.0.1) %.2f Gbit/s: median of "
                      "paired ratios to direct %.3f (%s), published/NAT %.3f; CPU per GB "
                      "NAT/direct %.3f"
                      % (r["nat_bps"] / 1e9, r["nat_pair_ratio_median"],
                         " ".join("%.2f" % x for x in r["nat_pair_ratios"]),
                         r["published_over_nat_median"],
                         r["nat_cpu_per_gb_pair_ratio_median"]))
            if args.iperf_side_by_side > 0:
                berth_cmd(env, "exec", "-d", "iperf", "/usr/bin/iperf3", "-s", "-p", "5202")
                time.sleep(0.5)
                sbs = iperf_side_by_side(ip, port, args.iperf_seconds, args.iperf_side_by_side)
                out["iperf3"]["side_by_side_ratios"] = sbs
                print("iperf3 both ways at once, published/direct: median %.3f of %s"
                      % (statistics.median(sbs), " ".join("%.3f" % x for x in sbs)))
            berth_cmd(env, "rm", "-f", "iperf")
        else:
            log("iperf3 not installed: skipping the throughput benchmark")
        # 3. run -d and a lookup with 1 vs N containers on one network
        scale_phases = {"1": {}, str(args.scale): {}}
        loads = {"1": [], str(args.scale): []}

        gateways = {}

        def gateway_of(e, net):
            # each root's network has its own subnet (--interleave uses two)
            key = (e.get("BERTH_ROOT", ""), net)
            if key not in gateways:
                gateways[key] = json.loads(berth_cmd(e, "network", "inspect", net))[0][
                    "IPAM"]["Config"][0]["Gateway"]
            return gateways[key]

        def one_round(tag, label, env=env, net="benchnet", first="c0"):
            loads[label].append(load())
            run_d = ("run", "-d", "--name", "probe-" + tag, "--network", net,
                     IMAGE, "sleep", "600")
            if args.probes:
                t_run = probed(env, scale_phases[label], *run_d)
            else:
                t_run = timed(env, *run_d)
            t_ask = None
            if args.questions:
                pid = berth_cmd(env, "inspect", "-f", "{{.State.Pid}}", "probe-" + tag)
                p = subprocess.run(["nsenter", "-t", pid, "-n", sys.executable, "-c",
                                    QUESTION_LOOP, gateway_of(env, net), first,
                                    str(args.questions)],
                                   capture_output=True, text=True, timeout=60)
                if p.returncode != 0:
                    raise BenchError("DNS questions: %s" % p.stderr.strip())
                t_ask = float(p.stdout) / 1e3
            t0 = time.monotonic()
            berth_cmd(env, "exec", "probe-" + tag, "ping", "-c", "1", "-W", "1", first)
            t_res = time.monotonic() - t0
            # the lookup alone: 20 queries in one exec, less an exec that
            # runs nothing (the exec's own cost is in the ping figure above)
            t0 = time.monotonic()
            berth_cmd(env, "exec", "probe-" + tag, "true")
            t_exec = time.monotonic() - t0
            t0 = time.monotonic()
            berth_cmd(env, "exec", "probe-" + tag, "sh", "-c",
                      "for i in $(seq %d); do nslookup %s >/dev/null || exit 1; done"
                      % (LOOKUPS, first))
            t_q = max(0.0, time.monotonic() - t0 - t_exec) / LOOKUPS
            berth_cmd(env, "rm", "-f", "probe-" + tag)
            return t_run, t_res, t_exec, t_q, t_ask
        berth_cmd(env, "run", "-d", "--name", "c0", "--network", "benchnet", IMAGE, "sleep", "600")
        if args.interleave:
            # the 1-container side in a root of its own, beside the N, or
            # (--same-root) on a second network of the same root
            if args.same_root:
                env1, net1, first1 = env, "benchnet1", "d0"
            else:
                env1, net1, first1 = env1, "benchnet", "c0"
                used1 = True
                berth_cmd(env1, "load", "-i", archive)
            berth_cmd(env1, "network", "create", net1)
            berth_cmd(env1, "run", "-d", "--name", first1, "--network", net1, IMAGE,
                      "sleep", "600")
            for i in range(1, args.scale):
                berth_cmd(env, "run", "-d", "--name", "c%d" % i, "--network", "benchnet",
                          IMAGE, "sleep", "600")
            small, big = [], []
            for i in range(args.iterations):
                # ABBA: the order changes every round
                sides = [("1", env1, small, net1, first1),
                         (str(args.scale), env, big, "benchnet", "c0")]
                for label, e, rows, net, first in sides if i % 2 == 0 else reversed(sides):
                    rows.append(one_round("%s%d" % ("a" if label == "1" else "b", i),
                                          label, e, net, first))
        else:
            # 1, then N, then 1 again (half the rounds at 1 each time): a load
            # that drifts during the run weighs on both sides alike
            half = (args.iterations + 1) // 2
            small = [one_round("a%d" % i, "1") for i in range(half)]
            for i in range(1, args.scale):
                berth_cmd(env, "run", "-d", "--name", "c%d" % i, "--network", "benchnet",
                          IMAGE, "sleep", "600")
            big = [one_round("b%d" % i, str(args.scale)) for i in range(args.iterations)]
            for i in range(1, args.scale):
                berth_cmd(env, "rm", "-f", "c%d" % i)
            small += [one_round("a%d" % i, "1") for i in range(half, 2 * half)]
        for label, rows in (("1", small), (str(args.scale), big)):
            r = stats([x[0] for x in rows])
            q = stats([x[1] for x in rows])
            e = stats([x[2] for x in rows])
            d = stats([x[3] for x in rows])
            out["scale_" + label] = {"run": r, "lookup": q, "exec": e, "query": d,
                                     "load": stats(loads[label])}
            if args.questions:
                out["scale_" + label]["question"] = stats([x[4] for x in rows])
            print("%-40s %10.1f %10.1f   (load %.1f)" % (
                "run -d with %s on the network" % label, r["median"] * 1e3, r["p90"] * 1e3,
                stats(loads[label])["median"]))
            print("%-40s %10.1f %10.1f" % ("exec ping NAME with %s" % label,
                                           q["median"] * 1e3, q["p90"] * 1e3))
            print("%-40s %10.1f %10.1f" % ("exec true with %s" % label,
                                           e["median"] * 1e3, e["p90"] * 1e3))
            print("%-40s %10.2f %10.2f" % ("one name query with %s" % label,
                                           d["median"] * 1e3, d["p90"] * 1e3))
            if args.questions:
                a = out["scale_" + label]["question"]
                print("%-40s %10.3f %10.3f" % ("one DNS question (no exec) with %s" % label,
                                               a["median"] * 1e3, a["p90"] * 1e3))
        n = str(args.scale)
        if args.interleave:
            # each round's pair ran back to back: the median of the pairs'
            # ratios is the steadier figure
            pairs = sorted(b[0] / a[0] for a, b in zip(small, big))
            out["scale_pair_ratio_median"] = statistics.median(pairs)
            q = statistics.quantiles(pairs, n=4, method="inclusive") if len(pairs) >= 2 \
                else [pairs[0]] * 3
            print("run -d with %s vs 1, median of %d paired ratios: %.3fx (quartiles %.3f-%.3f)"
                  % (n, len(pairs), statistics.median(pairs), q[0], q[2]))
        print("run -d with %s vs 1: %.2fx (goal: flat, <= 1.05x); exec ping NAME %.2fx; "
              "exec true %.2fx; one name query %.2fx" % (
                  n, out["scale_" + n]["run"]["median"] / out["scale_1"]["run"]["median"],
                  out["scale_" + n]["lookup"]["median"] / out["scale_1"]["lookup"]["median"],
                  out["scale_" + n]["exec"]["median"] / out["scale_1"]["exec"]["median"],
                  out["scale_" + n]["query"]["median"]
                  / max(out["scale_1"]["query"]["median"], 1e-6)))
        if args.questions:
            print("one DNS question (no exec) with %s vs 1: %.2fx" % (
                n, out["scale_" + n]["question"]["median"]
                / max(out["scale_1"]["question"]["median"], 1e-9)))
        if args.probes:
            print_phases(scale_phases, ("1", n), ("with 1", "with " + n))
            if scale_phases["1"].get(NET_PART) and scale_phases[n].get(NET_PART):
                a = stats(scale_phases["1"][NET_PART])["median"]
                b = stats(scale_phases[n][NET_PART])["median"]
                print("network's part of run -d with %s vs 1: %.2f vs %.2f ms (%+.2f)"
                      % (n, b, a, b - a))
            out["scale_phases"] = {k: {p: stats(v) for p, v in ph.items()}
                                   for k, ph in scale_phases.items()}
        # the same rounds for the peers, one engine after the other (each
        # with only its own containers besides berth's), each on networks of
        # its own
        peers = []
        if dk is not None:
            peers.append(("docker", lambda *a, check=True: dk.docker(*a, check=check),
                          (), ("rm", "-f"), True, dk_nets))
        if pm is not None:
            runc = shutil.which("runc")
            # podman answers names only with netavark (aardvark-dns); its CNI
            # backend has no name service unless the dnsname plugin is there
            backend = pm.pod(runc, "info", "--format", "{{.Host.NetworkBackend}}",
                             check=False)[1].stdout.decode().strip()
            peers.append(("podman",
                          lambda *a, check=True: pm.pod(runc, *a, check=check),
                          ("--cgroup-parent=/" + cg,), ("rm", "-f", "-t", "0"),
                          backend == "netavark", pm_nets))
        ratios = {"berth": (out.get("scale_pair_ratio_median"),
                            out["scale_" + n]["run"]["median"]
                            / out["scale_1"]["run"]["median"])}
        for tool, cli, run_opts, rm, lookup, made in peers:
            small, big = peer_scale(tool, cli, args.scale, args.iterations, args.interleave,
                                    lookup, made, run_opts, rm)
            for label, rows in (("1", small), (n, big)):
                r = stats([x[0] for x in rows])
                ld = stats([x[2] for x in rows])
                res = {"run": r, "load": ld}
                print("%-40s %10.1f %10.1f   (load %.1f)" % (
                    "%s run -d with %s on the network" % (tool, label), r["median"] * 1e3,
                    r["p90"] * 1e3, ld["median"]))
                if rows[0][1] is not None:
                    q = res["lookup"] = stats([x[1] for x in rows])
                    print("%-40s %10.1f %10.1f" % ("%s exec nslookup NAME with %s"
                                                   % (tool, label),
                                                   q["median"] * 1e3, q["p90"] * 1e3))
                out["scale_%s_%s" % (tool, label)] = res
            a, b = out["scale_%s_1" % tool], out["scale_%s_%s" % (tool, n)]
            pair = None
            if args.interleave:
                pairs = sorted(y[0] / x[0] for x, y in zip(small, big))
                pair = out["scale_%s_pair_ratio_median" % tool] = statistics.median(pairs)
                q = statistics.quantiles(pairs, n=4, method="inclusive") if len(pairs) >= 2 \
                    else [pairs[0]] * 3
                print("%s run -d with %s vs 1, median of %d paired ratios: %.3fx "
                      "(quartiles %.3f-%.3f)" % (tool, n, len(pairs), pair, q[0], q[2]))
            ratio = b["run"]["median"] / a["run"]["median"]
            ratios[tool] = (pair, ratio)
            print("%s run -d with %s vs 1: %.2fx%s" % (
                tool, n, ratio,
                "; exec nslookup NAME %.2fx" % (b["lookup"]["median"] / a["lookup"]["median"])
                if "lookup" in a else ""))
        if peers:
            print("run -d with %s vs 1, %s: %s" % (
                n, "median of paired ratios" if args.interleave else "ratio of medians",
                ", ".join("%s %.3fx" % (t, p if args.interleave else r)
                          for t, (p, r) in ratios.items())))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=2)
    except (BenchError, subprocess.SubprocessError) as e:
        log("error: %s" % e)
        rc = 1
    finally:
        for e in (env, env1) if used1 else (env,):
            ids = berth_cmd(e, "ps", "-a", "-q", "--no-trunc", check=False)
            for cid in ids.split():
                berth_cmd(e, "rm", "-f", cid, check=False)
            berth_cmd(e, "network", "prune", "-f", check=False)
        # a user network's bridge outlives dockerd: remove the networks first
        if dk is not None:
            dk.docker("rm", "-f", *dk.docker("ps", "-aq", check=False)[1].stdout.decode().split(),
                      check=False)
            dk.docker("network", "rm", "benchnet", *dk_nets, check=False)
        if pm is not None:
            pm.pod(shutil.which("runc"), "rm", "-af", "-t", "0", check=False)
            pm.pod(shutil.which("runc"), "network", "rm", "-f", "benchnet", *pm_nets,
                   check=False)
            remove_cni_ipam(["benchnet"] + pm_nets, problems)
            remove_cni_leftovers(cni_before, problems)
        for eng in (dk, pm):
            if eng is not None:
                eng.cleanup(problems)
        # the peers' cgroup parent (dockerd's and podman's containers)
        if dk is not None or pm is not None:
            dockerbench.remove_cgroups(cg, problems)
        for pr in problems:
            log("cleanup: %s" % pr)
        subprocess.run(["umount", "-R", "-l", work], capture_output=True)
        benchlib.remove_store_cgroups(work)
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
