"""Managed paths: the directories checkpointctl writes below, kept safe to write below.

``/etc/checkpoint``, each of its subdirectories (credentials, a container's directory, the trust
store), the directories of credentials kept elsewhere below it, and ``/var/lib/checkpointctl``
must be real directories, owned by root, not writable by group or others; every directory above
them too (:mod:`~checkpointctl.transport.safepath`). One that is not is *security drift*: a plan
change ``path/<directory>`` naming the path and what is wrong (link, owner, mode, type), shown by
``drift``/``status`` in every format like any other change.

``apply`` repairs the entry itself: a link is unlinked (its target never touched) and an empty
root-owned directory made in its place; a foreign owner or writable mode is set back. A FIFO,
device or file where a directory should be, or a problem above the managed roots (``/etc`` a
link, ``/var/lib`` writable), is not repaired: apply refuses the host (exit 1) and names it.
This resource comes first in the apply order, and after a repair the engine reads the host
again, so nothing is planned from what was seen through the link.

The same survey reports the firewall's commit-confirmed files (the saved table and the timer's
pidfile) when no timer of ours is alive to use them: a crash left them; apply removes them.
"""

from __future__ import annotations

import posixpath
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from checkpointctl.model import Action, Change, FieldChange, Finding, Host, Planned
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.spec import CHECKPOINT_ROOT, SECRET_FILES_DIR, STATE_DIR, DesiredState
from checkpointctl.transport import safepath
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.safepath import Problem, Violation, below

KIND = "path"
CREDENTIALS_DIR = f"{CHECKPOINT_ROOT}/credentials"
ROLLBACK_FILE = f"{STATE_DIR}/firewall.rollback.nft"
"""The firewall's saved table while a change awaits confirmation (see the firewall resource)."""
ROLLBACK_PID_FILE = f"{STATE_DIR}/firewall.rollback.pid"
ROLLBACK_TIMER_NAME = "checkpointctl-firewall-rollback"


@dataclass(frozen=True, slots=True)
class PathRepair:
    """``Change.desired`` of a directory to repair (or, when not ``repairable``, to refuse)."""

    violation: Violation
    repairable: bool


@dataclass(frozen=True, slots=True)
class Leftover:
    """``Change.desired`` of a file checkpointctl left behind, to remove."""

    path: str


PathTarget = PathRepair | Leftover


@dataclass(frozen=True, slots=True)
class PathsActual:
    violations: tuple[Violation, ...]
    leftovers: tuple[str, ...]


def address(path: str) -> str:
    return f"{KIND}{path}"


def _wanted(v: Violation) -> str:
    if v.problem is Problem.OWNER:
        return "uid 0"
    if v.problem is Problem.MODE and v.value.isdigit():
        return f"{int(v.value, 8) & ~0o022:04o}"
    return "directory"


def repair_change(
    v: Violation, roots: Sequence[str] = (CHECKPOINT_ROOT, STATE_DIR)
) -> tuple[Change, PathRepair]:
    """The plan's change for one unsafe path and its target (pure): what is wrong, and what
    apply does. A pair, so each resource wraps it in its own ``Planned`` type."""
    managed = any(v.path == r or below(v.path, r) for r in roots)
    repairable = managed and v.problem is not Problem.TYPE
    if not repairable:
        then = "apply cannot repair it and refuses this host"
    elif v.problem is Problem.LINK:
        then = "apply replaces the link by an empty directory; its target is never touched"
    else:
        then = "apply sets it back to root, with no group or other write"
    change = Change(
        address(v.path),
        Action.UPDATE,
        (FieldChange(v.problem.value, v.found, _wanted(v)),),
        reason=f"security: {v.message}; {then}",
    )
    return change, PathRepair(v, repairable)


def leftover_change(path: str) -> tuple[Change, Leftover]:
    change = Change(
        address(path),
        Action.DELETE,
        (FieldChange("file", path, None),),
        reason="left over from an interrupted firewall change (no rollback timer uses it)",
    )
    return change, Leftover(path)


def managed_directories(desired: DesiredState, state_dir: str = STATE_DIR) -> list[str]:
    """Every directory the resources write below for ``desired`` (pure)."""
    dirs = {CHECKPOINT_ROOT, CREDENTIALS_DIR, SECRET_FILES_DIR, state_dir}
    dirs.update(posixpath.dirname(c.file_path) for c in desired.credentials)
    dirs.update(posixpath.dirname(c.file_path) for c in desired.collection)
    dirs.update(f"{CHECKPOINT_ROOT}/{c.name}" for c in desired.containers)
    return sorted(dirs)


def apply_path_target(transport: Transport, target: PathTarget) -> None:
    """Repair a directory, refuse an unrepairable one, or remove a leftover file.

    Raises:
        UnsafePathError: the path cannot be repaired (apply refuses the host).
    """
    if isinstance(target, PathRepair):
        if not target.repairable:
            raise safepath.UnsafePathError(transport.host.name, [target.violation])
        safepath.repair_directory(transport, target.violation)
    else:
        safepath.remove(transport, target.path)


def is_repair(change: Change) -> bool:
    """Whether a change repairs a managed directory (after it, the engine reads again)."""
    return change.kind == KIND and change.action is Action.UPDATE


@dataclass(frozen=True, slots=True)
class PathsResource(BatchedResource[PathTarget, PathsActual, None]):
    """The managed directories' safety, and files left over by a crash."""

    kind: ClassVar[str] = KIND
    state_dir: str = STATE_DIR

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        """One command: the survey of every managed directory (one ``stat``)."""
        command = safepath.survey_command(
            CHECKPOINT_ROOT,
            managed_directories(desired, self.state_dir),
            (ROLLBACK_FILE, ROLLBACK_PID_FILE),
            ROLLBACK_TIMER_NAME,
        )
        return ReadPlan((command,), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> PathsActual:
        survey = safepath.parse_survey(transport.host.name, results[0])
        return PathsActual(survey.violations, survey.leftovers)

    def diff(self, desired: DesiredState, actual: PathsActual) -> list[Planned[PathTarget]]:
        """A repair per unsafe directory (parents first), then the leftovers' removal."""
        roots = (CHECKPOINT_ROOT, self.state_dir)
        planned: list[tuple[Change, PathTarget]] = [
            repair_change(v, roots) for v in sorted(actual.violations, key=lambda v: v.path)
        ]
        planned += [leftover_change(p) for p in actual.leftovers]
        return [Planned(change, target) for change, target in planned]

    def findings(self, desired: DesiredState, actual: PathsActual) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[PathTarget]) -> None:
        apply_path_target(transport, change.desired)
