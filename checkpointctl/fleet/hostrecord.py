"""What ``apply`` leaves on a host after each run: the last-apply record and the audit line.

Both go out as two commands of one batch (:func:`~checkpointctl.transport.batch.run_many`): one
session and a few processes on the host. Written over SFTP instead, the two files cost about
fifteen round trips per host (temp directory, open, chown, chmod, write, fsync, rename, clean
up, then open and append), which made a no-op ``apply`` of 100 hosts 40 % slower than ``drift``.
Neither file holds a secret (the record and the audit line are built redacted), so going
through a command's stdin is fine; stdin, not argv, so ``ps`` shows nothing of it.

The scripts are fixed text; paths travel as positional parameters and contents on stdin.
"""

from __future__ import annotations

import posixpath

from checkpointctl.transport.batch import Command

RECORD_SCRIPT = r"""umask 077
[ -d "$2" ] || mkdir -p -- "$2" || exit 1
t=$(mktemp "$1.XXXXXX") || exit 1
if cat >"$t" && sync -- "$t" && mv -f -- "$t" "$1"; then exit 0; fi
rm -f -- "$t"
exit 1
"""
"""``$1`` the record's path, ``$2`` its directory. Replaced atomically (a temp file made 0600 by
``mktemp`` next to it, synced, renamed over it): a reader sees the old record or the new one."""

AUDIT_SCRIPT = r"""umask 077
cat >>"$1"
"""
"""``$1`` the audit log, created 0600 when missing. One ``write`` of a short line with
``O_APPEND``: lines of two controllers never interleave (the host lock serializes them too)."""


def record_command(path: str, content: bytes) -> Command:
    """Replace the file at ``path`` (0600) with ``content``."""
    return Command.of(
        ["sh", "-c", RECORD_SCRIPT, "sh", path, posixpath.dirname(path) or "."], stdin=content
    )


def audit_command(path: str, line: bytes) -> Command:
    """Append ``line`` to the audit log at ``path`` (0600 when created)."""
    return Command.of(["sh", "-c", AUDIT_SCRIPT, "sh", path], stdin=line)
