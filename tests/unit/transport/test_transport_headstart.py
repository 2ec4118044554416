"""Connections opened ahead of the engine: handed out once, errors kept, the rest closed.

The connect function here records what it opened and can be held back with an event; a real
``connect`` is SSH, which the lab tests exercise through every ``drift`` and ``apply``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

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


_FIRST_IMPORTS = r"""
import sys, threading

in_threads = []


class Spy:
    def find_spec(self, name, path=None, target=None):
        if threading.current_thread() is not threading.main_thread():
            in_threads.append(name)
        return None


sys.meta_path.insert(0, Spy())
from checkpointctl.model import Host
from checkpointctl.transport.connect import connect
from checkpointctl.transport.headstart import HeadStart

# a port nobody listens on: the connect fails at once, after its imports
host = Host("h1", "127.0.0.1", port=1, connect_timeout=5.0, identity_file=sys.argv[1])
with HeadStart(connect, [host], width=1) as early:
    try:
        early.connect(host)
    except Exception as e:
        print("connect:", type(e).__name__, e)
print("imported in the head start's thread:", sorted(set(in_threads)))
"""


def test_the_head_starts_threads_import_nothing_the_caller_may_import_at_the_same_time(
    tmp_path: Path,
) -> None:
    """The SSH stack's first import (paramiko, cryptography, importlib.metadata and
    importlib.resources through them) happens in the caller's thread: done in a head-start
    thread while the caller imported the policy stack, importlib's own module locks deadlocked
    (``_DeadlockError``, a lab test's drift ended as an internal error). A fresh interpreter, so
    nothing is imported yet."""
    key = tmp_path / "id_ed25519"
    key.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    key.chmod(0o600)
    proc = subprocess.run(
        [sys.executable, "-c", _FIRST_IMPORTS, str(key)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "connect: HostUnreachable" in proc.stdout
    assert "imported in the head start's thread: []" in proc.stdout, proc.stdout
