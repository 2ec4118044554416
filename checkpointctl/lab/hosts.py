"""Lab hosts as processes: prepare a host's directory, launch it, wait for it, stop it.

A host is launched by host.sh inside its namespaces; the launcher records the PIDs of what it
starts (``launcher.pid``, ``sshd.pid``, ``dockerd.pid`` in the host's directory). Stopping goes
from the inside out: dockerd first (it stops its containers), then sshd and the launcher, then
anything still living in the host's network namespace (SSH sessions, shims), then leftover
container processes in the host's cgroup (only there if a dockerd died without cleaning up).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Collection, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from checkpointctl.errors import LabError
from checkpointctl.lab import dockerd, sshd
from checkpointctl.lab.layout import HOST_MOUNTS, LabHost, LabPaths
from checkpointctl.lab.process import (
    is_ours,
    namespace_inode,
    pids_in_netns,
    read_pidfile,
    recorded_pid,
    signal_pids,
    spawn_detached,
    stop_pids,
    tail,
    wait_gone,
)

LAUNCHER = Path(__file__).with_name("host.sh")
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PIDFILES = ("launcher.pid", "sshd.pid", "dockerd.pid")


def prepare(paths: LabPaths, host: LabHost) -> None:
    """Create the host's directory: mount sources, data root, keys, sshd_config."""
    hostdir = paths.host_dir(host)
    for source in HOST_MOUNTS:
        (hostdir / source).mkdir(parents=True, exist_ok=True)
    if host.kind == "full":
        dockerd.data_root(paths, host).mkdir(exist_ok=True)
    sshd.prepare_host(paths, host)
    for name in _PIDFILES:
        (hostdir / name).unlink(missing_ok=True)


def launcher_argv(paths: LabPaths, host: LabHost) -> list[str]:
    """The command that starts the host inside its namespaces (see host.sh)."""
    argv = [
        "nsenter",
        f"--net={host.netns_path}",
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "--",
        "/bin/sh",
        str(LAUNCHER),
        str(paths.host_dir(host)),
        host.name,
        host.cidr,
    ]
    if host.kind == "full":
        argv += dockerd.dockerd_argv(paths, host)
    return argv


def start(paths: LabPaths, host: LabHost) -> None:
    """Launch the host (detached). Its namespace and veth must exist (network.add_hosts)."""
    spawn_detached(launcher_argv(paths, host), paths.host_dir(host) / "launcher.log")


def start_all(paths: LabPaths, hosts: Sequence[LabHost]) -> None:
    """Launch many hosts; launching is mostly waiting on fork/exec, so do it in parallel."""
    if not hosts:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(hosts))) as pool:
        list(pool.map(lambda h: start(paths, h), hosts))


@dataclass(frozen=True, slots=True)
class HostPids:
    """The live, verified PIDs of one host's processes (None: not running)."""

    launcher: int | None
    sshd: int | None
    dockerd: int | None


def _launcher_needle(paths: LabPaths, host: LabHost) -> str:
    # Not the full path of host.sh: a lab started from another checkout is still this lab.
    # The trailing space keeps cp-1 from matching cp-10's launcher.
    return f"/{LAUNCHER.name} {paths.host_dir(host)} "


def pids(paths: LabPaths, host: LabHost) -> HostPids:
    """Which of the host's recorded processes are alive and still the lab's."""
    hostdir = paths.host_dir(host)
    sshd_pid = recorded_pid(hostdir / "sshd.pid", sshd.sshd_needle(paths, host))
    launcher = read_pidfile(hostdir / "launcher.pid")
    if not (
        is_ours(launcher, _launcher_needle(paths, host))
        # a light host's launcher became its sshd
        or (launcher is not None and launcher == sshd_pid)
    ):
        launcher = None
    dockerd_pid = (
        recorded_pid(hostdir / "dockerd.pid", dockerd.dockerd_needle(paths, host))
        if host.kind == "full"
        else None
    )
    return HostPids(launcher, sshd_pid, dockerd_pid)


def alive(paths: LabPaths, host: LabHost) -> bool:
    """True if the host's launcher and sshd (and dockerd when full) are running.

    Only processes are checked: a busy dockerd that is slow to answer must not get its host
    torn down by a second ``up``. ``up`` then waits for kept hosts to answer, like new ones.
    """
    running = pids(paths, host)
    if running.launcher is None or running.sshd is None:
        return False
    return host.kind == "light" or running.dockerd is not None


def _ssh_banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"SSH-")
    except OSError:
        return False


def _wait_one(paths: LabPaths, host: LabHost, deadline: float) -> str | None:
    """Wait until the host serves SSH (and Docker); return an error text on failure."""
    hostdir = paths.host_dir(host)
    started = time.monotonic()
    ssh_ok = False
    docker_ok = host.kind == "light"
    while time.monotonic() < deadline:
        running = pids(paths, host)
        if running.launcher is None and time.monotonic() - started > 5:
            return f"{host.name}: launcher exited:\n{tail(hostdir / 'launcher.log')}"
        if not ssh_ok and running.sshd is not None:
            ssh_ok = _ssh_banner(host.address)
        if not docker_ok and running.dockerd is not None:
            docker_ok = dockerd.answers(running.dockerd)
        if ssh_ok and docker_ok:
            return None
        time.sleep(0.1)
    if not ssh_ok:
        return (
            f"{host.name}: sshd did not answer on {host.address}:22:\n{tail(hostdir / 'sshd.log')}"
        )
    return f"{host.name}: dockerd did not answer:\n{tail(hostdir / 'dockerd.log')}"


def wait_ready(paths: LabPaths, hosts: Sequence[LabHost], timeout: float = 90.0) -> None:
    """Block until every host answers SSH (and Docker on full hosts).

    Raises:
        LabError: some hosts did not come up in time; the tails of their logs are included.
    """
    if not hosts:
        return
    deadline = time.monotonic() + timeout
    with ThreadPoolExecutor(max_workers=min(64, len(hosts))) as pool:
        errors = [e for e in pool.map(lambda h: _wait_one(paths, h, deadline), hosts) if e]
    if errors:
        more = f"\n(and {len(errors) - 3} more hosts)" if len(errors) > 3 else ""
        raise LabError("lab hosts did not start:\n" + "\n".join(errors[:3]) + more)


def stop(paths: LabPaths, hosts: Collection[LabHost]) -> None:
    """Stop every process of these hosts, from the inside out (see the module docstring)."""
    running = [pids(paths, h) for h in hosts]
    daemons = [p.dockerd for p in running if p.dockerd is not None]
    if daemons:
        # dockerd stops its containers before it exits, but waits for each container's own
        # stop timeout (10 s by default). The lab's containers need no grace: once dockerd is
        # shutting down (it no longer restarts them), kill what is in the hosts' cgroups.
        signal_pids(daemons, signal.SIGTERM)
        if wait_gone(daemons, 1.0):
            for host in hosts:
                signal_pids(_cgroup_procs(host), signal.SIGKILL)
        stop_pids(wait_gone(daemons, 0), timeout=30)
    rest = {pid for p in running for pid in (p.sshd, p.launcher) if pid is not None}
    if rest:
        stop_pids(rest, timeout=5)
    inodes = [ino for h in hosts if (ino := namespace_inode(h.netns_path)) is not None]
    # Whatever still lives in a lab namespace was started inside the lab (an SSH session,
    # a command from exec_argv, a container shim): those PIDs are the lab's to stop.
    inside = pids_in_netns(inodes)
    if inside:
        stop_pids(list(inside), timeout=5)
    for host in hosts:
        _clear_cgroups(host)


def _cgroup_dirs(host: LabHost) -> list[Path]:
    """The host's container cgroup parent in every mounted hierarchy (v1 and v2)."""
    name = dockerd.cgroup_parent(host).lstrip("/")
    seen: set[str] = set()
    found: list[Path] = []
    bases = [_CGROUP_ROOT]
    try:
        bases += [e for e in _CGROUP_ROOT.iterdir() if e.is_dir()]
    except OSError:
        return []
    for base in bases:
        candidate = base / name
        real = os.path.realpath(candidate)
        if real not in seen and candidate.is_dir():
            seen.add(real)
            found.append(candidate)
    return found


def _cgroup_procs(host: LabHost) -> set[int]:
    """PIDs in the host's container cgroups: processes of containers its dockerd started."""
    found: set[int] = set()
    for top in _cgroup_dirs(host):
        for current, _subdirs, files in os.walk(top):
            if "cgroup.procs" in files:
                found |= _read_procs(Path(current) / "cgroup.procs")
    return found


def _clear_cgroups(host: LabHost) -> None:
    """Kill container processes a dead dockerd left in the host's cgroups; remove the cgroups."""
    leftovers = _cgroup_procs(host)
    if leftovers:
        stop_pids(leftovers, timeout=2)
    for top in _cgroup_dirs(host):
        for current, _subdirs, _files in os.walk(top, topdown=False):
            with contextlib.suppress(OSError):  # still in use: leave it
                os.rmdir(current)


def _read_procs(path: Path) -> set[int]:
    try:
        return {int(line) for line in path.read_text().split() if line.isdigit()}
    except OSError:
        return set()


def remove_dirs(paths: LabPaths, names: Iterable[str]) -> None:
    """Delete the hosts' directories (data roots included). Their processes must be stopped.

    Raises:
        LabError: a directory could not be removed (e.g. something is still mounted in it).
    """
    for name in names:
        hostdir = paths.hosts_dir / name
        if hostdir.exists():
            try:
                shutil.rmtree(hostdir)
            except OSError as err:
                raise LabError(f"could not remove {hostdir}: {err}") from err
