#!/usr/bin/env python3
"""berth's everyday verbs against docker's, interleaved in one run (issue 14):

  commit      `commit CTR` of a stopped container holding 100 MB of new files
              (random data, 10 files), berth vs a private dockerd (overlay2)
  info        `berth info`, `berth version`, `berth system df` with 100 containers
              and 50 images in the store (goal: each under 20 ms), and docker's
              `docker info`, `docker version`, `docker system df` beside them

Goals: berth commit at least 2x faster than docker's (docker/berth median ratio);
info, version and system df under 20 ms. Each commit starts from a new container
(the same image and script on both engines), and its image is removed after.
Everything started is removed at the end. Python 3 standard library only; run as
root; needs docker.io, containerd, busybox-static.
"""

import os
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
REL = benchlib.RELEASE
IMAGE = dockerbench.IMAGE
SCRIPT = ("for i in 1 2 3 4 5 6 7 8 9 10; do "
          "dd if=/dev/urandom of=/big$i bs=1M count=10 2>/dev/null; done")
COMMIT_GOAL = 2.0
FAST_GOAL_MS = 20.0


def timed(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=300)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()))
    return dt


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=1)
    ap.set_defaults(iterations=5)
    ap.add_argument("--containers", type=int, default=100)
    ap.add_argument("--images", type=int, default=50)
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise SystemExit("everyday.py: run as root")
    berth = os.path.join(REL, "berth")
    work = tempfile.mkdtemp(prefix="berth-bench-everyday-", dir=args.tmpdir)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "broot"),
               BERTH_STATE=os.path.join(work, "bstate"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    b = [berth]
    cg = "berth-bench-everyday-%d" % os.getpid()
    d = dockerbench.Docker(work, cg, shutil.which("runc") or "/usr/bin/runc",
                           os.path.join(REL, "berth-runtime"))
    problems = []
    rc = 0
    try:
        archive = dockerbench.build_image(work)
        timed(b + ["load", "-i", archive], env=env)
        d.start(archive)

        # commit, interleaved berth, docker, berth, docker, ...
        samples = {"berth": [], "docker": []}
        log("commit of 100 MB: %d iterations + %d warm-up, interleaved berth, docker"
            % (args.iterations, args.warmup))
        for i in range(args.warmup + args.iterations):
            name = "bench-commit-%d-%d" % (os.getpid(), i)
            timed(b + ["run", "--name", name, IMAGE, "sh", "-c", SCRIPT], env=env)
            dt_b = timed(b + ["commit", name, "bench-committed:%d" % i], env=env)
            timed(b + ["rm", name], env=env)
            timed(b + ["rmi", "bench-committed:%d" % i], env=env)
            d.docker("run", "--name", name, "--network", "none", IMAGE, "sh", "-c", SCRIPT)
            dt_d, _ = d.docker("commit", name, "bench-committed:%d" % i)
            d.docker("rm", name)
            d.docker("rmi", "bench-committed:%d" % i)
            if i >= args.warmup:
                samples["berth"].append(dt_b)
                samples["docker"].append(dt_d)

        # info, version, system df with N containers and M images
        for i in range(args.containers):
            timed(b + ["create", IMAGE, "true"], env=env)
        small = os.path.join(work, "small")
        for i in range(args.images):
            os.makedirs(small, exist_ok=True)
            with open(os.path.join(small, "f"), "w") as f:
                f.write("image %d\n" % i)
            tar = os.path.join(work, "small.tar")
            subprocess.run(["tar", "-C", small, "-cf", tar, "."], check=True)
            timed(b + ["import", tar, "bench-small:%d" % i], env=env)
        for i in range(args.containers):
            d.docker("create", "--network", "none", IMAGE, "true")
        fast = {}
        for verb in (["info"], ["version"], ["system", "df"]):
            key = " ".join(verb)
            fast[key] = {"berth": [], "docker": []}
            for i in range(args.warmup + args.iterations):
                tb = timed(b + verb, env=env)
                td, _ = d.docker(*verb)
                if i >= args.warmup:
                    fast[key]["berth"].append(tb)
                    fast[key]["docker"].append(td)

        print("\n%-34s %10s %10s %10s" % ("operation", "median ms", "p90 ms", "ratio"))
        sb, sd = stats(samples["berth"]), stats(samples["docker"])
        ratio = sd["median"] / sb["median"]
        print("%-34s %10.1f %10.1f" % ("commit 100 MB: docker", sd["median"] * 1e3,
                                       sd["p90"] * 1e3))
        print("%-34s %10.1f %10.1f %9.2fx" % ("commit 100 MB: berth", sb["median"] * 1e3,
                                              sb["p90"] * 1e3, ratio))
        if ratio < COMMIT_GOAL:
            log("goal missed: berth commit %.2fx docker's (goal %.1fx)" % (ratio, COMMIT_GOAL))
            rc = 1
        for key, s in fast.items():
            tb, td = stats(s["berth"]), stats(s["docker"])
            label = "%s (%d ctrs, %d imgs)" % (key, args.containers, args.images)
            print("%-34s %10.1f %10.1f" % (label + ": docker", td["median"] * 1e3,
                                           td["p90"] * 1e3))
            print("%-34s %10.1f %10.1f %9.2fx" % (label + ": berth", tb["median"] * 1e3,
                                                  tb["p90"] * 1e3,
                                                  td["median"] / tb["median"]))
            if tb["median"] * 1e3 > FAST_GOAL_MS:
                log("goal missed: berth %s %.1f ms (goal %.0f ms)"
                    % (key, tb["median"] * 1e3, FAST_GOAL_MS))
                rc = 1
    except BenchError as e:
        log("error: %s" % e)
        rc = 2
    finally:
        p = subprocess.run(b + ["ps", "-aq", "--no-trunc"], env=env, capture_output=True)
        ids = p.stdout.decode().split()
        if ids:
            subprocess.run(b + ["rm", "-f"] + ids, env=env, capture_output=True)
        # The private store's cgroup parent (/berth-<hash of the root>), now empty.
        p = subprocess.run(b + ["info", "--format", "{{.CgroupParent}}"], env=env,
                           capture_output=True, text=True)
        parent = p.stdout.strip().strip("/")
        if p.returncode == 0 and parent.startswith("berth-"):
            dockerbench.remove_cgroups(parent, problems)
        d.cleanup(problems)
        dockerbench.remove_cgroups(cg, problems)
        for m in reversed(dockerbench.mounts_under(work)):
            subprocess.run(["umount", "-l", m], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)
        for p in problems:
            log("cleanup: %s" % p)
    return rc


if __name__ == "__main__":
    sys.exit(main())
