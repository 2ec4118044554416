"""``status``: parsing what hosts say, judging it, and the table and JSON built from it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, date, datetime
from pathlib import Path

from checkpointctl.engine.status import (
    ContainerStatus,
    Disk,
    HostHealth,
    RunRecord,
    assess,
    container_statuses,
    exit_code,
    expiring_credentials,
    fleet_json,
    parse_apt_simulation,
    parse_df,
    parse_run_record,
)
from checkpointctl.model import DataCollection, HostResult, HostStatus, Secret, host_to_json
from checkpointctl.model.health import FirewallState
from checkpointctl.report.status import COLUMNS, render_table, status_rows
from checkpointctl.resources.containers.parse import parse_actual
from checkpointctl.spec import ContainerSpec, CredentialSpec, DesiredState, ImageRef

RECORDED = Path(__file__).parents[1] / "resources" / "containers" / "recorded"
REPO = "10.213.0.1:5000/checkpoint/probe"
V1 = REPO + "@sha256:60a129a36c2094ef099582a3fc1a88c25ccc30a5dfe4b87c28b239a60c2d0aba"
V2 = REPO + "@sha256:11ff24315f340e8cead95e72d79a6c5b2625f03242240b8626524426f7fa6326"

DF = """Filesystem     1024-blocks     Used Available Capacity Mounted on
/dev/vda1         41152736 36100000   4000000      91% /
"""
APT = """Reading package lists...
Building dependency tree...
Calculating upgrade...
The following packages will be upgraded:
  libssl3 openssl tzdata
3 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.
Inst libssl3 [3.0.11-1~deb12u1] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst openssl [3.0.11-1~deb12u1] (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])
Inst tzdata [2024a-0+deb12u1] (2024b-0+deb12u1 Debian:12.7/stable [all])
Conf libssl3 (3.0.13-1~deb12u1 Debian-Security:12/stable-security [amd64])
"""


def test_parse_df() -> None:
    assert parse_df(DF) == Disk(used_pct=91, avail_kb=4000000)
    assert parse_df("") is None
    assert parse_df("header\nnonsense line\n") is None


def test_parse_apt_simulation_counts_security_updates() -> None:
    assert parse_apt_simulation(APT) == (3, 2)
    assert parse_apt_simulation("0 upgraded, 0 newly installed.\n") == (0, 0)


def test_parse_run_record_tolerates_shapes() -> None:
    doc = {"time": "2025-03-01T10:00:00+00:00", "result": "failed", "who": "ops@ci", "error": "x"}
    assert parse_run_record(json.dumps(doc).encode()) == RunRecord(
        "2025-03-01T10:00:00+00:00", "failed", "ops@ci", "x"
    )
    # an older last-apply.json (written only on success) has no result
    old = parse_run_record(b'{"time": "t"}', default_result="converged")
    assert old is not None
    assert old.ok
    legacy = parse_run_record(b'{"last_run": "t", "ok": false, "message": "bad signature"}')
    assert legacy == RunRecord("t", "failed", None, "bad signature", healthy=False)
    assert not legacy.ok
    # the pull agent's agent-status.json (trust.agent): its own result words and a healthy flag
    agent = parse_run_record(
        json.dumps(
            {
                "time": "t2",
                "result": "refused",
                "healthy": False,
                "message": "refused: old",
                "source": "https://example/fleet.cpb",
            }
        ).encode()
    )
    assert agent == RunRecord("t2", "refused", "https://example/fleet.cpb", "refused: old", False)
    assert not agent.ok
    fine = parse_run_record(b'{"time": "t3", "result": "in-sync", "healthy": true}')
    assert fine is not None
    assert fine.ok
    assert parse_run_record(None) is None
    broken = parse_run_record(b"{not json")
    assert broken is not None
    assert broken.result == "unreadable"
    assert not broken.ok


def _actual(*containers: str):  # type: ignore[no-untyped-def]
    inspects = [json.loads((RECORDED / f"{c}.json").read_text()) for c in containers]
    images = [json.loads((RECORDED / f"image-probe-{v}.json").read_text()) for v in ("v1", "v2")]
    return parse_actual(inspects, images, datetime(2025, 3, 1, tzinfo=UTC))


def _desired(image: str, *names: str, **kw: object) -> DesiredState:
    repo, digest = image.split("@")
    specs = tuple(ContainerSpec(n, ImageRef(repo, digest)) for n in names)
    return DesiredState(host="cp-1", containers=specs, **kw)  # type: ignore[arg-type]


def test_container_statuses_digest_matches_policy() -> None:
    (probe,) = container_statuses(_desired(V1, "probe"), _actual("container-probe"))
    assert probe == ContainerStatus("probe", "running", "healthy", 0, True)
    (other,) = container_statuses(_desired(V2, "probe"), _actual("container-probe"))
    assert other.digest_ok is False


def test_container_statuses_missing_and_unwanted() -> None:
    out = container_statuses(_desired(V1, "exporter"), _actual("container-probe"))
    assert [(c.name, c.state, c.wanted) for c in out] == [
        ("exporter", "missing", True),
        ("probe", "running", False),
    ]
    assert container_statuses(None, _actual()) == ()


def test_expiring_credentials() -> None:
    def cred(name: str, expires: date | None) -> CredentialSpec:
        return CredentialSpec(name, "u", Secret("s"), expires=expires)

    desired = DesiredState(
        host="h",
        credentials=(
            cred("old", date(2025, 2, 20)),
            cred("soon", date(2025, 3, 10)),
            cred("later", date(2025, 6, 1)),
            cred("never", None),
        ),
    )
    assert expiring_credentials(desired, date(2025, 3, 1)) == [
        ("old expired 9 day(s) ago", True),
        ("soon expires in 9 day(s)", False),
    ]


HEALTHY = HostHealth(
    host="cp-1",
    reachable=True,
    docker="26.1.5",
    containers=(ContainerStatus("probe", "running", "healthy", 0, True),),
    firewall="in sync",
    firewall_state=FirewallState.IN_SYNC,
    last_apply=RunRecord("2025-03-01T10:00:00+00:00", "converged", "ops@ci"),
    security_updates=0,
    disk=Disk(40, 10_000_000),
)


def test_assess_a_healthy_host() -> None:
    assert assess(HEALTHY) == ([], [])


def test_assess_problems_and_warnings() -> None:
    import dataclasses

    sick = dataclasses.replace(
        HEALTHY,
        containers=(
            ContainerStatus("probe", "running", "unhealthy", 3, False),
            ContainerStatus("exporter", "missing"),
            ContainerStatus("leftover", "exited", wanted=False),
        ),
        firewall="drift: 2 difference(s) in firewall/checkpointctl",
        firewall_state=FirewallState.DRIFT,
        credentials=("old expired 9 day(s) ago", "soon expires in 9 day(s)"),
        last_apply=RunRecord("t1", "failed"),
        agent=RunRecord("t2", "failed"),
        security_updates=4,
        disk=Disk(96, 10),
    )
    problems, warnings = assess(sick, expired=["old expired 9 day(s) ago"])
    assert problems == [
        "container probe is unhealthy",
        "container probe does not run the policy's image digest",
        "container exporter is missing",
        "firewall drift: 2 difference(s) in firewall/checkpointctl",
        "credential old expired 9 day(s) ago",
        "last apply failed at t1",
        "pull agent's last run failed at t2",
        "/ is 96% full",
    ]
    assert warnings == [
        "container probe restarted 3 time(s)",
        "container leftover is ours but in no policy",
        "credential soon expires in 9 day(s)",
        "4 security update(s) pending",
    ]


def test_the_firewall_verdict_follows_its_state_not_its_text() -> None:
    import dataclasses

    def problems(state: FirewallState, text: str) -> list[str]:
        return assess(dataclasses.replace(HEALTHY, firewall=text, firewall_state=state))[0]

    assert problems(FirewallState.ERROR, "nft: permission denied") == [
        "firewall nft: permission denied"
    ]
    assert problems(FirewallState.DRIFT, "1 difference") == ["firewall 1 difference"]
    assert problems(FirewallState.IN_SYNC, "drift-free") == []
    assert problems(FirewallState.UNMANAGED, "error: words only") == []


def test_assess_unreachable() -> None:
    down = HostHealth("lt-9", reachable=False, error="lt-9 (10.0.0.9:22): timed out")
    assert assess(down) == (["unreachable: lt-9 (10.0.0.9:22): timed out"], [])


def _judged(h: HostHealth) -> HostHealth:
    import dataclasses

    problems, warnings = assess(h)
    return dataclasses.replace(h, problems=tuple(problems), warnings=tuple(warnings))


LIGHT = _judged(HostHealth("lt-1", reachable=True, security_updates=None, disk=Disk(90, 5)))
DOWN = _judged(HostHealth("lt-9", reachable=False, error="timed out"))


def test_exit_code() -> None:
    assert exit_code([HEALTHY, LIGHT]) == 0
    assert exit_code([HEALTHY, DOWN]) == 1
    assert exit_code([]) == 0


def test_status_rows() -> None:
    rows = status_rows([HEALTHY, LIGHT, DOWN])
    assert all(len(r) == len(COLUMNS) for r in rows)
    assert rows[0] == [
        "cp-1",
        "healthy",
        "26.1.5",
        "probe: running, healthy, digest ok",
        "in sync",
        "-",
        "converged 2025-03-01T10:00:00+00:00",
        "-",
        "0",
        "40% used",
    ]
    assert rows[1][1:3] == ["healthy", "-"]
    assert rows[1][8:] == ["unknown", "90% used"]
    assert rows[2][:2] == ["lt-9", "unreachable"]


def test_render_table_plain_has_every_host_problems_and_summary() -> None:
    text = render_table([HEALTHY, LIGHT, DOWN], width=200)
    assert "\x1b" not in text
    for name in ("cp-1", "lt-1", "lt-9", "security updates", "last apply"):
        assert name in text
    assert "lt-1: warning: / is 90% full" in text
    assert "lt-9: problem: unreachable: timed out" in text
    assert text.rstrip().endswith("1 of 3 hosts unhealthy.")


def test_render_table_colour_only_when_asked() -> None:
    assert "\x1b[" in render_table([HEALTHY], color=True)
    assert render_table([HEALTHY]).rstrip().endswith("All 1 hosts healthy.")


def test_host_values_cannot_inject_terminal_escapes() -> None:
    import dataclasses

    evil = dataclasses.replace(HEALTHY, docker="26\x1b[2J", firewall="error: \x1b]0;pwned\x07")
    text = render_table([evil], width=200)
    assert "\x1b" not in text
    assert "\x07" not in text


def test_fleet_json() -> None:
    doc = fleet_json([HEALTHY, DOWN])
    assert doc["format_version"] == "1.1"
    assert doc["healthy"] is False
    assert doc["summary"] == {"hosts": 2, "healthy": 1, "unhealthy": 1}
    cp1 = doc["hosts"][0]
    assert cp1["containers"] == [
        {
            "name": "probe",
            "state": "running",
            "health": "healthy",
            "restarts": 0,
            "digest_matches_policy": True,
            "in_policy": True,
        }
    ]
    assert cp1["last_apply"] == {
        "time": "2025-03-01T10:00:00+00:00",
        "result": "converged",
        "who": "ops@ci",
        "error": None,
    }
    assert cp1["disk"] == {"used_percent": 40, "available_kib": 10_000_000}
    assert doc["hosts"][1]["problems"] == ["unreachable: timed out"]
    # optional fields (1.1): left out when unknown, so such a host is written as 1.0 wrote it
    assert "location" not in cp1
    assert "data_collection" not in cp1
    json.dumps(doc)  # plain JSON data all the way down


def test_fleet_json_carries_location_and_data_collection_as_the_page_shows_them() -> None:
    collection = DataCollection("probe", "strict", (("screenshots", True), ("har", False)))
    placed = dataclasses.replace(HEALTHY, location="eu", data_collection=(collection,))
    (host,) = fleet_json([placed])["hosts"]  # type: ignore[misc]
    assert host["location"] == "eu"
    assert host["data_collection"] == [
        {"container": "probe", "profile": "strict", "settings": {"screenshots": True, "har": False}}
    ]
    # the run report writes a host's switches the same way
    run = host_to_json(
        HostResult("cp-1", HostStatus.IN_SYNC, location="eu", data_collection=(collection,))
    )
    assert run["data_collection"] == host["data_collection"]
    assert run["location"] == host["location"]
