"""From a host's merged, linted spec (plain data) to frozen :mod:`checkpointctl.spec` objects.

This is where cross-resource wiring happens, once, in pure code: collection files and the
credentials in a container's scope become read-only mounts of that container, and their desired
contents are hashed into the container's config digest, so a changed file shows up as a container
replacement without any handler mechanism.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping
from datetime import date
from functools import lru_cache
from typing import Any

from checkpointctl.duration import POLICY, DurationError, parse_seconds
from checkpointctl.errors import Location
from checkpointctl.model import Secret
from checkpointctl.policy.checkpoints import CHECKPOINT, ORIGIN, VAULT_PATHS, VENDOR
from checkpointctl.policy.exceptions import build_exceptions
from checkpointctl.policy.lint import split_image
from checkpointctl.policy.secret_files import build_secret_file, secret_file_digest_input
from checkpointctl.spec import (
    CHECKPOINT_ROOT,
    COLLECTION_PROFILES,
    COLLECTION_TOGGLES,
    CollectionSpec,
    ContainerSpec,
    CredentialSpec,
    DesiredState,
    FirewallRule,
    FirewallSpec,
    Healthcheck,
    HealthSpec,
    ImageRef,
    Limits,
    LogConfig,
    Mount,
    RegistriesSpec,
    ScanAllowance,
    ScanGate,
    SecretFileSpec,
    TrustedRegistry,
    UpdatesSpec,
    WaiverSpec,
    config_digest,
    normalise_device,
    normalise_security_opt,
)

VAULT_PREFIX = "$CHECKPOINTCTL_VAULT;"
Decrypt = Callable[[str, str], Secret]
"""(ciphertext, logical path) → Secret. Raises VaultError on a wrong key or tampering."""

COLLECTION_MOUNT = "/etc/checkpoint/collection.json"
SECRETS_DIR = "/run/secrets"

_MEMORY = re.compile(r"^([0-9]+)([kmgKMG]?)$")


def seconds(text: str | None, default: float) -> float:
    """A policy duration in seconds; ``default`` when unset (the schema has refused any other
    spelling before a state is built)."""
    if not text:
        return default
    try:
        return parse_seconds(text, POLICY)
    except DurationError:
        return default


def memory_bytes(text: str | None) -> int | None:
    if not text:
        return None
    m = _MEMORY.match(text)
    if not m:
        return None
    return int(m.group(1)) * {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}[m.group(2).lower()]


def sealed(text: str | Secret, path: str, decrypt: Decrypt | None) -> Secret:
    """A vaulted value as a Secret. Without a key the Secret holds the ciphertext, which is
    enough to validate and render (a Secret never prints) but never to converge a host. A
    Secret already (an Ansible-vaulted inventory variable a template put here) is kept."""
    if isinstance(text, Secret):
        return text
    if decrypt is None:
        return Secret(text)
    return decrypt(text, path)


def _text_or_secret(value: object) -> str | Secret:
    return value if isinstance(value, Secret) else str(value)


def collection_for(
    host_level: Mapping[str, Any], override: Mapping[str, Any] | None, container: str
) -> CollectionSpec:
    """Profile defaults, then host-level toggles, then the container's own toggles."""
    merged = {**host_level, **(override or {})}
    profile = str(merged.get("profile") or "minimal")
    values = dict(COLLECTION_PROFILES[profile])
    for toggle in COLLECTION_TOGGLES:
        if isinstance(merged.get(toggle), bool):
            values[toggle] = bool(merged[toggle])
    return CollectionSpec(container, profile, tuple((t, values[t]) for t in COLLECTION_TOGGLES))


@lru_cache(maxsize=256)
def _collection_file(collection: CollectionSpec) -> bytes:
    """The rendered collection file, once per distinct spec (container, profile, toggles):
    hosts share most of their containers, and rendering is JSON with ``indent`` (the pure-Python
    encoder, whose closures are garbage for the cyclic collector) for every container of every
    host. The spec's fields are strings and bools, so equal specs render to equal bytes."""
    return collection.render()


_SLOW_DIGESTS: dict[tuple[str, Secret], str] = {}
_SLOW_LOCK = threading.Lock()


def _slow_digest(name: str, secret: Secret) -> str:
    """A digest of a credential's secret for the container's config label.

    The label is readable by anyone who can inspect containers, so a plain sha256 of a weak
    password would be brute-forced offline; scrypt makes each guess expensive. Cached per value
    so a fleet sharing a credential pays once.
    """
    key = (name, secret)
    with _SLOW_LOCK:
        if key not in _SLOW_DIGESTS:
            _SLOW_DIGESTS[key] = secret.slow_digest(b"checkpointctl-config-digest:" + name.encode())
        return _SLOW_DIGESTS[key]


def _sealer(
    container: str, vault_paths: Mapping[str, str], decrypt: Decrypt | None
) -> Callable[[str, str], Secret]:
    """``sealed`` for one container's values, at the path each was encrypted for: where the
    policy wrote it (``vault_paths``, from checkpoint expansion) or else the container's own."""
    prefix = f"containers.{container}."

    def seal(text: str, path: str) -> Secret:
        return sealed(text, vault_paths.get(path.removeprefix(prefix), path), decrypt)

    return seal


def _file_digest(path: str) -> Callable[[int, Secret], str]:
    """The slow digest of a secret file's n-th secret, for the container's config label."""

    def digest(index: int, secret: Secret) -> str:
        return _slow_digest(f"file:{path}:{index}", secret)

    return digest


def _uid_gid(user: str) -> tuple[int, int]:
    uid, _, gid = user.partition(":")
    try:
        return int(uid), int(gid or uid)
    except ValueError:
        return 0, 0  # a named user: the lint requires a numeric uid for credential owners


def _logging(raw: Mapping[str, Any] | None) -> LogConfig | None:
    """``logging: {driver, max_size, max_file}`` → the engine's driver and option names."""
    if not isinstance(raw, dict):
        return None
    options: list[tuple[str, str]] = []
    if raw.get("max_size") is not None:
        options.append(("max-size", str(raw["max_size"])))
    if raw.get("max_file") is not None:
        options.append(("max-file", str(raw["max_file"])))
    return LogConfig(str(raw.get("driver") or "json-file"), tuple(sorted(options)))


def _firewall(fw: Mapping[str, Any] | None) -> FirewallSpec | None:
    if not isinstance(fw, dict):
        return None

    def rules(items: Any, key: str) -> tuple[FirewallRule, ...]:
        out = []
        for r in items or []:
            out.append(
                FirewallRule(
                    proto=r.get("proto", "tcp"),
                    port=r.get("port"),
                    cidrs=tuple(r.get(key) or ()),
                    hosts=tuple(r.get("hosts") or ()),
                    comment=str(r.get("comment") or ""),
                )
            )
        return tuple(out)

    inbound = fw.get("inbound") or {}
    outbound = fw.get("outbound") or {}
    mgmt = fw.get("management") or {}
    return FirewallSpec(
        table=str(fw.get("table") or "checkpointctl"),
        inbound_default=inbound.get("default", "drop"),
        outbound_default=outbound.get("default", "drop"),
        inbound=rules(inbound.get("allow"), "from"),
        outbound=rules(outbound.get("allow"), "to"),
        management_port=int(mgmt.get("ssh_port", 22)),
        management_from=tuple(mgmt.get("from") or ()),
        dns=tuple(outbound.get("dns") or ()),
        ntp=tuple(outbound.get("ntp") or ()),
    )


def _waivers(spec: Mapping[str, Any], sources: Mapping[str, Location]) -> tuple[WaiverSpec, ...]:
    """The host's waivers with the line each came from, for render and every report."""
    out: list[WaiverSpec] = []
    for i, w in enumerate(spec.get("waivers") or ()):
        where = sources.get(f"waivers[{i}]")
        out.append(
            WaiverSpec(
                rule=str(w.get("rule")),
                target=str(w.get("target") or "*"),
                reason=str(w.get("reason")),
                source=str(where) if where else "",
            )
        )
    return tuple(out)


def scan_gate(scan: Mapping[str, Any]) -> ScanGate:
    """``spec.registries.scan`` (already validated by the schema) as a :class:`ScanGate`; also
    what ``update`` reads from a raw policy document when it runs without an inventory."""
    return ScanGate(
        required=bool(scan.get("required", False)),
        max_severity=scan.get("max_severity", "high"),
        reports=str(scan.get("reports") or "scans"),
        allow=tuple(
            ScanAllowance(
                id=str(a["id"]),
                reason=str(a["reason"]),
                owner=str(a["owner"]),
                expires=date.fromisoformat(str(a["expires"])),
            )
            for a in scan.get("allow") or ()
        ),
    )


def build_state(
    host: str,
    spec: Mapping[str, Any],
    sources: Mapping[str, Location],
    policies: tuple[str, ...],
    decrypt: Decrypt | None,
) -> DesiredState:
    """The typed desired state of one host (the spec must already be valid and linted)."""
    host_collection = spec.get("data_collection") or {}
    raw_containers = spec.get("containers") or []
    container_users = {str(c["name"]): str(c.get("user") or "65534:65534") for c in raw_containers}

    credentials: list[CredentialSpec] = []
    for cred in spec.get("credentials") or []:
        name = str(cred["name"])
        scope = cred.get("scope") or {}
        in_scope = tuple(str(c) for c in scope.get("containers") or ())
        owner = next((container_users[c] for c in in_scope if c in container_users), "0:0")
        uid, gid = _uid_gid(owner)
        expires = cred.get("expires")
        credentials.append(
            CredentialSpec(
                name=name,
                username=str(cred["username"]),
                secret=sealed(
                    _text_or_secret(cred["secret"]), f"credentials.{name}.secret", decrypt
                ),
                containers=in_scope,
                targets=tuple(str(t) for t in scope.get("targets") or ()),
                permissions=tuple(str(p) for p in scope.get("permissions") or ()),
                expires=date.fromisoformat(str(expires)) if expires else None,
                path=str(cred.get("path") or ""),
                uid=uid,
                gid=gid,
            )
        )

    collections: list[CollectionSpec] = []
    containers: list[ContainerSpec] = []
    secret_files: list[SecretFileSpec] = []
    for c in raw_containers:
        name = str(c["name"])
        mine = [cr for cr in credentials if name in cr.containers]
        mounts = [
            Mount(str(m["source"]), str(m["target"]), bool(m.get("read_only", True)))
            for m in c.get("mounts") or ()
        ]
        mounts.extend(
            Mount(str(v["name"]), str(v["target"]), bool(v.get("read_only", True)), "volume")
            for v in c.get("volumes") or ()
        )
        mounts.extend(Mount(cr.file_path, f"{SECRETS_DIR}/{cr.name}", True) for cr in mine)
        files: dict[str, bytes] = {}
        if not c.get(VENDOR):  # a vendor's agent reads its own variables, not collection.json
            collection = collection_for(host_collection, c.get("data_collection"), name)
            collections.append(collection)
            mounts.append(Mount(collection.file_path, COLLECTION_MOUNT, True))
            files[collection.file_path] = _collection_file(collection)
        uid, gid = _uid_gid(str(c.get("user") or "65534:65534"))
        seal = _sealer(name, c.get(VAULT_PATHS) or {}, decrypt)
        own_files: list[SecretFileSpec] = []
        for index, f in enumerate(c.get("files") or ()):
            sf = build_secret_file(name, index, f, uid, gid, seal)
            own_files.append(sf)
            mounts.append(Mount(sf.file_path, sf.target, True))
            files[sf.file_path] = secret_file_digest_input(sf, _file_digest(sf.file_path))
        secret_files.extend(own_files)
        for cr in mine:
            files[cr.file_path] = json.dumps(
                [
                    cr.username,
                    _slow_digest(cr.name, cr.secret),
                    cr.targets,
                    cr.permissions,
                    cr.expires.isoformat() if cr.expires else None,
                ]
            ).encode()
        repo, digest = split_image(str(c["image"]))  # repo:tag@sha256:… drops the tag
        env: list[tuple[str, str | Secret]] = []
        for key, value in sorted((c.get("env") or {}).items()):
            if isinstance(value, Secret):
                env.append((key, value))
            elif isinstance(value, str) and value.startswith(VAULT_PREFIX):
                env.append((key, seal(value, f"containers.{name}.env.{key}")))
            else:
                env.append((key, value if isinstance(value, str) else json.dumps(value)))
        hc = c.get("healthcheck")
        res = c.get("resources") or {}
        containers.append(
            ContainerSpec(
                name=name,
                image=ImageRef(repo, digest or ""),
                command=tuple(c["command"]) if c.get("command") is not None else None,
                env=tuple(env),
                user=str(c.get("user") or "65534:65534"),
                read_only=bool(c.get("read_only", True)),
                cap_drop=tuple(c.get("cap_drop", ["ALL"])),
                cap_add=tuple(c.get("cap_add") or ()),
                no_new_privileges=bool(c.get("no_new_privileges", True)),
                privileged=bool(c.get("privileged", False)),
                ports=tuple(str(p) for p in c.get("ports") or ()),
                network_mode=str(c.get("network") or c.get("network_mode") or "bridge"),
                mounts=tuple(sorted(mounts, key=lambda m: m.target)),
                tmpfs=tuple(c.get("tmpfs") or ()),
                limits=Limits(
                    memory=memory_bytes(res.get("memory")),
                    cpus=float(res["cpus"]) if res.get("cpus") is not None else None,
                    pids=int(res["pids"]) if res.get("pids") is not None else None,
                ),
                restart=str(c.get("restart") or "unless-stopped"),
                healthcheck=(
                    Healthcheck(
                        test=tuple(hc["test"]),
                        interval=seconds(hc.get("interval"), 30.0),
                        timeout=seconds(hc.get("timeout"), 5.0),
                        retries=int(hc.get("retries", 3)),
                        start_period=seconds(hc.get("start_period"), 0.0),
                    )
                    if hc
                    else None
                ),
                labels=tuple(sorted((str(k), str(v)) for k, v in (c.get("labels") or {}).items())),
                health_signal=tuple(str(a) for a in c.get("health_signal") or ()),
                credentials=tuple(cr.name for cr in mine),
                config_digest=config_digest(files),
                network=str(c.get("network") or ""),
                depends_on=tuple(str(d) for d in c.get("depends_on") or ()),
                logging=_logging(c.get("logging")),
                secret_files=tuple(sf.target for sf in own_files),
                checkpoint=str(c.get(CHECKPOINT) or ""),
                vendor=str(c.get(VENDOR) or ""),
                origin=tuple(sorted((str(k), str(v)) for k, v in (c.get(ORIGIN) or {}).items())),
                pid=str(c.get("pid") or "private"),
                ipc=str(c.get("ipc") or "private"),
                userns_mode=str(c.get("userns_mode") or "private"),
                security_opt=tuple(
                    sorted(normalise_security_opt(str(o)) for o in c.get("security_opt") or ())
                ),
                devices=tuple(sorted(normalise_device(str(d)) for d in c.get("devices") or ())),
                sysctls=tuple(
                    sorted((str(k), str(v)) for k, v in (c.get("sysctls") or {}).items())
                ),
            )
        )

    regs = spec.get("registries") or {}
    scan = regs.get("scan") or {}
    health = spec.get("health") or {}
    updates = spec.get("updates") or {}
    return DesiredState(
        host=host,
        containers=tuple(containers),
        firewall=_firewall(spec.get("firewall")),
        credentials=tuple(credentials),
        collection=tuple(collections),
        secret_files=tuple(secret_files),
        registries=RegistriesSpec(
            trusted=tuple(
                TrustedRegistry(str(t["registry"]), str(t.get("prefix") or ""))
                for t in regs.get("trusted") or ()
            ),
            scan=scan_gate(scan),
        ),
        updates=UpdatesSpec(
            strategy=updates.get("strategy", "gitops"), window=updates.get("window")
        ),
        health=HealthSpec(
            require_healthy=bool(health.get("require_healthy", True)),
            timeout=seconds(health.get("timeout"), 60.0),
        ),
        policies=policies,
        exceptions=build_exceptions(spec, sources),
        waivers=_waivers(spec, sources),
        sources=dict(sources),
    )


__all__ = ["CHECKPOINT_ROOT", "Decrypt", "build_state"]
