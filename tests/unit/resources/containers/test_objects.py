"""Networks and volumes of checkpoints: the plan in both phases, from engine JSON as the lab's
engine returns it (fields trimmed to those read)."""

from __future__ import annotations

from checkpointctl.model import (
    Action,
    HostResult,
    HostStatus,
    JSONValue,
    RunReport,
    change_to_json,
)
from checkpointctl.model.jsondoc import JSONObject
from checkpointctl.report import FORMATS, render
from checkpointctl.resources.containers.objects import (
    ObjectKind,
    ObjectsActual,
    ObjectTarget,
    Phase,
    object_findings,
    parse_networks,
    parse_users,
    parse_volumes,
    plan_creates,
    plan_removals,
    wanted,
)
from checkpointctl.spec import OWNER_LABEL, ContainerSpec, DesiredState, ImageRef, Mount

IMAGE = ImageRef("registry.lab/standin/x", "sha256:" + "0" * 64)
OURS: dict[str, JSONValue] = {OWNER_LABEL: "true"}


def spec(name: str, network: str = "", volumes: tuple[str, ...] = ()) -> ContainerSpec:
    mounts = tuple(Mount(v, f"/data/{v}", kind="volume") for v in volumes)
    return ContainerSpec(name, IMAGE, network=network, mounts=mounts)


DESIRED = DesiredState(
    host="cp-1",
    containers=(
        spec("ams-transactionprocessor", "checkpoint-ams"),
        spec("ams-checkpoint", "checkpoint-ams", ("ams-certificates",)),
    ),
)


def networks(*docs: tuple[str, dict[str, JSONValue]]) -> ObjectsActual:
    raw: list[JSONObject] = [
        {"Name": n, "Id": f"id-{n}", "Driver": "bridge", "Labels": labels} for n, labels in docs
    ]
    return ObjectsActual(parse_networks(raw))


def test_wanted_networks_and_volumes_name_the_first_container_needing_them() -> None:
    assert wanted(DESIRED, ObjectKind.NETWORK) == {"checkpoint-ams": "ams-transactionprocessor"}
    engine_own = DesiredState(host="cp-1", containers=(spec("probe", "bridge"),))
    assert wanted(engine_own, ObjectKind.NETWORK) == {}
    assert wanted(DESIRED, ObjectKind.VOLUME) == {"ams-certificates": "ams-checkpoint"}


def test_a_missing_network_or_volume_is_a_typed_create() -> None:
    (change,) = plan_creates(DESIRED, networks(("bridge", {})), ObjectKind.NETWORK)
    assert change.address == "network/checkpoint-ams"
    assert change.action is Action.CREATE
    assert change.desired == ObjectTarget(ObjectKind.NETWORK, "checkpoint-ams", present=True)
    doc = change_to_json(change.change)
    assert doc["fields"] == [{"path": "driver", "before": None, "after": "bridge"}]
    no_volumes = ObjectsActual(parse_volumes({"Volumes": None}))
    (vol,) = plan_creates(DESIRED, no_volumes, ObjectKind.VOLUME)
    assert (vol.address, vol.action) == ("volume/ams-certificates", Action.CREATE)


def test_an_existing_one_is_used_as_it_is_and_one_not_ours_is_said_so() -> None:
    actual = networks(("checkpoint-ams", {}))
    assert plan_creates(DESIRED, actual, ObjectKind.NETWORK) == []
    (finding,) = object_findings(DESIRED, actual, ObjectKind.NETWORK, Phase.CREATE)
    assert finding.address == "network/checkpoint-ams"
    assert finding.severity == "info"
    assert object_findings(
        DESIRED, networks(("checkpoint-ams", OURS)), ObjectKind.NETWORK, Phase.CREATE
    ) == []


def test_only_our_unwanted_objects_are_removed() -> None:
    actual = networks(("checkpoint-ams", OURS), ("checkpoint-old", OURS), ("hand-made", {}))
    (change,) = plan_removals(DESIRED, actual, ObjectKind.NETWORK)
    assert (change.address, change.action) == ("network/checkpoint-old", Action.DELETE)
    assert change.desired == ObjectTarget(ObjectKind.NETWORK, "checkpoint-old", present=False)
    assert plan_removals(DESIRED, actual, ObjectKind.NETWORK) == [change]  # deterministic
    volumes = ObjectsActual(
        parse_volumes(
            {
                "Volumes": [
                    {"Name": "ams-certificates", "Driver": "local", "Labels": OURS},
                    {"Name": "old-data", "Driver": "local", "Labels": OURS},
                    {"Name": "operators", "Driver": "local", "Labels": None},
                ]
            }
        )
    )
    assert [c.address for c in plan_removals(DESIRED, volumes, ObjectKind.VOLUME)] == [
        "volume/old-data"
    ]


def test_one_still_used_by_a_staying_container_is_a_finding_not_a_removal() -> None:
    summaries: list[JSONObject] = [
        {  # an operator's container joined to our old network: it stays
            "Names": ["/sidecar"],
            "Labels": {},
            "NetworkSettings": {"Networks": {"checkpoint-old": {}}},
            "Mounts": [{"Type": "volume", "Name": "old-data"}],
        },
        {  # our orphan: the containers resource removes it before the remove phase
            "Names": ["/old-app"],
            "Labels": OURS,
            "NetworkSettings": {"Networks": {"checkpoint-gone": {}}},
            "Mounts": [],
        },
    ]
    users = parse_users(summaries)
    actual = ObjectsActual(
        networks(("checkpoint-old", OURS), ("checkpoint-gone", OURS)).objects, users
    )
    assert [c.address for c in plan_removals(DESIRED, actual, ObjectKind.NETWORK)] == [
        "network/checkpoint-gone"
    ]
    (finding,) = object_findings(DESIRED, actual, ObjectKind.NETWORK, Phase.REMOVE)
    assert finding.address == "network/checkpoint-old"
    assert "sidecar" in finding.message
    volumes = ObjectsActual(
        parse_volumes({"Volumes": [{"Name": "old-data", "Driver": "local", "Labels": OURS}]}),
        users,
    )
    assert plan_removals(DESIRED, volumes, ObjectKind.VOLUME) == []


def test_network_and_volume_entries_show_in_every_report_format() -> None:
    creates = plan_creates(DESIRED, ObjectsActual(), ObjectKind.NETWORK)
    removals = plan_removals(
        DESIRED,
        ObjectsActual(parse_volumes({"Volumes": [{"Name": "old-data", "Labels": OURS}]})),
        ObjectKind.VOLUME,
    )
    changes = tuple(p.change for p in (*creates, *removals))
    report = RunReport(
        "drift",
        (HostResult("cp-1", HostStatus.DRIFT, changes=changes, checked=("network", "volume")),),
    )
    for fmt in FORMATS:
        text = render(report, fmt)
        assert "network/checkpoint-ams" in text, fmt
        assert "volume/old-data" in text, fmt
    assert report.exit_code == 2
