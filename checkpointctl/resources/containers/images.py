"""Image trust: which images may run, and proof that the one pulled is the one pinned.

The article the product grew from asks for images from a small set of trusted registries,
scanned before they are installed. Policy lint refuses untrusted or unpinned images at
``validate``; this module checks again at ``apply`` (defence in depth: a bundle or a hand-built
desired state never went through lint) and verifies, after a pull, that the engine holds the
pinned manifest digest before anything runs it.

Everything here is pure except :func:`pull_verified`, the one thin call into the engine.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from checkpointctl.errors import ResourceError
from checkpointctl.model import JSONValue
from checkpointctl.model.jsondoc import JSONObject, as_object, as_strs
from checkpointctl.spec import ImageRef, RegistriesSpec, ScanGate
from checkpointctl.transport.base import DockerApi

DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

SEVERITY_RANK: Mapping[str, int] = {
    "unknown": 0,
    "negligible": 0,
    "low": 1,
    "medium": 2,
    "high": 3,
    "critical": 4,
}
"""Trivy and Grype severities on one scale. Unknown and negligible never block: a gate that
refused every unrated finding would refuse nearly every image and teach people to switch it off."""


@dataclass(frozen=True, slots=True)
class ScanVerdict:
    """The scan gate's answer for one digest, computed where the reports are (validate time).

    It travels to apply inside the change (see ``ContainerTarget``), so a host converging from a
    bundle, far from the policy repository, still refuses an image whose scan failed.
    """

    digest: str
    ok: bool
    reason: str


def normalise_reference(ref: str) -> str:
    """A reference as the engine writes it in ``RepoDigests`` (Docker Hub's long forms removed)."""
    for prefix in ("docker.io/library/", "index.docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def has_repo_digest(repo_digests: Iterable[str], image: ImageRef) -> bool:
    """Whether an image's ``RepoDigests`` hold exactly ``image``'s repository and digest."""
    wanted = normalise_reference(image.reference)
    return any(normalise_reference(d) == wanted for d in repo_digests)


def trust_problem(image: ImageRef, registries: RegistriesSpec) -> str | None:
    """Why ``image`` may not run under ``registries``, or None when it may.

    An empty trusted list allows nothing: a policy that forgot its registries fails closed.
    """
    if not DIGEST_RE.match(image.digest):
        shown = image.reference if image.digest else image.repository
        return f"image {shown!r} is not pinned by digest (expected repo@sha256:<64 hex>)"
    last = image.repository.rsplit("/", 1)[-1]
    if ":" in last or "@" in image.repository:
        return (
            f"image {image.reference!r} carries a tag beside its digest; "
            "pin by repository and digest only"
        )
    if not any(t.allows(image) for t in registries.trusted):
        trusted = ", ".join(f"{t.registry}/{t.prefix}" for t in registries.trusted) or "none"
        return f"image {image.repository!r} is not from a trusted registry (trusted: {trusted})"
    return None


def gate_problem(
    image: ImageRef, registries: RegistriesSpec, verdict: ScanVerdict | None
) -> str | None:
    """Trust plus the scan gate: why ``image`` must not be rolled out, or None."""
    problem = trust_problem(image, registries)
    if problem is not None:
        return problem
    if not registries.scan.required:
        return None
    if verdict is None or verdict.digest != image.digest:
        return (
            f"image {image.reference!r}: the scan gate is required but no scan verdict was "
            f"given for {image.digest} (expected a report {registries.scan.reports}/"
            f"{image.digest.removeprefix('sha256:')}.json at validate time)"
        )
    if not verdict.ok:
        return f"image {image.reference!r} refused by the scan gate: {verdict.reason}"
    return None


def check_gate(image: ImageRef, registries: RegistriesSpec, verdict: ScanVerdict | None) -> None:
    """Raise :class:`ResourceError` unless ``image`` passes trust and the scan gate."""
    problem = gate_problem(image, registries, verdict)
    if problem is not None:
        raise ResourceError(problem)


def _report_findings(report: JSONObject) -> list[tuple[str, str]] | None:
    """(id, severity) pairs from the minimal, Trivy or Grype JSON form; None if none fits."""
    out: list[tuple[str, str]] = []
    findings = report.get("findings")
    if isinstance(findings, list):  # minimal form
        for f in findings:
            if not isinstance(f, dict):
                return None
            out.append((str(f.get("id", "?")), str(f.get("severity", "unknown"))))
        return out
    if "Results" in report or "SchemaVersion" in report:  # Trivy
        results = report.get("Results") or []
        if not isinstance(results, list):
            return None
        for result in results:
            vulns = (result.get("Vulnerabilities") or []) if isinstance(result, dict) else None
            if not isinstance(vulns, list):
                return None
            for v in vulns:
                if not isinstance(v, dict):
                    return None
                out.append((str(v.get("VulnerabilityID", "?")), str(v.get("Severity", "unknown"))))
        return out
    matches = report.get("matches")
    if isinstance(matches, list):  # Grype
        for m in matches:
            vuln = m.get("vulnerability") if isinstance(m, dict) else None
            if not isinstance(vuln, dict):
                return None
            out.append((str(vuln.get("id", "?")), str(vuln.get("severity", "unknown"))))
        return out
    return None


def _references(value: JSONValue) -> list[str]:
    """A report's list of ``repo@sha256:…`` references; one that is not a list still names
    something (as text), so a malformed report is refused for naming another digest rather
    than taken for one that names none."""
    if isinstance(value, list):
        return [str(item) for item in value]
    return [str(value)] if value else []


def _report_digests(report: JSONObject) -> set[str]:
    """The manifest digests a report says it is about (empty when it does not say)."""
    found: set[str] = set()
    digest = report.get("digest")
    if isinstance(digest, str):
        found.add(digest)
    for rd in _references(as_object(report.get("Metadata")).get("RepoDigests")):
        found.add(rd.rpartition("@")[2])
    target = as_object(as_object(report.get("source")).get("target"))
    manifest = target.get("manifestDigest")
    if isinstance(manifest, str):
        found.add(manifest)
    for rd in _references(target.get("repoDigests")):
        found.add(rd.rpartition("@")[2])
    return {d for d in found if d}


def scan_verdict(
    report: JSONValue,
    max_severity: str,
    *,
    digest: str | None = None,
    allow: Mapping[str, date | None] | None = None,
    today: date | None = None,
) -> tuple[bool, str]:
    """Judge one scan report: ``(ok, reason)``.

    ``report`` is the parsed JSON (minimal ``{"digest", "findings": [{"id", "severity"}]}``,
    Trivy's or Grype's form) or None when no report exists. A finding blocks when its severity is
    at or above ``max_severity`` (``ScanGate``'s contract) and its id is not in ``allow`` with an
    expiry on or after ``today`` (None = no expiry). With ``digest``, a report that names other
    digests only is refused: a report must be about the image it clears.
    """
    if report is None:
        return False, "no scan report"
    if not isinstance(report, dict):
        return False, "scan report is not a JSON object"
    threshold = SEVERITY_RANK.get(max_severity.lower())
    if threshold is None:
        return False, f"unknown max_severity {max_severity!r}"
    findings = _report_findings(report)
    if findings is None:
        return False, "scan report is in no known form (minimal, Trivy or Grype JSON)"
    named = _report_digests(report)
    if digest is not None and named and digest not in named:
        return False, f"scan report is about {', '.join(sorted(named))}, not {digest}"
    allowed = allow or {}
    blocking: list[str] = []
    waived: list[str] = []
    for fid, severity in findings:
        if SEVERITY_RANK.get(severity.lower(), 0) < threshold:
            continue
        if fid in allowed:
            expiry = allowed[fid]
            if expiry is None or today is None or expiry >= today:
                waived.append(fid)
                continue
        blocking.append(f"{fid} ({severity.upper()})")
    if blocking:
        return False, (
            f"{len(blocking)} finding(s) at or above {max_severity.upper()}: "
            + ", ".join(sorted(set(blocking)))
        )
    note = f"; allowed: {', '.join(sorted(set(waived)))}" if waived else ""
    return True, f"no finding at or above {max_severity.upper()}{note}"


def gate_verdict(gate: ScanGate, digest: str, report: JSONValue, today: date) -> ScanVerdict:
    """The policy's scan gate (``registries.scan``: threshold and allow-list) on one report.

    An allowance lets its finding through until the end of its ``expires`` day; the reason
    names who accepted each allowed finding, and an expired allowance that blocks again is
    named as such, so the person reading the refusal knows whom to ask.
    """
    allow = {a.id: a.expires for a in gate.allow}
    ok, reason = scan_verdict(report, gate.max_severity, digest=digest, allow=allow, today=today)
    if ok:
        used = [a for a in gate.allow if f"{a.id}" in reason.partition("; allowed: ")[2]]
        if used:
            accepted = ", ".join(
                f"{a.id} by {a.owner} until {a.expires.isoformat()} ({a.reason})" for a in used
            )
            reason = f"{reason.partition('; allowed: ')[0]}; allowed: {accepted}"
    else:
        expired = [a for a in gate.allow if a.expires < today and f"{a.id} (" in reason]
        if expired:
            reason += "; allowance expired: " + ", ".join(
                f"{a.id} ({a.owner}, {a.expires.isoformat()})" for a in expired
            )
    return ScanVerdict(digest=digest, ok=ok, reason=reason)


def verify_repo_digest(inspect: JSONObject, image: ImageRef) -> str:
    """The image ID of an inspected image, after checking it holds ``image``'s digest.

    Raises:
        ResourceError: the image's ``RepoDigests`` do not contain the pinned reference.
    """
    repo_digests = as_strs(inspect.get("RepoDigests"))
    if not has_repo_digest(repo_digests, image):
        got = ", ".join(repo_digests) or "none"
        raise ResourceError(
            f"pulled image does not match the pinned digest {image.reference} "
            f"(its RepoDigests: {got}); nothing was changed"
        )
    return str(inspect["Id"])


def pull_verified(api: DockerApi, image: ImageRef) -> str:
    """Make ``image`` present on the engine and return its local image ID, verified.

    An image already present with the pinned ``RepoDigests`` entry is used without contacting
    the registry (the engine verified the digest when it pulled it). Otherwise the engine pulls
    ``repo@sha256:…`` and the result is checked again before anyone runs it.

    Raises:
        ResourceError: the pull failed, or what arrived is not the pinned digest.
    """
    from docker.errors import DockerException  # late: only the I/O shell needs the SDK
    from requests.exceptions import RequestException

    for summary in api.images(all=False) or ():
        if has_repo_digest(as_strs(summary.get("RepoDigests")), image):
            return verify_repo_digest(api.inspect_image(str(summary["Id"])), image)
    try:
        errors: list[str] = []
        for event in api.pull(image.repository, tag=image.digest, stream=True, decode=True):
            if isinstance(event, dict) and event.get("error"):
                errors.append(str(event["error"]))
        if errors:
            raise ResourceError(f"pull of {image.reference} failed: {errors[-1]}")
        inspect = api.inspect_image(image.reference)
    except (DockerException, RequestException) as exc:
        raise ResourceError(f"pull of {image.reference} failed: {_explain(exc)}") from exc
    return verify_repo_digest(inspect, image)


def _explain(exc: Exception) -> str:
    """A docker SDK error as one line (its ``explanation`` when it has one)."""
    text = str(getattr(exc, "explanation", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


__all__ = [
    "DIGEST_RE",
    "ScanVerdict",
    "check_gate",
    "gate_problem",
    "gate_verdict",
    "has_repo_digest",
    "normalise_reference",
    "pull_verified",
    "scan_verdict",
    "trust_problem",
    "verify_repo_digest",
]
