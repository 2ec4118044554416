"""docs/architecture.md's "How to add a resource", done once: a tiny resource kind written by
those steps and driven through the engine (read → diff → apply → verify) with the local
transport in a temporary directory.

The kind is a message-of-the-day file. A real kind also gets its desired type in ``spec`` and
its policy syntax (schema, ``policy/build``), and joins ``engine.run.default_resources``; here
the desired text is given to the resource itself, so the test needs neither, and the run is
given the resource with ``resources=``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from checkpointctl.engine.run import ApplyOptions, run_fleet
from checkpointctl.model import Action, Change, FieldChange, Finding, Host, HostStatus, Planned
from checkpointctl.resources.base import AnyResource, Resource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport

MODE = 0o644


# step 1: the actual state, plain typed data ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class MotdActual:
    text: str | None
    """The file's text; None when there is no file."""


# step 2: the parse, pure (what read got → the actual state) --------------------------------------
def parse_motd(raw: bytes | None) -> MotdActual:
    return MotdActual(None if raw is None else raw.decode("utf-8", "replace"))


# steps 3-5: the resource: read (thin I/O), diff (pure), apply (one change, atomically) ----------
class MotdResource(Resource[str, MotdActual]):
    """The message of the day of each host, at ``path``: plans towards a ``str`` (the text),
    reads a :class:`MotdActual`."""

    kind: ClassVar[str] = "motd"

    def __init__(self, path: str, wanted: dict[str, str]) -> None:
        self.path = path
        self.wanted = wanted

    def read(self, transport: Transport, desired: DesiredState) -> MotdActual:
        return parse_motd(transport.read_file(self.path))

    def diff(self, desired: DesiredState, actual: MotdActual) -> list[Planned[str]]:
        want = self.wanted.get(desired.host)
        if want is None or want == actual.text:
            return []
        action = Action.CREATE if actual.text is None else Action.UPDATE
        field = FieldChange("text", actual.text, want)
        return [Planned(Change(f"{self.kind}/{self.path}", action, (field,)), want)]

    def findings(self, desired: DesiredState, actual: MotdActual) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[str]) -> None:
        transport.write_file(
            self.path, change.desired.encode(), mode=MODE, uid=os.getuid(), gid=os.getgid()
        )


def _run(resource: AnyResource, mode: str, state_dir: Path) -> tuple[HostStatus, list[str]]:
    host = Host(name="here", address="localhost", connection="local")
    report = run_fleet(
        [host],
        {"here": DesiredState(host="here")},
        mode,  # type: ignore[arg-type]
        LocalTransport,
        resources=[resource],
        options=ApplyOptions(state_dir=str(state_dir), health_gate=False),
    )
    (result,) = report.hosts
    return result.status, [c.address for c in result.changes]


def test_a_new_kind_goes_through_drift_apply_and_verify(tmp_path: Path) -> None:
    motd = tmp_path / "motd"
    resource = MotdResource(str(motd), {"here": "welcome\n"})

    # drift: the plan, nothing written
    assert _run(resource, "drift", tmp_path / "state") == (HostStatus.DRIFT, [f"motd/{motd}"])
    assert not motd.exists()

    # apply: written, then read again and diffed by the engine (converged means verified)
    assert _run(resource, "apply", tmp_path / "state") == (
        HostStatus.CONVERGED,
        [f"motd/{motd}"],
    )
    assert motd.read_text() == "welcome\n"
    assert (tmp_path / "state" / "last-apply.json").exists()  # the engine recorded the run

    # in sync afterwards; a change by hand is drift again
    assert _run(resource, "drift", tmp_path / "state") == (HostStatus.IN_SYNC, [])
    motd.write_text("edited by hand\n")
    assert _run(resource, "drift", tmp_path / "state") == (HostStatus.DRIFT, [f"motd/{motd}"])


def test_an_apply_that_does_not_stick_is_a_failure(tmp_path: Path) -> None:
    """The engine's verification covers the new kind with no code of its own: an apply that
    leaves the host different from the plan fails the host."""

    class Forgetful(MotdResource):
        def apply(self, transport: Transport, change: Planned[str]) -> None:
            transport.write_file(self.path, b"something else\n", mode=MODE, uid=os.getuid(),
                                 gid=os.getgid())  # fmt: skip

    resource = Forgetful(str(tmp_path / "motd"), {"here": "welcome\n"})
    status, _ = _run(resource, "apply", tmp_path / "state")
    assert status is HostStatus.FAILED
