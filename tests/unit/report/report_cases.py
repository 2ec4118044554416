"""Report cases for the renderer tests, built from model objects.

Each case is a :class:`~checkpointctl.model.RunReport` plus the JUnit totals it must produce.
Adding a case here is all it takes: the golden tests render it in every format and
``UPDATE_GOLDEN=1 pytest tests/unit/report`` writes its golden files.
"""

from __future__ import annotations

from dataclasses import dataclass

from checkpointctl.errors import Location
from checkpointctl.model import (
    Action,
    Change,
    FieldChange,
    Finding,
    HostResult,
    HostStatus,
    RunReport,
    Secret,
)

PLAINTEXT = "s3cr3t-PLAINTEXT"
"""Every secret in these cases contains this; no rendered output may."""

DIGEST_A = "registry.lab:5000/probe@sha256:" + "ab12" * 16
DIGEST_B = "registry.lab:5000/probe@sha256:" + "cd34" * 16
LONG = "x" * 40 + "-middle-" + "y" * 400 + "-end"


@dataclass(frozen=True)
class JUnitTotals:
    tests: int
    failures: int
    errors: int
    skipped: int


@dataclass(frozen=True)
class Case:
    report: RunReport
    junit: JUnitTotals


_CREATE_CREDENTIAL = Change(
    address="credential/api-login",
    action=Action.CREATE,
    fields=(
        FieldChange("content", None, Secret(PLAINTEXT)),
        FieldChange("mode", None, "0600"),
    ),
    reason="file is missing",
    source=Location("policies/base.yml", 31, 7),
)
_UPDATE_COLLECTION = Change(
    address="collection/probe",
    action=Action.UPDATE,
    fields=(
        FieldChange("interval", 60, 30),
        FieldChange("labels.env", None, "prod"),
        FieldChange("legacy_mode", True, None),
        FieldChange("targets", ["10.0.0.1", "10.0.0.2"], ["10.0.0.1"]),
        FieldChange("comment", "", "60"),
    ),
    reason="interval edited by hand",
    source=Location("policies/base.yml", 14, 9),
)
_REPLACE_CONTAINER = Change(
    address="container/probe",
    action=Action.REPLACE_CREATE_FIRST,
    fields=(
        FieldChange("image", DIGEST_A, DIGEST_B),
        FieldChange("labels.io.checkpointctl.config-digest", "sha256:0000", "sha256:1111"),
    ),
    reason="image changed",
)
_DELETE_CONTAINER = Change(
    address="container/old-exporter",
    action=Action.DELETE,
    fields=(FieldChange("image", "registry.lab:5000/exporter:1.2", None),),
)
_ROTATE_SECRET = Change(
    address="credential/upload-token",
    action=Action.UPDATE,
    fields=(FieldChange("content", Secret("old-" + PLAINTEXT), Secret(PLAINTEXT)),),
    source=Location("policies/eu.yml", 3, 5),
)
_FIREWALL = Change(
    address="firewall/checkpointctl",
    action=Action.UPDATE,
    fields=(FieldChange("rules[2].ports", [443], [443, 8443]),),
)


def _all_in_sync() -> Case:
    report = RunReport(
        mode="drift",
        hosts=(
            HostResult("cp-ams-1", HostStatus.IN_SYNC, seconds=1.25),
            HostResult("cp-ams-2", HostStatus.IN_SYNC, seconds=0.5),
        ),
    )
    return Case(report, JUnitTotals(tests=2, failures=0, errors=0, skipped=0))


def _drift() -> Case:
    report = RunReport(
        mode="drift",
        hosts=(
            HostResult(
                "cp-ams-1",
                HostStatus.DRIFT,
                changes=(
                    _CREATE_CREDENTIAL,
                    _UPDATE_COLLECTION,
                    _REPLACE_CONTAINER,
                    _DELETE_CONTAINER,
                ),
                findings=(
                    Finding("container/rogue", "not managed by checkpointctl; publishes 8080/tcp"),
                    Finding("firewall/inet-filter", "a second table accepts all input", "error"),
                ),
                seconds=2.0,
            ),
            HostResult("cp-ams-2", HostStatus.IN_SYNC, seconds=1.0),
            HostResult(
                "cp-fra-1",
                HostStatus.DRIFT,
                changes=(_ROTATE_SECRET,),
                findings=(Finding("host/kernel", "kernel 6.1 is older than advised", "info"),),
                seconds=1.5,
            ),
            HostResult(
                "cp-fra-2",
                HostStatus.UNREACHABLE,
                error="connect to 10.213.0.12:22 timed out after 10s",
                seconds=10.0,
            ),
            HostResult(
                "cp-fra-3",
                HostStatus.FAILED,
                error="reading firewall/checkpointctl: `nft -j list table` exited 1",
                seconds=0.75,
            ),
        ),
    )
    # cp-ams-1: 4 failures; cp-ams-2: 1 pass; cp-fra-1: 1 failure; cp-fra-2, cp-fra-3: 1 error each
    return Case(report, JUnitTotals(tests=8, failures=5, errors=2, skipped=0))


def _check() -> Case:
    report = RunReport(
        mode="check",
        hosts=(
            HostResult("cp-lab-1", HostStatus.DRIFT, changes=(_FIREWALL,), seconds=0.25),
            HostResult("cp-lab-2", HostStatus.IN_SYNC, seconds=0.25),
        ),
    )
    return Case(report, JUnitTotals(tests=2, failures=1, errors=0, skipped=0))


def _apply_halted() -> Case:
    report = RunReport(
        mode="apply",
        hosts=(
            HostResult(
                "cp-ams-1",
                HostStatus.CONVERGED,
                changes=(_UPDATE_COLLECTION, _FIREWALL),
                applied=("collection/probe", "firewall/checkpointctl"),
                seconds=4.5,
            ),
            HostResult(
                "cp-ams-2",
                HostStatus.FAILED,
                changes=(_CREATE_CREDENTIAL, _REPLACE_CONTAINER, _DELETE_CONTAINER),
                applied=("credential/api-login",),
                failed="container/probe",
                error="container/probe did not converge: health check failed after 30s",
                seconds=31.0,
            ),
            HostResult("cp-ams-3", HostStatus.CONVERGED, seconds=0.5),
            HostResult("cp-fra-1", HostStatus.UNREACHABLE, error="connection refused", seconds=0.1),
            HostResult("cp-fra-2", HostStatus.NOT_ATTEMPTED),
            HostResult("cp-fra-3", HostStatus.NOT_ATTEMPTED, error="skipped: rollout halted"),
        ),
        halted="max-fail 10% exceeded after batch 1 (2 of 4 hosts failed).",
    )
    # cp-ams-1: 2 pass; cp-ams-2: pass, error, skipped; cp-ams-3: in-sync;
    # cp-fra-1: error; cp-fra-2, cp-fra-3: skipped
    return Case(report, JUnitTotals(tests=9, failures=0, errors=2, skipped=3))


def _apply_failed_before_any_change() -> Case:
    report = RunReport(
        mode="apply",
        hosts=(
            HostResult(
                "cp-lab-1",
                HostStatus.FAILED,
                changes=(_FIREWALL,),
                error="convergence lock held by ci-runner-7 since 12:01",
            ),
        ),
    )
    # the change was never reached (skipped) and the host error gets its own testcase
    return Case(report, JUnitTotals(tests=2, failures=0, errors=1, skipped=1))


def _empty() -> Case:
    return Case(RunReport(mode="drift", hosts=()), JUnitTotals(0, 0, 0, 0))


HOSTILE_TEXT = "a|b `code` <script>alert(1)</script> ]]> & *em* [x](y) $x$ \\"
HOSTILE_MULTILINE = "line1\nline2\r\n\x1b[31mred\x1b[0m\x00\u202egnp.exe\u2028end"


def _hostile() -> Case:
    hostile_change = Change(
        address="container/" + HOSTILE_TEXT,
        action=Action.UPDATE,
        fields=(
            FieldChange("labels.a|b<c>", HOSTILE_TEXT, HOSTILE_MULTILINE),
            FieldChange("command", ["sh", "-c", "echo ]]> | tee </dev/null"], None),
            FieldChange("description", LONG, "short"),
            FieldChange("env.TOKEN", Secret(PLAINTEXT + "|<script>"), Secret(PLAINTEXT + "\n")),
            FieldChange("nested", {"k|`": [HOSTILE_MULTILINE]}, {"k": "\ufffe\ud800"}),
        ),
        reason="reason with\nnewline ]]> and <b>html</b>",
        source=Location("policies/a|b <x>.yml", 1, 2),
    )
    report = RunReport(
        mode="drift",
        hosts=(
            HostResult(
                "cp-<b>|1",
                HostStatus.DRIFT,
                changes=(hostile_change,),
                findings=(Finding("container/`x`", HOSTILE_MULTILINE + HOSTILE_TEXT, "error"),),
            ),
            HostResult("cp-2\n]]>", HostStatus.UNREACHABLE, error=HOSTILE_MULTILINE + HOSTILE_TEXT),
        ),
        halted="halted | <i>because</i>\nof ]]>",
    )
    return Case(report, JUnitTotals(tests=2, failures=1, errors=1, skipped=0))


CASES: dict[str, Case] = {
    "all_in_sync": _all_in_sync(),
    "drift": _drift(),
    "check": _check(),
    "apply_halted": _apply_halted(),
    "apply_failed_before_any_change": _apply_failed_before_any_change(),
    "empty": _empty(),
    "hostile": _hostile(),
}
