"""Open one authenticated SSH connection to a host: client, host keys, login, retries.

Host keys are checked strictly (see :mod:`~checkpointctl.transport.hostkeys`), keys are never
looked up in ``~/.ssh`` behind the user's back, and the agent is used only on request and never
forwarded. A connect the host drops the way a busy sshd does is tried again with jittered
backoff; nothing else is (see :func:`transient_connect_error`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import random
import shlex
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from checkpointctl.errors import HostKeyError, HostUnreachable, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import ByteStream
from checkpointctl.transport.hostkeys import (
    DEFAULT_KNOWN_HOSTS,
    OfferedKey,
    RecordUnknownKey,
    RefuseUnknownKey,
    changed_key_message,
    known_hosts_name,
    tofu_without_file_message,
)
from checkpointctl.transport.ssh.ciphers import new_transport
from checkpointctl.transport.ssh.jumps import JUMPS, Connector, JumpSocket
from checkpointctl.transport.ssh.keys import load_identities
from checkpointctl.transport.ssh.route import Endpoint, Route, resolve
from checkpointctl.transport.ssh.tcp import connect_tcp
from checkpointctl.transport.sshfiles import UnreadableKnownHosts, add_known_keys, known_keys
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


@dataclass(frozen=True, slots=True)
class Opened:
    """An authenticated client, how many connects it took, the route it took, and what to call
    once it is closed (it gives back the shared jump connection)."""

    client: paramiko.SSHClient
    attempts: int
    route: Route
    release: Callable[[], None]
    open_stream: Callable[[float], ByteStream]
    """A new TCP connection to the host's SSH port along the same route (see
    :class:`~checkpointctl.transport.base.NewConnections`)."""


def open_client(host: Host, *, timeout: float | None = None) -> Opened:
    """A connected, authenticated client for ``host`` along its route (see
    :mod:`~checkpointctl.transport.ssh.route`): directly, through jump hosts (their connections
    shared, see :mod:`~checkpointctl.transport.ssh.jumps`) or a ProxyCommand.

    ``timeout`` (default the route's connect timeout) bounds the TCP connect, the banner, the key
    exchange and the authentication each. A connect the host drops before its banner (a busy
    sshd past ``MaxStartups``) is tried up to :data:`CONNECT_ATTEMPTS` times with jittered
    backoff; nothing else is retried (see :func:`transient_connect_error`). Every hop's host key
    is checked against its known_hosts.

    Raises:
        HostKeyError: a host key on the way is unknown (without trust on first use) or changed.
        HostUnreachable: a host on the way cannot be reached, does not speak SSH in time, or
            refused our key.
        TransportError: the host's SSH settings are unusable (no key configured, missing
            identity file, unreadable known_hosts, an unsupported ssh_config option).
    """
    route = resolve(host)
    target = route.target
    if timeout is not None:
        target = dataclasses.replace(target, connect_timeout=timeout)
        route = Route(target, route.jumps)
    if host.identity_file and not os.path.isfile(os.path.expanduser(host.identity_file)):
        raise TransportError(
            f"{where(host)}: identity file {os.path.expanduser(host.identity_file)} does not exist"
        )
    agent = use_agent(host.vars)
    if not target.identities and not agent:
        raise TransportError(
            f"{where(host)}: no SSH key configured\n"
            "  hint: set `identity_file` (or `ansible_ssh_private_key_file`) for the host, "
            "an IdentityFile in ssh_config, or `ssh_use_agent: true` to use the SSH agent"
        )

    def connect(endpoint: Endpoint, sock: JumpSocket | None) -> paramiko.SSHClient:
        return _connect_endpoint(endpoint, sock, agent, host.ssh.passphrase_file, host.name)

    attempts = 0
    while True:
        attempts += 1
        sock: JumpSocket | paramiko.ProxyCommand | None = None
        try:
            if route.jumps:
                sock = JUMPS.channel(route.jumps, target, connect)
            elif target.proxy_command:
                sock = _proxy_command(target, host.name)
            client = _connect_endpoint(target, sock, agent, host.ssh.passphrase_file, host.name)
            break
        except Exception as e:
            if route.jumps and sock is not None:
                JUMPS.release(route.jumps)
            if not transient_connect_error(e.__cause__ or e):
                raise
            if attempts >= CONNECT_ATTEMPTS:
                raise HostUnreachable(f"{e} (tried {attempts} times)") from e
            time.sleep(retry_delay(attempts - 1))
    transport = client.get_transport()
    if transport is None:  # connect() returned, so this is a paramiko bug
        client.close()
        raise HostUnreachable(f"{where(host)}: connection closed right after login")
    transport.set_keepalive(KEEPALIVE_SECONDS)
    released = threading.Event()

    def release() -> None:
        if route.jumps and not released.is_set():
            released.set()
            JUMPS.release(route.jumps)

    def open_stream(limit: float) -> ByteStream:
        if route.jumps:
            return _JumpStream(
                route.jumps, dataclasses.replace(target, connect_timeout=limit), connect
            )
        if target.proxy_command:
            return _ProxyStream(_proxy_command(target, host.name))
        return socket.create_connection((target.address, target.port), timeout=limit)

    return Opened(client, attempts, route, release, open_stream)


class _ProxyStream:
    """A new ProxyCommand process as a stream; its failures are socket errors, as a socket's."""

    def __init__(self, proxy: paramiko.ProxyCommand) -> None:
        self._proxy = proxy

    def recv(self, n: int) -> bytes:
        try:
            return self._proxy.recv(n)
        except paramiko.ProxyCommandFailure as e:
            raise ConnectionAbortedError(str(e)) from e

    def settimeout(self, timeout: float | None) -> None:
        self._proxy.settimeout(timeout if timeout is not None else 3600.0)

    def close(self) -> None:
        self._proxy.close()


class _JumpStream:
    """A new ``direct-tcpip`` channel through the shared jump connection, given back on close."""

    def __init__(self, chain: tuple[Endpoint, ...], target: Endpoint, connect: Connector) -> None:
        try:
            self._chan = JUMPS.channel(chain, target, connect)
        except HostUnreachable as e:
            raise ConnectionRefusedError(str(e)) from e
        self._chain = chain
        self._open = True

    def recv(self, n: int) -> bytes:
        return self._chan.recv(n)

    def settimeout(self, timeout: float | None) -> None:
        self._chan.settimeout(timeout)

    def close(self) -> None:
        if self._open:
            self._open = False
            self._chan.close()
            JUMPS.release(self._chain)


def _proxy_command(target: Endpoint, owner: str) -> paramiko.ProxyCommand:
    """The ProxyCommand's process as the connection's socket, started as ssh starts it:
    ``exec COMMAND`` run by the user's shell (``$SHELL``, else /bin/sh), so its quotes, ``~``
    and comments mean what they mean to ssh. The command is the operator's own ssh_config or
    ``-o`` text; the inventory values its tokens stood for were checked to hold nothing a
    shell interprets (:func:`checkpointctl.transport.ssh.tokens.expand`).

    Raises:
        HostUnreachable: the command could not be started.
    """
    shell = os.environ.get("SHELL") or "/bin/sh"
    # paramiko splits its argument with shlex: this joins the argv it is to run
    argv = shlex.join([shell, "-c", f"exec {target.proxy_command or ''}"])
    try:
        return paramiko.ProxyCommand(argv)
    except (paramiko.SSHException, OSError) as e:
        raise HostUnreachable(f"{owner}: ProxyCommand failed to start: {e}") from e


def _connect_endpoint(
    endpoint: Endpoint,
    sock: JumpSocket | paramiko.ProxyCommand | socket.socket | None,
    agent: bool,
    passphrase_file: str | None,
    owner: str,
) -> paramiko.SSHClient:
    """One connect, host key check and login to ``endpoint``; failures translated (the cause
    kept for retries)."""
    named = f"{endpoint.label} ({endpoint.address}:{endpoint.port})"
    known_hosts = endpoint.known_hosts
    limit = endpoint.connect_timeout
    client = paramiko.SSHClient()
    name = known_hosts_name(endpoint.address, endpoint.port)
    try:
        add_known_keys(client, known_hosts, name)
    except UnreadableKnownHosts as e:
        raise TransportError(f"{named}: {e}") from e
    policy: RecordUnknownKey | RefuseUnknownKey
    if endpoint.host_keys == "accept-new":
        if known_hosts[0] == os.path.expanduser(DEFAULT_KNOWN_HOSTS):
            raise HostKeyError(
                tofu_without_file_message(endpoint.label, endpoint.address, endpoint.port)
            )
        policy = RecordUnknownKey(endpoint.label, endpoint.address, endpoint.port, known_hosts)
    else:
        policy = RefuseUnknownKey(endpoint.label, endpoint.address, endpoint.port, known_hosts)
    client.set_missing_host_key_policy(policy)
    use_agent_keys = agent and not endpoint.identities_only
    identity = endpoint.identities[0] if endpoint.identities else None
    own: socket.socket | paramiko.ProxyCommand | None = None
    try:
        ids = load_identities(endpoint.identities, passphrase_file, use_agent_keys, owner)
        if sock is None and endpoint.proxy_command:  # the outermost jump host's own
            sock = own = _proxy_command(endpoint, owner)
        elif sock is None:
            sock = own = connect_tcp(endpoint.address, endpoint.port, limit)
        client.connect(
            hostname=endpoint.address,
            port=endpoint.port,
            username=endpoint.user,
            pkey=ids.keys[0] if ids.keys else None,
            key_filename=list(ids.files) or None,  # type: ignore[arg-type]  # a list is accepted
            allow_agent=use_agent_keys,
            look_for_keys=False,
            timeout=limit,
            banner_timeout=limit,
            auth_timeout=limit,
            channel_timeout=limit,
            transport_factory=new_transport,  # AES-GCM offered first
            # paramiko reads and writes its socket with send, recv, settimeout and close only,
            # which a JumpSocket has
            sock=cast("socket.socket", sock) if isinstance(sock, JumpSocket) else sock,
        )
    except Exception as e:
        client.close()
        if own is not None:
            own.close()
        mapped = endpoint_error(e, endpoint, named, limit, identity)
        if mapped is e:
            raise
        raise mapped from e
    except BaseException:
        client.close()
        if own is not None:
            own.close()
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
    """Translate what paramiko and the socket layer raise on connect to ``host`` into our
    errors (see :func:`endpoint_error`)."""
    endpoint = Endpoint(
        label=host.name,
        address=host.address,
        port=host.port,
        user=host.user,
        identities=(identity,) if identity else (),
        identities_only=False,
        known_hosts=(known_hosts,),
        host_keys="strict",
        connect_timeout=limit,
    )
    return endpoint_error(e, endpoint, named, limit, identity)


def endpoint_error(
    e: Exception, endpoint: Endpoint, named: str, limit: float, identity: str | None
) -> Exception:
    """Translate what paramiko and the socket layer raise on connect into our errors."""
    if isinstance(e, HostKeyError | TransportError):
        return e
    if isinstance(e, paramiko.BadHostKeyException):
        return HostKeyError(
            changed_key_message(
                endpoint.label,
                endpoint.address,
                endpoint.port,
                OfferedKey.of(e.key),
                OfferedKey.of(e.expected_key),
                _holder(endpoint, e.expected_key),
            )
        )
    if isinstance(e, paramiko.PasswordRequiredException):
        return TransportError(
            f"{named}: identity file {identity} is encrypted\n"
            "  hint: name a file holding its passphrase with `ssh_key_passphrase_file`, run "
            "on a terminal to be asked for it, or load it into an agent and set "
            "`ssh_use_agent: true`"
        )
    if isinstance(e, paramiko.AuthenticationException):
        used = f"key {identity}" if identity else "the SSH agent's keys"
        return HostUnreachable(
            f"{named}: authentication as {endpoint.user} with {used} failed: {e}"
        )
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


def _holder(endpoint: Endpoint, key: paramiko.PKey) -> str:
    """The known_hosts file (of the endpoint's) that lists ``key`` for it: the one a changed
    key's message tells the user to edit."""
    name = known_hosts_name(endpoint.address, endpoint.port)
    try:
        found = known_keys(endpoint.known_hosts, name)
    except UnreadableKnownHosts:
        found = ()
    blob = key.asbytes()
    return next((k.file for k in found if k.key.asbytes() == blob), endpoint.known_hosts[0])


def _reason(e: Exception) -> str:
    """The OS's reason for a socket error, lower-cased like our messages ("connection
    refused"); the exception's text for anything without one."""
    text = (e.strerror if isinstance(e, OSError) else None) or str(e)
    return text[:1].lower() + text[1:]
