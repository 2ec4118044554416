"""Networks and named volumes of checkpoints: planned, labelled as ours, removed when unwanted.

A multi-container checkpoint joins a user-defined network and may mount named volumes
(:attr:`~checkpointctl.spec.ContainerSpec.network`, volume :class:`~checkpointctl.spec.Mount`).
Each is an address of its own (``network/<name>``, ``volume/<name>``) with two typed actions:

* ``create`` when a wanted one is missing (a network removed by hand is drift); it is created
  with checkpointctl's owner label (:data:`~checkpointctl.spec.OWNER_LABEL`);
* ``delete`` when one carrying that label is wanted by no container of the host's policy and no
  container that stays uses it. One without the label is never removed, whatever its name: an
  operator's network or volume is theirs. One of ours still used by a container that stays (an
  unmanaged container joined to it) is left in place, said so in a finding.

An existing object of a wanted name is used as it is, labelled or not (the operator may have
made it): that is no change, only an ``info`` finding when it is not ours, since it will never
be cleaned up by checkpointctl.

Order matters both ways: a container cannot start before its network exists, and an object in
use cannot be removed. So each kind has two resources (:class:`Phase`): the ``create`` phase runs
before the containers resource and plans only creations, the ``remove`` phase runs after it
(once orphan containers are gone) and plans only removals. Together they are the whole diff; a
second apply plans nothing.

Reads are small: the create phase lists objects only when the policy wants some; the remove
phase lists only the objects carrying our label and, only if one of them is unwanted, the
container summaries (which carry each container's networks and mounts) to see who uses it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from checkpointctl.errors import ResourceError
from checkpointctl.model import Action, Change, FieldChange, Finding, Host, Planned
from checkpointctl.model.jsondoc import JSONObject, as_list, as_object, as_strs, as_text
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.spec import OWNER_LABEL, DesiredState
from checkpointctl.transport.base import CommandResult, DockerApi, Transport, Watch
from checkpointctl.transport.batch import Command

DOCKER_SOCKET = "/var/run/docker.sock"
SOCKET_PROBE = Command(
    ("sh", "-c", '[ -S "$1" ]', "sh", DOCKER_SOCKET), watch=Watch((DOCKER_SOCKET,))
)
"""Whether the host has a Docker engine: the shell's own test, inside a batch no process
(:data:`~checkpointctl.transport.framing.RUNNER`); its answer is the socket's, a file's."""
OWNED = {OWNER_LABEL: "true"}
OWNER_FILTER = {"label": [f"{OWNER_LABEL}=true"]}
ENGINE_NETWORKS = frozenset({"bridge", "host", "none", "default"})
"""The engine's own networks: never created, planned or removed here."""


class ObjectKind(StrEnum):
    """The engine objects a checkpoint needs besides its containers; the value is the address
    prefix and the resource kind."""

    NETWORK = "network"
    VOLUME = "volume"

    @property
    def driver(self) -> str:
        """The driver checkpointctl creates this kind with."""
        return "bridge" if self is ObjectKind.NETWORK else "local"


class Phase(StrEnum):
    """Which half of the diff a resource plans (see the module docstring)."""

    CREATE = "create"
    REMOVE = "remove"


@dataclass(frozen=True, slots=True)
class EngineObject:
    """A network or volume as the engine lists it."""

    name: str
    id: str
    driver: str
    managed: bool
    """Carries checkpointctl's owner label: created by us."""


@dataclass(frozen=True, slots=True)
class ObjectUser:
    """A container (from its summary) and the networks and volumes it uses."""

    name: str
    managed: bool
    networks: tuple[str, ...]
    volumes: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ObjectsActual:
    """One kind's objects on a host (all of them, or only ours in the remove phase), and the
    containers that use them when that was needed."""

    objects: tuple[EngineObject, ...] = ()
    users: tuple[ObjectUser, ...] = ()

    def get(self, name: str) -> EngineObject | None:
        return next((o for o in self.objects if o.name == name), None)


@dataclass(frozen=True, slots=True)
class ObjectTarget:
    """What ``Change.desired`` carries for ``network/<name>`` or ``volume/<name>``."""

    kind: ObjectKind
    name: str
    present: bool
    """True: make it exist (labelled as ours); False: remove it if it is ours."""


def address(kind: ObjectKind, name: str) -> str:
    return f"{kind.value}/{name}"


# -- desired ------------------------------------------------------------------------------------


def wanted(desired: DesiredState, kind: ObjectKind) -> dict[str, str]:
    """Names of the objects of ``kind`` the host's containers need → the first container that
    needs each (for the plan's source line), in name order."""
    out: dict[str, str] = {}
    for spec in desired.containers:
        if kind is ObjectKind.NETWORK:
            user_defined = spec.network and spec.network not in ENGINE_NETWORKS
            names: Iterable[str] = (spec.network,) if user_defined else ()
        else:
            names = (m.source for m in spec.mounts if m.kind == "volume")
        for name in names:
            out.setdefault(name, spec.name)
    return dict(sorted(out.items()))


# -- parse (pure) -------------------------------------------------------------------------------


def _owned(labels: JSONObject) -> bool:
    return labels.get(OWNER_LABEL) == "true"


def parse_networks(raw: Sequence[JSONObject]) -> tuple[EngineObject, ...]:
    """``GET /networks`` → objects, by name."""
    out = [
        EngineObject(
            as_text(n.get("Name")),
            as_text(n.get("Id")),
            as_text(n.get("Driver")),
            _owned(as_object(n.get("Labels"))),
        )
        for n in raw
    ]
    return tuple(sorted(out, key=lambda o: o.name))


def parse_volumes(raw: JSONObject) -> tuple[EngineObject, ...]:
    """``GET /volumes`` (``{"Volumes": [...]}``) → objects, by name (a volume's id is its
    name)."""
    out = []
    for v in as_list(raw.get("Volumes")):
        doc = as_object(v)
        name = as_text(doc.get("Name"))
        owned = _owned(as_object(doc.get("Labels")))
        out.append(EngineObject(name, name, as_text(doc.get("Driver")), owned))
    return tuple(sorted(out, key=lambda o: o.name))


def parse_users(summaries: Sequence[JSONObject]) -> tuple[ObjectUser, ...]:
    """``GET /containers/json?all=1`` → each container's networks and named volumes."""
    out = []
    for c in summaries:
        names = as_strs(c.get("Names"))
        networks = as_object(as_object(c.get("NetworkSettings")).get("Networks"))
        mounts = [as_object(m) for m in as_list(c.get("Mounts"))]
        out.append(
            ObjectUser(
                name=(names[0] if names else as_text(c.get("Id"))).lstrip("/"),
                managed=_owned(as_object(c.get("Labels"))),
                networks=tuple(sorted(networks)),
                volumes=tuple(
                    sorted(as_text(m.get("Name")) for m in mounts if m.get("Type") == "volume")
                ),
            )
        )
    return tuple(sorted(out, key=lambda u: u.name))


# -- diff (pure) --------------------------------------------------------------------------------


def _uses(user: ObjectUser, kind: ObjectKind, name: str) -> bool:
    return name in (user.networks if kind is ObjectKind.NETWORK else user.volumes)


def staying_users(
    desired: DesiredState, actual: ObjectsActual, kind: ObjectKind, name: str
) -> list[str]:
    """Containers using ``name`` that this apply does not remove (every container except our
    own that no policy wants, which the containers resource deletes before the remove phase)."""
    keep = {s.name for s in desired.containers}
    return [
        u.name for u in actual.users if _uses(u, kind, name) and (not u.managed or u.name in keep)
    ]


def plan_creates(
    desired: DesiredState, actual: ObjectsActual, kind: ObjectKind
) -> list[Planned[ObjectTarget]]:
    """A ``create`` for each wanted object that does not exist, by name."""
    out: list[Planned[ObjectTarget]] = []
    for name, container in wanted(desired, kind).items():
        if actual.get(name) is not None:
            continue
        change = Change(
            address=address(kind, name),
            action=Action.CREATE,
            fields=(FieldChange("driver", None, kind.driver),),
            reason=f"not present; container {container} needs it",
            source=desired.source(f"containers.{container}"),
        )
        out.append(Planned(change, ObjectTarget(kind, name, present=True)))
    return out


def plan_removals(
    desired: DesiredState, actual: ObjectsActual, kind: ObjectKind
) -> list[Planned[ObjectTarget]]:
    """A ``delete`` for each of our objects that nothing wanted or staying uses, by name."""
    want = wanted(desired, kind)
    out: list[Planned[ObjectTarget]] = []
    for obj in actual.objects:
        if not obj.managed or obj.name in want:
            continue
        if staying_users(desired, actual, kind, obj.name):
            continue
        change = Change(
            address=address(kind, obj.name),
            action=Action.DELETE,
            fields=(FieldChange("driver", obj.driver or kind.driver, None),),
            reason="created by checkpointctl but wanted by no container of the policy",
        )
        out.append(Planned(change, ObjectTarget(kind, obj.name, present=False)))
    return out


def object_findings(
    desired: DesiredState, actual: ObjectsActual, kind: ObjectKind, phase: Phase
) -> list[Finding]:
    """Create phase: a wanted object that exists without our label (used, never removed).
    Remove phase: one of ours no policy wants that a staying container still uses."""
    out: list[Finding] = []
    if phase is Phase.CREATE:
        for name in wanted(desired, kind):
            obj = actual.get(name)
            if obj is not None and not obj.managed:
                out.append(
                    Finding(
                        address(kind, name),
                        f"{kind.value} {name} was not created by checkpointctl (no "
                        f"{OWNER_LABEL} label): used as it is, never removed by checkpointctl",
                        "info",
                    )
                )
        return out
    want = wanted(desired, kind)
    for obj in actual.objects:
        if not obj.managed or obj.name in want:
            continue
        users = staying_users(desired, actual, kind, obj.name)
        if users:
            out.append(
                Finding(
                    address(kind, obj.name),
                    f"{kind.value} {obj.name} was created by checkpointctl and no policy wants "
                    f"it, but {', '.join(users)} still use(s) it: left in place",
                )
            )
    return out


# -- I/O ----------------------------------------------------------------------------------------


def _engine_errors() -> tuple[type[Exception], ...]:
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return (DockerException, RequestException)


def list_objects(
    api: DockerApi, kind: ObjectKind, *, ours_only: bool = False
) -> tuple[EngineObject, ...]:
    """Every object of ``kind`` on the engine (only those with our label: ``ours_only``)."""
    filters = OWNER_FILTER if ours_only else None
    if kind is ObjectKind.NETWORK:
        return parse_networks(list(api.networks(filters=filters) or ()))
    return parse_volumes(api.volumes(filters=filters) or {})


def ensure_object(api: DockerApi, kind: ObjectKind, name: str) -> None:
    """Create ``name`` labelled as ours unless an object of that name exists (used as it is)."""
    if any(o.name == name for o in list_objects(api, kind)):
        return
    if kind is ObjectKind.NETWORK:
        api.create_network(name, driver=kind.driver, labels=OWNED)
    else:
        api.create_volume(name=name, driver=kind.driver, labels=OWNED)


def remove_object(api: DockerApi, kind: ObjectKind, name: str) -> None:
    """Remove ``name`` if it exists and is ours; gone is done; someone else's is refused."""
    obj = next((o for o in list_objects(api, kind) if o.name == name), None)
    if obj is None:
        return
    if not obj.managed:
        raise ResourceError(
            f"{kind.value} {name} was not created by checkpointctl (no {OWNER_LABEL} label); "
            "not removing it"
        )
    if kind is ObjectKind.NETWORK:
        api.remove_network(obj.id)
    else:
        api.remove_volume(obj.name)


class _ObjectsResource(BatchedResource[ObjectTarget, ObjectsActual, bool]):
    """One kind's half of the diff (``phase``); the read plan's context says whether the host
    may have no engine (a probe of its socket joins the host's batch)."""

    kind: ClassVar[str]
    object_kind: ClassVar[ObjectKind]

    def __init__(self, phase: Phase) -> None:
        self.phase = phase

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[bool]:
        """No command, except in the remove phase of a host that wants no container (it may
        have no engine at all): the shell's own test of the engine's socket."""
        if self.phase is Phase.CREATE or desired.containers:
            return ReadPlan(context=False)
        return ReadPlan((SOCKET_PROBE,), context=True)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[bool],
        results: Sequence[CommandResult],
    ) -> ObjectsActual:
        kind = self.object_kind
        if self.phase is Phase.CREATE and not wanted(desired, kind):
            return ObjectsActual()
        if plan.context and results and not results[0].ok:
            return ObjectsActual()  # no engine on this host: nothing of ours to remove
        api = transport.docker().api
        try:
            if self.phase is Phase.CREATE:
                return ObjectsActual(list_objects(api, kind))
            ours = list_objects(api, kind, ours_only=True)
            want = wanted(desired, kind)
            if all(o.name in want for o in ours):
                return ObjectsActual(ours)
            return ObjectsActual(ours, parse_users(list(api.containers(all=True) or ())))
        except _engine_errors() as exc:
            raise ResourceError(f"reading {kind.value}s failed: {exc}") from exc

    def diff(self, desired: DesiredState, actual: ObjectsActual) -> list[Planned[ObjectTarget]]:
        if self.phase is Phase.CREATE:
            return plan_creates(desired, actual, self.object_kind)
        return plan_removals(desired, actual, self.object_kind)

    def findings(self, desired: DesiredState, actual: ObjectsActual) -> list[Finding]:
        return object_findings(desired, actual, self.object_kind, self.phase)

    def apply(self, transport: Transport, change: Planned[ObjectTarget]) -> None:
        target = change.desired
        api = transport.docker().api
        try:
            if target.present:
                ensure_object(api, target.kind, target.name)
            else:
                remove_object(api, target.kind, target.name)
        except _engine_errors() as exc:
            raise ResourceError(f"{change.address}: docker: {exc}") from exc


class NetworksResource(_ObjectsResource):
    """``network/<name>``: the user-defined networks of checkpoints."""

    kind: ClassVar[str] = ObjectKind.NETWORK.value
    object_kind: ClassVar[ObjectKind] = ObjectKind.NETWORK


class VolumesResource(_ObjectsResource):
    """``volume/<name>``: the named volumes checkpoint containers mount."""

    kind: ClassVar[str] = ObjectKind.VOLUME.value
    object_kind: ClassVar[ObjectKind] = ObjectKind.VOLUME


def objects_of(phase: Phase) -> tuple[NetworksResource, VolumesResource]:
    """Both kinds' resources for one phase, networks first."""
    return NetworksResource(phase), VolumesResource(phase)


__all__ = [
    "EngineObject",
    "NetworksResource",
    "ObjectKind",
    "ObjectTarget",
    "ObjectUser",
    "ObjectsActual",
    "Phase",
    "VolumesResource",
    "ensure_object",
    "object_findings",
    "objects_of",
    "parse_networks",
    "parse_users",
    "parse_volumes",
    "plan_creates",
    "plan_removals",
    "remove_object",
    "staying_users",
    "wanted",
]
