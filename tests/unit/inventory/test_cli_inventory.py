"""The inventory on the command line: ``checkpointctl inventory``, ``-i`` repeated, the Ansible
vault password, and group_vars beside the policy repository."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from checkpointctl.cli.main import main

CORPUS = Path(__file__).resolve().parent / "corpus"
Capsys = pytest.CaptureFixture[str]


def test_list_prints_ansible_inventorys_shape_from_several_sources(capsys: Capsys) -> None:
    case = CORPUS / "09-multi-source"
    argv = ["inventory", "--list"]
    for source in ("one/a.yml", "two/b.ini", "one/c.yml"):
        argv += ["-i", str(case / source)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["all"] == {"children": ["ungrouped", "web", "db"]}
    assert out["web"]["hosts"] == ["web1", "web2", "web4"]
    web1 = out["_meta"]["hostvars"]["web1"]
    # group_vars beside each source, in -i order: one/ is read again after two/
    assert (web1["role"], web1["source"], web1["gv"]) == ("from-b", "b", "one")


def test_host_prints_one_hosts_variables_with_secrets_redacted(capsys: Capsys) -> None:
    case = CORPUS / "13-vault-values"
    assert main(
        [
            "inventory", "-i", str(case / "hosts.yml"), "--host", "db1",
            "--ansible-vault-password-file", str(CORPUS / "vault-password"),
            "--ansible-vault-password-file", f"prod@{CORPUS / 'vault-password-prod'}",
        ]
    ) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert json.loads(out)["db_password"] == "<sensitive>"
    assert "p@ss:w0rd!" not in out
    assert "prod-only-secret" not in out


def test_ansibles_password_variable_is_honoured(
    capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANSIBLE_VAULT_PASSWORD_FILE", str(CORPUS / "vault-password"))
    case = CORPUS / "14-vault-files"
    assert main(["inventory", "-i", str(case / "secret-hosts.ini"), "--list"]) == 0
    assert json.loads(capsys.readouterr().out)["_meta"]["hostvars"]["sec1"]["count"] == 3


def test_list_warns_about_unsupported_connection_variables_but_lists(
    tmp_path: Path, capsys: Capsys
) -> None:
    inv = tmp_path / "hosts"
    inv.write_text("[web]\nweb1 ansible_ssh_args='-C -o ControlMaster=auto'\n")
    assert main(["inventory", "-i", str(inv), "--list"]) == 0
    captured = capsys.readouterr()
    assert "warning:" in captured.err
    assert "ansible_ssh_args" in captured.err
    hostvars = json.loads(captured.out)["_meta"]["hostvars"]["web1"]
    assert hostvars["ansible_ssh_args"] == "-C -o ControlMaster=auto"
    # a command that may connect refuses it
    assert main(["validate", str(tmp_path / "none"), "-i", str(inv)]) == 1
    assert "ansible_ssh_args (custom ssh arguments" in capsys.readouterr().err


POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: base}
selector: {groups: [web]}
spec:
  firewall:
    table: "{{ fw_table }}"
    management: {from: [192.0.2.1/32]}
"""


def test_render_merges_every_i_and_reads_group_vars_beside_the_policies(
    tmp_path: Path, capsys: Capsys
) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "base.yml").write_text(POLICY)
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "web.yml").write_text("fw_table: from_repo_group_vars\n")
    (tmp_path / "inv").mkdir()
    (tmp_path / "inv" / "a.ini").write_text("[web]\nweb1\n")
    (tmp_path / "inv" / "b.yml").write_text(
        textwrap.dedent(
            """\
            all:
              children:
                web:
                  hosts:
                    web2: {fw_table: from_host}
            """
        )
    )
    argv = ["render", str(tmp_path / "policies"), "--format", "json"]
    argv += ["-i", str(tmp_path / "inv" / "a.ini"), "-i", str(tmp_path / "inv" / "b.yml")]
    assert main(argv) == 0, capsys.readouterr().err
    out = json.loads(capsys.readouterr().out)
    assert out["web1"]["firewall"]["table"] == "from_repo_group_vars"
    assert out["web2"]["firewall"]["table"] == "from_host"  # host vars beat any group_vars


def test_vault_id_is_ansibles_spelling_of_the_password_option(capsys: Capsys) -> None:
    """``--vault-id ID@FILE`` as users type it for Ansible; without the prod password the
    prod-only value cannot be opened, so the option was read, not ignored."""
    case = CORPUS / "14-vault-files"
    argv = ["inventory", "-i", str(case / "hosts.yml"), "--host", "web1"]
    argv += ["--vault-id", str(CORPUS / "vault-password")]
    assert main([*argv, "--vault-id", f"prod@{CORPUS / 'vault-password-prod'}"]) == 0
    assert "host_secret" in json.loads(capsys.readouterr().out)
    assert main(argv) == 1
    assert "vault id 'prod'" in capsys.readouterr().err
