"""``ansible.cfg`` and ``ANSIBLE_*``: found, parsed and applied as Ansible does, or refused.

The oracle cases 30–32 (tests/unit/inventory/corpus) prove hash_behaviour and the default
inventory against ansible-inventory itself; these tests cover discovery, the environment,
each honoured setting through to the Host it changes, and each refusal's text.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from pathlib import Path

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.errors import InventoryError, Severity
from checkpointctl.inventory import load_inventory
from checkpointctl.inventory.ansible_settings import SETTINGS, Handling
from checkpointctl.inventory.ansible_vault import passwords_from
from checkpointctl.inventory.ansiblecfg import AnsibleConfig, find_config_file, read_ansible_config
from checkpointctl.inventory.listing import listing

CORPUS = Path(__file__).resolve().parent / "corpus"
ORACLE_VENV = Path(os.environ.get("ANSIBLE_ORACLE_VENV", "/tmp/ansible-oracle-venv"))
Capsys = pytest.CaptureFixture[str]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def _config(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> AnsibleConfig:
    cfg = _write(tmp_path / "cfg" / "ansible.cfg", text)
    return read_ansible_config({"ANSIBLE_CONFIG": str(cfg), **(env or {})}, tmp_path)


# --- finding the file ----------------------------------------------------------------------------


def test_discovery_order_env_then_cwd_then_home(tmp_path: Path) -> None:
    home, cwd, elsewhere = tmp_path / "home", tmp_path / "cwd", tmp_path / "else"
    for folder in (home, cwd, elsewhere):
        folder.mkdir()
    (home / ".ansible.cfg").write_text("")
    assert find_config_file({"HOME": str(home)}, cwd)[0] == home / ".ansible.cfg"
    (cwd / "ansible.cfg").write_text("")
    assert find_config_file({"HOME": str(home)}, cwd)[0] == cwd / "ansible.cfg"
    (elsewhere / "ansible.cfg").write_text("")
    # ANSIBLE_CONFIG first; a folder means the ansible.cfg inside it
    env = {"HOME": str(home), "ANSIBLE_CONFIG": str(elsewhere)}
    assert find_config_file(env, cwd)[0] == elsewhere / "ansible.cfg"
    # a missing ANSIBLE_CONFIG falls through to the next place, as in Ansible
    env["ANSIBLE_CONFIG"] = str(tmp_path / "missing.cfg")
    assert find_config_file(env, cwd)[0] == cwd / "ansible.cfg"


def test_a_world_writable_cwd_config_is_ignored_with_a_warning(tmp_path: Path) -> None:
    home, cwd = tmp_path / "home", tmp_path / "shared"
    home.mkdir()
    cwd.mkdir()
    _write(home / ".ansible.cfg", "[defaults]\nremote_user = mine\n")
    _write(cwd / "ansible.cfg", "[defaults]\nremote_user = planted\n")
    cwd.chmod(0o777)
    config = read_ansible_config({"HOME": str(home)}, cwd)
    assert config.path == str(home / ".ansible.cfg")
    assert config.connection.user == "mine"
    (warning,) = config.check(strict=True)
    assert warning.severity is Severity.WARNING
    assert "world-writable" in warning.message
    assert str(cwd / "ansible.cfg") in warning.message
    # named by ANSIBLE_CONFIG, it is the operator's choice: read, no warning
    chosen = read_ansible_config(
        {"HOME": str(home), "ANSIBLE_CONFIG": str(cwd / "ansible.cfg")}, cwd
    )
    assert chosen.connection.user == "planted"
    assert chosen.check(strict=True) == []


def test_comments_quotes_and_case_as_configparser_reads_them_for_ansible(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        # a comment line
        ; another
        [defaults]
        REMOTE_USER = "deploy"   ; an inline comment
        private_key_file = keys/id # not a comment
        """,
    )
    assert config.connection.user == "deploy"
    assert config.connection.identity_file == str(tmp_path / "cfg" / "keys" / "id # not a comment")


def test_an_unparsable_config_names_the_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match=r"ansible\.cfg:3:1: cannot parse.*remote_user"):
        _config(tmp_path, "[defaults]\nremote_user = a\nremote_user = b\n")
    with pytest.raises(InventoryError, match=r"ansible\.cfg:1:1: cannot parse"):
        _config(tmp_path, "remote_user = a\n")


# --- the environment ----------------------------------------------------------------------------


def test_environment_variables_win_over_the_file(tmp_path: Path) -> None:
    text = "[defaults]\nremote_user = file\nhash_behaviour = replace\ntimeout = 5\n"
    config = _config(
        tmp_path, text, {"ANSIBLE_REMOTE_USER": "env", "ANSIBLE_HASH_BEHAVIOUR": "merge"}
    )
    assert (config.connection.user, config.merge_hashes) == ("env", True)
    assert config.connection.connect_timeout == 5.0
    # several spellings: the last one set wins, as in Ansible's loops
    both = _config(tmp_path, text, {"ANSIBLE_TIMEOUT": "7", "ANSIBLE_SSH_TIMEOUT": "9"})
    assert both.connection.connect_timeout == 9.0
    section = _config(tmp_path, "[defaults]\ntimeout = 5\n[ssh_connection]\ntimeout = 6\n")
    assert section.connection.connect_timeout == 6.0


def test_no_config_and_no_variables_is_ansibles_defaults(tmp_path: Path) -> None:
    config = read_ansible_config({"HOME": str(tmp_path)}, tmp_path)
    assert config.path is None
    assert not config.merge_hashes
    assert config.inventory == ()
    assert config.connection.as_variables() == {}


# --- honoured settings, through to the hosts -----------------------------------------------


def _inventory(tmp_path: Path, config: AnsibleConfig, text: str) -> dict[str, object]:
    inv = _write(tmp_path / "inv" / "hosts.yml", text)
    hosts = load_inventory(str(inv), config=config).hosts
    return {h.name: h for h in hosts}


def test_connection_settings_are_the_lowest_layer(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        [defaults]
        remote_user = ops
        remote_port = 2222
        private_key_file = ~/.ssh/fleet
        timeout = 30
        [privilege_escalation]
        become = True
        become_user = app
        become_method = sudo
        """,
    )
    hosts = _inventory(
        tmp_path,
        config,
        """\
        all:
          hosts:
            plain: {}
            own: {ansible_user: root, ansible_port: 22, ansible_become: false}
          vars:
            ansible_ssh_private_key_file: keys/group-key
        """,
    )
    plain, own = hosts["plain"], hosts["own"]
    assert (plain.user, plain.port, plain.connect_timeout) == ("ops", 2222, 30.0)  # type: ignore[attr-defined]
    assert plain.identity_file == str(tmp_path / "inv" / "keys" / "group-key")  # type: ignore[attr-defined]
    assert plain.become is not None
    assert plain.become.user == "app"
    assert (own.user, own.port, own.become) == ("root", 22, None)  # type: ignore[attr-defined]
    # given by the config, as Ansible passes them to ssh: an ssh_config Host block does not win
    assert plain.ssh.is_given("user")
    assert plain.ssh.is_given("port")
    # not host variables: ansible-inventory --list does not print them either
    assert "ansible_user" not in plain.vars  # type: ignore[attr-defined]


def test_private_key_file_is_relative_to_the_configs_folder(tmp_path: Path) -> None:
    config = _config(tmp_path, "[defaults]\nprivate_key_file = keys/id_ed25519\n")
    host = _inventory(tmp_path, config, "all:\n  hosts:\n    cp1: {}\n")["cp1"]
    assert host.identity_file == str(tmp_path / "cfg" / "keys" / "id_ed25519")  # type: ignore[attr-defined]


def test_ssh_arguments_come_first_and_inventory_args_replace_the_configs(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        """\
        [ssh_connection]
        ssh_args = -C -o ControlMaster=auto -o User=first
        ssh_common_args = -o ProxyJump=bastion.example
        ssh_extra_args = -o ConnectTimeout=4
        """,
    )
    hosts = _inventory(
        tmp_path,
        config,
        """\
        all:
          hosts:
            plain: {}
            own: {ansible_ssh_common_args: "-J other.example"}
        """,
    )
    assert hosts["plain"].ssh.options == (  # type: ignore[attr-defined]
        ("controlmaster", "auto"), ("user", "first"),
        ("proxyjump", "bastion.example"), ("connecttimeout", "4"),
    )  # fmt: skip
    assert ("proxyjump", "other.example") in hosts["own"].ssh.options  # type: ignore[attr-defined]
    assert ("proxyjump", "bastion.example") not in hosts["own"].ssh.options  # type: ignore[attr-defined]


def test_transport_local_is_the_default_connection(tmp_path: Path) -> None:
    config = _config(tmp_path, "[defaults]\ntransport = local\n")
    hosts = _inventory(
        tmp_path, config, "all:\n  hosts:\n    a: {}\n    b: {ansible_connection: ssh}\n"
    )
    assert (hosts["a"].connection, hosts["b"].connection) == ("local", "ssh")  # type: ignore[attr-defined]


def test_hash_behaviour_merge_merges_dictionaries(tmp_path: Path) -> None:
    text = """\
        all:
          vars: {app: {a: 1, l: [1]}}
          hosts:
            cp1: {app: {b: 2, l: [2]}}
        """
    merged = _inventory(tmp_path, _config(tmp_path, "[defaults]\nhash_behaviour = merge\n"), text)
    assert merged["cp1"].vars["app"] == {"a": 1, "b": 2, "l": [2]}  # type: ignore[attr-defined]
    replaced = _inventory(tmp_path, _config(tmp_path, "[defaults]\n"), text)
    assert replaced["cp1"].vars["app"] == {"b": 2, "l": [2]}  # type: ignore[attr-defined]


def test_vault_password_file_and_identity_list_open_vaulted_values(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        f"""\
        [defaults]
        vault_identity_list = prod@{CORPUS / "vault-password-prod"}
        vault_password_file = {CORPUS / "vault-password"}
        """,
    )
    passwords = passwords_from(None, config=config.vault)
    inventory = load_inventory(
        str(CORPUS / "13-vault-values" / "hosts.yml"), passwords=passwords, config=config
    )
    values = listing(inventory, lambda s: s.reveal().decode())
    text = json.dumps(values)
    assert "p@ss:w0rd!" in text
    assert "prod-only-secret" in text


def test_the_configs_inventory_is_the_default_i(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    _write(tmp_path / "inv" / "hosts.ini", "[cp]\ncp-[1:2]\n")
    cfg = _write(tmp_path / "cfg" / "ansible.cfg", "[defaults]\ninventory = ../inv/hosts.ini\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(cfg))
    assert main(["inventory", "--list"]) == 0
    assert json.loads(capsys.readouterr().out)["cp"]["hosts"] == ["cp-1", "cp-2"]
    # -i on the command line wins
    other = _write(tmp_path / "other.ini", "[db]\ndb1\n")
    assert main(["inventory", "--list", "-i", str(other)]) == 0
    assert "cp" not in json.loads(capsys.readouterr().out)


def test_enable_plugins_leaves_out_a_format_ansible_would_then_not_read(tmp_path: Path) -> None:
    config = _config(tmp_path, "[inventory]\nenable_plugins = host_list, yaml\n")
    ini = _write(tmp_path / "hosts.ini", "[cp]\ncp1\n")
    with pytest.raises(InventoryError, match=r"does not enable the 'ini' inventory plugin"):
        load_inventory(str(ini), config=config)
    assert load_inventory("cp1,cp2", config=config).hosts


# --- refused settings ----------------------------------------------------------------------------

REFUSED = [
    ("[defaults]\nhost_key_checking = False\n", 2, r"\[defaults\] host_key_checking", "accept-new"),
    ("[ssh_connection]\nhost_key_checking = no\n", 2, r"\[ssh_connection\] host_key_checking",
     "StrictHostKeyChecking accept-new"),
    ("[defaults]\nforks = 5\nprecedence = all_inventory\n", 3, r"\[defaults\] precedence",
     "precedence order"),
    ("[inventory]\nignore_extensions = .foo\n", 2, r"\[inventory\] ignore_extensions",
     "extensions"),
    ("[defaults]\nask_pass = yes\n", 2, r"\[defaults\] ask_pass", "password logins"),
    ("[defaults]\nvault_id_match = True\n", 2, r"\[defaults\] vault_id_match", "vault id"),
    ("[privilege_escalation]\nbecome_exe = doas\n", 2, r"\[privilege_escalation\] become_exe",
     "sudo"),
    ("[privilege_escalation]\nbecome_method = su\n", 2,
     r"\[privilege_escalation\] become_method", "only sudo"),
    ("[privilege_escalation]\nbecome_ask_pass = true\n", 2,
     r"\[privilege_escalation\] become_ask_pass", "vaulted ansible_become_password"),
    ("[defaults]\ntransport = winrm\n", 2, r"\[defaults\] transport", "not supported"),
    ("[ssh_connection]\nssh_args = -A\n", 2, r"\[ssh_connection\] ssh_args",
     "unsupported ssh argument '-A'"),
    ("[inventory]\nenable_plugins = yaml, amazon.aws.aws_ec2\n", 2,
     r"\[inventory\] enable_plugins", "amazon.aws.aws_ec2"),
    ("[defaults]\nhash_behaviour = deep\n", 2, r"\[defaults\] hash_behaviour", "replace or merge"),
    ("[defaults]\ntransport = paramiko\n[paramiko_connection]\nproxy_command = nc %h 22\n", 4,
     r"\[paramiko_connection\] proxy_command", "ProxyJump"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "field", "says"), REFUSED)
def test_a_refused_setting_names_file_line_section_and_key(
    tmp_path: Path, text: str, line: int, field: str, says: str
) -> None:
    config = _config(tmp_path, text)
    with pytest.raises(InventoryError) as caught:
        config.check(strict=True)
    message = str(caught.value)
    assert re.search(rf"cfg/ansible\.cfg:{line}:1: {field}: ", message), message
    assert says in message


def test_refused_through_the_environment_names_the_variable(tmp_path: Path) -> None:
    config = _config(tmp_path, "[defaults]\n", {"ANSIBLE_HOST_KEY_CHECKING": "False"})
    with pytest.raises(InventoryError, match=r"^\$ANSIBLE_HOST_KEY_CHECKING: 'False' asks for"):
        config.check(strict=True)


def test_connection_refusals_are_warnings_when_only_listing(tmp_path: Path) -> None:
    config = _config(tmp_path, "[defaults]\nhost_key_checking = False\n")
    (warning,) = config.check(strict=False)
    assert warning.severity is Severity.WARNING
    assert "host_key_checking" in str(warning)
    inventory_scope = _config(tmp_path, "[defaults]\nprecedence = all_inventory\n")
    with pytest.raises(InventoryError, match="precedence"):
        inventory_scope.check(strict=False)


def test_paramikos_section_is_irrelevant_with_the_ssh_transport(tmp_path: Path) -> None:
    config = _config(tmp_path, "[paramiko_connection]\nproxy_command = nc %h 22\n")
    assert config.check(strict=True) == []


def test_irrelevant_settings_change_nothing(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        "[defaults]\nforks = 50\nstdout_callback = yaml\nretry_files_enabled = False\n"
        "gathering = smart\nhost_key_checking = True\n[ssh_connection]\npipelining = True\n",
    )
    assert config.check(strict=True) == []
    assert config == AnsibleConfig(path=config.path)


def test_the_cli_refuses_before_connecting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Capsys
) -> None:
    cfg = _write(tmp_path / "ansible.cfg", "[defaults]\nhost_key_checking = False\n")
    inv = _write(tmp_path / "hosts.ini", "cp1 ansible_connection=local\n")
    monkeypatch.setenv("ANSIBLE_CONFIG", str(cfg))
    assert main(["drift", "-i", str(inv), str(tmp_path / "policies")]) != 0
    assert f"{cfg}:2:1: [defaults] host_key_checking" in capsys.readouterr().err
    assert main(["inventory", "-i", str(inv), "--list"]) == 0
    assert "warning" in capsys.readouterr().err


# --- the table against ansible-core's own definitions --------------------------------------


def _ansible_definitions() -> set[tuple[str, str]]:
    """Every ``[section] key`` ansible-core defines for inventories, connections (ssh,
    paramiko), vault and become: read as data from the test oracle's copy (never imported)."""
    lib = next(ORACLE_VENV.glob("lib/python3*/site-packages/ansible"), None)
    if lib is None:
        pytest.skip("the ansible-core test oracle is not installed")
    wanted = re.compile(
        r"VAULT|BECOME|INVENTORY|HOST_LIST|HASH|PRECEDENCE|REMOTE_USER|REMOTE_PORT|PRIVATE_KEY|"
        r"^DEFAULT_TIMEOUT|TRANSPORT|HOST_KEY|ASK_PASS|PASSWORD_FILE|^DEFAULT_SU$|PARAMIKO|"
        r"VARS_PLUGIN|VARS_ENABLED|PLAYBOOK_VARS_ROOT|^SSH_AGENT"
    )
    base = yaml.safe_load((lib / "config" / "base.yml").read_text())
    found = {
        (entry.get("section", "defaults"), entry["key"])
        for name, setting in base.items()
        if wanted.search(name)
        for entry in setting.get("ini") or []
    }
    for plugin in ("connection/ssh.py", "connection/paramiko_ssh.py", "become/sudo.py"):
        source = (lib / "plugins" / plugin).read_text()
        doc = re.search(r'DOCUMENTATION = r?"""(.*?)"""', source, re.S)
        assert doc is not None
        for option in yaml.safe_load(doc.group(1))["options"].values():
            found |= {(e["section"], e["key"]) for e in option.get("ini") or []}
    return found


def test_every_setting_ansible_reads_for_inventory_connection_vault_become_is_classified() -> None:
    known = {entry for setting in SETTINGS for entry in setting.ini}
    missing = _ansible_definitions() - known
    assert not missing, f"classify these in ansiblecfg.SETTINGS: {sorted(missing)}"


def test_the_table_is_consistent() -> None:
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    entries = [e for s in SETTINGS for e in s.ini]
    assert len(entries) == len(set(entries)), "a [section] key classified twice"
    assert all(s.why for s in SETTINGS if s.handling is Handling.REFUSED)


def test_an_option_in_ssh_args_wins_as_on_ansibles_ssh_command_line(tmp_path: Path) -> None:
    from checkpointctl.transport.ssh.route import resolve

    config = _config(tmp_path, "[ssh_connection]\nssh_args = -o User=first -o Port=2200\n")
    empty = _write(tmp_path / "ssh_config", "")
    host = _inventory(
        tmp_path,
        config,
        f"""\
        all:
          hosts:
            cp1:
              ansible_ssh_common_args: "-o User=second"
              ansible_port: 22
              ssh_config_file: {empty}
        """,
    )["cp1"]
    target = resolve(host).target  # type: ignore[arg-type]
    assert (target.user, target.port) == ("first", 2200)


def test_a_refused_connection_setting_does_not_stop_a_listing(tmp_path: Path) -> None:
    config = _config(tmp_path, "[privilege_escalation]\nbecome = yes\nbecome_method = su\n")
    (warning,) = config.check(strict=False)
    assert "become_method" in str(warning)
    host = _inventory(tmp_path, config, "all:\n  hosts:\n    cp1: {}\n")["cp1"]
    assert host.become is not None  # type: ignore[attr-defined]
