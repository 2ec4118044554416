"""Which connect failures the SSH transport retries, and how long it waits (pure parts).

The behaviour against real busy sshds (MaxStartups) is proven in
tests/integration/faults/test_fault_fleet_scale.py; here, the classification that decides it.
"""

from __future__ import annotations

import random

import paramiko
import pytest

from checkpointctl.errors import HostKeyError, HostUnreachable, TransportError
from checkpointctl.transport.ssh import connect as ssh


@pytest.mark.parametrize(
    "error",
    [
        paramiko.SSHException("Error reading SSH protocol banner"),
        paramiko.SSHException(
            "Error reading SSH protocol banner[Errno 104] Connection reset by peer"
        ),
        paramiko.SSHException("No existing session"),
        ConnectionResetError(104, "Connection reset by peer"),
        EOFError(),
        BrokenPipeError(32, "Broken pipe"),
    ],
    ids=repr,
)
def test_a_busy_sshd_dropping_the_connection_is_retried(error: BaseException) -> None:
    assert ssh.transient_connect_error(error)


@pytest.mark.parametrize(
    "error",
    [
        paramiko.AuthenticationException("Authentication failed."),
        paramiko.ssh_exception.BadAuthenticationType("Bad authentication type", ["password"]),
        # what paramiko raises for a changed key (built bare: only its type matters here)
        paramiko.BadHostKeyException.__new__(paramiko.BadHostKeyException),
        HostKeyError("host key changed"),
        HostKeyError("host key not trusted"),
        TransportError("no SSH key configured"),
        HostUnreachable("timed out"),
        TimeoutError("timed out"),
        paramiko.SSHException("Error reading SSH protocol banner timed out"),
        ConnectionRefusedError(111, "Connection refused"),
        paramiko.ssh_exception.NoValidConnectionsError(
            {("10.213.9.9", 22): ConnectionRefusedError(111, "Connection refused")}
        ),
        paramiko.PasswordRequiredException("private key file is encrypted"),
        ValueError("a bug"),
    ],
    ids=repr,
)
def test_auth_host_key_settings_refusals_and_timeouts_are_never_retried(
    error: BaseException,
) -> None:
    assert not ssh.transient_connect_error(error)


def test_retry_delay_is_jittered_and_capped() -> None:
    rng = random.Random(7)
    for retry in range(8):
        ceiling = min(ssh.RETRY_CAP_SECONDS, ssh.RETRY_BASE_SECONDS * 2**retry)
        delays = [ssh.retry_delay(retry, rng) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in delays)
        assert len({round(d, 6) for d in delays}) > 150  # jitter: not one fixed value
    assert ssh.CONNECT_ATTEMPTS >= 2
