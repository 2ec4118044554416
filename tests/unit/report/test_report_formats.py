"""Properties every format must keep, checked on every case and on generated hostile values."""

from __future__ import annotations

import ast
import copy
import json
import re
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from report_cases import CASES, HOSTILE_MULTILINE, HOSTILE_TEXT, LONG, PLAINTEXT

import checkpointctl.report
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    HostResult,
    HostStatus,
    JSONValue,
    RunReport,
    Secret,
    report_to_json,
)
from checkpointctl.report import FORMATS, render, report_schema, summary_line
from checkpointctl.report.display import MAX_VALUE_CHARS, format_value, one_line, shorten

ANSI = re.compile(r"\x1b\[[0-9;]*m")
CASE_NAMES = sorted(CASES)


def _all_outputs(report: RunReport) -> dict[str, str]:
    outputs: dict[str, str] = {fmt: render(report, fmt) for fmt in FORMATS}
    outputs["text+color"] = render(report, "text", color=True)
    return outputs


# --- secrets -------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_secret_plaintext_never_appears(case: str) -> None:
    for fmt, output in _all_outputs(CASES[case].report).items():
        assert "s3cr3t" not in output, fmt


def test_secret_fields_render_as_sensitive() -> None:
    report = CASES["drift"].report
    assert "+ content: <sensitive>" in render(report, "text")
    assert "content: <sensitive> → <sensitive>" in render(report, "text")
    assert "&lt;sensitive&gt;" in render(report, "markdown")
    document = json.loads(render(report, "json"))
    fields = document["hosts"][0]["changes"][0]["fields"]
    assert fields[0] == {"path": "content", "before": None, "after": "<sensitive>"}


def test_secret_nested_in_a_value_is_redacted() -> None:
    change = Change("x/y", Action.UPDATE, (FieldChange("v", None, [Secret(PLAINTEXT)]),))  # type: ignore[list-item]
    report = RunReport("drift", (HostResult("h", HostStatus.DRIFT, changes=(change,)),))
    for fmt in ("text", "junit", "markdown", "html"):
        output = render(report, fmt)
        assert PLAINTEXT not in output
        assert "sensitive" in output


# --- JSON ----------------------------------------------------------------------------------


def _closed(schema: dict[str, JSONValue]) -> dict[str, JSONValue]:
    """The schema with every object closed, so the test also catches undeclared properties.

    The published schema stays open (minor versions add properties); the test holds the
    renderer and the schema to the same list of properties.
    """
    schema = copy.deepcopy(schema)

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "properties" in node:
                node.setdefault("additionalProperties", False)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return schema


@pytest.mark.parametrize("case", CASE_NAMES)
def test_json_validates_against_published_schema(case: str) -> None:
    document = json.loads(render(CASES[case].report, "json"))
    jsonschema.Draft202012Validator.check_schema(report_schema())
    jsonschema.Draft202012Validator(report_schema()).validate(document)
    jsonschema.Draft202012Validator(_closed(report_schema())).validate(document)


def test_schema_rejects_a_wrong_document() -> None:
    document = json.loads(render(CASES["drift"].report, "json"))
    document["hosts"][0]["changes"][0]["action"] = "explode"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(report_schema()).validate(document)


@pytest.mark.parametrize("case", CASE_NAMES)
def test_json_round_trips_every_value_whole(case: str) -> None:
    report = CASES[case].report
    assert json.loads(render(report, "json")) == report_to_json(report)


def test_json_is_sorted_and_indented() -> None:
    output = render(CASES["check"].report, "json")
    assert output.startswith('{\n  "exit_code": 2,\n  "format_version": "1.2",')
    assert output.endswith("}\n")


# --- JUnit ---------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_junit_counts_are_right(case: str) -> None:
    expected = CASES[case].junit
    root = ET.fromstring(render(CASES[case].report, "junit"))
    assert root.tag == "testsuites"
    for element in [root, *root.findall("testsuite")]:
        cases = element.findall(".//testcase")
        assert int(element.get("tests", "-1")) == len(cases)
        for attr, tag in (("failures", "failure"), ("errors", "error"), ("skipped", "skipped")):
            assert int(element.get(attr, "-1")) == len(element.findall(f".//testcase/{tag}"))
    totals = (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped"))
    assert totals == tuple(
        str(n) for n in (expected.tests, expected.failures, expected.errors, expected.skipped)
    )
    hosts = [h.host for h in CASES[case].report.hosts]
    assert [s.get("name") for s in root.findall("testsuite")] == [one_line(h) for h in hosts]


def test_junit_shape_for_drift() -> None:
    root = ET.fromstring(render(CASES["drift"].report, "junit"))
    assert root.get("name") == "checkpointctl drift"
    suite = root.find("testsuite[@name='cp-ams-1']")
    assert suite is not None
    case = suite.find("testcase[@name='collection/probe']")
    assert case is not None
    assert case.get("classname") == "cp-ams-1"
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "drifted: 5 fields"
    assert failure.get("type") == "drift"
    assert "~ interval: 60 → 30" in (failure.text or "")
    in_sync = root.find("testsuite[@name='cp-ams-2']/testcase")
    assert in_sync is not None
    assert in_sync.get("name") == "in-sync"
    assert len(in_sync) == 0
    error = root.find("testsuite[@name='cp-fra-2']/testcase[@name='unreachable']/error")
    assert error is not None
    assert "timed out" in (error.get("message") or "")


def test_junit_apply_marks_applied_failed_and_skipped() -> None:
    root = ET.fromstring(render(CASES["apply_halted"].report, "junit"))
    suite = root.find("testsuite[@name='cp-ams-2']")
    assert suite is not None
    kinds = {c.get("name"): [child.tag for child in c] for c in suite.findall("testcase")}
    assert kinds == {
        "credential/api-login": [],
        "container/probe": ["error"],
        "container/old-exporter": ["skipped"],
    }
    skipped = root.find("testsuite[@name='cp-fra-2']/testcase[@name='not-attempted']/skipped")
    assert skipped is not None


def test_junit_carries_hostile_values_intact() -> None:
    root = ET.fromstring(render(CASES["hostile"].report, "junit"))
    failure = root.find(".//failure")
    assert failure is not None
    text = failure.text or ""
    assert "]]>" in text
    assert "<script>alert(1)</script>" in text
    assert "\x1b" not in text
    assert "\x00" not in text
    assert "\\u001b[31mred" in text


# --- text ----------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASE_NAMES)
def test_colour_only_adds_ansi_codes(case: str) -> None:
    report = CASES[case].report
    plain = render(report, "text")
    coloured = render(report, "text", color=True)
    assert "\x1b" not in plain
    assert ANSI.sub("", coloured) == plain
    if report.hosts:
        assert "\x1b[" in coloured


def test_colours_by_symbol() -> None:
    coloured = render(CASES["drift"].report, "text", color=True)
    assert "\x1b[32m+\x1b[0m labels.env: prod" in coloured
    assert "\x1b[33m~\x1b[0m interval: 60 → 30" in coloured
    assert "\x1b[31m-\x1b[0m legacy_mode: true" in coloured


@pytest.mark.parametrize("case", CASE_NAMES)
def test_text_has_no_control_characters(case: str) -> None:
    for line in render(CASES[case].report, "text").splitlines():
        assert all(unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in line)


def test_text_drift_wording() -> None:
    text = render(CASES["drift"].report, "text")
    assert text.startswith("cp-ams-1: 4 changes\n")
    assert (
        "  # collection/probe has drifted and would be updated in-place "
        "(from policies/base.yml:14:9)\n    reason: interval edited by hand\n" in text
    )
    assert "# credential/api-login would be created" in text
    assert "# container/probe has drifted and would be replaced" in text
    assert "# container/old-exporter would be deleted" in text
    assert "    - image: registry.lab:5000/exporter:1.2\n" in text
    assert "No changes. cp-ams-2 is in sync." in text
    assert "cp-fra-2: unreachable: connect to 10.213.0.12:22 timed out after 10s" in text
    assert "  ! container/rogue: not managed by checkpointctl; publishes 8080/tcp\n" in text
    assert text.endswith(
        "Plan: 1 to create, 2 to update, 1 to replace, 1 to delete on 2 of 5 hosts; "
        "1 unreachable, 1 failed.\n"
    )


def test_text_apply_wording() -> None:
    text = render(CASES["apply_halted"].report, "text")
    assert "cp-ams-1: 2 changes applied" in text
    assert "# collection/probe was updated in-place" in text
    assert "cp-ams-2: failed: container/probe did not converge" in text
    assert "# container/probe could not be replaced" in text
    assert "# container/old-exporter was not deleted (not attempted)" in text
    assert "cp-fra-2: not attempted\n" in text


def test_text_check_wording() -> None:
    text = render(CASES["check"].report, "text")
    assert "# firewall/checkpointctl will be updated in-place" in text
    assert "~ rules[2].ports: [443] → [443, 8443]" in text


def test_long_values_are_cut_in_the_middle() -> None:
    text = render(CASES["hostile"].report, "text")
    (line,) = [line for line in text.splitlines() if "description:" in line]
    before = line.split("description: ", 1)[1].split(" → ")[0]
    assert len(before) == MAX_VALUE_CHARS
    assert before.startswith(LONG[:25])
    assert before.endswith(LONG[-25:])
    assert "…" in before
    assert LONG not in text


def test_hostile_values_stay_on_their_line() -> None:
    text = render(CASES["hostile"].report, "text")
    # headline, change headline, reason, 5 fields, 1 finding; blank; unreachable; blank;
    # recap title and 2 hosts; blank; summary
    assert len(text.splitlines()) == 17
    assert "reason: reason with\\nnewline ]]> and <b>html</b>" in text


# --- Markdown ------------------------------------------------------------------------------


def _cells(row: str) -> list[str]:
    """Split a GFM table row on unescaped pipes (a backslash escapes the next character)."""
    cells, current, escaped = [], "", False
    for char in row:
        if escaped:
            current += char
            escaped = False
        elif char == "\\":
            current += char
            escaped = True
        elif char == "|":
            cells.append(current)
            current = ""
        else:
            current += char
    cells.append(current)
    return cells[1:-1]  # the row starts and ends with a pipe


def _tables(markdown: str) -> list[list[str]]:
    tables: list[list[str]] = []
    previous = ""
    for line in markdown.split("\n"):
        if line.startswith("|"):
            if not previous.startswith("|"):
                tables.append([])
            tables[-1].append(line)
        previous = line
    return tables


@pytest.mark.parametrize("case", CASE_NAMES)
def test_markdown_tables_keep_their_shape(case: str) -> None:
    markdown = render(CASES[case].report, "markdown")
    tables = _tables(markdown)
    assert tables, "the host table is always there"
    for table in tables:
        width = len(_cells(table[0]))
        assert width in (3, 5)
        assert _cells(table[1]) == [" --- "] * width
        for row in table:
            assert row.endswith("|")
            assert len(_cells(row)) == width, row
    hosts = CASES[case].report.hosts
    assert len(tables[0]) == 2 + len(hosts)


def test_markdown_escapes_markup() -> None:
    markdown = render(CASES["hostile"].report, "markdown")
    assert "<script>" not in markdown
    assert "<b>" not in markdown
    assert "<i>" not in markdown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markdown
    assert "\\`code\\`" in markdown
    assert "`code`" not in markdown.replace("\\`", "")
    assert "\x1b" not in markdown
    # only our own details/summary tags are HTML
    tags = set(re.findall(r"</?([a-zA-Z]+)", markdown))
    assert tags <= {"details", "summary"}


def test_markdown_drift_layout() -> None:
    markdown = render(CASES["drift"].report, "markdown")
    assert markdown.startswith(
        "**checkpointctl drift:** Plan: 1 to create, 2 to update, 1 to replace, 1 to delete on "
        "2 of 5 hosts; 1 unreachable, 1 failed.\n\n| host | status | changes |\n"
    )
    assert "| cp-fra-2 | unreachable | — |" in markdown
    assert "<details><summary>cp-ams-1: 4 changes</summary>" in markdown
    assert "| collection/probe | update | interval | 60 | 30 |" in markdown
    assert "| credential/api-login | create | content |  | &lt;sensitive&gt; |" in markdown


# --- summary line and API ------------------------------------------------------------------


def test_summary_line_per_mode() -> None:
    assert summary_line(CASES["all_in_sync"].report) == (
        "Plan: 0 to create, 0 to update, 0 to replace, 0 to delete on 0 of 2 hosts."
    )
    assert summary_line(CASES["apply_halted"].report) == (
        "Applied: 1 created, 2 updated, 0 replaced, 0 deleted on 2 of 6 hosts; "
        "1 unreachable, 1 failed, 2 not attempted; "
        "halted: max-fail 10% exceeded after batch 1 (2 of 4 hosts failed)."
    )
    assert "\n" not in summary_line(CASES["hostile"].report)


def test_render_refuses_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown report format 'yaml'"):
        render(CASES["drift"].report, "yaml")  # type: ignore[arg-type]


def test_report_imports_only_model_and_stdlib() -> None:
    """DESIGN.md: ``report`` depends on ``model`` only, so it renders without hosts."""
    package = Path(checkpointctl.report.__file__).parent
    for module in package.glob("*.py"):
        tree = ast.parse(module.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{module.name}: use absolute imports"
                names = [node.module or ""]
            for name in names:
                if name.startswith("checkpointctl"):
                    allowed = name.startswith(("checkpointctl.model", "checkpointctl.report"))
                    assert allowed, f"{module.name} imports {name}"


# --- display helpers -----------------------------------------------------------------------


def test_format_value_quotes_only_when_ambiguous() -> None:
    assert format_value("prod") == "prod"
    assert format_value("60") == '"60"'
    assert format_value(60) == "60"
    assert format_value("") == '""'
    assert format_value(" padded") == '" padded"'
    assert format_value("true") == '"true"'
    assert format_value(None) == "null"
    assert format_value("<sensitive>") == '"<sensitive>"'
    assert format_value(Secret(PLAINTEXT)) == "<sensitive>"
    assert format_value({"b": 1, "a": [True]}) == '{"a": [true], "b": 1}'
    assert format_value("a\nb") == '"a\\nb"'


def test_one_line_escapes_terminal_and_invisible_characters() -> None:
    assert one_line(HOSTILE_MULTILINE) == (
        "line1\\nline2\\r\\n\\x1b[31mred\\x1b[0m\\x00\\u202egnp.exe\\u2028end"
    )
    assert one_line(HOSTILE_TEXT) == HOSTILE_TEXT
    assert one_line("\ufffe\ud800") == "\\ufffe\\ud800"


def test_shorten() -> None:
    assert shorten("a" * 60) == "a" * 60
    cut = shorten("a" * 30 + "b" * 31)
    assert cut == "a" * 30 + "…" + "b" * 29
    assert len(cut) == 60


# --- generated hostile values --------------------------------------------------------------

json_values: st.SearchStrategy[JSONValue] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=6,
)


@given(
    host=st.text(min_size=1),
    address=st.text(),
    path=st.text(),
    before=json_values,
    after=json_values,
    error=st.text(),
)
def test_any_values_keep_every_format_well_formed(
    host: str, address: str, path: str, before: JSONValue, after: JSONValue, error: str
) -> None:
    change = Change(address, Action.UPDATE, (FieldChange(path, before, after),), reason=error)
    report = RunReport(
        "drift",
        (
            HostResult(host, HostStatus.DRIFT, changes=(change,)),
            HostResult(host, HostStatus.UNREACHABLE, error=error),
        ),
        halted=error or None,
    )
    root = ET.fromstring(render(report, "junit"))
    assert root.get("failures") == "1"
    assert root.get("errors") == "1"
    # 7 lines of host blocks and summary (8 with a reason), then the recap: a blank line,
    # its title and one line per host
    assert len(render(report, "text").splitlines()) == (12 if change.reason else 11)
    for table in _tables(render(report, "markdown")):
        width = len(_cells(table[0]))
        assert all(len(_cells(row)) == width for row in table)
    assert json.loads(render(report, "json")) == report_to_json(report)
