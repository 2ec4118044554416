"""The lab itself: each host is reachable by SSH with the lab's key and known_hosts only, lives
in its own namespaces, runs its own dockerd and nftables, can pull the lab images by digest,
and ``up`` on a running lab changes nothing.

Checks go around checkpointctl on purpose: the system ``ssh`` client, ``docker`` and ``nft``
inside the host (``on_host``), and the machine's own view.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml

import checkpointctl.lab as lab_api
from checkpointctl.errors import LabError
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]

HARDENED = [
    "--read-only",
    "--cap-drop",
    "ALL",
    "--user",
    "10001:10001",
    "--security-opt",
    "no-new-privileges",
    "--network",
    "none",
]


def ssh(
    lab: LabInfo,
    address: str,
    command: Sequence[str],
    *,
    known_hosts: Path | None = None,
    identity: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """The system ssh client with only the lab's key and known_hosts (never ~/.ssh)."""
    argv = [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        f"UserKnownHostsFile={known_hosts or lab.known_hosts}",
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "ConnectTimeout=10",
        "-i",
        str(identity or lab.identity_file),
        f"root@{address}",
        "--",
        *command,
    ]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_each_host_answers_ssh_from_inside_its_own_namespace(lab: LabInfo) -> None:
    for host in lab.hosts:
        proc = ssh(lab, host.address, ["sh", "-c", "hostname; hostname -I; ip route show default"])
        assert proc.returncode == 0, f"{host.name}: {proc.stderr}"
        name, addresses, *default_route = proc.stdout.splitlines()
        assert name == host.name
        assert host.address in addresses.split()
        lab_addresses = [a for a in addresses.split() if a.startswith("10.213.")]
        assert lab_addresses == [host.address], "a host sees only its own lab address"
        assert default_route == [], "lab hosts must have no default route"


def test_ssh_refuses_an_unknown_host_key(lab: LabInfo, tmp_path: Path) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    proc = ssh(lab, lab.hosts[0].address, ["true"], known_hosts=empty)
    assert proc.returncode == 255
    assert "Host key verification failed" in proc.stderr


def test_ssh_refuses_a_key_the_lab_does_not_trust(lab: LabInfo, tmp_path: Path) -> None:
    stranger = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    proc = ssh(lab, lab.hosts[0].address, ["true"], identity=stranger)
    assert proc.returncode == 255
    assert "Permission denied" in proc.stderr


def test_each_full_host_runs_its_own_dockerd(lab: LabInfo, on_host: OnHost) -> None:
    assert lab.full_hosts, "the test lab has full hosts"
    for host in lab.full_hosts:
        # The daemon reports the UTS name of the namespace it runs in: its own host's.
        proc = on_host(host.name, ["docker", "info", "--format", "{{.Name}} {{.DockerRootDir}}"])
        name, root = proc.stdout.split()
        assert name == host.name
        assert root == str(lab.root / "hosts" / host.name / "docker")
        # Over SSH, with the default socket path, as the SSH transport will use it.
        over_ssh = ssh(lab, host.address, ["docker", "info", "--format", "{{.Name}}"])
        assert over_ssh.stdout.strip() == host.name, over_ssh.stderr


def test_a_pinned_image_pulls_and_runs_hardened(lab: LabInfo, on_host: OnHost) -> None:
    host = lab.full_hosts[0].name
    for tagged, pinned, version in (
        (f"{lab.registry}/checkpoint/probe:v1", lab.checkpoint_image, "checkpoint-probe 1"),
        (f"{lab.registry}/checkpoint/probe:v2", lab.checkpoint_image_v2, "checkpoint-probe 2"),
    ):
        on_host(host, ["docker", "pull", pinned])
        inspect = on_host(
            host,
            ["docker", "image", "inspect", "--format", "{{json .RepoDigests}} {{.Id}}", pinned],
        )
        digests, image_id = inspect.stdout.rsplit(" ", 1)
        assert pinned in yaml.safe_load(digests)
        assert image_id.strip() == lab.image_ids[tagged]
        run = on_host(host, ["docker", "run", "--rm", *HARDENED, pinned, "cat", "/VERSION"])
        assert run.stdout.strip() == version


def test_probe_image_serves_its_version_and_stops_on_sigterm(lab: LabInfo, on_host: OnHost) -> None:
    host = lab.full_hosts[0].name
    name = f"lab-test-{uuid.uuid4().hex[:8]}"
    on_host(host, ["docker", "run", "-d", "--name", name, *HARDENED, lab.checkpoint_image])
    try:
        page = on_host(host, ["docker", "exec", name, "wget", "-qO-", "http://127.0.0.1:8080/"])
        assert page.stdout.strip() == "checkpoint-probe 1"
        # SIGTERM ends it cleanly (exit 0) rather than after the kill timeout (exit 137).
        on_host(host, ["docker", "stop", "--time", "30", name])
        code = on_host(host, ["docker", "inspect", "--format", "{{.State.ExitCode}}", name])
        assert code.stdout.strip() == "0"
    finally:
        on_host(host, ["docker", "rm", "-f", name], check=False)


def test_etc_checkpoint_is_private_to_each_host(lab: LabInfo, on_host: OnHost) -> None:
    a, b = lab.hosts[0].name, lab.hosts[1].name
    token = uuid.uuid4().hex
    path = f"/etc/checkpoint/lab-test-{token}"
    on_host(a, ["tee", path], input=token)
    try:
        assert on_host(a, ["cat", path]).stdout == token
        assert on_host(b, ["test", "-e", path], check=False).returncode == 1
        assert not Path(path).exists(), "the machine's own /etc/checkpoint must not see it"
        # It lives in the host's directory under the lab root (the bind-mount source).
        assert (lab.root / "hosts" / a / "etc-checkpoint" / path.rsplit("/", 1)[1]).exists()
        # The same over SSH: a session shares the host's mount namespace.
        assert ssh(lab, lab.hosts[0].address, ["cat", path]).stdout == token
    finally:
        on_host(a, ["rm", "-f", path], check=False)


def test_nftables_inside_a_host_is_its_own(lab: LabInfo, on_host: OnHost) -> None:
    host = lab.light_hosts[0].name if lab.light_hosts else lab.hosts[0].name
    table = f"labtest{uuid.uuid4().hex[:8]}"
    on_host(host, ["nft", "add", "table", "inet", table])
    try:
        assert f"table inet {table}" in on_host(host, ["nft", "list", "ruleset"]).stdout
        machine = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
        assert table not in machine.stdout
        other = next(h.name for h in lab.hosts if h.name != host)
        assert table not in on_host(other, ["nft", "list", "tables"]).stdout
    finally:
        on_host(host, ["nft", "delete", "table", "inet", table], check=False)


def test_inventory_lists_every_host_and_pinned_images(lab: LabInfo) -> None:
    doc = yaml.safe_load(lab.inventory.read_text())
    variables = doc["all"]["vars"]
    assert variables["identity_file"] == str(lab.identity_file)
    assert variables["known_hosts"] == str(lab.known_hosts)
    assert variables["lab_registry"] == lab.registry
    assert variables["checkpoint_image"] == lab.checkpoint_image
    assert variables["checkpoint_image_v2"] == lab.checkpoint_image_v2
    assert variables["untrusted_image"] == lab.untrusted_image
    for ref in (lab.checkpoint_image, lab.checkpoint_image_v2, lab.untrusted_image):
        assert "@sha256:" in ref
    groups = {
        **doc["all"]["children"]["checkpoints"]["children"],
        "lab_light": doc["all"]["children"]["lab_light"],
    }
    listed = {**groups["lab_full"]["hosts"], **groups["lab_light"]["hosts"]}
    assert {name: v["address"] for name, v in listed.items()} == {
        h.name: h.address for h in lab.hosts
    }
    assert set(groups["lab_full"]["hosts"]) == {h.name for h in lab.full_hosts}
    known = lab.known_hosts.read_text().split()
    assert all(h.address in known for h in lab.hosts)


def test_up_again_keeps_the_running_hosts(lab: LabInfo) -> None:
    before = lab_api.status()
    argv_before = {h.name: lab_api.exec_argv(h.name) for h in lab.hosts}
    again = lab_api.up(full=before.full, light=before.light)
    # exec_argv names the host's sshd PID: unchanged PIDs mean no host was restarted.
    assert {h.name: lab_api.exec_argv(h.name) for h in lab.hosts} == argv_before
    assert again.images == lab.images
    assert lab_api.status().running


def test_exec_argv_refuses_a_host_the_lab_does_not_have(lab: LabInfo) -> None:
    with pytest.raises(LabError, match="not a host of the lab"):
        lab_api.exec_argv("cp-250")
    with pytest.raises(LabError):
        lab_api.exec_argv("../etc")
