"""Vendor auto-updaters on a host: jobs that pull images behind the policy's back.

Uptrends' installer adds an hourly job (cron on Linux) running ``docker-compose pull``, ``down``
and ``up``; others use Watchtower or a systemd timer. Each replaces the digests pinned in Git with
whatever the registry serves, so the next drift is a replacement nobody reviewed. This resource
only reports them (a finding; it changes nothing): the fix is to remove the job and let the
update pipeline (``checkpointctl update``/``pin``, review, ``apply``) roll images out.

One fixed script (no value from a policy) greps the crontabs and the administrator's systemd
units for an image pull, printing ``<file>:<line>:<text>``; the parse keeps the file and line and
a short, printable excerpt.

Updaters that run as containers are found in the containers the containers resource reads
anyway (no extra round trip; :func:`container_updaters`, reported with that resource's
findings and by ``status``):

* **Watchtower**: a running container whose image is a ``…/watchtower`` repository
  (``containrrr/watchtower`` and its forks) or that carries Watchtower's own label
  (``com.centurylinklabs.watchtower=true``, which its image sets);
* **a Compose project running a vendor's image**: a container with Compose's project label
  (``com.docker.compose.project``) whose image is of a vendor's repository (one the vendor
  profiles name, :data:`VENDOR_REPOSITORIES`, or one a vendor checkpoint of the policy runs):
  that is the vendor's own installation, whose hourly job runs ``docker compose pull`` and
  ``up`` on it.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Never

from checkpointctl.errors import ResourceError
from checkpointctl.model import Finding, Host, Planned
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.containers.images import normalise_reference
from checkpointctl.resources.containers.parse import ContainerActual
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.batch import Command
from checkpointctl.transport.command import finish

KIND = "updater"
PULL = r"docker(-| )compose([^|;&]*)? pull|docker( image)? pull|watchtower"
"""An extended regular expression for a line that pulls images."""
_SCRIPT = r"""exec grep -s -H -n -E -e "$1" -- /etc/crontab /etc/cron.d/* /etc/cron.hourly/* \
  /etc/cron.daily/* /var/spool/cron/crontabs/* /etc/systemd/system/*.service \
  /etc/systemd/system/*.timer
"""
"""One ``grep`` over every crontab and unit (``-s``: a pattern matching no file is silent),
so a drift pays one process for it, however many files a host has; ``exec``: not a shell
waiting for it as well."""
ANSWERS = frozenset({0, 1, 2})
"""``grep``'s exit statuses that are answers: lines found, none, and a file it could not read
(a pattern that matched no file is such a file). Any other status (126, 127: no ``grep`` to
run) is a failed read, never "no updater"."""
_LINE = re.compile(r"^(/[^:\n]+):(\d+):(.*)$")
EXCERPT = 100


@dataclass(frozen=True, slots=True)
class AutoUpdater:
    """One line of a crontab or unit that pulls images."""

    path: str
    line: int
    excerpt: str

    def describe(self) -> str:
        return f"{self.path}:{self.line} pulls images ({self.excerpt!r})"


def parse_updaters(text: str) -> tuple[AutoUpdater, ...]:
    """The script's output → updaters, in file and line order (unparsable lines skipped)."""
    out: list[AutoUpdater] = []
    for raw in text.splitlines():
        m = _LINE.match(raw)
        if m is None:
            continue
        excerpt = "".join(ch if ch.isprintable() else "?" for ch in m.group(3).strip())
        out.append(AutoUpdater(m.group(1), int(m.group(2)), excerpt[:EXCERPT]))
    return tuple(sorted(out, key=lambda u: (u.path, u.line)))


def answer(host: str, result: CommandResult) -> str:
    """The read's output when its exit status is one of :data:`ANSWERS`.

    Raises:
        CommandFailed: any other status.
    """
    if result.rc not in ANSWERS:
        finish(host, result, check=True)  # raises: the status is not 0
    return result.text()


def read_command() -> Command:
    return Command(("sh", "-c", _SCRIPT, "sh", PULL), read_only=True)


def findings_for(updaters: Sequence[AutoUpdater]) -> list[Finding]:
    return [
        Finding(
            f"{KIND}{u.path}",
            f"auto-updater {u.describe()}: it replaces the image digests pinned in Git; remove "
            "it and roll images out with the update pipeline (checkpointctl update, review, "
            "apply)",
        )
        for u in updaters
    ]


WATCHTOWER_LABEL = "com.centurylinklabs.watchtower"
"""The label Watchtower's image puts on its own container."""
COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
VENDOR_REPOSITORIES = frozenset(
    {
        "uptrends.azurecr.io/win2022/checkpoint",
        "uptrends.azurecr.io/win2022/transactionprocessor",
        "datadog/synthetics-private-location-worker",
        "gcr.io/datadoghq/synthetics-private-location-worker",
        "checkly/agent",
        "newrelic/synthetics-job-manager",
        "quay.io/newrelic/synthetics-job-manager",
    }
)
"""The vendors' published repositories (the profiles' images, and the mirrors their pages
name); a unit test keeps it in step with ``policy.vendors``."""


class ContainerUpdaterKind(StrEnum):
    WATCHTOWER = "watchtower"
    COMPOSE = "compose"


@dataclass(frozen=True, slots=True)
class ContainerUpdater:
    """A container that updates images, or a Compose project's container of a vendor image."""

    kind: ContainerUpdaterKind
    container: str
    image: str
    project: str = ""
    service: str = ""

    @property
    def address(self) -> str:
        return f"{KIND}/container/{self.container}"

    def describe(self) -> str:
        if self.kind is ContainerUpdaterKind.WATCHTOWER:
            return f"container {self.container} runs Watchtower ({self.image}), which pulls images"
        return (
            f"compose project {self.project} (service {self.service or '?'}, container "
            f"{self.container}) runs the vendor image {self.image}; the vendor's job pulls it "
            "(docker compose pull/up)"
        )


def repository_of(image: str) -> str:
    """``registry/repo:tag@sha256:…`` → ``registry/repo`` (Docker Hub's long forms removed)."""
    ref = normalise_reference(image.partition("@")[0])
    head, _, last = ref.rpartition("/")
    name = last.partition(":")[0]
    return f"{head}/{name}" if head else name


def _is_watchtower(c: ContainerActual) -> bool:
    labels = dict(c.labels)
    named = repository_of(c.image).rpartition("/")[2] == "watchtower"
    return c.status == "running" and (named or labels.get(WATCHTOWER_LABEL) == "true")


def container_updaters(
    containers: Sequence[ContainerActual], vendor_repositories: Collection[str]
) -> tuple[ContainerUpdater, ...]:
    """Watchtower, and Compose projects' containers of a vendor's image, by container name
    (ours are never one: checkpointctl runs no Compose project and no Watchtower)."""
    repositories = {repository_of(r) for r in (*VENDOR_REPOSITORIES, *vendor_repositories)}
    out: list[ContainerUpdater] = []
    for c in containers:
        if c.managed:
            continue
        labels = dict(c.labels)
        if _is_watchtower(c):
            out.append(ContainerUpdater(ContainerUpdaterKind.WATCHTOWER, c.name, c.image))
        elif COMPOSE_PROJECT in labels and repository_of(c.image) in repositories:
            out.append(
                ContainerUpdater(
                    ContainerUpdaterKind.COMPOSE,
                    c.name,
                    c.image,
                    labels[COMPOSE_PROJECT],
                    labels.get(COMPOSE_SERVICE, ""),
                )
            )
    return tuple(sorted(out, key=lambda u: u.container))


def vendor_repositories_of(desired: DesiredState) -> frozenset[str]:
    """The repositories the policy's vendor checkpoints run (a mirror, or the lab's stand-ins)."""
    return frozenset(s.image.repository for s in desired.containers if s.vendor)


def container_updater_findings(updaters: Sequence[ContainerUpdater]) -> list[Finding]:
    return [
        Finding(
            u.address,
            f"auto-updater {u.describe()}: it replaces the image digests pinned in Git; remove "
            "it and roll images out with the update pipeline (checkpointctl update, review, "
            "apply)",
        )
        for u in updaters
    ]


class AutoUpdatersResource(BatchedResource[Never, tuple[AutoUpdater, ...], None]):
    """Reports jobs that pull images on a host; never plans or applies anything."""

    kind: ClassVar[str] = KIND

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        """The crontabs' and units' ``grep`` on a host whose policy runs containers; none on
        one that runs none: with no image pinned there, a job that pulls images replaces
        nothing the policy holds (and ``status`` still lists it)."""
        if not desired.containers:
            return ReadPlan(context=None)
        return ReadPlan((read_command(),), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> tuple[AutoUpdater, ...]:
        if not plan.commands:
            return ()
        return parse_updaters(answer(transport.host.name, results[0]))

    def diff(self, desired: DesiredState, actual: tuple[AutoUpdater, ...]) -> list[Planned[Never]]:
        return []

    def findings(self, desired: DesiredState, actual: tuple[AutoUpdater, ...]) -> list[Finding]:
        return findings_for(actual)

    def apply(self, transport: Transport, change: Planned[Never]) -> None:
        raise ResourceError(f"{change.address}: auto-updaters are reported, never changed")


__all__ = [
    "ANSWERS",
    "VENDOR_REPOSITORIES",
    "AutoUpdater",
    "AutoUpdatersResource",
    "ContainerUpdater",
    "ContainerUpdaterKind",
    "answer",
    "container_updater_findings",
    "container_updaters",
    "findings_for",
    "parse_updaters",
    "read_command",
    "repository_of",
    "vendor_repositories_of",
]
