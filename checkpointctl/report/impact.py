"""Text, JSON and Markdown for an :class:`~checkpointctl.gitops.impact.Impact` (pure functions).

Text is for the terminal and CI logs, Markdown for the pull-request comment (values in code
spans, escaped like the drift report's; a size budget under GitHub's 65,536-character comment
limit, with the per-host details cut first), JSON for tools (``format_version`` 1, values whole,
secrets ``<sensitive>``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from checkpointctl.model import REDACTED, Secret
from checkpointctl.model.impact import (
    ABSENT,
    NONE_TEXT,
    FieldDelta,
    HostImpact,
    Impact,
    ResourceDelta,
)
from checkpointctl.report.display import ARROW, format_value, one_line, shorten
from checkpointctl.report.markdown import md

SYMBOLS = {"create": "+", "update": "~", "delete": "-"}
MARKDOWN_BUDGET = 60_000
_DIGEST = re.compile(r"^(sha256:[0-9a-f]{12})[0-9a-f]{52}$")
TOTAL_VALUE_CHARS = 60
TOTAL_ITEM_CHARS = 120


def compact(value: object) -> str:
    """A value on one line for people: ``{proto: tcp, port: 8443, cidrs: [10.0.0.0/8]}``.

    Empty members of mappings are left out (a rule's ``hosts: []``), strings that could be
    mistaken for another value are quoted, secrets are ``<sensitive>``.
    """
    if value is ABSENT:
        return NONE_TEXT
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, dict):
        parts = [
            f"{one_line(str(k))}: {compact(v)}"
            for k, v in value.items()
            if v not in (None, "", [], {})
        ]
        return "{" + ", ".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(compact(v) for v in value) + "]"
    return format_value(value, limit=10_000)


def short(value: object) -> str:
    """:func:`compact` for the totals: digests cut to 12 hex digits, long values in the middle
    (a list item such as a firewall rule gets more room than a scalar)."""
    if isinstance(value, str):
        m = _DIGEST.match(value)
        if m:
            return m.group(1) + "…"
    limit = TOTAL_ITEM_CHARS if isinstance(value, dict | list) else TOTAL_VALUE_CHARS
    return shorten(compact(value), limit)


def _noun(address: str, path: str, n: int) -> str:
    word = "rule" if address.startswith("firewall/") and path in ("inbound", "outbound") else "item"
    return word if n == 1 else word + "s"


def items_summary(address: str, delta: FieldDelta, *, listed: bool = True) -> str:
    """``+1 rule {…}``, ``-2 items [a] [b]``: what an item change adds and removes."""
    parts: list[str] = []
    for sign, values in (("+", delta.added), ("-", delta.removed)):
        if values:
            text = f"{sign}{len(values)} {_noun(address, delta.path, len(values))}"
            if listed:
                text += " " + ", ".join(short(v) for v in values[:2])
                if len(values) > 2:
                    text += ", …"
            parts.append(text)
    return "; ".join(parts)


def value_summary(delta: FieldDelta) -> str:
    return f"{short(delta.before)} {ARROW} {short(delta.after)}"


def _hosts(n: int) -> str:
    return f"{n} host" if n == 1 else f"{n} hosts"


def _headline(impact: Impact) -> str:
    n, total = len(impact.changed), len(impact.hosts)
    if not total:
        return "no hosts are selected by any policy on either side"
    if not n:
        return f"no host changes ({_hosts(total)} compared)"
    return f"{n} of {_hosts(total)} change"


def _host_status(h: HostImpact) -> str:
    if h.status == "added":
        return "newly managed"
    if h.status == "removed":
        return "no longer managed"
    n = len(h.resources)
    return f"{n} resource{'s' if n != 1 else ''} change{'s' if n == 1 else ''}"


def _field_lines(r: ResourceDelta, f: FieldDelta) -> list[str]:
    path = one_line(f.path)
    if f.is_items:
        lines = [f"{path}: {items_summary(r.address, f, listed=False)}"]
        lines += [f"  + {compact(v)}" for v in f.added]
        lines += [f"  - {compact(v)}" for v in f.removed]
        return lines
    if r.action == "create":
        return [f"{path}: {compact(f.after)}"]
    return [f"{path}: {compact(f.before)} {ARROW} {compact(f.after)}"]


def render_text(impact: Impact) -> str:
    """The per-host plan of a change, then the totals and the unchanged hosts."""
    out = [
        f"impact of {one_line(impact.head)} against {one_line(impact.base)} "
        f"(inventory {one_line(impact.inventory)}): {_headline(impact)}",
    ]
    for h in impact.changed:
        out += ["", f"{one_line(h.host)}: {_host_status(h)}"]
        for r in h.resources:
            out.append(f"  {SYMBOLS[r.action]} {one_line(r.address)}")
            if h.status == "changed":
                out += [f"      {line}" for f in r.fields for line in _field_lines(r, f)]
    if impact.groups:
        out += ["", "totals:"]
        out += [f"  {_hosts(len(g.hosts))}: {one_line(g.label)}" for g in impact.groups]
    if impact.unchanged and impact.changed:
        out += ["", "unchanged: " + ", ".join(one_line(n) for n in impact.unchanged)]
    out += [f"note: {one_line(n)}" for n in impact.notes]
    return "\n".join(out) + "\n"


# --- JSON ------------------------------------------------------------------------------------


def _json_value(value: object) -> object:
    if isinstance(value, Secret):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    return value


def _json_field(f: FieldDelta) -> dict[str, object]:
    out: dict[str, object] = {"path": f.path}
    if f.is_items:
        out["added"] = _json_value(f.added)
        out["removed"] = _json_value(f.removed)
        return out
    if f.before is not ABSENT:
        out["before"] = _json_value(f.before)
    if f.after is not ABSENT:
        out["after"] = _json_value(f.after)
    return out


def impact_to_json(impact: Impact) -> dict[str, object]:
    """The versioned JSON form (``format_version`` 1)."""
    counts = {
        s: sum(1 for h in impact.hosts if h.status == s)
        for s in ("changed", "added", "removed", "unchanged")
    }
    return {
        "format_version": "1",
        "base": impact.base,
        "head": impact.head,
        "inventory": impact.inventory,
        "summary": {"hosts": len(impact.hosts), **counts},
        "groups": [
            {
                "address": g.address,
                "path": g.path,
                "change": g.summary,
                "count": len(g.hosts),
                "hosts": list(g.hosts),
            }
            for g in impact.groups
        ],
        "hosts": [
            {
                "host": h.host,
                "status": h.status,
                "resources": [
                    {
                        "address": r.address,
                        "action": r.action,
                        "fields": [_json_field(f) for f in r.fields],
                    }
                    for r in h.resources
                ],
            }
            for h in impact.hosts
        ],
        "notes": list(impact.notes),
    }


def render_json(impact: Impact) -> str:
    return json.dumps(impact_to_json(impact), indent=2, ensure_ascii=False) + "\n"


# --- Markdown --------------------------------------------------------------------------------


def _code(text: str) -> str:
    """Inline code safe in a table cell; empty text stays empty.

    Nothing is Markdown or HTML inside a code span, so only two characters matter: backticks
    (the fence is made longer than any run of them in the text) and the table's ``|``, which
    GitHub splits cells on before it parses code spans (escaped as ``\\|``).
    """
    if not text:
        return ""
    body = one_line(text).replace("|", "\\|")
    run = longest = 0
    for char in body:
        run = run + 1 if char == "`" else 0
        longest = max(longest, run)
    fence = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{fence}{pad}{body}{pad}{fence}"


def _md_field(r: ResourceDelta, f: FieldDelta) -> list[str]:
    symbol = SYMBOLS[r.action]
    cells = [symbol, _code(r.address), _code(f.path)]
    if f.is_items:
        before = "<br>".join(_code("- " + compact(v)) for v in f.removed)
        after = "<br>".join(_code("+ " + compact(v)) for v in f.added)
        return ["| " + " | ".join([*cells, before, after]) + " |"]
    before = "" if r.action == "create" else _code(compact(f.before))
    return ["| " + " | ".join([*cells, before, _code(compact(f.after))]) + " |"]


def _md_host(h: HostImpact) -> list[str]:
    lines = [f"**{md(h.host)}**: {_host_status(h)}", ""]
    if h.status != "changed":
        lines.append(", ".join(f"{SYMBOLS[r.action]} {_code(r.address)}" for r in h.resources))
        return [*lines, ""]
    lines += ["| | resource | field | before | after |", "|---|---|---|---|---|"]
    for r in h.resources:
        if not r.fields:
            lines.append(f"| {SYMBOLS[r.action]} | {_code(r.address)} | | | |")
        for f in r.fields:
            lines += _md_field(r, f)
    return [*lines, ""]


def render_markdown(impact: Impact, budget: int = MARKDOWN_BUDGET) -> str:
    """A pull-request comment: headline, totals table, per-host details (folded)."""
    out = [
        "### checkpointctl impact",
        "",
        f"{_code(impact.base)} {ARROW} {_code(impact.head)} · inventory "
        f"{_code(impact.inventory)} · **{md(_headline(impact))}**",
        "",
    ]
    if impact.groups:
        out += ["| hosts | change |", "|---:|---|"]
        for g in impact.groups:
            where = " ".join(_code(p) for p in (g.address, g.path) if p)
            label = f"{where}: {md(g.summary)}" if where else md(g.summary)
            out.append(f"| {len(g.hosts)} | {label} |")
        out.append("")
    tail: list[str] = []
    if impact.unchanged and impact.changed:
        tail += ["Unchanged: " + ", ".join(_code(n) for n in impact.unchanged), ""]
    tail += [f"> note: {md(n)}" for n in impact.notes]
    used = sum(len(line) + 1 for line in out + tail) + 200
    changed = impact.changed
    if changed:
        details: list[str] = []
        shown = 0
        for h in changed:
            block = _md_host(h)
            size = sum(len(line) + 1 for line in block)
            if used + size > budget:
                break
            details += block
            used += size
            shown += 1
        out += [f"<details><summary>Per host ({shown} of {len(changed)})</summary>", ""]
        out += details
        if shown < len(changed):
            out += [f"… {len(changed) - shown} more hosts: see `--format json` or the job log.", ""]
        out += ["</details>", ""]
    out += tail
    return "\n".join(out).rstrip("\n") + "\n"


RENDERERS: dict[str, Callable[[Impact], str]] = {
    "text": render_text,
    "json": render_json,
    "markdown": render_markdown,
}
