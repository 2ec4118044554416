"""``update``'s report: one line per tracked image for the CI log, and a Markdown summary for
the pull request's body (what changed, the scan verdict, which hosts, the rollout it takes)."""

from __future__ import annotations

from checkpointctl.model.locations import NO_LOCATION
from checkpointctl.model.update import Rollout, UpdateItem, UpdateReport, UpdateStatus

_ORDER = (
    UpdateStatus.BUMPED,
    UpdateStatus.BLOCKED,
    UpdateStatus.ERROR,
    UpdateStatus.CURRENT,
    UpdateStatus.SKIPPED,
)


def _digest(image: str) -> str:
    return image.rpartition("@")[2] if "@" in image else "(no digest)"


def item_line(item: UpdateItem, check: bool) -> str:
    """``path:line:col: field: what happened``."""
    if item.status is UpdateStatus.BUMPED:
        verb = "would bump" if check else "bumped"
        text = f"{verb} {item.current} to {item.candidate} (scan: {item.verdict_reason})"
    elif item.status is UpdateStatus.BLOCKED:
        text = f"blocked: {item.candidate} not written: {item.verdict_reason}"
    elif item.status is UpdateStatus.CURRENT:
        text = f"current: {item.current} is what {item.track!r} points at"
    else:
        text = f"{item.status.value}: {item.message}"
    return f"{item.where}: {item.field}: {text}"


def summary_line(report: UpdateReport) -> str:
    parts = [f"{report.count(s)} {s.value}" for s in _ORDER if report.count(s)]
    verb = "update --check" if report.check else "update"
    text = f"{verb}: " + (", ".join(parts) if parts else "no images with track")
    if report.written:
        text += f"; rewrote {', '.join(report.written)}"
    if report.problems:
        text += f"; {len(report.problems)} problem(s)"
    return text


def render_text(report: UpdateReport) -> str:
    lines = [item_line(i, report.check) for i in report.items]
    lines += [f"error: {p}" for p in report.problems]
    return "\n".join([*lines, summary_line(report)]) + "\n"


def _rollout_lines(rollout: Rollout | None) -> list[str]:
    if rollout is None:
        return ["- Hosts: none in the inventory given (or no inventory given)"]
    window = rollout.window or "any time (no `updates.window`)"
    strategy = rollout.strategy
    if strategy == "manual":
        strategy += " (apply changes the image only with `--allow-image-updates`)"
    located = [loc for loc in rollout.locations if loc.location != NO_LOCATION]
    lines = [
        f"- Hosts ({len(rollout.hosts)}): "
        + "; ".join(f"{loc.location}: {', '.join(loc.hosts)}" for loc in rollout.locations),
        f"- Rollout: `updates.strategy` {strategy}; window {window}; each host's health gate "
        f"waits up to {rollout.health_timeout:g}s",
    ]
    if located:
        keep = ", ".join(f"{loc.location} {loc.min_healthy}" for loc in located)
        lines.append(
            "- By location: one host at a time per location (the first is its canary), "
            "locations in parallel; a host failing its health gate is rolled back to the "
            f"previous digest and stops its location; healthy checkpoints kept: {keep}"
        )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: UpdateReport) -> str:
    """The pull request's body: a table of changes, then one section per candidate."""
    bumped = [i for i in report.items if i.status is UpdateStatus.BUMPED]
    blocked = [i for i in report.items if i.status is UpdateStatus.BLOCKED]
    failed = [i for i in report.items if i.status is UpdateStatus.ERROR]
    out = ["## checkpointctl update", "", summary_line(report), ""]
    if bumped or blocked:
        out += [
            "| container | file | tracks | from | to | scan |",
            "|---|---|---|---|---|---|",
        ]
        for i in bumped + blocked:
            verdict = "passed" if i.status is UpdateStatus.BUMPED else "**blocked**"
            out.append(
                f"| `{i.container}` | `{i.where}` | `{_cell(i.track)}` | `{_digest(i.current)}` "
                f"| `{_digest(i.candidate or '')}` | {verdict} |"
            )
        out.append("")
    for i in bumped + blocked:
        head = "Bumped" if i.status is UpdateStatus.BUMPED else "Blocked (not written)"
        out += [f"### {head}: `{i.container}` in `{i.path}`", ""]
        out.append(f"- Image: `{i.current}` → `{i.candidate}`")
        if i.candidate_tag:
            out.append(f"- Tag: `{i.candidate_tag}` (tracks `{_cell(i.track)}`)")
        if i.manifest_type:
            out.append(f"- Manifest: `{i.manifest_type}`, {i.manifest_size} bytes, digest checked")
        if i.verdict is not None:
            word = "passed" if i.verdict.ok else "failed"
            out.append(
                f"- Scan {word} ({i.verdict.source.value}, `{i.verdict.report}`): "
                f"{_cell(i.verdict.reason)}"
            )
        out += _rollout_lines(i.rollout)
        out.append("")
    if failed or report.problems:
        out += ["### Errors", ""]
        out += [f"- `{i.where}` `{i.field}`: {_cell(i.message)}" for i in failed]
        out += [f"- {_cell(p)}" for p in report.problems]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"
