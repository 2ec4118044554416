"""An OpenSSH client config file read as ssh reads it: lines, quotes, ``Host`` and ``Match``.

Why not paramiko's ``SSHConfig``: it strips the quotes around a whole value and nothing else,
so ``UserKnownHostsFile "/a b/known"`` came back as ``/a b/known`` and was split into two files
(and ``"/a b" "/c d"`` into garbage); it expands its own subset of tokens with its own values
before the host's port and user are known; it treats a ``Match`` criterion it does not know as
a match; it runs ``Match exec`` only through ``invoke``; and it keeps no line numbers. Here:

- a line is split as OpenSSH's ``readconf.c`` splits it: the keyword, then whitespace or one
  ``=``, then the arguments split by ``argv_split`` (double or single quotes keep spaces, ``\\``
  escapes a quote, a backslash or a space, a ``#`` starting a word ends the line). Each
  :class:`Setting` keeps its words, the text as written (ProxyCommand and ProxyJump take the
  rest of the line, as in ssh) and its file and line, so errors name ``file:line``;
- ``Host`` patterns match the name as given (``*`` and ``?``, ``!`` negates, case-sensitive),
  ``Match`` evaluates ``all``, ``canonical``, ``final``, ``host``, ``originalhost``, ``user``,
  ``localuser``, ``tagged`` and ``exec``; the other criteria ssh knows (``localnetwork``,
  ``command``, ``sessiontype``, ``version``) are an error naming the line, never a guess;
- ``Match exec "cmd"`` runs ``cmd`` with the user's shell (``$SHELL -c``, else ``/bin/sh``),
  its tokens expanded, stdin and stdout on /dev/null, stderr passed through; exit status 0 is a
  match, as with ssh. It is skipped once an earlier criterion of its line failed. A command
  killed by a signal, or a shell that cannot start, is an error naming the line. The command
  is the operator's own config text, never a value from an inventory or a policy; the host's
  name, address and user are substituted into it only when they hold no shell metacharacter
  (OpenSSH refuses such names too);
- ``Include`` splices the files it names in where it stands (patterns in lexical order,
  relative paths from ``~/.ssh``, or ``/etc/ssh`` in the system's file); inside a ``Host`` or
  ``Match`` block its blocks apply only where that block does, and the block's own state is
  back after it (its line is not evaluated twice: :attr:`Block.within`, :attr:`Block.same_as`),
  as ``readconf.c`` does; deeper than :data:`MAX_INCLUDE_DEPTH` is an error. An included file
  is read once with the file that names it: a change to it alone is seen by the next run;
- the first value of a keyword wins, ``IdentityFile`` and ``CertificateFile`` accumulate;
  ``Match final`` asks for a second pass in which ``Host`` lines match the resolved HostName
  and ``final``/``canonical`` are true.

Tokens in the values are left as written: only :mod:`checkpointctl.transport.ssh.route` knows a
host's final address, port and user, which the tokens stand for.
"""

from __future__ import annotations

import functools
import getpass
import glob
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from checkpointctl.errors import TransportError
from checkpointctl.transport.ssh.tokens import TokenError, TokenValues, expand

#: Relative ``Include`` paths of a user's file (``-F`` too) are read from here.
USER_DIR = "~/.ssh"
#: The system-wide file ssh reads after the user's, unless given ``-F``.
SYSTEM_CONFIG = "/etc/ssh/ssh_config"
#: Relative ``Include`` paths of the system's file are read from here.
SYSTEM_DIR = "/etc/ssh"
#: ``readconf.c``'s ``READCONF_MAX_DEPTH``: includes nested deeper are an error.
MAX_INCLUDE_DEPTH = 16
#: Keywords whose every line adds a value (the others: the first value wins).
ACCUMULATE = frozenset({"identityfile", "certificatefile"})
#: ``Match`` criteria ssh knows that checkpointctl cannot evaluate as ssh would.
UNSUPPORTED_CRITERIA = frozenset({"localnetwork", "command", "sessiontype", "version"})
_NO_ARGUMENT = frozenset({"all", "canonical", "final"})
_WITH_ARGUMENT = frozenset({"host", "originalhost", "user", "localuser", "tagged", "exec"})


class ConfigError(TransportError):
    """The ssh_config cannot be read or used; the message names the file and line."""


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``Keyword arguments`` line of a block."""

    keyword: str
    """Lower-cased."""
    args: tuple[str, ...]
    """The arguments as ``argv_split`` gives them: quotes removed, a trailing comment dropped."""
    text: str
    """The arguments as written (ProxyCommand and ProxyJump use this, as ssh does)."""
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Criterion:
    """One ``Match`` criterion: ``[!]name [argument]``."""

    name: str
    negate: bool
    argument: str | None


@dataclass(frozen=True, slots=True)
class Block:
    """The lines after a ``Host`` or ``Match`` line (the file's start: an implicit ``Host *``)."""

    file: str
    line: int
    hosts: tuple[str, ...] | None
    """``Host`` patterns; None for a ``Match`` block."""
    criteria: tuple[Criterion, ...] = ()
    settings: tuple[Setting, ...] = ()
    within: tuple[int, ...] = ()
    """The blocks (indexes in the config) whose ``Include`` brought this block in: it applies
    only where they all did (an inactive block's includes are never evaluated)."""
    same_as: int | None = None
    """The block this one continues after an ``Include`` line: active exactly when that one
    was, its ``Host``/``Match`` line not evaluated again (a ``Match exec`` runs once)."""


@dataclass(frozen=True, slots=True)
class Given:
    """What the command line sets before the file is read (for us: the inventory), which
    ``Match host``/``user`` and ``exec``'s tokens see as ssh sees its command line."""

    hostname: str | None = None
    user: str | None = None
    port: int | None = None
    jump: str | None = None


Options = dict[str, list[Setting]]
"""The settings that apply to a host, by lower-cased keyword: one each, except
:data:`ACCUMULATE`'s, in order."""


@dataclass(frozen=True, slots=True)
class SshConfig:
    """A parsed ssh_config file; :meth:`lookup` gives one host's settings."""

    path: str
    blocks: tuple[Block, ...]
    final_pass: bool = field(default=False)
    """A ``Match final`` (not negated) asks for the second pass."""

    def lookup(self, name: str, given: Given | None = None) -> Options:
        """The settings for the host ssh would be given as ``name``.

        Raises:
            ConfigError: a Match criterion that cannot be evaluated, or a ``Match exec``
                command that cannot run or is killed (named with its file and line).
        """
        given = given or Given()
        options: Options = {}
        self._apply(name, given, options, final=False)
        if self.final_pass:
            self._apply(name, given, options, final=True)
        return options

    def _apply(self, name: str, given: Given, options: Options, *, final: bool) -> None:
        active_at: list[bool] = []
        for block in self.blocks:
            host_line_name = _resolved_host(name, given, options).lower() if final else name
            if block.same_as is not None:
                active = active_at[block.same_as]
            elif not all(active_at[i] for i in block.within):
                active = False
            elif block.hosts is not None:
                active = host_patterns_match(block.hosts, host_line_name)
            else:
                active = _match(block, name, given, options, final)
            active_at.append(active)
            if not active:
                continue
            for setting in block.settings:
                seen = options.setdefault(setting.keyword, [])
                if setting.keyword in ACCUMULATE:
                    if all(s.args != setting.args for s in seen):
                        seen.append(setting)
                elif not seen:
                    seen.append(setting)


def parse_text(text: str, path: str, include_dir: str = USER_DIR) -> SshConfig:
    """``text`` read as the ssh_config file ``path``; ``Include`` reads the files it names
    (relative ones in ``include_dir``: ``~/.ssh`` for a user's file, ``/etc/ssh`` for the
    system's, as ssh does).

    Raises:
        ConfigError: a line ssh would refuse (unbalanced quotes, a keyword without argument,
            a malformed ``Host`` or ``Match`` line), an included file that cannot be read, or
            includes nested deeper than :data:`MAX_INCLUDE_DEPTH`, named with ``path:line``.
    """
    reader = _Reader(include_dir)
    reader.read(text, path, (), 0)
    return SshConfig(path, tuple(reader.blocks), reader.final_pass)


class _Reader:
    """The blocks of a file and of the files it includes, in the order ssh reads them."""

    def __init__(self, include_dir: str) -> None:
        self.include_dir = include_dir
        self.blocks: list[Block] = []
        self.final_pass = False

    def read(self, text: str, path: str, within: tuple[int, ...], depth: int) -> None:
        start = 0
        hosts: tuple[str, ...] | None = ("*",)
        criteria: tuple[Criterion, ...] = ()
        settings: list[Setting] = []
        same_as: int | None = None

        def close() -> int:
            self.blocks.append(
                Block(path, start, hosts, criteria, tuple(settings), within, same_as)
            )
            return len(self.blocks) - 1

        for number, raw in enumerate(text.splitlines(), 1):
            parts = split_line(raw)
            if parts is None:
                continue
            written, rest = parts
            keyword = written.lower()
            where = f"{path}:{number}"
            if not rest:
                raise ConfigError(f"ssh_config {where}: no argument after keyword {written}")
            try:
                args = tuple(argv_split(rest))
            except ValueError as e:
                raise ConfigError(f"ssh_config {where}: {written} {rest}: {e}") from None
            if keyword in ("host", "match"):
                close()
                start, settings, same_as = number, [], None
                if keyword == "host":
                    if not args or any(not a for a in args):
                        raise ConfigError(f"ssh_config {where}: Host needs non-empty patterns")
                    hosts, criteria = args, ()
                else:
                    hosts, criteria = None, _criteria(args, where)
                    self.final_pass |= any(c.name == "final" and not c.negate for c in criteria)
                continue
            if keyword == "include":
                closed = close()
                root = same_as if same_as is not None else closed
                for included in self._included(args, where, depth):
                    self.read(_read_included(included, where), included, (*within, root), depth + 1)
                settings, same_as = [], root
                continue
            settings.append(Setting(keyword, args, _value_text(keyword, rest), path, number))
        close()

    def _included(self, args: Sequence[str], where: str, depth: int) -> list[str]:
        """The files an ``Include`` line names, each pattern's matches in lexical order."""
        if depth + 1 > MAX_INCLUDE_DEPTH:
            raise ConfigError(
                f"ssh_config {where}: Include nested more than {MAX_INCLUDE_DEPTH} deep"
            )
        files: list[str] = []
        for arg in args:
            pattern = os.path.expanduser(arg)
            if not os.path.isabs(pattern):
                pattern = os.path.join(os.path.expanduser(self.include_dir), pattern)
            files.extend(sorted(glob.glob(pattern)))
        return files


def _read_included(path: str, where: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()
    except OSError as e:
        raise ConfigError(f"ssh_config {where}: Include {path}: {e.strerror or e}") from None


def parse_path(path: str) -> SshConfig:
    """The ssh_config file at ``path`` (the system's, :data:`SYSTEM_CONFIG`, includes
    relative paths from ``/etc/ssh``; any other from ``~/.ssh``).

    Raises:
        OSError: it cannot be read.
        ConfigError: see :func:`parse_text`.
    """
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        text = f.read()
    return parse_text(text, path, SYSTEM_DIR if path == SYSTEM_CONFIG else USER_DIR)


def combine(configs: Sequence[SshConfig]) -> SshConfig:
    """Files read one after the other as one config, as ssh reads the user's file and then the
    system's: the first value of a keyword wins across them (pure)."""
    if len(configs) == 1:
        return configs[0]
    blocks: list[Block] = []
    for config in configs:
        shift = len(blocks)
        blocks.extend(
            replace(
                b,
                within=tuple(i + shift for i in b.within),
                same_as=None if b.same_as is None else b.same_as + shift,
            )
            for b in config.blocks
        )
    path = configs[0].path if configs else ""
    return SshConfig(path, tuple(blocks), any(c.final_pass for c in configs))


def split_line(raw: str) -> tuple[str, str] | None:
    """``(keyword, the rest)`` of a config line, or None for a blank line or a
    comment. The keyword ends at whitespace or ``=``; whitespace and one ``=`` after it are
    skipped (``readconf.c``: ``strdelim``)."""
    line = raw.strip(" \t\r\n\f")
    if not line or line.startswith("#"):
        return None
    found = re.match(r"[^ \t=]*", line)
    keyword = found.group(0) if found else ""
    if not keyword:
        return None
    rest = line[len(keyword) :].lstrip(" \t")
    if rest.startswith("="):
        rest = rest[1:].lstrip(" \t")
    return keyword, rest


def argv_split(text: str) -> list[str]:
    """The words of a config value as OpenSSH's ``argv_split`` (comments on) gives them.

    Raises:
        ValueError: a quote that is not closed.
    """
    words: list[str] = []
    i, n = 0, len(text)
    while i < n:
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == "#":
            break
        word: list[str] = []
        quote = ""
        while i < n:
            ch = text[i]
            if (
                ch == "\\"
                and i + 1 < n
                and (text[i + 1] in "'\"\\" or (not quote and text[i + 1] == " "))
            ):
                word.append(text[i + 1])
                i += 2
                continue
            if not quote and ch in " \t":
                break
            if not quote and ch in "\"'":
                quote = ch
            elif quote and ch == quote:
                quote = ""
            else:
                word.append(ch)
            i += 1
        if quote:
            raise ValueError("invalid quotes: a quote is not closed")
        words.append("".join(word))
    return words


def _value_text(keyword: str, rest: str) -> str:
    """The value as ssh keeps it for the keywords that take the rest of the line: ProxyJump
    without its comment (ssh cuts at the first ``#``), anything else as written."""
    if keyword == "proxyjump":
        return rest.split("#", 1)[0].rstrip(" \t")
    return rest


def _criteria(args: Sequence[str], where: str) -> tuple[Criterion, ...]:
    """A ``Match`` line's criteria, checked as ssh checks them when it reads the line."""
    out: list[Criterion] = []
    words = list(args)
    if not words:
        raise ConfigError(f"ssh_config {where}: Match needs criteria")
    while words:
        word = words.pop(0)
        negate = word.startswith("!")
        name = word[1:].lower() if negate else word.lower()
        if name in _NO_ARGUMENT:
            out.append(Criterion(name, negate, None))
            continue
        if name not in _WITH_ARGUMENT and name not in UNSUPPORTED_CRITERIA:
            raise ConfigError(f"ssh_config {where}: unsupported Match attribute {word!r}")
        if not words or not words[0]:
            raise ConfigError(f"ssh_config {where}: Match {name} needs an argument")
        out.append(Criterion(name, negate, words.pop(0)))
    if any(c.name == "all" for c in out) and any(c.name not in _NO_ARGUMENT for c in out):
        raise ConfigError(f"ssh_config {where}: 'all' cannot be combined with other criteria")
    return tuple(out)


@functools.lru_cache(maxsize=1024)
def _pattern_regex(pattern: str) -> re.Pattern[str]:
    parts = (".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile("".join(parts), re.S)


def pattern_matches(text: str, pattern: str) -> bool:
    """OpenSSH's ``match_pattern``: ``*`` any run, ``?`` one character, case-sensitive."""
    return _pattern_regex(pattern).fullmatch(text) is not None


def _patterns_match(patterns: Iterable[str], text: str) -> bool:
    """Some pattern matches ``text`` and no ``!pattern`` does (OpenSSH's rule for a list)."""
    matched = False
    for pattern in patterns:
        if pattern.startswith("!"):
            if pattern_matches(text, pattern[1:]):
                return False
        elif pattern_matches(text, pattern):
            matched = True
    return matched


def host_patterns_match(patterns: Sequence[str], name: str) -> bool:
    """A ``Host`` line: some pattern matches and no ``!pattern`` does."""
    return _patterns_match(patterns, name)


def pattern_list_matches(text: str, patterns: str, *, lower: bool) -> bool:
    """OpenSSH's ``match_pattern_list``: comma-separated patterns, ``!`` negates (a negated
    match fails the whole list); ``lower``: compared without case (host names)."""
    if lower:
        return _patterns_match(patterns.lower().split(","), text.lower())
    return _patterns_match(patterns.split(","), text)


def _first(options: Mapping[str, list[Setting]], key: str) -> str | None:
    found = options.get(key)
    return found[0].args[0] if found and found[0].args else None


def _resolved_host(name: str, given: Given, options: Options) -> str:
    """The host as ssh knows it so far: HostName (its ``%h`` the name given), else the name."""
    hostname = given.hostname or _first(options, "hostname")
    if hostname is None:
        return name
    values = TokenValues(host=name, original=name, port=22, remote_user="")
    try:
        return expand("hostname", hostname, values)
    except TokenError as e:
        setting = options["hostname"][0] if "hostname" in options else None
        where = f"ssh_config {setting.where}: " if setting else ""
        raise ConfigError(f"{where}{e}") from None


def _match(block: Block, name: str, given: Given, options: Options, final: bool) -> bool:
    """Whether a ``Match`` line matches (every criterion must)."""
    where = f"ssh_config {block.file}:{block.line}"
    result = True
    for criterion in block.criteria:
        arg = criterion.argument or ""
        passed: bool
        if criterion.name == "all":
            passed = True
        elif criterion.name in ("canonical", "final"):
            passed = final
        elif criterion.name == "host":
            passed = pattern_list_matches(_resolved_host(name, given, options), arg, lower=True)
        elif criterion.name == "originalhost":
            passed = pattern_list_matches(name, arg, lower=True)
        elif criterion.name == "user":
            user = given.user or _first(options, "user") or getpass.getuser()
            passed = pattern_list_matches(user, arg, lower=False)
        elif criterion.name == "localuser":
            passed = pattern_list_matches(getpass.getuser(), arg, lower=False)
        elif criterion.name == "tagged":
            passed = pattern_list_matches("", arg, lower=False)  # no Tag is supported
        elif criterion.name == "exec":
            if not result:
                continue  # ssh skips the command once an earlier criterion failed
            passed = _exec(arg, _exec_values(name, given, options), where)
        else:
            if not result:
                continue
            raise ConfigError(
                f"{where}: Match {criterion.name} is not supported by checkpointctl "
                "(supported: all, canonical, final, host, originalhost, user, localuser, "
                "tagged, exec)"
            )
        if passed == criterion.negate:
            result = False
    return result


def _exec_values(name: str, given: Given, options: Options) -> TokenValues:
    """The token values of a ``Match exec`` command: the host as known so far."""
    host = _resolved_host(name, given, options)
    port_text = _first(options, "port")
    port = given.port or (int(port_text) if port_text and port_text.isdigit() else 22)
    user = given.user or _first(options, "user") or getpass.getuser()
    jump_setting = options.get("proxyjump")
    jump = given.jump or (jump_setting[0].text if jump_setting else "")
    if jump.lower() == "none":
        jump = ""
    return TokenValues(host=host, original=name, port=port, remote_user=user, jump=jump)


def _exec(command: str, values: TokenValues, where: str) -> bool:
    """Run a ``Match exec`` command as ssh does; True when it exits 0."""
    try:
        text = expand("match exec", command, values, for_shell=True)
    except TokenError as e:
        raise ConfigError(f"{where}: {e}") from None
    shell = os.environ.get("SHELL") or "/bin/sh"
    try:
        done = subprocess.run(
            [shell, "-c", text],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            check=False,
        )
    except OSError as e:
        raise ConfigError(f"{where}: Match exec {command!r}: cannot run {shell}: {e}") from e
    if done.returncode < 0:
        raise ConfigError(
            f"{where}: Match exec {command!r} was killed by signal {-done.returncode}"
        )
    return done.returncode == 0
