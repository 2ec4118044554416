"""The kept shell: requests on stdin, framed answers on stdout, identical to running alone.

The server script runs for real under the local ``sh`` (the SSH transport starts this same
script in a channel); each answer is compared with the same command run on its own.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from checkpointctl.model import Host
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.shellserver import (
    READY,
    SERVER_SCRIPT,
    decode_response,
    encodable,
    encode_request,
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
]


class Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["sh", "-c", SERVER_SCRIPT], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline() == READY

    def call(self, argv: tuple[str, ...], stdin: bytes | None) -> CommandResult:
        assert self.proc.stdin is not None
        assert self.proc.stdout is not None
        self.proc.stdin.write(encode_request(argv, stdin))
        self.proc.stdin.flush()
        buf = b""
        while True:
            decoded = decode_response(argv, buf)
            if decoded is not None:
                result, used = decoded
                assert used == len(buf)
                return result
            chunk = self.proc.stdout.read1(65536)  # type: ignore[attr-defined]
            assert chunk, "the server ended"
            buf += chunk


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
        if argv[0] == "sh":
            assert got.stderr == b"err\n"


def test_separator_byte_is_refused() -> None:
    assert encodable(["a", "b c"])
    assert not encodable(["a\x01b"])
    with pytest.raises(ValueError, match="0x01"):
        encode_request(["a\x01b"], None)


def test_partial_answers_wait_for_more() -> None:
    full = b"0\n3\n1\nabcE"
    assert decode_response(("x",), full[:5]) is None
    assert decode_response(("x",), full[:-1]) is None
    result, used = decode_response(("x",), full + b"next") or (None, 0)
    assert result is not None
    assert used == len(full)
    assert (result.rc, result.stdout, result.stderr) == (0, b"abc", b"E")
    with pytest.raises(ValueError, match="invalid literal"):
        decode_response(("x",), b"oops\n1\n1\n")
