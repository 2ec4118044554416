"""No key from the SSH agent or ``~/.ssh`` is used unless the inventory says so; never agent
forwarding. For real: a running ssh-agent holding the lab's (valid) key, and a ``$HOME/.ssh``
holding it too, while the host is configured with a key the lab does not trust.

(Unknown and changed host keys: tests/integration/test_transport.py
``test_unknown_host_key_is_refused_and_known_hosts_untouched`` and
``test_changed_host_key_is_refused_even_with_trust_on_first_use``.)
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpointctl.errors import HostUnreachable, TransportError
from checkpointctl.lab import LabInfo
from checkpointctl.lab.sshd import write_keypair
from checkpointctl.model import Host
from checkpointctl.transport.ssh import SshTransport

pytestmark = pytest.mark.lab

HOST = "lt-1"


@pytest.fixture
def agent_and_home(lab: LabInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An ssh-agent with the lab key, and a $HOME whose .ssh holds the lab key too."""
    out = subprocess.run(["ssh-agent", "-s"], capture_output=True, text=True, check=True).stdout
    sock = re.search(r"SSH_AUTH_SOCK=([^;]+);", out)
    pid = re.search(r"SSH_AGENT_PID=(\d+);", out)
    assert sock is not None
    assert pid is not None
    env = {**os.environ, "SSH_AUTH_SOCK": sock.group(1)}
    subprocess.run(["ssh-add", str(lab.identity_file)], env=env, check=True, capture_output=True)
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    shutil.copy(lab.identity_file, home / ".ssh" / "id_ed25519")
    (home / ".ssh" / "id_ed25519").chmod(0o600)
    shutil.copy(lab.known_hosts, home / ".ssh" / "known_hosts")
    monkeypatch.setenv("SSH_AUTH_SOCK", sock.group(1))
    monkeypatch.setenv("HOME", str(home))
    try:
        yield home
    finally:
        os.kill(int(pid.group(1)), signal.SIGTERM)


def _host(lab: LabInfo, **kw: object) -> Host:
    base: dict[str, object] = {
        "name": HOST,
        "address": lab.host(HOST).address,
        "known_hosts": str(lab.known_hosts),
    }
    base.update(kw)
    return Host(**base)  # type: ignore[arg-type]


def test_a_configured_key_is_the_only_key_tried_even_with_an_agent_and_home_keys(
    lab: LabInfo, agent_and_home: Path, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong_key"
    write_keypair(wrong, "untrusted")
    with pytest.raises(HostUnreachable, match="authentication as root with key"):
        SshTransport.open(_host(lab, identity_file=str(wrong)))


def test_no_configured_key_is_refused_although_the_agent_and_home_hold_a_valid_one(
    lab: LabInfo, agent_and_home: Path
) -> None:
    with pytest.raises(TransportError, match="no SSH key configured"):
        SshTransport.open(_host(lab))


def test_the_agent_is_used_when_the_inventory_opts_in_and_never_forwarded(
    lab: LabInfo, agent_and_home: Path
) -> None:
    # the positive control: the agent's key does work on this host
    t = SshTransport.open(_host(lab, vars={"ssh_use_agent": True}))
    try:
        seen = t.run(["sh", "-c", 'printf %s "${SSH_AUTH_SOCK:-none}"']).text()
    finally:
        t.close()
    assert seen == "none", "the agent was forwarded to the host"
