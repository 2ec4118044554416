"""The fleet report as one self-contained HTML page: what an operator or an auditor opens.

Three reports share one page layout (:func:`fleet_page`): a run (``drift``/``apply``, a
:class:`~checkpointctl.model.RunReport`, merged or not: the page depends on the hosts' results
only), fleet health (``status``) and the impact of a change (``impact``). Each page puts the
summary first (hosts per outcome, by location when the hosts carry one), every count a link to
its rows; then a host table grouped by outcome, filterable; then per-host details and the
report's own sections (findings, expiring credentials, the privacy view).

The page is readable without JavaScript (the links, groups and details are plain HTML) and
better with it (the filter). It loads nothing: styles and script are inline, and its
Content-Security-Policy allows only those two by hash, so even a value that slipped through
escaping could not fetch or run anything. Every value goes through :func:`one_line` and is
HTML-escaped; secrets are ``<sensitive>`` by type (:mod:`checkpointctl.report.display`).
Colours come from :data:`PALETTE`, whose pairs meet WCAG AA contrast (a unit test computes it
from the page's CSS). Rendering is pure: the same data always gives the same bytes.

The page is written in pieces (:func:`page_chunks`) from counts (:class:`RowTally`) and the
parts that grow with the fleet, so a run's page can be fed host by host (:class:`RunPage`)
and streamed by ``drift``/``check`` without the run in memory; :func:`render_html` is the
same code fed a whole report.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from checkpointctl.model import (
    FORMAT_VERSION,
    Action,
    Change,
    DataCollection,
    FieldChange,
    Finding,
    HostResult,
    HostStatus,
    RunMode,
    RunReport,
)
from checkpointctl.model.health import HostHealth
from checkpointctl.model.impact import ABSENT, FieldDelta, HostImpact, Impact, ResourceDelta
from checkpointctl.model.provenance import DriftOrigin
from checkpointctl.report.display import ARROW, field_symbol, format_value, one_line
from checkpointctl.report.impact import compact, items_summary
from checkpointctl.report.status import status_rows
from checkpointctl.report.summary import (
    Tally,
    change_headline,
    change_outcome,
    host_headline,
    plural,
)

HTML_VALUE_CHARS = 200
"""Longer values are cut in the middle, as in the text report (JSON keeps them whole)."""
NO_LOCATION = "(no location)"

# --- colours and styles ---------------------------------------------------------------------

PALETTE: Mapping[str, tuple[str, str]] = {
    # name: (text colour, background colour); every pair meets WCAG AA for normal text (4.5:1)
    "page": ("#1b1f24", "#ffffff"),
    "muted": ("#57606a", "#ffffff"),
    "link": ("#0550ae", "#ffffff"),
    "head": ("#1b1f24", "#eaeef2"),
    "group": ("#1b1f24", "#f6f8fa"),
    "ok": ("#116329", "#dafbe1"),
    "warn": ("#6f4400", "#fff8c5"),
    "bad": ("#a40e26", "#ffebe9"),
    "gone": ("#512a97", "#fbefff"),
    "info": ("#0a3069", "#ddf4ff"),
    "idle": ("#424a53", "#eaeef2"),
}


@dataclass(frozen=True, slots=True)
class Category:
    """One outcome hosts are counted under (``drift``, ``healthy``…) and how it looks."""

    key: str
    label: str
    tone: str
    """A :data:`PALETTE` name."""
    always: bool = False
    """Shown in the summary even with no host in it (the outcomes people look for)."""


@dataclass(frozen=True, slots=True)
class Row:
    """One host in the table: its outcome, site, cells (HTML) and whether it has details."""

    host: str
    category: str
    location: str | None
    cells: tuple[str, ...]
    details: str = ""
    """The host's details section body (HTML); empty when there is nothing more to say."""


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    title: str
    body: str


@dataclass(frozen=True, slots=True)
class Page:
    """Everything :func:`fleet_page` lays out; built by one ``*_page`` function per report."""

    title: str
    headline: str
    categories: tuple[Category, ...]
    columns: tuple[str, ...]
    rows: tuple[Row, ...]
    sections: tuple[Section, ...] = ()
    notes: tuple[str, ...] = ()
    about: str = ""
    """One line of where the data came from (mode, revisions), under the title."""


_CSS = f"""
:root {{ color-scheme: light; }}
* {{ box-sizing: border-box; }}
body {{ margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color: {PALETTE["page"][0]}; background-color: {PALETTE["page"][1]}; }}
header, main, footer {{ max-width: 78rem; margin: 0 auto; padding: 0 1.25rem; }}
header {{ padding-top: 1.25rem; }}
h1 {{ font-size: 1.6rem; margin: 0 0 .25rem; }}
h2 {{ font-size: 1.25rem; margin: 2rem 0 .5rem; }}
h3 {{ font-size: 1.05rem; margin: 1.25rem 0 .25rem; }}
a {{ color: {PALETTE["link"][0]}; background-color: {PALETTE["link"][1]}; }}
.about, .muted, footer {{ color: {PALETTE["muted"][0]}; background-color: {PALETTE["muted"][1]}; }}
nav ul {{ list-style: none; padding: 0; margin: .5rem 0; display: flex; flex-wrap: wrap;
  gap: .25rem 1rem; }}
.headline {{ font-weight: 600; }}
.tiles {{ display: flex; flex-wrap: wrap; gap: .75rem; margin: .75rem 0; padding: 0;
  list-style: none; }}
.tile {{ display: block; min-width: 9rem; padding: .6rem .9rem; border-radius: .4rem;
  border: 1px solid #8c959f; text-decoration: none; }}
.tile .count {{ display: block; font-size: 1.8rem; font-weight: 700; line-height: 1.1; }}
table {{ border-collapse: collapse; width: 100%; margin: .5rem 0; }}
caption {{ text-align: left; font-weight: 600; padding: .25rem 0; }}
th, td {{ border: 1px solid #8c959f; padding: .3rem .5rem; text-align: left;
  vertical-align: top; }}
thead th {{ color: {PALETTE["head"][0]}; background-color: {PALETTE["head"][1]}; }}
tr.group th {{ color: {PALETTE["group"][0]}; background-color: {PALETTE["group"][1]}; }}
td.num {{ text-align: right; }}
code, .value {{ font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .9em; overflow-wrap: anywhere; }}
del, ins {{ text-decoration: none; }}
.badge {{ display: inline-block; padding: 0 .4rem; border-radius: .3rem; font-weight: 600; }}
.filters {{ display: none; gap: .5rem 1rem; flex-wrap: wrap; align-items: end;
  margin: .5rem 0; }}
.js .filters {{ display: flex; }}
.filters label {{ display: flex; flex-direction: column; font-size: .9rem; }}
.filters input, .filters select {{ font: inherit; padding: .2rem .3rem; }}
.note {{ padding: .5rem .75rem; border-left: .3rem solid #8c959f; }}
.host-details {{ margin-top: 1rem; }}
"""
_CSS += "".join(
    f".t-{name} {{ color: {fg}; background-color: {bg}; }}\n" for name, (fg, bg) in PALETTE.items()
)
_CSS += """
@media print {
  @page { margin: 1.5cm; }
  body { font-size: 11pt; }
  nav, .filters, .js .filters { display: none; }
  tbody[hidden] { display: table-row-group; }
  tr[hidden] { display: table-row; }
  a { text-decoration: none; }
  .tile, .badge, del, ins, thead th, tr.group th { print-color-adjust: exact;
    -webkit-print-color-adjust: exact; }
  thead { display: table-header-group; }
  tr, .tile { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
}
"""

_SCRIPT = """
document.documentElement.classList.add("js");
(function () {
  var form = document.getElementById("filters");
  if (!form) { return; }
  var text = form.elements.namedItem("q");
  var status = form.elements.namedItem("status");
  var place = form.elements.namedItem("location");
  var rows = Array.prototype.slice.call(document.querySelectorAll("#hosts tr[data-host]"));
  var shown = document.getElementById("shown");
  function apply() {
    var t = text.value.trim().toLowerCase(), s = status.value, l = place ? place.value : "";
    var count = 0;
    rows.forEach(function (row) {
      var ok = (!t || row.dataset.host.toLowerCase().indexOf(t) >= 0) &&
        (!s || row.dataset.status === s) && (!l || row.dataset.location === l);
      row.hidden = !ok;
      if (ok) { count += 1; }
    });
    document.querySelectorAll("#hosts tbody").forEach(function (group) {
      group.hidden = !group.querySelector("tr[data-host]:not([hidden])");
    });
    shown.textContent = count + " of " + rows.length + " hosts shown";
  }
  form.addEventListener("input", apply);
  form.addEventListener("change", apply);
  form.addEventListener("submit", function (event) { event.preventDefault(); });
  document.querySelectorAll("[data-filter-status]").forEach(function (link) {
    link.addEventListener("click", function () {
      status.value = link.dataset.filterStatus;
      if (place) { place.value = link.dataset.filterLocation || ""; }
      text.value = "";
      apply();
    });
  });
  apply();
})();
"""


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src {_csp_hash(_CSS)}; script-src {_csp_hash(_SCRIPT)}; "
    "img-src 'none'; form-action 'none'; base-uri 'none'"
)
"""Nothing but the page's own style and script: no request can leave the page."""


# --- small HTML helpers ---------------------------------------------------------------------


def esc(text: str) -> str:
    """``text`` as one printable line, escaped for HTML text and attribute values."""
    return html.escape(one_line(text), quote=True)


def _value(value: object) -> str:
    return f'<span class="value">{html.escape(format_value(value, limit=HTML_VALUE_CHARS))}</span>'


def _badge(label: str, tone: str) -> str:
    return f'<span class="badge t-{tone}">{esc(label)}</span>'


_TABLE_END = "</tbody></table>"


def _table_start(caption: str, columns: Sequence[str]) -> str:
    """A table up to its first body row (the rows, then :data:`_TABLE_END`, follow)."""
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in columns)
    return f"<table><caption>{esc(caption)}</caption><thead><tr>{head}</tr></thead><tbody>"


def _table_row(row: Sequence[str]) -> str:
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"


def _table(caption: str, columns: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    return _table_start(caption, columns) + "".join(_table_row(r) for r in rows) + _TABLE_END


def _lines(text: str) -> str:
    """A multi-line cell: each line escaped on its own, joined by line breaks."""
    return "<br>".join(esc(line) for line in text.split("\n"))


# --- the page -------------------------------------------------------------------------------


@dataclass
class RowTally:
    """What the page's summary, filters and captions need of its host rows, counted row by
    row: a page streamed as its hosts finish keeps this, not the rows."""

    rows: int = 0
    categories: dict[str, int] = field(default_factory=dict)
    places: dict[str, dict[str, int]] = field(default_factory=dict)
    """Rows per location (:data:`NO_LOCATION` for none) and category."""
    locations: set[str] = field(default_factory=set)
    details: bool = False
    """Some row has details (the page then has a details section)."""

    def add(self, row: Row) -> None:
        """Count one more row (in page order)."""
        self.rows += 1
        self.categories[row.category] = self.categories.get(row.category, 0) + 1
        cell = self.places.setdefault(row.location or NO_LOCATION, {})
        cell[row.category] = cell.get(row.category, 0) + 1
        if row.location:
            self.locations.add(row.location)
        self.details = self.details or bool(row.details)


@dataclass(frozen=True, slots=True)
class SectionParts:
    """A section with a body, given in pieces."""

    id: str
    title: str
    body: Iterable[str]


@dataclass(frozen=True, slots=True)
class PageParts:
    """The pieces of a page that grow with its hosts, in page order: the host table's rows
    per category (:func:`host_row`), the details blocks (:func:`details_block`) and the
    sections that have a body. Iterated once, when the page is written."""

    groups: Mapping[str, Iterable[str]]
    details: Iterable[str]
    sections: Sequence[SectionParts]


def _anchor(category: str) -> str:
    return f"group-{category}"


def _shown_categories(page: Page, counts: Mapping[str, int]) -> list[Category]:
    return [c for c in page.categories if c.always or counts.get(c.key)]


def _count_link(category: Category, count: int, location: str | None = None) -> str:
    """A count that links to its rows (and, with the script, filters the table to them)."""
    if not count:
        return '<span class="count">0</span>'
    where = "" if location is None else f' data-filter-location="{esc(location)}"'
    return (
        f'<a href="#{_anchor(category.key)}" data-filter-status="{esc(category.key)}"{where}>'
        f'<span class="count">{count}</span></a>'
    )


def _summary(page: Page, tally: RowTally) -> str:
    counts = tally.categories
    shown = _shown_categories(page, counts)
    tiles = []
    for c in shown:
        n = counts.get(c.key, 0)
        number = f'<span class="count" data-count="{esc(c.key)}">{n}</span>'
        inner = f'{number}<span class="label">{esc(c.label)}</span>'
        if n:
            tiles.append(
                f'<li><a class="tile t-{c.tone}" href="#{_anchor(c.key)}" '
                f'data-filter-status="{esc(c.key)}">{inner}</a></li>'
            )
        else:
            tiles.append(f'<li><span class="tile t-{c.tone}">{inner}</span></li>')
    parts = [
        '<section id="summary" aria-labelledby="summary-title">',
        '<h2 id="summary-title">Summary</h2>',
        f'<p class="headline">{esc(page.headline)}</p>',
        f'<ul class="tiles" aria-label="hosts by outcome">{"".join(tiles)}</ul>',
        _by_location(tally, shown),
        "</section>",
    ]
    return "".join(parts)


def _by_location(tally: RowTally, shown: Sequence[Category]) -> str:
    if not tally.locations:
        return (
            '<p class="muted">Not grouped by location: no host in this report carries a '
            "location (the inventory variable <code>location</code> or <code>region</code>).</p>"
        )
    places = tally.places
    rows = []
    for place in sorted(places):
        cells = [esc(place)]
        for c in shown:
            filter_place = "" if place == NO_LOCATION else place
            cells.append(_count_link(c, places[place].get(c.key, 0), filter_place))
        cells.append(str(sum(places[place].values())))
        rows.append(cells)
    return _table("Hosts by location", ["location", *(c.label for c in shown), "hosts"], rows)


def _filters(page: Page, tally: RowTally) -> str:
    statuses = "".join(
        f'<option value="{esc(c.key)}">{esc(c.label)}</option>'
        for c in page.categories
        if tally.categories.get(c.key)
    )
    places = sorted(tally.locations)
    place_select = ""
    if places:
        options = "".join(f'<option value="{esc(p)}">{esc(p)}</option>' for p in places)
        place_select = (
            '<label>Location<select name="location"><option value="">any</option>'
            f"{options}</select></label>"
        )
    return (
        '<form id="filters" class="filters" role="search" aria-label="filter hosts">'
        '<label>Host name contains<input name="q" type="search" autocomplete="off"></label>'
        '<label>Outcome<select name="status"><option value="">any</option>'
        f"{statuses}</select></label>{place_select}"
        '<output id="shown" class="muted" aria-live="polite"></output></form>'
    )


def host_row(index: int, row: Row) -> str:
    """``row`` as the host table's ``tr`` (``index``: its place on the page)."""
    name = esc(row.host)
    if row.details:
        name = f'<a href="#host-{index}">{name}</a>'
    cells = "".join(f"<td>{cell}</td>" for cell in row.cells)
    return (
        f'<tr data-host="{esc(row.host)}" data-status="{esc(row.category)}" '
        f'data-location="{esc(row.location or "")}"><th scope="row">{name}</th>'
        f"{cells}</tr>"
    )


def details_block(index: int, row: Row) -> str:
    """``row``'s details ``article`` (``index``: its place on the page); only for a row with
    details."""
    return (
        f'<article class="host-details" id="host-{index}" aria-labelledby="host-{index}-title">'
        f'<h3 id="host-{index}-title">{esc(row.host)}</h3>{row.details}</article>'
    )


def _host_table(page: Page, tally: RowTally, groups: Mapping[str, Iterable[str]]) -> Iterator[str]:
    head = "".join(f'<th scope="col">{esc(c)}</th>' for c in page.columns)
    yield (
        '<section id="hosts-section" aria-labelledby="hosts-title">'
        '<h2 id="hosts-title">Hosts</h2>'
        f"{_filters(page, tally)}"
        f'<table id="hosts"><caption class="muted">{plural(tally.rows, "host")}, grouped by '
        f"outcome</caption><thead><tr>{head}</tr></thead>"
    )
    for c in page.categories:
        members = tally.categories.get(c.key, 0)
        if not members:
            continue
        yield (
            f'<tbody id="{_anchor(c.key)}"><tr class="group"><th colspan="{len(page.columns)}" '
            f'scope="rowgroup">{esc(c.label)}: {plural(members, "host")}</th></tr>'
        )
        yield from groups.get(c.key, ())
        yield "</tbody>"
    yield "</table></section>"


def _details(tally: RowTally, blocks: Iterable[str]) -> Iterator[str]:
    if not tally.details:
        return
    yield '<section id="details" aria-labelledby="details-title"><h2 id="details-title">'
    yield "Host details</h2>"
    yield from blocks
    yield "</section>"


def page_chunks(page: Page, tally: RowTally, parts: PageParts) -> Iterator[str]:
    """The whole HTML document in pieces; the host rows and sections come from ``tally`` and
    ``parts`` (``page.rows`` and ``page.sections`` are not read), so a page can be written
    without its hosts in memory."""
    nav_items = [("summary", "Summary"), ("hosts-section", "Hosts")]
    if tally.details:
        nav_items.append(("details", "Host details"))
    nav_items += [(s.id, s.title) for s in parts.sections]
    nav = "".join(f'<li><a href="#{i}">{esc(t)}</a></li>' for i, t in nav_items)
    notes = "".join(f'<p class="note t-warn" role="note">{esc(n)}</p>' for n in page.notes)
    yield (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CONTENT_SECURITY_POLICY}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{esc(page.title)}</title><style>{_CSS}</style></head>\n"
        f"<body><header><h1>{esc(page.title)}</h1>"
        f'<p class="about">{esc(page.about)}</p>'
        f'<nav aria-label="sections"><ul>{nav}</ul></nav></header>\n'
        f"<main>{notes}{_summary(page, tally)}\n"
    )
    yield from _host_table(page, tally, parts.groups)
    yield "\n"
    yield from _details(tally, parts.details)
    yield "\n"
    for s in parts.sections:
        yield f'<section id="{s.id}" aria-labelledby="{s.id}-title">'
        yield f'<h2 id="{s.id}-title">{esc(s.title)}</h2>'
        yield from s.body
        yield "</section>"
    yield (
        "</main>\n"
        "<footer><p>Generated by checkpointctl. Secret values are shown as "
        "&lt;sensitive&gt;.</p></footer>\n"
        f"<script>{_SCRIPT}</script></body></html>\n"
    )


def fleet_page(page: Page) -> str:
    """The whole HTML document for ``page``: summary, host table, details, sections."""
    tally = RowTally()
    groups: dict[str, list[str]] = {}
    details = []
    for index, row in enumerate(page.rows):
        tally.add(row)
        groups.setdefault(row.category, []).append(host_row(index, row))
        if row.details:
            details.append(details_block(index, row))
    sections = [SectionParts(s.id, s.title, (s.body,)) for s in page.sections if s.body]
    return "".join(page_chunks(page, tally, PageParts(groups, details, sections)))


# --- shared sections -------------------------------------------------------------------------

_PRIVACY_INTRO = (
    '<p class="muted">What each checkpoint may send off-site, as the policies set it '
    "(<em>on</em>: sent; <em>off</em>: kept on the host).</p>"
)


def privacy_cells(
    host: str,
    location: str | None,
    collection: DataCollection,
    names: Sequence[str],
    pending: bool | None = None,
) -> list[str]:
    """One container's row of the privacy table: ``names`` are the table's switch columns,
    ``pending`` the "collection change pending" column (None: the table has none)."""
    switches = dict(collection.settings)
    cells = [esc(host), esc(location or ""), esc(collection.container), esc(collection.profile)]
    for name in names:
        if name not in switches:
            cells.append('<span class="muted">-</span>')
        elif switches[name]:
            cells.append(_badge("on", "warn"))
        else:
            cells.append(_badge("off", "ok"))
    if pending is not None:
        cells.append("yes" if pending else "no")
    return cells


def privacy_body(
    names: Sequence[str], rows: Iterable[Sequence[str]], pending: bool
) -> Iterator[str]:
    """The privacy section's body in pieces, from rows made by :func:`privacy_cells`."""
    columns = ["host", "location", "container", "profile", *names]
    if pending:
        columns.append("collection change pending")
    yield _PRIVACY_INTRO + _table_start("Data collection", columns)
    yield from (_table_row(row) for row in rows)
    yield _TABLE_END


def privacy_section(
    hosts: Sequence[tuple[str, str | None, Sequence[DataCollection]]],
    pending: Mapping[str, frozenset[str]] | None = None,
) -> Section:
    """Per host and container: the collection profile and every switch, on or off.

    ``pending``: per host, the containers whose collection file the run would change (or
    changed), so a reader knows the host does not run these switches yet.
    """
    names = sorted({name for _, _, items in hosts for c in items for name, _ in c.settings})
    rows = [
        privacy_cells(
            host,
            location,
            c,
            names,
            None if pending is None else c.container in pending.get(host, frozenset()),
        )
        for host, location, items in hosts
        for c in items
    ]
    if not rows:
        return Section("privacy", "Privacy", "")
    return Section("privacy", "Privacy", "".join(privacy_body(names, rows, pending is not None)))


# --- run reports (drift, check, apply) ---------------------------------------------------------

RUN_CATEGORIES = (
    Category(HostStatus.FAILED.value, "failed", "bad", always=True),
    Category(HostStatus.UNREACHABLE.value, "unreachable", "gone", always=True),
    Category(HostStatus.DRIFT.value, "drifted", "warn", always=True),
    Category(HostStatus.NOT_ATTEMPTED.value, "not attempted", "idle"),
    Category(HostStatus.CONVERGED.value, "converged", "info"),
    Category(HostStatus.IN_SYNC.value, "in sync", "ok", always=True),
)
_ACTION_TONES = {
    Action.NOOP: "idle",
    Action.CREATE: "ok",
    Action.UPDATE: "warn",
    Action.REPLACE_CREATE_FIRST: "warn",
    Action.REPLACE_DESTROY_FIRST: "warn",
    Action.DELETE: "bad",
}
_OUTCOME_TONES = {"planned": "info", "applied": "ok", "failed": "bad", "skipped": "idle"}
_SEVERITY_TONES = {"info": "info", "warning": "warn", "error": "bad"}


def _before_after(f: FieldChange) -> str:
    symbol = field_symbol(f)
    before = "" if symbol == "+" else f'<del class="t-bad">{_value(f.before)}</del>'
    after = "" if symbol == "-" else f'<ins class="t-ok">{_value(f.after)}</ins>'
    if before and after:
        return f"{before} {ARROW} {after}"
    return before or after


def _change_rows(report: RunReport, host: HostResult, change: Change) -> list[list[str]]:
    outcome = change_outcome(report, host, change)
    source = f"<code>{esc(str(change.source))}</code>" if change.source else ""
    reason = esc(change.reason)
    order = change.action.replace_order
    label = change.action.name_in_report + (f" ({order.value})" if order else "")
    action = _badge(label, _ACTION_TONES[change.action])
    fields = change.fields or (None,)
    rows = []
    for f in fields:
        rows.append(
            [
                f"<code>{esc(change.address)}</code>",
                action,
                f"<code>{esc(f.path)}</code>" if f else "",
                _before_after(f) if f else "",
                source,
                reason,
                _badge(outcome, _OUTCOME_TONES[outcome]),
            ]
        )
    return rows


def _run_details(report: RunReport, host: HostResult) -> str:
    if not (host.changes or host.findings or host.error):
        return ""
    parts = [f"<p>{esc(host_headline(report, host))}</p>"]
    if host.changes:
        rows = [row for c in host.changes for row in _change_rows(report, host, c)]
        columns = ["resource", "action", "field", f"before {ARROW} after", "source", "reason"]
        columns.append("outcome")  # planned (drift, check), or applied, failed, skipped
        parts.append(_table(f"Changes on {host.host}", columns, rows))
        headlines = "".join(
            f"<li>{esc(change_headline(report, host, c))}</li>" for c in host.changes
        )
        parts.append(f'<ul class="muted">{headlines}</ul>')
    if host.findings:
        findings = [
            [
                f"<code>{esc(f.address)}</code>",
                _badge(f.severity, _SEVERITY_TONES[f.severity]),
                esc(f.message),
            ]
            for f in host.findings
        ]
        parts.append(
            _table(f"Findings on {host.host}", ["resource", "severity", "message"], findings)
        )
    return "".join(parts)


def _run_row(report: RunReport, host: HostResult) -> Row:
    category = next(c for c in RUN_CATEGORIES if c.key == host.status.value)
    kinds = sorted({c.kind for c in host.changes})
    cells = (
        esc(host.location or ""),
        _badge(category.label, category.tone),
        str(len(host.changes)),
        esc(", ".join(kinds)),
        str(len(host.findings)),
        esc(host.error or ""),
    )
    return Row(host.host, host.status.value, host.location, cells, _run_details(report, host))


def _finding_cells(host: HostResult, finding: Finding) -> list[str]:
    return [
        esc(host.host),
        f"<code>{esc(finding.address)}</code>",
        _badge(finding.severity, _SEVERITY_TONES[finding.severity]),
        esc(finding.message),
    ]


def _pending_collection(host: HostResult) -> frozenset[str]:
    """The containers whose collection file the run would change (or changed) on ``host``."""
    return frozenset(c.address.split("/", 1)[1] for c in host.changes if c.kind == "collection")


_MODE_TITLES = {"drift": "Drift report", "check": "Apply preview", "apply": "Apply report"}
_RUN_COLUMNS = ("host", "location", "outcome", "changes", "resources", "findings", "error")
_FINDINGS_CAPTION = "Findings: things worth a look that checkpointctl does not change"
_FINDINGS_COLUMNS = ("host", "resource", "severity", "message")
_READ = 1 << 16

Spool = Callable[[], IO[str]]
"""Makes an empty text spool a :class:`RunPage` writes its hosts' parts to."""


class RunPage:
    """A drift, check or apply page fed host by host (:meth:`add`, in report order).

    Each host's table row, details and findings are rendered when it is added and written to
    spools, one per part of the page; its privacy rows, whose columns depend on every host's
    switches, are spooled as data and rendered at the end. What stays in memory is what the
    head of the page needs of the whole run: the summary :class:`Tally`, the :class:`RowTally`
    and the switch names. :func:`render_html` spools in memory;
    :class:`checkpointctl.report.stream.ReportStream` spools to temporary files, so a fleet's
    page costs the controller no more memory than one host's.
    """

    def __init__(
        self,
        mode: RunMode,
        *,
        fail_on: frozenset[DriftOrigin] | None = None,
        format_version: str = FORMAT_VERSION,
        spool: Spool = io.StringIO,
    ) -> None:
        self.tally = Tally(mode, fail_on)
        self.rows = RowTally()
        self._format_version = format_version
        self._spool = spool
        self._groups: dict[str, IO[str]] = {}
        self._details = spool()
        self._findings = spool()
        self._has_findings = False
        self._privacy = spool()
        self._has_privacy = False
        self._switches: set[str] = set()

    def add(self, host: HostResult) -> None:
        """Render ``host``'s parts now and count it; the result is not kept."""
        alone = RunReport(mode=self.tally.mode, hosts=(host,), fail_on=self.tally.fail_on)
        index = self.rows.rows
        self.tally.add(host)
        row = _run_row(alone, host)
        self.rows.add(row)
        group = self._groups.get(row.category)
        if group is None:
            group = self._groups[row.category] = self._spool()
        group.write(host_row(index, row))
        if row.details:
            self._details.write(details_block(index, row))
        for finding in host.findings:
            self._findings.write(_table_row(_finding_cells(host, finding)))
            self._has_findings = True
        pending = _pending_collection(host)
        for c in host.data_collection:
            self._switches.update(name for name, _ in c.settings)
            data = [host.host, host.location, c.container, c.profile, c.settings]
            self._privacy.write(json.dumps([*data, c.container in pending]) + "\n")
            self._has_privacy = True

    def chunks(self, halted: str | None = None) -> Iterator[str]:
        """The whole page in pieces (each call reads the spools from the start)."""
        hosts = plural(self.tally.hosts, "host")
        page = Page(
            title=f"checkpointctl {_MODE_TITLES[self.tally.mode]}",
            headline=self.tally.line(halted),
            about=f"{self.tally.mode} over {hosts}; report format {self._format_version}; "
            f"exit code {self.tally.exit_code(halted)}",
            categories=RUN_CATEGORIES,
            columns=_RUN_COLUMNS,
            rows=(),
            notes=(f"Halted: {halted}",) if halted else (),
        )
        sections = []
        if self._has_findings:
            findings = self._table_chunks(_FINDINGS_CAPTION, _FINDINGS_COLUMNS, self._findings)
            sections.append(SectionParts("findings", "Findings", findings))
        if self._has_privacy:
            names = sorted(self._switches)
            body = privacy_body(names, self._privacy_rows(names), pending=True)
            sections.append(SectionParts("privacy", "Privacy", body))
        groups = {key: _read(spool) for key, spool in self._groups.items()}
        yield from page_chunks(page, self.rows, PageParts(groups, _read(self._details), sections))

    def close(self) -> None:
        """Drop the spools (a spool on disk is a temporary file, removed on close)."""
        for spool in (*self._groups.values(), self._details, self._findings, self._privacy):
            spool.close()

    @staticmethod
    def _table_chunks(caption: str, columns: Sequence[str], rows: IO[str]) -> Iterator[str]:
        yield _table_start(caption, columns)
        yield from _read(rows)
        yield _TABLE_END

    def _privacy_rows(self, names: Sequence[str]) -> Iterator[list[str]]:
        self._privacy.seek(0)
        for line in self._privacy:
            host, location, container, profile, settings, pending = json.loads(line)
            switches = tuple((name, on) for name, on in settings)
            collection = DataCollection(container, profile, switches)
            yield privacy_cells(host, location, collection, names, pending)


def _read(spool: IO[str]) -> Iterator[str]:
    spool.seek(0)
    while chunk := spool.read(_READ):
        yield chunk


def render_html(report: RunReport) -> str:
    """A drift, check or apply report as a self-contained HTML page (:class:`RunPage`)."""
    page = RunPage(report.mode, fail_on=report.fail_on, format_version=report.format_version)
    for host in report.hosts:
        page.add(host)
    return "".join(page.chunks(report.halted))


# --- status -------------------------------------------------------------------------------------

STATUS_CATEGORIES = (
    Category("unreachable", "unreachable", "gone", always=True),
    Category("unhealthy", "unhealthy", "bad", always=True),
    Category("healthy", "healthy", "ok", always=True),
)


def _health_category(h: HostHealth) -> str:
    if not h.reachable:
        return "unreachable"
    return "healthy" if h.healthy else "unhealthy"


def _health_details(h: HostHealth) -> str:
    items = [("problem", "bad", p) for p in h.problems]
    items += [("warning", "warn", w) for w in h.warnings]
    if h.error:
        items.insert(0, ("error", "bad", h.error))
    if not items:
        return ""
    lis = "".join(f"<li>{_badge(kind, tone)} {esc(text)}</li>" for kind, tone, text in items)
    return f"<ul>{lis}</ul>"


def render_status_html(hosts: Sequence[HostHealth]) -> str:
    """Fleet health (``status``) as a self-contained HTML page."""
    table = status_rows(hosts)
    rows = []
    for h, cells in zip(hosts, table, strict=True):
        category = _health_category(h)
        tone = next(c.tone for c in STATUS_CATEGORIES if c.key == category)
        shown = [esc(h.location or ""), _badge(category, tone)]
        shown += [_lines(cell) for cell in cells[2:]]
        rows.append(Row(h.host, category, h.location, tuple(shown), _health_details(h)))
    expiring = [[esc(h.host), esc(h.location or ""), esc(c)] for h in hosts for c in h.credentials]
    credentials = Section(
        "credentials",
        "Expiring credentials",
        _table("Credentials expired or expiring soon", ["host", "location", "credential"], expiring)
        if expiring
        else '<p class="muted">No credential is expired or expiring soon.</p>',
    )
    privacy = privacy_section([(h.host, h.location, h.data_collection) for h in hosts])
    bad = sum(not h.healthy for h in hosts)
    headline = (
        f"All {plural(len(hosts), 'host')} healthy."
        if not bad
        else f"{bad} of {plural(len(hosts), 'host')} unhealthy."
    )
    page = Page(
        title="checkpointctl fleet status",
        headline=headline,
        about=f"status of {plural(len(hosts), 'host')}",
        categories=STATUS_CATEGORIES,
        columns=(
            "host",
            "location",
            "health",
            "docker",
            "containers",
            "firewall",
            "credentials",
            "last apply",
            "agent",
            "security updates",
            "disk /",
        ),
        rows=tuple(rows),
        sections=(credentials, privacy),
    )
    return fleet_page(page)


# --- impact -------------------------------------------------------------------------------------

IMPACT_CATEGORIES = (
    Category("changed", "changed", "warn", always=True),
    Category("added", "newly managed", "info", always=True),
    Category("removed", "no longer managed", "gone", always=True),
    Category("unchanged", "unchanged", "ok", always=True),
)


def _impact_value(value: object) -> str:
    text = compact(value)
    return f'<span class="value">{esc(text)}</span>'


def _delta_cell(r: ResourceDelta, f: FieldDelta) -> str:
    if f.is_items:
        added = "".join(f'<li><ins class="t-ok">+ {_impact_value(v)}</ins></li>' for v in f.added)
        removed = "".join(
            f'<li><del class="t-bad">- {_impact_value(v)}</del></li>' for v in f.removed
        )
        return f"{esc(items_summary(r.address, f, listed=False))}<ul>{added}{removed}</ul>"
    before = "" if f.before is ABSENT else f'<del class="t-bad">{_impact_value(f.before)}</del>'
    after = "" if f.after is ABSENT else f'<ins class="t-ok">{_impact_value(f.after)}</ins>'
    return f"{before} {ARROW} {after}" if before and after else before or after


def _impact_details(h: HostImpact) -> str:
    if not h.resources:
        return ""
    rows = []
    for r in h.resources:
        action = _badge(r.action, {"create": "ok", "update": "warn", "delete": "bad"}[r.action])
        for f in r.fields or (None,):
            rows.append(
                [
                    f"<code>{esc(r.address)}</code>",
                    action,
                    f"<code>{esc(f.path)}</code>" if f else "",
                    _delta_cell(r, f) if f else "",
                ]
            )
    return _table(
        f"Changes to {h.host}", ["resource", "action", "field", f"before {ARROW} after"], rows
    )


def render_impact_html(impact: Impact) -> str:
    """The impact of a change (``impact``) as a self-contained HTML page."""
    rows = []
    for h in impact.hosts:
        category = next(c for c in IMPACT_CATEGORIES if c.key == h.status)
        addresses = ", ".join(r.address for r in h.resources)
        cells = (_badge(category.label, category.tone), str(len(h.resources)), esc(addresses))
        rows.append(Row(h.host, h.status, None, cells, _impact_details(h)))
    groups = [[esc(g.label), str(len(g.hosts)), esc(", ".join(g.hosts))] for g in impact.groups]
    totals = Section(
        "totals",
        "Changes across hosts",
        _table(
            "Each change once, with the hosts it reaches", ["change", "hosts", "host names"], groups
        )
        if groups
        else "",
    )
    n, total = len(impact.changed), len(impact.hosts)
    page = Page(
        title="checkpointctl impact",
        headline=f"{n} of {plural(total, 'host')} change.",
        about=f"{impact.base} → {impact.head}, inventory {impact.inventory}",
        categories=IMPACT_CATEGORIES,
        columns=("host", "outcome", "resources", "addresses"),
        rows=tuple(rows),
        sections=(totals,),
        notes=impact.notes,
    )
    return fleet_page(page)


__all__ = [
    "CONTENT_SECURITY_POLICY",
    "PALETTE",
    "RunPage",
    "fleet_page",
    "render_html",
    "render_impact_html",
    "render_status_html",
]
