"""A command the controller stops waiting for stops on the host too.

Over SSH, closing a channel does not stop its command (sshd does not signal a command without a
terminal), so every timed command is bounded on the host with coreutils ``timeout``
(:mod:`checkpointctl.transport.hostbound`), except a command batch and the kept shell's
requests, whose process group the controller kills through a new channel. Each test runs a
command that outlives its timeout through one path of the SSH transport (one command, a batch,
the kept shell, the host lock's held shell), as root and as the unprivileged lab user with sudo,
and then looks for it on the host with ``ps`` run inside the host's namespaces (``on_host``),
not through the transport under test. Each command carries a number nothing else on the host
has, so what ``ps`` finds is it.
"""

from __future__ import annotations

import secrets
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from checkpointctl.errors import CommandTimedOut
from checkpointctl.lab import LabInfo
from checkpointctl.lab.layout import LAB_USER
from checkpointctl.model import Become, Host
from checkpointctl.transport.base import Command
from checkpointctl.transport.connect import connect
from checkpointctl.transport.ssh import SshTransport

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]

LOGINS = ("root", "become")


def marker() -> str:
    """A ``sleep`` duration (seconds) no other process on the host has: the command's name tag.
    Long enough that finding it after the test means it was left behind."""
    return f"97.{secrets.randbelow(10**6):06d}"


def still_running(on_host: OnHost, host: str, mark: str) -> list[str]:
    """The host's processes whose command line holds ``mark`` (``ps`` inside the host)."""
    listing = on_host(host, ["ps", "-eo", "pid,user,args"]).stdout
    return [line for line in listing.splitlines() if mark in line and "ps -eo" not in line]


@pytest.fixture(scope="module")
def host_name(lab: LabInfo) -> str:
    return lab.light_hosts[0].name


@pytest.fixture(params=LOGINS)
def transport(
    request: pytest.FixtureRequest, lab: LabInfo, host_name: str
) -> Iterator[SshTransport]:
    """An SSH transport to the host, logged in as root or as the lab user escalating with sudo."""
    become = request.param == "become"
    host = Host(
        name=host_name,
        address=lab.host(host_name).address,
        identity_file=str(lab.identity_file),
        known_hosts=str(lab.known_hosts),
        connect_timeout=10.0,
        user=LAB_USER if become else "root",
        become=Become() if become else None,
    )
    opened = connect(host)
    assert isinstance(opened, SshTransport)
    yield opened
    opened.close()


@pytest.fixture
def marks(on_host: OnHost, host_name: str) -> Iterator[list[str]]:
    """The markers a test used; whatever still carries one afterwards is killed (a failed test
    must not leave its sleeps on the shared lab)."""
    used: list[str] = []
    yield used
    for mark in used:
        on_host(host_name, ["pkill", "-KILL", "-f", mark], check=False)


def test_a_command_that_times_out_is_ended_on_the_host(
    transport: SshTransport, on_host: OnHost, host_name: str, marks: list[str]
) -> None:
    mark = marker()
    marks.append(mark)
    with pytest.raises(CommandTimedOut, match=f"`sleep {mark}` did not finish within 1s"):
        transport.run(["sleep", mark], timeout=1)
    assert still_running(on_host, host_name, mark) == []
    assert transport.run(["echo", "still usable"]).stdout == b"still usable\n"


@pytest.mark.parametrize(
    "script",
    [
        'trap "" TERM; sleep "$1"; echo not reached',  # inherited by the sleep: SIGKILL needed
        '(trap "" TERM; sleep "$1" 2>/dev/null) & sleep "$1"',  # only a grandchild ignores it
    ],
)
def test_a_command_that_ignores_sigterm_is_killed(
    transport: SshTransport, on_host: OnHost, host_name: str, marks: list[str], script: str
) -> None:
    """SIGTERM ignored: the host's SIGKILL ends it, and the controller still reports a timeout,
    not a failure or an unreachable host. In the second case ``timeout``'s own child dies of
    SIGTERM and ``timeout`` exits with it: what is left of its group is killed after it."""
    mark = marker()
    marks.append(mark)
    with pytest.raises(CommandTimedOut):
        transport.run(["sh", "-c", script, "sh", mark], timeout=1, check=False)
    assert still_running(on_host, host_name, mark) == []


def test_a_batch_that_times_out_is_ended_on_the_host(
    transport: SshTransport, on_host: OnHost, host_name: str, marks: list[str]
) -> None:
    mark = marker()
    marks.append(mark)
    batch = [
        Command.of(["true"], timeout=1),
        Command.of(["sleep", mark], timeout=1),
        Command.of(["echo", "after"], timeout=1),
    ]
    with pytest.raises(CommandTimedOut, match="did not finish within 3s"):
        transport.run_many(batch)
    assert still_running(on_host, host_name, mark) == []


def test_a_kept_shell_request_that_times_out_is_ended_on_the_host(
    transport: SshTransport, on_host: OnHost, host_name: str, marks: list[str]
) -> None:
    mark = marker()
    marks.append(mark)
    assert transport.keep_shell()
    first = transport.run_many([Command.of(["echo", "a"]), Command.of(["echo", "b"])])
    assert [r.stdout for r in first] == [b"a\n", b"b\n"]
    # through the eval'd ``sh -c`` form of the runner and through its exec'd form
    timed = [
        Command.of(["sh", "-c", 'sleep "$1"', "sh", mark], timeout=1),
        Command.of(["sleep", mark], timeout=1),
    ]
    with pytest.raises(CommandTimedOut, match="did not finish within 2s"):
        transport.run_many(timed)
    assert still_running(on_host, host_name, mark) == []
    # the shell was given up; the next batch starts another one
    again = transport.run_many([Command.of(["echo", "c"]), Command.of(["echo", "d"])])
    assert [r.stdout for r in again] == [b"c\n", b"d\n"]


def test_a_request_in_the_held_lock_shell_that_times_out_is_ended_on_the_host(
    transport: SshTransport, on_host: OnHost, host_name: str, marks: list[str]
) -> None:
    """The host lock's held shell answers batches while the lock is lent: its requests are
    bounded too (the lock is given up with the shell, as it was when the controller stopped
    waiting)."""
    from checkpointctl.engine.lock import LockPaths, acquire, current_owner

    mark = marker()
    marks.append(mark)
    state = f"/tmp/test-host-bound-lock-{uuid.uuid4().hex[:8]}"
    lock = acquire(transport, current_owner(), paths=LockPaths.under(state))
    try:
        assert lock.lend_shell() is True
        with pytest.raises(CommandTimedOut):
            transport.run_many(
                [Command.of(["true"], timeout=1), Command.of(["sleep", mark], timeout=1)]
            )
        assert still_running(on_host, host_name, mark) == []
    finally:
        lock.release()
        on_host(host_name, ["rm", "-rf", state])
