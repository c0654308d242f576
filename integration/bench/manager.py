#!/usr/bin/env python3
"""The berth manager against its peers, interleaved in one run:

  run   `berth run --rm IMAGE true`   vs `ctr run --rm` (private containerd + runc)
        vs `podman run --rm` (private podman store, runc)
  ps    `berth ps -a` with 100 containers in the store

Goals (issue 6): berth run at most 0.5x ctr's time and faster than podman's;
berth ps with 100 containers under 50 ms. The same locally built busybox image is
imported into all three (integration/containerd/build-busybox-image.sh). Everything
started is removed at the end. Python 3 standard library only; run as root.
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
import containerd as ctdbench  # noqa: E402

REPO = benchlib.REPO
REL = benchlib.RELEASE
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"


def timed(cmd, env=None):
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=60)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()))
    return dt


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=3)
    ap.add_argument("--ps-containers", type=int, default=100)
    ap.add_argument("--no-podman", action="store_true")
    ap.add_argument("--no-containerd", action="store_true")
    ap.add_argument("--berth-before", metavar="DIR",
                    help="also time the berth, berth-shim and berth-runtime binaries in DIR "
                         "(e.g. a copy of an older build), interleaved, as \"berth-before\"")
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise SystemExit("manager.py: run as root")
    berth = os.path.join(REL, "berth")
    work = tempfile.mkdtemp(prefix="berth-bench-mgr-", dir=args.tmpdir)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "broot"),
               BERTH_STATE=os.path.join(work, "bstate"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    podman = ["podman", "--root", os.path.join(work, "proot"), "--runroot",
              os.path.join(work, "prun"), "--storage-driver", "overlay", "--runtime", "runc",
              "--cgroup-manager", "cgroupfs", "--events-backend", "file"]
    ctd = None
    rc = 0
    try:
        archive = os.path.join(work, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        p = subprocess.run([berth, "load", "-i", archive], env=env, capture_output=True)
        if p.returncode != 0:
            raise BenchError("berth load: %s" % p.stderr.decode().strip())
        tools = {"berth": [berth, "run", "--rm", IMAGE, "true"]}
        envs = {"berth": env}
        if args.berth_before:
            bdir = os.path.abspath(args.berth_before)
            envs["berth-before"] = dict(
                os.environ, BERTH_ROOT=os.path.join(work, "broot-before"),
                BERTH_STATE=os.path.join(work, "bstate-before"),
                BERTH_RUNTIME_BIN=os.path.join(bdir, "berth-runtime"),
                BERTH_SHIM_BIN=os.path.join(bdir, "berth-shim"))
            before = os.path.join(bdir, "berth")
            p = subprocess.run([before, "load", "-i", archive], env=envs["berth-before"],
                               capture_output=True)
            if p.returncode != 0:
                raise BenchError("berth-before load: %s" % p.stderr.decode().strip())
            tools["berth-before"] = [before, "run", "--rm", IMAGE, "true"]
        if not args.no_containerd and shutil.which("ctr"):
            ctd = ctdbench.Containerd(work)
            ctd.start()
            ctd.ctr("images", "import", archive)
            os.makedirs(ctd.fifo_dir, exist_ok=True)
            tools["ctr"] = None
        if not args.no_podman and shutil.which("podman"):
            subprocess.run(podman + ["load", "-i", archive], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tools["podman"] = podman + ["run", "--rm", "--network", "none",
                                      "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
                                      IMAGE, "true"]
        samples = {k: [] for k in tools}
        log("run --rm true: %d iterations + %d warm-up, interleaved %s"
            % (args.iterations, args.warmup, ", ".join(tools)))
        for i in range(args.warmup + args.iterations):
            for name, cmd in tools.items():
                if name == "ctr":
                    dt, _ = ctd.ctr("run", "--rm", "--fifo-dir", ctd.fifo_dir, IMAGE,
                                    "bench-%d" % i, "/bin/true")
                else:
                    dt = timed(cmd, env=envs.get(name))
                if i >= args.warmup:
                    samples[name].append(dt)
        # ps with N containers
        for _ in range(args.ps_containers):
            timed([berth, "create", IMAGE, "true"], env=env)
        ps = [timed([berth, "ps", "-a"], env=env) for _ in range(args.iterations)]
        print("\n%-28s %10s %10s" % ("operation", "median ms", "p90 ms"))
        res = {k: stats(v) for k, v in samples.items()}
        for k, s in res.items():
            print("%-28s %10.1f %10.1f" % ("run --rm true: " + k, s["median"] * 1e3,
                                           s["p90"] * 1e3))
        sp = stats(ps)
        print("%-28s %10.1f %10.1f" % ("ps -a (%d containers)" % args.ps_containers,
                                       sp["median"] * 1e3, sp["p90"] * 1e3))
        b = res["berth"]["median"]
        for k in ("berth-before", "ctr", "podman"):
            if k in res:
                print("berth/%s run ratio: %.2f" % (k, b / res[k]["median"]))
        if "berth-before" in res:
            for k in ("ctr", "podman"):
                if k in res:
                    print("berth-before/%s run ratio: %.2f"
                          % (k, res["berth-before"]["median"] / res[k]["median"]))
        if args.json:
            import json
            with open(args.json, "w") as f:
                json.dump({"run": res, "ps": sp}, f, indent=2)
    except (BenchError, subprocess.SubprocessError) as e:
        log("error: %s" % e)
        rc = 1
    finally:
        p = subprocess.run([berth, "ps", "-a", "-q", "--no-trunc"], env=env,
                           capture_output=True, text=True)
        for cid in p.stdout.split():
            subprocess.run([berth, "rm", "-f", cid], env=env, capture_output=True)
        if args.berth_before and "berth-before" in locals().get("envs", {}):
            be = envs["berth-before"]
            bb = os.path.join(os.path.abspath(args.berth_before), "berth")
            p = subprocess.run([bb, "ps", "-a", "-q", "--no-trunc"], env=be,
                               capture_output=True, text=True)
            for cid in p.stdout.split():
                subprocess.run([bb, "rm", "-f", cid], env=be, capture_output=True)
        if ctd is not None:
            ctd.cleanup()
        if "podman" in locals().get("tools", {}):
            subprocess.run(podman + ["rm", "-af"], capture_output=True)
            subprocess.run(podman + ["system", "reset", "-f"], capture_output=True)
        subprocess.run(["umount", "-R", "-l", work], capture_output=True)
        benchlib.remove_store_cgroups(work)
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
