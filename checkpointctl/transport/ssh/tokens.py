"""OpenSSH's ``%`` tokens and ``${VAR}`` in ssh_config values, expanded as ssh expands them.

Operators write ``UserKnownHostsFile ~/.ssh/known_%h`` or ``IdentityFile ~/.ssh/%r@%h``
because ssh gives every host its own file that way; reading such a value as a literal file
name would check a host key against the wrong file. Which tokens a keyword accepts is
ssh_config(5)'s TOKENS section (kept in :data:`ACCEPTED`); a token a keyword does not accept,
an unknown one, a lone ``%`` at the end and an unset ``${VAR}`` are errors naming them, as ssh
refuses them (its ``percent_dollar_expand`` is fatal on each). The values are ssh's:

- ``%h`` the host connected to (HostName after resolution), ``%n`` the name as given (the
  inventory name, or its address when the inventory gives one), ``%p`` the port, ``%r`` the
  remote user;
- ``%j`` the ProxyJump value (empty when there is none), ``%k`` the host key alias, which is
  ``%n`` since checkpointctl supports no HostKeyAlias;
- ``%C`` the SHA-1 (hex) of ``%l%h%p%r%j``;
- ``%l`` the local host name as ``gethostname()`` gives it, ``%L`` that name up to its first
  dot, ``%i`` the local uid, ``%u`` the local user, ``%d`` the home directory.

``%u`` and ``%d`` (and ``~``) are the user and home the rest of checkpointctl uses (``$USER``,
``$HOME``), so one run never reads two home directories.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from checkpointctl.errors import TransportError


class TokenSet(Enum):
    """The token lists of ssh_config(5), by the keywords that accept them."""

    PATH = frozenset("CdhijkLlnpru")
    """CertificateFile, ControlPath, IdentityAgent, IdentityFile, KnownHostsCommand,
    LocalForward, Match exec, RemoteCommand, RemoteForward, RevokedHostKeys, UserKnownHostsFile."""
    HOSTNAME = frozenset("h")
    PROXY = frozenset("hnpr")
    """ProxyCommand and ProxyJump."""


#: The keywords checkpointctl reads that accept tokens, with their tokens and whether they also
#: accept ``${VAR}`` (ssh_config(5), TOKENS and ENVIRONMENT VARIABLES).
ACCEPTED: Mapping[str, tuple[TokenSet, bool]] = {
    "identityfile": (TokenSet.PATH, True),
    "userknownhostsfile": (TokenSet.PATH, True),
    "certificatefile": (TokenSet.PATH, True),
    "match exec": (TokenSet.PATH, False),
    "hostname": (TokenSet.HOSTNAME, False),
    "proxycommand": (TokenSet.PROXY, False),
    "proxyjump": (TokenSet.PROXY, False),
}

_VARIABLE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class TokenValues:
    """What the host-dependent tokens stand for, for one host (see the module docstring)."""

    host: str
    """``%h``: the host connected to."""
    original: str
    """``%n`` (and ``%k``): the name as given."""
    port: int
    remote_user: str
    jump: str = ""
    """``%j``: the ProxyJump value, or empty."""

    def connection_hash(self) -> str:
        """``%C``: SHA-1 of ``%l%h%p%r%j``, in hex."""
        text = f"{socket.gethostname()}{self.host}{self.port}{self.remote_user}{self.jump}"
        return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()

    def value(self, letter: str) -> str:
        """The value of ``%`` + ``letter`` (the caller has checked the keyword accepts it)."""
        if letter == "%":
            return "%"
        if letter == "C":
            return self.connection_hash()
        if letter == "d":
            return os.path.expanduser("~")
        if letter == "h":
            return self.host
        if letter == "i":
            return str(os.getuid())
        if letter == "j":
            return self.jump
        if letter in ("k", "n"):
            return self.original
        if letter == "L":
            return socket.gethostname().split(".", 1)[0]
        if letter == "l":
            return socket.gethostname()
        if letter == "p":
            return str(self.port)
        if letter == "r":
            return self.remote_user
        if letter == "u":
            return getpass.getuser()
        raise KeyError(letter)


class TokenError(TransportError):
    """A value holds a token its keyword does not accept, or an unset ``${VAR}`` (named)."""


#: Tokens whose values come from the inventory (names, addresses, users, jump specs).
_FROM_INVENTORY = frozenset("hnkrj")
#: Characters such a value must not hold to go into a command a shell runs (OpenSSH refuses
#: host and user names with them since 9.6; control characters and whitespace too).
_SHELL_SPECIAL = frozenset("'`\"$\\;&<>|(){}")


def shell_safe(value: str) -> bool:
    """Whether ``value`` can be put into a shell command line as a word of its own."""
    return not value.startswith("-") and not any(
        c in _SHELL_SPECIAL or c.isspace() or not c.isprintable() for c in value
    )


def expand(keyword: str, text: str, values: TokenValues, *, for_shell: bool = False) -> str:
    """``text`` of ``keyword`` with its tokens (and ``${VAR}``, where the keyword takes them)
    expanded; a path keyword's leading ``~`` first, as ssh does. ``for_shell``: the result is
    a command a shell will run (Match exec, ProxyCommand), so a value from the inventory that
    the shell would interpret is refused rather than put into it.

    Raises:
        TokenError: a token the keyword does not accept, ``%`` at the end, an unset
            ``${VAR}``, or (``for_shell``) an unsafe value; the message names the token and
            the keyword.
    """
    tokens, variables = ACCEPTED[keyword]
    if tokens is TokenSet.PATH and keyword != "match exec":
        text = os.path.expanduser(text)
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "$" and variables and text.startswith("${", i):
            found = _VARIABLE.match(text, i)
            if found is None:
                raise TokenError(f"{_name(keyword)} {text}: unterminated ${{")
            name = found.group(1)
            if name not in os.environ:
                raise TokenError(
                    f"{_name(keyword)} {text}: environment variable ${{{name}}} is not set"
                )
            out.append(os.environ[name])
            i = found.end()
            continue
        if ch != "%":
            out.append(ch)
            i += 1
            continue
        if i + 1 == len(text):
            raise TokenError(f"{_name(keyword)} {text}: a lone % at the end (write %% for %)")
        letter = text[i + 1]
        if letter != "%" and letter not in tokens.value:
            accepted = " ".join("%" + t for t in sorted(tokens.value | {"%"}, key=str.lower))
            raise TokenError(
                f"{_name(keyword)} {text}: token %{letter} is not accepted here "
                f"(ssh_config(5) TOKENS: {_name(keyword)} accepts {accepted})"
            )
        value = values.value(letter)
        if for_shell and letter in _FROM_INVENTORY and not shell_safe(value):
            raise TokenError(
                f"{_name(keyword)} {text}: %{letter} is {value!r}, which holds a character "
                "the shell would interpret; it is not put into the command"
            )
        out.append(value)
        i += 2
    return "".join(out)


def _name(keyword: str) -> str:
    """The keyword as ssh_config(5) spells it, for messages."""
    return {
        "identityfile": "IdentityFile",
        "userknownhostsfile": "UserKnownHostsFile",
        "certificatefile": "CertificateFile",
        "match exec": "Match exec",
        "hostname": "HostName",
        "proxycommand": "ProxyCommand",
        "proxyjump": "ProxyJump",
    }[keyword]
