"""Trust, scan gate and digest verification: pure, fed with report files in the real formats."""

from __future__ import annotations

import json
from datetime import date

import pytest
from container_cases import SCANS, image_ref

from checkpointctl.errors import ResourceError
from checkpointctl.model import JSONValue
from checkpointctl.resources.containers.images import (
    ScanVerdict,
    check_gate,
    gate_problem,
    gate_verdict,
    has_repo_digest,
    scan_verdict,
    trust_problem,
    verify_repo_digest,
)
from checkpointctl.spec import RegistriesSpec, ScanGate, TrustedRegistry

V1 = "sha256:60a129a36c2094ef099582a3fc1a88c25ccc30a5dfe4b87c28b239a60c2d0aba"
V2 = "sha256:11ff24315f340e8cead95e72d79a6c5b2625f03242240b8626524426f7fa6326"
REPO = "10.213.0.1:5000/checkpoint/probe"
TRUSTED = RegistriesSpec(trusted=(TrustedRegistry("10.213.0.1:5000", "checkpoint/"),))
GATED = RegistriesSpec(trusted=TRUSTED.trusted, scan=ScanGate(required=True, max_severity="high"))


def report(name: str) -> object:
    return json.loads((SCANS / name).read_text())


@pytest.mark.parametrize(
    ("file", "max_severity", "ok", "reason_has"),
    [
        ("minimal-clean.json", "high", True, "no finding at or above HIGH"),
        ("minimal-high.json", "high", False, "CVE-2023-4911 (HIGH)"),
        ("minimal-high.json", "critical", True, "no finding at or above CRITICAL"),
        ("minimal-high.json", "low", False, "CVE-2023-0001 (LOW)"),
        ("minimal-medium.json", "high", True, "no finding"),
        ("minimal-medium.json", "medium", False, "CVE-2022-1111 (MEDIUM)"),
        ("trivy-critical.json", "critical", False, "CVE-2024-3094 (CRITICAL)"),
        ("trivy-critical.json", "high", False, "2 finding(s) at or above HIGH"),
        ("trivy-clean.json", "low", True, "no finding"),
        ("grype-high.json", "high", False, "CVE-2023-4911 (HIGH)"),
        ("grype-high.json", "critical", True, "no finding"),
        ("not-an-object.json", "high", False, "not a JSON object"),
        ("unknown-form.json", "high", False, "no known form"),
    ],
)
def test_scan_verdict_per_report(file: str, max_severity: str, ok: bool, reason_has: str) -> None:
    got_ok, reason = scan_verdict(report(file), max_severity, digest=V1)
    assert (got_ok, reason_has in reason) == (ok, True), reason


def test_unknown_and_negligible_never_block() -> None:
    ok, reason = scan_verdict(report("grype-high.json"), "low", digest=V1)
    assert not ok
    assert "CVE-2005-2541" not in reason  # negligible
    ok, _ = scan_verdict({"findings": [{"id": "X", "severity": "UNKNOWN"}]}, "low")
    assert ok


def test_missing_report_is_refused() -> None:
    assert scan_verdict(None, "high") == (False, "no scan report")


def test_report_about_another_digest_is_refused() -> None:
    ok, reason = scan_verdict(report("minimal-other-digest.json"), "high", digest=V1)
    assert not ok
    assert V2 in reason
    # Trivy and Grype name their digest too
    assert not scan_verdict(report("trivy-clean.json"), "high", digest=V2)[0]
    assert scan_verdict(report("trivy-clean.json"), "high", digest=V1)[0]


def test_allow_list_waives_until_expiry() -> None:
    allow = {"CVE-2023-4911": date(2030, 1, 1)}
    ok, reason = scan_verdict(
        report("minimal-high.json"), "high", allow=allow, today=date(2029, 12, 31)
    )
    assert ok
    assert "allowed: CVE-2023-4911" in reason
    ok, reason = scan_verdict(
        report("minimal-high.json"), "high", allow=allow, today=date(2030, 1, 2)
    )
    assert not ok
    assert "CVE-2023-4911" in reason


def test_unknown_threshold_is_refused() -> None:
    assert scan_verdict(report("minimal-clean.json"), "severe")[0] is False


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (f"{REPO}", "is not pinned by digest"),
        (f"{REPO}@sha256:1234", "is not pinned by digest"),
        (f"{REPO}@sha512:" + "a" * 128, "is not pinned by digest"),
        (f"{REPO}:v1@{V1}", "carries a tag beside its digest"),
        (f"10.213.0.1:5000/untrusted/tool@{V1}", "not from a trusted registry"),
        (f"10.213.0.9:5000/checkpoint/probe@{V1}", "not from a trusted registry"),
        (f"busybox@{V1}", "not from a trusted registry"),
    ],
)
def test_trust_refusals(image: str, message: str) -> None:
    ref = image_ref(image)
    problem = trust_problem(ref, TRUSTED)
    assert problem is not None
    assert message in problem
    with pytest.raises(ResourceError, match=message):
        check_gate(ref, TRUSTED, None)


def test_trusted_pinned_image_passes() -> None:
    assert trust_problem(image_ref(f"{REPO}@{V1}"), TRUSTED) is None
    check_gate(image_ref(f"{REPO}@{V1}"), TRUSTED, None)


def test_empty_trusted_list_allows_nothing() -> None:
    problem = trust_problem(image_ref(f"{REPO}@{V1}"), RegistriesSpec())
    assert problem is not None
    assert "trusted: none" in problem


def test_scan_gate_needs_a_passing_verdict_for_this_digest() -> None:
    ref = image_ref(f"{REPO}@{V1}")
    missing = gate_problem(ref, GATED, None)
    assert missing is not None
    assert "no scan verdict" in missing
    assert "scans/60a129a36c20" in missing
    other = gate_problem(ref, GATED, ScanVerdict(V2, True, "clean"))
    assert other is not None
    assert "no scan verdict" in other
    failed = gate_problem(ref, GATED, ScanVerdict(V1, False, "1 finding(s): CVE-2024-3094"))
    assert failed is not None
    assert "refused by the scan gate: 1 finding(s): CVE-2024-3094" in failed
    assert gate_problem(ref, GATED, ScanVerdict(V1, True, "clean")) is None
    # not required: no verdict needed
    assert gate_problem(ref, TRUSTED, None) is None


def test_repo_digests_must_hold_exactly_the_pinned_reference() -> None:
    ref = image_ref(f"{REPO}@{V1}")
    assert has_repo_digest([f"{REPO}@{V1}"], ref)
    assert not has_repo_digest([f"{REPO}@{V2}"], ref)
    assert not has_repo_digest([f"10.213.0.1:5000/untrusted/tool@{V1}"], ref)
    assert has_repo_digest([f"busybox@{V1}"], image_ref(f"docker.io/library/busybox@{V1}"))
    assert verify_repo_digest({"Id": "sha256:abc", "RepoDigests": [f"{REPO}@{V1}"]}, ref) == (
        "sha256:abc"
    )
    with pytest.raises(ResourceError, match="does not match the pinned digest"):
        verify_repo_digest({"Id": "sha256:abc", "RepoDigests": [f"{REPO}@{V2}"]}, ref)
    with pytest.raises(ResourceError, match="RepoDigests: none"):
        verify_repo_digest({"Id": "sha256:abc", "RepoDigests": None}, ref)


def test_gate_verdict_wraps_the_judgement_for_a_change() -> None:
    today = date(2026, 1, 1)
    gate = ScanGate(required=True, max_severity="critical")
    verdict = gate_verdict(gate, V1, report("trivy-critical.json"), today)
    assert verdict.digest == V1
    assert not verdict.ok
    assert "CVE-2024-3094" in verdict.reason
    high = ScanGate(required=True, max_severity="high")
    assert gate_verdict(high, V1, None, today) == ScanVerdict(V1, False, "no scan report")


@pytest.mark.parametrize(
    "malformed",
    [
        {"SchemaVersion": 2, "Results": {"Target": "x"}},
        {"SchemaVersion": 2, "Results": [{"Vulnerabilities": {"VulnerabilityID": "CVE-X"}}]},
        {"SchemaVersion": 2, "Results": ["not an object"]},
        {"matches": [{"vulnerability": "CVE-X"}]},
    ],
)
def test_a_report_of_the_wrong_shape_is_refused_not_read_as_clean(malformed: JSONValue) -> None:
    ok, reason = scan_verdict(malformed, "high", digest=V1)
    assert not ok
    assert "no known form" in reason


def test_digests_named_outside_a_list_still_refuse_another_image() -> None:
    # Trivy writes RepoDigests as a list; one written as a bare string still names a digest,
    # so a clean report about another image cannot clear this one.
    other = {"SchemaVersion": 2, "Results": [], "Metadata": {"RepoDigests": f"{REPO}@{V2}"}}
    ok, reason = scan_verdict(other, "high", digest=V1)
    assert not ok
    assert V2 in reason
    same = {"SchemaVersion": 2, "Results": [], "Metadata": {"RepoDigests": f"{REPO}@{V1}"}}
    assert scan_verdict(same, "high", digest=V1)[0]
