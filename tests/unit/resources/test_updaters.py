"""Auto-updaters: the grep's output → findings (the lab test adds a real cron entry)."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from checkpointctl.errors import CommandFailed
from checkpointctl.model import Host, JSONValue
from checkpointctl.model.jsondoc import JSONObject
from checkpointctl.policy.vendors import PROFILES
from checkpointctl.resources.containers.parse import parse_actual
from checkpointctl.resources.updaters import (
    ANSWERS,
    PULL,
    VENDOR_REPOSITORIES,
    AutoUpdatersResource,
    ContainerUpdaterKind,
    answer,
    container_updater_findings,
    container_updaters,
    findings_for,
    parse_updaters,
    read_command,
    repository_of,
)
from checkpointctl.spec import OWNER_LABEL, ContainerSpec, DesiredState, ImageRef
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.local import LocalTransport

CRON = "0 * * * * root cd /opt/uptrends && docker-compose pull && docker-compose up -d"


def test_grep_output_becomes_one_warning_per_line_with_a_printable_excerpt() -> None:
    text = (
        f"/etc/cron.d/uptrends:3:{CRON}\n"
        "/etc/systemd/system/pull.service:7:ExecStart=/usr/bin/docker pull x\x1b[31m\n"
        "garbage without a path\n"
    )
    found = parse_updaters(text)
    assert [(u.path, u.line) for u in found] == [
        ("/etc/cron.d/uptrends", 3),
        ("/etc/systemd/system/pull.service", 7),
    ]
    assert "\x1b" not in found[1].excerpt
    (first, _) = findings_for(found)
    assert first.address == "updater/etc/cron.d/uptrends"
    assert first.severity == "warning"
    assert "update pipeline" in first.message


def test_the_pattern_matches_pulls_and_not_other_docker_use(tmp_path: Path) -> None:
    lines = [CRON, "@hourly docker compose -f x.yml pull", "docker image pull a", "watchtower",
             "docker ps", "docker-compose up -d", "echo pull"]  # fmt: skip
    crontab = tmp_path / "crontab"
    crontab.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["grep", "-s", "-H", "-n", "-E", "-e", PULL, "--", str(crontab)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert [u.line for u in parse_updaters(out)] == [1, 2, 3, 4]
    assert re.search(PULL, "docker ps") is None


def test_the_read_runs_grep_itself_and_a_missing_grep_is_a_failed_read(tmp_path: Path) -> None:
    """On this machine's own crontabs and units: grep's statuses 0-2 are answers (2: a pattern
    of the script that matched no file); with no grep to run, the read fails instead of
    answering "no updater"."""
    local = LocalTransport(Host(name="here", address="localhost", connection="local"))
    argv = list(read_command().argv)
    found = local.run(argv, check=False)
    assert found.rc in ANSWERS
    assert parse_updaters(answer("here", found)) == parse_updaters(found.text())
    no_grep = local.run(["env", f"PATH={tmp_path}", "/bin/sh", *argv[1:]], check=False)
    assert no_grep.rc == 127
    with pytest.raises(CommandFailed):
        answer("here", no_grep)


def _container(
    name: str, image: str, labels: dict[str, JSONValue], status: str = "running"
) -> JSONObject:
    """A ``docker inspect`` of a container, trimmed to what the updater check reads."""
    return {
        "Id": f"id-{name}",
        "Name": f"/{name}",
        "Image": "sha256:" + "1" * 64,
        "Config": {"Image": image, "Labels": labels},
        "HostConfig": {},
        "State": {"Status": status},
    }


def test_watchtower_and_a_vendors_compose_project_are_found_in_the_containers_read() -> None:
    compose: dict[str, JSONValue] = {
        "com.docker.compose.project": "uptrends",
        "com.docker.compose.service": "Checkpoint",
    }
    actual = parse_actual(
        [
            _container("watchtower", "containrrr/watchtower:latest", {}),
            _container("tower-fork", "ghcr.io/nicholas-fedor/watchtower@sha256:" + "2" * 64, {}),
            _container(
                "labelled",
                "registry.example/ops/updater:1",
                {"com.centurylinklabs.watchtower": "true"},
            ),
            _container("stopped-tower", "containrrr/watchtower", {}, status="exited"),
            _container("cp", "uptrends.azurecr.io/win2022/checkpoint:latest", compose),
            _container(
                "mirror", "registry.lab/standin/uptrends-checkpoint@sha256:" + "3" * 64, compose
            ),
            _container("app", "docker.io/library/nginx:1", compose),  # not a vendor's image
            _container("ours", "containrrr/watchtower", {OWNER_LABEL: "true"}),
        ],
        [],
        datetime.now(UTC),
    )
    found = container_updaters(actual.containers, {"registry.lab/standin/uptrends-checkpoint"})
    assert [(u.container, u.kind) for u in found] == [
        ("cp", ContainerUpdaterKind.COMPOSE),
        ("labelled", ContainerUpdaterKind.WATCHTOWER),
        ("mirror", ContainerUpdaterKind.COMPOSE),
        ("tower-fork", ContainerUpdaterKind.WATCHTOWER),
        ("watchtower", ContainerUpdaterKind.WATCHTOWER),
    ]
    (cp, *_) = container_updater_findings(found)
    assert cp.address == "updater/container/cp"
    assert "compose project uptrends (service Checkpoint" in cp.message
    assert "update pipeline" in cp.message


def test_every_vendor_profiles_image_is_a_vendor_repository() -> None:
    for profile in PROFILES.values():
        for _, fields in profile.containers:
            assert repository_of(str(fields["image"])) in VENDOR_REPOSITORIES, profile.name


def test_repository_of_drops_tag_digest_and_docker_hubs_long_form() -> None:
    assert repository_of("docker.io/checkly/agent:2@sha256:" + "0" * 64) == "checkly/agent"
    assert repository_of("10.213.0.1:5000/standin/x:v1") == "10.213.0.1:5000/standin/x"
    assert repository_of("10.213.0.1:5000/standin/x") == "10.213.0.1:5000/standin/x"


def test_the_crontab_read_runs_only_where_the_policy_runs_containers(tmp_path: Path) -> None:
    """A host whose policy pins no image has nothing a job that pulls images could replace:
    its drift runs no ``grep``; a host with a container runs it, and its answer is parsed."""
    host = Host(name="here", address="localhost", connection="local")
    resource = AutoUpdatersResource()
    bare = DesiredState(host="here")
    assert resource.read_plan(host, bare).commands == ()
    assert resource.read(LocalTransport(host), bare) == ()
    probe = ContainerSpec(name="probe", image=ImageRef("registry.lab/probe", "sha256:" + "1" * 64))
    with_container = DesiredState(host="here", containers=(probe,))
    plan = resource.read_plan(host, with_container)
    assert plan.commands == (read_command(),)
    job = tmp_path / "job"
    job.write_text(CRON + "\n")
    found = subprocess.run(["grep", "-H", "-n", "-E", "-e", PULL, str(job)], capture_output=True,
                           check=False)  # fmt: skip
    result = CommandResult(plan.commands[0].argv, found.returncode, found.stdout, b"")
    actual = resource.read_finish(LocalTransport(host), with_container, plan, [result])
    assert [(u.path, u.line) for u in actual] == [(str(job), 1)]
