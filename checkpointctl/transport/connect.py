"""Open the right transport for a host: the one call the engine makes per host per run.

The SSH transport (and with it paramiko) is imported only when an SSH host is connected, so
commands that never connect stay quick to start.
"""

from __future__ import annotations

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
