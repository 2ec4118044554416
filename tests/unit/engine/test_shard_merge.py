"""``drift --shard I/N`` over every shard, merged with ``report merge``, is the unsharded drift:
the same hosts with the same classes and changes, and the same exit code.

The fleet is 200 hosts on the local transport, each with a file of its own in a temporary
directory (in sync, changed or missing, so the classes mix) and one host whose connection is
refused; the engine runs a small file resource over it as in test_add_a_resource. The lab
version of this test (tests/integration/test_shard_lab.py) runs the CLI against SSH hosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest

from checkpointctl.engine.run import ApplyOptions, run_fleet
from checkpointctl.engine.shard import Shard
from checkpointctl.errors import HostUnreachable
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    Host,
    HostResult,
    Planned,
    RunReport,
)
from checkpointctl.report import render
from checkpointctl.report.fromjson import parse_report
from checkpointctl.report.merge import merge_reports
from checkpointctl.resources.base import Resource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport

WANTED = "managed\n"
UNREACHABLE = "cp-117"


@dataclass(frozen=True, slots=True)
class Marker:
    text: str | None


class MarkerFile(Resource[str, Marker]):
    """One file per host, ``DIR/<host>``, that should read :data:`WANTED`."""

    kind: ClassVar[str] = "marker"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def read(self, transport: Transport, desired: DesiredState) -> Marker:
        raw = transport.read_file(str(self.folder / desired.host))
        return Marker(None if raw is None else raw.decode())

    def diff(self, desired: DesiredState, actual: Marker) -> list[Planned[str]]:
        if actual.text == WANTED:
            return []
        action = Action.CREATE if actual.text is None else Action.UPDATE
        change = Change(
            f"marker/{desired.host}", action, (FieldChange("text", actual.text, WANTED),)
        )
        return [Planned(change, WANTED)]

    def findings(self, desired: DesiredState, actual: Marker) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[str]) -> None:
        raise AssertionError("drift never applies")


def _connect(host: Host) -> Transport:
    if host.name == UNREACHABLE:
        raise HostUnreachable(f"{host.name}: connection refused")
    return LocalTransport(host)


def _drift(hosts: Sequence[Host], folder: Path) -> RunReport:
    return run_fleet(
        hosts,
        {h.name: DesiredState(host=h.name) for h in hosts},
        "drift",
        _connect,
        forks=20,
        resources=[MarkerFile(folder)],
        options=ApplyOptions(state_dir=str(folder / ".state"), health_gate=False),
    )


def _classes(report: RunReport) -> dict[str, tuple[str, tuple[Change, ...]]]:
    return {h.host: (h.status.value, h.changes) for h in report.hosts}


@pytest.mark.parametrize("unreachable", [False, True])
def test_four_shards_merged_equal_one_unsharded_drift(tmp_path: Path, unreachable: bool) -> None:
    fleet = tuple(Host(f"cp-{i}", "localhost", connection="local") for i in range(1, 201))
    if not unreachable:
        fleet = tuple(h for h in fleet if h.name != UNREACHABLE)
    for i, host in enumerate(fleet):
        if i % 7 == 0:
            continue  # missing: create
        (tmp_path / host.name).write_text("edited by hand\n" if i % 5 == 0 else WANTED)

    whole = _drift(fleet, tmp_path)
    parts = []
    for index in range(1, 5):
        shard = _drift(Shard(index, 4).select(fleet), tmp_path)
        parts.append(parse_report(render(shard, "json"), f"drift-{index}.json"))
    merged = merge_reports(parts)

    assert _classes(merged.report) == _classes(whole)
    assert len(merged.report.hosts) == len(fleet)
    assert {h.status.value for h in whole.hosts} >= {"in-sync", "drift"}
    assert (
        merged.exit_code == merged.report.exit_code == whole.exit_code == (1 if unreachable else 2)
    )
    # every format renders the merge as it renders the unsharded run (timings and the hosts'
    # order aside: the merge lists shard by shard)
    order = {h.host: i for i, h in enumerate(whole.hosts)}
    in_order = sorted(merged.report.hosts, key=lambda h: order[h.host])
    for fmt in ("text", "markdown", "junit", "json"):
        assert render(_untimed(in_order), fmt) == render(_untimed(whole.hosts), fmt)


def _untimed(hosts: Sequence[HostResult]) -> RunReport:
    return RunReport("drift", tuple(replace(h, seconds=0.0) for h in hosts))
