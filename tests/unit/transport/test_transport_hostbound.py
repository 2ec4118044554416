"""The host's bound on a remote command: the argv the host runs (pure), the fixed script that
runs it (for real, under the local ``sh`` and coreutils ``timeout``, as a host runs it), and
what one connection learns about a host without ``timeout``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from host_procs import mark, running

from checkpointctl.errors import HostBoundMissing
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.hostbound import (
    BOUND_SCRIPT,
    KILL_AFTER,
    PROBE,
    TIMED_OUT_STATUSES,
    bounded,
    controller_wait,
    seconds_text,
    timed_out,
)
from checkpointctl.transport.ssh.bound import BoundState, HostBound
from checkpointctl.transport.ssh.exec import command_line, remote_argv
from checkpointctl.transport.ssh.privilege import Sudo

HOSTILE = ["it's", "$(touch /tmp/pwned)", "; exit 9", "a\nb", "", "-k", "--", "*"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(1, "1"), (0.5, "0.5"), (60.0, "60"), (1e6, "1000000"), (1.23456, "1.235"), (0, "0.001")],
)
def test_durations_are_plain_decimals_and_never_zero(seconds: float, text: str) -> None:
    """``timeout 0`` would mean no bound at all, and an exponent is no duration to it."""
    assert seconds_text(seconds) == text


def test_a_timeout_that_is_not_a_number_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        seconds_text(float("inf"))


def test_the_bound_wraps_the_argv_as_positional_parameters_of_a_fixed_script() -> None:
    argv = ["printf", "%s", *HOSTILE]
    assert bounded(argv, 1.5) == (
        "sh",
        "-c",
        BOUND_SCRIPT,
        "sh",
        seconds_text(KILL_AFTER),
        "1.5",
        *argv,
    )


def test_with_sudo_the_bound_runs_inside_sudo_so_it_can_kill_the_command() -> None:
    """``timeout`` outside ``sudo`` could signal only sudo (and SIGKILL is not passed on)."""
    argv = ["apt-get", "-s", "upgrade"]
    wrapped = remote_argv(argv, timeout=60, sudo=Sudo("root"))
    assert wrapped[:5] == ("sudo", "-n", "-u", "root", "--")
    assert wrapped[5:] == bounded(argv, 60)
    with_password = remote_argv(argv, timeout=60, sudo=Sudo("root", b"pw"))
    assert with_password[with_password.index("--") + 1 :] == bounded(argv, 60)
    assert b"pw" not in command_line(with_password).encode()
    assert remote_argv(argv, timeout=60, sudo=None) == bounded(argv, 60)
    assert remote_argv(argv, timeout=60, sudo=None, bound=False) == tuple(argv)


def test_a_status_is_a_timeout_only_once_the_bound_can_have_fired() -> None:
    assert timed_out(124, 1.0, 1)
    assert timed_out(137, 9.0, 1)
    assert not timed_out(124, 0.4, 1)  # the command's own 124: the bound cannot fire that early
    assert not timed_out(1, 9.0, 1)
    assert not timed_out(0, 9.0, 1)
    assert controller_wait(1) > 1 + KILL_AFTER


# -- the script, run for real -------------------------------------------------------------------


def run_bounded(
    argv: list[str], seconds: float, *, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["/bin/sh", *bounded(argv, seconds)[1:]],
        input=stdin,
        capture_output=True,
        timeout=30 + KILL_AFTER,
        env=env,
        check=False,
    )


def test_a_bounded_command_keeps_its_stdin_output_and_status() -> None:
    done = run_bounded(
        ["sh", "-c", 'cat; printf "%s|" "$@"; echo err >&2; exit 3', "sh", *HOSTILE],
        30,
        stdin=b"in\n",
    )
    assert done.returncode == 3
    assert done.stdout == b"in\n" + "".join(f"{a}|" for a in HOSTILE).encode()
    assert done.stderr == b"err\n"


@pytest.mark.parametrize(
    "script",
    [
        'sleep "$1"',
        'trap "" TERM; sleep "$1"',  # SIGTERM ignored: the SIGKILL after KILL_AFTER
        '(trap "" TERM; sleep "$1" 2>/dev/null) & sleep "$1"',  # only a grandchild ignores it
    ],
)
def test_nothing_of_a_command_outlives_its_bound(script: str) -> None:
    """The last case is why ``timeout`` runs under a script: ``timeout`` exits with its child,
    and the grandchild that ignored SIGTERM would be left running."""
    tag = mark()
    try:
        done = run_bounded(["sh", "-c", script, "sh", tag], 0.3)
        assert done.returncode in TIMED_OUT_STATUSES
        assert running(tag) == []
    finally:
        for pid in running(tag):
            os.kill(pid, 9)


def test_a_host_without_timeout_answers_127_and_runs_nothing(tmp_path: Path) -> None:
    (tmp_path / "sh").symlink_to("/bin/sh")
    (tmp_path / "touch").symlink_to("/bin/touch")
    done = run_bounded(["touch", str(tmp_path / "ran")], 5, env={"PATH": str(tmp_path)})
    assert done.returncode == 127
    assert not (tmp_path / "ran").exists()


# -- what a connection learns -------------------------------------------------------------------
# A host without ``timeout`` cannot be made on the shared lab without removing a system binary
# every lab host shares, so the probe's answers are stood in for here (the script's own answer
# on such a host is tested for real above).


class Probe:
    def __init__(self, rc: int) -> None:
        self.rc = rc
        self.calls: list[tuple[str, ...]] = []

    def __call__(self, argv: tuple[str, ...]) -> CommandResult:
        self.calls.append(argv)
        return CommandResult(argv, self.rc, b"", b"sh: 1: timeout: not found\n" if self.rc else b"")


def test_a_command_that_succeeded_proves_the_bound_without_a_probe() -> None:
    bound = HostBound("cp-1")
    bound.succeeded()
    probe = Probe(127)
    bound.prove(probe, "timeout -k 3 10 true")
    assert probe.calls == []
    assert bound.state is BoundState.PROVEN


def test_a_failure_before_any_success_probes_once_and_a_good_host_is_proven() -> None:
    bound = HostBound("cp-1")
    probe = Probe(0)
    bound.prove(probe, "timeout -k 3 10 true")
    bound.prove(probe, "timeout -k 3 10 true")
    assert probe.calls == [PROBE]
    assert bound.state is BoundState.PROVEN
    bound.require()


def test_a_host_without_timeout_refuses_every_later_command_without_a_round_trip() -> None:
    bound = HostBound("cp-1 (10.0.0.1:22)")
    probe = Probe(127)
    shown = "sudo -n -u root -- timeout -k 3 10 true"
    with pytest.raises(HostBoundMissing, match=r"cp-1 \(10\.0\.0\.1:22\): cannot bound") as info:
        bound.prove(probe, shown)
    assert f"`{shown}` failed: sh: 1: timeout: not found" in str(info.value)
    assert "install coreutils" in str(info.value)
    with pytest.raises(HostBoundMissing):
        bound.require()
    with pytest.raises(HostBoundMissing):
        bound.prove(probe, shown)
    assert probe.calls == [PROBE]
