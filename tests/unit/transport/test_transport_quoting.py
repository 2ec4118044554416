"""argv -> remote command string: what the remote shell splits must be exactly the argv we gave.

``command_line`` is the one place checkpointctl turns argv into shell text (the SSH protocol
carries a string). These tests split that string back with a real POSIX shell, the way sshd's
login shell does, and compare byte for byte.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkpointctl.transport.command import check_argv
from checkpointctl.transport.ssh.exec import command_line

HOSTILE = [
    ["echo", "two words", "  leading and trailing  "],
    ["echo", "it's", 'say "hi"', "back\\slash"],
    ["echo", "$(touch /tmp/pwned)", "`id`", "${HOME}", "$HOME"],
    ["echo", "a; rm -rf /", "x && y", "p | q", "r > s", "< t"],
    ["echo", "line1\nline2", "tab\there", "\r"],
    ["echo", "", "*", "?", "[a-z]", "~", "#comment", "!"],
    ["echo", "ünïcödé", "日本", "emoji 🙂"],
    ["--", "-n", "-e", "--help"],
]


def split_by_shell(line: str) -> list[str]:
    """What a POSIX shell makes of ``line`` as arguments: printf them NUL-terminated."""
    out = subprocess.run(
        ["/bin/sh", "-c", "printf '%s\\0' " + line], capture_output=True, check=True
    ).stdout
    return out.decode().split("\0")[:-1]


@pytest.mark.parametrize("argv", HOSTILE, ids=lambda a: repr(a[1] if len(a) > 1 else a[0]))
def test_hostile_arguments_reach_the_program_unchanged(argv: list[str]) -> None:
    line = command_line(argv)
    assert shlex.split(line) == argv
    assert split_by_shell(line) == argv


def test_command_substitution_is_not_executed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    line = command_line(["echo", f"$(touch {marker})", f"; touch {marker}", f"`touch {marker}`"])
    assert len(split_by_shell(line)) == 4
    assert not marker.exists()


ARG = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\0"), max_size=20
)


@settings(max_examples=300, deadline=None)
@given(st.lists(ARG, min_size=1, max_size=6))
def test_any_argv_round_trips_through_shlex(argv: list[str]) -> None:
    assert shlex.split(command_line(argv)) == argv


@settings(max_examples=40, deadline=None)
@given(st.lists(ARG, min_size=1, max_size=4))
def test_any_argv_round_trips_through_a_real_shell(argv: list[str]) -> None:
    assert split_by_shell(command_line(argv)) == argv


def test_a_string_is_refused_as_argv() -> None:
    with pytest.raises(TypeError, match="not a single string"):
        command_line("rm -rf /")


@pytest.mark.parametrize(
    ("argv", "error"),
    [([], ValueError), (["echo", "nul\0byte"], ValueError), (["echo", 3], TypeError)],
)
def test_invalid_argv_is_refused(argv: list[object], error: type[Exception]) -> None:
    with pytest.raises(error):
        check_argv(argv)  # type: ignore[arg-type]
