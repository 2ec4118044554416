"""Least privilege: log in as an unprivileged user and run commands as root through sudo.

With ``become`` set, every command the transport runs goes through ``sudo`` (checkpointctl's
commands manage nftables, Docker and root-owned files: they all need root), and so do the batch
script and the kept shell, each under *one* sudo, so a host still costs one session per batch.
A NOPASSWD rule is used with ``sudo -n`` (never waits for a password). A become password is
fed on stdin ahead of the command's own stdin with ``sudo -S -k -p ''`` (``-k``: sudo always
reads it, even with a cached timestamp, so the line never reaches the command): it is never in
argv. With a become password, whether the rule needs it is asked once per connection first
(``sudo -n true``, :func:`probe`). Without one, ``sudo -n`` is the only way, so the first command
proves the rule, and the probe runs only when a command fails before that, to tell a refused
sudo (an error naming the refused command) from the command's own failure (see
:meth:`~checkpointctl.transport.ssh.SshTransport.become`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from checkpointctl.errors import TransportError
from checkpointctl.model import Become
from checkpointctl.transport.base import CommandResult
from checkpointctl.transport.command import stderr_tail

#: The command the probe runs: does nothing, needs the same rule as every other command.
PROBE = ("true",)


@dataclass(frozen=True, slots=True)
class Sudo:
    """How commands are wrapped for one host once the probe has said what sudo needs."""

    user: str
    password: bytes | None = field(default=None, repr=False)
    """Fed on stdin (``sudo -S``); None when the rule needs no password (``sudo -n``)."""

    def argv(self, argv: Sequence[str]) -> tuple[str, ...]:
        """``argv`` as the become user."""
        if self.password is None:
            return ("sudo", "-n", "-u", self.user, "--", *argv)
        return ("sudo", "-S", "-k", "-p", "", "-u", self.user, "--", *argv)

    @property
    def preamble(self) -> bytes:
        """What goes on the command's stdin before its own: the password line, or nothing."""
        return b"" if self.password is None else self.password + b"\n"

    def stdin(self, stdin: bytes | None) -> bytes | None:
        if self.password is None:
            return stdin
        return self.preamble + (stdin or b"")


Runner = Callable[[Sequence[str], bytes | None], CommandResult]
"""Runs an argv with stdin on the host as the login user, unchecked."""


def probe(become: Become, run: Runner, where: str, login: str) -> Sudo:
    """Find how sudo runs commands as ``become.user`` on the host (one or two round trips).

    Raises:
        TransportError: sudo refused (no rule for the login user, a wrong or missing password,
            no sudo installed), naming the command that was refused and sudo's answer.
    """
    nopasswd = Sudo(become.user)
    result = run(nopasswd.argv(PROBE), None)
    if result.ok:
        return nopasswd
    answer = stderr_tail(result.stderr) or f"exit {result.rc}"
    if become.password is None:
        raise TransportError(_refused(where, login, nopasswd.argv(PROBE), answer))
    with_password = Sudo(become.user, become.password.reveal())
    result = run(with_password.argv(PROBE), with_password.preamble)
    if result.ok:
        return with_password
    answer = stderr_tail(result.stderr) or f"exit {result.rc}"
    raise TransportError(_refused(where, login, with_password.argv(PROBE), answer))


def _refused(where: str, login: str, argv: Sequence[str], answer: str) -> str:
    return (
        f"{where}: sudo refused `{' '.join(argv)}` for {login}: {answer}\n"
        "  hint: checkpointctl runs its commands (nft, docker, sh, flock...) through sudo when "
        "`become` is set; give the login user the sudoers rule from the README "
        "(Least privilege), or a `become_password` if the rule asks for one"
    )
