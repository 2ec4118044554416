"""The HTML drift report from the lab, opened in a real headless Chromium.

The lab's full hosts are converged, then one is edited by hand (it drifts) and a host that
refuses connections joins the inventory (unreachable). ``checkpointctl drift`` writes the JSON
and the HTML report of that fleet; the browser (Debian's ``chromium``, driven by Playwright
through the system executable, never a downloaded one) must show what the JSON says, filter
the table, list the drifted host's changes, make no request, log no error and pass axe-core's
accessibility rules (contrast and landmarks among them). The browser helpers are tests/headless.py.

Set ``CHECKPOINTCTL_UPDATE_SCREENSHOT=1`` to refresh ``docs/html-report.png`` from this run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from headless import (
    CHROMIUM,
    CONTRAST_AND_LANDMARK_RULES,
    axe_check,
    launched_chromium,
    open_page,
)

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
POLICIES = str(REPO / "policies")
VAULT_PASSWORD = str(REPO / "examples" / "lab-vault-password")
COLLECTION = "/etc/checkpoint/probe/collection.json"


@dataclass(frozen=True)
class Reports:
    json: dict[str, object]
    html: Path
    inventory: Path


def _cli(inventory: Path | str, verb: str, *extra: str) -> int:
    argv = [verb, POLICIES, "-i", str(inventory), "--vault-password-file", VAULT_PASSWORD]
    return main([*argv, "-q", *extra])


@pytest.fixture(scope="module")
def reports(lab: LabInfo, on_host, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reports]:  # type: ignore[no-untyped-def]
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it)")
    out = tmp_path_factory.mktemp("html-report")
    assert _cli(lab.inventory, "apply", "--limit", "lab_full") == 0
    # a host that refuses connections at once (loopback, closed port): unreachable
    doc = yaml.safe_load(Path(lab.inventory).read_text())
    full = doc["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"]
    full["cp-gone"] = {"address": "127.0.0.1", "port": 1, "region": "us"}
    inventory = out / "inventory.yml"
    inventory.write_text(yaml.safe_dump(doc))
    on_host("cp-1", ["sed", "-i", 's/"screenshots": false/"screenshots": true/', COLLECTION])
    try:
        json_path, html_path = out / "drift.json", out / "drift.html"
        limit = ("--limit", "lab_full")
        assert _cli(inventory, "drift", *limit, "--format", "json", "-o", str(json_path)) == 1
        assert _cli(inventory, "drift", *limit, "--format", "html", "-o", str(html_path)) == 1
        yield Reports(json.loads(json_path.read_text()), html_path, inventory)
    finally:
        assert _cli(lab.inventory, "apply", "--limit", "lab_full") == 0


@pytest.fixture(scope="module")
def browser(reports: Reports) -> Iterator[object]:
    yield from launched_chromium()


def _visible_hosts(page) -> list[str]:  # type: ignore[no-untyped-def]
    rows = page.locator("#hosts tr[data-host]")
    return [
        rows.nth(i).get_attribute("data-host")
        for i in range(rows.count())
        if rows.nth(i).is_visible()
    ]


def _hosts_with(document: dict[str, object], status: str) -> list[str]:
    hosts = document["hosts"]
    assert isinstance(hosts, list)
    return sorted(h["host"] for h in hosts if h["status"] == status)


def test_summary_counts_equal_the_json_reports(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    opened = open_page(browser, reports.html)
    tiles = opened.page.locator("[data-count]")
    shown = {
        tiles.nth(i).get_attribute("data-count"): int(tiles.nth(i).inner_text())
        for i in range(tiles.count())
    }
    assert {k: v for k, v in shown.items() if v} == reports.json["summary"]
    assert reports.json["summary"] == {"drift": 1, "in-sync": 1, "unreachable": 1}
    # by location: the lab's region variable (cp-1 eu; cp-2 and cp-gone us)
    by_location = opened.page.locator("table", has_text="Hosts by location")
    assert by_location.locator("tbody tr").count() == 2
    assert opened.page.locator('#hosts tr[data-host="cp-1"]').get_attribute("data-location") == "eu"
    # the summary goes into the docs: top of the page, as a reader first sees it
    shot = reports.html.with_suffix(".png")
    opened.page.screenshot(path=str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CHECKPOINTCTL_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(shot, REPO / "docs" / "html-report.png")
    assert opened.problems == []
    axe = axe_check(opened.page)
    assert axe.checked >= CONTRAST_AND_LANDMARK_RULES
    assert axe.violations == {}


def test_filter_hides_and_shows_the_right_rows(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    opened = open_page(browser, reports.html)
    page = opened.page
    everyone = sorted(h["host"] for h in reports.json["hosts"])  # type: ignore[union-attr]
    assert sorted(_visible_hosts(page)) == everyone
    page.select_option("#filters select[name=status]", "drift")
    assert sorted(_visible_hosts(page)) == _hosts_with(reports.json, "drift") == ["cp-1"]
    assert page.locator("#group-in-sync").is_hidden()
    page.select_option("#filters select[name=status]", "")
    page.select_option("#filters select[name=location]", "us")
    assert sorted(_visible_hosts(page)) == ["cp-2", "cp-gone"]
    page.select_option("#filters select[name=location]", "")
    page.fill("#filters input[name=q]", "gone")
    assert _visible_hosts(page) == ["cp-gone"]
    assert page.locator("#shown").inner_text() == "1 of 3 hosts shown"
    page.fill("#filters input[name=q]", "")
    assert sorted(_visible_hosts(page)) == everyone
    # a summary count filters the table to its hosts
    page.locator('.tiles a[data-filter-status="unreachable"]').click()
    assert _visible_hosts(page) == _hosts_with(reports.json, "unreachable")
    assert page.locator("#filters select[name=status]").input_value() == "unreachable"
    assert opened.problems == []


def test_drifted_host_details_list_its_changes(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    opened = open_page(browser, reports.html)
    page = opened.page
    page.locator('#hosts tr[data-host="cp-1"] a').click()
    (drifted,) = [h for h in reports.json["hosts"] if h["host"] == "cp-1"]  # type: ignore[union-attr]
    details = page.locator("article.host-details", has_text="cp-1")
    rows = details.locator("table", has_text="Changes on cp-1").locator("tbody tr")
    expected = [
        (c["address"], f["path"], f"{json.dumps(f['before'])} → {json.dumps(f['after'])}")
        for c in drifted["changes"]
        for f in c["fields"]
    ]
    assert expected == [("collection/probe", "screenshots", "true → false")]
    assert rows.count() == len(expected)
    cells = rows.nth(0).locator("td")
    assert (cells.nth(0).inner_text(), cells.nth(2).inner_text(), cells.nth(3).inner_text()) == (
        expected[0]
    )
    assert cells.nth(4).inner_text() == drifted["changes"][0]["source"]
    assert opened.problems == []


def test_privacy_view_shows_each_hosts_switches(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    page = open_page(browser, reports.html).page
    privacy = page.locator("#privacy table")
    header = privacy.locator("thead th").all_inner_texts()
    rows = {
        r[0]: dict(zip(header, r, strict=True))
        for r in (
            privacy.locator("tbody tr").nth(i).locator("td").all_inner_texts()
            for i in range(privacy.locator("tbody tr").count())
        )
    }
    # region-us.yml turns screenshots on for us hosts; baseline keeps them off elsewhere
    assert rows["cp-2"]["screenshots"] == "on"
    assert rows["cp-1"]["screenshots"] == "off"
    assert rows["cp-1"]["collection change pending"] == "yes"


def test_page_makes_no_request_and_works_without_script(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    opened = open_page(browser, reports.html)
    opened.page.locator('.tiles a[data-filter-status="drift"]').click()
    assert opened.requests == [reports.html.as_uri()]
    assert opened.problems == []

    plain = open_page(browser, reports.html, javascript=False)
    assert plain.page.locator("#filters").is_hidden()
    assert len(_visible_hosts(plain.page)) == len(reports.json["hosts"])  # type: ignore[arg-type]
    plain.page.locator('.tiles a[data-filter-status="drift"]').click()
    assert plain.page.url.endswith("#group-drift")
    assert plain.requests == [reports.html.as_uri()]

    opened.page.emulate_media(media="print")
    assert opened.page.locator("nav").is_hidden()
    assert len(_visible_hosts(opened.page)) == len(reports.json["hosts"])  # type: ignore[arg-type]


def test_status_page_counts_equal_the_json_status(reports: Reports, browser) -> None:  # type: ignore[no-untyped-def]
    out = reports.html.parent
    base = ["status", POLICIES, "-i", str(reports.inventory), "--limit", "lab_full"]
    main([*base, "--format", "json", "-o", str(out / "status.json")])
    assert main([*base, "--format", "html", "-o", str(out / "status.html")]) == 1
    status = json.loads((out / "status.json").read_text())
    opened = open_page(browser, out / "status.html")
    tiles = opened.page.locator("[data-count]")
    shown = {
        tiles.nth(i).get_attribute("data-count"): int(tiles.nth(i).inner_text())
        for i in range(tiles.count())
    }
    unreachable = sum(not h["reachable"] for h in status["hosts"])
    assert unreachable == 1
    assert shown == {
        "healthy": status["summary"]["healthy"],
        "unhealthy": status["summary"]["unhealthy"] - unreachable,
        "unreachable": unreachable,
    }
    privacy = opened.page.locator("#privacy table tbody tr")
    # what the policies set, so the unreachable host is listed too
    assert privacy.count() == 3
    # the status JSON (format 1.1) carries what the page shows: each host's location and its
    # data-collection switches, the same on both
    assert status["format_version"] == "1.1"
    header = opened.page.locator("#privacy table thead th").all_inner_texts()
    shown_switches = {}
    for i in range(privacy.count()):
        cells = dict(zip(header, privacy.nth(i).locator("td").all_inner_texts(), strict=True))
        shown_switches[(cells["host"], cells["location"], cells["container"])] = cells
    written_switches = {
        (h["host"], h["location"], c["container"]): c
        for h in status["hosts"]
        for c in h["data_collection"]
    }
    assert shown_switches.keys() == written_switches.keys()
    for key, written in written_switches.items():
        assert shown_switches[key]["profile"] == written["profile"]
        for name, on in written["settings"].items():
            assert shown_switches[key][name] == ("on" if on else "off")
    for h in status["hosts"]:
        row = opened.page.locator(f'#hosts tr[data-host="{h["host"]}"]')
        assert row.get_attribute("data-location") == h["location"]
    assert opened.requests == [(out / "status.html").as_uri()]
    assert opened.problems == []
    axe = axe_check(opened.page)
    assert axe.checked >= CONTRAST_AND_LANDMARK_RULES
    assert axe.violations == {}
