"""Connections opened ahead of the engine: handed out once, errors kept, the rest closed.

The connect function here records what it opened and can be held back with an event; a real
``connect`` is SSH, which the lab tests exercise through every ``drift`` and ``apply``.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest

from checkpointctl.errors import HostUnreachable
from checkpointctl.model import Host
from checkpointctl.transport.base import Transport
from checkpointctl.transport.headstart import HeadStart
from checkpointctl.transport.local import LocalTransport

HOSTS = [Host(f"h{i}", f"10.0.0.{i}") for i in range(1, 6)]


class Opener:
    """A connect that counts per host, can fail for one host and can be held back."""

    def __init__(self, fail: str | None = None) -> None:
        self.opened: list[str] = []
        self.closed: list[str] = []
        self.release = threading.Event()
        self.release.set()
        self.fail = fail
        self._lock = threading.Lock()

    def __call__(self, host: Host) -> Transport:
        self.release.wait(10)
        with self._lock:
            self.opened.append(host.name)
        if host.name == self.fail:
            raise HostUnreachable(f"{host.name}: connection refused")
        opener = self

        class Recorded(LocalTransport):
            def close(self) -> None:
                with opener._lock:
                    opener.closed.append(host.name)

        return Recorded(host)


def _wait_for(condition: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_the_first_hosts_are_opened_ahead_and_handed_out_once() -> None:
    opener = Opener()
    with HeadStart(opener, HOSTS, width=3) as early:
        _wait_for(lambda: len(opener.opened) == 3)
        assert sorted(opener.opened) == ["h1", "h2", "h3"]  # only the first `width` hosts
        first = early.connect(HOSTS[0])
        assert first.host == HOSTS[0]
        assert early.connect(HOSTS[0]) is not first  # a second ask connects anew
        early.connect(HOSTS[4])  # not opened ahead: connected when asked
    assert sorted(opener.opened) == ["h1", "h1", "h2", "h3", "h5"]
    _wait_for(lambda: len(opener.closed) == 2)
    assert sorted(opener.closed) == ["h2", "h3"]  # opened ahead, never asked for


def test_a_failed_early_connect_is_raised_when_asked_for() -> None:
    opener = Opener(fail="h2")
    with HeadStart(opener, HOSTS, width=5) as early, pytest.raises(HostUnreachable, match="h2"):
        early.connect(HOSTS[1])


def test_changed_host_settings_connect_again() -> None:
    opener = Opener()
    with HeadStart(opener, HOSTS, width=1) as early:
        changed = replace(HOSTS[0], trust_on_first_use=True)
        assert early.connect(changed).host == changed
        _wait_for(lambda: "h1" in opener.closed)
    assert opener.opened == ["h1", "h1"]
    assert opener.closed == ["h1"]  # the early one, made with the old settings


def test_closing_does_not_wait_for_a_slow_connect() -> None:
    """A policy that fails to load ends the run at once, whatever the hosts are doing; the
    late connection is closed when it arrives."""
    opener = Opener()
    opener.release.clear()
    started = time.monotonic()
    with HeadStart(opener, HOSTS[:1], width=1):
        pass
    assert time.monotonic() - started < 1.0
    opener.release.set()
    _wait_for(lambda: opener.closed == ["h1"])
    assert opener.closed == ["h1"]
