"""The firewall's post-load access check against a busy sshd, on loopback: a connection that is
accepted and closed without a banner (what sshd past MaxStartups does) is retried; a refused
connect is a lock-out at once; a banner is success."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from checkpointctl.resources.firewall import resource as firewall


def _server(closes_first: int, *, banner: bool = True) -> Iterator[tuple[int, list[int]]]:
    """A listener that closes its first ``closes_first`` connections unanswered."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()
    seen: list[int] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            seen.append(1)
            with conn:
                if len(seen) > closes_first and banner:
                    conn.sendall(b"SSH-2.0-OpenSSH_fake\r\n")

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield srv.getsockname()[1], seen
    finally:
        srv.close()


@pytest.fixture
def busy() -> Iterator[tuple[int, list[int]]]:
    yield from _server(2)


@pytest.fixture
def always_busy() -> Iterator[tuple[int, list[int]]]:
    yield from _server(1000, banner=False)


def test_a_busy_sshd_is_retried_until_it_answers(busy: tuple[int, list[int]]) -> None:
    port, seen = busy
    assert firewall._ssh_banner("127.0.0.1", port, 2.0) is None
    assert len(seen) == 3


def test_an_sshd_that_never_answers_fails_after_the_tries(
    always_busy: tuple[int, list[int]],
) -> None:
    port, seen = always_busy
    problem = firewall._ssh_banner("127.0.0.1", port, 2.0)
    assert problem is not None
    assert "no SSH banner" in problem
    assert len(seen) == firewall.BANNER_TRIES


def test_a_refused_connect_is_a_lock_out_at_once() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    problem = firewall._ssh_banner("127.0.0.1", port, 2.0)
    assert problem is not None
    assert "failed" in problem
