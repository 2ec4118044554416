"""The HTML pages rendered from model data, opened in a real headless Chromium (no lab).

The lab test (tests/integration/test_html_report.py) opens pages of a real fleet; this one needs
no host, so every machine that runs the unit tests, a fresh one included, drives the browser:
Playwright's driver starts, Debian's chromium opens the page, the script filters, the page makes
no request and logs no error, and axe-core finds no accessibility violation (contrast and
landmark rules among those checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from headless import CONTRAST_AND_LANDMARK_RULES, axe_check, launched_chromium, open_page

from checkpointctl.model import (
    Action,
    Change,
    DataCollection,
    FieldChange,
    HostResult,
    HostStatus,
    RunReport,
)
from checkpointctl.model.health import ContainerStatus, HostHealth
from checkpointctl.report import render
from checkpointctl.report.html import render_status_html

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

COLLECTION = (DataCollection("probe", "strict", (("screenshots", True), ("har", False))),)
RUN = RunReport(
    "drift",
    (
        HostResult("cp-ams-1", HostStatus.IN_SYNC, location="eu", data_collection=COLLECTION),
        HostResult("cp-nyc-1", HostStatus.UNREACHABLE, location="us", error="refused"),
        HostResult(
            "cp-ams-2",
            HostStatus.DRIFT,
            location="eu",
            changes=(
                Change(
                    "collection/probe", Action.UPDATE, (FieldChange("screenshots", False, True),)
                ),
            ),
            data_collection=COLLECTION,
        ),
    ),
)
HEALTH = (
    HostHealth(
        "cp-ams-1",
        True,
        docker="24.0",
        containers=(ContainerStatus("probe", "running"),),
        credentials=("api-login expires in 5 days (2026-12-12)",),
        location="eu",
    ),
    HostHealth("cp-nyc-1", False, error="connection refused", location="us"),
    HostHealth("cp-ams-2", True, problems=("probe: exited",), location="eu"),
)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    yield from launched_chromium()


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("html")
    written = {"drift": render(RUN, "html"), "status": render_status_html(HEALTH)}
    for name, text in written.items():
        (out / f"{name}.html").write_text(text, encoding="utf-8")
    return {name: out / f"{name}.html" for name in written}


def _visible_hosts(page: Page) -> list[str]:
    rows = page.locator("#hosts tr[data-host]")
    return sorted(
        str(rows.nth(i).get_attribute("data-host"))
        for i in range(rows.count())
        if rows.nth(i).is_visible()
    )


def _tile_counts(page: Page) -> dict[str, int]:
    tiles = page.locator("[data-count]")
    return {
        str(tiles.nth(i).get_attribute("data-count")): int(tiles.nth(i).inner_text())
        for i in range(tiles.count())
    }


def test_drift_page_counts_filters_and_loads_nothing(
    chromium: Browser, pages: dict[str, Path]
) -> None:
    opened = open_page(chromium, pages["drift"])
    page = opened.page
    shown = {k: v for k, v in _tile_counts(page).items() if v}
    assert shown == RUN.counts() == {"in-sync": 1, "drift": 1, "unreachable": 1}
    assert _visible_hosts(page) == ["cp-ams-1", "cp-ams-2", "cp-nyc-1"]
    page.select_option("#filters select[name=location]", "eu")
    assert _visible_hosts(page) == ["cp-ams-1", "cp-ams-2"]
    page.select_option("#filters select[name=location]", "")
    page.locator('.tiles a[data-filter-status="drift"]').click()
    assert _visible_hosts(page) == ["cp-ams-2"]
    assert page.locator("#shown").inner_text() == "1 of 3 hosts shown"
    assert opened.requests == [pages["drift"].as_uri()]
    assert opened.problems == []


def test_status_page_counts_and_loads_nothing(chromium: Browser, pages: dict[str, Path]) -> None:
    opened = open_page(chromium, pages["status"])
    assert _tile_counts(opened.page) == {"healthy": 1, "unhealthy": 1, "unreachable": 1}
    assert opened.requests == [pages["status"].as_uri()]
    assert opened.problems == []


@pytest.mark.parametrize("name", ["drift", "status"])
def test_axe_core_finds_no_violation(chromium: Browser, pages: dict[str, Path], name: str) -> None:
    opened = open_page(chromium, pages[name])
    outcome = axe_check(opened.page)
    assert outcome.checked >= CONTRAST_AND_LANDMARK_RULES
    assert outcome.violations == {}
    # axe-core ran inside the page: still nothing fetched, nothing logged
    assert opened.requests == [pages[name].as_uri()]
    assert opened.problems == []


def test_axe_core_sees_pale_text_and_a_missing_main(
    chromium: Browser, pages: dict[str, Path]
) -> None:
    """The check bites: the same page made worse on purpose fails the rules the tests rely on."""
    page = open_page(chromium, pages["drift"]).page
    page.evaluate(
        """() => {
          document.querySelector("h1").style.color = "#c8c8c8";
          const main = document.querySelector("main");
          main.replaceWith(...main.childNodes);
        }"""
    )
    violations = axe_check(page).violations
    assert {"color-contrast", "landmark-one-main"} <= violations.keys()
