"""What the differential test cannot show: secrets stay secrets, refusals name the place, and
the sources Ansible reads differently from us behave as documented."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pytest

from checkpointctl.errors import InventoryError, Severity
from checkpointctl.inventory import load_inventory
from checkpointctl.inventory.ansible_vault import VaultPasswords
from checkpointctl.inventory.listing import dumps, listing
from checkpointctl.model import REDACTED, Secret

CORPUS = Path(__file__).resolve().parent / "corpus"
PASSWORDS = VaultPasswords([("prod", lambda: b"prod-password"), (None, lambda: b"corpus-password")])


def _write(path: Path, text: str, mode: int | None = None) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    if mode is not None:
        path.chmod(mode)
    return str(path)


# --- vaulted values are secrets ----------------------------------------------------------------


def test_vaulted_values_are_secrets_from_the_moment_they_are_read() -> None:
    case = CORPUS / "13-vault-values"
    inv = load_inventory(str(case / "hosts.yml"), passwords=PASSWORDS)
    v = inv.host("db1").vars
    for name in ("api_token", "db_password", "prod_key", "become_pass"):
        assert isinstance(v[name], Secret), name
    assert v["db_password"] == Secret("p@ss:w0rd!")
    nested = v["nested"]
    assert isinstance(nested, dict)
    assert nested["list"][0] == "plain"
    assert isinstance(nested["list"][1], Secret)
    assert v["plain"] == "visible"
    text = dumps(listing(inv))
    assert "p@ss:w0rd!" not in text
    assert "sudo-secret" not in text
    assert json.loads(text)["_meta"]["hostvars"]["db1"]["db_password"] == REDACTED


def test_in_a_file_vaulted_whole_strings_are_secrets_and_numbers_keep_their_type() -> None:
    case = CORPUS / "14-vault-files"
    inv = load_inventory(
        [str(case / "hosts.yml"), str(case / "secret-hosts.ini")], passwords=PASSWORDS
    )
    web1 = inv.host("web1").vars
    assert web1["vault_api_key"] == Secret("k-123")
    assert web1["vault_port"] == 8443
    assert web1["vault_list"] == [Secret("a"), Secret("b")]
    assert web1["host_secret"] == Secret("h-1")
    assert web1["plain_setting"] == "visible"
    sec1 = inv.host("sec1").vars
    assert (sec1["token"], sec1["count"], sec1["group_token"]) == (Secret("abc"), 3, Secret("xyz"))


def test_a_vaulted_value_without_the_password_names_where_it_is() -> None:
    with pytest.raises(InventoryError) as exc:
        load_inventory(str(CORPUS / "13-vault-values" / "hosts.yml"))
    first = exc.value.items[0]
    assert first.location is not None
    assert first.location.path.endswith("hosts.yml")
    assert first.location.line == 3
    assert first.field == "all.vars.api_token"
    assert "--ansible-vault-password-file" in first.message


def test_a_connection_setting_cannot_come_from_a_vaulted_value(tmp_path: Path) -> None:
    shutil.copytree(CORPUS / "13-vault-values", tmp_path / "c")
    text = (tmp_path / "c" / "hosts.yml").read_text().replace("api_token:", "ansible_user:")
    (tmp_path / "c" / "hosts.yml").write_text(text)
    with pytest.raises(InventoryError, match="user comes from a vaulted value"):
        load_inventory(str(tmp_path / "c" / "hosts.yml"), passwords=PASSWORDS)


# --- connection variables we do not support yet are never dropped -------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "what"),
    [
        ("ansible_ssh_common_args", "-o ProxyJump=bastion", "ProxyJump"),
        ("ansible_ssh_extra_args", "-o ProxyCommand='ssh -W %h:%p b'", "ProxyCommand"),
        ("ansible_become", "true", "privilege escalation"),
        ("ansible_password", "x", "password logins"),
        ("ansible_host_key_checking", "false", "host key checking"),
    ],
)
def test_an_unsupported_connection_variable_is_an_error_naming_it(
    tmp_path: Path, variable: str, value: str, what: str
) -> None:
    inv = _write(tmp_path / "hosts", f'[web]\nweb1 {variable}="{value}"\n')
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv)
    text = str(exc.value)
    assert variable in text
    assert what in text
    assert "web1" in text
    assert "hosts:2:1" in text
    # listing (checkpointctl inventory) warns instead, and keeps the value for the SSH layer
    lenient = load_inventory(inv, strict=False)
    assert [d.severity for d in lenient.warnings] == [Severity.WARNING]
    assert lenient.host("web1").vars[variable] is not None


def test_inert_become_settings_are_left_alone(tmp_path: Path) -> None:
    inv = _write(
        tmp_path / "hosts",
        "[web]\nweb1 ansible_become=false ansible_become_user=deploy ansible_ssh_common_args=''\n",
    )
    host = load_inventory(inv).host("web1")
    assert host.vars["ansible_become_user"] == "deploy"


def test_old_ansible_ssh_spellings_are_connection_settings(tmp_path: Path) -> None:
    inv = _write(
        tmp_path / "hosts",
        "h ansible_ssh_host=192.0.2.9 ansible_ssh_port=2200 ansible_ssh_user=ops\n",
    )
    h = load_inventory(inv).host("h")
    assert (h.address, h.port, h.user) == ("192.0.2.9", 2200, "ops")


# --- sources -------------------------------------------------------------------------------------


def test_our_listing_reads_back_as_the_same_inventory(tmp_path: Path) -> None:
    first = load_inventory(str(CORPUS / "01-yaml-nested" / "hosts.yml"))
    saved = tmp_path / "inventory.json"
    saved.write_text(dumps(listing(first)))
    again = load_inventory(str(saved))
    assert listing(again) == listing(first)
    assert again.host("cp-fra-1").port == 2222


def test_a_comma_separated_host_list_is_a_source() -> None:
    inv = load_inventory("cp-1,cp-2:2222,")
    assert [h.name for h in inv.hosts] == ["cp-1", "cp-2"]
    assert inv.host("cp-2").port == 2222
    assert inv.groups["ungrouped"] == {"cp-1", "cp-2"}


def test_a_failing_dynamic_inventory_names_the_script_and_its_message(tmp_path: Path) -> None:
    script = _write(
        tmp_path / "inv.sh", "#!/bin/sh\necho 'cloud API: 401' >&2\nexit 4\n", mode=0o755
    )
    with pytest.raises(InventoryError, match="exited with status 4: cloud API: 401"):
        load_inventory(script)


def test_a_dynamic_inventory_printing_no_json_is_an_error(tmp_path: Path) -> None:
    script = _write(tmp_path / "inv.sh", "#!/bin/sh\necho '[web]'\n", mode=0o755)
    with pytest.raises(InventoryError, match="--list is not valid JSON"):
        load_inventory(script)


def test_a_hung_dynamic_inventory_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from checkpointctl.inventory import dynamic

    monkeypatch.setattr(dynamic, "SCRIPT_TIMEOUT", 0.5)
    script = _write(tmp_path / "inv.sh", "#!/bin/sh\nexec sleep 30\n", mode=0o755)
    with pytest.raises(InventoryError, match=r"took over 0\.5s"):
        load_inventory(script)


def test_the_dynamic_inventory_gets_its_argv_without_a_shell(tmp_path: Path) -> None:
    script = _write(
        tmp_path / "inv $(touch pwned).py",
        """\
        #!/usr/bin/env python3
        import json, sys
        json.dump({"g": {"hosts": ["h"]}, "_meta": {"hostvars": {"h": {"argv": sys.argv[1:]}}}},
                  sys.stdout)
        """,
        mode=0o755,
    )
    inv = load_inventory(script)
    assert inv.host("h").vars["argv"] == ["--list"]
    assert not (tmp_path / "pwned").exists()
    assert not Path("pwned").exists()


def test_inventory_plugin_configurations_are_refused_with_a_way_out(tmp_path: Path) -> None:
    inv = _write(tmp_path / "aws_ec2.yml", "plugin: amazon.aws.aws_ec2\nregions: [eu-west-1]\n")
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv)
    assert "plugin" in str(exc.value)
    assert "ansible-inventory" in str(exc.value)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("[web x]\nh1\n", 1, "invalid section"),
        ("[web:hosts2]\n", 1, "unknown type 'hosts2'"),
        ("[web]\nh1 novalue\n", 2, "expected key=value"),
        ("[web:vars]\njust-a-word\n", 2, "expected key=value"),
        ("[g:vars]\nx=1\n", 1, "never declared"),
        ("[web]\nh[1:3:0]\n", 2, "step must be positive"),
        ("[web]\nh[01:100]\n", 2, "same width"),
        ("[web]\nh1:\n", 2, "reserved for a port"),
        ("[web]\nh1 x='unterminated\n", 2, "cannot read host line"),
    ],
)
def test_ini_errors_name_the_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    inv = _write(tmp_path / "hosts.ini", text)
    with pytest.raises(InventoryError) as exc:
        load_inventory(inv)
    d = exc.value.items[0]
    assert d.location is not None
    assert d.location.line == line
    assert message in d.message


def test_a_missing_source_among_several_is_named(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.yml", "all:\n  hosts: {h: }\n")
    with pytest.raises(InventoryError, match="cannot read: no such file"):
        load_inventory([good, str(tmp_path / "b.yml")])


def test_a_name_that_is_a_group_and_a_host_selects_the_group_as_in_ansible() -> None:
    case = CORPUS / "17-hostile-group-host-same-name"
    inv = load_inventory([str(case / "hosts.yml"), str(case / "more.ini")])
    assert [h.name for h in inv.select("db")] == ["db", "db1"]  # the group's members
    assert [h.name for h in inv.select("web")] == ["web"]
    assert inv.host("web").address == "192.0.2.80"


def test_folders_linking_back_into_themselves_end(tmp_path: Path) -> None:
    inv = tmp_path / "inv"
    _write(inv / "hosts.yml", "all:\n  children:\n    web:\n      hosts: {w1: }\n")
    _write(inv / "group_vars" / "web" / "a.yml", "x: 1\n")
    (inv / "group_vars" / "web" / "loop").symlink_to(inv / "group_vars" / "web")
    assert load_inventory(str(inv / "hosts.yml")).host("w1").vars["x"] == 1
    (inv / "again").symlink_to(inv)
    with pytest.raises(InventoryError, match="links back into itself"):
        load_inventory(str(inv))
