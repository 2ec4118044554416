"""Are a host's checkpoint containers running and healthy? For the rollout gate and ``status``.

The gate runs after a host has been converged and verified, over the same connection and under
the same lock: every container the host's policy wants must exist, run, and (when it has a
healthcheck and the policy requires healthy containers) report ``healthy``. A container still
``starting`` is waited for, up to the policy's ``health.timeout``; anything else that is not
healthy fails the gate at once. A host whose policy wants no containers passes without touching
its Docker engine (light hosts have none).

Reading is thin (``docker inspect`` per wanted container, through the transport's Docker
client); :func:`gate_problems` and :func:`settling` decide, and are pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError
from checkpointctl.model.jsondoc import JSONObject, as_int, as_object, as_text
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import DockerApi, Transport

POLL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class ContainerHealth:
    """One wanted container as the engine reports it right now."""

    name: str
    status: str
    """``running``, ``exited``, ``restarting``…, or ``missing`` when there is no such container."""
    health: str | None = None
    """``healthy``, ``unhealthy``, ``starting``, or None without a healthcheck."""
    restarts: int = 0
    image_id: str = ""


def parse_health(name: str, inspect: JSONObject | None) -> ContainerHealth:
    """``docker inspect`` JSON (None: no such container) → :class:`ContainerHealth`."""
    if inspect is None:
        return ContainerHealth(name, "missing")
    state = as_object(inspect.get("State"))
    health = state.get("Health")
    return ContainerHealth(
        name=name,
        status=as_text(state.get("Status"), "unknown"),
        health=str(health.get("Status")) if isinstance(health, dict) else None,
        restarts=as_int(inspect.get("RestartCount")),
        image_id=as_text(inspect.get("Image")),
    )


def gate_problems(containers: Iterable[ContainerHealth], require_healthy: bool) -> list[str]:
    """What keeps these containers from passing the gate, one phrase each (empty = pass)."""
    out: list[str] = []
    for c in containers:
        if c.status == "missing":
            out.append(f"container {c.name} is missing")
        elif c.status != "running":
            out.append(f"container {c.name} is {c.status}")
        elif require_healthy and c.health not in (None, "healthy"):
            out.append(f"container {c.name} is {c.health}")
    return out


def settling(containers: Iterable[ContainerHealth], require_healthy: bool) -> bool:
    """Whether waiting could still turn these into a pass (a healthcheck still ``starting``,
    or the engine restarting a container) rather than a verdict being final already."""
    waiting = False
    for c in containers:
        if c.status == "restarting" or (require_healthy and c.health == "starting"):
            waiting = True
        elif gate_problems([c], require_healthy):
            return False
    return waiting


def _not_found(exc: Exception) -> bool:
    from docker.errors import NotFound

    return isinstance(exc, NotFound)


def read_health(api: DockerApi, names: Sequence[str]) -> list[ContainerHealth]:
    """Inspect each named container (a missing one is ``missing``, not an error).

    Raises:
        CheckpointctlError: the engine could not be asked.
    """
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    out: list[ContainerHealth] = []
    for name in names:
        try:
            out.append(parse_health(name, api.inspect_container(name)))
        except (DockerException, RequestException) as exc:
            if not _not_found(exc):
                raise CheckpointctlError(f"inspecting container {name} failed: {exc}") from exc
            out.append(parse_health(name, None))
    return out


def check_gate(
    transport: Transport,
    desired: DesiredState,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Problems that fail the health gate on this host (empty when it passes).

    Waits while a container is still starting, at most ``desired.health.timeout`` seconds.
    """
    names = [c.name for c in desired.containers]
    if not names:
        return []
    require = desired.health.require_healthy
    deadline = time.monotonic() + desired.health.timeout
    api = transport.docker().api
    while True:
        states = read_health(api, names)
        problems = gate_problems(states, require)
        if not problems or not settling(states, require) or time.monotonic() >= deadline:
            return problems
        sleep(POLL_SECONDS)


__all__ = [
    "ContainerHealth",
    "check_gate",
    "gate_problems",
    "parse_health",
    "read_health",
    "settling",
]
