"""The kept shell: requests on stdin, framed answers on stdout, identical to running alone.

The server script runs for real under the local ``sh`` (the SSH transport starts this same
script in a channel); each answer is compared with the same command run on its own. The host
lock's held shell (``engine.lock.HELD_SCRIPT``) answers the same requests, each bounded on the
host: its bound is tested here on the real script too.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from host_procs import mark, running

from checkpointctl.engine.lock import HELD, HELD_SCRIPT
from checkpointctl.model import Host
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.checkfunction import CHECK_FUNCTION
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.hostbound import CANNOT_RUN_STATUSES, KILL_AFTER, TIMED_OUT_STATUSES
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.shellserver import (
    FIELD,
    SERVER_SCRIPT,
    decode_response,
    encodable,
    encode_request,
    parse_ready,
)

HOSTILE = ["it's", 'say "hi"', "$(touch /tmp/pwned)", "; exit 9", "a\nb\n", "", " x ", "*", "$@"]
CASES: list[tuple[tuple[str, ...], bytes | None]] = [
    (("printf", "%s|", *HOSTILE), None),
    (("sh", "-c", "echo out; echo err >&2; exit 3"), None),
    (("cat",), b"bytes\x00\xff\nand more"),
    (("true",), b"unread stdin must not leak into the next request"),
    (("cat",), b"second"),
    (("exit", "4"), None),  # a builtin cannot be exec'd: 127, and the server goes on
    (("printf", "%s", "\u00e9t\u00e9"), None),
    (("no-such-program-here",), None),
    (("printf", "%s", "\ncafe 0 0\nerr\ncafe\n"), None),  # a frame end without the token
    (("sh", "-c", 'printf "%s|" "$@"', "sh", *HOSTILE), b"stdin too"),
    # run in a subshell of the server, whose IFS is 0x01 and globbing off between requests
    (("sh", "-c", 'for w in $1; do echo "$w"; done; set -- /*; echo "$#${t-}"', "sh", "a b"), None),
    # the frame token reaches the request's shell in its environment, and no command's
    (("printenv", "t"), None),
    # the safe-path check, which the server defines once (sent without it): a safe directory
    # and a link
    (("sh", "-c", CHECK_FUNCTION + 'cp_chk 1 "$1"; echo "$?"', "sh", "/usr/bin"), None),
    (("sh", "-c", CHECK_FUNCTION + 'cp_chk 1 "$1"; echo "$?"', "sh", "/proc/self"), None),
    # ... but a form the runner starts a new sh for keeps it
    (("sh", "-c", CHECK_FUNCTION + 'cp_chk 1 "$0"; echo "$?"', "/usr/bin"), None),
]


class Server:
    """The kept shell's script (``held``: the host lock's, which bounds its requests)."""

    def __init__(self, env: dict[str, str] | None = None, *, held: Path | None = None) -> None:
        self.token = new_token()
        self.held = held is not None
        argv = ["sh", "-c", SERVER_SCRIPT]
        if held is not None:
            argv = ["sh", "-c", HELD_SCRIPT, "sh", *(str(held / f) for f in ("o", "r", "a"))]
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True
        )
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(self.token.encode() + b"\n")
        self.proc.stdin.flush()
        if held is None:
            # its own process group: the one the controller would kill
            assert parse_ready(self.proc.stdout.readline()) == self.proc.pid
            return
        assert self.proc.stdout.readline() == b"locked\n"
        self.proc.stdin.write(b"{}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline() == b"\n"  # no owner record before ours
        assert self.proc.stdout.readline() == HELD

    def send(
        self, commands: list[tuple[tuple[str, ...], bytes | None]], timeout: float = 60
    ) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(encode_request(commands, bound=timeout if self.held else None))
        self.proc.stdin.flush()

    def call_many(
        self, commands: list[tuple[tuple[str, ...], bytes | None]]
    ) -> list[CommandResult]:
        assert self.proc.stdout is not None
        self.send(commands)
        argvs = [argv for argv, _ in commands]
        buf = b""
        while True:
            decoded = decode_response(argvs, buf, self.token)
            if decoded is not None:
                results, used = decoded
                assert used == len(buf)
                return results
            chunk = self.proc.stdout.read1(65536)  # type: ignore[attr-defined]
            assert chunk, "the server ended"
            buf += chunk

    def call(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult:
        return self.call_many([(argv, stdin)])[0]


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    assert s.proc.stdin is not None
    s.proc.stdin.close()
    assert s.proc.wait(10) == 0  # EOF ends the loop cleanly (and removes its temp dir)


def test_answers_equal_commands_run_alone(server: Server) -> None:
    local = LocalTransport(Host(name="ctl", address="127.0.0.1", connection="local"))
    for argv, stdin in CASES:
        got = server.call(argv, stdin)
        want = local.run(argv, stdin=stdin, check=False)
        assert (got.rc, got.stdout) == (want.rc, want.stdout), argv
        if argv[0] == "sh" and "err" in argv[2]:
            assert got.stderr == b"err"  # a frame holds stderr without its trailing newlines


def test_a_script_that_starts_with_the_check_function_is_sent_without_it() -> None:
    """The request carries the script's own text only; the answers above show the server's
    functions stand in for it."""
    argv = CASES[-2][0]
    request = encode_request([(argv, None)], bound=None)
    assert argv[2].encode() not in request
    assert b"cp_chks() {" not in request
    assert b'cp_chk 1 "$1"; echo "$?"' + FIELD in request
    new_sh = CASES[-1][0]  # run as a program (a new sh): it must carry its functions
    assert new_sh[2].encode() in encode_request([(new_sh, None)], bound=None)


def test_a_request_of_many_commands_answers_each(server: Server) -> None:
    """One request runs a whole batch; then the server takes the next request."""
    local = LocalTransport(Host(name="ctl", address="127.0.0.1", connection="local"))
    for _ in range(2):
        got = server.call_many(CASES)
        want = [local.run(argv, stdin=stdin, check=False) for argv, stdin in CASES]
        assert [(r.rc, r.stdout) for r in got] == [(r.rc, r.stdout) for r in want]


def test_a_dd_without_fullblock_reads_byte_by_byte(tmp_path: Path) -> None:
    """Where ``dd`` has no ``iflag=fullblock`` the server falls back to one byte per read;
    the answers are the same (a ``dd`` that refuses the flag stands in for such a host)."""
    fake = tmp_path / "dd"
    fake.write_text(
        '#!/bin/sh\nfor a do case $a in iflag=*) echo "dd: invalid flag" >&2; exit 1;; esac; '
        'done\nexec /bin/dd "$@"\n'
    )
    fake.chmod(0o755)
    server = Server(env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"})
    local = LocalTransport(Host(name="ctl", address="127.0.0.1", connection="local"))
    for argv, stdin in CASES:
        got = server.call(argv, stdin)
        want = local.run(argv, stdin=stdin, check=False)
        assert (got.rc, got.stdout) == (want.rc, want.stdout), argv
    assert server.proc.stdin is not None
    server.proc.stdin.close()
    assert server.proc.wait(10) == 0


def test_separator_bytes_are_refused() -> None:
    assert encodable(["a", "b c"])
    assert not encodable(["a\x01b"])
    assert not encodable(["a\x02b"])
    with pytest.raises(ValueError, match="0x01"):
        encode_request([(("a\x01b",), None)], bound=None)


def test_partial_answers_wait_for_more() -> None:
    token = "ab" * 16
    full = f"abc\n{token} 1 3\nE\n{token}\n\n{token} 2 0\n\n{token}\n".encode()
    argvs = [("x",), ("y",)]
    for cut in (1, 4, 10, 50, len(full) - 1):
        assert decode_response(argvs, full[:cut], token) is None, cut
    results, used = decode_response(argvs, full + b"next", token) or ([], 0)
    assert used == len(full)
    assert [(r.argv, r.rc, r.stdout, r.stderr) for r in results] == [
        (("x",), 3, b"abc", b"E"),
        (("y",), 0, b"", b""),
    ]
    with pytest.raises(ValueError, match="invalid literal"):
        decode_response([("x",)], f"\n{token} 1 oops\n\n{token}\n".encode(), token)
    with pytest.raises(ValueError, match="frame of command 2"):
        decode_response([("x",)], f"\n{token} 2 0\n\n{token}\n".encode(), token)


def test_the_ready_line_names_the_process_group_to_kill() -> None:
    assert parse_ready(b"ready 4242\n") == 4242
    assert parse_ready(b"ready \n") is None  # no procfs: nothing to kill
    assert parse_ready(b"ready 1\n") is None  # never init's group
    with pytest.raises(ValueError, match="ready"):
        parse_ready(b"held\n")
    with pytest.raises(ValueError, match="ready"):
        parse_ready(b"ready 42")  # cut short


def test_a_kept_shell_holds_the_whole_request_in_its_process_group() -> None:
    """What the controller's kill of the named group ends: the server and everything its
    request started (here a command still running when the group is killed)."""
    tag = mark()
    server = Server()
    try:
        server.send([(("sh", "-c", 'sleep "$1"', "sh", tag), None)])
        deadline = time.monotonic() + 10
        while not running(tag) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running(tag)
        os.killpg(server.proc.pid, 9)
        assert server.proc.wait(10) == -9
        deadline = time.monotonic() + 10
        while running(tag) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert running(tag) == []
    finally:
        server.proc.kill()
        for pid in running(tag):
            os.kill(pid, 9)


# -- the held shell's bound on a request ---------------------------------------------------------


@pytest.mark.parametrize(
    "script",
    [
        'sleep "$1"',  # SIGTERM ends it
        'trap "" TERM; sleep "$1"; echo not reached',  # ignored, inherited by the sleep
        '(trap "" TERM; sleep "$1" 2>/dev/null) & sleep "$1"',  # a grandchild ignores it
    ],
)
def test_a_request_that_outlives_its_bound_is_ended_with_the_server(
    script: str, tmp_path: Path
) -> None:
    """Whatever the request started is gone when the server answers the bound's status (and
    ends: its stdin may still hold the rest of the request), through the eval'd ``sh -c`` form
    of the runner."""
    tag = mark()
    server = Server(held=tmp_path)
    try:
        server.send([(("true",), None), (("sh", "-c", script, "sh", tag), None)], timeout=0.5)
        assert server.proc.wait(30 + KILL_AFTER) in TIMED_OUT_STATUSES
        assert running(tag) == []
    finally:
        server.proc.kill()
        for pid in running(tag):
            os.kill(pid, 9)


def test_an_exec_d_command_that_outlives_its_bound_is_ended(tmp_path: Path) -> None:
    tag = mark()
    server = Server(held=tmp_path)
    try:
        server.send([(("sleep", tag), None)], timeout=0.5)
        assert server.proc.wait(30) == 124
        assert running(tag) == []
    finally:
        server.proc.kill()
        for pid in running(tag):
            os.kill(pid, 9)


def test_a_server_without_timeout_ends_instead_of_running_unbounded(tmp_path: Path) -> None:
    """A host whose PATH has no ``timeout`` (a directory holding only what the server itself
    needs stands in for one): the first request ends the server with a status that says the
    bound could not run, and its command never ran."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", "dd", "touch", "tr"):
        (tools / tool).symlink_to(f"/bin/{tool}")
    server = Server(env={"PATH": str(tools)}, held=tmp_path)
    server.send([(("touch", str(tmp_path / "ran")), None)])
    assert server.proc.wait(30) in CANNOT_RUN_STATUSES
    assert not (tmp_path / "ran").exists()
