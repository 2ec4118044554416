"""``--rollback-on-fail``: put the converged hosts of a halted batch back on their previous image.

What "previous" means: the plan of every host records, for each container it replaces, the image
the container ran before (the ``image`` field's *before* side, a ``repo@sha256:…`` digest the
engine still has locally, since a replacement only removes the old *container*). Rolling back
converges the containers resource alone to a desired state where those containers name their
previous image again; everything else (files, firewall, the rest of each container's settings)
stays as the halted rollout left it, because that is what ran and passed on the host.

Limits, on purpose: a container the rollout *created* has no previous image and is left running
(removing it would leave the host without a checkpoint); a previous image known only by its ID,
not by a registry digest, cannot be pinned and is not rolled back; the previous image must still
pass the registry trust and scan gate of the current policy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from checkpointctl.model import Action, Change, Finding, Host
from checkpointctl.resources.base import AnyResource, HostStep, KindPlan
from checkpointctl.spec import DesiredState, ImageRef
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command

CONTAINER_KIND = "container"
AFTER_HALT = "after the rollout halted (--rollback-on-fail)"
AFTER_GATE = "after its health gate failed"
"""Why a host was rolled back, as its findings say it: a failed health gate rolls a host back
always; a halted batch rolls its converged hosts back only when asked."""


def previous_images(changes: Sequence[Change]) -> dict[str, str]:
    """Container name → the ``repo@sha256:…`` it ran before, for containers whose image this
    plan changes on an existing container (pure)."""
    out: dict[str, str] = {}
    for change in changes:
        if change.kind != CONTAINER_KIND:
            continue
        if not (change.action.is_replace or change.action is Action.UPDATE):
            continue
        for f in change.fields:
            if f.path == "image" and isinstance(f.before, str) and "@sha256:" in f.before:
                out[change.address.split("/", 1)[1]] = f.before
    return out


def rollback_state(desired: DesiredState, previous: Mapping[str, str]) -> DesiredState:
    """``desired`` with each container in ``previous`` pinned to its previous image (pure)."""
    containers = []
    for spec in desired.containers:
        ref = previous.get(spec.name)
        if ref is not None:
            repository, _, digest = ref.rpartition("@")
            spec = dataclasses.replace(spec, image=ImageRef(repository, digest))
        containers.append(spec)
    return dataclasses.replace(desired, containers=tuple(containers))


class OnlyAddresses:
    """A containers resource restricted to some addresses: a rollback touches the containers
    it rolls back and nothing else (no orphan removal, no other container, no findings)."""

    def __init__(self, inner: AnyResource, addresses: frozenset[str]) -> None:
        self._inner = inner
        self._addresses = addresses

    @property
    def kind(self) -> str:
        return self._inner.kind

    def start(self, desired: DesiredState) -> HostStep:
        return _OnlyStep(self._inner.start(desired), self._addresses)


class _OnlyStep:
    """The inner resource's step, its plan cut down to :attr:`OnlyAddresses._addresses`."""

    def __init__(self, inner: HostStep, addresses: frozenset[str]) -> None:
        self._inner = inner
        self._addresses = addresses

    @property
    def kind(self) -> str:
        return self._inner.kind

    def commands(self, host: Host) -> tuple[Command, ...]:
        return self._inner.commands(host)

    def read(self, transport: Transport, results: Sequence[CommandResult]) -> None:
        self._inner.read(transport, results)

    def plan(self) -> KindPlan:
        full = self._inner.plan()
        mine = tuple(c for c in full.changes if c.change.address in self._addresses)
        return KindPlan(full.kind, mine, ())


def rollback_findings(
    previous: Mapping[str, str], status: str, error: str | None, why: str = AFTER_HALT
) -> list[Finding]:
    """How a rollback ended, as findings on the host's result (pure)."""
    if status in ("converged", "in-sync"):
        return [
            Finding(f"{CONTAINER_KIND}/{name}", f"rolled back to {ref} {why}", "warning")
            for name, ref in sorted(previous.items())
        ]
    detail = f": {error}" if error else ""
    return [
        Finding("rollback", f"rollback to the previous image failed ({status}){detail}", "error")
    ]


__all__ = [
    "AFTER_GATE",
    "AFTER_HALT",
    "OnlyAddresses",
    "previous_images",
    "rollback_findings",
    "rollback_state",
]
