"""SSH settings that are decided before any packet is sent, and the Docker version choice."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from checkpointctl.errors import HostKeyError, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.dockerssh import api_version
from checkpointctl.transport.ssh import SshTransport, known_hosts_path, use_agent

# An address nobody is ever contacted at: every test here fails before connecting.
NOWHERE = "10.213.250.250"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, False),
        (False, False),
        (True, True),
        ("true", True),
        ("Yes", True),
        ("no", False),
        ("", False),
        (1, False),  # only a real boolean or a yes-word opts in
    ],
)
def test_use_agent_is_an_explicit_opt_in(value: object, expected: bool) -> None:
    host_vars = {} if value is None else {"ssh_use_agent": value}
    assert use_agent(host_vars) is expected


def test_known_hosts_falls_back_to_the_users_file() -> None:
    assert known_hosts_path(Host("h", NOWHERE)) == os.path.expanduser("~/.ssh/known_hosts")
    assert known_hosts_path(Host("h", NOWHERE, known_hosts="/lab/kh")) == "/lab/kh"


def test_no_key_and_no_agent_is_refused_with_a_hint() -> None:
    with pytest.raises(TransportError, match="no SSH key configured") as info:
        SshTransport.open(Host("h", NOWHERE))
    assert "ssh_use_agent: true" in str(info.value)


def test_missing_identity_file_is_named(tmp_path: Path) -> None:
    key = tmp_path / "id_missing"
    with pytest.raises(TransportError, match=f"identity file {key} does not exist"):
        SshTransport.open(Host("h", NOWHERE, identity_file=str(key)))


def test_trust_on_first_use_needs_our_own_known_hosts(tmp_path: Path) -> None:
    key = tmp_path / "id"
    key.write_text("not used")
    host = Host("h", NOWHERE, identity_file=str(key), trust_on_first_use=True)
    with pytest.raises(HostKeyError, match="known_hosts: PATH"):
        SshTransport.open(host)


@pytest.mark.parametrize(
    ("server", "expected"),
    [("1.43", "1.43"), ("1.45", "1.45"), ("1.47", "1.45"), ("1.9", "1.9"), (None, "1.45")],
)
def test_api_version_is_the_servers_capped_at_ours(server: str | None, expected: str) -> None:
    assert api_version(server, "1.45") == expected
