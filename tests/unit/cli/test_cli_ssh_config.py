"""``-F FILE`` / ``--ssh-config FILE``: the ssh_config of every host that names none itself.

Every command that reaches hosts over SSH takes it (and ``validate``, whose root-login warning
reads each host's ssh_config); a host's own ``-F`` or ``ssh_config_file`` in the inventory wins;
a missing file is an error naming it.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import pytest

from checkpointctl import api
from checkpointctl.cli.common import inventory_of
from checkpointctl.cli.main import _parser, main
from checkpointctl.errors import InventoryError

Capsys = pytest.CaptureFixture[str]

#: The commands that connect to hosts over SSH, and validate (see the module docstring).
SSH_COMMANDS = (
    ["drift"],
    ["apply"],
    ["status"],
    ["push-bundle", "bundle.cpb"],
    ["validate"],
)


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def fleet(tmp_path: Path) -> Path:
    """An empty policy (selecting nobody), an inventory of three hosts (one naming its own
    ssh_config by variable, one by ``-F`` in its SSH arguments) and the files they name."""
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "empty.yml").write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\n"
        "metadata:\n  name: empty\nselector:\n  groups: [nobody]\nspec: {}\n"
    )
    (tmp_path / "fleet.cfg").write_text("Host *\n    User ops\n")
    (tmp_path / "own.cfg").write_text("Host *\n    User root\n")
    (tmp_path / "inv.yml").write_text(
        textwrap.dedent(
            f"""\
            all:
              hosts:
                cp-1: {{}}
                cp-2: {{ssh_config_file: {tmp_path / "own.cfg"}}}
                cp-3: {{ansible_ssh_common_args: "-F {tmp_path / "own.cfg"}"}}
            """
        )
    )
    return tmp_path


@pytest.mark.parametrize("command", SSH_COMMANDS, ids=lambda c: c[0])
def test_every_command_that_connects_takes_dash_f(command: list[str]) -> None:
    parser = _parser()
    for flag in ("-F", "--ssh-config"):
        args = parser.parse_args([*command, "-i", "inv.yml", flag, "fleet.cfg"])
        assert args.ssh_config == "fleet.cfg"


@pytest.mark.parametrize("command", SSH_COMMANDS, ids=lambda c: c[0])
def test_the_help_says_the_inventory_wins(command: list[str], capsys: Capsys) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args([command[0], "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-F FILE, --ssh-config FILE" in text
    assert "ssh_config_file variable wins for that host" in text


def test_the_file_is_the_default_and_a_hosts_own_wins(fleet: Path) -> None:
    args = argparse.Namespace(inventory=[str(fleet / "inv.yml")], ssh_config="fleet.cfg")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(fleet)  # a relative path means what it meant where the command was given
        hosts = {h.name: h for h in inventory_of(args).hosts}
    assert hosts["cp-1"].ssh.config_file == str(fleet / "fleet.cfg")
    assert hosts["cp-2"].ssh.config_file == str(fleet / "own.cfg")
    assert hosts["cp-3"].ssh.config_file == str(fleet / "own.cfg")
    without = argparse.Namespace(inventory=[str(fleet / "inv.yml")])
    assert {h.name: h.ssh.config_file for h in inventory_of(without).hosts}["cp-1"] is None


def test_validate_reads_the_file_for_the_hosts_without_their_own(
    fleet: Path, capsys: Capsys
) -> None:
    argv = ["validate", str(fleet / "policies"), "-i", str(fleet / "inv.yml")]
    assert main(argv) == 0
    assert "3 host(s) log in as root directly (cp-1, cp-2, cp-3)" in capsys.readouterr().err
    # fleet.cfg logs cp-1 in as ops; cp-2 and cp-3 keep their own file (root)
    assert main([*argv, "-F", str(fleet / "fleet.cfg")]) == 0
    assert "2 host(s) log in as root directly (cp-2, cp-3)" in capsys.readouterr().err


@pytest.mark.parametrize("verb", ["drift", "apply", "status", "validate"])
def test_a_missing_file_is_an_error_naming_it(fleet: Path, verb: str, capsys: Capsys) -> None:
    # push-bundle reads its bundle first, then the inventory the same way (inventory_of)
    missing = fleet / "no-such.cfg"
    argv = [verb, str(fleet / "policies"), "-i", str(fleet / "inv.yml"), "-F", str(missing)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"-F/--ssh-config: ssh_config file {missing} does not exist" in err


def test_the_library_takes_it_too(fleet: Path) -> None:
    inventory = api.load_inventory(fleet / "inv.yml", ssh_config=fleet / "fleet.cfg")
    assert inventory.host("cp-1").ssh.config_file == str(fleet / "fleet.cfg")
    with pytest.raises(InventoryError, match=r"no-such\.cfg does not exist"):
        api.load_inventory(fleet / "inv.yml", ssh_config=fleet / "no-such.cfg")
