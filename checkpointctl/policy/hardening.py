"""The container settings that weaken the checkpoint's isolation, as lint findings.

The article the product grew from is about keeping a vendor's agent contained on a customer's
host; Docker's own security guidance names the ways out: extra capabilities, a writable root
file system, gaining privileges through setuid binaries, the host's network, process, IPC or
user namespace, the engine's socket (root on the host to whoever can write to it), host system
directories, devices, switching off seccomp or AppArmor, kernel parameters shared with the host,
and host paths the container may write to. Each is an error a reviewer sees at ``validate``,
waivable only in ``spec.waivers`` with a reason (which every report then shows).

Pure: one container's merged policy data in, findings out; :mod:`.lint` locates and waives them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from checkpointctl.spec import CHECKPOINT_ROOT

RULES: Mapping[str, str] = {
    "cap-add": "spec.containers.cap_add",
    "writable-rootfs": "spec.containers.read_only",
    "new-privileges": "spec.containers.no_new_privileges",
    "host-network": "spec.containers.network_mode",
    "host-pid": "spec.containers.pid",
    "host-ipc": "spec.containers.ipc",
    "host-userns": "spec.containers.userns_mode",
    "docker-socket": "spec.containers.mounts.source",
    "host-mount": "spec.containers.mounts.source",
    "writable-mount": "spec.containers.mounts.read_only",
    "devices": "spec.containers.devices",
    "security-opt": "spec.containers.security_opt",
    "host-sysctl": "spec.containers.sysctls",
}
"""Each hardening rule and the policy field it is about (for the reference and ``explain``)."""

CAPABILITY_RISKS: Mapping[str, str] = {
    "SYS_ADMIN": "mount file systems, use namespaces and much else: nearly root on the host",
    "NET_ADMIN": "reconfigure interfaces, routes and the firewall of its network namespace",
    "NET_RAW": "forge packets and spoof ARP on the bridge it shares with other containers",
    "SYS_PTRACE": "trace and read the memory of other processes it can see",
    "SYS_MODULE": "load kernel modules into the host's kernel",
    "DAC_READ_SEARCH": "open host files by handle, past the container's mounts",
    "DAC_OVERRIDE": "read and write files regardless of their permissions",
    "SYS_RAWIO": "raw I/O on devices and ports",
    "SYS_TIME": "set the host's clock",
    "MKNOD": "create device files",
    "SETUID": "switch to any user id",
    "SETGID": "switch to any group id",
    "CHOWN": "take ownership of any file it can reach",
    "BPF": "load eBPF programs into the host's kernel",
    "PERFMON": "observe the host's kernel and processes through perf",
    "NET_BIND_SERVICE": "listen on ports below 1024",
}
"""What a capability gives a container, for the message; any other capability is still an
error, named as such."""

RUNTIME_SOCKETS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/var/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/var/run/podman/podman.sock",
    "/run/crio/crio.sock",
    "/var/run/crio/crio.sock",
)
"""Where container engines listen (a mount of a parent directory exposes them too)."""
SOCKET_NAMES = frozenset({"docker.sock", "containerd.sock", "podman.sock", "crio.sock"})
"""A socket of one of these names anywhere (rootless engines listen under ``/run/user``)."""

SYSTEM_PATHS = ("/etc", "/proc", "/sys", "/dev", "/boot", "/var/lib/docker",
                "/var/lib/containerd")  # fmt: skip
"""Host directories no checkpoint needs to see, read-only or not (``/`` is refused as well,
and ``/etc/checkpoint``, the checkpoint's own configuration, is the exception under ``/etc``)."""

UNCONFINED = frozenset(
    {"seccomp=unconfined", "apparmor=unconfined", "label=disable", "systempaths=unconfined"}
)
"""Security options that switch a protection off (the ``key:value`` spelling is accepted)."""


@dataclass(frozen=True, slots=True)
class HardeningFinding:
    """One weakened setting: the rule, the path under the container, and what it allows."""

    rule: str
    path: str
    message: str


def _under(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _normal(path: str) -> str:
    """A host path as the kernel resolves its spelling (``//etc/`` is ``/etc``); links on the
    host cannot be seen from the policy, which is why parent directories count as well."""
    return posixpath.normpath("/" + path.lstrip("/")) if path else path


def socket_exposed(source: str) -> bool:
    """Whether mounting ``source`` gives the container a container engine's API socket."""
    path = _normal(source)
    if path == "/":
        return False  # reported as a host mount of everything
    if posixpath.basename(path) in SOCKET_NAMES:
        return True
    return any(_under(sock, path) for sock in RUNTIME_SOCKETS)


def system_path(source: str) -> str | None:
    """The sensitive host directory ``source`` is (or is under), or None."""
    path = _normal(source)
    if path == "/":
        return "/"
    if _under(path, CHECKPOINT_ROOT):
        return None
    return next((root for root in SYSTEM_PATHS if _under(path, root)), None)


def _capabilities(name: str, caps: list[Any]) -> Iterator[HardeningFinding]:
    for i, cap in enumerate(caps):
        key = str(cap).upper().removeprefix("CAP_")
        risk = CAPABILITY_RISKS.get(key)
        what = f"which lets it {risk}" if risk else "a capability the checkpoint does not need"
        yield HardeningFinding(
            "cap-add", f".cap_add[{i}]",
            f"container {name!r} adds capability {key} (cap_add), {what}",
        )  # fmt: skip


def _mounts(name: str, mounts: list[Any]) -> Iterator[HardeningFinding]:
    for i, m in enumerate(mounts):
        if not isinstance(m, Mapping):
            continue
        source = str(m.get("source") or "")
        writable = m.get("read_only") is False
        mode = "read-write" if writable else "read-only"
        where = f".mounts[{i}]"
        if socket_exposed(source):
            yield HardeningFinding(
                "docker-socket", where,
                f"container {name!r} mounts {source} ({mode}), which holds a container "
                "engine's socket: whoever can talk to it is root on the host",
            )  # fmt: skip
        elif (root := system_path(source)) is not None:
            shown = (
                f"the host's {root} ({mode})" if _normal(source) == root
                else f"{source} ({mode}, inside the host's {root})"
            )  # fmt: skip
            yield HardeningFinding("host-mount", where, f"container {name!r} mounts {shown}")
        elif writable and not _under(_normal(source), CHECKPOINT_ROOT):
            yield HardeningFinding(
                "writable-mount", where + ".read_only",
                f"container {name!r} may write to host path {source} (mounts read_only: false); "
                f"only {CHECKPOINT_ROOT} may be mounted writable",
            )  # fmt: skip


def _namespaces(name: str, c: Mapping[str, Any]) -> Iterator[HardeningFinding]:
    if c.get("network_mode") == "host":
        yield HardeningFinding(
            "host-network", ".network_mode",
            f"container {name!r} uses the host's network (network_mode: host): every port it "
            "listens on is open on the host and the firewall's container rules do not apply",
        )  # fmt: skip
    for key, rule, what in (
        ("pid", "host-pid", "process namespace: it sees and may signal every host process"),
        ("ipc", "host-ipc", "IPC namespace: shared memory of host processes"),
        ("userns_mode", "host-userns", "user namespace: its root is the host's root"),
    ):
        if c.get(key) == "host":
            yield HardeningFinding(rule, f".{key}", f"container {name!r} shares the host's "
                                   f"{what} ({key}: host)")  # fmt: skip


def _kernel(name: str, c: Mapping[str, Any]) -> Iterator[HardeningFinding]:
    for i, device in enumerate(c.get("devices") or ()):
        yield HardeningFinding(
            "devices", f".devices[{i}]",
            f"container {name!r} gets host device {str(device).split(':', 1)[0]} (devices)",
        )  # fmt: skip
    for i, option in enumerate(c.get("security_opt") or ()):
        text = str(option)
        key, sep, value = text.partition("=")
        if not sep:
            key, _, value = text.partition(":")
        if f"{key}={value}" in UNCONFINED:
            yield HardeningFinding(
                "security-opt", f".security_opt[{i}]",
                f"container {name!r} switches off {key} (security_opt: {text})",
            )  # fmt: skip
    host_network = c.get("network_mode") == "host"
    for key in c.get("sysctls") or {}:
        if host_network and str(key).startswith("net."):
            why = "with network_mode: host it changes the host's own network stack"
        elif not str(key).startswith("net."):
            why = "outside the container's network namespace it is not the container's alone"
        else:
            continue
        yield HardeningFinding(
            "host-sysctl", f".sysctls.{key}",
            f"container {name!r} sets kernel parameter {key} (sysctls): {why}",
        )  # fmt: skip


def hardening_findings(name: str, c: Mapping[str, Any]) -> Iterator[HardeningFinding]:
    """Every weakened setting of container ``name`` (its merged policy data ``c``), in field
    order: capabilities, root file system, privileges, namespaces, mounts, kernel access."""
    yield from _capabilities(name, list(c.get("cap_add") or ()))
    if c.get("read_only") is False:
        yield HardeningFinding(
            "writable-rootfs", ".read_only",
            f"container {name!r} has a writable root file system (read_only: false); give it "
            f"tmpfs paths or mounts under {CHECKPOINT_ROOT} instead",
        )  # fmt: skip
    if c.get("no_new_privileges") is False:
        yield HardeningFinding(
            "new-privileges", ".no_new_privileges",
            f"container {name!r} may gain privileges through setuid binaries "
            "(no_new_privileges: false)",
        )  # fmt: skip
    yield from _namespaces(name, c)
    yield from _mounts(name, list(c.get("mounts") or ()))
    yield from _kernel(name, c)


__all__ = ["RULES", "HardeningFinding", "hardening_findings", "socket_exposed", "system_path"]
