"""The Docker daemon of a full lab host: its flags and how to tell it is ready.

Each full host runs its own dockerd inside the host's namespaces, with a data root under the
lab root and everything else (exec root, socket, pidfile) in the host's private ``/run``. Since
``/var/run`` is a symlink to ``/run``, the default socket path ``/var/run/docker.sock`` inside
the host is that daemon's socket: ``docker`` and ``docker system dial-stdio`` run over SSH on
the host just work. The machine's own dockerd, if any, is never touched.
"""

from __future__ import annotations

import http.client
import socket
from pathlib import Path

from checkpointctl.lab.layout import REGISTRY, LabHost, LabPaths

SOCKET = "/run/docker.sock"


def data_root(paths: LabPaths, host: LabHost) -> Path:
    return paths.host_dir(host) / "docker"


def dockerd_argv(paths: LabPaths, host: LabHost) -> list[str]:
    """dockerd's command line for ``host``.

    The default bridge (docker0) lives inside the host's network namespace, so containers get
    ``bridge`` networking that reaches nothing but the host itself. ``cgroupfs`` with a per-host
    cgroup parent keeps each host's containers in ``/cplab-<host>``, where ``down`` can find
    them even if this dockerd was killed without stopping them.
    """
    return [
        "/usr/sbin/dockerd",
        "--data-root",
        str(data_root(paths, host)),
        "--exec-root",
        "/run/docker",
        "--pidfile",
        "/run/docker.pid",
        "-H",
        f"unix://{SOCKET}",
        "--insecure-registry",
        REGISTRY,
        "--storage-driver",
        "overlay2",
        "--exec-opt",
        "native.cgroupdriver=cgroupfs",
        "--cgroup-parent",
        cgroup_parent(host),
        # `lab down` should be quick: containers get 2 s to stop before SIGKILL.
        "--shutdown-timeout",
        "2",
    ]


def cgroup_parent(host: LabHost) -> str:
    return f"/cplab-{host.name}"


def dockerd_needle(paths: LabPaths, host: LabHost) -> str:
    """What a live dockerd of this host has in its command line (its data root)."""
    return f"--data-root {data_root(paths, host)}"


class _UnixConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket: enough to ask dockerd ``GET /_ping``."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self._path)
        self.sock = sock


def answers(ns_pid: int) -> bool:
    """True if the dockerd whose socket is in ``ns_pid``'s mount namespace answers ``/_ping``.

    ``/proc/<pid>/root`` resolves paths in that process's mount namespace, which is how the
    controller reaches a socket that only exists in the host's private ``/run``.
    """
    conn = _UnixConnection(f"/proc/{ns_pid}/root{SOCKET}", timeout=2.0)
    try:
        conn.request("GET", "/_ping")
        resp = conn.getresponse()
        return resp.status == 200 and resp.read() == b"OK"
    except OSError:
        return False
    finally:
        conn.close()
