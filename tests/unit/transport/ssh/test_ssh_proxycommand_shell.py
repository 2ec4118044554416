"""A ProxyCommand runs as ssh runs it: ``exec COMMAND`` by the user's shell.

The command's own process is the connection's socket; here its output is read back through
paramiko's ProxyCommand, a real process (no SSH server is needed to see what it was given).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointctl.errors import TransportError
from checkpointctl.model import Host, SshSettings
from checkpointctl.transport.ssh.connect import _proxy_command
from checkpointctl.transport.ssh.route import resolve


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHELL", "/bin/sh")


def output_of(tmp_path: Path, line: str, name: str = "cp-1") -> bytes:
    path = tmp_path / "ssh_config"
    path.write_text(f"Host *\n    {line}\n")
    host = Host(name, name, ssh=SshSettings(given=frozenset(), config_file=str(path)))
    proxy = _proxy_command(resolve(host).target, name)
    try:
        return proxy.process.stdout.read()  # to EOF (paramiko's recv would spin there)
    finally:
        if proxy.process.wait(timeout=30) is None:
            proxy.close()


def test_quotes_tilde_pipes_and_comments_mean_what_they_mean_to_ssh(tmp_path: Path) -> None:
    out = output_of(tmp_path, "ProxyCommand printf '%%s|' ~ \"a  b\" %h:%p | tr '|' , # note")
    assert out == f"{tmp_path}/home,a  b,cp-1:22,".encode()


def test_an_inventory_name_the_shell_would_interpret_is_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(TransportError, match=r"%n is .* the shell would interpret"):
        output_of(tmp_path, "ProxyCommand nc %n 22", name=f"cp-1;touch {marker}")
    assert not marker.exists()
