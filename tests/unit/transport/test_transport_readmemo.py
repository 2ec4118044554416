"""Reads answered from memory while their files are unchanged (transport.readmemo).

The memo runs here over the local transport: real ``sh``, real GNU ``stat`` and real files in a
temporary directory, so every answer, kept or fresh, is what a host would give. A test that
needs an answer kept uses ``racy_seconds=0`` and lets one clock tick pass after writing (files
it just wrote are otherwise too recent to keep, which is what the racy test proves).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from checkpointctl.model import Host
from checkpointctl.transport.base import Command, CommandResult, Watch
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.readmemo import Probe, ReadMemo, judge, probe_command

CAT_ALL = (
    'for f in "$1"/*; do [ -f "$f" ] && printf "%s=%s\\n" "${f##*/}" "$(cat "$f")"; done; true'
)


def settle() -> None:
    """Let the kernel's file-time clock tick (at most 10 ms) past the last write."""
    time.sleep(0.05)


class Counting:
    """The local transport's ``run_many``, keeping every request it was given."""

    def __init__(self) -> None:
        self.transport = LocalTransport(Host(name="local", address="127.0.0.1"))
        self.requests: list[list[Command]] = []

    def __call__(self, commands: Sequence[Command]) -> list[CommandResult]:
        self.requests.append(list(commands))
        return self.transport.run_many(commands)


def cat_all(directory: Path) -> Command:
    return Command(
        ("sh", "-c", CAT_ALL, "sh", str(directory)),
        watch=Watch(paths=(str(directory),), globs=(f"{directory}/*",)),
    )


def always(text: str) -> Command:
    """A command with no watch: its answer may change with no file changing."""
    return Command(("sh", "-c", 'printf "%s\\n" "$1"', "sh", text))


def test_an_unchanged_directory_is_answered_from_memory_and_unwatched_commands_still_run(
    tmp_path: Path,
) -> None:
    (tmp_path / "a").write_text("1")
    settle()
    run = Counting()
    memo = ReadMemo(racy_seconds=0)
    commands = [cat_all(tmp_path), always("fresh")]
    first = memo.run_many(run, commands)
    second = memo.run_many(run, commands)
    assert [r.stdout for r in first] == [b"a=1\n", b"fresh\n"]
    assert second == first
    assert memo.hits == 1
    # the second request ran the probe and the unwatched command only
    assert len(run.requests) == 2
    assert run.requests[1][1:] == [commands[1]]
    assert run.requests[1][0].argv[:2] == ("sh", "-c")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda d: (d / "a").write_text("2"), id="content"),
        pytest.param(lambda d: (d / "a").chmod(0o600), id="mode"),
        pytest.param(lambda d: (d / "b").write_text("new"), id="new-file"),
        pytest.param(lambda d: (d / "a").unlink(), id="removed"),
        pytest.param(lambda d: (d / "a").rename(d / "c"), id="renamed"),
    ],
)
def test_any_change_to_a_watched_file_is_read_again(tmp_path: Path, change: object) -> None:
    (tmp_path / "a").write_text("1")
    settle()
    run = Counting()
    memo = ReadMemo(racy_seconds=0)
    command = cat_all(tmp_path)
    memo.run_many(run, [command])
    assert callable(change)
    change(tmp_path)
    [answer] = memo.run_many(run, [command])
    assert answer == run.transport.run_many([command])[0]
    assert memo.hits == 0
    assert len(run.requests) == 3  # probe + rest, then probe + the watched read again


def test_a_same_size_rewrite_in_the_same_clock_tick_is_never_served_from_memory(
    tmp_path: Path,
) -> None:
    """The racy case: a change right after the probe may leave every field equal, so an
    answer whose files changed within RACY_SECONDS of the probe is not kept at all."""
    (tmp_path / "a").write_text("1")
    run = Counting()
    memo = ReadMemo()  # the real window: the file was written just now
    command = cat_all(tmp_path)
    memo.run_many(run, [command])
    (tmp_path / "a").write_text("2")
    [answer] = memo.run_many(run, [command])
    assert answer.stdout == b"a=2\n"
    assert memo.hits == 0
    assert len(run.requests[1]) == 2  # read in full: nothing was kept


def test_a_path_that_must_be_absent_stops_the_memo_while_it_exists(tmp_path: Path) -> None:
    pid = tmp_path / "timer.pid"
    command = Command(
        ("sh", "-c", 'cat "$1" 2>/dev/null; true', "sh", str(pid)),
        watch=Watch(paths=(str(tmp_path),), absent=(str(pid),)),
    )
    run = Counting()
    memo = ReadMemo(racy_seconds=0)
    pid.write_text(str(os.getpid()))
    settle()
    memo.run_many(run, [command])
    memo.run_many(run, [command])
    assert memo.hits == 0
    pid.unlink()
    settle()
    memo.run_many(run, [command])
    memo.run_many(run, [command])
    assert memo.hits == 1


def test_a_host_whose_stat_does_not_answer_as_gnu_stat_is_read_in_full_from_then_on(
    tmp_path: Path,
) -> None:
    memo = ReadMemo(racy_seconds=0)
    requests: list[list[Command]] = []
    local = LocalTransport(Host(name="local", address="127.0.0.1"))

    def busybox_like(commands: Sequence[Command]) -> list[CommandResult]:
        requests.append(list(commands))
        results = local.run_many(commands)
        if commands[0].argv[2].startswith("n=$1"):  # the probe: answer as a foreign stat
            results[0] = CommandResult(commands[0].argv, 0, b"1796677909 /proc/self/fd/0\n", b"")
        return results

    command = cat_all(tmp_path)
    memo.run_many(busybox_like, [command])
    memo.run_many(busybox_like, [command])
    assert [len(r) for r in requests] == [2, 1]  # after the unusable probe, no probe at all


def test_the_probe_covers_every_directory_on_the_way_and_is_the_same_in_any_order() -> None:
    one = Watch(paths=("/etc/checkpoint/credentials",), globs=("/etc/checkpoint/*/x.json",))
    two = Watch(paths=("/var/run/docker.sock",), absent=("/var/lib/c/pid",))
    probe = probe_command([one, two])
    assert probe == probe_command([two, one])
    argv = probe.argv
    count = int(argv[4])
    plain, patterns = argv[5 : 5 + count], argv[5 + count :]
    assert set(plain) >= {
        "/etc",
        "/etc/checkpoint",
        "/etc/checkpoint/credentials",
        "/var",
        "/var/run",
        "/var/run/docker.sock",
        "/var/lib/c",
        "/var/lib/c/pid",
    }
    assert patterns == ("/etc/checkpoint/*/x.json",)


def test_the_probe_lists_matches_with_their_directory_and_the_hosts_clock(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x.json").write_text("{}")
    (tmp_path / "name with space").mkdir()
    (tmp_path / "name with space" / "x.json").write_text("{}")
    probe = probe_command([Watch(globs=(f"{tmp_path}/*/x.json", f"{tmp_path}/none/*"))])
    local = LocalTransport(Host(name="local", address="127.0.0.1"))
    [answer] = local.run_many([probe])
    names = [line.split(" ", 9)[-1] for line in answer.stdout.decode().splitlines()]
    assert names[0] == "/proc/self/fd/0"
    assert f"{tmp_path}/d/x.json" in names
    assert f"{tmp_path}/d" in names
    assert f"{tmp_path}/name with space/x.json" in names
    assert not any("none" in n for n in names)
    assert judge(answer, ()) is Probe.READ  # written just now: too recent to keep
    settle()
    [later] = local.run_many([probe])
    assert judge(later, (), racy_seconds=0) is Probe.KEEP
    assert judge(later, (f"{tmp_path}/d",), racy_seconds=0) is Probe.READ
