"""Podman's CNI backend's host state, for the benchmarks that run podman:
what exists before a bench (so that only what the bench made is removed
after it), the IPAM directories of its networks and the CNI firewall
plugin's chains. Python 3 standard library only."""

import os
import shutil
import subprocess

# podman's CNI backend keeps a network's host-local IPAM state here after
# `network rm` (the data dir is the host's, not the private store's)
CNI_DIR = "/var/lib/cni"
CNI_IPAM = os.path.join(CNI_DIR, "networks")


def remove_cni_ipam(nets, problems):
    """Remove the IPAM directories of podman's CNI networks `nets` once they
    hold no address (a file named by an address is a live reservation: then
    the network is someone else's too, and stays)."""
    for net in nets:
        d = os.path.join(CNI_IPAM, net)
        try:
            names = os.listdir(d)
        except FileNotFoundError:
            continue
        except OSError as e:
            problems.append("%s: %s" % (d, e))
            continue
        if any(x != "lock" and not x.startswith("last_reserved_ip") for x in names):
            continue
        try:
            for x in names:
                os.unlink(os.path.join(d, x))
            os.rmdir(d)
        except OSError as e:
            problems.append("%s: %s" % (d, e))


# the chains the CNI firewall plugin adds on podman's first network and keeps
CNI_JUMP = ["FORWARD", "-m", "comment", "--comment", "CNI firewall plugin rules", "-j",
            "CNI-FORWARD"]


def cni_leftovers():
    """What of podman's CNI host state exists now (taken before the bench, so
    that only what the bench made is removed after it)."""
    chain = subprocess.run(["iptables", "-w", "-S", "CNI-FORWARD"], capture_output=True,
                           text=True) if shutil.which("iptables") else None
    try:
        nets = sorted(os.listdir(CNI_IPAM))
    except OSError:
        nets = []
    return {"chains": chain is not None and chain.returncode == 0,
            "dirs": [d for d in (CNI_DIR, CNI_IPAM, os.path.join(CNI_DIR, "results"))
                     if os.path.isdir(d)],
            "nets": nets}


def remove_cni_leftovers(before, problems):
    """Remove the CNI firewall plugin's chains and /var/lib/cni if the bench
    made them and they are empty again (else they are someone else's)."""
    if not before["chains"] and shutil.which("iptables"):
        p = subprocess.run(["iptables", "-w", "-S", "CNI-FORWARD"], capture_output=True,
                           text=True)
        a = subprocess.run(["iptables", "-w", "-S", "CNI-ADMIN"], capture_output=True,
                           text=True)
        # empty: CNI-FORWARD holds the jump to CNI-ADMIN only, CNI-ADMIN nothing
        rules = [x for x in p.stdout.splitlines() if x.startswith("-A ")]
        if p.returncode == 0 and a.returncode == 0 and "-A " not in a.stdout \
                and all(x.endswith("-j CNI-ADMIN") for x in rules):
            for cmd in (["-D"] + CNI_JUMP, ["-F", "CNI-FORWARD"], ["-X", "CNI-FORWARD"],
                        ["-X", "CNI-ADMIN"]):
                r = subprocess.run(["iptables", "-w"] + cmd, capture_output=True, text=True)
                if r.returncode != 0:
                    problems.append("iptables %s: %s" % (" ".join(cmd), r.stderr.strip()))
    # deepest first: results and networks, then /var/lib/cni
    for d in reversed(cni_leftovers()["dirs"]):
        if d not in before["dirs"]:
            try:
                os.rmdir(d)
            except OSError:
                pass  # not empty: left as it is


def new_ipam_nets(before):
    """The CNI networks whose IPAM directory appeared since `before`
    (`cni_leftovers()`'s answer then): the ones the bench's podman made."""
    try:
        now = set(os.listdir(CNI_IPAM))
    except OSError:
        return []
    return sorted(now - set(before["nets"]))
