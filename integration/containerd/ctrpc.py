#!/usr/bin/python3
"""Small gRPC client for what `ctr` 1.6 cannot do: containerd's Tasks.Update and the
Kubernetes CRI (runtime.v1) API. Used by tests/tests/containerd.rs; handy by hand too.

Needs python3-grpcio (Debian) for /usr/bin/python3. The protobuf messages are encoded
and decoded by hand (field numbers from containerd's tasks.proto and the CRI
api.proto), so no generated code and no protoc are needed.

  ctrpc.py update --address SOCK --namespace NS ID [--memory-limit BYTES]
           [--pids-limit N] [--cpu-quota US --cpu-period US]
      Tasks.Update with a LinuxResources JSON document (what `ctr task update` of
      containerd >= 1.7 sends); containerd's runc shim hands it to the runtime's
      `update --resources -`.

  ctrpc.py cri-smoke --address SOCK --handler NAME --image REF
           [--cgroup-parent /PATH] [--name NAME]
      One pod through the CRI RuntimeService, the way the kubelet drives it:
      Version, RunPodSandbox (host network, runtime_handler NAME), PodSandboxStatus,
      two containers "main" and "side" (CreateContainer, StartContainer,
      ContainerStatus), ExecSync in each (in main exit code 3 and output),
      StopContainer main, ContainerStatus (exited), RemoveContainer main (side still
      running), StopPodSandbox (side exited), RemovePodSandbox. Prints one JSON object with what it saw and
      exits 0, or prints the failing step on stderr and exits 1. Cleans up the pod
      even when a step fails.
"""

import argparse
import json
import sys
import time

try:
    import grpc
except ImportError:  # pragma: no cover
    sys.stderr.write("ctrpc.py: python3-grpcio is missing (apt-get install python3-grpcio); "
                     "run with /usr/bin/python3\n")
    sys.exit(2)


# --------------------------------------------------------------------------------------
# protobuf wire format, by hand


def _varint(n):
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(field, wire):
    return _varint((field << 3) | wire)


def f_int(field, value):
    """int32/int64/uint32/uint64/bool/enum (omitted when zero, as proto3 does)."""
    if not value:
        return b""
    return _key(field, 0) + _varint(int(value))


def f_bytes(field, value):
    if isinstance(value, str):
        value = value.encode()
    return _key(field, 2) + _varint(len(value)) + value


def f_str(field, value):
    return f_bytes(field, value) if value else b""


def f_msg(field, *parts):
    return f_bytes(field, b"".join(parts))


def f_map(field, mapping):
    return b"".join(f_msg(field, f_str(1, k), f_str(2, v)) for k, v in mapping.items())


def decode(buf):
    """{field: [values]}: varints as int, length-delimited as bytes."""
    out = {}
    i = 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        field, wire = key >> 3, key & 7
        if wire == 0:
            val, i = _read_varint(buf, i)
        elif wire == 2:
            n, i = _read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wire == 1:
            val, i = buf[i:i + 8], i + 8
        elif wire == 5:
            val, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("unsupported wire type %d" % wire)
        out.setdefault(field, []).append(val)
    return out


def _read_varint(buf, i):
    shift = 0
    n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7


def d_str(msg, field):
    return msg.get(field, [b""])[0].decode(errors="replace")


def d_int(msg, field):
    v = msg.get(field, [0])[0]
    if v >= 1 << 63:
        v -= 1 << 64
    return v


def d_map(msg, field):
    out = {}
    for entry in msg.get(field, []):
        e = decode(entry)
        out[d_str(e, 1)] = d_str(e, 2)
    return out


# --------------------------------------------------------------------------------------
# gRPC plumbing


class Client:
    def __init__(self, address, namespace=None, timeout=30.0):
        target = address if address.startswith("unix:") else "unix://" + address
        self.channel = grpc.insecure_channel(target)
        self.metadata = [("containerd-namespace", namespace)] if namespace else []
        self.timeout = timeout

    def call(self, method, request, timeout=None):
        fn = self.channel.unary_unary(method, request_serializer=None,
                                      response_deserializer=None)
        return decode(fn(request, metadata=self.metadata,
                         timeout=timeout or self.timeout))


def fail(step, err):
    if isinstance(err, grpc.RpcError):
        err = "%s: %s" % (err.code(), err.details())
    sys.stderr.write("ctrpc.py: %s failed: %s\n" % (step, err))
    sys.exit(1)


# --------------------------------------------------------------------------------------
# containerd Tasks.Update

LINUX_RESOURCES_URL = "types.containerd.io/opencontainers/runtime-spec/1/LinuxResources"


def cmd_update(args):
    resources = {}
    if args.memory_limit is not None:
        resources["memory"] = {"limit": args.memory_limit}
    if args.pids_limit is not None:
        resources["pids"] = {"limit": args.pids_limit}
    if args.cpu_quota is not None or args.cpu_period is not None:
        cpu = {}
        if args.cpu_quota is not None:
            cpu["quota"] = args.cpu_quota
        if args.cpu_period is not None:
            cpu["period"] = args.cpu_period
        resources["cpu"] = cpu
    if not resources:
        fail("update", "nothing to update (give --memory-limit, --pids-limit or --cpu-quota)")
    # UpdateTaskRequest{container_id = 1, resources = 2 (google.protobuf.Any)};
    # containerd encodes non-protobuf types in an Any as JSON.
    req = f_str(1, args.id) + f_msg(2, f_str(1, LINUX_RESOURCES_URL),
                                    f_bytes(2, json.dumps(resources)))
    client = Client(args.address, args.namespace)
    try:
        client.call("/containerd.services.tasks.v1.Tasks/Update", req)
    except grpc.RpcError as e:
        fail("Tasks.Update", e)
    print(json.dumps({"updated": args.id, "resources": resources}))


# --------------------------------------------------------------------------------------
# CRI runtime.v1

RS = "/runtime.v1.RuntimeService/"
NODE = 2  # NamespaceMode
CONTAINER_STATES = {0: "CONTAINER_CREATED", 1: "CONTAINER_RUNNING", 2: "CONTAINER_EXITED",
                    3: "CONTAINER_UNKNOWN"}
SANDBOX_STATES = {0: "SANDBOX_READY", 1: "SANDBOX_NOTREADY"}


def pod_config(name, uid, cgroup_parent):
    metadata = f_msg(1, f_str(1, name), f_str(2, uid), f_str(3, "default"))
    # NamespaceOption{network = NODE}: host network, so no CNI plugin is needed. Like
    # the kubelet for such pods, no hostname: the pod shares the host's UTS namespace.
    security = f_msg(2, f_msg(1, f_int(1, NODE)))
    linux = f_msg(8, f_str(1, cgroup_parent), security)
    return metadata + linux


def container_status(client, cid):
    r = client.call(RS + "ContainerStatus", f_str(1, cid) + f_int(2, True))
    st = decode(r[1][0])
    info = d_map(r, 2)
    return {
        "id": d_str(st, 1),
        "state": CONTAINER_STATES.get(d_int(st, 3), d_int(st, 3)),
        "exit_code": d_int(st, 7),
        "reason": d_str(st, 10),
        "message": d_str(st, 11),
        "info": json.loads(info["info"]) if "info" in info else None,
    }


def cmd_cri_smoke(args):
    client = Client(args.address)
    seen = {}
    pod_id = None
    try:
        try:
            v = client.call(RS + "Version", f_str(1, "v1"))
        except grpc.RpcError as e:
            fail("Version", e)
        seen["version"] = {"runtime_name": d_str(v, 2), "runtime_version": d_str(v, 3),
                           "runtime_api_version": d_str(v, 4)}

        cfg = pod_config(args.name, "uid-" + args.name, args.cgroup_parent)
        try:
            r = client.call(RS + "RunPodSandbox", f_bytes(1, cfg) + f_str(2, args.handler),
                            timeout=60)
        except grpc.RpcError as e:
            fail("RunPodSandbox", e)
        pod_id = d_str(r, 1)
        seen["pod_id"] = pod_id

        r = client.call(RS + "PodSandboxStatus", f_str(1, pod_id) + f_int(2, True))
        st = decode(r[1][0])
        seen["pod_state"] = SANDBOX_STATES.get(d_int(st, 3), d_int(st, 3))
        seen["pod_runtime_handler"] = d_str(st, 9)
        info = d_map(r, 2)
        pod_info = json.loads(info["info"]) if "info" in info else {}
        seen["pod_pid"] = pod_info.get("pid")
        seen["pod_runtime_options"] = pod_info.get("runtimeOptions")

        def start_container(name):
            cmeta = f_msg(1, f_str(1, name))
            image = f_msg(2, f_str(1, args.image))
            command = b"".join(f_str(3, a) for a in
                               ["/bin/sh", "-c", "echo started; exec sleep 1000"])
            ccfg = cmeta + image + command
            try:
                r = client.call(RS + "CreateContainer",
                                f_str(1, pod_id) + f_bytes(2, ccfg) + f_bytes(3, cfg),
                                timeout=60)
            except grpc.RpcError as e:
                fail("CreateContainer %s" % name, e)
            cid = d_str(r, 1)
            try:
                client.call(RS + "StartContainer", f_str(1, cid), timeout=60)
            except grpc.RpcError as e:
                fail("StartContainer %s" % name, e)
            return cid

        # Two containers in the pod: "main" is exec'd into, stopped and removed; "side"
        # runs on until the pod is stopped.
        cid = start_container("main")
        seen["container_id"] = cid
        cs = container_status(client, cid)
        seen["container_state"] = cs["state"]
        seen["container_pid"] = (cs["info"] or {}).get("pid")
        side = start_container("side")
        cs = container_status(client, side)
        seen["side_id"] = side
        seen["side_state"] = cs["state"]
        seen["side_pid"] = (cs["info"] or {}).get("pid")
        try:
            r = client.call(RS + "ExecSync", f_str(1, side) + b"".join(
                f_str(2, a) for a in ["/bin/sh", "-c", "echo side"]) + f_int(3, 20))
        except grpc.RpcError as e:
            fail("ExecSync side", e)
        seen["side_exec"] = {"stdout": d_str(r, 1), "exit_code": d_int(r, 3)}

        try:
            r = client.call(RS + "ExecSync",
                            f_str(1, cid) + b"".join(
                                f_str(2, a) for a in
                                ["/bin/sh", "-c", "echo out-$((1+2)); echo err >&2; exit 3"])
                            + f_int(3, 20))
        except grpc.RpcError as e:
            fail("ExecSync", e)
        seen["exec"] = {"stdout": d_str(r, 1), "stderr": d_str(r, 2), "exit_code": d_int(r, 3)}

        try:
            client.call(RS + "StopContainer", f_str(1, cid) + f_int(2, 1), timeout=60)
        except grpc.RpcError as e:
            fail("StopContainer", e)
        cs = container_status(client, cid)
        seen["stopped_state"] = cs["state"]
        seen["stopped_exit_code"] = cs["exit_code"]
        seen["stopped_reason"] = cs["reason"]
        try:
            client.call(RS + "RemoveContainer", f_str(1, cid), timeout=60)
        except grpc.RpcError as e:
            fail("RemoveContainer", e)
        seen["side_state_after_main_removed"] = container_status(client, side)["state"]
        try:
            client.call(RS + "StopPodSandbox", f_str(1, pod_id), timeout=60)
        except grpc.RpcError as e:
            fail("StopPodSandbox", e)
        seen["side_state_after_pod_stopped"] = container_status(client, side)["state"]
    finally:
        if pod_id:
            for step in ("StopPodSandbox", "RemovePodSandbox"):
                try:
                    client.call(RS + step, f_str(1, pod_id), timeout=60)
                    seen[step] = "ok"
                except grpc.RpcError as e:
                    sys.stderr.write("ctrpc.py: %s: %s: %s\n" % (step, e.code(), e.details()))
                    seen[step] = "error"
    print(json.dumps(seen))
    if seen.get("StopPodSandbox") != "ok" or seen.get("RemovePodSandbox") != "ok":
        sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    u = sub.add_parser("update", help="containerd Tasks.Update")
    u.add_argument("--address", required=True)
    u.add_argument("--namespace", "-n", required=True)
    u.add_argument("--memory-limit", type=int)
    u.add_argument("--pids-limit", type=int)
    u.add_argument("--cpu-quota", type=int)
    u.add_argument("--cpu-period", type=int)
    u.add_argument("id")
    c = sub.add_parser("cri-smoke", help="one pod of two containers through the CRI API")
    c.add_argument("--address", required=True)
    c.add_argument("--handler", required=True)
    c.add_argument("--image", required=True)
    c.add_argument("--cgroup-parent", default="")
    c.add_argument("--name", default="berth-smoke-%d" % int(time.time()))
    args = p.parse_args()
    if args.cmd == "update":
        cmd_update(args)
    else:
        cmd_cri_smoke(args)


if __name__ == "__main__":
    main()
