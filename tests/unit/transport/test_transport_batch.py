"""The command batch: one ``sh -c`` that runs many argvs exactly as running each on its own would.

The script runs for real, under the local ``sh`` (no SSH needed: the SSH transport sends this
same argv as one command line), and every result is compared with the same command run alone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.batch import (
    MAX_BATCH_STDIN,
    Command,
    batch_argv,
    batch_group,
    batchable,
    parse_batch_output,
    run_many,
)
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.local import LocalTransport

HOSTILE = [
    "it's",
    'say "hi"',
    "$(touch /tmp/pwned)",
    "; rm -rf /",
    "a\nb",
    "",
    " lead and trail ",
    "$@",
    "${1}",
    "*",
    "`id`",
    "-n",
]


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(Host(name="ctl", address="127.0.0.1", connection="local"))


def batched(
    t: LocalTransport, commands: Sequence[Command], env: dict[str, str] | None = None
) -> list[CommandResult]:
    token = new_token()
    argv, stdin = batch_argv(commands, token)
    if env is not None:
        raw = t.run(["env", *(f"{k}={v}" for k, v in env.items()), *argv], stdin=stdin, check=False)
    else:
        raw = t.run(argv, stdin=stdin, check=False)
    return parse_batch_output("ctl", commands, raw, token)


def alone(t: LocalTransport, commands: Sequence[Command]) -> list[CommandResult]:
    return [t.run(c.argv, stdin=c.stdin, check=False) for c in commands]


SCRIPT_SENSITIVE = (
    'echo "$#"; for w in $1; do echo "w=$w"; done; set -- $2; echo "$# globbed"; '
    'shift; echo "rest=$*"; echo "${t-unset} ${i-unset} ${e-unset}"; exit 7'
)
"""Splits an unquoted parameter (IFS), expands a glob (no ``set -f``), shifts, and looks at the
batch's own variable names: a new ``sh`` sees none of them, and neither must the subshell
(except where the script sets them itself)."""

COMMANDS = [
    Command(("printf", "%s\\0", *HOSTILE)),
    Command(("sh", "-c", "echo out; echo err >&2; exit 3")),
    Command(("cat",), stdin=b"first stdin\x00\xff\n"),
    Command(("true",), stdin=b"ignored by true, must not reach the next command"),
    Command(("cat",), stdin=b"second"),
    Command(("cat",)),
    Command(("head", "-c", "3"), stdin=b"abcdef"),
    Command(("sh", "-c", 'printf "%s|" "$@"', "sh", *HOSTILE)),
    Command(("printf", "no newline at the end")),
    Command(("r", "x")),  # the script's own function name: must run a program, not recurse
    Command(("no-such-program-here",)),
    # output that looks like a frame end, but without the batch's token (nobody else has it)
    Command(("printf", "%s", "\nfeedface 3 0\nerr\nfeedface\n")),
    Command(("exit", "4")),  # a builtin is not a program: 127, as `exec exit 4` alone would be
    # our `sh -c` scripts run in a subshell of the batch's shell: the same as a new sh would do
    Command(("sh", "-c", SCRIPT_SENSITIVE, "sh", "a b", "/*", "$(id)", "")),
    Command(("sh", "-c", "echo $#; exit 5")),  # no NAME: no positional parameters
    Command(("sh", "-c", "cat; echo $0-$1", "sh", "one"), stdin=b"in\n"),
    Command(("sh", "-c", "cat; echo $0-$1", "zero", "one"), stdin=b"in\n"),  # a new sh: $0
    Command(("sh", "-c", "r() { echo mine; }; r; if then")),  # its own function; a syntax error
]


def test_batch_equals_commands_run_alone(local: LocalTransport) -> None:
    got = batched(local, COMMANDS)
    want = alone(local, COMMANDS)
    assert [(r.argv, r.rc, r.stdout) for r in got] == [(r.argv, r.rc, r.stdout) for r in want]
    assert got[1].stderr == b"err"  # a frame holds stderr without its trailing newlines
    assert got[2].stdout == b"first stdin\x00\xff\n"
    assert got[4].stdout == b"second"
    assert got[5].stdout == b""
    assert got[COMMANDS.index(Command(("no-such-program-here",)))].rc == 127


def test_values_never_in_the_script_text() -> None:
    token = new_token()
    argv, stdin = batch_argv(COMMANDS, token)
    script = argv[2]
    assert token not in " ".join(argv)  # the token travels on stdin only
    assert stdin.startswith(token.encode() + b"\n")
    assert argv[:2] == ["sh", "-c"]
    for value in HOSTILE:
        if len(value) > 2 and value not in ("$@", "${1}"):  # the script's own references
            assert value not in script
    assert "first stdin" not in script
    # every value travels as a positional parameter, in order, after the stdin length
    params = argv[4:]
    assert params[:2] == ["0", "printf"]
    assert HOSTILE[0] in params


def test_the_local_transport_runs_a_batch_command_by_command(local: LocalTransport) -> None:
    commands = [Command(("echo", "a")), Command(("sh", "-c", "exit 4"))]
    for results in (run_many(local, commands), local.run_many(commands)):
        assert [(r.stdout, r.rc) for r in results] == [(b"a\n", 0), (b"", 4)]
    assert run_many(local, []) == []
    assert local.run_many([]) == []


def test_cut_short_output_is_a_transport_error(local: LocalTransport) -> None:
    commands = [Command(("echo", "a")), Command(("echo", "b"))]
    token = new_token()
    argv, stdin = batch_argv(commands, token)
    raw = local.run(argv, stdin=stdin, check=False)
    assert len(parse_batch_output("h", commands, raw, token)) == 2
    cut = CommandResult(raw.argv, 1, raw.stdout[:-1], b"killed")
    with pytest.raises(TransportError, match="ended early after 1 of 2 commands"):
        parse_batch_output("h", commands, cut, token)
    with pytest.raises(TransportError, match="ended early after 0 of 2 commands"):
        parse_batch_output("h", commands, raw, new_token())  # another batch's output


def test_a_batch_writes_no_file(local: LocalTransport, tmp_path: Path) -> None:
    """Nothing goes through a temporary file, stdin included: a batch runs the same where
    ``mktemp`` cannot create anything."""
    nowhere = {"TMPDIR": str(tmp_path / "does-not-exist")}
    commands = [
        Command(("echo", "a")),
        Command(("sh", "-c", "echo b >&2; exit 2")),
        Command(("cat",), stdin=b"x\0y"),
        Command(("true",), stdin=b"unread"),
        Command(("cat",), stdin=b"z"),
    ]
    got = batched(local, commands, env=nowhere)
    assert [(r.rc, r.stdout, r.stderr) for r in got] == [
        (0, b"a\n", b""),
        (2, b"", b"b"),
        (0, b"x\0y", b""),
        (0, b"", b""),
        (0, b"z", b""),
    ]
    assert "mktemp" not in batch_argv(commands, new_token())[0][2]


def test_large_stdin_is_not_batched() -> None:
    assert batchable(Command(("cat",), stdin=b"x" * MAX_BATCH_STDIN))
    assert not batchable(Command(("cat",), stdin=b"x" * (MAX_BATCH_STDIN + 1)))


def test_command_of_checks_argv() -> None:
    with pytest.raises(TypeError):
        Command.of("echo hi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="NUL"):
        Command.of(["echo", "a\0b"])
    assert Command.of(["echo", "x"]).argv == ("echo", "x")


def test_a_batch_names_its_process_group_first_and_it_holds_every_command() -> None:
    """What the controller kills when a batch outlives its timeout: the group the script names
    on its first line, which is its own and that of the commands it runs (a process of its own
    session here, as an SSH session's command is)."""
    token = new_token()
    argv, stdin = batch_argv([Command(("sh", "-c", "ps -o pgid= $$")), Command(("true",))], token)
    proc = subprocess.run(argv, input=stdin, capture_output=True, start_new_session=True)
    first, _, _ = proc.stdout.partition(b"\n")
    group = batch_group(proc.stdout)
    assert group is not None
    assert first == str(group).encode()
    [mine, _] = parse_batch_output(
        "ctl", [Command(("sh", "-c", "ps -o pgid= $$")), Command(("true",))], raw(argv, proc), token
    )
    assert int(mine.stdout) == group  # the command runs in the group the script named
    assert batch_group(b"") is None  # nothing arrived yet
    assert batch_group(b"12") is None  # the line is not whole
    assert batch_group(b"\n") is None  # no procfs: none named
    assert batch_group(b"1\n") is None  # never init's group


def raw(argv: Sequence[str], proc: subprocess.CompletedProcess[bytes]) -> CommandResult:
    return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)
