"""``checkpointctl pin``: follow image tags by rewriting their digests in the policy files.

A container that says ``pin: true`` and writes its image as ``repo:tag`` (or as an earlier
``repo:tag@sha256:…``) gets the digest its tag points at now, written as
``repo:tag@sha256:…``: the digest decides what hosts run, the tag stays for people and tells
the next ``pin`` what to follow. With ``--check`` nothing is written and the report says which
images are behind their tags, which is the scheduled job's question before it opens a pull
request; the merge, not this command, rolls anything out.

Only the image scalar's text changes (see :mod:`yamlsplice`). Templated images are skipped: the
digest lives where the variable is defined.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from checkpointctl.errors import CheckpointctlError, Diagnostic, Location
from checkpointctl.gitops.reference import ImageReference, ReferenceError, parse_reference
from checkpointctl.gitops.yamlsplice import ImageSite, SpliceError, find_images, splice_all
from checkpointctl.localfile import write_atomic
from checkpointctl.yamlsource import SourceError, expand_paths, parse_documents, read_text

Status = Literal["pinned", "updated", "current", "unpinned", "behind", "skipped", "error"]
Resolve = Callable[[ImageReference], str]
"""A tag's current digest; raises CheckpointctlError when the registry cannot say."""

_NEEDS_ACTION: frozenset[Status] = frozenset({"unpinned", "behind", "error"})


@dataclass(frozen=True, slots=True)
class PinItem:
    """What ``pin`` found (and did) for one pinnable image."""

    path: str
    site: ImageSite
    status: Status
    digest: str | None = None
    """What the tag points at now (None when it could not be resolved or was not asked)."""
    new_value: str | None = None
    message: str = ""

    @property
    def location(self) -> Location:
        return Location(self.path, self.site.line, self.site.col)

    @property
    def field(self) -> str:
        return f"spec.containers.{self.site.container}.image"

    def __str__(self) -> str:
        value = self.site.value
        text = {
            "pinned": f"pinned {value} to {self.digest}",
            "updated": f"updated {value} to {self.digest}",
            "current": f"current: {value}",
            "unpinned": f"not pinned: {value} points at {self.digest}",
            "behind": f"behind its tag: {value} now points at {self.digest}",
            "skipped": f"skipped: {self.message}",
            "error": f"error: {self.message}",
        }[self.status]
        return f"{self.location}: {self.field}: {text}"


@dataclass(frozen=True, slots=True)
class PinReport:
    """Every pinnable image, the files rewritten, and files that could not be read."""

    check: bool
    items: tuple[PinItem, ...] = ()
    written: tuple[str, ...] = ()
    problems: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def exit_code(self) -> int:
        """1 for unreadable files or unresolvable images; with ``check``, also when any image
        is behind its tag or not pinned yet."""
        if self.problems or any(i.status == "error" for i in self.items):
            return 1
        if self.check and any(i.status in _NEEDS_ACTION for i in self.items):
            return 1
        return 0

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for item in self.items:
            counts[item.status] = counts.get(item.status, 0) + 1
        order: tuple[Status, ...] = (
            "behind",
            "unpinned",
            "updated",
            "pinned",
            "current",
            "skipped",
            "error",
        )
        parts = [f"{counts[s]} {s}" for s in order if counts.get(s)]
        verb = "check" if self.check else "pin"
        text = f"{verb}: " + (", ".join(parts) if parts else "no images with pin: true")
        if self.written:
            text += f"; rewrote {', '.join(self.written)}"
        if self.problems:
            text += f"; {len(self.problems)} unreadable file(s)"
        return text


def _examine(path: str, site: ImageSite, resolve: Resolve, check: bool) -> PinItem:
    if site.templated:
        return PinItem(
            path, site, "skipped", message="templated image: pin the variable where it is defined"
        )
    try:
        ref = parse_reference(site.value)
    except ReferenceError as exc:
        return PinItem(path, site, "error", message=str(exc))
    if ref.tag is None:
        return PinItem(
            path, site, "skipped", message=f"{site.value} has no tag to follow (write repo:tag)"
        )
    try:
        digest = resolve(ref)
    except CheckpointctlError as exc:
        return PinItem(path, site, "error", message=str(exc))
    new_value = ref.pinned(digest)
    if ref.digest == digest:
        return PinItem(path, site, "current", digest)
    if ref.digest is None:
        return PinItem(path, site, "unpinned" if check else "pinned", digest, new_value)
    return PinItem(path, site, "behind" if check else "updated", digest, new_value)


def pin_paths(paths: Sequence[str], resolve: Resolve, *, check: bool = False) -> PinReport:
    """Resolve every ``pin: true`` image under ``paths``; rewrite the files unless ``check``."""
    items: list[PinItem] = []
    written: list[str] = []
    problems: list[Diagnostic] = []
    for file in expand_paths(list(paths)):
        try:
            text = read_text(file)
            for _ in parse_documents(text, str(file)):  # the size, depth and alias limits
                pass
        except SourceError as exc:
            problems.append(exc.diagnostic)
            continue
        found = [_examine(str(file), s, resolve, check) for s in find_images(text) if s.pin]
        changes = [(i.site, i.new_value) for i in found if i.new_value and not check]
        if changes:
            try:
                new_text = splice_all(text, [(s, v) for s, v in changes if v])
            except SpliceError as exc:
                problems.append(Diagnostic(str(exc), Location(str(file), 1, 1)))
                continue
            write_atomic(file, new_text.encode("utf-8"), mode=None)
            written.append(str(file))
        items.extend(found)
    return PinReport(check, tuple(items), tuple(written), tuple(problems))
