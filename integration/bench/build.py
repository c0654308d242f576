#!/usr/bin/env python3
"""berth build against docker build (private dockerd) and buildah bud, interleaved:

  rebuild  an unchanged rebuild of a 10-instruction Dockerfile (every step cached)
  cold     a cold build: FROM a local image, a few RUN and COPY steps, no cache

Goals (issue 13): rebuild <= 0.5x docker's cached rebuild; cold >= 2x faster than
both `buildah bud` and `docker build`. The same locally built busybox image is loaded
into all three. Everything started is removed at the end. Python 3 standard
library only; run as root. `--no-docker` / `--no-buildah` leave a peer out.
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

DOCKERFILE = """FROM localhost/berth-bench-busybox:latest
ENV APP=/app MODE=bench
WORKDIR /app
COPY a.txt /app/a.txt
RUN cat /app/a.txt > /app/copy.txt
COPY dir /app/dir
RUN echo built > /app/built.txt && ls /app/dir > /app/list.txt
LABEL bench=yes
EXPOSE 8080
CMD ["cat", "/app/built.txt"]
"""


def timed(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=300)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()[-2000:]))
    return dt


def make_context(work):
    ctx = os.path.join(work, "ctx")
    os.makedirs(os.path.join(ctx, "dir"))
    with open(os.path.join(ctx, "Dockerfile"), "w") as f:
        f.write(DOCKERFILE)
    with open(os.path.join(ctx, "a.txt"), "w") as f:
        f.write("a\n" * 1000)
    for i in range(20):
        with open(os.path.join(ctx, "dir", "f%d" % i), "w") as f:
            f.write("x" * (i * 100))
    return ctx


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=1)
    ap.add_argument("--no-docker", action="store_true")
    ap.add_argument("--no-buildah", action="store_true")
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise SystemExit("build.py: run as root")
    work = tempfile.mkdtemp(prefix="berth-bench-build-", dir=args.tmpdir)
    os.chmod(work, 0o755)
    problems = []
    dk = None
    rc = 0
    berth = os.path.join(REL, "berth")
    benv = dict(os.environ, BERTH_ROOT=os.path.join(work, "broot"),
                BERTH_STATE=os.path.join(work, "bstate"),
                BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
                BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    buildah = shutil.which("buildah")
    bh = [buildah, "--root", os.path.join(work, "bhroot"), "--runroot",
          os.path.join(work, "bhrun"), "--storage-driver", "overlay"] if buildah else None
    try:
        ctx = make_context(work)
        archive = dockerbench.build_image(work)
        subprocess.run([berth, "load", "-i", archive], env=benv, check=True,
                       stdout=subprocess.DEVNULL)
        tools = {"berth": None}
        if not args.no_docker:
            runc = shutil.which("runc")
            dk = dockerbench.Docker(work, "berth-bench-build-%d" % os.getpid(), runc, runc)
            dk.start(archive)
            tools["docker"] = None
        if not args.no_buildah:
            if not bh:
                raise BenchError("buildah not found (apt-get install buildah) or --no-buildah")
            subprocess.run(bh + ["pull", "docker-archive:" + archive], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tools["buildah"] = None

        def build(tool, cached):
            if tool == "berth":
                return timed([berth, "build", "-q", "-t", "bench"]
                             + ([] if cached else ["--no-cache"]) + [ctx], env=benv)
            if tool == "docker":
                return dockerbench.run(
                    [dk.cli, "-H", "unix://" + os.path.join(dk.dir, "docker.sock"), "build",
                     "-q", "-t", "bench"] + ([] if cached else ["--no-cache"]) + [ctx],
                    env=dk.env)[0]
            return timed(bh + ["bud", "--isolation", "chroot", "-q", "-t", "bench",
                               "--layers"] + ([] if cached else ["--no-cache"]) + [ctx])

        ops = ("rebuild", "cold")
        samples = {op: {t: [] for t in tools} for op in ops}
        for t in tools:
            build(t, False)   # fills the caches for the rebuild row
        for i in range(args.warmup + args.iterations):
            for op in ops:
                for t in tools:
                    dt = build(t, op == "rebuild")
                    if i >= args.warmup:
                        samples[op][t].append(dt)
        print("%-10s %-8s %10s %10s %8s" % ("op", "tool", "median ms", "p90 ms", "vs berth"))
        for op in ops:
            base = stats(samples[op]["berth"])["median"]
            for t in tools:
                s = stats(samples[op][t])
                print("%-10s %-8s %10.1f %10.1f %7.2fx" % (op, t, s["median"] * 1e3,
                                                          s["p90"] * 1e3, s["median"] / base))
    except (BenchError, subprocess.CalledProcessError, subprocess.TimeoutExpired) as e:
        log("error: %s" % e)
        rc = 1
    finally:
        if dk is not None:
            dk.cleanup(problems)
        if bh:
            subprocess.run(bh + ["rm", "-a"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            subprocess.run(bh + ["rmi", "-af"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        subprocess.run([berth, "builder", "prune", "-a", "-f"], env=benv,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        dockerbench.umount_under(work)
        benchlib.remove_store_cgroups(work)
        shutil.rmtree(work, ignore_errors=True)
        for p in problems:
            log("cleanup: " + p)
            rc = 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
