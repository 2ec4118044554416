"""A real headless Chromium for the tests that open HTML reports, and axe-core inside it.

The browser is Debian's ``/usr/bin/chromium`` (``scripts/setup`` installs it), driven by
Playwright through that executable: ``playwright install`` is never run, nothing is downloaded.
Both the unit tests (a report rendered from model data) and the lab tests (a report from the
lab) use it, so a machine without the lab still exercises the browser path.

Accessibility is checked by axe-core, whose JavaScript the ``axe-playwright-python`` wheel
bundles (a test dependency only; nothing of it ships with checkpointctl).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
"""Every WCAG 2.1 A/AA rule and axe's best practices (which hold the landmark rules)."""
CONTRAST_AND_LANDMARK_RULES = frozenset(
    {
        "color-contrast",
        "landmark-one-main",
        "landmark-unique",
        "landmark-no-duplicate-banner",
        "landmark-no-duplicate-contentinfo",
        "landmark-no-duplicate-main",
        "landmark-banner-is-top-level",
        "landmark-contentinfo-is-top-level",
        "landmark-main-is-top-level",
        "region",
    }
)
"""The rules the tests name on top of "no violation at all": a run must have checked them."""


def _driver_problem() -> str:
    """Why Playwright's driver (the Node binary in its wheel) does not start, in its own words."""
    probe = subprocess.run(
        [sys.executable, "-m", "playwright", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    return (probe.stderr or probe.stdout).strip() or f"exit status {probe.returncode}"


def launched_chromium() -> Iterator[Browser]:
    """Debian's chromium under Playwright for as long as the caller iterates.

    Skips when chromium is not installed (the tests then say to run scripts/setup); a driver that
    does not start fails with the driver's own error, not Playwright's "connection closed".
    """
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/setup installs it)")
    from playwright.sync_api import sync_playwright

    try:
        manager = sync_playwright().start()
    except Exception as error:  # the driver died before it spoke: find out why
        pytest.fail(f"Playwright's driver does not start ({error}): {_driver_problem()}")
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        manager.stop()


@dataclass
class Opened:
    """A page with what it asked for over the network and what it complained about."""

    page: Page
    requests: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def open_page(browser: Browser, path: Path, *, javascript: bool = True) -> Opened:
    """Open ``path`` in a fresh context, recording every request and console error or warning."""
    context = browser.new_context(
        java_script_enabled=javascript, viewport={"width": 1200, "height": 900}
    )
    opened = Opened(context.new_page())
    opened.page.on("request", lambda r: opened.requests.append(r.url))
    opened.page.on(
        "console",
        lambda m: opened.problems.append(m.text) if m.type in ("error", "warning") else None,
    )
    opened.page.on("pageerror", lambda e: opened.problems.append(str(e)))
    opened.page.goto(path.as_uri())
    opened.page.wait_for_load_state("load")
    return opened


@dataclass(frozen=True)
class AxeOutcome:
    """What axe-core found: the rules it checked and, per rule it saw broken, the nodes."""

    checked: frozenset[str]
    violations: dict[str, list[str]]


def axe_check(page: Page) -> AxeOutcome:
    """Run axe-core's WCAG 2.1 A/AA and best-practice rules on the page as it is shown.

    The script is evaluated through the DevTools protocol, which the page's
    Content-Security-Policy does not govern, so the page under test stays as strict as shipped.
    """
    script = (files("axe_playwright_python") / "axe.min.js").read_text(encoding="utf-8")
    page.evaluate(script)
    results = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: "tag", values: tags},
                                       resultTypes: ["violations"]})""",
        AXE_TAGS,
    )
    checked = frozenset(
        rule["id"]
        for kind in ("passes", "violations", "incomplete", "inapplicable")
        for rule in results[kind]
    )
    violations = {
        v["id"]: [f"{n['target']}: {n.get('failureSummary', '')}" for n in v["nodes"]]
        for v in results["violations"]
    }
    return AxeOutcome(checked, violations)
