"""``checkpointctl update``: the vendor's hourly auto-update, as a gated pull request.

For every container whose policy says what it ``track``s (a tag, or a semver range: see
:mod:`tracking`), ask the registry what that points at now. A digest other than the pinned one
is a candidate: its manifest is fetched (and checked against the digest), it is scanned (a report
in the repository's scan folder, or Trivy/Grype when installed: :mod:`scanning`), and the
policy's scan gate (threshold and CVE allow-list with owner, reason and expiry) judges it. Only a
candidate that passes is written into the policy, in place, changing the image scalar and nothing
else (:mod:`yamlsplice`). One that fails is never written; the report says why.

With an inventory, each item also names the hosts whose desired state runs the container and the
rollout a merge will take (update strategy, window, health timeout, hosts by ``location``), for
the pull request's body. Nothing here touches a host.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, Protocol

from checkpointctl.errors import CheckpointctlError
from checkpointctl.gitops.reference import ImageReference, ReferenceError, parse_reference
from checkpointctl.gitops.registry import Manifest
from checkpointctl.gitops.scanning import (
    ScanError,
    judge,
    obtain_report,
    repo_root,
    report_path,
)
from checkpointctl.gitops.tracking import Track, TrackError, parse_track
from checkpointctl.gitops.yamlsplice import ImageSite, SpliceError, find_images, splice_all
from checkpointctl.model import Host
from checkpointctl.model.locations import by_location, min_healthy_of
from checkpointctl.model.update import (
    LocationHosts,
    Rollout,
    ScanSource,
    UpdateItem,
    UpdateReport,
    UpdateStatus,
    Verdict,
)
from checkpointctl.policy.build import scan_gate
from checkpointctl.spec import DesiredState, ScanGate
from checkpointctl.yamlsource import SourceError, expand_paths, parse_documents, read_text


class Registry(Protocol):
    """What ``update`` asks of a registry (``gitops.registry.RegistryClient``)."""

    def resolve(self, ref: ImageReference) -> str: ...

    def tags(self, ref: ImageReference) -> list[str]: ...

    def manifest(self, ref: ImageReference, digest: str) -> Manifest: ...


@dataclass(frozen=True, slots=True)
class Fleet:
    """The inventory's hosts and their desired states, to say which hosts a bump reaches."""

    hosts: tuple[Host, ...]
    states: Mapping[str, DesiredState]

    def running(self, policy: str, container: str) -> list[str]:
        """Hosts whose desired state takes ``container`` from policy ``policy``."""
        return [
            h.name
            for h in self.hosts
            if (state := self.states.get(h.name)) is not None
            and policy in state.policies
            and any(c.name == container for c in state.containers)
        ]

    def rollout(self, hosts: Sequence[str]) -> Rollout | None:
        if not hosts:
            return None
        groups = by_location([h for h in self.hosts if h.name in hosts])
        first = self.states[hosts[0]]
        return Rollout(
            strategy=first.updates.strategy,
            window=first.updates.window,
            health_timeout=first.health.timeout,
            locations=tuple(
                LocationHosts(k, tuple(h.name for h in v), min_healthy_of(v))
                for k, v in sorted(groups.items())
            ),
        )


def gate_of(document: Any) -> ScanGate:
    """``spec.registries.scan`` of one raw policy document (for a run without an inventory)."""
    spec = document.get("spec") if isinstance(document, Mapping) else None
    regs = spec.get("registries") if isinstance(spec, Mapping) else None
    scan = regs.get("scan") if isinstance(regs, Mapping) else None
    if not isinstance(scan, Mapping):
        return ScanGate()
    return scan_gate(scan)


@dataclass(frozen=True, slots=True)
class _Context:
    registry: Registry
    repo: Path
    today: date
    fleet: Fleet | None
    scanners: bool


def _candidate(ref: ImageReference, track: Track, tag: str, digest: str) -> str:
    """The image as it will be written: the tag stays for people when the policy wrote one
    (and a range's pick is always shown), the digest decides what runs."""
    if ref.tag is not None or track.is_range:
        return f"{ref.name}:{tag}@{digest}"
    return f"{ref.name}@{digest}"


def _judge_all(
    ctx: _Context, gates: Sequence[ScanGate], ref: ImageReference, digest: str
) -> Verdict:
    """Every gate that governs a host running the image must pass; the first refusal wins."""
    verdicts: list[Verdict] = []
    for gate in dict.fromkeys(gates):  # distinct, in order
        path = report_path(ctx.repo, gate, digest)
        try:
            report = obtain_report(path, f"{ref.name}@{digest}", scanners=ctx.scanners)
        except ScanError as exc:
            source = ScanSource.REPORT_FILE if path.is_file() else ScanSource.NONE
            return Verdict(False, str(exc), source, str(path))
        verdicts.append(judge(gate, digest, report, ctx.today))
    return next((v for v in verdicts if not v.ok), verdicts[0])


def _examine(ctx: _Context, path: str, site: ImageSite, policy: str, gate: ScanGate) -> UpdateItem:
    assert site.track is not None
    item = UpdateItem(
        path=path,
        line=site.line,
        col=site.col,
        container=site.container,
        track=site.track,
        status=UpdateStatus.ERROR,
        current=site.value,
    )
    if site.templated:
        return dataclasses.replace(
            item,
            status=UpdateStatus.SKIPPED,
            message="templated image: track the variable where it is defined",
        )
    try:
        ref = parse_reference(site.value)
        track = parse_track(site.track)
    except (ReferenceError, TrackError) as exc:
        return dataclasses.replace(item, message=str(exc))
    hosts = ctx.fleet.running(policy, site.container) if ctx.fleet else []
    rollout = ctx.fleet.rollout(hosts) if ctx.fleet else None
    item = dataclasses.replace(item, rollout=rollout)
    try:
        picked = track.tag if track.tag is not None else track.pick(ctx.registry.tags(ref))
        if picked is None:
            return dataclasses.replace(
                item, message=f"no release tag of {ref.name} is in the range {track.text!r}"
            )
        tag = picked
        tagged = dataclasses.replace(ref, tag=tag, digest=None)
        digest = ctx.registry.resolve(tagged)
        if digest == ref.digest:
            return dataclasses.replace(item, status=UpdateStatus.CURRENT, candidate_tag=tag)
        manifest = ctx.registry.manifest(tagged, digest)
    except CheckpointctlError as exc:
        return dataclasses.replace(item, message=str(exc))
    item = dataclasses.replace(
        item,
        candidate=_candidate(ref, track, tag, digest),
        candidate_tag=tag,
        manifest_type=manifest.media_type,
        manifest_size=manifest.size,
    )
    gates = [ctx.fleet.states[h].registries.scan for h in hosts] if ctx.fleet and hosts else []
    verdict = _judge_all(ctx, gates or [gate], ref, digest)
    status = UpdateStatus.BUMPED if verdict.ok else UpdateStatus.BLOCKED
    return dataclasses.replace(item, status=status, verdict=verdict)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.update{os.getpid()}")
    with tmp.open("wb") as fh:
        fh.write(text.encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


def update_paths(
    paths: Sequence[str],
    registry: Registry,
    *,
    check: bool = False,
    fleet: Fleet | None = None,
    today: date | None = None,
    scanners: bool = True,
) -> UpdateReport:
    """Follow every ``track`` under ``paths``; write passing candidates unless ``check``."""
    ctx = _Context(registry, repo_root(list(paths)), today or date.today(), fleet, scanners)
    items: list[UpdateItem] = []
    written: list[str] = []
    problems: list[str] = []
    for file in expand_paths(list(paths)):
        try:
            text = read_text(file)
            documents = [d.data for d in parse_documents(text, str(file))]
        except SourceError as exc:
            problems.append(str(exc.diagnostic))
            continue
        found: list[tuple[ImageSite, UpdateItem]] = []
        for site in find_images(text):
            if site.track is None:
                continue
            doc = documents[site.document] if site.document < len(documents) else {}
            meta = doc.get("metadata") if isinstance(doc, Mapping) else None
            policy = str(meta.get("name", "")) if isinstance(meta, Mapping) else ""
            found.append((site, _examine(ctx, str(file), site, policy, gate_of(doc))))
        changes = [
            (site, item.candidate)
            for site, item in found
            if item.status is UpdateStatus.BUMPED and item.candidate
        ]
        if changes and not check:
            try:
                _write_atomic(file, splice_all(text, changes))
                written.append(str(file))
            except SpliceError as exc:
                problems.append(f"{file}: {exc}")
                found = [
                    (s, dataclasses.replace(i, status=UpdateStatus.ERROR, message=str(exc)))
                    if i.status is UpdateStatus.BUMPED
                    else (s, i)
                    for s, i in found
                ]
        items.extend(item for _, item in found)
    return UpdateReport(check, tuple(items), tuple(written), tuple(problems))
