"""Customer networks on the lab: a bastion in front of the hosts, and an unprivileged login
that escalates with sudo.

The bastion tests bring the lab up with ``--bastion`` (the checkpoint hosts then accept SSH
from the bastion's address only) and give the lab its default shape back afterwards, whatever
happens. Before that, the full hosts are converged with management allowed from the bastion
and the controller (the inventory variant's ``controller_cidr``), as an operator moving a fleet
behind a bastion would do first. The sudo tests use ``inventory-sudo.yml`` (user
``checkpointctl``, ``become: true``) on the default lab.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

import checkpointctl.lab as lab_api
from checkpointctl.cli.main import main
from checkpointctl.errors import HostUnreachable, ResourceError, TransportError
from checkpointctl.lab import LabInfo
from checkpointctl.lab.access import write_sudoers
from checkpointctl.lab.layout import BASTION_ADDRESS, LAB_USER, LabPaths
from checkpointctl.model import Become, Host, SshSettings
from checkpointctl.resources.firewall.resource import FirewallResource
from checkpointctl.spec import DesiredState, FirewallRule, FirewallSpec
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import connect
from checkpointctl.transport.ssh.jumps import JUMPS

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]
REPO = Path(__file__).resolve().parents[2]
POLICIES = str(REPO / "policies")
VAULT_PASSWORD = str(REPO / "examples" / "lab-vault-password")
CONTROLLER = "10.213.0.1"
BOTH = "10.213.0.0/30"
"""The controller (.1) and the bastion (.2): management sources behind the bastion."""
PROBE_RULE = [
    "nft",
    "add",
    "rule",
    "inet",
    "checkpointctl",
    "input",
    "tcp",
    "dport",
    "9999",
    "accept",
    "comment",
    '"hand-made"',
]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv])
    out, err = capsys.readouterr()
    return code, out, err


def cli(inventory: Path | str, verb: str, *extra: str) -> list[str]:
    return [verb, POLICIES, "-i", str(inventory), "--vault-password-file", VAULT_PASSWORD, *extra]


def shape(lab: LabInfo) -> dict[str, int]:
    return {"full": len(lab.full_hosts), "light": len(lab.light_hosts)}


class UnguardedFirewall(FirewallResource):
    """TEST ONLY: skips the controller-address guard so a lock-out really happens (the guard
    would refuse the spec before anything is loaded; commit-confirm must be proven for real)."""

    def check_controller(self, transport: Transport, spec: FirewallSpec) -> None:
        return None


@contextlib.contextmanager
def without_our_table(on_host: OnHost, host: str) -> Iterator[None]:
    """Borrow a light host without our table; what was there is put back afterwards."""
    saved = on_host(host, ["nft", "list", "table", "inet", "checkpointctl"], check=False)
    on_host(host, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
    try:
        yield
    finally:
        on_host(host, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
        if saved.returncode == 0:
            on_host(host, ["nft", "-f", "-"], input=saved.stdout)


def spec(management: str) -> FirewallSpec:
    return FirewallSpec(
        management_from=(management,),
        outbound=(FirewallRule(proto="tcp", port=5000, cidrs=(f"{CONTROLLER}/32",)),),
    )


# The sudo tests come first: the bastion's module fixture keeps the lab behind the bastion
# until the end of the module, and these tests reach the hosts directly.


# --- as an unprivileged user with sudo ---------------------------------------------------------


def sudo_inventory(lab: LabInfo) -> Path:
    return LabPaths(lab.root).sudo_inventory


def test_drift_apply_verify_as_the_unprivileged_user_with_become(
    lab: LabInfo, capsys: pytest.CaptureFixture[str], on_host: OnHost
) -> None:
    inventory = sudo_inventory(lab)
    assert run(capsys, *cli(inventory, "apply", "-q", "--limit", "lab_full"))[0] == 0
    on_host("cp-1", PROBE_RULE)
    on_host("cp-2", ["chmod", "0666", "/etc/checkpoint/probe/collection.json"])
    code, out, _ = run(capsys, *cli(inventory, "drift", "--limit", "lab_full", "--format", "json"))
    assert code == 2
    changes = {h["host"]: [c["address"] for c in h["changes"]] for h in json.loads(out)["hosts"]}
    assert changes == {"cp-1": ["firewall/checkpointctl"], "cp-2": ["collection/probe"]}

    code, out, _ = run(capsys, *cli(inventory, "apply", "--limit", "lab_full", "--format", "json"))
    assert code == 0, out
    mode = on_host("cp-2", ["stat", "-c", "%a %U", "/etc/checkpoint/probe/collection.json"])
    assert mode.stdout.split() == ["644", "root"]
    assert run(capsys, *cli(inventory, "drift", "--limit", "lab_full"))[0] == 0

    # the sessions really were the unprivileged user's
    t = connect(
        Host(
            name="cp-1",
            address=lab.host("cp-1").address,
            user=LAB_USER,
            identity_file=str(lab.identity_file),
            known_hosts=str(lab.known_hosts),
            become=Become(),
        )
    )
    try:
        assert t.run(["id", "-un"]).text().strip() == "root"
        assert t.read_file("/etc/checkpoint/probe/collection.json") is not None
    finally:
        t.close()


def test_firewall_rollback_runs_under_sudo(lab: LabInfo, on_host: OnHost) -> None:
    name = lab.light_hosts[0].name
    host = Host(
        name=name,
        address=lab.host(name).address,
        user=LAB_USER,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        become=Become(),
    )
    with without_our_table(on_host, name):
        t = connect(host)
        try:
            resource = FirewallResource(rollback_after=8, confirm_timeout=3)
            ok = DesiredState(host=name, firewall=spec(f"{CONTROLLER}/32"))
            for change in resource.diff(ok, resource.read(t, ok)):
                resource.apply(t, change)
            before = on_host(name, ["nft", "list", "table", "inet", "checkpointctl"]).stdout
            unguarded = UnguardedFirewall(rollback_after=6, confirm_timeout=2)
            locked = DesiredState(host=name, firewall=spec("10.213.9.0/24"))
            (change,) = unguarded.diff(locked, unguarded.read(t, locked))
            with pytest.raises(ResourceError, match="rolled back: the new firewall cut off"):
                unguarded.apply(t, change)
        finally:
            t.close()
        assert on_host(name, ["nft", "list", "table", "inet", "checkpointctl"]).stdout == before


def test_a_host_without_the_sudo_rule_names_the_refused_command(
    lab: LabInfo, capsys: pytest.CaptureFixture[str]
) -> None:
    write_sudoers(without=("cp-2",))
    try:
        _code, out, _err = run(
            capsys, *cli(sudo_inventory(lab), "drift", "--limit", "lab_full", "--format", "json")
        )
        hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
        assert hosts["cp-1"]["status"] == "in-sync"
        assert hosts["cp-2"]["status"] == "unreachable"
        text = json.dumps(hosts["cp-2"])
        assert "sudo refused `sudo -n -u root -- true` for checkpointctl" in text
        assert "password is required" in text
        with pytest.raises(TransportError, match="sudo refused"):
            connect(
                Host(
                    name="cp-2",
                    address=lab.host("cp-2").address,
                    user=LAB_USER,
                    identity_file=str(lab.identity_file),
                    known_hosts=str(lab.known_hosts),
                    become=Become(),
                )
            )
    finally:
        write_sudoers()


# --- through the bastion -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def behind_bastion(lab: LabInfo, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabInfo]:
    """The lab with its bastion up and the full hosts converged to admit it; the default shape
    (and the default firewall) back afterwards."""
    inventory = yaml.safe_load(Path(lab.inventory).read_text())
    inventory["all"]["vars"]["controller_cidr"] = BOTH
    admit = tmp_path_factory.mktemp("bastion") / "admit-bastion.yml"
    admit.write_text(yaml.safe_dump(inventory))
    assert main(cli(admit, "apply", "-q", "--limit", "lab_full")) == 0
    try:
        yield lab_api.up(**shape(lab), bastion=True)
    finally:
        restored = lab_api.up(**shape(lab))
        main(cli(restored.inventory, "apply", "-q", "--limit", "lab_full"))


def bastion_inventory(lab: LabInfo) -> Path:
    return LabPaths(lab.root).bastion_inventory


def jump_host(lab: LabInfo, name: str) -> Host:
    """A light host reached through the bastion by inventory variables (``ssh_jump``)."""
    return Host(
        name=name,
        address=lab.host(name).address,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        connect_timeout=10.0,
        ssh=SshSettings(jump=(f"root@{BASTION_ADDRESS}",)),
    )


def test_the_hosts_refuse_ssh_from_anywhere_but_the_bastion(behind_bastion: LabInfo) -> None:
    direct = Host(
        name="cp-1",
        address=behind_bastion.host("cp-1").address,
        identity_file=str(behind_bastion.identity_file),
        known_hosts=str(behind_bastion.known_hosts),
        connect_timeout=2.0,
    )
    with pytest.raises(HostUnreachable, match="timed out"):
        connect(direct).close()


def test_drift_apply_status_through_the_bastion_ssh_config(
    behind_bastion: LabInfo, capsys: pytest.CaptureFixture[str], on_host: OnHost
) -> None:
    inventory = bastion_inventory(behind_bastion)
    code, out, _ = run(capsys, *cli(inventory, "drift", "--limit", "lab_full"))
    assert code == 0, out
    assert "No changes. cp-1 is in sync." in out

    on_host("cp-1", PROBE_RULE)
    code, out, _ = run(capsys, *cli(inventory, "drift", "--limit", "lab_full", "--format", "json"))
    assert code == 2
    drifted = {h["host"] for h in json.loads(out)["hosts"] if h["changes"]}
    assert drifted == {"cp-1"}

    # the firewall change is commit-confirmed: the new connection goes through the bastion
    code, out, _ = run(capsys, *cli(inventory, "apply", "--limit", "lab_full", "--format", "json"))
    assert code == 0, out
    applied = {h["host"]: h["applied"] for h in json.loads(out)["hosts"]}
    assert applied["cp-1"] == ["firewall/checkpointctl"]
    assert (
        "hand-made" not in on_host("cp-1", ["nft", "list", "table", "inet", "checkpointctl"]).stdout
    )

    code, out, _ = run(capsys, "status", "-i", str(inventory), "--limit", "lab_full")
    assert code in (0, 2), out
    assert "unreachable" not in out


def test_hosts_behind_one_bastion_share_its_connection(
    behind_bastion: LabInfo, on_host: OnHost
) -> None:
    names = [h.name for h in behind_bastion.light_hosts[:2]]
    before = JUMPS.open_count()
    with without_our_table(on_host, names[0]), without_our_table(on_host, names[1]):
        opened = [connect(jump_host(behind_bastion, n)) for n in names]
        try:
            assert JUMPS.open_count() == before + 1
            seen = [
                t.run(["sh", "-c", 'echo "${SSH_CONNECTION%% *}"']).text().strip() for t in opened
            ]
            assert seen == [BASTION_ADDRESS] * len(names)
        finally:
            for t in opened:
                t.close()
    assert JUMPS.open_count() == before


def test_commit_confirm_through_the_bastion_cannot_lock_it_out(
    behind_bastion: LabInfo, on_host: OnHost
) -> None:
    name = behind_bastion.light_hosts[0].name
    host = jump_host(behind_bastion, name)
    with without_our_table(on_host, name):
        t = connect(host)
        try:
            # admitted: the host sees the bastion, the confirmation connection comes through it
            resource = FirewallResource(rollback_after=8, confirm_timeout=3)
            admitted = DesiredState(host=name, firewall=spec(BOTH))
            for change in resource.diff(admitted, resource.read(t, admitted)):
                resource.apply(t, change)
            assert resource.diff(admitted, resource.read(t, admitted)) == []
            before = on_host(name, ["nft", "list", "table", "inet", "checkpointctl"]).stdout

            # the controller's own address alone would shut the bastion out: refused up front
            controller_only = DesiredState(host=name, firewall=spec(f"{CONTROLLER}/32"))
            (change,) = resource.diff(controller_only, resource.read(t, controller_only))
            with pytest.raises(ResourceError, match=f"sees the controller at {BASTION_ADDRESS}"):
                resource.apply(t, change)

            # past the guard, the cut is real: the new connection through the bastion fails
            # and the host's timer restores the table that admits the bastion
            unguarded = UnguardedFirewall(rollback_after=6, confirm_timeout=2)
            (change,) = unguarded.diff(controller_only, unguarded.read(t, controller_only))
            with pytest.raises(ResourceError, match="rolled back: the new firewall cut off"):
                unguarded.apply(t, change)
        finally:
            t.close()
        after = on_host(name, ["nft", "list", "table", "inet", "checkpointctl"]).stdout
        assert after == before
        fresh = connect(host)
        try:
            assert fresh.run(["true"]).ok
        finally:
            fresh.close()
