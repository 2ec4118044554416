"""Progress on a terminal: a bar with hosts done/total and failures so far.

Only the CLI attaches it, and only when stderr is a TTY; pipes and CI logs get the report alone,
so their output stays plain and stable. rich is used because a live, thread-safe progress bar is
exactly what it is good at.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from checkpointctl.model import HostResult, HostStatus

_BAD = {HostStatus.FAILED, HostStatus.UNREACHABLE}


class ProgressObserver:
    """An engine observer drawing one progress bar on stderr."""

    def __init__(self, total: int | None = None) -> None:
        self._lock = threading.Lock()
        self._failed = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._progress.add_task("hosts", total=total, failed=0)
        self._started = False

    def batch_started(self, index: int, hosts: Sequence[str]) -> None:
        with self._lock:
            if not self._started:
                self._progress.start()
                self._started = True
            task = self._progress.tasks[0]
            total = (task.total or 0) + len(hosts)
            self._progress.update(self._task, total=total, description=f"batch {index + 1}")

    def host_started(self, host: str) -> None:
        return None

    def host_done(self, result: HostResult) -> None:
        with self._lock:
            if result.status in _BAD:
                self._failed += 1
            self._progress.update(self._task, advance=1, failed=self._failed)

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._progress.stop()
                self._started = False
