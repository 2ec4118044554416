"""The containers resource: read every container over the host's Docker engine, plan, converge.

This module is the thin I/O shell around pure parts: ``container_parse`` (inspect JSON →
actual), ``container_diff`` (plan and findings), ``container_compile`` (spec → create request)
and ``images`` (trust, scan gate, digest verification).

Apply is level-based: it re-reads the host and re-derives the work for one container from
``Change.desired`` (a :class:`ContainerTarget`), so applying twice is harmless. A replacement is
create-before-destroy: pull and verify, start ``<name>--next``, wait until it runs (and is healthy
when it has a check, and answers its ``health_signal`` when it declares one), and only then stop,
rename and remove the old one. After a container is created or replaced, the running containers
that depend on it (``depends_on``) are restarted in start order, as Compose does for
``depends_on`` with ``restart: true``. Any failure before the
swap removes the new container and leaves the old one running untouched; a failure during the
swap puts the old one back. A running container that publishes a host port the new one needs
cannot run beside it: its plan says destroy-first (stop, rename, create, and the old one back on
failure); :func:`~checkpointctl.resources.containers.diff.action_for` decides, for the plan and
again for apply.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import ClassVar

from checkpointctl.errors import ResourceError
from checkpointctl.model import Action, Finding, Host, JSONValue, Planned
from checkpointctl.model.jsondoc import JSONObject, as_list, as_object, as_text
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.containers.compile import (
    CreateRequest,
    compile_create,
    compile_update,
)
from checkpointctl.resources.containers.diff import (
    ContainerTarget,
    action_for,
    address,
    container_fields,
    container_findings,
    diff_containers,
)
from checkpointctl.resources.containers.images import check_gate, pull_verified
from checkpointctl.resources.containers.objects import SOCKET_PROBE, ObjectKind, ensure_object
from checkpointctl.resources.containers.parse import (
    ContainerActual,
    ContainersActual,
    is_managed,
    parse_actual,
)
from checkpointctl.resources.containers.signal import SignalResult, run_signal
from checkpointctl.resources.updaters import (
    container_updater_findings,
    container_updaters,
    vendor_repositories_of,
)
from checkpointctl.spec import OWNER_LABEL, ContainerSpec, DesiredState
from checkpointctl.transport.base import CommandResult, DockerApi, Transport

NEXT_SUFFIX = "--next"
OLD_SUFFIX = "--old"
STOP_TIMEOUT = 10
"""Seconds the old container gets to stop before the engine kills it."""
SETTLE_SECONDS = 2.0
"""A container without a healthcheck must stay running this long to count as started."""
POLL_SECONDS = 0.25
LOG_TAIL_LINES = 20
DOCKER_SOCKET = "/var/run/docker.sock"
"""Where the engine that ``docker system dial-stdio`` reaches listens on a host."""
PAUSE_ENV = "CHECKPOINTCTL_TEST_PAUSE_AT"
"""Test-only hook: ``<step>:<marker file>`` makes a replacement stop at ``step`` (one of
:data:`PAUSE_STEPS`), write the marker (``<pid> <step>``) and sleep, so the fault suite can
``kill -9`` the controller at exactly that step without mocks
(tests/integration/faults/test_fault_replace_kill.py). Unset, it costs one environ lookup."""
PAUSE_STEPS = ("after-pull", "after-create", "after-start", "after-stop-old", "before-rename")
"""The steps of a create-before-destroy replacement, in order. ``before-rename``: the old
container is already renamed ``<name>--old``, the new one is still ``<name>--next``."""


class ContainersResource(BatchedResource[ContainerTarget, ContainersActual, None]):
    """``container/<name>``: checkpoint containers, pinned, hardened and replaced safely.

    Its read (all containers and the local images they run) is :meth:`read_plan` then
    :meth:`read_finish`."""

    kind: ClassVar[str] = "container"

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        """Nothing to run ahead when containers are wanted (the engine is always read); else
        whether the host has an engine at all: a host with no engine has no containers."""
        if desired.containers:
            return ReadPlan(context=None)
        return ReadPlan((SOCKET_PROBE,), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> ContainersActual:
        """Every container over the host's engine; none when nothing is wanted and the host
        has no engine socket (light hosts), so a firewall-only policy needs no dockerd."""
        if results and not results[0].ok:
            return parse_actual((), (), datetime.now(UTC))
        return read_actual(transport.docker().api)

    def diff(
        self, desired: DesiredState, actual: ContainersActual
    ) -> list[Planned[ContainerTarget]]:
        return diff_containers(desired, actual)

    def findings(self, desired: DesiredState, actual: ContainersActual) -> list[Finding]:
        """The containers' findings, and the updaters among them (Watchtower, a vendor's
        Compose project): found in this read, so they cost no round trip of their own."""
        updaters = container_updaters(actual.containers, vendor_repositories_of(desired))
        return [*container_findings(desired, actual), *container_updater_findings(updaters)]

    def apply(self, transport: Transport, change: Planned[ContainerTarget]) -> None:
        """Converge the one container ``change`` is about.

        Raises:
            ResourceError: the image is refused (trust, scan gate, digest), the new container
                did not become ready (the old one keeps running), or the engine failed.
        """
        converge(transport.docker().api, change.desired)


def _engine_errors() -> tuple[type[Exception], ...]:
    """What a call into the engine may raise: the SDK's errors and, below them, the HTTP
    client's (a dropped connection). Imported late so commands that never touch Docker skip
    the SDK."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return (DockerException, RequestException)


def _failures() -> tuple[type[Exception], ...]:
    """Engine errors plus our own refusals: what a step of a replacement may fail with."""
    return (ResourceError, *_engine_errors())


def _not_found(exc: Exception) -> bool:
    from docker.errors import NotFound

    return isinstance(exc, NotFound)


def _explain(exc: Exception) -> str:
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_actual(api: DockerApi) -> ContainersActual:
    """Inspect every container, and the images of the managed ones, then parse.

    Raises:
        ResourceError: the engine could not be listed.
    """
    try:
        inspects: list[JSONObject] = []
        for summary in api.containers(all=True) or ():
            try:
                inspects.append(api.inspect_container(str(summary["Id"])))
            except _engine_errors() as exc:
                if not _not_found(exc):  # removed between list and inspect: gone is fine
                    raise
        images: list[JSONObject] = list(api.images(all=False) or ())
        wanted = {str(i.get("Image")) for i in inspects if is_managed(i)}
        for image_id in sorted(wanted):
            try:
                images.append(api.inspect_image(image_id))
            except _engine_errors() as exc:
                if not _not_found(exc):
                    raise
    except _engine_errors() as exc:
        raise ResourceError(f"reading containers failed: {_explain(exc)}") from exc
    return parse_actual(inspects, images, datetime.now(UTC))


def converge(api: DockerApi, target: ContainerTarget) -> None:
    """Bring container ``target.name`` to ``target.spec`` (or remove it), from a fresh read."""
    try:
        if target.spec is None:
            _remove_owned(api, read_actual(api), target.name)
            return
        spec = target.spec
        check_gate(spec.image, target.registries, target.scan)
        # normally the create phase of the networks and volumes resources made them already
        if spec.network:
            ensure_object(api, ObjectKind.NETWORK, spec.network)
        for mount in spec.mounts:
            if mount.kind == "volume":
                ensure_object(api, ObjectKind.VOLUME, mount.source)
        actual = read_actual(api)
        current = actual.container(spec.name)
        if current is not None and not current.managed:
            raise ResourceError(
                f"a container named {spec.name} exists without checkpointctl's label "
                f"({OWNER_LABEL}); refusing to touch it: remove or rename it"
            )
        if current is None:
            _create(api, spec, target)
            _restart_dependants(api, target)
            return
        fields = container_fields(spec, current, actual)
        if not fields:
            return
        action = action_for(fields, spec, current)
        if action is Action.UPDATE:
            _update(api, spec, current, {f.path for f in fields}, target)
            return
        if action is Action.REPLACE_DESTROY_FIRST:
            _replace_destroy_first(api, spec, current, target, actual)
        else:
            _replace_create_first(api, spec, current, target, actual)
        _restart_dependants(api, target)
    except ResourceError as exc:
        raise ResourceError(f"{address(target.name)}: {exc}") from exc
    except _engine_errors() as exc:
        raise ResourceError(f"{address(target.name)}: docker: {_explain(exc)}") from exc


def _restart_dependants(api: DockerApi, target: ContainerTarget) -> None:
    """After ``target`` was created or replaced, restart the containers that depend on it, in
    start order, each waited for like a new one (Compose's ``depends_on`` with ``restart``).
    One that is gone, stopped or not ours by now is left alone (level-based: apply re-reads).

    Raises:
        ResourceError: a dependant did not come back (running, and healthy if it has a check).
    """
    if not target.dependants:
        return
    actual = read_actual(api)
    for name in target.dependants:
        c = actual.container(name)
        if c is None or not c.managed or c.status != "running":
            continue
        api.restart(c.id, timeout=STOP_TIMEOUT)
        try:
            _wait_ready(api, c.id, target)
        except ResourceError as exc:
            tail = _log_tail(api, c.id)
            raise ResourceError(
                f"dependant {name} restarted after it: {exc}{': ' + tail if tail else ''}"
            ) from exc


def _pause_at(step: str) -> None:
    """The :data:`PAUSE_ENV` hook (a no-op unless a test set it for this step)."""
    value = os.environ.get(PAUSE_ENV)
    if not value:
        return
    want, _, marker = value.partition(":")
    if want != step or not marker:
        return
    with open(marker, "w", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()} {step}\n")
    time.sleep(3600)


def _remove_owned(api: DockerApi, actual: ContainersActual, name: str) -> None:
    """Stop and remove ``name`` if it is ours; absent is done; someone else's is refused."""
    c = actual.container(name)
    if c is None:
        return
    if not c.managed:
        raise ResourceError(f"container {name} is not managed by checkpointctl; not removing it")
    api.stop(c.id, timeout=STOP_TIMEOUT)
    api.remove_container(c.id, v=True, force=True)


def _create_container(api: DockerApi, request: CreateRequest) -> str:
    """POST the create request; secret env values are revealed here and nowhere else."""
    body: dict[str, JSONValue] = dict(request.body)
    plain = body.get("Env")
    env: list[JSONValue] = list(plain) if isinstance(plain, list) else []
    for key, secret in request.secret_env:
        try:
            env.append(f"{key}={secret.reveal().decode('utf-8')}")
        except UnicodeDecodeError:
            raise ResourceError(f"env {key}: secret value is not UTF-8 text") from None
    body["Env"] = env
    created = api.create_container_from_config(body, name=request.name)
    return str(created["Id"])


def _log_tail(api: DockerApi, cid: str) -> str:
    try:
        raw = api.logs(cid, stdout=True, stderr=True, tail=LOG_TAIL_LINES)
    except _engine_errors():
        return ""
    return raw.decode("utf-8", "replace").strip()[-2000:]


def _wait_ready(api: DockerApi, cid: str, target: ContainerTarget) -> None:
    """Wait until ``cid`` runs (and is healthy when it has a check, and answers its health
    signal when it declares one), or raise why not.

    Bounded by ``target.health_timeout``. A container without a healthcheck must stay running
    for ``SETTLE_SECONDS`` so one that exits right after starting is not taken for working.
    """
    deadline = time.monotonic() + target.health_timeout
    settle = min(SETTLE_SECONDS, target.health_timeout)
    running_since: float | None = None
    signal = target.spec.health_signal if target.spec is not None else ()
    said: SignalResult | None = None
    while True:
        state = as_object(api.inspect_container(cid).get("State"))
        status = as_text(state.get("Status"), "unknown")
        health = as_object(state.get("Health"))
        has_check = isinstance(state.get("Health"), dict)
        health_status = str(health.get("Status")) if health else None
        wants_health = has_check and target.require_healthy
        if status in ("exited", "dead") or state.get("Restarting") or status == "restarting":
            raise ResourceError(f"exited {state.get('ExitCode', '?')}")
        if wants_health and health_status == "unhealthy":
            log = as_list(health.get("Log"))
            last = str(as_object(log[-1]).get("Output", "")).strip() if log else ""
            raise ResourceError(f"unhealthy{': ' + last[-500:] if last else ''}")
        now = time.monotonic()
        if status == "running":
            running_since = running_since if running_since is not None else now
            ready = (wants_health and health_status == "healthy") or (
                not wants_health and now - running_since >= settle
            )
            if ready:
                # the agent's own word too, before it may take over from the old container
                said = run_signal(api, cid, signal) if signal else None
                if said is None or said.ok:
                    return
        else:
            running_since = None
        if now >= deadline:
            if said is not None and not said.ok:
                raise ResourceError(
                    f"not healthy after {target.health_timeout:g}s: {said.problem()}"
                )
            what = "healthy" if wants_health else "running"
            raise ResourceError(
                f"not {what} after {target.health_timeout:g}s "
                f"(status {status}{', health ' + health_status if health_status else ''})"
            )
        time.sleep(POLL_SECONDS)


def _start_and_wait(api: DockerApi, cid: str, target: ContainerTarget) -> None:
    """Start ``cid`` and wait for it; on failure raise with the container's last log lines."""
    try:
        api.start(cid)
        _wait_ready(api, cid, target)
    except _failures() as exc:
        reason = str(exc) if isinstance(exc, ResourceError) else _explain(exc)
        tail = _log_tail(api, cid)
        raise ResourceError(f"new container {reason}{': ' + tail if tail else ''}") from exc


def _discard(api: DockerApi, cid: str) -> None:
    """Remove a container we created, best effort: if this fails, the leftover carries our
    label and a ``--next`` name, so the next plan shows it as an orphan to delete."""
    with contextlib.suppress(*_engine_errors()):
        api.remove_container(cid, v=True, force=True)


def _clear_leftover(api: DockerApi, actual: ContainersActual, name: str) -> None:
    """Remove ``name`` (a ``--next``/``--old`` left by an interrupted apply) if it is ours."""
    c = actual.container(name)
    if c is None:
        return
    if not c.managed:
        raise ResourceError(f"container {name} exists and is not ours; cannot use that name")
    api.remove_container(c.id, v=True, force=True)


def _create(api: DockerApi, spec: ContainerSpec, target: ContainerTarget) -> None:
    """A container that does not exist yet: pull, verify, create, start, wait (or remove it)."""
    pull_verified(api, spec.image)
    cid = _create_container(api, compile_create(spec))
    try:
        _start_and_wait(api, cid, target)
    except ResourceError:
        _discard(api, cid)
        raise


def _update(
    api: DockerApi,
    spec: ContainerSpec,
    c: ContainerActual,
    paths: set[str],
    target: ContainerTarget,
) -> None:
    """In place: ``docker update`` for memory/restart, then start, unpause or restart."""
    if paths & {"limits.memory", "limits.memory_swap", "restart"}:
        api.update_container(c.id, **compile_update(spec))
    if c.status == "paused":
        api.unpause(c.id)
    elif c.status != "running":
        api.start(c.id)
    elif "state.health" in paths:
        api.restart(c.id, timeout=STOP_TIMEOUT)
    else:
        return
    try:
        _wait_ready(api, c.id, target)
    except ResourceError as exc:
        tail = _log_tail(api, c.id)
        raise ResourceError(f"container {exc}{': ' + tail if tail else ''}") from exc


def _prepare_replace(
    api: DockerApi, spec: ContainerSpec, actual: ContainersActual
) -> tuple[str, str]:
    """Pull and verify the new image (a failed pull or a wrong digest changes nothing) and clear
    what an interrupted replacement left; the names of the new and the old container."""
    pull_verified(api, spec.image)
    _pause_at("after-pull")
    next_name, old_name = spec.name + NEXT_SUFFIX, spec.name + OLD_SUFFIX
    _clear_leftover(api, actual, next_name)
    _clear_leftover(api, actual, old_name)
    return next_name, old_name


def _replace_create_first(
    api: DockerApi,
    spec: ContainerSpec,
    old: ContainerActual,
    target: ContainerTarget,
    actual: ContainersActual,
) -> None:
    """Create-before-destroy: the new container runs before the old one stops."""
    next_name, old_name = _prepare_replace(api, spec, actual)
    new_id = _create_container(api, compile_create(spec, next_name))
    _pause_at("after-create")
    try:
        _start_and_wait(api, new_id, target)
    except ResourceError as exc:
        _discard(api, new_id)
        raise ResourceError(f"{exc}; the old container keeps running") from exc
    _pause_at("after-start")
    # The new one works. Swap names; from here on every failure puts the old one back.
    was_running = old.status == "running"
    try:
        api.stop(old.id, timeout=STOP_TIMEOUT)
    except _engine_errors() as exc:
        _discard(api, new_id)
        raise ResourceError(f"stopping the old container failed: {_explain(exc)}") from exc
    _pause_at("after-stop-old")
    try:
        api.rename(old.id, old_name)
    except _engine_errors() as exc:
        restored = _restore(api, old.id, None, was_running)
        _discard(api, new_id)
        raise ResourceError(
            f"renaming the old container failed: {_explain(exc)}{restored}"
        ) from exc
    _pause_at("before-rename")
    try:
        api.rename(new_id, spec.name)
    except _engine_errors() as exc:
        _discard(api, new_id)
        restored = _restore(api, old.id, spec.name, was_running)
        raise ResourceError(
            f"renaming the new container failed: {_explain(exc)}{restored}"
        ) from exc
    api.remove_container(old.id, v=True, force=True)


def _replace_destroy_first(
    api: DockerApi,
    spec: ContainerSpec,
    old: ContainerActual,
    target: ContainerTarget,
    actual: ContainersActual,
) -> None:
    """For a container publishing a host port the new one needs: stop, try, restore on failure."""
    _, old_name = _prepare_replace(api, spec, actual)
    api.stop(old.id, timeout=STOP_TIMEOUT)
    api.rename(old.id, old_name)
    try:
        new_id = _create_container(api, compile_create(spec))
    except _failures() as exc:
        restored = _restore(api, old.id, spec.name, True)
        raise ResourceError(f"creating the new container failed: {exc}{restored}") from exc
    try:
        _start_and_wait(api, new_id, target)
    except ResourceError as exc:
        _discard(api, new_id)
        restored = _restore(api, old.id, spec.name, True) or "; the old container was restarted"
        raise ResourceError(f"{exc}{restored}") from exc
    api.remove_container(old.id, v=True, force=True)


def _restore(api: DockerApi, cid: str, name: str | None, start: bool) -> str:
    """Give the old container its name back and start it again; "" or why that failed too."""
    try:
        if name is not None:
            api.rename(cid, name)
        if start:
            api.start(cid)
    except _engine_errors() as exc:
        return f"; restoring the old container also failed: {_explain(exc)}"
    return ""


__all__ = ["ContainersResource", "converge", "read_actual"]
