"""The ciphers checkpointctl offers an SSH server first: AES-GCM, whose packets paramiko seals
and opens in one ``cryptography`` call each.

paramiko's own order starts with ``aes128-ctr``, which OpenSSH pairs with ``hmac-sha2-256``. On
that pair every packet, both ways, costs paramiko a new ``hmac`` object in Python, and every
packet received a byte-by-byte constant-time comparison of its MAC in a Python loop. A drift of
100 hosts receives ~3000 packets, so that is CPU the controller spends on nothing it needs.
AES-GCM (``aes128-gcm@openssh.com``, RFC 5647 as OpenSSH names it; offered by OpenSSH since 6.2
and by paramiko) encrypts and authenticates in one call, and needs no MAC negotiated. The rest of
paramiko's list follows in its own order, so a server whose ``Ciphers`` line leaves GCM out still
gets the cipher it got before. bench/README.md has the measurements.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from checkpointctl.errors import TransportError
from checkpointctl.transport.sshlib import paramiko

AEAD_FIRST = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")


def aead_first(ciphers: Sequence[str]) -> tuple[str, ...]:
    """``ciphers`` with those of :data:`AEAD_FIRST` it holds moved to the front (pure): none
    added, none dropped, the others in their order."""
    first = tuple(c for c in AEAD_FIRST if c in ciphers)
    return (*first, *(c for c in ciphers if c not in first))


def new_transport(
    sock: paramiko.transport._SocketLike,
    /,
    *,
    gss_kex: bool,
    gss_deleg_creds: bool,
    disabled_algorithms: Mapping[str, Iterable[str]] | None,
) -> paramiko.Transport:
    """A client transport that offers AES-GCM first (``SSHClient.connect``'s
    ``transport_factory``: called with its arguments, before the key exchange).
    ``gss_deleg_creds`` matters only to a GSS-API key exchange, which checkpointctl never asks
    for (``connect`` without ``gss_kex``).

    Raises:
        TransportError: a GSS-API key exchange was asked for.
    """
    if gss_kex:
        raise TransportError("a GSS-API key exchange is not supported")
    transport = paramiko.Transport(sock, disabled_algorithms=disabled_algorithms)
    options = transport.get_security_options()
    options.ciphers = aead_first(options.ciphers)
    return transport


__all__ = ["AEAD_FIRST", "aead_first", "new_transport"]
