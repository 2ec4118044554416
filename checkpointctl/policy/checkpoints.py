"""Checkpoints: several containers on their own network, optionally from a vendor profile.

Runs on a host's merged spec (plain data), after layering and before lint, so the hardening
lint and the build see exactly the containers a checkpoint expands to. For each
``spec.checkpoints[]`` entry:

1. the vendor profile's containers (if ``vendor`` is set), each overridden field by field by the
   policy's ``containers`` entry of the same name (maps merge key by key, other values replace);
2. the vendor's ``settings`` placed where the agent reads them (a container's env, or a key of
   its configuration file), secrets required to be vaulted;
3. the data-collection toggles mapped onto the vendor's own variables; a toggle turned off that
   the vendor cannot enforce is a warning naming vendor and toggle;
4. every container joins the checkpoint's user-defined network, named ``<checkpoint>-<role>``,
   its ``depends_on`` renamed alike; host networking is refused;
5. the profile's waivers (with the vendor's reason) join ``spec.waivers``, its documented
   endpoints the outbound allow list of the firewall, when the policy has one.

Each expanded field records where it came from (``_origin``), which ``render`` shows.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from checkpointctl.errors import Diagnostic, Location, Severity
from checkpointctl.model import JSONValue, Secret
from checkpointctl.policy.vendors import VendorProfile, profiles
from checkpointctl.spec import COLLECTION_PROFILES, COLLECTION_TOGGLES

VAULT_PREFIX = "$CHECKPOINTCTL_VAULT;"
ORIGIN = "_origin"
"""Key of an expanded container: field → where it came from (for ``render``)."""
VENDOR = "_vendor"
CHECKPOINT = "_checkpoint"
VAULT_PATHS = "_vault_paths"
"""Container-relative path of a vaulted value (``env.KEY``, ``files[0].content.key``) → the
path it was encrypted for, where the policy wrote it (``checkpoints.<cp>.settings.KEY``): a
vaulted value is bound to its field and decrypts nowhere else."""
"""Internal keys of an expanded container. They start with ``_``, which the schema refuses in
any policy, so they can only come from here."""
EGRESS_PORT = 443


@dataclass
class Expanded:
    """A host's spec with its checkpoints expanded, the sources of the new fields, findings."""

    spec: dict[str, Any]
    sources: dict[str, Location]
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _copy(value: Any) -> Any:
    """A copy of plain policy data: maps and lists are new, leaves are shared (strings,
    numbers and :class:`~checkpointctl.model.Secret` values from a vaulted inventory variable,
    which refuse to be copied and need not be: they are immutable)."""
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: maps merge key by key, anything else is replaced."""
    out: dict[str, Any] = {k: _copy(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _copy(value)
    return out


def _leaves(value: Any, prefix: str) -> list[str]:
    """Dotted paths of the leaves of ``value`` (maps descend, other values are leaves)."""
    if isinstance(value, dict) and value:
        return [p for k, v in value.items() for p in _leaves(v, f"{prefix}.{k}")]
    return [prefix]


def _vaulted(value: Any, prefix: str) -> list[str]:
    """Paths (``.key``, ``[i]``) of the vaulted strings inside ``value``."""
    if isinstance(value, str) and value.startswith(VAULT_PREFIX):
        return [prefix]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _vaulted(v, f"{prefix}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _vaulted(v, f"{prefix}[{i}]")]
    return []


def _set_path(doc: dict[str, JSONValue], dotted: str, value: JSONValue) -> None:
    *parents, last = dotted.split(".")
    node = doc
    for part in parents:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[last] = value


def collection_values(
    host_level: Mapping[str, Any], own: Mapping[str, Any] | None
) -> dict[str, bool]:
    """The effective toggles: profile defaults, then host-level toggles, then the checkpoint's."""
    merged = {**host_level, **(own or {})}
    values = dict(COLLECTION_PROFILES[str(merged.get("profile") or "minimal")])
    for toggle in COLLECTION_TOGGLES:
        if isinstance(merged.get(toggle), bool):
            values[toggle] = bool(merged[toggle])
    return values


class _Expander:
    def __init__(self, spec: Mapping[str, Any], sources: Mapping[str, Location]) -> None:
        self.spec: dict[str, Any] = {k: _copy(v) for k, v in spec.items()}
        self.sources = dict(sources)
        self.out: list[Diagnostic] = []

    def where(self, path: str) -> Location | None:
        """The line that set ``path``, its nearest parent, or the first line under it."""
        probe = path
        while probe:
            if probe in self.sources:
                return self.sources[probe]
            if probe + ".name" in self.sources:
                return self.sources[probe + ".name"]
            probe = probe.rpartition(".")[0]
        under = sorted(k for k in self.sources if k.startswith(path + "."))
        return self.sources[under[0]] if under else None

    def error(self, path: str, message: str, rule: str = "required") -> None:
        self.out.append(
            Diagnostic(f"{message} [{rule}]", self.where(path), field="spec." + path, rule=rule)
        )

    def warn(self, path: str, message: str, rule: str) -> None:
        self.out.append(
            Diagnostic(
                f"{message} [{rule}]",
                self.where(path),
                field="spec." + path,
                severity=Severity.WARNING,
                rule=rule,
            )
        )

    def run(self) -> Expanded:
        containers: list[dict[str, Any]] = list(self.spec.get("containers") or [])
        taken = {str(c.get("name")) for c in containers}
        for cp in self.spec.get("checkpoints") or []:
            for c in self.checkpoint(cp):
                if c["name"] in taken:
                    self.error(
                        f"checkpoints.{cp['name']}.name",
                        f"checkpoint {cp['name']!r} expands to container {c['name']!r}, which "
                        "spec.containers already has",
                        "reserved-name",
                    )
                    continue
                taken.add(c["name"])
                containers.append(c)
        if containers:
            self.spec["containers"] = containers
        check_depends_on(containers, self.error)
        return Expanded(self.spec, self.sources, self.out)

    def checkpoint(self, cp: Mapping[str, Any]) -> list[dict[str, Any]]:
        name = str(cp["name"])
        base = f"checkpoints.{name}"
        vendor = str(cp.get("vendor") or "")
        profile = profiles().get(vendor) if vendor else None
        network = str(cp.get("network") or f"checkpoint-{name}")
        overrides = {str(c["name"]): c for c in cp.get("containers") or []}
        roles: list[tuple[str, dict[str, Any], dict[str, str]]] = []
        if profile is not None:
            for role, fields in profile.containers:
                roles.append((role, dict(fields), dict.fromkeys(_leaves(fields, ""), "")))
            known = {r for r, _ in profile.containers}
            for role in overrides:
                if role not in known:
                    self.error(
                        f"{base}.containers.{role}",
                        f"vendor {vendor} has no container {role!r} (it has "
                        f"{', '.join(sorted(known))})",
                        "vendor-profile",
                    )
        else:
            roles = [(role, {}, {}) for role in overrides]
        result: list[dict[str, Any]] = []
        by_role: dict[str, dict[str, Any]] = {}
        for role, fields, origin in roles:
            own = overrides.get(role, {})
            merged = _merge(fields, {k: v for k, v in own.items() if k != "name"})
            where_from = {k.lstrip("."): profile.origin for k in origin} if profile else {}
            own_fields = {k: v for k, v in own.items() if k != "name"}
            for leaf in _leaves(own_fields, ""):
                loc = self.where(f"{base}.containers.{role}{leaf}")
                where_from[leaf.lstrip(".")] = f"policy {loc}" if loc else "policy"
            merged[VAULT_PATHS] = {
                leaf.lstrip("."): f"{base}.containers.{role}{leaf}"
                for leaf in _vaulted(own_fields, "")
            }
            expanded = f"{name}-{role}"
            merged["name"] = expanded
            if merged.get("network_mode") == "host":
                self.error(
                    f"{base}.containers.{role}.network_mode",
                    f"checkpoint containers share the network {network!r}; the host network "
                    "is refused",
                    "checkpoint-network",
                )
            merged.pop("network_mode", None)
            merged["network"] = str(merged.get("network") or network)
            where_from.setdefault("network", f"checkpoint {name}")
            merged["depends_on"] = [f"{name}-{d}" for d in merged.get("depends_on") or []]
            for v in merged.get("volumes") or []:
                v["name"] = f"{name}-{v['name']}" if profile else v["name"]
            if profile is not None:
                where_from["profile"] = profile.pages[0]
            merged[ORIGIN] = dict(sorted(where_from.items()))
            merged[CHECKPOINT] = name
            if profile is not None:
                merged[VENDOR] = profile.name
            elif cp.get("data_collection") and "data_collection" not in merged:
                merged["data_collection"] = _copy(cp["data_collection"])
            self._sources_for(base, role, expanded)
            by_role[role] = merged
            result.append(merged)
        if profile is not None:
            self.vendor(cp, profile, by_role)
        return result

    def _sources_for(self, base: str, role: str, expanded: str) -> None:
        """Point the expanded container's paths at the policy lines that set them, or at the
        checkpoint's ``vendor`` line for fields from the profile."""
        prefix = f"{base}.containers.{role}"
        fallback = self.where(f"{base}.vendor") or self.where(base)
        if fallback is not None:
            self.sources.setdefault(f"containers.{expanded}", fallback)
            self.sources.setdefault(f"containers.{expanded}.name", fallback)
        for path, loc in list(self.sources.items()):
            if path == prefix or path.startswith(prefix + "."):
                self.sources[f"containers.{expanded}{path[len(prefix) :]}"] = loc

    def vendor(
        self, cp: Mapping[str, Any], profile: VendorProfile, by_role: dict[str, dict[str, Any]]
    ) -> None:
        name = str(cp["name"])
        base = f"checkpoints.{name}"
        settings: Mapping[str, Any] = cp.get("settings") or {}
        documents: dict[str, dict[str, JSONValue]] = {}
        for key, value in settings.items():
            setting = profile.setting(str(key))
            path = f"{base}.settings.{key}"
            if setting is None:
                self.error(
                    path,
                    f"vendor {profile.name} documents no setting {key!r} (it reads "
                    f"{', '.join(s.name for s in profile.settings)})",
                    "vendor-profile",
                )
                continue
            vaulted = isinstance(value, Secret) or (
                isinstance(value, str) and value.startswith(VAULT_PREFIX)
            )
            if setting.secret and not vaulted:
                self.error(
                    path,
                    f"setting {key!r} of vendor {profile.name} is a secret: give a value made "
                    "by 'checkpointctl vault encrypt-string'",
                    "vendor-secret",
                )
                continue
            target = by_role[setting.container]
            origin = f"policy {self.where(path)}"
            if setting.target == "env":
                env = target.setdefault("env", {})
                env[setting.name] = (
                    value if not isinstance(value, list) else ",".join(map(str, value))
                )
                target[ORIGIN][f"env.{setting.name}"] = origin
                target[VAULT_PATHS][f"env.{setting.name}"] = path
            else:
                _set_path(documents.setdefault(setting.container, {}), setting.name, value)
        for setting in profile.settings:
            if setting.required and setting.name not in settings:
                self.error(
                    f"{base}.settings",
                    f"vendor {profile.name} needs setting {setting.name!r}"
                    + (" (a vaulted secret)" if setting.secret else ""),
                )
        if profile.config_file is not None:
            cfg = profile.config_file
            target = by_role[cfg.container]
            files = [f for f in target.get("files") or [] if f.get("path") != cfg.path]
            content = documents.get(cfg.container, {})
            files.append({"path": cfg.path, "format": cfg.format, "content": content})
            for key, value in settings.items():
                setting = profile.setting(str(key))
                if setting is not None and setting.target == "file":
                    for leaf in _vaulted(value, ""):
                        rel = f"files[{len(files) - 1}].content.{key}{leaf}"
                        target[VAULT_PATHS][rel] = f"{base}.settings.{key}{leaf}"
            target["files"] = files
            target[ORIGIN][f"files.{cfg.path}"] = f"{profile.origin}, settings of {base}"
        self.toggles(cp, profile, by_role)
        egress = cp.get("egress")
        hosts = profile.egress if egress is None else tuple(str(h) for h in egress)
        self.waivers_and_egress(profile, by_role, base, hosts)

    def toggles(
        self, cp: Mapping[str, Any], profile: VendorProfile, by_role: dict[str, dict[str, Any]]
    ) -> None:
        base = f"checkpoints.{cp['name']}"
        host_level = self.spec.get("data_collection") or {}
        values = collection_values(host_level, cp.get("data_collection"))
        path = f"{base}.data_collection" if cp.get("data_collection") else "data_collection"
        unenforced = [t for t in COLLECTION_TOGGLES if not values[t] and t not in profile.toggles]
        if unenforced:
            self.warn(
                path,
                f"checkpoint {cp['name']}: vendor {profile.name} cannot enforce "
                + ", ".join(f"data_collection.{t}: false" for t in unenforced)
                + f" ({profile.unenforceable})",
                "vendor-toggle",
            )
        for toggle in COLLECTION_TOGGLES:
            on = values[toggle]
            mapped = profile.toggles.get(toggle)
            if mapped is None:
                continue
            target = by_role[mapped.container]
            env = target.setdefault("env", {})
            set_by = str(target[ORIGIN].get(f"env.{mapped.variable}", ""))
            if mapped.variable in env and set_by.startswith("policy"):
                continue  # the policy set the vendor's variable itself: it wins
            env[mapped.variable] = "true" if on else "false"
            target[ORIGIN][f"env.{mapped.variable}"] = (
                f"data_collection.{toggle} via {profile.origin}"
            )
            if not on and mapped.warn_when_off:
                self.warn(
                    path,
                    f"vendor {profile.name}: data_collection.{toggle}: false sets "
                    f"{mapped.variable}=false: {mapped.warn_when_off}",
                    "vendor-toggle",
                )

    def waivers_and_egress(
        self,
        profile: VendorProfile,
        by_role: dict[str, dict[str, Any]],
        base: str,
        egress: tuple[str, ...],
    ) -> None:
        waivers = list(self.spec.get("waivers") or [])
        vendor_line = self.where(f"{base}.vendor")
        for w in profile.waivers:
            target = by_role[w.container]
            reason = f"vendor {profile.name}: {w.reason} ({profile.pages[0]})"
            waivers.append({"rule": w.rule, "target": target["name"], "reason": reason})
            if vendor_line is not None:  # the waiver's line in reports: the vendor's
                self.sources[f"waivers[{len(waivers) - 1}]"] = vendor_line
        if waivers:
            self.spec["waivers"] = waivers
        fw = self.spec.get("firewall")
        if not isinstance(fw, dict) or not egress:
            return
        outbound = fw.setdefault("outbound", {})
        allow = list(outbound.get("allow") or [])
        present = {h for r in allow for h in r.get("hosts") or ()}
        for host in egress:
            if host in present:
                continue
            allow.append(
                {
                    "proto": "tcp",
                    "port": EGRESS_PORT,
                    "hosts": [host],
                    "comment": f"vendor {profile.name} documented endpoint",
                }
            )
            loc = self.where(f"{base}.vendor")
            if loc is not None:
                self.sources[f"firewall.outbound.allow[{len(allow) - 1}]"] = loc
        outbound["allow"] = allow


def check_depends_on(
    containers: list[dict[str, Any]], error: Callable[[str, str, str], None]
) -> None:
    """Every ``depends_on`` names a container of the host, without cycles; the containers are
    then put in start order (dependencies first, otherwise as written)."""
    names = [str(c.get("name")) for c in containers]
    by_name = {str(c.get("name")): c for c in containers}
    for c in containers:
        for dep in c.get("depends_on") or []:
            if dep not in by_name:
                error(
                    f"containers.{c['name']}.depends_on",
                    f"container {c['name']!r} depends on {dep!r}, which this host does not run",
                    "depends-on",
                )
    ordered: list[str] = []
    state: dict[str, int] = {}

    def visit(name: str, chain: tuple[str, ...]) -> None:
        if state.get(name) == 2 or name not in by_name:
            return
        if state.get(name) == 1:
            error(
                f"containers.{name}.depends_on",
                f"containers depend on each other in a cycle: {' → '.join((*chain, name))}",
                "depends-on",
            )
            return
        state[name] = 1
        for dep in by_name[name].get("depends_on") or []:
            visit(str(dep), (*chain, name))
        state[name] = 2
        ordered.append(name)

    for name in names:
        visit(name, ())
    containers[:] = [by_name[n] for n in ordered]


def check_secret_file_paths(spec: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(path, problem) for each secret file whose target is not a clean absolute path, or
    whose file name another file of the same container already uses."""
    problems: list[tuple[str, str]] = []
    for c in spec.get("containers") or []:
        seen: set[str] = set()
        for f in c.get("files") or []:
            target = str(f.get("path"))
            path = f"containers.{c['name']}.files"
            if posixpath.normpath(target) != target or not target.isprintable():
                problems.append((path, f"secret file path {target!r} is not a normalised path"))
            leaf = posixpath.basename(target)
            if leaf in seen:
                problems.append((path, f"two secret files of {c['name']!r} are named {leaf!r}"))
            seen.add(leaf)
    return problems


def expand_checkpoints(spec: Mapping[str, Any], sources: Mapping[str, Location]) -> Expanded:
    """The spec with ``checkpoints`` expanded into ``containers`` (see the module docstring)."""
    expanded = _Expander(spec, sources).run()
    for path, problem in check_secret_file_paths(expanded.spec):
        expanded.diagnostics.append(
            Diagnostic(
                f"{problem} [secret-file]",
                expanded.sources.get(path),
                field="spec." + path,
                rule="secret-file",
            )
        )
    return expanded


__all__ = ["Expanded", "check_depends_on", "collection_values", "expand_checkpoints"]
