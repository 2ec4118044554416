"""A long-lived shell on the host that runs commands sent on its stdin: no new session per batch.

Every SSH command is a new session on the host: sshd forks, sets the session up and starts the
user's login shell (which may read start-up files) before our command even begins. A kept
connection (``drift --watch``) pays that on every cycle. The shell server is started once, in
one channel, and then runs each request it reads on stdin:

request:  ``<argv bytes> <stdin bytes>\\n`` then the argv, each argument followed by the byte
          0x01, then the stdin.
response: the exit status, the sizes of stdout and stderr (one line each), then both outputs.

The argv arrives as data and is split by the shell's own field splitting on 0x01 (``set -f``, no
globbing): no argument is ever parsed as shell text, and the script is fixed. An argument that
holds 0x01 cannot be framed this way and is never sent here (:func:`encodable`); the caller runs
it in a session of its own. Requests are answered one at a time, in order.
"""

from __future__ import annotations

from collections.abc import Sequence

from checkpointctl.transport.base import CommandResult

SEP = b"\x01"
READY = b"ready\n"

SERVER_SCRIPT = r"""d=$(mktemp -d) || exit 125
trap 'rm -rf "$d"' EXIT
sep=$(printf '\001')
set -f
echo ready
while IFS=' ' read -r alen ilen; do
  req=$(dd bs=1 count="$alen" 2>/dev/null)
  IFS=$sep
  set -- $req
  IFS=' '
  if [ "$ilen" -gt 0 ]; then
    dd bs=1 count="$ilen" 2>/dev/null |
      { (exec "$@") >"$d/o" 2>"$d/e"; echo $? >"$d/s"; cat >/dev/null; }
    read -r c <"$d/s"
  else
    (exec "$@") </dev/null >"$d/o" 2>"$d/e"; c=$?
  fi
  echo "$c"
  stat -c %s "$d/o" "$d/e"
  cat "$d/o" "$d/e"
done
"""
"""Fixed text: the loop described in the module docstring."""


def encodable(argv: Sequence[str]) -> bool:
    """Whether argv can travel in a request (no argument holds the separator byte)."""
    return all("\x01" not in arg for arg in argv)


def encode_request(argv: Sequence[str], stdin: bytes | None) -> bytes:
    """The bytes of one request (pure).

    Raises:
        ValueError: an argument holds the separator (check :func:`encodable` first).
    """
    if not encodable(argv):
        raise ValueError("an argument holds the byte 0x01; run it in a session of its own")
    args = b"".join(a.encode("utf-8", "surrogateescape") + SEP for a in argv)
    data = stdin or b""
    return f"{len(args)} {len(data)}\n".encode() + args + data


def decode_response(argv: tuple[str, ...], buffer: bytes) -> tuple[CommandResult, int] | None:
    """The result at the start of ``buffer`` and how many bytes it took, or None when the
    buffer does not hold a whole response yet (pure).

    Raises:
        ValueError: the buffer does not start with a response.
    """
    lines: list[int] = []
    pos = 0
    for _ in range(3):
        end = buffer.find(b"\n", pos)
        if end < 0:
            return None
        lines.append(int(buffer[pos:end]))
        pos = end + 1
    rc, n_out, n_err = lines
    if n_out < 0 or n_err < 0:
        raise ValueError("negative output size")
    if len(buffer) < pos + n_out + n_err:
        return None
    out = bytes(buffer[pos : pos + n_out])
    err = bytes(buffer[pos + n_out : pos + n_out + n_err])
    return CommandResult(argv, rc, out, err), pos + n_out + n_err
