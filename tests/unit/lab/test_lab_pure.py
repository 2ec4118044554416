"""The lab's pure parts: names and addresses, images, inventory, sshd config, status table.

No namespaces or daemons here; the lab itself is tested in tests/integration/test_lab.py.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from pathlib import Path

import pytest
import yaml

from checkpointctl.errors import LabError
from checkpointctl.lab import images, inventory, sshd
from checkpointctl.lab.hosts import launcher_argv
from checkpointctl.lab.layout import LabPaths, host_by_name, plan_hosts
from checkpointctl.lab.standins import STANDINS
from checkpointctl.lab.state import HostStatus, LabStatus

PATHS = LabPaths(Path("/var/lib/checkpointctl-lab"))


@pytest.mark.parametrize(
    ("name", "address"),
    [
        ("cp-1", "10.213.1.1"),
        ("cp-250", "10.213.1.250"),
        ("lt-1", "10.213.2.1"),
        ("lt-250", "10.213.2.250"),
        ("lt-251", "10.213.3.1"),
        ("lt-500", "10.213.3.250"),
    ],
)
def test_addresses_follow_the_documented_plan(name: str, address: str) -> None:
    host = host_by_name(name)
    assert host is not None
    assert host.address == address


def test_the_largest_lab_has_unique_addresses_and_short_interface_names() -> None:
    hosts = plan_hosts(250, 500)
    addresses = [h.address for h in hosts]
    assert len(set(addresses)) == len(hosts) == 750
    lab_net = ipaddress.ip_network("10.213.0.0/16")
    assert all(ipaddress.ip_address(a) in lab_net for a in addresses)
    assert "10.213.0.1" not in addresses  # the bridge: controller and registry
    assert max(len(h.veth) for h in hosts) < 15  # IFNAMSIZ
    assert [h.region for h in hosts[:3]] == ["eu", "us", "eu"]


@pytest.mark.parametrize("name", ["cp-0", "cp-251", "lt-501", "lt-01", "xx-1", "cp-1x", "../cp-1"])
def test_names_the_lab_could_not_have_made_are_not_lab_hosts(name: str) -> None:
    assert host_by_name(name) is None


@pytest.mark.parametrize(("full", "light"), [(-1, 0), (251, 0), (0, 501)])
def test_impossible_shapes_are_refused(full: int, light: int) -> None:
    with pytest.raises(LabError):
        plan_hosts(full, light)


@pytest.mark.skipif(not images.BUSYBOX.exists(), reason="needs Debian's busybox-static")
def test_images_are_deterministic_and_self_consistent() -> None:
    first, second = images.build_all(), images.build_all()
    assert [i.digest for i in first] == [i.digest for i in second]
    assert len({i.digest for i in first}) == 3 + len(STANDINS)
    for image in first:
        manifest = json.loads(image.manifest)
        assert manifest["mediaType"] == images.MANIFEST_V2
        assert manifest["config"]["digest"] == image.config.digest
        assert [entry["digest"] for entry in manifest["layers"]] == [b.digest for b in image.layers]
        assert image.digest == "sha256:" + hashlib.sha256(image.manifest).hexdigest()
        assert image.pinned == f"10.213.0.1:5000/{image.repository}@{image.digest}"
        config = json.loads(image.config.data)
        assert len(config["rootfs"]["diff_ids"]) == len(image.layers)
    # v1 and v2 share the busybox layer and differ only in the version layer.
    v1, v2 = first[0], first[1]
    assert v1.layers[0].digest == v2.layers[0].digest
    assert v1.layers[1].digest != v2.layers[1].digest


def test_inventory_has_the_ansible_layout_and_the_lab_vars() -> None:
    entries = [
        {"key": "checkpoint_image", "pinned": "10.213.0.1:5000/checkpoint/probe@sha256:" + "a" * 64}
    ]
    doc = yaml.safe_load(inventory.render(PATHS, plan_hosts(2, 1), entries))
    variables = doc["all"]["vars"]
    assert variables["identity_file"] == "/var/lib/checkpointctl-lab/id_ed25519"
    assert variables["controller_cidr"] == "10.213.0.1/32"
    assert variables["checkpoint_image"].endswith("a" * 64)
    groups = {
        **doc["all"]["children"]["checkpoints"]["children"],
        "lab_light": doc["all"]["children"]["lab_light"],
    }
    assert groups["lab_full"]["hosts"] == {
        "cp-1": {"address": "10.213.1.1", "region": "eu"},
        "cp-2": {"address": "10.213.1.2", "region": "us"},
    }
    assert groups["lab_light"]["hosts"] == {"lt-1": {"address": "10.213.2.1", "region": "eu"}}


def test_sshd_config_is_key_only_and_private_to_the_host() -> None:
    host = plan_hosts(1, 0)[0]
    lines = set(sshd.render_config(PATHS, host).splitlines())
    assert "ListenAddress 10.213.1.1" in lines
    assert "PasswordAuthentication no" in lines
    assert "KbdInteractiveAuthentication no" in lines
    assert "PermitRootLogin prohibit-password" in lines
    assert "AuthorizedKeysFile /var/lib/checkpointctl-lab/authorized_keys" in lines
    assert "HostKey /var/lib/checkpointctl-lab/hosts/cp-1/ssh_host_ed25519_key" in lines
    assert not any("/etc/ssh" in line for line in lines)


def test_hosts_are_entered_with_nsenter_not_ip_netns_exec() -> None:
    full, light = plan_hosts(1, 1)
    argv = launcher_argv(PATHS, full)
    assert argv[:2] == ["nsenter", "--net=/var/run/netns/cplab-cp-1"]
    assert "netns" not in argv[2:]
    assert "--data-root" in argv
    assert "--insecure-registry" in argv
    assert "/usr/sbin/dockerd" not in launcher_argv(PATHS, light)


def test_status_table_shows_each_host_and_a_summary() -> None:
    status = LabStatus(
        root=PATHS.root,
        registry="10.213.0.1:5000",
        registry_running=True,
        hosts=(
            HostStatus("cp-1", "10.213.1.1", "full", sshd=True, dockerd=False),
            HostStatus("lt-1", "10.213.2.1", "light", sshd=True, dockerd=None),
        ),
    )
    lines = str(status).splitlines()
    assert lines[0].split() == ["HOST", "ADDRESS", "KIND", "SSHD", "DOCKERD"]
    assert lines[1].split() == ["cp-1", "10.213.1.1", "full", "up", "DOWN"]
    assert lines[2].split() == ["lt-1", "10.213.2.1", "light", "up", "-"]
    assert not status.running
    assert "degraded" in lines[-1]
    assert str(LabStatus(PATHS.root, "10.213.0.1:5000", False, ())).startswith("lab is down")
