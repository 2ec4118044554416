"""Timing one process: wall clock, controller peak RSS, controller CPU, and the hosts' CPU.

The controller's peak RSS is the larger of ``wait4``'s ``ru_maxrss`` (the biggest single
process) and the largest sum of RSS over the process tree seen by a 10 Hz sampler (Ansible's
forked workers and ssh masters count together). The hosts' CPU is what their sshd processes
(and the sessions they reaped) used during the run: every host shares this machine's cores,
so it is part of every figure and reported beside it.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    wall: float
    rss_mib: float
    cpu: float
    """Controller CPU seconds (user + system, the process and its waited-for children)."""
    host_cpu: float
    rc: int
    stdout: bytes
    stderr: bytes
    peak_fds: int = 0
    """The most file descriptors the process held at once (sampled at 10 Hz; 0: not sampled)."""


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return raw[raw.rindex(")") + 2 :].split()


def cpu_of(pids: Sequence[int]) -> float:
    """utime + stime + cutime + cstime of these processes, in seconds."""
    total = 0
    for pid in pids:
        f = _stat_fields(pid)
        if f:
            total += sum(int(x) for x in f[11:15])
    return total / CLK


def _fd_count(pid: int) -> int:
    """How many file descriptors ``pid`` holds now (0 once it is gone)."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return 0


def _tree_rss(root: int) -> int:
    """Sum of RSS (bytes) of ``root`` and its descendants."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        f = _stat_fields(int(entry.name))
        if f:
            parent[int(entry.name)] = int(f[1])
            rss[int(entry.name)] = int(f[21]) * PAGE
    total = 0
    for pid in rss:
        p = pid
        while p > 1:
            if p == root:
                total += rss[pid]
                break
            p = parent.get(p, 0)
    return total


def run(
    argv: Sequence[str],
    *,
    host_pids: Sequence[int] = (),
    env: dict[str, str] | None = None,
    sample_tree: bool = False,
    stdout: int | None = subprocess.PIPE,
    finish: Callable[[], None] | None = None,
    sample_fds: bool = False,
) -> Sample:
    """Run argv to completion and measure it (see the module docstring)."""
    host_before = cpu_of(host_pids)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=stdout, stderr=subprocess.PIPE, env=env)
    peak_tree = 0
    peak_fds = 0
    stop = threading.Event()

    def sampler() -> None:
        nonlocal peak_tree, peak_fds
        while not stop.wait(0.1):
            if sample_tree:
                peak_tree = max(peak_tree, _tree_rss(proc.pid))
            if sample_fds:
                peak_fds = max(peak_fds, _fd_count(proc.pid))

    watcher = threading.Thread(target=sampler, daemon=True)
    if sample_tree or sample_fds:
        watcher.start()
    out_chunks: list[bytes] = []
    err_chunks: list[bytes] = []

    def drain(stream: object, into: list[bytes]) -> None:
        if stream is not None:
            for chunk in iter(lambda: stream.read(65536), b""):  # type: ignore[attr-defined]
                into.append(chunk)

    readers = [
        threading.Thread(target=drain, args=(proc.stdout, out_chunks)),
        threading.Thread(target=drain, args=(proc.stderr, err_chunks)),
    ]
    for t in readers:
        t.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    for t in readers:
        t.join()
    stop.set()
    if sample_tree or sample_fds:
        watcher.join()
    if finish is not None:
        finish()  # e.g. end Ansible's ssh masters: their sessions are reaped only then
    if host_pids:
        time.sleep(0.3)  # let the hosts reap the sessions that just closed
    host_after = cpu_of(host_pids)
    rss = max(usage.ru_maxrss * 1024, peak_tree)
    return Sample(
        wall=wall,
        rss_mib=rss / 2**20,
        cpu=usage.ru_utime + usage.ru_stime,
        host_cpu=max(0.0, host_after - host_before),
        rc=proc.returncode,
        stdout=b"".join(out_chunks),
        stderr=b"".join(err_chunks),
        peak_fds=peak_fds,
    )
