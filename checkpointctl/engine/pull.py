"""Pull mode's engine side: the agent's convergence of its own host, and the controller's push
of a signed bundle to the agents.

The agent (:mod:`checkpointctl.trust.agent`) fetches and verifies; what it is handed to apply a
host's desired state is :func:`local_converge`, which runs the same engine as push mode
(:func:`~checkpointctl.engine.run.converge_host`: lock, read, diff, apply, verify, health gate,
record, audit) over the local transport, with the firewall told it is in pull mode (no
management access for a controller, no commit-confirm).

:func:`push_bundle` is ``push-bundle``: the bundle goes to each host's agent over SSH, on the
agent's stdin, for the agent to verify and apply exactly as if it had fetched it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from checkpointctl.engine.audit import AuditContext
from checkpointctl.engine.fanout import fan_out
from checkpointctl.engine.lock import current_owner
from checkpointctl.engine.run import ApplyOptions, converge_host, default_resources
from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import Host, HostResult
from checkpointctl.resources.base import AnyResource
from checkpointctl.spec import DesiredState
from checkpointctl.transport.connect import connect
from checkpointctl.transport.local import DOCKER_SOCKET_URL
from checkpointctl.trust.agent import Converge
from checkpointctl.trust.verify import VerifiedBundle

AGENT_LOCK_WAIT = 60.0
"""Seconds the agent waits for a push-mode controller's lock on this host before failing."""


def agent_resources(desired: DesiredState) -> tuple[AnyResource, ...]:
    """Push mode's resources, in their order, with the firewall in pull mode.

    One exception: a host with no Docker engine whose state wants no containers skips the
    container resource (there is nothing to converge and no container that could need
    removing), so a firewall-only host without Docker can be managed in pull mode.
    """
    resources = default_resources(pull_mode=True)
    socket_path = DOCKER_SOCKET_URL.removeprefix("unix://")
    if desired.containers or os.path.exists(socket_path):
        return resources
    return tuple(r for r in resources if r.kind != "container")


def local_converge(host_name: str, state_dir: str, *, argv: Sequence[str] = ()) -> Converge:
    """The agent's ``converge``: apply a verified bundle's desired state to this host, named
    ``host_name`` in its audit trail, with the engine's records under ``state_dir``."""

    def converge(desired: DesiredState, bundle: VerifiedBundle) -> HostResult:
        owner = current_owner("agent")
        # The audit trail names the signed bundle that changed the host, where push mode
        # names the policy repository's commit.
        revision = f"bundle serial {bundle.manifest.serial} ({bundle.manifest_sha256})"
        options = ApplyOptions(
            lock_wait=AGENT_LOCK_WAIT,
            owner=owner,
            audit=AuditContext(who=owner.who, revision=revision, argv=tuple(argv)),
            state_dir=state_dir,
        )
        local = Host(name=host_name, address="localhost", connection="local")
        return converge_host(
            local, desired, connect, "apply", agent_resources(desired), options=options
        )

    return converge


@dataclass(frozen=True, slots=True)
class Pushed:
    """One host's answer to ``push-bundle``."""

    host: str
    exit_code: int
    """The agent's exit status (0: applied or already in sync); 1 when the host was not
    reached or the command could not run."""
    output: str
    """What the agent printed (stdout then stderr), or why it could not be run."""


def push_bundle(
    hosts: Sequence[Host],
    bundle: bytes,
    *,
    remote_command: str,
    trust_dir: str,
    timeout: float,
    forks: int,
) -> list[Pushed]:
    """Run ``<remote_command> agent --source - --once`` on every host with ``bundle`` on its
    stdin, ``forks`` hosts at once; one :class:`Pushed` per host, in their order. The hosts
    decide whether to believe the bundle; nothing is verified here."""

    def one(host: Host) -> Pushed:
        argv = [
            remote_command, "agent", "--source", "-", "--once",
            "--host", host.name, "--trust-dir", trust_dir,
        ]  # fmt: skip
        if host.refused is not None:
            return Pushed(host.name, 1, f"refused: {host.refused}")
        try:
            transport = connect(host)
        except CheckpointctlError as exc:
            return Pushed(host.name, 1, f"unreachable: {exc.diagnostics()}")
        try:
            result = transport.run(argv, stdin=bundle, timeout=timeout, check=False)
        except CheckpointctlError as exc:
            return Pushed(host.name, 1, exc.diagnostics())
        finally:
            transport.close()
        text = (result.stdout + result.stderr).decode("utf-8", "replace").strip()
        return Pushed(host.name, result.rc, text)

    return fan_out(one, hosts, forks=forks)
