"""Open one authenticated SSH connection to a host: client, host keys, login, retries.

Host keys are checked strictly (see :mod:`~checkpointctl.transport.hostkeys`), keys are never
looked up in ``~/.ssh`` behind the user's back, and the agent is used only on request and never
forwarded. A connect the host drops the way a busy sshd does is tried again with jittered
backoff; nothing else is (see :func:`transient_connect_error`).
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping

from checkpointctl.errors import HostKeyError, HostUnreachable, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.hostkeys import (
    DEFAULT_KNOWN_HOSTS,
    OfferedKey,
    RecordUnknownKey,
    RefuseUnknownKey,
    changed_key_message,
    known_hosts_name,
    tofu_without_file_message,
)
from checkpointctl.transport.sshfiles import add_known_keys, identity_key
from checkpointctl.transport.sshlib import paramiko

# paramiko logs a failed handshake at ERROR level with a traceback; with no logging configured
# Python's last-resort handler prints that on stderr, before (and besides) our one-line error.
# The failure reaches the user as our error; paramiko's records still propagate to whatever
# handlers an application configures.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

#: Seconds of silence after which a keepalive is sent, so a dead peer is noticed mid-run.
KEEPALIVE_SECONDS = 30
#: How many times a connect is tried when it fails the way a busy sshd fails (see
#: :func:`transient_connect_error`); authentication, host key and timeout failures get one try.
CONNECT_ATTEMPTS = 6
#: Full-jitter backoff between those tries: uniform in [0, min(cap, base * 2**retry)] seconds,
#: so hundreds of controllers' workers refused at once do not come back in lockstep.
RETRY_BASE_SECONDS = 0.5
RETRY_CAP_SECONDS = 4.0
_TRANSIENT_TEXT = (
    "error reading ssh protocol banner",
    "connection reset",
    "connection aborted",
    # the host closed the connection after the banner, before any answer to our key: paramiko
    # then finds no session to authenticate on (sshds past MaxStartups under load do this)
    "no existing session",
)


def where(host: Host) -> str:
    """How messages name the host's connection: ``cp-1 (10.0.0.5:22)``."""
    return f"{host.name} ({host.address}:{host.port})"


def use_agent(host_vars: Mapping[str, object]) -> bool:
    """Whether the host opted in to the SSH agent (``ssh_use_agent: true``); off by default."""
    value = host_vars.get("ssh_use_agent", False)
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return value is True


def transient_connect_error(e: BaseException) -> bool:
    """Whether a connect failure is one a busy but healthy host causes, worth another try.

    An sshd past its ``MaxStartups`` accepts the TCP connection and closes it before sending
    its banner: paramiko reports "Error reading SSH protocol banner" (often with "Connection
    reset by peer"), or the socket layer a reset. Those are retried. Never retried: a refused
    key (retrying an authentication failure only feeds fail2ban and lockouts), an unknown or
    changed host key, settings of ours, a refused port (no sshd there), and timeouts (a host
    that drops packets would cost the whole timeout again per try; it is reported at once).
    """
    refused = (
        HostKeyError,
        TransportError,
        paramiko.AuthenticationException,
        paramiko.BadHostKeyException,
        paramiko.PasswordRequiredException,
        TimeoutError,
    )
    if isinstance(e, refused):
        return False
    if isinstance(e, ConnectionResetError | ConnectionAbortedError | BrokenPipeError | EOFError):
        return True
    if isinstance(e, paramiko.SSHException):
        text = str(e).lower()
        return "timed out" not in text and any(t in text for t in _TRANSIENT_TEXT)
    return False


def retry_delay(retry: int, rng: random.Random | None = None) -> float:
    """Seconds to wait before retry number ``retry`` (0-based): full jitter, capped."""
    ceiling = min(RETRY_CAP_SECONDS, RETRY_BASE_SECONDS * 2**retry)
    return (rng or random).uniform(0.0, ceiling)


def known_hosts_path(host: Host) -> str:
    """The known_hosts file for ``host``: its own, or the user's (read-only) when unset."""
    return os.path.expanduser(host.known_hosts or DEFAULT_KNOWN_HOSTS)


def open_client(host: Host, *, timeout: float | None = None) -> tuple[paramiko.SSHClient, int]:
    """A connected, authenticated client for ``host`` and how many connects it took.

    ``timeout`` (default ``host.connect_timeout``) bounds the TCP connect, the banner, the key
    exchange and the authentication each. A connect the host drops before its banner (a busy
    sshd past ``MaxStartups``) is tried up to :data:`CONNECT_ATTEMPTS` times with jittered
    backoff; nothing else is retried (see :func:`transient_connect_error`).

    Raises:
        HostKeyError: the host key is unknown (without trust on first use) or changed.
        HostUnreachable: the host cannot be reached, does not speak SSH in time, or refused
            our key.
        TransportError: the host's SSH settings are unusable (no key configured, missing
            identity file, unreadable known_hosts).
    """
    limit = host.connect_timeout if timeout is None else timeout
    named = where(host)
    known_hosts = known_hosts_path(host)
    identity = os.path.expanduser(host.identity_file) if host.identity_file else None
    agent = identity is None and use_agent(host.vars)
    if identity is None and not agent:
        raise TransportError(
            f"{named}: no SSH key configured\n"
            "  hint: set `identity_file` (or `ansible_ssh_private_key_file`) for the host, "
            "or `ssh_use_agent: true` to use the SSH agent"
        )
    if identity is not None and not os.path.isfile(identity):
        raise TransportError(f"{named}: identity file {identity} does not exist")

    attempts = 0
    while True:
        attempts += 1
        try:
            client = _connect_once(host, named, known_hosts, identity, agent, limit)
            break
        except Exception as e:
            if not transient_connect_error(e.__cause__ or e):
                raise
            if attempts >= CONNECT_ATTEMPTS:
                raise HostUnreachable(f"{e} (tried {attempts} times)") from e
            time.sleep(retry_delay(attempts - 1))
    transport = client.get_transport()
    if transport is None:  # connect() returned, so this is a paramiko bug
        client.close()
        raise HostUnreachable(f"{named}: connection closed right after login")
    transport.set_keepalive(KEEPALIVE_SECONDS)
    return client, attempts


def _connect_once(
    host: Host,
    named: str,
    known_hosts: str,
    identity: str | None,
    agent: bool,
    limit: float,
) -> paramiko.SSHClient:
    """One connect, key check and login; failures translated (the cause kept for retries)."""
    client = paramiko.SSHClient()
    if os.path.exists(known_hosts):
        try:
            add_known_keys(client, known_hosts, known_hosts_name(host.address, host.port))
        except (OSError, paramiko.SSHException) as e:
            raise TransportError(f"{named}: cannot read known_hosts {known_hosts}: {e}") from e
    if host.trust_on_first_use:
        if host.known_hosts is None:
            raise HostKeyError(tofu_without_file_message(host.name, host.address, host.port))
        client.set_missing_host_key_policy(RecordUnknownKey(host.address, host.port, known_hosts))
    else:
        client.set_missing_host_key_policy(
            RefuseUnknownKey(host.name, host.address, host.port, known_hosts)
        )

    try:
        pkey = identity_key(identity) if identity else None
        client.connect(
            hostname=host.address,
            port=host.port,
            username=host.user,
            pkey=pkey,
            key_filename=identity if pkey is None else None,
            allow_agent=agent,
            look_for_keys=False,
            timeout=limit,
            banner_timeout=limit,
            auth_timeout=limit,
            channel_timeout=limit,
        )
    except Exception as e:
        client.close()
        mapped = connect_error(e, host, named, known_hosts, limit, identity)
        if mapped is e:
            raise
        raise mapped from e
    except BaseException:
        client.close()
        raise
    return client


def connect_error(
    e: Exception,
    host: Host,
    named: str,
    known_hosts: str,
    limit: float,
    identity: str | None,
) -> Exception:
    """Translate what paramiko and the socket layer raise on connect into our errors."""
    if isinstance(e, HostKeyError | TransportError):
        return e
    if isinstance(e, paramiko.BadHostKeyException):
        return HostKeyError(
            changed_key_message(
                host.name,
                host.address,
                host.port,
                OfferedKey.of(e.key),
                OfferedKey.of(e.expected_key),
                known_hosts,
            )
        )
    if isinstance(e, paramiko.PasswordRequiredException):
        return TransportError(
            f"{named}: identity file {identity} is encrypted\n"
            "  hint: load it into an agent and set `ssh_use_agent: true`, or use a key "
            "without passphrase kept in your secret store"
        )
    if isinstance(e, paramiko.AuthenticationException):
        used = f"key {identity}" if identity else "the SSH agent's keys"
        return HostUnreachable(f"{named}: authentication as {host.user} with {used} failed: {e}")
    if isinstance(e, TimeoutError):
        return HostUnreachable(f"{named}: timed out after {limit:g}s")
    if isinstance(e, paramiko.ssh_exception.NoValidConnectionsError):
        reasons = sorted({_reason(err) for err in e.errors.values()})
        return HostUnreachable(f"{named}: {'; '.join(reasons)}")
    if isinstance(e, OSError):
        return HostUnreachable(f"{named}: {_reason(e)}")
    if isinstance(e, paramiko.SSHException | EOFError):
        return HostUnreachable(f"{named}: SSH handshake failed: {e or type(e).__name__}")
    return e


def _reason(e: Exception) -> str:
    """The OS's reason for a socket error, lower-cased like our messages ("connection
    refused"); the exception's text for anything without one."""
    text = (e.strerror if isinstance(e, OSError) else None) or str(e)
    return text[:1].lower() + text[1:]
