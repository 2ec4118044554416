"""SSH settings that are decided before any packet is sent, and the Docker version choice."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import paramiko
import pytest

from checkpointctl.errors import HostKeyError, HostUnreachable, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.dockerssh import api_version
from checkpointctl.transport.ssh import SshTransport
from checkpointctl.transport.ssh.connect import connect_error, known_hosts_path, use_agent

# Recorded with ssh-keygen (see test_transport_hostkeys.py).
ED25519_B64 = "AAAAC3NzaC1lZDI1NTE5AAAAIH0voOxtzb0q9iBWWrP+enUCLRcDOIBh6yTwcn87bA1R"
ED25519_FP = "SHA256:ozUvQTaVF7QUEVXeYiXdRwy1ZWojMY70zJOR9SBWQeM"
ECDSA_B64 = (
    "AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBMTwZv6wTtzPvR9ArpYhYf93BytivsPjN5wOsjsL"
    "s94uRkM0aZUx9p4bp3hrWHIGM/aMSq/b+AIi7q4nKTbvDDw="
)
ECDSA_FP = "SHA256:h1/nCZC2w3BcZKgDvZWccuu4vK85Nqnpjupqt3/zJ/U"

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


# -- what paramiko and the socket layer raise, as the user sees it ------------------------------

GHOST = Host("ghost", NOWHERE, identity_file="/lab/id")
WHERE = f"ghost ({NOWHERE}:22)"


def translate(e: Exception) -> Exception:
    return connect_error(e, GHOST, WHERE, "/lab/known_hosts", 2.0, "/lab/id")


def test_changed_key_becomes_a_host_key_error_with_both_fingerprints() -> None:
    new = paramiko.Ed25519Key(data=base64.b64decode(ED25519_B64))
    old = paramiko.ECDSAKey(data=base64.b64decode(ECDSA_B64))
    err = translate(paramiko.BadHostKeyException(NOWHERE, new, old))
    assert isinstance(err, HostKeyError)
    assert ED25519_FP in str(err)
    assert ECDSA_FP in str(err)
    assert str(err).startswith(f"{WHERE}: host key changed, possible man-in-the-middle")


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (TimeoutError("timed out"), f"{WHERE}: timed out after 2s"),
        (
            paramiko.ssh_exception.NoValidConnectionsError(
                {(NOWHERE, 22): ConnectionRefusedError(111, "Connection refused")}
            ),
            f"{WHERE}: connection refused",
        ),
        (OSError(113, "No route to host"), f"{WHERE}: no route to host"),
        (
            paramiko.SSHException("Error reading SSH protocol banner"),
            f"{WHERE}: SSH handshake failed: Error reading SSH protocol banner",
        ),
        (
            paramiko.AuthenticationException("Authentication failed."),
            f"{WHERE}: authentication as root with key /lab/id failed: Authentication failed.",
        ),
    ],
)
def test_connect_failures_become_host_unreachable(raised: Exception, expected: str) -> None:
    err = translate(raised)
    assert isinstance(err, HostUnreachable)
    assert str(err) == expected


def test_an_encrypted_key_is_named_with_a_hint() -> None:
    err = translate(paramiko.PasswordRequiredException("private key file is encrypted"))
    assert type(err) is TransportError
    assert "identity file /lab/id is encrypted" in str(err)
    assert "ssh_use_agent" in str(err)


def test_our_own_errors_pass_through_unchanged() -> None:
    original = HostKeyError("x")
    assert translate(original) is original
    other = ValueError("bug")
    assert translate(other) is other
