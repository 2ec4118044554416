"""ssh_config and inventory SSH arguments mapped onto a route; become settings; sudo argv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from checkpointctl.errors import InventoryError, TransportError
from checkpointctl.inventory import load_inventory
from checkpointctl.model import Become, Host, Secret, SshSettings
from checkpointctl.model.access import host_access, parse_ssh_args
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.ssh.login import root_login_warning
from checkpointctl.transport.ssh.privilege import Sudo, probe
from checkpointctl.transport.ssh.route import parse_jump_spec, resolve


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return str(path)


def host(name: str, cfg: str | None, *, given: frozenset[str] = frozenset(), **kw: object) -> Host:
    ssh = SshSettings(given=given, config_file=cfg, **kw)  # type: ignore[arg-type]
    return Host(name=name, address=name, ssh=ssh)


# --- ssh arguments ---------------------------------------------------------------------------


def test_ssh_args_become_options_in_order() -> None:
    parsed = parse_ssh_args(
        "-o ProxyJump=ops@bastion:2222 -oStrictHostKeyChecking=yes -o 'ConnectTimeout 7' "
        "-J other -i ~/k -p 2200 -l deploy -F /etc/cfg -q",
        "ansible_ssh_common_args",
    )
    assert parsed.options == (
        ("proxyjump", "ops@bastion:2222"),
        ("stricthostkeychecking", "yes"),
        ("connecttimeout", "7"),
        ("proxyjump", "other"),
        ("identityfile", "~/k"),
        ("port", "2200"),
        ("user", "deploy"),
    )
    assert parsed.config_file == "/etc/cfg"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("-A", "unsupported ssh argument '-A'"),
        ("-L 8080:localhost:80", "unsupported ssh argument '-L'"),
        ("-o", "-o needs a value"),
        ("-o ProxyJump", "-o 'ProxyJump' is not Key=Value"),
        ("-o 'unbalanced", "cannot split"),
    ],
)
def test_unsupported_ssh_args_are_errors_naming_them(text: str, named: str) -> None:
    with pytest.raises(ValueError, match="ansible_ssh_extra_args") as e:
        parse_ssh_args(text, "ansible_ssh_extra_args")
    assert named in str(e.value)


def test_inventory_maps_ssh_and_become_variables(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text(
        "all:\n"
        "  vars:\n"
        "    ansible_ssh_common_args: '-o ProxyJump=ops@bastion'\n"
        "    ansible_become: 'yes'\n"
        "    ansible_become_password: s3cret\n"
        "  hosts:\n"
        "    cp-1: {ansible_user: deploy, ssh_jump: [a, b]}\n"
    )
    (cp1,) = load_inventory(str(inv)).hosts
    assert cp1.ssh.options == (("proxyjump", "ops@bastion"),)
    assert cp1.ssh.jump == ("a", "b")
    assert cp1.ssh.given == frozenset({"user"})
    assert cp1.become == Become(user="root", password=Secret("s3cret"))
    assert "s3cret" not in repr(cp1.become)


def test_inventory_names_an_unsupported_ssh_argument(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yml"
    inv.write_text("all:\n  hosts:\n    cp-1: {ansible_ssh_extra_args: '-X'}\n")
    with pytest.raises(
        InventoryError, match=r"ansible_ssh_extra_args: unsupported ssh argument '-X'"
    ):
        load_inventory(str(inv))


@pytest.mark.parametrize(
    ("hvars", "message"),
    [
        ({"become": True, "become_method": "su"}, "become_method: 'su' is not supported"),
        ({"become": True, "ansible_become_flags": "-H"}, "ansible_become_flags is not supported"),
        ({"become": True, "become_password": "a\nb"}, "cannot contain a line break"),
        ({"ssh_jump": 3}, "ssh_jump: expected"),
    ],
)
def test_bad_become_or_jump_settings_are_named(hvars: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        host_access(hvars)


def test_become_off_means_no_escalation() -> None:
    assert host_access({"become": "no", "become_user": "x"})[1] is None
    assert host_access({"ansible_become": True, "ansible_become_user": "app"})[1] == Become("app")


# --- ssh_config ------------------------------------------------------------------------------


def test_an_alias_takes_everything_from_its_host_block(tmp_path: Path) -> None:
    cfg = config(
        tmp_path,
        "Host cp-1\n"
        "    HostName 10.0.0.5\n"
        "    Port 2222\n"
        "    User deploy\n"
        "    IdentityFile ~/.ssh/cp\n"
        "    IdentitiesOnly yes\n"
        "    UserKnownHostsFile /etc/kh\n"
        "    StrictHostKeyChecking accept-new\n"
        "    ConnectTimeout 7\n"
        "    ProxyJump ops@jump1:2201,jump2\n"
        "    ServerAliveInterval 15\n"
        "Host jump2\n"
        "    HostName 10.9.9.9\n"
        "    User hop\n",
    )
    route = resolve(host("cp-1", cfg))
    t = route.target
    assert (t.address, t.port, t.user) == ("10.0.0.5", 2222, "deploy")
    assert t.identities == (str(tmp_path / "home" / ".ssh" / "cp"),)
    assert t.identities_only
    assert t.known_hosts == ("/etc/kh",)
    assert t.host_keys == "accept-new"
    assert t.connect_timeout == 7.0
    first, second = route.jumps
    assert (first.address, first.port, first.user) == ("jump1", 2201, "ops")
    assert (second.address, second.port, second.user) == ("10.9.9.9", 22, "hop")
    assert second.known_hosts == ("/etc/kh",)  # the target's, as the jump names none
    assert route.via() == " via ops@jump1:2201, jump2"


def test_match_host_blocks_apply(tmp_path: Path) -> None:
    cfg = config(tmp_path, "Match host cp-*\n    ProxyJump bastion\nHost *\n    User ops\n")
    route = resolve(host("cp-7", cfg))
    assert [j.label for j in route.jumps] == ["bastion"]
    assert route.target.user == "ops"


def test_inventory_fields_and_dash_o_win_over_the_config(tmp_path: Path) -> None:
    cfg = config(tmp_path, "Host cp-1\n    User fromconfig\n    Port 2222\n    ProxyJump j1\n")
    given = host("cp-1", cfg, given=frozenset({"user"}))
    assert resolve(given).target.user == "root"  # the inventory's
    assert resolve(given).target.port == 2222  # not given: the config's
    cli = host("cp-1", cfg, options=(("port", "2200"), ("proxyjump", "j2")))
    assert resolve(cli).target.port == 2200
    assert [j.label for j in resolve(cli).jumps] == ["j2"]
    none = host("cp-1", cfg, options=(("proxyjump", "none"),))
    assert resolve(none).jumps == ()


def test_inventory_jump_variable_is_used_when_no_dash_o(tmp_path: Path) -> None:
    route = resolve(host("cp-1", None, jump=("root@10.213.0.2",)))
    (jump,) = route.jumps
    assert (jump.address, jump.user) == ("10.213.0.2", "root")


def test_proxy_command_tokens_are_expanded(tmp_path: Path) -> None:
    cfg = config(tmp_path, "Host cp-1\n    HostName 10.0.0.5\n    ProxyCommand nc -X 5 %h %p\n")
    assert resolve(host("cp-1", cfg)).target.proxy_command == "nc -X 5 10.0.0.5 22"


@pytest.mark.parametrize(
    ("block", "named"),
    [
        ("ForwardAgent yes", "`forwardagent yes` is not supported"),
        ("LocalForward 8080 localhost:80", "option `localforward` is not supported"),
        ("HostKeyAlias other", "option `hostkeyalias` is not supported"),
        ("StrictHostKeyChecking no", "StrictHostKeyChecking no is not supported"),
        ("ProxyJump j\n    ProxyCommand nc %h %p", "both a ProxyJump (j) and a ProxyCommand"),
        ("Port http", "Port 'http' is not a number"),
    ],
)
def test_unsupported_config_options_are_errors_naming_them(
    tmp_path: Path, block: str, named: str
) -> None:
    cfg = config(tmp_path, f"Host cp-1\n    {block}\n")
    with pytest.raises(TransportError) as e:
        resolve(host("cp-1", cfg))
    assert named in str(e.value)
    assert "cp-1" in str(e.value)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match=r"ssh_config file .*nope does not exist"):
        resolve(host("cp-1", str(tmp_path / "nope")))


@pytest.mark.parametrize(
    ("spec", "parsed"),
    [
        ("bastion", (None, "bastion", None)),
        ("ops@bastion:2222", ("ops", "bastion", 2222)),
        ("ssh://ops@[fd00::1]:2222", ("ops", "fd00::1", 2222)),
    ],
)
def test_jump_specs(spec: str, parsed: tuple[str | None, str, int | None]) -> None:
    assert parse_jump_spec(spec) == parsed


# --- sudo ------------------------------------------------------------------------------------


def test_sudo_argv_never_carries_the_password() -> None:
    nopasswd = Sudo("root")
    assert nopasswd.argv(["nft", "list", "ruleset"]) == (
        "sudo",
        "-n",
        "-u",
        "root",
        "--",
        "nft",
        "list",
        "ruleset",
    )
    assert nopasswd.stdin(b"x") == b"x"
    with_password = Sudo("app", b"s3cret")
    assert b"s3cret" not in " ".join(with_password.argv(["true"])).encode()
    assert with_password.argv(["true"])[:5] == ("sudo", "-S", "-k", "-p", "")
    assert with_password.stdin(b"data") == b"s3cret\ndata"
    assert "s3cret" not in repr(with_password)


class Runner:
    """A scripted host for :func:`probe`: answers each sudo attempt in turn (pure logic; the
    lab runs the real sudo in tests/integration/test_bastion_sudo.py)."""

    def __init__(self, *answers: tuple[int, bytes]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[tuple[str, ...], bytes | None]] = []

    def __call__(self, argv: Sequence[str], stdin: bytes | None) -> CommandResult:
        self.calls.append((tuple(argv), stdin))
        rc, err = self.answers.pop(0)
        return CommandResult(tuple(argv), rc, b"", err)


def test_probe_prefers_nopasswd_and_falls_back_to_the_password() -> None:
    assert probe(Become(), Runner((0, b"")), "cp-1", "ops") == Sudo("root")
    runner = Runner((1, b"sudo: a password is required\n"), (0, b""))
    sudo = probe(Become(password=Secret("pw")), runner, "cp-1", "ops")
    assert sudo.password == b"pw"
    assert runner.calls[1][1] == b"pw\n"


def test_probe_refusal_names_the_refused_command() -> None:
    runner = Runner((1, b"sudo: a password is required\n"))
    with pytest.raises(TransportError) as e:
        probe(Become(), runner, "cp-2 (10.0.0.2:22)", "ops")
    assert "sudo refused `sudo -n -u root -- true` for ops: sudo: a password is required" in str(
        e.value
    )


def test_validate_warns_about_direct_root_logins() -> None:
    hosts = [
        Host(name="a", address="a"),
        Host(name="b", address="b", user="ops", become=Become()),
        Host(name="c", address="c", connection="local"),
    ]
    warning = root_login_warning(hosts)
    assert warning is not None
    assert "1 host(s) log in as root directly (a)" in warning
    assert root_login_warning(hosts[1:]) is None
