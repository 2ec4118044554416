"""The lab network: one bridge in the root namespace, one namespace and veth pair per host.

The bridge ``cplab0`` holds 10.213.0.1/16 (the controller and the registry). Each host's
namespace gets the other end of its veth as ``eth0``; host.sh gives it the address. There is no
default route in the hosts and forwarding is never enabled in the root namespace, so lab
traffic cannot leave the machine. Work is batched through ``ip -batch`` so that hundreds of
hosts cost a few processes, not thousands.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from checkpointctl.lab.layout import (
    BRIDGE,
    CONTROLLER_ADDRESS,
    NETNS_DIR,
    NETNS_PREFIX,
    PREFIX_LEN,
    VETH_PREFIX,
    LabHost,
    host_by_name,
)
from checkpointctl.lab.process import run

_SYS_NET = Path("/sys/class/net")


def bridge_exists() -> bool:
    return (_SYS_NET / BRIDGE).exists()


def ensure_bridge() -> None:
    """Create ``cplab0`` with 10.213.0.1/16 and bring it up (each step idempotent)."""
    if not bridge_exists():
        run(["ip", "link", "add", BRIDGE, "type", "bridge"])
    run(["ip", "addr", "replace", f"{CONTROLLER_ADDRESS}/{PREFIX_LEN}", "dev", BRIDGE])
    run(["ip", "link", "set", BRIDGE, "up"])


def remove_bridge() -> None:
    if bridge_exists():
        run(["ip", "link", "del", BRIDGE])


def lab_netns_names() -> set[str]:
    """Host names that have a lab network namespace (``/var/run/netns/cplab-*``)."""
    try:
        entries = os.listdir(NETNS_DIR)
    except OSError:
        return set()
    return _lab_names(e[len(NETNS_PREFIX) :] for e in entries if e.startswith(NETNS_PREFIX))


def lab_veth_names() -> set[str]:
    """Host names that have a root-side lab veth (``cpl-*``) in the root namespace."""
    try:
        entries = os.listdir(_SYS_NET)
    except OSError:
        return set()
    return _lab_names(e[len(VETH_PREFIX) :] for e in entries if e.startswith(VETH_PREFIX))


def _lab_names(candidates: Iterable[str]) -> set[str]:
    # Only names the lab could have made (cp-N, lt-N): anything else is not ours to delete,
    # and this keeps odd file names out of the ``ip -batch`` text.
    return {name for name in candidates if host_by_name(name) is not None}


def add_hosts(hosts: Sequence[LabHost]) -> None:
    """Create each host's namespace and veth pair, root end enslaved to the bridge and up.

    The host end is created directly inside the namespace as ``eth0``; its address and link
    state are set by the host's launcher from inside the namespace.
    """
    if not hosts:
        return
    lines: list[str] = []
    for host in hosts:
        lines.append(f"netns add {host.netns}")
        lines.append(f"link add {host.veth} type veth peer name eth0 netns {host.netns}")
        lines.append(f"link set {host.veth} master {BRIDGE} up")
    # Names come from layout (cp-N / lt-N), never from user text, so a batch line is safe.
    run(["ip", "-batch", "-"], stdin=("\n".join(lines) + "\n").encode())


def remove_hosts(names: Iterable[str], timeout: float = 2.0) -> None:
    """Delete the namespaces and veths of these hosts; missing pieces are skipped.

    Deleting a namespace destroys its veth pair with it, and the kernel does that in one batch
    for many namespaces, much faster than deleting links one by one. Links still there after
    ``timeout`` are deleted explicitly: an orphan whose namespace is gone, or a namespace the
    kernel keeps alive for a while (a socket of a killed sshd lingering in FIN_WAIT holds it).
    """
    wanted = set(names)
    netns = lab_netns_names() & wanted
    if netns:
        lines = [f"netns del {NETNS_PREFIX}{name}" for name in sorted(netns)]
        run(["ip", "-force", "-batch", "-"], stdin=("\n".join(lines) + "\n").encode())
    deadline = time.monotonic() + timeout
    while (lab_veth_names() & netns) and time.monotonic() < deadline:
        time.sleep(0.05)
    veths = lab_veth_names() & wanted
    if veths:
        lines = [f"link del {VETH_PREFIX}{name}" for name in sorted(veths)]
        run(["ip", "-force", "-batch", "-"], stdin=("\n".join(lines) + "\n").encode())
