#!/usr/bin/env python3
"""Pull benchmark: `berth pull` (download + verify + unpack into snapshots) versus
`skopeo copy docker://... oci:DIR` + `umoci unpack --image DIR:tag BUNDLE`, the same
work done by the usual tools, from the same local registry.

* The image: --layers gzip layers (default 10) of ~--layer-mb MB each (default 30;
  ~300 MB in all), each a tar of random bytes (incompressible) and text (compressible),
  built here as an OCI layout and pushed once with skopeo to Debian's docker-registry
  on 127.0.0.1 (plain HTTP, a free port, its own storage).
* Each iteration runs both sides, interleaved (the order alternates), each from an
  empty store/directory: wall time of the whole pull + unpack.
* Reported: medians and the ratio skopeo+umoci / berth (goal: at least 1.5).

Python 3 standard library only; run as root from anywhere:
  integration/bench/pull.py [-n 5] [--layers 10] [--layer-mb 30] [--json FILE]
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import RELEASE, BenchError, log, stats  # noqa: E402

DEFAULT_BERTH = os.path.join(RELEASE, "berth")
GOAL = 1.5


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_registry(work):
    port = free_port()
    cfg = os.path.join(work, "registry.yml")
    with open(cfg, "w") as f:
        f.write("version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
                "storage:\n  filesystem:\n    rootdirectory: %s\n"
                "http:\n  addr: 127.0.0.1:%d\n" % (os.path.join(work, "registry"), port))
    logf = open(os.path.join(work, "registry.log"), "w")
    proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg],
                            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BenchError("docker-registry did not start; see %s" % logf.name)


def text_block(size):
    """Log-like text: compressible as real text is (gzip ~4x), not trivially."""
    rnd = random.Random(42)
    words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10)))
             for _ in range(4000)]
    out = io.StringIO()
    n = 0
    i = 0
    while n < size:
        line = "%08d %s level=%s %s\n" % (
            i, time.strftime("%H:%M:%S", time.gmtime(i)), rnd.choice(("info", "warn", "debug")),
            " ".join(rnd.choices(words, k=rnd.randint(4, 14))))
        out.write(line)
        n += len(line)
        i += 1
    return out.getvalue().encode()[:size]


def add_file(tar, name, data):
    ti = tarfile.TarInfo(name)
    ti.size = len(data)
    ti.mode = 0o644
    ti.mtime = 0
    tar.addfile(ti, io.BytesIO(data))


def write_blob(layout, data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", d), "wb") as f:
        f.write(data)
    return "sha256:" + d


def build_layout(layout, layers, layer_mb):
    """An OCI layout with `layers` gzip layers of ~layer_mb MB (uncompressed)."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    block = text_block(6 << 20)
    descs, diff_ids = [], []
    for i in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
            ti = tarfile.TarInfo("layer%02d" % i)
            ti.type = tarfile.DIRTYPE
            ti.mode = 0o755
            tar.addfile(ti)
            size = layer_mb << 20
            rnd = size // 3
            add_file(tar, "layer%02d/random.bin" % i, os.urandom(rnd))
            left, k = size - rnd, 0
            while left > 0:
                # Rotate the block so no two files are alike.
                off = (i * 7919 + k * 104729) % len(block)
                chunk = (block[off:] + block[:off])[:min(left, 2 << 20)]
                add_file(tar, "layer%02d/log-%03d.txt" % (i, k), chunk)
                left -= len(chunk)
                k += 1
        tar_bytes = raw.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(tar_bytes).hexdigest())
        gz = gzip.compress(tar_bytes, compresslevel=6, mtime=0)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": write_blob(layout, gz), "size": len(gz)})
        log("  layer %d: %.1f MB, %.1f MB gzip" % (i, len(tar_bytes) / 1e6, len(gz) / 1e6))
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": write_blob(layout, config), "size": len(config)},
        "layers": descs,
    }).encode()
    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": write_blob(layout, manifest), "size": len(manifest),
        "annotations": {"org.opencontainers.image.ref.name": "bench"}}]}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump(index, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return sum(d["size"] for d in descs)


def timed(cmd, **kw):
    t = time.perf_counter()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, **kw)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise BenchError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode, r.stdout, r.stderr))
    return dt


def run_skopeo_umoci(work, ref):
    dst = os.path.join(work, "skopeo-oci")
    bundle = os.path.join(work, "umoci-bundle")
    for p in (dst, bundle):
        shutil.rmtree(p, ignore_errors=True)
    t = time.perf_counter()
    timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "docker://" + ref,
           "oci:%s:bench" % dst])
    timed(["umoci", "unpack", "--image", "%s:bench" % dst, bundle])
    dt = time.perf_counter() - t
    if not os.path.isfile(os.path.join(bundle, "rootfs", "layer09", "random.bin")) and \
            not os.path.isdir(os.path.join(bundle, "rootfs", "layer00")):
        raise BenchError("umoci unpack left no rootfs in %s" % bundle)
    return dt


def run_berth(work, berth, ref):
    root = os.path.join(work, "berth-root")
    shutil.rmtree(root, ignore_errors=True)
    dt = timed([berth, "--root", root, "pull", "-q", ref],
               env=dict(os.environ, BERTH_STATE=os.path.join(work, "berth-state")))
    snaps = os.path.join(root, "snapshots")
    if not os.path.isdir(snaps) or not os.listdir(snaps):
        raise BenchError("berth pull left no snapshots in %s" % snaps)
    return dt


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--berth", default=DEFAULT_BERTH, help="berth binary (default: %(default)s)")
    ap.add_argument("-n", "--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--layers", type=int, default=10)
    ap.add_argument("--layer-mb", type=int, default=30)
    ap.add_argument("--json", metavar="FILE", help="also write results as JSON")
    ap.add_argument("--tmpdir", help="parent of the work directory (default: $TMPDIR or /tmp)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise BenchError("run as root (umoci unpack and berth's snapshots keep ownership)")
    for tool in ("skopeo", "umoci", "/usr/bin/docker-registry"):
        if not shutil.which(tool):
            raise BenchError("%s not found (apt-get install skopeo umoci docker-registry)" % tool)
    if not os.access(args.berth, os.X_OK):
        raise BenchError("berth not found at %s: cargo build --release -p berth" % args.berth)

    work = tempfile.mkdtemp(prefix="berth-bench-pull-", dir=args.tmpdir)
    proc = None
    try:
        log("building the image (%d layers x %d MB) ..." % (args.layers, args.layer_mb))
        layout = os.path.join(work, "layout")
        compressed = build_layout(layout, args.layers, args.layer_mb)
        proc, port = start_registry(work)
        ref = "127.0.0.1:%d/bench:1" % port
        timed(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
               "oci:%s:bench" % layout, "docker://" + ref])
        log("pushed %s (%.1f MB compressed)" % (ref, compressed / 1e6))

        sides = {"skopeo+umoci": lambda: run_skopeo_umoci(work, ref),
                 "berth": lambda: run_berth(work, args.berth, ref)}
        samples = {k: [] for k in sides}
        for i in range(args.warmup + args.iterations):
            order = list(sides) if i % 2 == 0 else list(reversed(list(sides)))
            for name in order:
                dt = sides[name]()
                if i >= args.warmup:
                    samples[name].append(dt)
                log("  %s %-13s %.2f s" % ("warm-up" if i < args.warmup else "iter %d" % (i - args.warmup),
                                          name, dt))
        res = {k: stats(v) for k, v in samples.items()}
        ratio = res["skopeo+umoci"]["median"] / res["berth"]["median"]
        print("pull + unpack of %d layers, %.0f MB compressed, %d iterations (medians):"
              % (args.layers, compressed / 1e6, args.iterations))
        for k, s in res.items():
            print("  %-13s %.2f s (min %.2f, max %.2f)" % (k, s["median"], s["min"], s["max"]))
        print("  ratio skopeo+umoci / berth: %.2fx (goal >= %.1fx): %s"
              % (ratio, GOAL, "met" if ratio >= GOAL else "NOT met"))
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"layers": args.layers, "compressed_bytes": compressed,
                           "results": res, "ratio": ratio, "goal": GOAL}, f, indent=2)
    finally:
        if proc:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except BenchError as e:
        print("pull.py: %s" % e, file=sys.stderr)
        sys.exit(1)
