"""Security rules beyond the schema, each waivable in the policy with a written reason.

The rules encode the hardening of the article the product grew from: pinned images from trusted
registries, nothing published, no root, all capabilities dropped, never privileged, credentials
with the narrowest scope and no powerful users, and no inbound from anywhere. They run on the
merged desired state of each host, so a rule sees what the host really gets, and each finding
points at the policy line that set the offending value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from checkpointctl.errors import Diagnostic, Location, Severity
from checkpointctl.policy.hardening import RULES as HARDENING_RULES
from checkpointctl.policy.hardening import hardening_findings
from checkpointctl.policy.window import window_problems
from checkpointctl.spec import CHECKPOINT_ROOT, RESERVED_CONTAINER_NAMES, RESERVED_CREDENTIAL_NAMES

DIGEST_RE = re.compile(
    r"^(?P<repo>[^@\s]+?)(?::(?P<tag>[\w][\w.-]{0,127}))?@(?P<digest>sha256:[0-9a-f]{64})$"
)
"""``repo@sha256:…`` or ``repo:tag@sha256:…`` (what ``pin`` writes: the tag stays for people)."""
POWERFUL_USERS = frozenset(
    {
        "root",
        "admin",
        "administrator",
        "sa",
        "superuser",
        "sysadmin",
        "system",
        "dba",
        "postgres",
        "sys",
        "domain admin",
        "enterprise admin",
        "owner",
        "master",
    }
)
WILDCARDS = frozenset({"*", "**", "*://*", "http://*", "https://*", "*/*", "all", "any"})
ANYWHERE = frozenset({"0.0.0.0/0", "::/0", "0.0.0.0", "::"})  # noqa: S104 (matched, not bound)
EXPIRY_WARNING = timedelta(days=14)
RULE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "image-digest": ("spec.containers.image",),
    "image-registry": ("spec.containers.image", "spec.registries.trusted"),
    "published-ports": ("spec.containers.ports",),
    "root-user": ("spec.containers.user",),
    "cap-drop-all": ("spec.containers.cap_drop",),
    "privileged": ("spec.containers.privileged",),
    "credential-scope": (
        "spec.credentials.scope.containers",
        "spec.credentials.scope.targets",
        "spec.credentials.scope.permissions",
    ),
    "credential-username": ("spec.credentials.username",),
    "credential-expired": ("spec.credentials.expires",),
    "inbound-anywhere": (
        "spec.firewall.inbound.default",
        "spec.firewall.inbound.allow.from",
        "spec.firewall.management.from",
    ),
    "required": (
        "spec.containers.image",
        "spec.credentials.username",
        "spec.credentials.secret",
        "spec.credentials.scope",
    ),
    "reserved-name": ("spec.containers.name", "spec.credentials.name"),
    **{rule: (path,) for rule, path in HARDENING_RULES.items()},
}
"""Every lint rule and the policy fields it judges (the reference and ``explain`` list them)."""
UNWAIVABLE = frozenset({"required", "reserved-name"})
"""Rules about what cannot work at all (a missing value, a name another resource owns), as
opposed to hardening a reviewer may knowingly relax."""


@dataclass(frozen=True)
class Waiver:
    rule: str
    target: str
    reason: str

    def covers(self, rule: str, target: str) -> bool:
        return self.rule == rule and self.target in ("*", "", target)


def waivers_of(spec: Mapping[str, Any]) -> tuple[Waiver, ...]:
    return tuple(
        Waiver(str(w.get("rule")), str(w.get("target") or "*"), str(w.get("reason")))
        for w in spec.get("waivers") or ()
        if isinstance(w, dict)
    )


def split_image(image: str) -> tuple[str, str | None]:
    """``repo[:tag]@sha256:…`` → (repo, digest); a tag-only reference gives (reference, None).

    The tag of a pinned reference is dropped: the digest alone says what runs, and Docker's
    ``RepoDigests`` (what drift compares against) never carry a tag."""
    m = DIGEST_RE.match(image)
    if m:
        return m.group("repo"), m.group("digest")
    return image, None


def image_registry(repository: str) -> tuple[str, str]:
    """(registry, path) of a repository, Docker Hub when the first part is not a host."""
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    return "docker.io", repository


def registry_allows(trusted: list[dict[str, Any]], repository: str) -> bool:
    """True when ``repository`` is under one of the trusted registry/prefix pairs."""
    registry, path = image_registry(repository)
    for t in trusted:
        if t.get("registry") == registry and path.startswith(str(t.get("prefix") or "")):
            return True
    return False


def _is_root(user: str | None) -> bool:
    if not user:
        return True
    name = user.split(":", 1)[0]
    return name in ("root", "0")


class _Lint:
    def __init__(
        self,
        spec: Mapping[str, Any],
        where: Callable[[str], Location | None],
        today: date,
    ) -> None:
        self.spec = spec
        self.where = where
        self.today = today
        self.waivers = waivers_of(spec)
        self.out: list[Diagnostic] = []

    def report(
        self,
        rule: str,
        target: str,
        path: str,
        message: str,
        severity: Severity = Severity.ERROR,
    ) -> None:
        waivable = rule not in UNWAIVABLE
        if (
            waivable
            and severity is Severity.ERROR
            and any(w.covers(rule, target) for w in self.waivers)
        ):
            return
        hint = None
        if severity is Severity.ERROR and waivable:
            hint = (
                f"fix it, or waive it in spec.waivers: "
                f"[{{rule: {rule}, target: {target}, reason: <why>}}]"
            )
        self.out.append(
            Diagnostic(
                f"{message} [{rule}]",
                self.where(path),
                field="spec." + path,
                hint=hint,
                severity=severity,
                rule=rule,
            )
        )

    def containers(self) -> None:
        trusted = (self.spec.get("registries") or {}).get("trusted") or []
        for c in self.spec.get("containers") or []:
            name = str(c.get("name"))
            base = f"containers.{name}"
            if name in RESERVED_CONTAINER_NAMES:
                self.report(
                    "reserved-name",
                    name,
                    base + ".name",
                    f"container name {name!r} is reserved: {CHECKPOINT_ROOT}/{name} belongs to "
                    f"checkpointctl itself ({', '.join(sorted(RESERVED_CONTAINER_NAMES))})",
                )
            if not c.get("image"):
                self.report(
                    "required",
                    name,
                    base,
                    f"container {name!r} has no image (no policy selecting this host sets one)",
                )
                continue
            image = str(c.get("image", ""))
            repo, digest = split_image(image)
            if digest is None:
                self.report(
                    "image-digest",
                    name,
                    base + ".image",
                    f"image {image!r} is not pinned by digest (expected repo@sha256:<64 hex>"
                    + ("; run `checkpointctl pin`)" if c.get("pin") is True else ")"),
                )
            if not registry_allows(trusted, repo):
                self.report(
                    "image-registry",
                    name,
                    base + ".image",
                    f"image {repo!r} is not from a trusted registry"
                    + ("" if trusted else " (spec.registries.trusted is empty)"),
                )
            if c.get("ports"):
                self.report(
                    "published-ports",
                    name,
                    base + ".ports",
                    f"container {name!r} publishes ports {c['ports']}: checkpoints need no "
                    "inbound connections",
                )
            if _is_root(c.get("user")):
                self.report(
                    "root-user",
                    name,
                    base + (".user" if c.get("user") else ""),
                    f"container {name!r} runs as root (set user to a non-root uid:gid)",
                )
            if "ALL" not in (c.get("cap_drop") or []):
                self.report(
                    "cap-drop-all",
                    name,
                    base + (".cap_drop" if "cap_drop" in c else ""),
                    f"container {name!r} does not drop all capabilities (cap_drop: [ALL])",
                )
            if c.get("privileged") is True:
                self.report(
                    "privileged",
                    name,
                    base + ".privileged",
                    f"container {name!r} runs privileged",
                )
            self.hardening(name, base, c)

    def hardening(self, name: str, base: str, c: Mapping[str, Any]) -> None:
        """The settings that open a way out of the container (see :mod:`.hardening`)."""
        for finding in hardening_findings(name, c):
            self.report(finding.rule, name, base + finding.path, finding.message)

    def credentials(self) -> None:
        names = {str(c.get("name")) for c in self.spec.get("containers") or []}
        for cred in self.spec.get("credentials") or []:
            name = str(cred.get("name"))
            base = f"credentials.{name}"
            if name in RESERVED_CREDENTIAL_NAMES:
                self.report(
                    "reserved-name",
                    name,
                    base + ".name",
                    f"credential name {name!r} is reserved for the credentials manifest",
                )
            missing = [k for k in ("username", "secret", "scope") if not cred.get(k)]
            if missing:
                self.report(
                    "required",
                    name,
                    base,
                    f"credential {name!r} lacks {', '.join(missing)} after merging policies",
                )
                continue
            scope = cred.get("scope") or {}
            for key in ("containers", "targets", "permissions"):
                for item in scope.get(key) or []:
                    if str(item).strip().lower() in WILDCARDS:
                        self.report(
                            "credential-scope",
                            name,
                            f"{base}.scope.{key}",
                            f"credential {name!r} has a wildcard scope {key}: {item!r}",
                        )
                    elif key == "targets" and re.match(r"^[a-z]+://\*", str(item)):
                        self.report(
                            "credential-scope",
                            name,
                            f"{base}.scope.targets",
                            f"credential {name!r} targets any host ({item!r})",
                        )
            for c in scope.get("containers") or []:
                if c not in names and str(c) not in WILDCARDS:
                    self.report(
                        "credential-scope",
                        name,
                        f"{base}.scope.containers",
                        f"credential {name!r} is scoped to container {c!r}, which this host "
                        "does not run",
                        severity=Severity.WARNING,
                    )
            user = str(cred.get("username", "")).strip().lower()
            local = re.split(r"[@\\]", user)[-1 if "\\" in user else 0]
            if user in POWERFUL_USERS or local in POWERFUL_USERS:
                self.report(
                    "credential-username",
                    name,
                    f"{base}.username",
                    f"credential {name!r} uses the powerful account {cred.get('username')!r}; "
                    "monitors need a least-privilege user",
                )
            expires = cred.get("expires")
            if expires:
                try:
                    when = date.fromisoformat(str(expires))
                except ValueError:
                    continue
                if when < self.today:
                    self.report(
                        "credential-expired",
                        name,
                        f"{base}.expires",
                        f"credential {name!r} expired on {when.isoformat()}",
                    )
                elif when - self.today <= EXPIRY_WARNING:
                    self.report(
                        "credential-expired",
                        name,
                        f"{base}.expires",
                        f"credential {name!r} expires on {when.isoformat()} "
                        f"({(when - self.today).days} days)",
                        severity=Severity.WARNING,
                    )

    def firewall(self) -> None:
        fw = self.spec.get("firewall")
        if not isinstance(fw, dict):
            return
        inbound = fw.get("inbound") or {}
        if inbound.get("default") == "accept":
            self.report(
                "inbound-anywhere",
                "firewall",
                "firewall.inbound.default",
                "inbound default is accept: checkpoints need no incoming connections",
            )
        for i, rule in enumerate(inbound.get("allow") or []):
            sources = rule.get("from") or []
            if not sources or any(s in ANYWHERE for s in sources):
                self.report(
                    "inbound-anywhere",
                    "firewall",
                    f"firewall.inbound.allow[{i}]",
                    f"inbound rule {i + 1} ({rule.get('proto', 'tcp')}/{rule.get('port', 'any')}) "
                    "accepts from anywhere",
                )
        mgmt = (fw.get("management") or {}).get("from") or []
        if any(s in ANYWHERE for s in mgmt):
            self.report(
                "inbound-anywhere",
                "firewall",
                "firewall.management.from",
                "management SSH is open to anywhere; list the controller's addresses",
            )


def lint_spec(
    spec: Mapping[str, Any],
    where: Callable[[str], Location | None],
    today: date | None = None,
) -> list[Diagnostic]:
    """All lint findings for one host's merged spec (errors and warnings)."""
    lint = _Lint(spec, where, today or date.today())
    lint.containers()
    lint.credentials()
    lint.firewall()
    return lint.out + window_problems(spec, where)
