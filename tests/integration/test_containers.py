"""Acceptance stories for the containers resource, on the lab's full hosts.

Each test reads the host independently of our reader: plain ``docker inspect`` run inside the
lab host's namespaces (``lab.exec_argv``) against the host's own engine. Tests use container
names starting with ``ctest-`` and apply only the changes for their own addresses, so other
managed containers on the shared lab host are never planned away by these tests.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from checkpointctl import lab as lab_api
from checkpointctl.errors import LabError, ResourceError
from checkpointctl.lab import LabInfo
from checkpointctl.model import Action, Host, Planned, Secret
from checkpointctl.resources.containers.diff import ContainerTarget
from checkpointctl.resources.containers.images import ScanVerdict
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import (
    OWNER_LABEL,
    ContainerSpec,
    DesiredState,
    Healthcheck,
    HealthSpec,
    ImageRef,
    Limits,
    Mount,
    RegistriesSpec,
    ScanGate,
    TrustedRegistry,
)
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import connect

pytestmark = pytest.mark.lab

HOST = "cp-1"
DOCKER = ["docker", "-H", "unix:///run/docker.sock"]
RESOURCE = ContainersResource()
HEALTHY = Healthcheck(
    test=("CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"),
    interval=1.0,
    timeout=2.0,
    retries=3,
)


@pytest.fixture(scope="module")
def lab_info(request: pytest.FixtureRequest) -> LabInfo:
    """The running lab: the shared ``lab`` fixture when the suite has one, else the lab as is."""
    with contextlib.suppress(pytest.FixtureLookupError):
        value = request.getfixturevalue("lab")
        if isinstance(value, LabInfo):
            return value
    try:
        return lab_api.info()
    except LabError as exc:
        pytest.fail(f"the lab is not up: {exc}")


@pytest.fixture(scope="module")
def transport(inventory_host: Callable[[str], Host]) -> Iterator[Transport]:
    """cp-1 as the lab's inventory logs in to it (as root, or with become; see conftest)."""
    t = connect(inventory_host(HOST))
    yield t
    t.close()


def ref(pinned: str) -> ImageRef:
    repo, _, digest = pinned.partition("@")
    return ImageRef(repo, digest)


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """The docker CLI inside the lab host: what an operator logged in there would see."""
    return subprocess.run(
        [*lab_api.exec_argv(HOST), *DOCKER, *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def inspect(name: str) -> dict[str, Any] | None:
    out = docker("inspect", "--type", "container", name, check=False)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


def must_inspect(name: str) -> dict[str, Any]:
    info = inspect(name)
    assert info is not None, f"no container {name} on {HOST}"
    return info


def image_inspect(image_id: str) -> dict[str, Any]:
    info: dict[str, Any] = json.loads(docker("image", "inspect", image_id).stdout)[0]
    return info


def running(name: str) -> bool:
    info = inspect(name)
    return bool(info and info["State"]["Running"])


def remove(*names: str) -> None:
    for name in names:
        docker("rm", "-f", name, check=False)


@pytest.fixture
def name(transport: Transport) -> Iterator[str]:
    """A fresh container name for one test, with its files on the host; removed afterwards."""
    n = f"ctest-{uuid.uuid4().hex[:8]}"
    transport.write_file(f"/etc/checkpoint/{n}/collection.json", b'{"collect": {}}\n', mode=0o644)
    yield n
    remove(n, f"{n}--next", f"{n}--old")
    transport.run(["rm", "-rf", f"/etc/checkpoint/{n}"], check=False)


def spec_for(lab_info: LabInfo, name: str, **changes: Any) -> ContainerSpec:
    base = ContainerSpec(
        name=name,
        image=ref(lab_info.checkpoint_image),
        env=(("MODE", "standard"), ("API_TOKEN", Secret("lab-token-not-real"))),
        user="10001:10001",
        mounts=(
            Mount(f"/etc/checkpoint/{name}/collection.json", "/etc/checkpoint/collection.json"),
        ),
        tmpfs=("/tmp",),
        limits=Limits(memory=64 * 1024 * 1024, cpus=0.5, pids=64),
        healthcheck=HEALTHY,
        labels=(("io.checkpointctl.policy", "lab-test"),),
        config_digest="sha256:" + "0" * 64,
    )
    return replace(base, **changes)


def desired_for(lab_info: LabInfo, *specs: ContainerSpec, **changes: Any) -> DesiredState:
    base = DesiredState(
        host=HOST,
        containers=specs,
        registries=RegistriesSpec(trusted=(TrustedRegistry(lab_info.registry, "checkpoint/"),)),
        health=HealthSpec(timeout=30.0),
    )
    return replace(base, **changes)


def plan(
    transport: Transport, desired: DesiredState, *names: str
) -> list[Planned[ContainerTarget]]:
    """Our plan, restricted to the given containers (the lab host is shared)."""
    actual = RESOURCE.read(transport, desired)
    wanted = {f"container/{n}" for n in names}
    return [c for c in RESOURCE.diff(desired, actual) if c.address in wanted]


def converge(
    transport: Transport, desired: DesiredState, *names: str
) -> list[Planned[ContainerTarget]]:
    """Apply our plan for ``names`` and return it; then the same plan must be empty."""
    changes = plan(transport, desired, *names)
    for change in changes:
        RESOURCE.apply(transport, change)
    assert plan(transport, desired, *names) == []
    return changes


def test_create_runs_the_hardened_container_and_second_plan_is_empty(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    spec = spec_for(lab_info, name)
    desired = desired_for(lab_info, spec)
    changes = converge(transport, desired, name)
    assert [(c.address, c.action) for c in changes] == [(f"container/{name}", Action.CREATE)]

    info = inspect(name)
    assert info is not None
    host, config = info["HostConfig"], info["Config"]
    assert info["State"]["Running"] is True
    assert info["State"]["Health"]["Status"] == "healthy"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert not host["CapAdd"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert host["Privileged"] is False
    assert not host["PortBindings"]
    assert host["Memory"] == 64 * 1024 * 1024
    assert host["PidsLimit"] == 64
    assert config["User"] == "10001:10001"
    assert config["Labels"][OWNER_LABEL] == "true"
    assert "MODE=standard" in config["Env"]
    mounts = {m["Destination"]: m for m in info["Mounts"]}
    assert mounts["/etc/checkpoint/collection.json"]["RW"] is False
    assert spec.image.reference in image_inspect(info["Image"])["RepoDigests"]


def test_image_bump_replaces_with_the_old_running_until_the_new_runs(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    converge(transport, desired_for(lab_info, spec_for(lab_info, name)), name)
    old_id = must_inspect(name)["Id"]

    v2 = spec_for(lab_info, name, image=ref(lab_info.checkpoint_image_v2))
    desired = desired_for(lab_info, v2)
    [change] = plan(transport, desired, name)
    assert change.action is Action.REPLACE_CREATE_FIRST
    assert [f.path for f in change.fields] == ["image"]
    assert change.fields[0].after == v2.image.reference

    # Watch the host while the replacement runs: some checkpoint must run at every sample.
    samples: list[set[str]] = []
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            out = docker("ps", "--filter", f"label={OWNER_LABEL}=true", "--format", "{{.Names}}")
            samples.append({n for n in out.stdout.split() if n.startswith(name)})

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        RESOURCE.apply(transport, change)
    finally:
        done.set()
        watcher.join()
    assert samples
    assert all(samples), f"a moment with no checkpoint running: {samples}"
    assert any({name, f"{name}--next"} <= s for s in samples), "old and new never ran together"

    info = inspect(name)
    assert info is not None
    assert info["Id"] != old_id
    assert info["State"]["Health"]["Status"] == "healthy"
    assert v2.image.reference in image_inspect(info["Image"])["RepoDigests"]
    assert inspect(old_id) is None
    assert inspect(f"{name}--next") is None
    assert inspect(f"{name}--old") is None
    assert plan(transport, desired, name) == []


def test_hand_made_changes_are_drift_and_are_put_back(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    desired = desired_for(lab_info, spec_for(lab_info, name))
    converge(transport, desired, name)
    container_id = must_inspect(name)["Id"]

    docker("update", "--memory", "32m", "--restart", "no", name)
    [change] = plan(transport, desired, name)
    assert change.action is Action.UPDATE
    fields = {f.path: (f.before, f.after) for f in change.fields}
    assert fields["limits.memory"] == (32 * 1024 * 1024, 64 * 1024 * 1024)
    assert fields["restart"] == ("no", "unless-stopped")
    RESOURCE.apply(transport, change)
    assert plan(transport, desired, name) == []
    assert must_inspect(name)["HostConfig"]["Memory"] == 64 * 1024 * 1024

    docker("stop", "-t", "1", name)
    [change] = plan(transport, desired, name)
    assert (change.action, [(f.path, f.after) for f in change.fields]) == (
        Action.UPDATE,
        [("state.status", "running")],
    )
    RESOURCE.apply(transport, change)
    assert running(name)
    assert must_inspect(name)["Id"] == container_id  # fixed in place
    assert plan(transport, desired, name) == []


def test_recreated_by_hand_with_an_added_capability_is_replaced(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    spec = spec_for(lab_info, name, healthcheck=None, env=(), limits=Limits())
    desired = desired_for(lab_info, spec)
    converge(transport, desired, name)
    remove(name)
    docker(
        "run", "-d", "--name", name, "--label", f"{OWNER_LABEL}=true",
        "--label", f"io.checkpointctl.config-digest={spec.config_digest}",
        "--label", "io.checkpointctl.policy=lab-test", "--user", spec.user, "--read-only",
        "--cap-drop", "ALL", "--cap-add", "NET_ADMIN", "--security-opt", "no-new-privileges",
        "--tmpfs", "/tmp", "--restart", "unless-stopped",
        "--mount", f"type=bind,src=/etc/checkpoint/{name}/collection.json,"
        "dst=/etc/checkpoint/collection.json,readonly",
        spec.image.reference,
    )  # fmt: skip
    [change] = plan(transport, desired, name)
    assert change.action is Action.REPLACE_CREATE_FIRST
    assert [(f.path, f.before, f.after) for f in change.fields] == [("cap_add", ["NET_ADMIN"], [])]
    RESOURCE.apply(transport, change)
    assert not must_inspect(name)["HostConfig"]["CapAdd"]
    assert plan(transport, desired, name) == []


def test_sysctls_and_security_options_converge_and_a_hand_made_change_is_drift(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    sysctl = ("net.ipv4.ping_group_range", "10001 10001")
    spec = spec_for(
        lab_info, name, healthcheck=None, env=(), limits=Limits(), sysctls=(sysctl,),
        security_opt=("apparmor=unconfined",),
    )  # fmt: skip
    desired = desired_for(lab_info, spec)
    converge(transport, desired, name)
    host = must_inspect(name)["HostConfig"]
    assert host["Sysctls"] == {"net.ipv4.ping_group_range": "10001 10001"}
    assert "apparmor=unconfined" in host["SecurityOpt"]
    ping_range = docker("exec", name, "cat", "/proc/sys/net/ipv4/ping_group_range").stdout
    assert ping_range.split() == ["10001", "10001"]

    remove(name)
    docker(
        "run", "-d", "--name", name, "--label", f"{OWNER_LABEL}=true",
        "--label", f"io.checkpointctl.config-digest={spec.config_digest}",
        "--label", "io.checkpointctl.policy=lab-test", "--user", spec.user, "--read-only",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--security-opt", "apparmor=unconfined", "--sysctl", "net.ipv4.ping_group_range=0 0",
        "--tmpfs", "/tmp", "--restart", "unless-stopped",
        "--mount", f"type=bind,src=/etc/checkpoint/{name}/collection.json,"
        "dst=/etc/checkpoint/collection.json,readonly",
        spec.image.reference,
    )  # fmt: skip
    [change] = plan(transport, desired, name)
    assert change.action is Action.REPLACE_CREATE_FIRST
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("sysctls", ["net.ipv4.ping_group_range=0 0"], ["net.ipv4.ping_group_range=10001 10001"])
    ]
    RESOURCE.apply(transport, change)
    assert must_inspect(name)["HostConfig"]["Sysctls"] == dict([sysctl])
    assert plan(transport, desired, name) == []


def test_unmanaged_container_publishing_a_port_is_a_finding_and_untouched(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    rogue = f"{name}-rogue"
    docker("pull", lab_info.untrusted_image)
    docker("run", "-d", "--name", rogue, "-p", "18080:8080", lab_info.untrusted_image)
    try:
        desired = desired_for(lab_info, spec_for(lab_info, name))
        actual = RESOURCE.read(transport, desired)
        findings = [f for f in RESOURCE.findings(desired, actual) if f.address.endswith(rogue)]
        assert [f.message for f in findings] == [
            f"container {rogue} (not managed) publishes tcp/18080 → an inbound opening the "
            "policy did not ask for"
        ]
        assert all(not c.address.endswith(rogue) for c in RESOURCE.diff(desired, actual))
        converge(transport, desired, name)
        assert running(rogue)
        assert not any(c.address.endswith(rogue) for c in plan(transport, desired, rogue))
    finally:
        remove(rogue)


def test_orphans_are_removed(transport: Transport, lab_info: LabInfo, name: str) -> None:
    converge(transport, desired_for(lab_info, spec_for(lab_info, name)), name)
    assert running(name)
    [change] = plan(transport, desired_for(lab_info), name)
    assert change.action is Action.DELETE
    assert isinstance(change.desired, ContainerTarget)
    RESOURCE.apply(transport, change)
    assert inspect(name) is None
    RESOURCE.apply(transport, change)  # idempotent: gone is done


@pytest.mark.parametrize("bad", ["other-repo", "tampered"])
def test_a_bad_digest_leaves_the_old_container_running(
    transport: Transport, lab_info: LabInfo, name: str, bad: str
) -> None:
    desired = desired_for(lab_info, spec_for(lab_info, name))
    converge(transport, desired, name)
    old_id = must_inspect(name)["Id"]

    # Either a digest that exists in the registry under another repository, or one that exists
    # nowhere: both are refused before anything runs.
    digest = ref(lab_info.untrusted_image).digest if bad == "other-repo" else "sha256:" + "e" * 64
    wrong = spec_for(
        lab_info, name, image=ImageRef(ref(lab_info.checkpoint_image).repository, digest)
    )
    [change] = plan(transport, desired_for(lab_info, wrong), name)
    assert change.action is Action.REPLACE_CREATE_FIRST
    with pytest.raises(ResourceError, match=r"pull of .* failed"):
        RESOURCE.apply(transport, change)
    assert must_inspect(name)["Id"] == old_id
    assert running(name)
    assert inspect(f"{name}--next") is None


def test_new_container_that_never_gets_healthy_leaves_the_old_running(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    desired = desired_for(lab_info, spec_for(lab_info, name))
    converge(transport, desired, name)
    old_id = must_inspect(name)["Id"]

    sick = spec_for(lab_info, name, healthcheck=replace(HEALTHY, test=("CMD", "false"), retries=1))
    [change] = plan(transport, desired_for(lab_info, sick), name)
    assert change.action is Action.REPLACE_CREATE_FIRST
    with pytest.raises(
        ResourceError, match=r"new container unhealthy.*old container keeps running"
    ):
        RESOURCE.apply(transport, change)
    assert must_inspect(name)["Id"] == old_id
    assert running(name)
    assert inspect(f"{name}--next") is None


def test_new_container_that_exits_reports_its_log_and_leaves_the_old_running(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    desired = desired_for(lab_info, spec_for(lab_info, name))
    converge(transport, desired, name)
    old_id = must_inspect(name)["Id"]

    broken = spec_for(
        lab_info, name, command=("/bin/sh", "-c", "echo config is broken >&2; exit 3")
    )
    [change] = plan(transport, desired_for(lab_info, broken), name)
    with pytest.raises(ResourceError, match="new container exited 3: config is broken"):
        RESOURCE.apply(transport, change)
    assert must_inspect(name)["Id"] == old_id
    assert running(name)


def test_untrusted_image_is_refused_and_nothing_changes(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    spec = spec_for(lab_info, name, image=ref(lab_info.untrusted_image))
    desired = desired_for(lab_info, spec)
    actual = RESOURCE.read(transport, desired)
    assert any(
        f.severity == "error" and "not from a trusted registry" in f.message
        for f in RESOURCE.findings(desired, actual)
    )
    [change] = plan(transport, desired, name)
    with pytest.raises(ResourceError, match="not from a trusted registry"):
        RESOURCE.apply(transport, change)
    assert inspect(name) is None


def test_scan_gate_refuses_without_a_passing_verdict(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    spec = spec_for(lab_info, name)
    gated = replace(
        desired_for(lab_info, spec).registries, scan=ScanGate(required=True, max_severity="high")
    )
    desired = desired_for(lab_info, spec, registries=gated)
    [change] = plan(transport, desired, name)
    with pytest.raises(ResourceError, match="no scan verdict"):
        RESOURCE.apply(transport, change)
    target = change.desired
    assert isinstance(target, ContainerTarget)
    verdict = ScanVerdict(spec.image.digest, False, "1 finding(s) at or above HIGH: CVE-X")
    failing = replace(change, desired=replace(target, scan=verdict))
    with pytest.raises(ResourceError, match=r"refused by the scan gate: .*CVE-X"):
        RESOURCE.apply(transport, failing)
    assert inspect(name) is None
    verdict = ScanVerdict(spec.image.digest, True, "clean")
    passing = replace(change, desired=replace(target, scan=verdict))
    RESOURCE.apply(transport, passing)
    assert running(name)


def test_a_container_publishing_a_host_port_is_replaced_stop_first(
    transport: Transport, lab_info: LabInfo, name: str
) -> None:
    # Two containers cannot bind one host port, so this replacement stops the old one first,
    # and must start it again when the new one fails.
    spec = spec_for(lab_info, name, ports=("127.0.0.1:18181:8080",))
    converge(transport, desired_for(lab_info, spec), name)
    old_id = must_inspect(name)["Id"]

    sick = replace(spec, healthcheck=replace(HEALTHY, test=("CMD", "false"), retries=1))
    [change] = plan(transport, desired_for(lab_info, sick), name)
    assert change.action is Action.REPLACE_DESTROY_FIRST  # the plan says so before apply
    with pytest.raises(ResourceError, match="old container was restarted"):
        RESOURCE.apply(transport, change)
    assert must_inspect(name)["Id"] == old_id
    assert running(name)

    v2 = replace(spec, image=ref(lab_info.checkpoint_image_v2))
    converge(transport, desired_for(lab_info, v2), name)
    info = must_inspect(name)
    assert info["Id"] != old_id
    assert info["HostConfig"]["PortBindings"] == {
        "8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18181"}]
    }
    assert inspect(old_id) is None
    assert inspect(f"{name}--old") is None
