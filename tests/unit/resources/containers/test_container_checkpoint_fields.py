"""The checkpoint primitives on one container: user-defined network, logging, named volumes.

What ``compile_create`` sends is what the diff expects to read back: a recorded ``docker
inspect`` of the lab's probe, edited the way the engine reports these settings, diffs empty
against the spec, and a changed log option is a replacement.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from container_cases import recorded

from checkpointctl.model import Action
from checkpointctl.resources.containers.compile import compile_create
from checkpointctl.resources.containers.diff import (
    action_for,
    container_fields,
    dependants_to_restart,
)
from checkpointctl.resources.containers.parse import parse_actual, parse_logging
from checkpointctl.spec import OWNER_LABEL, ContainerSpec, DesiredState, ImageRef, LogConfig, Mount

IMAGE = ImageRef(
    "10.213.0.1:5000/checkpoint/probe",
    "sha256:60a129a36c2094ef099582a3fc1a88c25ccc30a5dfe4b87c28b239a60c2d0aba",
)
LOG = LogConfig("json-file", (("max-file", "3"), ("max-size", "10m")))


def _spec(**extra: Any) -> ContainerSpec:
    base: dict[str, Any] = {
        "name": "probe",
        "image": IMAGE,
        "network": "checkpoint-ams",
        "network_mode": "checkpoint-ams",
        "logging": LOG,
        "mounts": (Mount("ams-certificates", "/certs", True, "volume"),),
    }
    base.update(extra)
    return ContainerSpec(**base)


def test_the_request_joins_the_network_with_log_options_and_a_read_only_volume() -> None:
    host = compile_create(_spec()).body["HostConfig"]
    assert isinstance(host, dict)
    assert host["NetworkMode"] == "checkpoint-ams"
    log = {"Type": "json-file", "Config": {"max-file": "3", "max-size": "10m"}}
    assert host["LogConfig"] == log
    assert host["Mounts"] == [
        {"Type": "volume", "Source": "ams-certificates", "Target": "/certs", "ReadOnly": True}
    ]


def _as_engine_reports(spec: ContainerSpec, log: dict[str, Any]) -> dict[str, Any]:
    """The recorded probe, changed as the engine would report a container made from ``spec``."""
    inspect = copy.deepcopy(recorded("container-probe.json"))
    request = compile_create(spec).body
    inspect["Config"]["Labels"] = request["Labels"]
    inspect["Config"]["Env"] = [*inspect["Config"]["Env"]]
    inspect["HostConfig"].update(
        {k: v for k, v in request["HostConfig"].items() if k not in ("Mounts", "LogConfig")}  # type: ignore[union-attr]
    )
    inspect["HostConfig"]["LogConfig"] = log
    inspect["Mounts"] = [
        {"Type": "volume", "Name": "ams-certificates", "Source": "/var/lib/docker/volumes/x",
         "Destination": "/certs", "RW": False}
    ]  # fmt: skip
    return inspect


def test_read_back_is_in_sync_and_a_changed_log_option_means_a_replacement() -> None:
    spec = _spec()
    image = recorded("image-probe-v1.json")
    log = {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "3"}}
    actual = parse_actual([_as_engine_reports(spec, log)], [image], datetime.now(UTC))
    (container,) = actual.containers
    ours = {"network_mode", "mounts", "logging"}  # the rest of the recorded probe differs
    assert [f for f in container_fields(spec, container, actual) if f.path in ours] == []
    log["Config"]["max-size"] = "50m"
    actual = parse_actual([_as_engine_reports(spec, log)], [image], datetime.now(UTC))
    changed = container_fields(spec, actual.containers[0], actual)
    (logging,) = [f for f in changed if f.path == "logging"]
    assert (logging.before, logging.after) == (
        "json-file(max-file=3,max-size=50m)",
        "json-file(max-file=3,max-size=10m)",
    )
    assert action_for(changed, spec, actual.containers[0]) is not Action.UPDATE


def test_no_policy_logging_accepts_the_engines_default() -> None:
    spec = _spec(logging=None)
    image = recorded("image-probe-v1.json")
    inspect = _as_engine_reports(spec, {"Type": "journald", "Config": {}})
    actual = parse_actual([inspect], [image], datetime.now(UTC))
    paths = [f.path for f in container_fields(spec, actual.containers[0], actual)]
    assert "logging" not in paths
    assert parse_logging({"Type": ""}) is None


def _running(name: str, managed: bool = True, status: str = "running") -> dict[str, Any]:
    inspect: dict[str, Any] = copy.deepcopy(recorded("container-probe.json"))
    inspect["Name"] = f"/{name}"
    inspect["Id"] = f"id-{name}"
    inspect["Config"]["Labels"] = {OWNER_LABEL: "true"} if managed else {}
    inspect["State"]["Status"] = status
    return inspect


def test_dependants_restarted_after_a_recreated_dependency_are_transitive_in_start_order() -> None:
    desired = DesiredState(
        host="cp-1",
        containers=(
            _spec(name="db"),
            _spec(name="api", depends_on=("db",)),
            _spec(name="web", depends_on=("api",)),
            _spec(name="other"),
            _spec(name="stopped", depends_on=("db",)),
            _spec(name="absent", depends_on=("db",)),
            _spec(name="theirs", depends_on=("db",)),
        ),
    )
    actual = parse_actual(
        [_running("db"), _running("api"), _running("web"), _running("other"),
         _running("stopped", status="exited"), _running("theirs", managed=False)],
        [],
        datetime.now(UTC),
    )  # fmt: skip
    assert dependants_to_restart(desired, "db", actual, set()) == ("api", "web")
    # one the plan recreates anyway starts after its dependencies and restarts its own
    # dependants then
    assert dependants_to_restart(desired, "db", actual, {"db", "api"}) == ()
    assert dependants_to_restart(desired, "api", actual, {"db", "api"}) == ("web",)
    assert dependants_to_restart(desired, "web", actual, set()) == ()
    assert dependants_to_restart(desired, "other", actual, set()) == ()
