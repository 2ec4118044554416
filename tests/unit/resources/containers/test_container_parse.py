"""Parsing ``docker inspect`` JSON recorded from the lab (``recorded/``, see record_lab.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from container_cases import recorded

from checkpointctl.resources.containers.parse import (
    HealthcheckActual,
    MountActual,
    PortBinding,
    parse_actual,
    parse_container,
    parse_image,
    parse_time,
)

V1 = (
    "10.213.0.1:5000/checkpoint/probe"
    "@sha256:60a129a36c2094ef099582a3fc1a88c25ccc30a5dfe4b87c28b239a60c2d0aba"
)
NOW = datetime(2026, 11, 28, tzinfo=UTC)


def test_managed_container_made_by_apply() -> None:
    c = parse_container(recorded("container-probe.json"))
    assert c.name == "probe"
    assert c.managed
    assert c.image == V1
    assert c.image_id == recorded("image-probe-v1.json")["Id"]
    assert c.user == "10001:10001"
    assert c.read_only
    assert c.cap_drop == ("ALL",)
    assert c.cap_add == ()
    assert c.no_new_privileges
    assert c.security_opt == ()
    assert not c.privileged
    assert c.ports == ()
    assert c.network_mode == "bridge"
    assert c.mounts == (
        MountActual(
            "bind", "/etc/checkpoint/probe/collection.json", "/etc/checkpoint/collection.json", True
        ),
    )
    assert c.tmpfs == (("/tmp", ""),)
    assert (c.memory, c.memory_swap, c.nano_cpus, c.pids) == (64 << 20, 64 << 20, 500_000_000, 64)
    assert c.restart == "unless-stopped"
    assert c.healthcheck == HealthcheckActual(
        ("CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"),
        interval_ns=1_000_000_000,
        timeout_ns=2_000_000_000,
        retries=3,
    )
    assert (c.status, c.health, c.restart_count, c.exit_code) == ("running", "healthy", 0, 0)
    assert c.started_at == datetime(2026, 11, 27, 22, 9, 25, 350443, tzinfo=UTC)
    assert dict(c.env)["PATH"] == "/bin"


def test_cli_spellings_normalise_to_the_same_values() -> None:
    ours = parse_container(recorded("container-probe.json"))
    cli = parse_container(recorded("container-probe-cli.json"))
    assert recorded("container-probe-cli.json")["HostConfig"]["NetworkMode"] == "default"
    assert recorded("container-probe-cli.json")["HostConfig"]["SecurityOpt"] == [
        "no-new-privileges"
    ]
    for field in (
        "cap_drop", "cap_add", "no_new_privileges", "security_opt", "network_mode", "mounts",
        "tmpfs", "memory", "memory_swap", "nano_cpus", "pids", "restart", "read_only", "user",
    ):  # fmt: skip
        assert getattr(cli, field) == getattr(ours, field), field


def test_env_values_never_appear_in_repr() -> None:
    c = parse_container(recorded("container-probe.json"))
    assert "lab-token-not-real" in dict(c.env)["API_TOKEN"]
    assert "lab-token-not-real" not in repr(c)
    actual = parse_actual([recorded("container-probe.json")], [], NOW)
    assert "lab-token-not-real" not in repr(actual)


def test_unmanaged_container_with_published_ports() -> None:
    c = parse_container(recorded("container-rogue.json"))
    assert not c.managed
    assert c.ports == (
        PortBinding("9090", "udp", "9090", "127.0.0.1"),
        PortBinding("8080", "tcp", "8080", ""),
    )
    assert parse_container(recorded("container-hostnet.json")).network_mode == "host"


def test_stopped_and_updated_containers() -> None:
    stopped = parse_container(recorded("container-probe-stopped.json"))
    assert stopped.status == "exited"
    updated = parse_container(recorded("container-probe-updated.json"))
    assert (updated.memory, updated.memory_swap, updated.restart) == (32 << 20, 64 << 20, "no")


def test_image_and_lookup_by_repo_digest() -> None:
    v1 = parse_image(recorded("image-probe-v1.json"))
    assert v1.repo_digests == (V1,)
    assert v1.env == (("PATH", "/bin"),)
    assert v1.cmd is not None
    assert v1.cmd[:2] == ("/bin/sh", "-c")
    assert dict(v1.labels)["org.opencontainers.image.version"] == "1"
    actual = parse_actual(
        [recorded("container-probe.json")],
        [recorded("image-probe-v1.json"), recorded("image-probe-v2.json")],
        NOW,
    )
    found = actual.image_with_digest(V1)
    assert found is not None
    assert found.id == v1.id
    assert actual.image_with_digest(V1.replace("checkpoint/probe", "untrusted/tool")) is None
    # an ``images`` list entry (no Config) is enough to resolve digests
    summary = {"Id": v1.id, "RepoDigests": [V1], "Labels": {"a": "b"}}
    assert parse_image(summary).repo_digests == (V1,)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T22:09:25.350443956Z", datetime(2026, 11, 27, 22, 9, 25, 350443, tzinfo=UTC)),
        ("2026-11-27T22:09:25Z", datetime(2026, 11, 27, 22, 9, 25, tzinfo=UTC)),
        ("2026-11-27T22:09:25.5+00:00", datetime(2026, 11, 27, 22, 9, 25, 500000, tzinfo=UTC)),
        ("0001-01-01T00:00:00Z", None),
        ("", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_parse_time(text: object, expected: datetime | None) -> None:
    assert parse_time(text) == expected
