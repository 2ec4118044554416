"""A command that fails on a reachable host fails the host; it never makes it "unreachable".

The host is this machine over the local transport and the failing read is a real command (``sh``
exiting non-zero with a message on stderr), so the path is the engine's own: a resource reads,
``finish`` raises ``CommandFailed``, the engine classifies it. The SSH side (a real
``docker system dial-stdio`` failing on a lab host) is tests/integration/test_transport.py.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import ClassVar

from checkpointctl.engine.run import run_fleet
from checkpointctl.errors import CommandFailed, TransportError
from checkpointctl.model import (
    CommandFailure,
    Finding,
    Host,
    HostStatus,
    Planned,
    Secret,
    host_to_json,
)
from checkpointctl.report.jsonfmt import render_json
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.spec import CredentialSpec, DesiredState
from checkpointctl.transport.base import Command, CommandResult, Transport
from checkpointctl.transport.command import finish
from checkpointctl.transport.local import LocalTransport

HOST = Host("here", "127.0.0.1", connection="local")
PASSWORD = "hunter2-not-real"
STATE = DesiredState(
    host=HOST.name,
    credentials=(CredentialSpec(name="login", username="u", secret=Secret(PASSWORD)),),
)
#: Prints its stdin (which holds the credential) on stderr and fails, as a tool might.
FAILING = ("sh", "-c", "echo 'reading rules:' >&2; cat >&2; exit 3")


class FailingRead(BatchedResource[str, str, None]):
    """A resource whose one read command fails on the host (checked, as real readers do)."""

    kind: ClassVar[str] = "failing"

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        command = Command(FAILING, stdin=f"password={PASSWORD}\n".encode())
        return ReadPlan((command,), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> str:
        return finish(transport.host.name, results[0], check=True).text()

    def diff(self, desired: DesiredState, actual: str) -> list[Planned[str]]:
        raise AssertionError("a failed read is never diffed")

    def findings(self, desired: DesiredState, actual: str) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[str]) -> None:
        raise AssertionError("drift never applies")


def test_command_failed_is_not_a_transport_error() -> None:
    assert not issubclass(CommandFailed, TransportError)


def test_a_failing_read_fails_the_host_with_command_status_and_redacted_stderr() -> None:
    report = run_fleet(
        [HOST],
        {HOST.name: STATE},
        "drift",
        LocalTransport,
        resources=[FailingRead()],  # type: ignore[list-item]
    )
    (result,) = report.hosts
    assert result.status is HostStatus.FAILED
    shown = "reading rules:\npassword=<sensitive>"
    assert result.command == CommandFailure(f"sh -c {FAILING[2]}", 3, shown)
    assert result.error is not None
    assert "exited 3" in result.error
    assert PASSWORD not in result.error
    doc = json.loads(render_json(report))
    (host,) = doc["hosts"]
    assert host["status"] == "failed"
    assert host["command"] == {
        "command": f"sh -c {FAILING[2]}",
        "exit_status": 3,
        "stderr": "reading rules:\npassword=<sensitive>",
    }
    assert PASSWORD not in json.dumps(doc)
    assert report.exit_code == 1


def test_a_host_without_a_failed_command_has_no_command_in_json() -> None:
    from checkpointctl.model import HostResult

    doc = host_to_json(HostResult(host="h", status=HostStatus.UNREACHABLE, error="gone"))
    assert "command" not in doc


def test_secret_redact_replaces_every_occurrence_and_leaves_other_text() -> None:
    secret = Secret("s3cr3t")
    assert secret.redact("a s3cr3t b s3cr3t") == "a <sensitive> b <sensitive>"
    assert secret.redact("nothing here") == "nothing here"
    assert Secret("").redact("text") == "text"
