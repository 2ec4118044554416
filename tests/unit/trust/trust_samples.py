"""Shared inputs for the trust tests: desired states with secrets, keys, bundles, tar surgery."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from checkpointctl.model import Secret
from checkpointctl.spec import (
    CollectionSpec,
    ContainerSpec,
    CredentialSpec,
    DesiredState,
    FirewallRule,
    FirewallSpec,
    Healthcheck,
    ImageRef,
    Limits,
    Mount,
)
from checkpointctl.trust.bundle import build_bundle
from checkpointctl.trust.keys import HostKey, SigningKey

CREATED = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
EXPIRES = CREATED + timedelta(days=7)
DURING = CREATED + timedelta(days=1)
DIGEST = "sha256:" + "ab" * 32

PLAIN_A = b"hunter2-for-host-a"
PLAIN_B = b"correct-horse-for-host-b"
TOKEN = b"api-token-value-xyz"


def state(host: str, password: bytes = PLAIN_A, token: bytes = TOKEN) -> DesiredState:
    """A desired state exercising every spec type: secrets in credentials and in env."""
    return DesiredState(
        host=host,
        containers=(
            ContainerSpec(
                name="probe",
                image=ImageRef("registry.example.com/checkpoint/probe", DIGEST),
                command=("probe", "--serve"),
                env=(("REGION", "eu"), ("API_TOKEN", Secret(token)), ("A_FIRST", "1")),
                user="10001:10001",
                mounts=(Mount("/etc/checkpoint/probe/collection.json", "/etc/c.json"),),
                tmpfs=("/tmp",),
                limits=Limits(memory=256 * 1024 * 1024, cpus=0.5, pids=128),
                healthcheck=Healthcheck(test=("CMD", "true"), interval=10.0),
                labels=(("io.checkpointctl.role", "probe"), ("b", "2"), ("a", "1")),
                credentials=("shop",),
                config_digest="sha256:" + "cd" * 32,
            ),
        ),
        firewall=FirewallSpec(
            management_from=("10.0.0.0/8",),
            outbound=(FirewallRule(proto="tcp", port=443, cidrs=("192.0.2.0/24",)),),
        ),
        credentials=(
            CredentialSpec(
                name="shop",
                username="synthetic-monitor",
                secret=Secret(password),
                containers=("probe",),
                targets=("https://shop.example.com/login",),
                expires=date(2027, 1, 31),
                uid=10001,
                gid=10001,
            ),
        ),
        collection=(
            CollectionSpec("probe", "minimal", (("screenshots", False), ("agent_telemetry", True))),
        ),
        policies=("baseline", "region-eu"),
    )


def plain_state(host: str) -> DesiredState:
    """A state without secrets (a host without agent_public_key may receive it)."""
    return DesiredState(host=host, firewall=FirewallSpec(management_from=("10.0.0.0/8",)))


def make_bundle(
    keys: Sequence[SigningKey],
    hosts: Mapping[str, HostKey | None],
    *,
    serial: int = 7,
    created: datetime = CREATED,
    expires: datetime = EXPIRES,
    states: Mapping[str, DesiredState] | None = None,
    revocations: bytes | None = None,
) -> bytes:
    """A bundle for ``hosts`` (name → host key); host A gets PLAIN_A, others PLAIN_B."""
    chosen = dict(states or {})
    for i, name in enumerate(sorted(hosts)):
        chosen.setdefault(name, state(name, PLAIN_A if i == 0 else PLAIN_B))
    return build_bundle(
        chosen,
        {n: (k.public_raw if k else None) for n, k in hosts.items()},
        list(keys),
        serial=serial,
        created=created,
        expires=expires,
        revocations=revocations,
    )


def tar_members(data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    out = []
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
        for info in tar:
            handle = tar.extractfile(info)
            out.append((info, handle.read() if handle else b""))
    return out


def rewrite_tar(
    data: bytes,
    change: Callable[[str, bytes], bytes | None],
    extra: Sequence[tuple[tarfile.TarInfo, bytes]] = (),
) -> bytes:
    """The same archive with each member's bytes passed through ``change`` (None drops it)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for info, body in tar_members(data):
            new = change(info.name, body)
            if new is None:
                continue
            info.size = len(new)
            tar.addfile(info, io.BytesIO(new))
        for info, body in extra:
            tar.addfile(info, io.BytesIO(body) if info.isreg() else None)
    return out.getvalue()
