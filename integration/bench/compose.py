#!/usr/bin/env python3
"""berth compose's goals, timed side by side in one run with docker compose v2
(on a private dockerd this script starts) and podman-compose (on a private podman
storage):

  chain   `up -d --wait` of seed job -> web server (healthcheck, interval 1 s) ->
          client (depends on web healthy, reaches it by service name), until all
          are healthy. Goal: at least 2x faster than docker compose v2 and than
          podman-compose.
  down    `down -v` of that stack, whose two long-running services ignore SIGTERM
          as pid 1 (stop_grace_period 1 s): goal <= the grace periods along the
          longest dependency chain (2 x 1 s) + 0.5 s.
  twenty  `up -d` of 20 independent services (goal < 2 s)
  ps      `compose ps` of those 20 (goal < 50 ms)
  config  `compose config` of a 50-service file (goal < 50 ms)

docker compose v2 is /opt/docker-compose-v2/usr/bin/docker-compose (see
integration/compose/fetch-docker-compose.sh; --docker-compose PATH to change,
--no-docker to leave out). podman-compose is Debian 12's 1.0.3 on podman 4.3
(--no-podman to leave out): it has no depends_on conditions and no `--wait`, and
podman 4.3 runs healthchecks from systemd timers, which a machine without systemd
never fires, and its CNI networks resolve no service names without the dnsname
plugin: its chain row is only the time its `up -d` takes (marked as such). Everything started is removed at the end. Python 3
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
import docker as bench_docker  # noqa: E402  (bench/docker.py: a private dockerd)
from cni import (cni_leftovers, new_ipam_nets, remove_cni_ipam,  # noqa: E402
                 remove_cni_leftovers)

REPO = benchlib.REPO
REL = benchlib.RELEASE
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd", "build-busybox-image.sh")
IMAGE = "docker.io/library/busybox:latest"
COMPOSE_V2 = "/opt/docker-compose-v2/usr/bin/docker-compose"
KEYS = ("chain", "down", "twenty", "ps", "config")

CHAIN = """
services:
  seed:
    image: {image}
    command: ["sh", "-c", "echo seeded > /data/index.html"]
    volumes: [data:/data]
  web:
    image: {image}
    command: ["httpd", "-f", "-p", "8000", "-h", "/data"]
    volumes: [data:/data]
    stop_grace_period: 1s
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8000/"]
      interval: 1s
    depends_on:
      seed: {{condition: service_completed_successfully}}
  client:
    image: {image}
    command: ["sh", "-c", "wget -q -O- http://web:8000/ && exec sleep 1000"]
    stop_grace_period: 1s
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


def run(cmd, cwd, env, timeout=180):
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    dt = time.monotonic() - t0
    if p.returncode != 0:
        raise BenchError("%s failed: %s" % (" ".join(cmd), p.stderr.decode().strip()))
    return dt, p.stdout.decode()


def podman_env(work):
    """A private podman storage, runroot and network config (CNI), as podman-compose
    has no flags of its own for them."""
    d = os.path.join(work, "podman")
    os.makedirs(d)
    j = lambda s: os.path.join(d, s)   # noqa: E731
    with open(j("containers.conf"), "w") as f:
        f.write('[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                '[network]\nnetwork_config_dir = "%s"\n[engine]\ncgroup_manager = "cgroupfs"\n'
                'events_logger = "file"\nconmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:'
                '/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF=%s", "CONTAINERS_STORAGE_CONF=%s"]\n'
                % (j("net"), j("containers.conf"), j("storage.conf")))
    with open(j("storage.conf"), "w") as f:
        f.write('[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n'
                % (j("runroot"), j("root")))
    return dict(os.environ, CONTAINERS_CONF=j("containers.conf"),
                CONTAINERS_STORAGE_CONF=j("storage.conf"))


def podman_chain_up(cmd, d, env):
    """podman-compose's `up -d`: it has no depends_on conditions, no `--wait`, no
    healthchecks without systemd and (without the dnsname CNI plugin) no service
    names, so this is only the time its `up -d` takes to create and start the three."""
    dt, _ = run(cmd + ["up", "-d"], d, env)
    return dt


def main():
    ap = benchlib.argument_parser(__doc__.splitlines()[0], warmup=1)
    ap.set_defaults(iterations=3)
    ap.add_argument("--docker-compose", metavar="PATH", default=COMPOSE_V2,
                    help="docker compose v2 binary (default: %(default)s)")
    ap.add_argument("--no-docker", action="store_true", help="leave docker compose out")
    ap.add_argument("--no-podman", action="store_true", help="leave podman-compose out")
    args = benchlib.parse_args(ap)
    if os.geteuid() != 0:
        raise SystemExit("compose.py: run as root")
    berth = os.path.join(REL, "berth")
    work = tempfile.mkdtemp(prefix="berth-bench-compose-", dir=args.tmpdir)
    os.chmod(work, 0o755)
    env = dict(os.environ, BERTH_ROOT=os.path.join(work, "broot"),
               BERTH_STATE=os.path.join(work, "bstate"),
               BERTH_RUNTIME_BIN=os.path.join(REL, "berth-runtime"),
               BERTH_SHIM_BIN=os.path.join(REL, "berth-shim"))
    tools = {"berth": ([berth, "compose"], env)}
    dk = None
    problems = []
    cni_before = cni_leftovers()
    cg = "berth-bench-compose-%d" % os.getpid()
    rc = 0
    try:
        archive = os.path.join(work, "busybox-docker.tar")
        subprocess.run([BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE],
                       check=True, stdout=subprocess.DEVNULL, timeout=120)
        run([berth, "load", "-i", archive], work, env)
        if not args.no_docker:
            if not os.access(args.docker_compose, os.X_OK):
                raise BenchError("%s is missing: integration/compose/fetch-docker-compose.sh "
                                 "/opt/docker-compose-v2 (or --no-docker)" % args.docker_compose)
            runc = shutil.which("runc") or "/usr/sbin/runc"
            dk = bench_docker.Docker(work, cg, runc, os.path.join(REL, "berth-runtime"))
            # containers run on docker's default runtime (runc), on project networks
            dk.args = [a for a in dk.args if not a.startswith("--userland-proxy")]
            dk.start(archive)
            denv = dict(dk.env, DOCKER_HOST="unix://" + os.path.join(dk.dir, "docker.sock"))
            tools["docker-compose"] = ([args.docker_compose], denv)
        if not args.no_podman:
            pc = shutil.which("podman-compose")
            if not pc:
                raise BenchError("podman-compose is missing: apt-get install podman-compose "
                                 "(or --no-podman)")
            penv = podman_env(work)
            run(["podman", "load", "-i", archive], work, penv)
            tools["podman-compose"] = ([pc], penv)
        dirs = {}
        for name, text in (("chain", CHAIN.format(image=IMAGE)),
                           ("twenty", twenty(IMAGE)), ("fifty", fifty(IMAGE))):
            d = os.path.join(work, name)
            os.makedirs(d)
            with open(os.path.join(d, "compose.yaml"), "w") as f:
                f.write(text)
            dirs[name] = d
        samples = {(t, k): [] for t in tools for k in KEYS}
        for i in range(args.warmup + args.iterations):
            measured = i >= args.warmup
            for tool, (cmd, tenv) in tools.items():
                if tool == "podman-compose":
                    up = podman_chain_up(cmd, dirs["chain"], tenv)
                else:
                    up, _ = run(cmd + ["up", "-d", "--wait"], dirs["chain"], tenv)
                down, _ = run(cmd + ["down", "-v"], dirs["chain"], tenv)
                tw, _ = run(cmd + ["up", "-d"], dirs["twenty"], tenv)
                ps, _ = run(cmd + ["ps"], dirs["twenty"], tenv)
                run(cmd + ["down"], dirs["twenty"], tenv)
                # podman-compose 1.0.3 has no `config` command
                cf = (None if tool == "podman-compose"
                      else run(cmd + ["config"], dirs["fifty"], tenv)[0])
                if measured:
                    for k, v in zip(KEYS, (up, down, tw, ps, cf)):
                        if v is not None:
                            samples[(tool, k)].append(v)
                log("iteration %d %s: chain %.2fs down %.2fs twenty %.2fs ps %.3fs config %s"
                    % (i, tool, up, down, tw, ps, "n/a" if cf is None else "%.3fs" % cf))
        goals = {"chain": "berth <= peer / 2", "down": "<= 2.5 s", "twenty": "< 2 s",
                 "ps": "< 50 ms", "config": "< 50 ms"}
        for k in KEYS:
            b = stats(samples[("berth", k)])["median"]
            line = []
            for tool in tools:
                if not samples[(tool, k)]:
                    line.append("%s n/a" % tool)
                    continue
                s = stats(samples[(tool, k)])
                note = " (up -d only: no conditions, never healthy)" if (
                    tool == "podman-compose" and k == "chain") else ""
                line.append("%s %.3fs%s" % (tool, s["median"], note))
            for tool in tools:
                if tool != "berth" and samples[(tool, k)]:
                    line.append("%s/berth %.1fx" % (tool, stats(samples[(tool, k)])["median"] / b))
            print("%-7s median: %s  [goal %s]" % (k, "; ".join(line), goals[k]))
    except (BenchError, subprocess.TimeoutExpired, subprocess.CalledProcessError) as e:
        log("compose.py: %s" % e)
        rc = 1
    finally:
        for tool, (cmd, tenv) in tools.items():
            for d in ("chain", "twenty"):
                if os.path.isdir(os.path.join(work, d)):
                    subprocess.run(cmd + ["down", "-v"], cwd=os.path.join(work, d), env=tenv,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   timeout=180)
        if "podman-compose" in tools:
            penv = tools["podman-compose"][1]
            subprocess.run(["podman", "rm", "-af", "-t", "0"], env=penv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run(["podman", "system", "reset", "-f"], env=penv,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # the CNI backend's host state outlives the private store: the
            # IPAM directories of the projects' networks, the firewall chains
            remove_cni_ipam(new_ipam_nets(cni_before), problems)
            remove_cni_leftovers(cni_before, problems)
        if dk is not None:
            dk.cleanup(problems)
            bench_docker.remove_cgroups(cg, problems)
        for m in bench_docker.mounts_under(work):  # deepest first
            subprocess.run(["umount", "-l", m], stderr=subprocess.DEVNULL)
        benchlib.remove_store_cgroups(work)
        shutil.rmtree(work, ignore_errors=True)
        for p in problems:
            log("cleanup: %s" % p)
    return rc


if __name__ == "__main__":
    sys.exit(main())
