"""The CI report: JUnit XML, so nightly drift shows up in any CI's test view.

Mapping (the contract CI dashboards see):

- ``<testsuites name="checkpointctl <mode>">`` holds one ``<testsuite name="<host>">`` per host;
- each change address is a ``<testcase classname="<host>" name="<address>">``. In drift and
  check mode it carries ``<failure type="drift" message="drifted: N fields">`` whose text lists
  the fields (secrets redacted). In apply mode an applied change passes, the failed one carries
  ``<error type="apply">`` and the ones not reached are ``<skipped/>``;
- each resource kind read on the host without a change (``HostResult.checked``) is a passing
  testcase named after the kind (``firewall``, ``container``…), so a nightly job shows every
  host × resource, passing or not; a host with no changes and no such list gets one passing
  testcase ``in-sync``;
- an unreachable or failed host gets a testcase named after its status with ``<error>``; a host
  that was not attempted gets one ``<skipped/>`` testcase ``not-attempted``;
- findings go to the suite's ``<system-out>``: they are for people and never change counts.

The document is built with ``xml.etree`` (which escapes markup) from text that
:mod:`~checkpointctl.report.display` has already made printable, so even values holding ``]]>``,
NUL or escape sequences yield well-formed XML 1.0.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter

from checkpointctl.model import Change, HostResult, HostStatus, RunReport
from checkpointctl.report.display import field_symbol, field_text, one_line
from checkpointctl.report.provenance import accepted_text, origin_text
from checkpointctl.report.summary import change_headline, change_outcome, plural

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
_KINDS = ("failure", "error", "skipped")


def _change_details(report: RunReport, host: HostResult, change: Change) -> str:
    lines = [change_headline(report, host, change)]
    if change.reason:
        lines.append(f"reason: {one_line(change.reason)}")
    origin = origin_text(host, change)
    if origin:
        lines.append(f"origin: {origin}")
    lines.extend(f"{field_symbol(f)} {field_text(f)}" for f in change.fields)
    return "\n".join(lines)


def _testcase(host: HostResult, name: str) -> ET.Element:
    return ET.Element("testcase", {"classname": one_line(host.host), "name": one_line(name)})


def _child(parent: ET.Element, kind: str, message: str, type_: str, text: str = "") -> None:
    element = ET.SubElement(parent, kind, {"message": message, "type": type_})
    if text:
        element.text = text


def _change_case(report: RunReport, host: HostResult, change: Change) -> ET.Element:
    case = _testcase(host, change.address)
    details = _change_details(report, host, change)
    outcome = change_outcome(report, host, change)
    if outcome == "planned":
        origin = f" ({change.origin.value})" if change.origin else ""
        message = f"drifted{origin}: {plural(len(change.fields), 'field')}"
        _child(case, "failure", message, "drift", details)
    elif outcome == "failed":
        message = f"apply failed: {one_line(host.error)}" if host.error else "apply failed"
        _child(case, "error", message, "apply", details)
    elif outcome == "skipped":
        _child(case, "skipped", "not applied: the host stopped at an earlier failure", "apply")
    return case


def _host_cases(report: RunReport, host: HostResult) -> list[ET.Element]:
    error = one_line(host.error) if host.error else ""
    if host.status is HostStatus.UNREACHABLE:
        case = _testcase(host, "unreachable")
        _child(case, "error", error or "unreachable", "unreachable")
        return [case]
    if host.status is HostStatus.NOT_ATTEMPTED:
        case = _testcase(host, "not-attempted")
        reason = error or (f"halted: {one_line(report.halted)}" if report.halted else "")
        _child(case, "skipped", reason or "not attempted", "not-attempted")
        return [case]
    cases = [_change_case(report, host, c) for c in host.changes]
    for accepted in host.accepted:
        case = _testcase(host, accepted.address)
        _child(case, "skipped", accepted_text(accepted), "accepted")
        cases.append(case)
    changed = {c.kind for c in host.changes}
    cases += [_testcase(host, kind) for kind in host.checked if kind not in changed]
    failed_address_reported = host.failed is not None and any(
        c.address == host.failed for c in host.changes
    )
    if host.status is HostStatus.FAILED and not (
        report.mode == "apply" and failed_address_reported
    ):
        case = _testcase(host, "failed")
        _child(case, "error", error or "failed", "failed")
        cases.append(case)
    if not cases:
        cases.append(_testcase(host, "in-sync"))
    return cases


def junit_suite(report: RunReport, host: HostResult) -> tuple[ET.Element, Counter[str]]:
    """``host``'s ``testsuite`` element (not indented) and its counts for the root's totals."""
    cases = _host_cases(report, host)
    counts: Counter[str] = Counter(
        child.tag for case in cases for child in case if child.tag in _KINDS
    )
    counts["tests"] = len(cases)
    suite = ET.Element("testsuite", {"name": one_line(host.host)})
    _set_counts(suite, counts, host.seconds)
    suite.extend(cases)
    if host.findings:
        out = ET.SubElement(suite, "system-out")
        out.text = "\n".join(
            f"! {one_line(f.address)}: {one_line(f.message)} [{f.severity}]" for f in host.findings
        )
    return suite, counts


def _set_counts(element: ET.Element, counts: Counter[str], seconds: float) -> None:
    element.set("tests", str(counts["tests"]))
    element.set("failures", str(counts["failure"]))
    element.set("errors", str(counts["error"]))
    element.set("skipped", str(counts["skipped"]))
    element.set("time", f"{seconds:.3f}")


def junit_root(mode: str, totals: Counter[str], seconds: float) -> ET.Element:
    """The ``testsuites`` element with the run's totals, without its suites."""
    root = ET.Element("testsuites", {"name": f"checkpointctl {mode}"})
    _set_counts(root, totals, seconds)
    return root


def render_junit(report: RunReport) -> str:
    """The report as a JUnit XML document (UTF-8 declaration, indented, ending with a newline)."""
    totals: Counter[str] = Counter()
    suites = []
    for host in report.hosts:
        suite, counts = junit_suite(report, host)
        totals.update(counts)
        suites.append(suite)
    root = junit_root(report.mode, totals, sum(h.seconds for h in report.hosts))
    root.extend(suites)
    ET.indent(root)
    return XML_DECLARATION + ET.tostring(root, encoding="unicode") + "\n"
