"""A read of the fleet streams: each host's result reaches the report writer as soon as it and
the hosts before it are done, in the hosts' order, and nothing is kept per host.

The hosts are on the local transport; the resource reads one file per host in a temporary
directory (in sync, changed or missing). What would fail if streaming broke: a writer that
only got results at the end never unblocks host 2 (it waits for host 1's result to be written),
the order would not be the inventory's, and the controller's peak memory over 10,000 hosts
would grow with the fleet instead of staying near that of 1,000.
"""

from __future__ import annotations

import gc
import threading
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from checkpointctl.engine.run import ApplyOptions, stream_fleet
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    Host,
    HostResult,
    HostStatus,
    Planned,
)
from checkpointctl.report import render
from checkpointctl.report import stream as stream_mod
from checkpointctl.report.stream import STREAMED, ReportStream, StreamFormat
from checkpointctl.resources.base import Resource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport

WANTED = "managed\n"
SAFETY = 60.0
"""How long a blocked read waits for the writer before the test gives up (a hang guard, not a
measurement: the assertion is on whether the writer unblocked it)."""


@dataclass(frozen=True, slots=True)
class Marker:
    text: str | None


class MarkerFile(Resource[str, Marker]):
    """``DIR/<host>`` should read :data:`WANTED`; ``before_read`` runs first (a test's hook)."""

    kind: ClassVar[str] = "marker"

    def __init__(self, folder: Path, before_read: dict[str, threading.Event] | None = None):
        self.folder = folder
        self.before_read = before_read or {}
        self.unblocked: dict[str, bool] = {}

    def read(self, transport: Transport, desired: DesiredState) -> Marker:
        gate = self.before_read.get(desired.host)
        if gate is not None:
            self.unblocked[desired.host] = gate.wait(SAFETY)
        raw = transport.read_file(str(self.folder / desired.host))
        return Marker(None if raw is None else raw.decode())

    def diff(self, desired: DesiredState, actual: Marker) -> list[Planned[str]]:
        if actual.text == WANTED:
            return []
        action = Action.CREATE if actual.text is None else Action.UPDATE
        field = FieldChange("text", actual.text, WANTED)
        return [Planned(Change(f"marker/{desired.host}", action, (field,)), WANTED)]

    def findings(self, desired: DesiredState, actual: Marker) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[str]) -> None:
        raise AssertionError("a read never applies")


def _fleet(folder: Path, size: int) -> tuple[tuple[Host, ...], dict[str, DesiredState]]:
    hosts = tuple(Host(f"cp-{i}", "localhost", connection="local") for i in range(1, size + 1))
    for i, host in enumerate(hosts):
        if i % 7:
            (folder / host.name).write_text("edited by hand\n" if i % 5 == 0 else WANTED)
    return hosts, {h.name: DesiredState(host=h.name) for h in hosts}


def _options(folder: Path) -> ApplyOptions:
    return ApplyOptions(state_dir=str(folder / ".state"), health_gate=False)


def test_the_writer_gets_host_1_before_host_2_finishes(tmp_path: Path) -> None:
    hosts, states = _fleet(tmp_path, 3)
    first_written = threading.Event()
    resource = MarkerFile(tmp_path, before_read={"cp-2": first_written})
    got: list[str] = []

    def emit(result: HostResult) -> None:
        got.append(result.host)
        if result.host == "cp-1":
            first_written.set()

    stream_fleet(hosts, states, "drift", LocalTransport, emit, forks=2, resources=[resource],
                 options=_options(tmp_path))  # fmt: skip

    assert resource.unblocked == {"cp-2": True}
    assert got == ["cp-1", "cp-2", "cp-3"]


def test_results_come_in_the_hosts_order_whatever_order_they_finish_in(tmp_path: Path) -> None:
    hosts, states = _fleet(tmp_path, 6)
    last_read = threading.Event()
    resource = MarkerFile(tmp_path, before_read={"cp-1": last_read})
    got: list[str] = []

    def emit(result: HostResult) -> None:
        got.append(result.host)

    def connect(host: Host) -> Transport:
        if host.name == "cp-6":
            last_read.set()  # cp-1 finishes only after the last host has started
        return LocalTransport(host)

    stream_fleet(hosts, states, "drift", connect, emit, forks=6, resources=[resource],
                 options=_options(tmp_path))  # fmt: skip

    assert resource.unblocked == {"cp-1": True}
    assert got == [h.name for h in hosts]


def test_the_streamed_report_is_the_rendered_one(tmp_path: Path) -> None:
    from checkpointctl.engine.run import run_fleet

    hosts, states = _fleet(tmp_path, 40)
    resources = [MarkerFile(tmp_path)]
    whole = run_fleet(hosts, states, "drift", LocalTransport, forks=7, resources=resources,
                      options=_options(tmp_path))  # fmt: skip
    for fmt in STREAMED:
        with ReportStream("drift", fmt, names=[h.name for h in hosts]) as out:
            stream_fleet(hosts, states, "drift", LocalTransport, out.add, forks=7,
                         resources=resources, options=_options(tmp_path))  # fmt: skip
            assert out.exit_code() == whole.exit_code == 2
            text = b"".join(out.chunks()).decode()
        # the seconds each host took differ between the two runs; everything else is equal
        assert _without_seconds(text, fmt) == _without_seconds(render(whole, fmt), fmt)


def _without_seconds(text: str, fmt: str) -> str:
    import re

    if fmt == "json":
        return re.sub(r'"seconds": [0-9.e-]+', '"seconds": 0', text)
    if fmt == "junit":
        return re.sub(r'time="[0-9.]+"', 'time="0"', text)
    return text


def _peak_bytes(tmp_path: Path, size: int, fmt: StreamFormat) -> int:
    """tracemalloc's peak while ``size`` hosts are read and streamed into a report in ``fmt``
    (the hosts and their desired states are made before it starts: the inventory's cost)."""
    hosts, states = _fleet(tmp_path, size)
    resources = [MarkerFile(tmp_path)]
    statuses: dict[str, int] = {}
    gc.collect()
    tracemalloc.start()
    try:
        with ReportStream("drift", fmt, names=()) as out:

            def emit(result: HostResult) -> None:
                out.add(result)
                statuses[result.status.value] = statuses.get(result.status.value, 0) + 1

            stream_fleet(hosts, states, "drift", LocalTransport, emit, forks=20,
                         resources=resources, options=_options(tmp_path))  # fmt: skip
            assert out.tally.hosts == size
            written = sum(len(chunk) for chunk in out.chunks())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert sum(statuses.values()) == size
    assert statuses[HostStatus.IN_SYNC.value] > 0
    assert statuses[HostStatus.DRIFT.value] > 0
    assert written > 0
    return peak


# JSON and HTML spool every host; Markdown keeps the hosts its capped table may still list
@pytest.mark.parametrize("fmt", ["json", "markdown", "html"])
def test_peak_memory_of_10000_hosts_stays_near_that_of_1000(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: StreamFormat
) -> None:
    # both runs' spools move to disk early, so neither holds a spool's worth of bytes in memory
    monkeypatch.setattr(stream_mod, "SPOOL_IN_MEMORY", 64 << 10)
    small = tmp_path / "small"
    large = tmp_path / "large"
    small.mkdir()
    large.mkdir()
    peak_1000 = _peak_bytes(small, 1_000, fmt)
    peak_10000 = _peak_bytes(large, 10_000, fmt)
    # results held to the end grow with the fleet (ten times here); streamed, the peak is the
    # work of the hosts in flight and stays near the small fleet's
    assert peak_10000 < 3 * peak_1000, (peak_1000, peak_10000)
