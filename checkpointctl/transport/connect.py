"""Open the right transport for a host: the one call the engine makes per host per run.

The SSH transport (and with it paramiko) is imported only when an SSH host is connected, so
commands that never connect stay quick to start.
"""

from __future__ import annotations

from collections.abc import Iterable

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import Transport


def connect(host: Host, *, timeout: float | None = None) -> Transport:
    """An open transport to ``host``: local for ``connection: local``, else SSH.

    ``timeout`` overrides ``host.connect_timeout`` for the SSH connect (each of TCP connect,
    banner, key exchange and authentication); the local transport has nothing to connect.
    The caller owns the transport and must ``close()`` it.

    Raises:
        HostKeyError: the host's SSH key is unknown or changed.
        HostUnreachable: the host cannot be reached or refused our key.
        TransportError: the host's connection settings are unusable.
    """
    if host.connection == "local":
        from checkpointctl.transport.local import LocalTransport

        if host.become is not None:
            raise TransportError(
                f"{host.name}: become is not supported with connection: local "
                "(run checkpointctl itself with the rights it needs there)"
            )

        return LocalTransport(host)
    from checkpointctl.transport.ssh import SshTransport

    return SshTransport.open(host, timeout=timeout)


def load_transports(hosts: Iterable[Host]) -> None:
    """Import, in the calling thread, the transport ``hosts`` will be connected with.

    The SSH transport's first import pulls in paramiko, cryptography, PyNaCl and through them
    ``importlib.metadata`` and ``importlib.resources``. Done for the first time in a background
    thread (:class:`~checkpointctl.transport.headstart.HeadStart`) while the main thread imports
    the policy stack, which needs ``importlib.resources`` too, the two threads can take
    importlib's own module locks in opposite orders, and Python raises ``_DeadlockError`` in
    one of them (a lab test saw "deadlock detected by _ModuleLock('importlib.resources.abc')").
    Imported here first, those modules are already loaded when the threads start.
    """
    if any(h.connection != "local" for h in hosts):
        import encodings.idna  # noqa: F401  # what the socket module loads for a host's name

        import checkpointctl.transport.ssh  # noqa: F401  # imported for its side effect
