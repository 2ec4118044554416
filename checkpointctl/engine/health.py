"""Are a host's checkpoint containers running and healthy? For the rollout gate and ``status``.

The gate runs after a host has been converged and verified, over the same connection and under
the same lock. Every container the host's policy wants must exist and run, and two witnesses
must agree that it works:

- Docker's healthcheck, when the container has one and the policy requires healthy
  containers: ``starting`` is waited for, ``healthy`` passes, ``unhealthy`` fails at once;
- the agent's own health signal, when the container declares one (``health_signal``, set by a
  policy or a vendor profile): a command the gate runs inside the container *now*, exit 0 =
  healthy. It is read live on every look, never from a cached status, so a container that was
  healthy as a standby and broke when it took over is caught right after the swap. A failing
  signal is waited for (an agent may still be writing its settings) until the timeout.

All of it within the policy's ``health.timeout``. A host whose policy wants no containers
passes without touching its Docker engine (light hosts have none).

Reading is thin (``docker inspect`` and a detached ``exec`` per wanted container, through the
transport's Docker client); :func:`gate_problems` and :func:`settling` decide, and are pure.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError
from checkpointctl.model.jsondoc import JSONObject, as_int, as_list, as_object, as_text
from checkpointctl.resources.containers.signal import SignalResult, run_signal
from checkpointctl.spec import ContainerSpec, DesiredState
from checkpointctl.transport.base import DockerApi, Transport

POLL_SECONDS = 1.0
OUTPUT_CHARS = 300
"""How much of a failed healthcheck's output a problem quotes."""


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
    output: str = ""
    """The last healthcheck's output (what the check said when it failed)."""
    signal: SignalResult | None = None
    """The agent's health signal, run just now; None when it declares none or is not running."""


def _last_output(health: JSONObject) -> str:
    log = as_list(health.get("Log"))
    if not log:
        return ""
    text = as_text(as_object(log[-1]).get("Output")).strip()
    return " ".join(text.split())[-OUTPUT_CHARS:]


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
        output=_last_output(health) if isinstance(health, dict) else "",
    )


def _docker_problem(c: ContainerHealth, require_healthy: bool) -> str | None:
    """What Docker says is wrong with ``c``, or None."""
    if c.status == "missing":
        return f"container {c.name} is missing"
    if c.status != "running":
        return f"container {c.name} is {c.status}"
    if require_healthy and c.health not in (None, "healthy"):
        said = f": {c.output}" if c.health == "unhealthy" and c.output else ""
        return f"container {c.name} is {c.health}{said}"
    return None


def gate_problems(containers: Iterable[ContainerHealth], require_healthy: bool) -> list[str]:
    """What keeps these containers from passing the gate, one phrase each (empty = pass)."""
    out: list[str] = []
    for c in containers:
        problem = _docker_problem(c, require_healthy)
        if problem is not None:
            out.append(problem)
        elif c.signal is not None and not c.signal.ok:
            out.append(f"container {c.name}: {c.signal.problem()}")
    return out


def settling(containers: Iterable[ContainerHealth], require_healthy: bool) -> bool:
    """Whether waiting could still turn these into a pass (a healthcheck still ``starting``,
    the engine restarting a container, an agent's signal not yet healthy) rather than a verdict
    being final already (missing, stopped, Docker's ``unhealthy``)."""
    waiting = False
    for c in containers:
        if c.status == "restarting" or (require_healthy and c.health == "starting"):
            waiting = True
        elif _docker_problem(c, require_healthy) is not None:
            return False
        elif c.signal is not None and not c.signal.ok:
            waiting = True
    return waiting


def _not_found(exc: Exception) -> bool:
    from docker.errors import NotFound

    return isinstance(exc, NotFound)


def signal_argv(spec: ContainerSpec) -> tuple[str, ...]:
    """The command that asks the container's agent whether it is healthy (its
    ``health_signal``; empty for none)."""
    return spec.health_signal


def read_health(
    api: DockerApi,
    names: Sequence[str],
    signals: Mapping[str, Sequence[str]] | None = None,
) -> list[ContainerHealth]:
    """Inspect each named container (a missing one is ``missing``, not an error) and, for a
    running one with a command in ``signals``, run its health signal.

    Raises:
        CheckpointctlError: the engine could not be asked.
    """
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    out: list[ContainerHealth] = []
    for name in names:
        try:
            state = parse_health(name, api.inspect_container(name))
        except (DockerException, RequestException) as exc:
            if not _not_found(exc):
                raise CheckpointctlError(f"inspecting container {name} failed: {exc}") from exc
            state = parse_health(name, None)
        argv = (signals or {}).get(name)
        if argv and state.status == "running":
            try:
                signal = run_signal(api, name, argv)
            except (DockerException, RequestException) as exc:
                raise CheckpointctlError(
                    f"running the health signal of container {name} failed: {exc}"
                ) from exc
            state = dataclasses.replace(state, signal=signal)
        out.append(state)
    return out


def _wanted(desired: DesiredState) -> tuple[list[str], dict[str, tuple[str, ...]]]:
    names = [c.name for c in desired.containers]
    signals = {c.name: signal_argv(c) for c in desired.containers if signal_argv(c)}
    return names, signals


def check_gate(
    transport: Transport,
    desired: DesiredState,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> list[str]:
    """Problems that fail the health gate on this host (empty when it passes).

    Waits while a container is still starting or its agent's signal is not yet healthy, at
    most ``desired.health.timeout`` seconds.
    """
    names, signals = _wanted(desired)
    if not names:
        return []
    require = desired.health.require_healthy
    deadline = time.monotonic() + desired.health.timeout
    api = transport.docker().api
    while True:
        states = read_health(api, names, signals)
        problems = gate_problems(states, require)
        if not problems or not settling(states, require) or time.monotonic() >= deadline:
            return problems
        sleep(POLL_SECONDS)


def healthy_now(transport: Transport, desired: DesiredState) -> bool:
    """Whether the host's wanted containers pass the gate right now (no waiting): what a
    location-aware rollout asks of a location's other hosts before taking one down."""
    names, signals = _wanted(desired)
    if not names:
        return True
    states = read_health(transport.docker().api, names, signals)
    return not gate_problems(states, desired.health.require_healthy)


__all__ = [
    "ContainerHealth",
    "check_gate",
    "gate_problems",
    "healthy_now",
    "parse_health",
    "read_health",
    "settling",
    "signal_argv",
]
