"""The cipher order: AES-GCM first, and the server's choice still honoured.

A real paramiko server on the other end of a socket pair negotiates with the client transport
checkpointctl makes (the lab's OpenSSH is checked in tests/integration/test_transport.py)."""

from __future__ import annotations

import socket
import threading

import pytest

from checkpointctl.errors import TransportError
from checkpointctl.transport.ssh.ciphers import AEAD_FIRST, aead_first, new_transport
from checkpointctl.transport.sshlib import paramiko


def _paramikos_order() -> tuple[str, ...]:
    near, far = socket.socketpair()
    try:
        return tuple(paramiko.Transport(near).get_security_options().ciphers)
    finally:
        near.close()
        far.close()


DEFAULT = _paramikos_order()


def test_aead_first_moves_gcm_to_the_front_and_keeps_every_other_cipher() -> None:
    ordered = aead_first(DEFAULT)
    assert ordered[: len(AEAD_FIRST)] == AEAD_FIRST
    assert sorted(ordered) == sorted(DEFAULT)
    others = [c for c in DEFAULT if c not in AEAD_FIRST]
    assert [c for c in ordered if c not in AEAD_FIRST] == others
    assert aead_first(("aes128-ctr", "aes256-gcm@openssh.com")) == (
        "aes256-gcm@openssh.com",
        "aes128-ctr",
    )
    assert aead_first(("aes128-ctr",)) == ("aes128-ctr",)


def _negotiated(server_ciphers: tuple[str, ...]) -> str:
    """The cipher a client from :func:`new_transport` and a paramiko server offering
    ``server_ciphers`` agree on (key exchange only: no login needed)."""
    near, far = socket.socketpair()
    server = paramiko.Transport(far)
    server.add_server_key(paramiko.ECDSAKey.generate())
    server.get_security_options().ciphers = server_ciphers
    done = threading.Event()
    server.start_server(event=done, server=paramiko.ServerInterface())
    client = new_transport(near, gss_kex=False, gss_deleg_creds=True, disabled_algorithms=None)
    try:
        client.start_client(timeout=10)
        return str(client.local_cipher)
    finally:
        client.close()
        server.close()


def test_a_server_offering_gcm_gets_it_and_one_without_gets_what_it_got_before() -> None:
    assert DEFAULT[0] == "aes128-ctr"  # paramiko's own first choice
    assert _negotiated(DEFAULT) == "aes128-gcm@openssh.com"
    assert _negotiated(("aes256-gcm@openssh.com", "aes128-ctr")) == "aes256-gcm@openssh.com"
    # the client's order decides among what both offer: without GCM, paramiko's first
    assert _negotiated(("aes256-ctr", "aes128-ctr")) == "aes128-ctr"


def test_a_gss_api_key_exchange_is_refused() -> None:
    near, far = socket.socketpair()
    with pytest.raises(TransportError, match="GSS-API"):
        new_transport(near, gss_kex=True, gss_deleg_creds=True, disabled_algorithms=None)
    near.close()
    far.close()
