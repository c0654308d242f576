#!/usr/bin/env python3
"""End-to-end benchmark under dockerd (and optionally podman): runtime A (default
runc) against runtime B (default berth-runtime), as a user of the engine sees them.

Starts a private dockerd (own data root, exec root, socket, pid file, containerd,
cgroup parent; no bridge, no iptables) with B registered as `--add-runtime berth=PATH`
(A is dockerd's built-in `runc` when it is the runc on $PATH, else registered as
`bench-a`), loads a locally built busybox image
(integration/containerd/build-busybox-image.sh), then measures, interleaved
A, B, A, B, ... in the same run:

  docker run    `docker run --rm --runtime RT --network none IMAGE /bin/true`
                (wall time of the CLI: create, start, wait, delete, and removal)
  docker exec   `docker exec CTR /bin/true` in a running container of that runtime

With --engine podman or both, also (private --root/--runroot/--tmpdir, cgroupfs,
file events, no network):

  podman run    `podman --runtime PATH run --rm IMAGE /bin/true`
  podman exec   `podman --runtime PATH exec CTR /bin/true`

and prints medians, p90 and the B/A ratio of the medians. Everything it started
(dockerd, containerd, shims, conmon, containers, mounts, cgroups, runtime state, files)
is removed at the end, also after an error or Ctrl-C.

Python 3 standard library only. Must run as root. Needs docker.io (dockerd, docker,
containerd, runc), podman and conmon for the podman rows, umoci, skopeo,
busybox-static.
"""

import json
import os
import platform
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

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD_IMAGE = os.path.join(REPO, "integration", "containerd",
                           "build-busybox-image.sh")
IMAGE = "localhost/berth-bench-busybox:latest"
CMD_TIMEOUT_S = 120.0
MNT_DETACH = 2
GOAL = 0.90   # docker run: B/A median ratio the project aims for

OPS = [
    ("docker_run", "docker run --rm /bin/true"),
    ("docker_exec", "docker exec /bin/true"),
    ("podman_run", "podman run --rm /bin/true"),
    ("podman_exec", "podman exec /bin/true"),
]


def run(cmd, env=None, check=True, timeout=CMD_TIMEOUT_S):
    """Run a command with captured output; return (seconds, CompletedProcess)."""
    t0 = time.perf_counter()
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True,
                       env=env, timeout=timeout)
    dt = time.perf_counter() - t0
    if check and p.returncode != 0:
        raise BenchError("`%s` failed (exit %d): %s" % (
            " ".join(cmd), p.returncode,
            (p.stderr or p.stdout).decode(errors="replace").strip()))
    return dt, p


# --- host inspection and cleanup helpers -------------------------------------


def mounts_under(prefix):
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = unescape_mountinfo(line.split(" ")[4])
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return sorted(out, reverse=True)


def umount_under(prefix):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    for mp in mounts_under(prefix):
        libc.umount2(mp.encode(), MNT_DETACH)
    return mounts_under(prefix)


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def pids_matching(needle):
    me = os.getpid()
    return [int(p) for p in os.listdir("/proc")
            if p.isdigit() and int(p) != me and alive(int(p))
            and needle in cmdline(int(p))]


def wait_gone(pids, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = [p for p in pids if alive(p)]
        if not pids:
            return []
        time.sleep(0.05)
    return [p for p in pids if alive(p)]


def kill_matching(needle, what, problems, grace=10.0):
    left = wait_gone(pids_matching(needle), grace)
    for pid in left:
        problems.append("%s %d still running, killed: %s" % (what, pid, cmdline(pid)))
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def cgroup_dirs(name):
    roots = ["/sys/fs/cgroup"] + [os.path.join("/sys/fs/cgroup", d)
                                  for d in os.listdir("/sys/fs/cgroup")]
    return sorted({os.path.join(r, name) for r in roots
                   if os.path.isfile(os.path.join(r, name, "cgroup.procs"))})


def remove_cgroups(name, problems):
    for top in cgroup_dirs(name):
        for dirpath, _dirs, files in os.walk(top):
            if "freezer.state" in files:
                try:
                    with open(os.path.join(dirpath, "freezer.state"), "w") as f:
                        f.write("THAWED")
                except OSError:
                    pass
            try:
                with open(os.path.join(dirpath, "cgroup.procs")) as f:
                    for pid in f.read().split():
                        problems.append("process %s left in cgroup %s, killed"
                                        % (pid, dirpath))
                        try:
                            os.kill(int(pid), signal.SIGKILL)
                        except OSError:
                            pass
            except OSError:
                pass
    deadline = time.monotonic() + 5
    while cgroup_dirs(name) and time.monotonic() < deadline:
        for top in cgroup_dirs(name):
            for dirpath, _dirs, _files in sorted(os.walk(top), reverse=True):
                try:
                    os.rmdir(dirpath)
                except OSError:
                    pass
        if cgroup_dirs(name):
            time.sleep(0.1)
    for d in cgroup_dirs(name):
        problems.append("cgroup %s left" % d)


# --- engines --------------------------------------------------------------------


class Docker:
    """A private dockerd with runtimes A and B."""

    def __init__(self, workdir, cg, path_a, path_b):
        self.dir = os.path.join(workdir, "docker")
        os.makedirs(os.path.join(self.dir, "cli"))
        self.cg = cg
        self.cli = shutil.which("docker", path="/usr/bin") or shutil.which("docker")
        self.dockerd = shutil.which("dockerd")
        if not self.cli or not self.dockerd:
            raise BenchError("dockerd/docker not found (apt-get install docker.io)")
        runc_on_path = shutil.which("runc")
        self.name_a = ("runc" if runc_on_path and os.path.realpath(runc_on_path) == path_a
                       else "bench-a")
        self.name_b = "berth"
        self.proc = None
        self.run_docker_created = not os.path.exists("/run/docker")
        self.containers = {}
        conf = {}
        ver = subprocess.run([self.dockerd, "--version"], capture_output=True,
                             text=True).stdout.split()
        if len(ver) > 2 and ver[2].split(".")[0].isdigit() and int(ver[2].split(".")[0]) < 23:
            # 20.10 writes /etc/docker/key.json unless told otherwise
            conf["deprecated-key-path"] = os.path.join(self.dir, "key.json")
        with open(os.path.join(self.dir, "daemon.json"), "w") as f:
            json.dump(conf, f)
        with open("/proc/filesystems") as f:
            driver = "overlay2" if "overlay" in f.read().split() else "vfs"
        self.args = [
            self.dockerd,
            "--config-file=" + os.path.join(self.dir, "daemon.json"),
            "--data-root=" + os.path.join(self.dir, "data"),
            "--exec-root=" + os.path.join(self.dir, "exec"),
            "--host=unix://" + os.path.join(self.dir, "docker.sock"),
            "--pidfile=" + os.path.join(self.dir, "docker.pid"),
            "--add-runtime=%s=%s" % (self.name_b, path_b),
            "--storage-driver=" + driver,
            "--cgroup-parent=/" + cg,
            "--exec-opt=native.cgroupdriver=cgroupfs",
            "--bridge=none", "--iptables=false", "--ip6tables=false",
            "--ip-masq=false", "--userland-proxy=false",
        ]
        if self.name_a != "runc":
            self.args.append("--add-runtime=%s=%s" % (self.name_a, path_a))
        self.env = dict(os.environ, DOCKER_CONFIG=os.path.join(self.dir, "cli"))
        self.env.pop("DOCKER_HOST", None)
        self.env.pop("DOCKER_CONTEXT", None)

    def docker(self, *args, check=True):
        return run([self.cli, "-H", "unix://" + os.path.join(self.dir, "docker.sock")]
                   + list(args), env=self.env, check=check)

    def start(self, archive):
        logf = open(os.path.join(self.dir, "dockerd.log"), "ab")
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL, stdout=logf,
                                     stderr=logf, start_new_session=True)
        logf.close()
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise BenchError("dockerd exited (%d); see %s" % (
                    self.proc.returncode, self.log_tail()))
            if os.path.exists(os.path.join(self.dir, "docker.sock")):
                _, p = self.docker("version", check=False)
                if p.returncode == 0:
                    break
            if time.monotonic() > deadline:
                raise BenchError("dockerd did not come up in 60 s:\n" + self.log_tail())
            time.sleep(0.1)
        self.docker("load", "-i", archive)

    def log_tail(self, n=20):
        try:
            with open(os.path.join(self.dir, "dockerd.log")) as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def prepare(self, key, name):
        """A running container of runtime `name` for the exec row."""
        cname = "bench-exec-%s-%d" % (key, os.getpid())
        self.docker("run", "-d", "--name", cname, "--runtime", name, "--network",
                    "none", IMAGE, "sleep", "100000")
        self.containers[key] = cname

    def op_run(self, name):
        dt, _ = self.docker("run", "--rm", "--runtime", name, "--network", "none",
                            IMAGE, "/bin/true")
        return dt

    def op_exec(self, key):
        dt, _ = self.docker("exec", self.containers[key], "/bin/true")
        return dt

    def cleanup(self, problems):
        if self.proc is not None and self.proc.poll() is None:
            _, p = self.docker("ps", "-aq", check=False)
            ids = p.stdout.decode().split()
            if ids:
                _, p = self.docker("rm", "-f", "-v", *ids, check=False)
                if p.returncode != 0:
                    problems.append("docker rm -f: " + p.stderr.decode().strip())
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                problems.append("dockerd did not stop on SIGTERM, killed")
                self.proc.kill()
                self.proc.wait()
        kill_matching("--config " + os.path.join(self.dir, "exec"), "containerd",
                      problems, grace=10)
        kill_matching("-address " + os.path.join(self.dir, "exec"), "shim",
                      problems, grace=10)
        if self.run_docker_created:
            for d in ("/run/docker/plugins", "/run/docker"):
                try:
                    os.rmdir(d)
                except OSError:
                    pass


class Podman:
    """A private podman storage/tmp environment."""

    def __init__(self, workdir, cg, runtimes):
        self.dir = os.path.join(workdir, "podman")
        os.makedirs(self.dir)
        self.cg = cg
        self.podman = shutil.which("podman")
        if not self.podman:
            raise BenchError("podman not found (apt-get install podman conmon)")
        self.runtimes = runtimes   # key -> path
        self.containers = {}
        d = lambda s: os.path.join(self.dir, s)   # noqa: E731
        # Root without CAP_SYS_RESOURCE cannot raise podman's default rlimits.
        with open("/proc/self/status") as f:
            bnd = int([ln for ln in f if ln.startswith("CapBnd:")][0].split()[1], 16)
        ulimits = ('default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n'
                   if not bnd & (1 << 24) else "")
        with open(d("containers.conf"), "w") as f:
            f.write('[containers]\nnetns = "none"\n%s\n[engine]\n'
                    'cgroup_manager = "cgroupfs"\nevents_logger = "file"\n'
                    'conmon_env_vars = ["PATH=/usr/local/sbin:/usr/local/bin:'
                    '/usr/sbin:/usr/bin:/sbin:/bin", "CONTAINERS_CONF=%s", '
                    '"CONTAINERS_STORAGE_CONF=%s"]\n'
                    % (ulimits, d("containers.conf"), d("storage.conf")))
        with open(d("storage.conf"), "w") as f:
            f.write('[storage]\ndriver = "overlay"\nrunroot = "%s"\ngraphroot = "%s"\n'
                    % (d("runroot"), d("root")))
        self.env = dict(os.environ, CONTAINERS_CONF=d("containers.conf"),
                        CONTAINERS_STORAGE_CONF=d("storage.conf"))
        self.globals = ["--root", d("root"), "--runroot", d("runroot"),
                        "--tmpdir", d("tmp"), "--network-config-dir", d("net"),
                        "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
                        "--events-backend", "file"]
        self.ids = set()

    def pod(self, runtime, *args, check=True):
        return run([self.podman] + self.globals + ["--runtime", runtime] + list(args),
                   env=self.env, check=check)

    def start(self, archive):
        self.pod(self.runtimes["a"], "load", "-i", archive)

    def prepare(self, key, _name):
        cname = "bench-exec-%s-%d" % (key, os.getpid())
        _, p = self.pod(self.runtimes[key], "run", "-d", "--cgroup-parent=/" + self.cg,
                        "--name", cname, IMAGE, "sleep", "100000")
        self.ids.add(p.stdout.decode().strip())
        self.containers[key] = cname

    def op_run(self, key):
        dt, _ = self.pod(self.runtimes[key], "run", "--rm",
                         "--cgroup-parent=/" + self.cg, IMAGE, "/bin/true")
        return dt

    def op_exec(self, key):
        dt, _ = self.pod(self.runtimes[key], "exec", self.containers[key], "/bin/true")
        return dt

    def cleanup(self, problems):
        root = os.path.join(self.dir, "root", "overlay-containers")
        if os.path.isdir(root):
            self.ids.update(e for e in os.listdir(root)
                            if os.path.isdir(os.path.join(root, e)))
        if self.ids:
            _, p = self.pod(self.runtimes["a"], "rm", "-af", "-t", "0", check=False)
            if p.returncode != 0:
                problems.append("podman rm -af: " + p.stderr.decode().strip())
        kill_matching("-b " + os.path.join(self.dir, "root"), "conmon", problems)
        kill_matching("--root " + os.path.join(self.dir, "root"), "podman", problems)
        # podman calls the runtimes without --root: their default state roots
        for rt in self.runtimes.values():
            state_root = ("/run/runc" if "runc" in os.path.basename(rt)
                          else "/run/berth-runtime")
            for cid in self.ids:
                if os.path.exists(os.path.join(state_root, cid)):
                    problems.append("runtime state %s/%s left" % (state_root, cid))
                    run([rt, "--root", state_root, "delete", "--force", cid],
                        check=False)


# --- benchmark --------------------------------------------------------------------


def build_image(workdir):
    if not os.path.isfile(BUILD_IMAGE):
        raise BenchError("%s is missing" % BUILD_IMAGE)
    archive = os.path.join(workdir, "busybox.tar")
    run(["bash", BUILD_IMAGE, "--docker-archive", archive, "--name", IMAGE])
    return archive


def report(labels, samples, ops, args, versions):
    la, lb = labels["a"], labels["b"]
    w = max(len(name) for _, name in OPS) + 6
    c = max(10, len(la) + 4, len(lb) + 4)

    def row(*cols):
        return "%-*s  %*s %*s  %*s %*s  %6s" % (
            w, cols[0], c, cols[1], c, cols[2], c, cols[3], c, cols[4], cols[5])

    head = row("operation [ms]", la + " med", la + " p90", lb + " med", lb + " p90",
               "B/A")
    lines = [head, "-" * len(head)]
    results = {}
    for key, name in OPS:
        if key not in ops:
            continue
        sa, sb = stats(samples[key]["a"]), stats(samples[key]["b"])
        ratio = sb["median"] / sa["median"]
        results[key] = {
            "name": name, "ratio_median_b_over_a": ratio,
            "a": dict({k + "_ms": v * 1000 for k, v in sa.items() if k != "n"},
                      n=sa["n"], samples_ms=[round(x * 1000, 3) for x in samples[key]["a"]]),
            "b": dict({k + "_ms": v * 1000 for k, v in sb.items() if k != "n"},
                      n=sb["n"], samples_ms=[round(x * 1000, 3) for x in samples[key]["b"]]),
        }
        lines.append(row(name, "%.1f" % (sa["median"] * 1000), "%.1f" % (sa["p90"] * 1000),
                         "%.1f" % (sb["median"] * 1000), "%.1f" % (sb["p90"] * 1000),
                         "%.2f" % ratio))
    lines.append("-" * len(head))
    if "docker_run" in results:
        r = results["docker_run"]["ratio_median_b_over_a"]
        lines.append("goal: docker run B/A <= %.2f: %s (%.2f)"
                     % (GOAL, "met" if r <= GOAL else "NOT met", r))
    print("\n".join(lines))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"iterations": args.iterations, "warmup": args.warmup,
                       "order": "interleaved A,B per iteration",
                       "kernel": platform.release(), "runtimes": versions,
                       "results": results}, f, indent=2)
        print("results written to %s" % args.json)


def parse_args():
    ap = argument_parser(
        "Interleaved docker/podman benchmark of two OCI runtimes.",
        warmup=3)
    ap.add_argument("--engine", choices=("docker", "podman", "both"), default="docker",
                    help="engines to measure (default: docker)")
    ap.add_argument("--no-exec", action="store_true", help="skip the exec rows")
    return benchlib.parse_args(ap)


def main():
    args = parse_args()
    if os.geteuid() != 0:
        raise BenchError("must run as root")
    path_a = resolve_runtime(args.runtime_a, "A")
    path_b = resolve_runtime(args.runtime_b, "B")
    labels = {"a": args.label_a or os.path.basename(path_a),
              "b": args.label_b or os.path.basename(path_b)}
    if labels["a"] == labels["b"]:
        labels = {"a": labels["a"] + "(A)", "b": labels["b"] + "(B)"}
    versions = {k: {"label": labels[k], "path": p, "version": runtime_version(p)}
                for k, p in (("a", path_a), ("b", path_b))}

    def on_term(signum, _frame):
        raise KeyboardInterrupt("signal %d" % signum)
    signal.signal(signal.SIGTERM, on_term)
    if signal.getsignal(signal.SIGHUP) != signal.SIG_IGN:
        signal.signal(signal.SIGHUP, on_term)
    if signal.getsignal(signal.SIGINT) != signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)

    rc = 0
    workdir = None
    engines = []
    cg = "berth-bench-%d" % os.getpid()
    try:
        workdir = tempfile.mkdtemp(prefix="berth-bench-docker-", dir=args.tmpdir)
        os.chmod(workdir, 0o755)
        for k in ("a", "b"):
            v = versions[k]
            log("%s = %-14s %s  (%s)" % (k.upper(), v["label"], v["path"], v["version"]))
        archive = build_image(workdir)
        ops = []
        # (op key, engine, callable(runtime key)) in table order
        steps = []
        if args.engine in ("docker", "both"):
            dk = Docker(workdir, cg, path_a, path_b)
            engines.append(dk)
            dk.start(archive)
            names = {"a": dk.name_a, "b": dk.name_b}
            log("docker: A as --runtime %s, B as --runtime %s" % (names["a"], names["b"]))
            steps.append(("docker_run", lambda k, dk=dk, names=names: dk.op_run(names[k])))
            if not args.no_exec:
                for k in ("a", "b"):
                    dk.prepare(k, names[k])
                steps.append(("docker_exec", lambda k, dk=dk: dk.op_exec(k)))
        if args.engine in ("podman", "both"):
            pm = Podman(workdir, cg, {"a": path_a, "b": path_b})
            engines.append(pm)
            pm.start(archive)
            steps.append(("podman_run", lambda k, pm=pm: pm.op_run(k)))
            if not args.no_exec:
                for k in ("a", "b"):
                    pm.prepare(k, None)
                steps.append(("podman_exec", lambda k, pm=pm: pm.op_exec(k)))
        ops = [s[0] for s in steps]
        samples = {op: {"a": [], "b": []} for op in ops}
        total = args.warmup + args.iterations
        log("kernel %s; %d iterations + %d warm-up, interleaved A,B; workdir %s"
            % (platform.release(), args.iterations, args.warmup, workdir))
        t0 = time.monotonic()
        for i in range(total):
            for op, fn in steps:
                for k in ("a", "b"):
                    dt = fn(k)
                    if i >= args.warmup:
                        samples[op][k].append(dt)
            if sys.stderr.isatty():
                print("\r  iteration %d/%d%s" % (i + 1, total,
                                                 "" if i >= args.warmup else " (warm-up)"),
                      end="", file=sys.stderr, flush=True)
        if sys.stderr.isatty():
            print(file=sys.stderr)
        log("done in %.1fs" % (time.monotonic() - t0))
        report(labels, samples, ops, args, versions)
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
        problems = []
        for e in reversed(engines):
            try:
                e.cleanup(problems)
            except Exception as ex:   # keep cleaning up
                problems.append("%s cleanup: %s" % (type(e).__name__, ex))
        remove_cgroups(cg, problems)
        if workdir:
            left = umount_under(workdir)
            if left:
                problems.append("mounts left: %s" % left)
            else:
                shutil.rmtree(workdir, ignore_errors=True)
            if os.path.exists(workdir):
                problems.append("%s left" % workdir)
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
