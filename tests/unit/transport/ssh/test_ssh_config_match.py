"""``Match`` blocks, ``Match exec`` included, evaluated as ssh evaluates them.

``Match exec`` runs real commands here (the operator's own config text, as ssh runs it): exit
status 0 is a match. Before, paramiko needed ``invoke`` for it, which checkpointctl does not
import, and the lookup failed with an ImportError.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
from pathlib import Path

import pytest
from ssh_oracle import ssh_g

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh.route import resolve


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real ~/.ssh/config; run Match exec with /bin/sh."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHELL", "/bin/sh")


def settings_for(tmp_path: Path, text: str) -> SshSettings:
    path = tmp_path / "ssh_config"
    path.write_text(text)
    return SshSettings(given=frozenset(), config_file=str(path))


def test_match_exec_matches_when_the_command_exits_0(tmp_path: Path) -> None:
    flag = tmp_path / "vpn-up"
    settings = settings_for(
        tmp_path, f'Match exec "test -e {flag}"\n    Port 2201\nHost *\n    Port 2202\n'
    )
    host = Host("cp-1", "cp-1", ssh=settings)
    assert resolve(host).target.port == 2202
    flag.touch()
    assert resolve(host).target.port == 2201


def test_negated_match_exec(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 'Match !exec "exit 3"\n    Port 2201\n')
    assert resolve(Host("cp-1", "cp-1", ssh=settings)).target.port == 2201


def test_match_exec_expands_its_tokens(tmp_path: Path) -> None:
    out = tmp_path / "out"
    settings = settings_for(
        tmp_path,
        "Host cp-1\n    HostName 10.0.0.5\n    User ops\n    Port 2222\n"
        f'Match exec "echo %h %n %p %r %C %% > {out}"\n    ConnectTimeout 3\n',
    )
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    digest = hashlib.sha1(f"{socket.gethostname()}10.0.0.52222ops".encode()).hexdigest()
    assert out.read_text() == f"10.0.0.5 cp-1 2222 ops {digest} %\n"
    assert route.target.connect_timeout == 3


def test_exec_is_skipped_once_an_earlier_criterion_failed(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    settings = settings_for(tmp_path, f'Match host other exec "touch {marker}"\n    Port 2201\n')
    assert resolve(Host("cp-1", "cp-1", ssh=settings)).target.port == 22
    assert not marker.exists()


def test_a_command_killed_by_a_signal_is_an_error_naming_the_line(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, 'Host *\n    User ops\nMatch exec "kill -9 $$"\n    Port 1\n')
    with pytest.raises(TransportError, match=r"ssh_config:3: Match exec .* killed by signal 9"):
        resolve(Host("cp-1", "cp-1", ssh=settings))


def test_the_users_shell_runs_the_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shell = tmp_path / "myshell"
    log = tmp_path / "shell-args"
    shell.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexit 0\n')
    shell.chmod(0o755)
    monkeypatch.setenv("SHELL", str(shell))
    settings = settings_for(tmp_path, 'Match exec "anything %n"\n    Port 2201\n')
    assert resolve(Host("cp-1", "cp-1", ssh=settings)).target.port == 2201
    assert log.read_text() == "-c\nanything cp-1\n"


def test_a_name_with_shell_metacharacters_is_never_put_into_the_command(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    settings = settings_for(tmp_path, 'Match exec "echo %n"\n    Port 2201\n')
    name = f"cp-1;touch {marker}"
    with pytest.raises(TransportError, match="holds a character the shell would interpret"):
        resolve(Host(name, name, ssh=settings))
    assert not marker.exists()


def test_a_criterion_checkpointctl_cannot_evaluate_is_named(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path, "Host *\n    User ops\nMatch localnetwork 10.0.0.0/8\n    Port 1\n"
    )
    with pytest.raises(TransportError, match=r"ssh_config:3: Match localnetwork is not supported"):
        resolve(Host("cp-1", "cp-1", ssh=settings))
    # a line whose earlier criterion failed cannot apply: nothing to evaluate
    settings = settings_for(tmp_path, "Match host other localnetwork 10.0.0.0/8\n    Port 1\n")
    assert resolve(Host("cp-1", "cp-1", ssh=settings)).target.port == 22


def test_an_unknown_criterion_is_an_error(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, "Match hots cp-1\n    Port 1\n")
    with pytest.raises(TransportError, match=r"ssh_config:1: unsupported Match attribute 'hots'"):
        resolve(Host("cp-1", "cp-1", ssh=settings))


def test_match_host_sees_the_hostname_and_final_sees_the_second_pass(tmp_path: Path) -> None:
    settings = settings_for(
        tmp_path,
        "Host cp-1\n    HostName Box.Example\n"
        "Match host box.example\n    User ops\n"
        "Match final host *.example\n    Port 2201\n"
        "Host box.example\n    ConnectTimeout 4\n",
    )
    route = resolve(Host("cp-1", "cp-1", ssh=settings))
    assert (route.target.user, route.target.port, route.target.connect_timeout) == (
        "ops",
        2201,
        4.0,
    )


ORACLE = (
    "Host cp-*\n    HostName %h.example\n"
    'Match host *.example exec "test %p = 22 && test -e {flag}"\n    Port 2201\n'
    'Match originalhost cp-2 !exec "test -e {flag}"\n    Port 2202\n'
    "Match user ops\n    ConnectTimeout 7\n"
    "Match final host cp-3.example\n    User ops\n"
    "Host *\n    UserKnownHostsFile /kh/%h-%p-%r\n"
)


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh")
@pytest.mark.parametrize("flag_exists", [False, True])
@pytest.mark.parametrize("name", ["cp-1", "cp-2", "cp-3", "other"])
def test_the_same_result_as_ssh_G(tmp_path: Path, name: str, flag_exists: bool) -> None:
    flag = tmp_path / "flag"
    if flag_exists:
        flag.touch()
    settings = settings_for(tmp_path, ORACLE.format(flag=flag))
    assert settings.config_file is not None
    ssh = ssh_g(settings.config_file, name)
    route = resolve(Host(name, name, user="root", ssh=settings))
    assert route.target.known_hosts == (ssh["userknownhostsfile"],)
    assert (route.target.port, route.target.user) == (int(ssh["port"]), ssh["user"])
    assert route.target.connect_timeout == (7.0 if ssh.get("connecttimeout") == "7" else 10.0)


def test_match_exec_sees_the_inventorys_port_user_and_jump(tmp_path: Path) -> None:
    """The inventory plays ssh's command line, which is known before the file is read."""
    out = tmp_path / "out"
    settings = settings_for(tmp_path, f'Match exec "echo %n %p %r %j >> {out}"\n    Port 2201\n')
    given = SshSettings(
        given=frozenset({"port", "user"}),
        config_file=settings.config_file,
        options=(("proxyjump", "ops@gw"),),
    )
    resolve(Host("cp-1", "cp-1", port=2222, user="deploy", ssh=given))
    # the jump host is looked up too (ssh runs `ssh -W … gw` for it), with its own values
    assert out.read_text() == "cp-1 2222 deploy ops@gw\ngw 22 ops\n"
