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
import hashlib
import hmac
import json
import os
import shlex
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml
from cryptography.hazmat.primitives import hashes, padding, serialization
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC
from trust_env import CHECKPOINTCTL, STATE_DIR, TABLE, TrustEnv, write_policy

import checkpointctl.lab as lab_api
from checkpointctl.cli.main import main
from checkpointctl.errors import HostKeyError, HostUnreachable, ResourceError, TransportError
from checkpointctl.lab import LabInfo
from checkpointctl.lab.access import ensure_user, write_sudoers
from checkpointctl.lab.layout import BASTION_ADDRESS, LAB_USER, LabPaths
from checkpointctl.model import Become, Host, SshSettings
from checkpointctl.resources.firewall.resource import FirewallResource
from checkpointctl.spec import DesiredState, FirewallRule, FirewallSpec
from checkpointctl.transport.base import Command, Transport
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


def assert_one_shared_jump(on_host: OnHost, hosts: list[Host]) -> None:
    """Connect to ``hosts`` at once: one jump connection opened for all of them, each host
    seeing the bastion as its client, and that connection closed with the last of them."""
    before = JUMPS.open_count()
    with contextlib.ExitStack() as stack:
        for h in hosts:
            stack.enter_context(without_our_table(on_host, h.name))
        opened = [connect(h) for h in hosts]
        try:
            assert JUMPS.open_count() == before + 1
            seen = [
                t.run(["sh", "-c", 'echo "${SSH_CONNECTION%% *}"']).text().strip() for t in opened
            ]
            assert seen == [BASTION_ADDRESS] * len(hosts)
        finally:
            for t in opened:
                t.close()
    assert JUMPS.open_count() == before


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
        # without a become password the rule is proven by the first command: a refusal is
        # raised there, naming the command sudo refused, instead of the command's own failure
        t = connect(
            Host(
                name="cp-2",
                address=lab.host("cp-2").address,
                user=LAB_USER,
                identity_file=str(lab.identity_file),
                known_hosts=str(lab.known_hosts),
                become=Become(),
            )
        )
        try:
            with pytest.raises(TransportError, match="sudo refused `sudo -n -u root -- true`"):
                t.run(["id", "-un"])
            with pytest.raises(TransportError, match="sudo refused"):
                t.run_many([Command(("true",)), Command(("id", "-un"))])
        finally:
            t.close()
    finally:
        write_sudoers()


# --- an encrypted key, a become password ------------------------------------------------------


def test_a_passphrase_protected_key_opens_with_its_passphrase_file(
    lab: LabInfo, tmp_path: Path
) -> None:
    plain = serialization.load_ssh_private_key(Path(lab.identity_file).read_bytes(), None)
    encrypted = tmp_path / "id_encrypted"
    encrypted.write_bytes(
        plain.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.BestAvailableEncryption(b"correct horse"),
        )
    )
    encrypted.chmod(0o600)
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("correct horse\n")
    passphrase.chmod(0o600)

    def host(passphrase_file: str | None) -> Host:
        return Host(
            name="cp-1",
            address=lab.host("cp-1").address,
            identity_file=str(encrypted),
            known_hosts=str(lab.known_hosts),
            ssh=SshSettings(passphrase_file=passphrase_file),
        )

    # first without: an opened key serves the rest of the run (a prompt is answered once)
    with pytest.raises(TransportError, match="is encrypted"):
        connect(host(None)).close()
    t = connect(host(str(passphrase)))
    try:
        assert t.run(["id", "-un"]).text().strip() == "root"
    finally:
        t.close()


SUDO_PASSWORD = "lab-sudo-pw-7f3a9c"
"""The become password of the password test: a string nothing else contains."""


def _ansible_vault(plaintext: bytes, password: bytes) -> str:
    """``ansible-vault encrypt_string`` output (format 1.1, AES256), as Ansible documents it."""
    salt = os.urandom(32)
    derived = PBKDF2HMAC(algorithm=hashes.SHA256(), length=80, salt=salt, iterations=10000).derive(
        password
    )
    aes_key, mac_key, iv = derived[:32], derived[32:64], derived[64:]
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(aes_key), modes.CTR(iv)).encryptor()
    ciphertext = encryptor.update(padded) + encryptor.finalize()
    mac = hmac.new(mac_key, ciphertext, hashlib.sha256).hexdigest()
    body = "\n".join([salt.hex(), mac, ciphertext.hex()]).encode().hex()
    lines = [body[i : i + 80] for i in range(0, len(body), 80)]
    return "\n".join(["$ANSIBLE_VAULT;1.1;AES256", *lines])


class ArgvWatch:
    """Reads every process's argv on the machine (the lab hosts share its /proc) while a run
    goes on, and keeps the ones that contain ``needle``."""

    def __init__(self, needle: bytes) -> None:
        self.needle = needle
        self.found: list[bytes] = []
        self.sudo_seen = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes()
                except OSError:
                    continue
                if self.needle in argv:
                    self.found.append(argv)
                if argv.startswith(b"sudo\0-S"):
                    self.sudo_seen += 1

    def __enter__(self) -> ArgvWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


def test_a_vaulted_become_password_goes_to_sudo_on_stdin_never_in_argv(
    lab: LabInfo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """cp-2's rule asks for the login user's password; the inventory gives it vaulted. The
    run works, and no process on the machine ever had the password in its argv."""
    vault_password = tmp_path / "vault-password"
    vault_password.write_text("inventory vault\n")
    inventory = yaml.safe_load(sudo_inventory(lab).read_text())
    inventory["all"]["vars"]["ansible_become_password"] = VaultText(
        _ansible_vault(SUDO_PASSWORD.encode(), b"inventory vault")
    )
    vaulted = tmp_path / "inventory-become-password.yml"
    vaulted.write_text(yaml.dump(inventory, Dumper=VaultDumper))
    subprocess.run(["chpasswd"], input=f"{LAB_USER}:{SUDO_PASSWORD}\n", text=True, check=True)
    write_sudoers(without=("cp-2",))
    PASSWORD_RULE.write_text(
        f"Defaults:{LAB_USER} !requiretty\n{LAB_USER} cp-2 = (root) PASSWD: ALL\n"
    )
    PASSWORD_RULE.chmod(0o440)
    try:
        # the rule really asks for a password: without one, sudo -n is refused
        t = connect(
            Host(
                name="cp-2",
                address=lab.host("cp-2").address,
                user=LAB_USER,
                identity_file=str(lab.identity_file),
                known_hosts=str(lab.known_hosts),
                become=Become(),
            )
        )
        try:
            with pytest.raises(TransportError, match="password is required"):
                t.run(["true"])
        finally:
            t.close()
        argv = [
            "drift", POLICIES, "-i", str(vaulted), "--vault-password-file", VAULT_PASSWORD,
            "--ansible-vault-password-file", str(vault_password), "--limit", "cp-2",
            "--format", "json",
        ]  # fmt: skip
        with ArgvWatch(SUDO_PASSWORD.encode()) as watch:
            code, out, err = run(capsys, *argv)
        assert code in (0, 2), out + err
        (report,) = json.loads(out)["hosts"]
        assert report["status"] != "unreachable", report
        assert watch.sudo_seen > 0  # the watch did see the run's sudo -S processes
        assert watch.found == []
        assert SUDO_PASSWORD not in out + err
    finally:
        PASSWORD_RULE.unlink(missing_ok=True)
        write_sudoers()
        ensure_user()


PASSWORD_RULE = Path("/etc/sudoers.d/checkpointctl-lab-password")


class VaultText(str):
    """A string yaml.dump writes as ``!vault |``."""


class VaultDumper(yaml.SafeDumper):
    pass


VaultDumper.add_representer(VaultText, lambda d, v: d.represent_scalar("!vault", str(v), style="|"))


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
    assert_one_shared_jump(on_host, [jump_host(behind_bastion, n) for n in names])


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


def test_push_bundle_through_the_bastion_is_verified_and_applied_by_the_host(
    behind_bastion: LabInfo, capsys: pytest.CaptureFixture[str], on_host: OnHost, tmp_path: Path
) -> None:
    """``push-bundle -i inventory-bastion.yml``: the bundle reaches the host's agent through the
    bastion (the agent's session comes from the bastion's address), the agent verifies the
    signature against its trust store and applies it; a bundle it does not trust changes
    nothing."""
    name = behind_bastion.light_hosts[-1].name
    env = TrustEnv(lab=behind_bastion, on_host=on_host, root=tmp_path)
    ui = {"proto": "tcp", "port": 8080, "from": [BOTH], "comment": "probe ui"}
    firewall = {
        "table": TABLE,
        "management": {"from": [BOTH]},
        "inbound": {"default": "drop", "allow": [ui]},
        "outbound": {"default": "drop"},
    }
    write_policy(tmp_path, "ui", {"firewall": firewall})
    # the remote command notes the address the host sees its client at, then runs the agent
    remote = tmp_path / "checkpointctl-seen-from"
    seen = tmp_path / "seen-from"
    remote.write_text(
        "#!/bin/sh\n"
        f'printf "%s\\n" "${{SSH_CONNECTION%% *}}" > {shlex.quote(str(seen))}\n'
        f'exec {shlex.quote(CHECKPOINTCTL)} "$@"\n'
    )
    remote.chmod(0o755)
    before = env.files(name)
    with without_our_table(on_host, name):
        try:
            env.make_keys()
            env.init_agent(name)
            env.write_inventory({name: {}}, {})
            serial = env.next_serial()
            bundle = tmp_path / "push.cpb"
            bundle.write_bytes(env.build("ui", serial))
            push = [
                "push-bundle", str(bundle), "-i", str(bastion_inventory(behind_bastion)),
                "--limit", name,
                "--remote-command", str(remote),
            ]  # fmt: skip
            code, out, err = run(capsys, *push)
            assert code == 0, out + err
            assert f"{name}: ok: checkpointctl agent: {name}: converged" in out
            assert "1 of 1 hosts accepted and applied the bundle" in out
            assert seen.read_text().strip() == BASTION_ADDRESS
            table = env.table(name)
            assert "dport 8080" in table
            assert "10.213.0.0/30" in table
            status = env.status(name)
            assert (status["result"], status["healthy"]) == ("converged", True)
            assert status["bundle"]["serial"] == serial  # type: ignore[index]
            audit = on_host(name, ["cat", f"{STATE_DIR}/audit.jsonl"]).stdout.splitlines()
            assert json.loads(audit[-1])["policy_revision"].startswith(f"bundle serial {serial}")

            # the host, not the controller, decides: an untrusted signature changes nothing
            state = env.snapshot(name)
            rogue = tmp_path / "rogue.cpb"
            rogue.write_bytes(env.build("ui", env.next_serial(), "rogue"))
            code, out, err = run(capsys, *push[:1], str(rogue), *push[2:])
            assert code == 1, out + err
            assert "not signed by any trusted key" in out
            assert env.snapshot(name) == state
            assert "not signed by any trusted key" in str(env.status(name)["message"])
        finally:
            env.restore(name, before)


def test_a_proxycommand_running_the_openssh_client_through_the_bastion(
    behind_bastion: LabInfo, tmp_path: Path
) -> None:
    """``ProxyCommand ssh -W %h:%p`` (OpenSSH's own client, the lab's ssh_config for the hop):
    the host sees the bastion's address; our client checks the host's key end to end."""
    paths = LabPaths(behind_bastion.root)
    config = tmp_path / "ssh_config"
    config.write_text(
        "Host cp-1\n"
        f"    HostName {behind_bastion.host('cp-1').address}\n"
        "    User root\n"
        f"    IdentityFile {behind_bastion.identity_file}\n"
        f"    UserKnownHostsFile {behind_bastion.known_hosts}\n"
        f"    ProxyCommand ssh -F {paths.ssh_config} -o BatchMode=yes -W %h:%p bastion\n"
    )
    host = Host(
        name="cp-1",
        address="cp-1",
        connect_timeout=20.0,
        ssh=SshSettings(given=frozenset(), config_file=str(config)),
    )
    t = connect(host)
    try:
        seen = t.run(["sh", "-c", 'echo "${SSH_CONNECTION%% *}"']).text().strip()
        assert seen == BASTION_ADDRESS
    finally:
        t.close()


def test_drift_and_status_take_the_ssh_config_from_dash_f(
    behind_bastion: LabInfo, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The bastion inventory without its ``-F`` in ``ansible_ssh_common_args``: ``-F`` on the
    command line gives its hosts (inventory names only) the lab's ssh_config instead."""
    inventory = yaml.safe_load(bastion_inventory(behind_bastion).read_text())
    assert inventory["all"]["vars"].pop("ansible_ssh_common_args").startswith("-F ")
    bare = tmp_path / "inventory-without-ssh-config.yml"
    bare.write_text(yaml.safe_dump(inventory))
    config = str(LabPaths(behind_bastion.root).ssh_config)

    code, out, err = run(capsys, *cli(bare, "drift", "--limit", "lab_full", "-F", config))
    assert code == 0, out + err
    assert "No changes. cp-1 is in sync." in out
    code, out, err = run(
        capsys, "status", "-i", str(bare), "--limit", "lab_full", "--ssh-config", config
    )
    assert code in (0, 2), out + err
    assert "unreachable" not in out


def test_a_jump_hosts_own_proxyjump_is_followed_and_its_connections_shared(
    behind_bastion: LabInfo, on_host: OnHost, tmp_path: Path
) -> None:
    """ssh_config in which the hosts jump through ``inner``, whose own block jumps through
    ``bastion`` (the lab has one bastion: ``inner`` is the bastion again, reached through
    itself). The route is bastion, inner, host; every hop's key is checked against the lab's
    known_hosts; two hosts behind that chain share its two connections."""
    hosts = behind_bastion.light_hosts[:2]
    common = (
        "    User root\n"
        f"    IdentityFile {behind_bastion.identity_file}\n"
        "    IdentitiesOnly yes\n"
        f"    UserKnownHostsFile {behind_bastion.known_hosts}\n"
        "    StrictHostKeyChecking yes\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        "".join(f"Host {h.name}\n    HostName {h.address}\n" for h in hosts)
        + f"Host inner\n    HostName {BASTION_ADDRESS}\n    ProxyJump bastion\n{common}"
        + f"Host bastion\n    HostName {BASTION_ADDRESS}\n{common}"
        + f"Host lt-* cp-*\n    ProxyJump inner\n{common}"
    )
    settings = SshSettings(given=frozenset(), config_file=str(config))
    before = JUMPS.open_count()
    with without_our_table(on_host, hosts[0].name), without_our_table(on_host, hosts[1].name):
        opened = [connect(Host(name=h.name, address=h.name, ssh=settings)) for h in hosts]
        try:
            assert JUMPS.open_count() == before + 2  # bastion, and inner through it
            seen = [
                t.run(["sh", "-c", 'echo "${SSH_CONNECTION%% *}"']).text().strip() for t in opened
            ]
            assert seen == [BASTION_ADDRESS] * len(hosts)
        finally:
            for t in opened:
                t.close()
    assert JUMPS.open_count() == before

    # the nested hop's key is checked too: with an empty known_hosts for it, refused
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    config.write_text(
        config.read_text().replace(
            "    ProxyJump bastion\n", f"    ProxyJump bastion\n    UserKnownHostsFile {empty}\n"
        )
    )
    with pytest.raises(HostKeyError, match=f"inner \\({BASTION_ADDRESS}:22\\): host key not"):
        connect(Host(name=hosts[0].name, address=hosts[0].name, ssh=settings))
    assert JUMPS.open_count() == before


def test_the_outermost_jump_host_through_its_own_proxycommand(
    behind_bastion: LabInfo, on_host: OnHost, tmp_path: Path
) -> None:
    """The hosts jump through ``inner`` (the bastion's address), which its own block reaches by
    ``ProxyCommand ssh -W %h:%p bastion`` (OpenSSH's client and the lab's ssh_config): one
    process and one login to ``inner`` for both hosts, each host's key checked end to end."""
    paths = LabPaths(behind_bastion.root)
    hosts = behind_bastion.light_hosts[:2]
    common = (
        "    User root\n"
        f"    IdentityFile {behind_bastion.identity_file}\n"
        f"    UserKnownHostsFile {behind_bastion.known_hosts}\n"
    )
    config = tmp_path / "ssh_config"
    config.write_text(
        "".join(f"Host {h.name}\n    HostName {h.address}\n" for h in hosts)
        + f"Host inner\n    HostName {BASTION_ADDRESS}\n"
        + f"    ProxyCommand ssh -F {paths.ssh_config} -o BatchMode=yes -W %h:%p bastion\n"
        + common
        + f"Host lt-*\n    ProxyJump inner\n{common}"
    )
    settings = SshSettings(given=frozenset(), config_file=str(config))
    assert_one_shared_jump(
        on_host,
        [Host(name=h.name, address=h.name, connect_timeout=20.0, ssh=settings) for h in hosts],
    )
