"""The HTML report: one self-contained page, readable without script, escaped, AA contrast.

The browser half (filtering, the request log, console errors) runs in a real Chromium in
tests/integration/test_html_report.py; these tests read the page as text and parse it with the
standard library's HTML parser.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from report_cases import CASES, HOSTILE_TEXT, PLAINTEXT

from checkpointctl.model import (
    Action,
    Change,
    DataCollection,
    FieldChange,
    HostResult,
    HostStatus,
    RunReport,
    Secret,
)
from checkpointctl.model.health import ContainerStatus, HostHealth
from checkpointctl.model.impact import ChangeGroup, FieldDelta, HostImpact, Impact, ResourceDelta
from checkpointctl.report import render
from checkpointctl.report.display import one_line
from checkpointctl.report.html import (
    CONTENT_SECURITY_POLICY,
    render_impact_html,
    render_status_html,
)

CASE_NAMES = sorted(CASES)


class _Page(HTMLParser):
    """Elements by id and the attributes of every element, for assertions on structure."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def with_attr(self, name: str) -> list[dict[str, str]]:
        return [a for _, a in self.elements if name in a]

    def tags(self, tag: str) -> list[dict[str, str]]:
        return [a for t, a in self.elements if t == tag]


def _summary_counts(html: str) -> dict[str, int]:
    return {k: int(v) for k, v in re.findall(r'data-count="([^"]+)">(\d+)<', html)}


# --- content -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_summary_counts_equal_the_reports_counts(case: str) -> None:
    report = CASES[case].report
    shown = _summary_counts(render(report, "html"))
    assert {k: v for k, v in shown.items() if v} == dict(report.counts())
    for always in ("in-sync", "drift", "failed", "unreachable"):
        assert always in shown


@pytest.mark.parametrize("case", CASE_NAMES)
def test_one_row_per_host_and_every_count_links_to_existing_rows(case: str) -> None:
    report = CASES[case].report
    page = _Page(render(report, "html"))
    rows = page.with_attr("data-host")
    assert sorted(r["data-host"] for r in rows) == sorted(one_line(h.host) for h in report.hosts)
    ids = {a["id"] for a in page.with_attr("id")}
    for link in page.tags("a"):
        href = link.get("href", "")
        assert href.startswith("#"), f"a link leaves the page: {href!r}"
        assert href[1:] in ids, f"{href} points nowhere"


def test_drifted_host_details_list_each_change_with_field_values_and_source() -> None:
    html = render(CASES["drift"].report, "html")
    details = html[html.index('id="host-') :]
    for text in (
        "collection/probe",
        "interval",
        '<del class="t-bad"><span class="value">60</span></del> → '
        '<ins class="t-ok"><span class="value">30</span></ins>',
        "policies/base.yml:14:9",
        "interval edited by hand",
        "container/old-exporter",
    ):
        assert text in details


def test_secret_is_sensitive_and_its_plaintext_absent() -> None:
    change = Change(
        "credential/api",
        Action.UPDATE,
        (FieldChange("content", Secret(PLAINTEXT), [Secret("x")]),),  # type: ignore[list-item]
    )
    report = RunReport("drift", (HostResult("h", HostStatus.DRIFT, changes=(change,)),))
    html = render(report, "html")
    assert PLAINTEXT not in html
    assert "&lt;sensitive&gt;" in html


def test_hostile_values_are_escaped() -> None:
    html = render(CASES["hostile"].report, "html")
    assert "<script>alert(1)</script>" not in html
    assert html.count("<script>") == 1  # the page's own
    assert "\x1b" not in html
    assert "\u202e" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert HOSTILE_TEXT not in html


def test_page_loads_nothing_and_allows_nothing_else() -> None:
    html = render(CASES["drift"].report, "html")
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert f'content="{CONTENT_SECURITY_POLICY}"' in html
    page = _Page(html)
    assert not [a for a in page.elements if "src" in a[1]]
    assert not page.tags("link")
    assert not re.search(r"url\(|@import|https?://", html)


def test_readable_without_script_and_prints() -> None:
    html = render(CASES["drift"].report, "html")
    # the filter form only appears once the script marks the page (.js), so without script
    # no control is left that does nothing; everything else is plain HTML
    assert ".filters {" in html
    assert "display: none" in html
    assert ".js .filters" in html
    assert "@media print" in html
    page = _Page(html)
    assert page.tags("main")
    assert page.tags("header")
    assert page.tags("nav")
    assert page.tags("footer")
    assert page.tags("html")[0]["lang"] == "en"


def test_same_report_same_bytes() -> None:
    assert render(CASES["drift"].report, "html") == render(CASES["drift"].report, "html")


def test_location_groups_and_privacy_view() -> None:
    collection = (DataCollection("probe", "strict", (("screenshots", True), ("har", False))),)
    report = RunReport(
        "drift",
        (
            HostResult("cp-ams-1", HostStatus.IN_SYNC, location="eu", data_collection=collection),
            HostResult("cp-nyc-1", HostStatus.UNREACHABLE, location="us", error="refused"),
            HostResult(
                "cp-ams-2",
                HostStatus.DRIFT,
                location="eu",
                changes=(
                    Change(
                        "collection/probe",
                        Action.UPDATE,
                        (FieldChange("screenshots", False, True),),
                    ),
                ),
                data_collection=collection,
            ),
        ),
    )
    html = render(report, "html")
    assert "Hosts by location" in html
    assert 'data-filter-location="eu"' in html
    assert 'data-filter-location="us"' in html
    privacy = html[html.index('id="privacy"') :]
    assert privacy.count("cp-ams-") == 2
    assert '<span class="badge t-warn">on</span>' in privacy
    assert '<span class="badge t-ok">off</span>' in privacy
    assert "collection change pending" in privacy


def test_without_locations_the_page_says_so() -> None:
    assert "Not grouped by location" in render(CASES["drift"].report, "html")


def test_a_merged_report_renders_like_its_parts() -> None:
    """A merged report (shards' hosts in one RunReport) shows every host once, same rows."""
    a, b = CASES["drift"].report, CASES["all_in_sync"].report
    merged = RunReport("drift", a.hosts + b.hosts)
    html = render(merged, "html")
    for host in merged.hosts:
        assert f'data-host="{host.host}"' in html
    assert _summary_counts(html)["in-sync"] == a.counts()["in-sync"] + b.counts()["in-sync"]


def test_status_page() -> None:
    hosts = [
        HostHealth(
            "cp-1",
            True,
            docker="24.0",
            containers=(ContainerStatus("probe", "running"),),
            credentials=("api-login expires in 5 days (2026-12-12)",),
            location="eu",
        ),
        HostHealth("cp-2", False, error="connection refused", location="us"),
        HostHealth("cp-3", True, problems=("probe: exited",), location="eu"),
    ]
    html = render_status_html(hosts)
    assert _summary_counts(html) == {"unreachable": 1, "unhealthy": 1, "healthy": 1}
    creds = html[html.index('id="credentials"') :]
    assert "api-login expires in 5 days" in creds
    assert "probe: exited" in html
    assert "connection refused" in html


def test_impact_page() -> None:
    impact = Impact(
        base="origin/main",
        head="working tree",
        inventory="inventories/prod.yml",
        hosts=(
            HostImpact(
                "cp-1",
                "changed",
                (
                    ResourceDelta(
                        "collection/probe",
                        "update",
                        (FieldDelta("screenshots", before=False, after=True),),
                    ),
                    ResourceDelta(
                        "credential/api",
                        "update",
                        (FieldDelta("content", before=Secret(PLAINTEXT), after=Secret("other")),),
                    ),
                ),
            ),
            HostImpact("cp-2", "unchanged"),
            HostImpact("cp-3", "added"),
        ),
        groups=(ChangeGroup("collection/probe", "screenshots", "false → true", ("cp-1",)),),
    )
    html = render_impact_html(impact)
    assert _summary_counts(html) == {"changed": 1, "added": 1, "removed": 0, "unchanged": 1}
    assert "screenshots" in html
    assert "false" in html
    assert "true" in html
    assert PLAINTEXT not in html
    assert "&lt;sensitive&gt;" in html


# --- colour contrast (WCAG 2.x) ----------------------------------------------------------------


def _luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(fg: str, bg: str) -> float:
    lighter, darker = sorted((_luminance(fg), _luminance(bg)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_contrast_formula() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") < 4.5  # the classic grey that fails AA
    assert contrast("#767676", "#ffffff") >= 4.5


def _css_pairs(html: str) -> list[tuple[str, str, str]]:
    """(selector, text colour, background) for every rule that sets a text colour; a rule
    without a background is read against the page's."""
    css = html[html.index("<style>") + 7 : html.index("</style>")]
    rules = re.findall(r"([^{}]+)\{([^{}]*)\}", css)
    page_bg = next(
        re.search(r"background-color:\s*(#[0-9a-f]{6})", body).group(1)  # type: ignore[union-attr]
        for sel, body in rules
        if sel.strip() == "body"
    )
    pairs = []
    for selector, body in rules:
        colour = re.search(r"(?<![-\w])color:\s*([^;]+);", body)
        if not colour:
            continue
        bg = re.search(r"background-color:\s*([^;]+);", body)
        pairs.append(
            (selector.strip(), colour.group(1).strip(), bg.group(1).strip() if bg else page_bg)
        )
    return pairs


@pytest.mark.parametrize(
    "page",
    [
        render(CASES["drift"].report, "html"),
        render_status_html([HostHealth("cp-1", True)]),
    ],
    ids=["run", "status"],
)
def test_every_text_colour_meets_wcag_aa(page: str) -> None:
    pairs = _css_pairs(page)
    assert len(pairs) >= 15  # the page, links, headers and one rule per palette tone
    for selector, fg, bg in pairs:
        assert re.fullmatch(r"#[0-9a-f]{6}", fg), f"{selector}: colour {fg} is not #rrggbb"
        assert re.fullmatch(r"#[0-9a-f]{6}", bg), f"{selector}: background {bg} is not #rrggbb"
        assert contrast(fg, bg) >= 4.5, f"{selector}: {fg} on {bg} is {contrast(fg, bg):.2f}:1"


def test_tone_classes_are_used_with_their_own_background() -> None:
    """Coloured text only ever appears on its tone's background: every t-* class sets both."""
    html = render(CASES["drift"].report, "html")
    used = set(re.findall(r'class="[^"]*\bt-([a-z]+)\b', html))
    defined = {sel.removeprefix(".t-") for sel, _, _ in _css_pairs(html) if sel.startswith(".t-")}
    assert used <= defined
