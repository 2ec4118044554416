"""Data-collection settings: what each checkpoint container may send off-site.

One JSON file per container, ``/etc/checkpoint/<container>/collection.json`` (mode 0644, root),
mounted read-only into the container. Drift is shown per toggle ("screenshots: false → true"),
because that is the question a privacy reviewer asks.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from checkpointctl.model import Action, Change, FieldChange, Finding, Host, JSONValue, Planned
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.files import (
    FileState,
    FileWant,
    StaleFile,
    glob_command,
    metadata_changes,
    parse_glob_output,
    parse_stat_output,
    stat_command,
    stat_files,
    write,
)
from checkpointctl.resources.paths import PathRepair, apply_path_target, repair_change
from checkpointctl.spec import CHECKPOINT_ROOT, CollectionSpec, DesiredState
from checkpointctl.transport import safepath
from checkpointctl.transport.base import CommandResult, Transport
from checkpointctl.transport.command import finish
from checkpointctl.transport.safepath import Violation

FILE_MODE = 0o644
GLOB = f"{CHECKPOINT_ROOT}/*/collection.json"


@dataclass(frozen=True, slots=True)
class CollectionActual:
    files: dict[str, FileState]
    contents: dict[str, bytes]
    """Full contents of the files whose hash differs from the desired one (to explain drift)."""
    unsafe: tuple[Violation, ...] = ()
    """Why the desired files were not read (a directory on their way is not safe)."""


CollectionTarget = FileWant | StaleFile | PathRepair
"""What a collection change plans towards: the file to write, or the stale one to remove."""


def _want(spec: CollectionSpec) -> FileWant:
    return FileWant(spec.file_path, spec.render(), FILE_MODE, 0, 0)


def _settings(raw: bytes) -> dict[str, JSONValue]:
    try:
        doc: JSONValue = json.loads(raw)
    except ValueError:
        return {}
    if not isinstance(doc, dict):
        return {}
    collect = doc.get("collect")
    profile = doc.get("profile")
    out: dict[str, JSONValue] = {"profile": profile if isinstance(profile, str) else None}
    if isinstance(collect, dict):
        out.update({str(k): v for k, v in collect.items() if isinstance(v, bool | str | int)})
    return out


def content_changes(want: CollectionSpec, actual: bytes | None) -> list[FieldChange]:
    """Per-toggle differences between the desired settings and the file's content."""
    desired: dict[str, JSONValue] = {"profile": want.profile, **dict(want.settings)}
    have = _settings(actual) if actual is not None else {}
    out = [
        FieldChange(key, have.get(key), value)
        for key, value in desired.items()
        if have.get(key) != value
    ]
    out.extend(FieldChange(k, v, None) for k, v in sorted(have.items()) if k not in desired)
    if not out and actual is not None:
        out.append(FieldChange("content", "non-canonical", "canonical JSON"))
    return out


class CollectionResource(BatchedResource[CollectionTarget, CollectionActual, tuple[str, ...]]):
    """The collection files of all desired containers, plus removal of stale ones."""

    kind: ClassVar[str] = "collection"

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[tuple[str, ...]]:
        """Which collection files exist (to find stale ones), and the desired ones' state (the
        context: the desired files' paths)."""
        wanted = sorted({c.file_path for c in desired.collection})
        commands = [glob_command(GLOB)]
        if wanted:
            commands.append(stat_command(wanted))
        return ReadPlan(tuple(commands), context=tuple(wanted))

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[tuple[str, ...]],
        results: Sequence[CommandResult],
    ) -> CollectionActual:
        """Parse; stat the stale files too (a second round trip only when there are some), and
        read in full the desired files whose hash differs, to explain the drift per toggle."""
        host = transport.host.name
        existing = parse_glob_output(finish(host, results[0], check=True).text())
        wanted = plan.context
        files = {}
        if wanted:
            refused = safepath.refusal(results[1])
            if refused is not None:
                return CollectionActual({}, {}, tuple(refused))
            files = parse_stat_output(wanted, finish(host, results[1], check=True).text())
        files.update(stat_files(transport, sorted(set(existing) - set(wanted))))
        files = dict(sorted(files.items()))
        wants = {c.file_path: _want(c) for c in desired.collection}
        contents: dict[str, bytes] = {}
        for path, state in files.items():
            want = wants.get(path)
            if state.exists and want is not None and state.sha256 != want.sha256:
                data = safepath.read(transport, path)
                if data is not None:
                    contents[path] = data
        return CollectionActual(files, contents)

    def diff(
        self, desired: DesiredState, actual: CollectionActual
    ) -> list[Planned[CollectionTarget]]:
        if actual.unsafe:
            # nothing was read through it: repair first, the engine then reads again
            return [Planned(*repair_change(v)) for v in actual.unsafe]
        changes: list[Planned[CollectionTarget]] = []
        wanted = set()
        for spec in desired.collection:
            want = _want(spec)
            wanted.add(want.path)
            have = actual.files.get(want.path, FileState(want.path, False))
            address = f"collection/{spec.container}"
            source = desired.source("data_collection")
            if not have.exists:
                created = Change(
                    address,
                    Action.CREATE,
                    (
                        FieldChange("profile", None, spec.profile),
                        *(FieldChange(k, None, v) for k, v in spec.settings),
                    ),
                    reason=f"{want.path} is missing",
                    source=source,
                )
                changes.append(Planned(created, want))
                continue
            fields = metadata_changes(want, have)
            if have.sha256 != want.sha256:
                fields = content_changes(spec, actual.contents.get(want.path)) + fields
            if fields:
                updated = Change(
                    address,
                    Action.UPDATE,
                    tuple(fields),
                    reason=f"{want.path} differs",
                    source=source,
                )
                changes.append(Planned(updated, want))
        for path, have in sorted(actual.files.items()):
            if have.exists and path not in wanted:
                container = path.removeprefix(CHECKPOINT_ROOT + "/").split("/", 1)[0]
                deleted = Change(
                    f"collection/{container}",
                    Action.DELETE,
                    (FieldChange("file", path, None),),
                    reason="no policy wants this container any more",
                )
                changes.append(Planned(deleted, StaleFile(path)))
        return changes

    def findings(self, desired: DesiredState, actual: CollectionActual) -> list[Finding]:
        return []

    def apply(self, transport: Transport, change: Planned[CollectionTarget]) -> None:
        """Write or remove a collection file, or repair an unsafe directory, through
        :mod:`~checkpointctl.transport.safepath`."""
        target = change.desired
        if isinstance(target, PathRepair):
            apply_path_target(transport, target)
        elif isinstance(target, StaleFile):
            safepath.remove(transport, target.path)
        else:
            write(transport, target)
