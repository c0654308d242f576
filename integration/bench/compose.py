#!/usr/bin/env python3
"""berth compose's goals, timed (and docker compose v2's, when given one):

  chain   `up -d` of seed job -> web server (healthcheck, interval 1 s) ->
          client (depends on web healthy), until all are healthy
  down    `down` of that stack (its longest chain's grace periods + <= 0.5 s)
  twenty  `up -d` of 20 independent services (goal < 2 s)
  ps      `compose ps` of the running stack (goal < 50 ms)
  config  `compose config` of a 50-service file (goal < 50 ms)

Goal (issue 12): chain at least 2x faster than docker compose v2. Pass
`--docker-compose PATH` (a docker compose v2 binary, e.g. Debian 13's
`docker-compose` package unpacked with dpkg-deb -x) and `--docker-host`
(a private dockerd's socket holding busybox:latest) to time it the same way.
Services use network_mode: host (berth's networks are not merged yet), with
ports on 127.0.0.1. Everything started is removed at the end. Python 3
standard library only; run as root.
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

REPO = benchlib.REPO
REL = os.path.join(REPO, "target", "x86_64-unknown-linux-gnu", "release")
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"

CHAIN = """
services:
  seed:
    image: {image}
    command: ["sh", "-c", "echo seeded > /data/index.html"]
    volumes: [data:/data]
  web:
    image: {image}
    network_mode: host
    command: ["httpd", "-f", "-p", "127.0.0.1:{port}", "-h", "/data"]
    volumes: [data:/data]
    stop_signal: SIGKILL
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:{port}/"]
      interval: 1s
    depends_on:
      seed: {{condition: service_completed_successfully}}
  client:
    image: {image}
    network_mode: host
    command: ["sh", "-c", "wget -q -O- http://127.0.0.1:{port}/ && exec sleep 1000"]
    stop_signal: SIGKILL
    depends_on:
      web: {{condition: service_healthy}}
volumes:
  data:
"""


def twenty(image):
    out = "services:\n"
    for i in range(20):
        out += "  s%d:\n    image: %s\n    command: [sleep, '1000']\n    stop_signal: SIGKILL\n" % (i, image)
    return out


def fifty(image):
    out = "services:\n"
    for i in range(50):
        out += ("  s%d:\n    image: %s\n    command: [sleep, '100']\n    environment: [A=1, B=2]\n"
                "    volumes: [./d%d:/d]\n    healthcheck: {test: [CMD, 'true'], interval: 1s}\n"
                % (i, image, i))
    return out


def run(cmd, cwd, env, timeout=120):
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       timeout=timeout)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()))
    return dt


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=1)
    ap.add_argument("--docker-compose", metavar="PATH", help="a docker compose v2 binary")
    ap.add_argument("--docker-host", metavar="URL", help="DOCKER_HOST for it")
    ap.add_argument("--port", type=int, default=18089)
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise SystemExit("compose.py: run as root")
    berth = os.path.join(REL, "berth")
    work = tempfile.mkdtemp(prefix="berth-bench-compose-", dir=args.tmpdir)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "broot"),
               BERTH_STATE=os.path.join(work, "bstate"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    tools = {"berth": ([berth, "compose"], env)}
    if args.docker_compose:
        denv = dict(os.environ)
        if args.docker_host:
            denv["DOCKER_HOST"] = args.docker_host
        tools["docker-compose"] = ([args.docker_compose], denv)
    rc = 0
    try:
        archive = os.path.join(work, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        p = subprocess.run([berth, "load", "-i", archive], env=env, capture_output=True)
        if p.returncode != 0:
            raise BenchError("berth load: %s" % p.stderr.decode().strip())
        dirs = {}
        for name, text in (("chain", CHAIN.format(image=IMAGE, port=args.port)),
                           ("twenty", twenty(IMAGE)), ("fifty", fifty(IMAGE))):
            d = os.path.join(work, name)
            os.makedirs(d)
            with open(os.path.join(d, "compose.yaml"), "w") as f:
                f.write(text)
            dirs[name] = d
        samples = {(t, k): [] for t in tools for k in ("chain", "down", "twenty", "ps", "config")}
        for i in range(args.warmup + args.iterations):
            measured = i >= args.warmup
            for tool, (cmd, tenv) in tools.items():
                up = run(cmd + ["up", "-d", "--wait"], dirs["chain"], tenv)
                ps = run(cmd + ["ps"], dirs["chain"], tenv)
                down = run(cmd + ["down", "-v"], dirs["chain"], tenv)
                tw = run(cmd + ["up", "-d"], dirs["twenty"], tenv)
                run(cmd + ["down"], dirs["twenty"], tenv)
                cf = run(cmd + ["config"], dirs["fifty"], tenv)
                if measured:
                    for k, v in (("chain", up), ("down", down), ("twenty", tw), ("ps", ps),
                                 ("config", cf)):
                        samples[(tool, k)].append(v)
        for k in ("chain", "down", "twenty", "ps", "config"):
            line = []
            for tool in tools:
                s = stats(samples[(tool, k)])
                line.append("%s median %.3fs p90 %.3fs" % (tool, s["median"], s["p90"]))
            if "docker-compose" in tools:
                ratio = (stats(samples[("berth", k)])["median"]
                         / stats(samples[("docker-compose", k)])["median"])
                line.append("ratio %.2fx" % ratio)
            print("%-7s %s" % (k, "; ".join(line)))
    except BenchError as e:
        log("compose.py: %s" % e)
        rc = 1
    finally:
        for tool, (cmd, tenv) in tools.items():
            for d in ("chain", "twenty"):
                if os.path.isdir(os.path.join(work, d)):
                    subprocess.run(cmd + ["down", "-v"], cwd=os.path.join(work, d), env=tenv,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   timeout=120)
        shutil.rmtree(work, ignore_errors=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
