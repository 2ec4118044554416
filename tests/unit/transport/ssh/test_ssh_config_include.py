"""``Include`` and the system-wide file, read as ssh reads them.

``Include`` splices files in where it stands (relative paths from ``~/.ssh`` in a user's file,
patterns in lexical order); inside a ``Host`` or ``Match`` block it includes conditionally, and
the including block's state is back after it. Without ``-F``, ssh reads ``~/.ssh/config`` and
then ``/etc/ssh/ssh_config`` (Debian's includes ``/etc/ssh/ssh_config.d/*.conf``), the first
value of each keyword winning across both. ``ssh -G`` is the reference where it can be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from ssh_oracle import ssh_g

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh import route
from checkpointctl.transport.ssh.route import resolve
from checkpointctl.transport.ssh.sshconfig import MAX_INCLUDE_DEPTH, parse_text


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A home of our own (its ~/.ssh is where relative includes are read from), no system
    file unless a test writes one, and Match exec run with /bin/sh."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SHELL", "/bin/sh")
    monkeypatch.setattr(route, "SYSTEM_CONFIG", str(tmp_path / "no-system-config"))
    return home


def _host(name: str, config: Path | None = None) -> Host:
    settings = SshSettings(given=frozenset(), config_file=str(config) if config else None)
    return Host(name, name, user="root", ssh=settings)


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _tree(home: Path, tmp_path: Path) -> Path:
    """A main file including a relative file (from ~/.ssh), a pattern of two files read in
    lexical order, and one file only inside a Host block."""
    _write(home / ".ssh" / "common.conf", "Host *.lab\n    ConnectTimeout 7\n")
    _write(tmp_path / "conf.d" / "20-b.conf", "Host cp-*\n    Port 2202\n    User b\n")
    _write(tmp_path / "conf.d" / "10-a.conf", "Host cp-*\n    Port 2201\n")
    _write(tmp_path / "edge.conf", "Port 2299\nHost cp-9\n    User edge\n")
    return _write(
        tmp_path / "main",
        "Include common.conf\n"
        f"Include {tmp_path}/conf.d/*.conf\n"
        "Host edge-* cp-9\n"
        f"    Include {tmp_path}/edge.conf\n"
        "    HostName %h.edge\n"
        "Host *\n    User fallback\n",
    )


@pytest.mark.skipif(shutil.which("ssh") is None, reason="needs OpenSSH's ssh")
@pytest.mark.parametrize("name", ["cp-1", "cp-9", "edge-1", "db.lab", "other"])
def test_the_same_result_as_ssh_G(home: Path, tmp_path: Path, name: str) -> None:
    main = _tree(home, tmp_path)
    # ssh finds ~/.ssh in the password database, not $HOME: give it the same file by path
    oracle = Path(str(main) + ".oracle")
    oracle.write_text(
        main.read_text().replace("Include common.conf", f"Include {home}/.ssh/common.conf")
    )
    ssh = ssh_g(str(oracle), name)
    target = resolve(_host(name, main)).target
    assert (target.address, target.port, target.user) == (
        ssh["hostname"],
        int(ssh["port"]),
        ssh["user"],
    )
    assert target.connect_timeout == (7.0 if ssh.get("connecttimeout") == "7" else 10.0)


def test_a_block_with_an_include_is_evaluated_once(home: Path, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    inner = _write(tmp_path / "inner.conf", "Port 2201\n")
    main = _write(
        tmp_path / "main",
        f'Match exec "echo x >> {runs}"\n    Include {inner}\n    User ops\n',
    )
    target = resolve(_host("cp-1", main)).target
    assert (target.port, target.user) == (2201, "ops")
    assert runs.read_text() == "x\n"


def test_includes_nested_too_deep_are_an_error_naming_the_line(tmp_path: Path) -> None:
    loop = _write(tmp_path / "loop.conf", "")
    loop.write_text(f"Port 2201\nInclude {loop}\n")
    with pytest.raises(
        TransportError, match=f"loop.conf:2: Include nested more than {MAX_INCLUDE_DEPTH}"
    ):
        parse_text(loop.read_text(), str(loop))


def test_an_option_in_an_included_file_is_checked_like_any_other(
    home: Path, tmp_path: Path
) -> None:
    inner = _write(tmp_path / "inner.conf", "Host *\n    LocalForward 8080 localhost:80\n")
    main = _write(tmp_path / "main", f"Include {inner}\n")
    with pytest.raises(
        TransportError, match=r"inner.conf:2.*option `localforward` is not supported"
    ):
        resolve(_host("cp-1", main))


def test_without_F_the_users_file_then_the_systems_are_read(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write(home / ".ssh" / "config", "Host cp-*\n    Port 2201\n")
    system_d = _write(
        tmp_path / "etc-ssh" / "ssh_config.d" / "jump.conf", "Host cp-*\n    User ops\n"
    )
    system = _write(
        tmp_path / "etc-ssh" / "ssh_config",
        f"Include {system_d.parent}/*.conf\n"
        "Host *\n    SendEnv LANG LC_*\n    HashKnownHosts yes\n    GSSAPIAuthentication yes\n"
        "    Port 2202\n",
    )
    monkeypatch.setattr(route, "SYSTEM_CONFIG", str(system))
    target = resolve(_host("cp-1")).target
    assert (target.port, target.user) == (2201, "ops")  # the user's file first, then the system's
    other = resolve(_host("db-1")).target
    assert other.port == 2202
    given = _write(tmp_path / "given", "Host *\n    ConnectTimeout 3\n")
    alone = resolve(_host("cp-1", given)).target
    assert (alone.port, alone.user, alone.connect_timeout) == (
        22,
        "root",
        3.0,
    )  # -F: that file only
