"""The listening ``drift --watch``: what it costs while nothing happens, and how soon it reports.

Idle cost: a listening watch over the fleet is started and, once its first read is done, left
alone for ``idle`` seconds; the CPU the hosts' sshd trees (the listeners and their tools live
there) and the controller used in that time, per host per minute. It is compared with one
steady cycle of a polling watch of the same fleet: the difference between a polling watch of
1 + C cycles and one of a single cycle, divided by C (so connecting and the first read cancel
out).

Time to report: a hand-made change (a chain added to our table, then removed, through
``nsenter`` like an operator on the host) on one host after another; the time from the moment
the change is made to the watch's line reporting the re-read of that host.
"""

from __future__ import annotations

import os
import queue
import re
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from measure import CLK, cpu_of

PROBE_CHAIN = "cpbench-probe"


def tree_cpu(roots: Sequence[int]) -> float:
    """CPU seconds of ``roots`` and every live descendant (each with what it reaped)."""
    parent: dict[int, int] = {}
    cpu: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry.name}/stat").read_text()
        except OSError:
            continue
        f = raw[raw.rindex(")") + 2 :].split()
        parent[int(entry.name)] = int(f[1])
        cpu[int(entry.name)] = sum(int(x) for x in f[11:15])
    wanted = set(roots)
    total = 0
    for pid, ticks in cpu.items():
        p = pid
        while p > 1:
            if p in wanted:
                total += ticks
                break
            p = parent.get(p, 0)
    return total / CLK


@dataclass(frozen=True)
class ListenFigures:
    idle_s: float
    idle_cycles: int
    host_cpu_per_host_min: float
    ctl_cpu_per_host_min: float
    report_s: list[float]
    start_line: str


class Watch:
    def __init__(self, argv: Sequence[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            list(argv), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, text=True
        )
        self.lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put((time.monotonic(), line.rstrip("\n")))

    def wait_for(self, pattern: str, within: float) -> tuple[float, str]:
        deadline = time.monotonic() + within
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self.lines.empty()):
                raise RuntimeError(f"no {pattern!r} from the watch (rc {self.proc.poll()})")
            try:
                at, line = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                continue
            if re.search(pattern, line):
                return at, line

    def drain(self) -> list[str]:
        out = []
        while not self.lines.empty():
            out.append(self.lines.get()[1])
        return out

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=60)


def measure_listen(
    argv: Sequence[str],
    env: dict[str, str],
    host_pids: Sequence[int],
    probe_hosts: Sequence[str],
    exec_argv: dict[str, list[str]],
    *,
    idle: float,
) -> ListenFigures:
    """Run a listening watch (``argv``) and measure it (see the module docstring)."""
    n = len(host_pids)
    watch = Watch(argv, env)
    try:
        _, start_line = watch.wait_for(r"^watch: listening on ", 600)
        watch.wait_for(r"^watch: cycle 1 in ", 600)
        time.sleep(2.0)  # the first read's sessions settle
        watch.drain()
        ctl0, hosts0 = cpu_of([watch.proc.pid]), tree_cpu(host_pids)
        time.sleep(idle)
        ctl1, hosts1 = cpu_of([watch.proc.pid]), tree_cpu(host_pids)
        idle_cycles = sum(ln.startswith("watch: cycle") for ln in watch.drain())
        per = n * idle / 60.0
        times = []
        for host in probe_hosts:
            for verb in ("add", "delete"):
                made = time.monotonic()
                subprocess.run(
                    [*exec_argv[host], "nft", verb, "chain", "inet", "checkpointctl", PROBE_CHAIN],
                    check=True,
                )
                at, _ = watch.wait_for(rf"; change: {re.escape(host)}\)", 30)
                times.append(at - made)
        return ListenFigures(
            idle_s=idle,
            idle_cycles=idle_cycles,
            host_cpu_per_host_min=(hosts1 - hosts0) / per,
            ctl_cpu_per_host_min=(ctl1 - ctl0) / per,
            report_s=times,
            start_line=start_line,
        )
    finally:
        watch.stop()


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
