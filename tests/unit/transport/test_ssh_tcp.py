"""The TCP connection under SSH: no Nagle delay, quick acknowledgements, plain socket errors."""

from __future__ import annotations

import socket
import threading

import pytest

from checkpointctl.transport.ssh.tcp import QuickAckSocket, connect_tcp


def _listener() -> socket.socket:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    return server


def test_connection_sends_without_nagle_and_reads_what_the_peer_writes() -> None:
    server = _listener()
    port = server.getsockname()[1]

    def answer() -> None:
        peer, _ = server.accept()
        with peer:
            peer.sendall(peer.recv(5)[::-1])

    thread = threading.Thread(target=answer)
    thread.start()
    try:
        with connect_tcp("127.0.0.1", port, 5.0) as sock:
            assert isinstance(sock, QuickAckSocket)
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
            assert sock.gettimeout() == 5.0
            sock.sendall(b"hello")
            assert sock.recv(5) == b"olleh"
    finally:
        thread.join(5)
        server.close()


def test_a_closed_port_is_the_socket_layers_error() -> None:
    server = _listener()
    port = server.getsockname()[1]
    server.close()
    with pytest.raises(ConnectionRefusedError):
        connect_tcp("127.0.0.1", port, 5.0)
