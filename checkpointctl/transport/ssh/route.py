"""Where an SSH connection goes and through what: the host, its jump hosts, its settings.

Operators already describe their networks to OpenSSH: ``~/.ssh/config`` (or ``-F FILE``) with
``Host``/``Match host`` blocks, and the inventory's ``ansible_ssh_common_args``. This module
reads both (paramiko's :class:`~paramiko.config.SSHConfig` parses the file) and maps every option
it meets explicitly: the supported ones onto an :class:`Endpoint`, a short list of harmless ones
(logging, keepalives, multiplexing: nothing that changes whom we talk to or what we trust) is
passed over, and any other option is an error naming the option and the file, never dropped.

Precedence is OpenSSH's, with the inventory in the place of ssh's command line: ``-o`` options
from the inventory's SSH arguments, then the inventory's own fields (address, port, user, key,
known_hosts, timeout) when the operator set them, then the config file, then defaults.

Jump hosts follow OpenSSH too. ``ssh`` reaches the target through ``ProxyJump a,b,c`` by running
``ssh -J a,b -W target c``, that one runs ``ssh -J a -W c b``, and that one ``ssh -W b a``: the
``-J`` on those command lines wins over the config's ProxyJump of ``c`` and ``b``, so only the
*first* hop's own ProxyJump (from its ``Host`` block) is followed, before it, and recursively so
for the first hop of that; or that first hop's own ProxyCommand, which makes it the outermost.
A loop among those is an error naming it, and so is a route longer than :data:`MAX_JUMPS` hops.
Every hop's host key is checked against its own known_hosts.
"""

from __future__ import annotations

import getpass
import os
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.hostkeys import DEFAULT_KNOWN_HOSTS
from checkpointctl.transport.sshfiles import FileCache
from checkpointctl.transport.sshlib import paramiko

#: Read when the host names no ``-F`` file; a missing one is no error.
DEFAULT_CONFIG = "~/.ssh/config"
#: The most jump hosts one route passes through, nested ProxyJumps included: a deeper chain is
#: a configuration mistake sooner than a network, and each hop is a login of its own.
MAX_JUMPS = 8

HostKeyPolicy = Literal["strict", "accept-new"]

#: Options mapped onto an :class:`Endpoint`.
SUPPORTED = frozenset(
    {
        "hostname",
        "port",
        "user",
        "identityfile",
        "identitiesonly",
        "proxyjump",
        "proxycommand",
        "userknownhostsfile",
        "stricthostkeychecking",
        "connecttimeout",
    }
)
#: Options that change nothing checkpointctl does, with the values for which that holds (None:
#: any value). Keepalives (we send our own), logging, multiplexing (one connection per host
#: anyway), agent storage, environment for interactive shells, extra known-hosts sources that
#: could only make a refusal an acceptance (ignoring them errs on the safe side).
HARMLESS: Mapping[str, frozenset[str] | None] = {
    "addkeystoagent": None,
    "batchmode": None,
    "checkhostip": None,
    "compression": None,
    "controlmaster": None,
    "controlpath": None,
    "controlpersist": None,
    "forwardagent": frozenset({"no"}),
    "forwardx11": frozenset({"no"}),
    "forwardx11trusted": None,
    "globalknownhostsfile": None,
    "hashknownhosts": None,
    "loglevel": None,
    "passwordauthentication": None,
    "kbdinteractiveauthentication": None,
    "preferredauthentications": None,
    "pubkeyauthentication": frozenset({"yes"}),
    "requesttty": frozenset({"no", "auto"}),
    "sendenv": None,
    "serveralivecountmax": None,
    "serveraliveinterval": None,
    "tcpkeepalive": None,
    "updatehostkeys": None,
    "visualhostkey": None,
}


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One SSH server on the way: a jump host or the target."""

    label: str
    """How messages name it: the inventory name or the jump spec."""
    address: str
    port: int
    user: str
    identities: tuple[str, ...]
    """Identity files to offer, in order (already ``~``-expanded)."""
    identities_only: bool
    """``IdentitiesOnly yes``: never the agent's keys."""
    known_hosts: tuple[str, ...]
    """``UserKnownHostsFile``: the files a host key may be found in (any of them will do), in
    order; trust on first use records a new key in the first."""
    host_keys: HostKeyPolicy
    connect_timeout: float
    proxy_command: str | None = None


@dataclass(frozen=True, slots=True)
class Route:
    """The target and the jump hosts before it, outermost first."""

    target: Endpoint
    jumps: tuple[Endpoint, ...] = ()

    def via(self) -> str:
        """`` via bastion, inner`` for messages, or ``""`` when direct."""
        if self.jumps:
            return " via " + ", ".join(j.label for j in self.jumps)
        if self.target.proxy_command:
            return " via ProxyCommand"
        return ""


def _parse_config(path: str) -> paramiko.SSHConfig:
    return paramiko.SSHConfig.from_path(path)


CONFIGS: FileCache[paramiko.SSHConfig] = FileCache(_parse_config)


def config_path(host: Host) -> str | None:
    """The ssh_config file for ``host``: its ``-F`` file, else ``~/.ssh/config`` if present.

    Raises:
        TransportError: the host names a file that does not exist.
    """
    if host.ssh.config_file is not None:
        path = os.path.expanduser(host.ssh.config_file)
        if not os.path.isfile(path):
            raise TransportError(f"{host.name}: ssh_config file {path} does not exist")
        return path
    default = os.path.expanduser(DEFAULT_CONFIG)
    return default if os.path.isfile(default) else None


def lookup(path: str | None, name: str, owner: str) -> dict[str, str | list[str]]:
    """The options ``path`` sets for ``name`` (lower-cased keys; ``identityfile`` a list).

    Raises:
        TransportError: the file cannot be read or parsed (a ``Match exec`` block, whose
            commands checkpointctl does not run, included).
    """
    if path is None:
        return {}
    try:
        found = CONFIGS.get(path).lookup(name)
    except (OSError, paramiko.ConfigParseError, ImportError, TypeError) as e:
        raise TransportError(f"{owner}: cannot use ssh_config {path}: {e}") from e
    except paramiko.CouldNotCanonicalize as e:
        raise TransportError(f"{owner}: ssh_config {path}: cannot canonicalize {e}") from e
    return dict(found.items())


def check_options(options: Mapping[str, object], source: str, owner: str) -> None:
    """Refuse every option that is neither supported nor harmless (named, with its source).

    Raises:
        TransportError: the first such option, by name.
    """
    for key, value in options.items():
        if key in SUPPORTED:
            continue
        if key in HARMLESS:
            allowed = HARMLESS[key]
            text = value if isinstance(value, str) else " ".join(map(str, value))  # type: ignore[call-overload]
            if allowed is None or text.strip().lower() in allowed:
                continue
            raise TransportError(
                f"{owner}: {source}: `{key} {text}` is not supported "
                f"(only {', '.join(sorted(allowed))})"
            )
        raise TransportError(
            f"{owner}: {source}: option `{key}` is not supported by checkpointctl\n"
            f"  hint: supported: {', '.join(sorted(SUPPORTED))}"
        )


def _one(value: str | list[str] | None) -> str | None:
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _number(value: str, key: str, owner: str, source: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise TransportError(f"{owner}: {source}: {key} {value!r} is not a number") from None


def _port(value: str, owner: str, source: str) -> int:
    number = _number(value, "Port", owner, source)
    if number != int(number) or not 0 < number < 65536:
        raise TransportError(f"{owner}: {source}: Port {value!r} is out of range")
    return int(number)


def _host_keys(value: str, owner: str, source: str) -> HostKeyPolicy:
    """``StrictHostKeyChecking``: yes/ask refuse unknown keys; accept-new records them; no/off
    is refused, because checkpointctl never talks to a host whose key it has not checked."""
    word = value.strip().lower()
    if word in ("yes", "ask", "true"):
        return "strict"
    if word == "accept-new":
        return "accept-new"
    raise TransportError(
        f"{owner}: {source}: StrictHostKeyChecking {value} is not supported: checkpointctl "
        "always checks host keys (use accept-new or trust_on_first_use to record new ones)"
    )


def _expand_tokens(text: str, address: str, port: int, user: str) -> str:
    """OpenSSH's ``%h %p %r %%`` in a ProxyCommand or ProxyJump from the command line."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"h": address, "p": str(port), "r": user, "%": "%"}.get(nxt, ch + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _merged(
    config: Mapping[str, str | list[str]], options: Sequence[tuple[str, str]]
) -> dict[str, str | list[str]]:
    """Config values overlaid by ``-o`` options (the first ``-o`` for a key wins, as in ssh;
    ``IdentityFile`` accumulates, command line first)."""
    merged: dict[str, str | list[str]] = dict(config)
    seen: set[str] = set()
    cli_identities: list[str] = []
    for key, value in options:
        if key == "identityfile":
            cli_identities.append(value)
            continue
        if key in seen:
            continue
        seen.add(key)
        merged[key] = value
    if cli_identities:
        existing = merged.get("identityfile", [])
        merged["identityfile"] = cli_identities + (
            existing if isinstance(existing, list) else [existing]
        )
    return merged


def resolve(host: Host) -> Route:
    """The route to ``host`` (see the module docstring for precedence).

    Raises:
        TransportError: an unsupported or malformed option (named, with its file), a jump host
            spec that cannot be read, or both a ProxyJump and a ProxyCommand.
    """
    path = config_path(host)
    settings = host.ssh
    lookup_name = host.address if settings.is_given("address") else host.name
    config = lookup(path, lookup_name, host.name)
    source = f"ssh_config {path}" if path else "ssh options"
    check_options(config, source, host.name)
    check_options(dict(settings.options), "inventory ssh arguments", host.name)
    opts = _merged(config, settings.options)
    cli: dict[str, str] = {}
    for key, value in settings.options:  # the first -o for a key wins, as in ssh and _merged
        cli.setdefault(key, value)

    def pick(key: str, field: str) -> str | None:
        """``-o`` option, else the inventory field if given (None: take the config's)."""
        if key in cli:
            return cli[key]
        if settings.is_given(field):
            return None
        return _one(opts.get(key))

    # as ssh does with the name it was given: a HostName in a matching block replaces it
    address = cli.get("hostname") or _one(config.get("hostname")) or lookup_name
    port_text = pick("port", "port")
    port = _port(port_text, host.name, source) if port_text else host.port
    user = pick("user", "user") or host.user
    identities: list[str] = []
    if "identityfile" in cli:
        identities.extend(v for k, v in settings.options if k == "identityfile")
    if host.identity_file:
        identities.append(host.identity_file)
    config_ids = config.get("identityfile")
    if isinstance(config_ids, list):
        identities.extend(config_ids)
    elif isinstance(config_ids, str):
        identities.append(config_ids)
    identities = list(dict.fromkeys(os.path.expanduser(i) for i in identities))
    only = str(_one(opts.get("identitiesonly")) or "no").strip().lower() == "yes"
    known_text = pick("userknownhostsfile", "known_hosts")
    known = (
        known_files(known_text, host.name, source)
        if known_text is not None
        else (os.path.expanduser(host.known_hosts or DEFAULT_KNOWN_HOSTS),)
    )
    strict_text = _one(opts.get("stricthostkeychecking"))
    host_keys: HostKeyPolicy = "accept-new" if host.trust_on_first_use else "strict"
    if strict_text is not None:
        host_keys = _host_keys(strict_text, host.name, source)
    timeout_text = pick("connecttimeout", "connect_timeout")
    timeout = (
        _number(timeout_text, "ConnectTimeout", host.name, source)
        if timeout_text
        else host.connect_timeout
    )
    proxy = _one(opts.get("proxycommand"))
    if proxy is not None and proxy.strip().lower() == "none":
        proxy = None
    if proxy is not None and "proxycommand" in cli:
        proxy = _expand_tokens(proxy, address, port, user)
    target = Endpoint(
        label=host.name,
        address=address,
        port=port,
        user=user,
        identities=tuple(identities),
        identities_only=only,
        known_hosts=known,
        host_keys=host_keys,
        connect_timeout=timeout,
        proxy_command=proxy,
    )
    jump_text = cli.get("proxyjump")
    specs: tuple[str, ...]
    # the target's name starts a loop only when its own ssh_config block gave the ProxyJump
    trail: tuple[str, ...] = ()
    if jump_text is not None:
        specs = _split_jumps(_expand_tokens(jump_text, address, port, user))
    elif settings.jump:
        specs = settings.jump
    else:
        specs = _split_jumps(str(_one(opts.get("proxyjump")) or "none"))
        trail = (lookup_name,)
    if specs and proxy is not None:
        raise TransportError(
            f"{host.name}: both a ProxyJump ({', '.join(specs)}) and a ProxyCommand are set; "
            "use one"
        )
    jumps = _jump_chain(specs, path, target, host.name, trail) if specs else ()
    if jumps and (jumps[-1].address, jumps[-1].port, jumps[-1].user) == (
        target.address,
        target.port,
        target.user,
    ):
        raise TransportError(f"{host.name}: jump host loop via {jumps[-1].label}")
    return Route(target, jumps)


def known_files(text: str, owner: str, source: str) -> tuple[str, ...]:
    """``UserKnownHostsFile``'s value: one or several files, separated by whitespace (quotes
    keep a name with spaces whole), with ``~``, ``%d`` (home), ``%u`` (local user) and ``%%``
    expanded as ssh expands them.

    Raises:
        TransportError: no file, unbalanced quotes, ``none`` (checkpointctl never talks to a
            host whose key it cannot check), or another ``%`` token or a ``${VAR}`` (named).
    """
    try:
        words = shlex.split(text)
    except ValueError as e:
        raise TransportError(f"{owner}: {source}: UserKnownHostsFile {text!r}: {e}") from None
    if not words:
        raise TransportError(f"{owner}: {source}: UserKnownHostsFile names no file")
    if [w.lower() for w in words] == ["none"]:
        raise TransportError(
            f"{owner}: {source}: UserKnownHostsFile none is not supported: checkpointctl "
            "always checks host keys"
        )
    return tuple(dict.fromkeys(_local_path(w, owner, source) for w in words))


def _local_path(word: str, owner: str, source: str) -> str:
    """A known_hosts path with its context-free tokens expanded (see :func:`known_files`)."""
    if "${" in word:
        raise TransportError(
            f"{owner}: {source}: UserKnownHostsFile {word}: environment variables are not supported"
        )
    if "%" not in word:
        return os.path.expanduser(word)
    expansions = {"%%": "%", "%d": os.path.expanduser("~"), "%u": getpass.getuser()}
    out: list[str] = []
    i = 0
    while i < len(word):
        if word[i] != "%":
            out.append(word[i])
            i += 1
            continue
        piece = word[i : i + 2]
        if piece not in expansions:
            raise TransportError(
                f"{owner}: {source}: UserKnownHostsFile {word}: token {piece} is not supported "
                "(only %d, %u and %%)"
            )
        out.append(expansions[piece])
        i += 2
    return os.path.expanduser("".join(out))


def _split_jumps(text: str) -> tuple[str, ...]:
    if text.strip().lower() == "none":
        return ()
    return tuple(p.strip() for p in text.split(",") if p.strip())


def parse_jump_spec(spec: str) -> tuple[str | None, str, int | None]:
    """``[user@]host[:port]`` or ``ssh://[user@]host[:port]`` -> (user, host, port).

    Raises:
        ValueError: an empty host or a bad port.
    """
    text = spec[len("ssh://") :] if spec.startswith("ssh://") else spec
    user: str | None = None
    if "@" in text:
        user, text = text.rsplit("@", 1)
    port: int | None = None
    if text.startswith("["):  # [v6address]:port
        end = text.find("]")
        if end < 0:
            raise ValueError(f"jump host {spec!r}: unclosed '['")
        host, rest = text[1:end], text[end + 1 :]
        if rest.startswith(":"):
            port = int(rest[1:])
    elif text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text.isdigit():
            raise ValueError(f"jump host {spec!r}: bad port {port_text!r}")
        port = int(port_text)
    else:
        host = text
    if not host or (port is not None and not 0 < port < 65536):
        raise ValueError(f"jump host {spec!r} is not [user@]host[:port]")
    return user or None, host, port


def _jump_chain(
    specs: Sequence[str], path: str | None, target: Endpoint, owner: str, trail: tuple[str, ...]
) -> tuple[Endpoint, ...]:
    """The hops of ``ProxyJump specs`` (outermost first), preceded by the hops of the first
    one's own ProxyJump, recursively (see the module docstring). ``trail`` names the hosts
    whose ssh_config ProxyJump led here, outermost call first, to name a loop.

    Raises:
        TransportError: a spec or a jump host's block that cannot be used, a loop, or more
            than :data:`MAX_JUMPS` hops.
    """
    first, own = _jump_settings(specs[0], path, owner, first=True)
    before: tuple[Endpoint, ...] = ()
    if own:
        name = first.name
        if name in trail:
            loop = " -> ".join((*trail[trail.index(name) :], name))
            raise TransportError(f"{owner}: ProxyJump loop in ssh_config {path}: {loop}")
        if len(trail) > MAX_JUMPS:
            raise _too_many(owner, (*trail, name))
        before = _jump_chain(own, path, target, owner, (*trail, name))
    chain = (
        *before,
        first.endpoint(target),
        *(_jump_settings(s, path, owner, first=False)[0].endpoint(target) for s in specs[1:]),
    )
    if len(chain) > MAX_JUMPS:
        raise _too_many(owner, tuple(hop.label for hop in chain))
    return chain


def _too_many(owner: str, hops: tuple[str, ...]) -> TransportError:
    return TransportError(
        f"{owner}: more than {MAX_JUMPS} jump hosts on the way ({', '.join(hops)}); "
        "is a ProxyJump in ssh_config looping?"
    )


@dataclass(frozen=True, slots=True)
class _JumpSettings:
    """A jump host as its spec and its own ssh_config block describe it; what they leave
    unset comes from the target (see :meth:`endpoint`)."""

    spec: str
    name: str
    address: str
    port: int
    user: str | None
    identities: tuple[str, ...]
    identities_only: bool
    known_hosts: tuple[str, ...] | None
    host_keys: HostKeyPolicy | None
    connect_timeout: float | None
    proxy_command: str | None = None
    """Only on the first hop of a chain (see :func:`_jump_settings`)."""

    def endpoint(self, target: Endpoint) -> Endpoint:
        """The target's key, known_hosts and timeout fill in what the jump host's block
        leaves unset (the user too: one account across a customer's hosts is the common
        case)."""
        return Endpoint(
            label=self.spec,
            address=self.address,
            port=self.port,
            user=self.user or target.user,
            identities=self.identities or target.identities,
            identities_only=self.identities_only or target.identities_only,
            known_hosts=self.known_hosts or target.known_hosts,
            host_keys=self.host_keys or target.host_keys,
            connect_timeout=self.connect_timeout or target.connect_timeout,
            proxy_command=self.proxy_command,
        )


def _jump_settings(
    spec: str, path: str | None, owner: str, *, first: bool
) -> tuple[_JumpSettings, tuple[str, ...]]:
    """A jump host's spec read with its ssh_config block, and that block's own ProxyJump
    hops (empty when it names none). Only the ``first`` hop of a ProxyJump list reaches its
    host by its own ProxyJump or ProxyCommand; the later ones are reached through the hops
    before them, as with OpenSSH. A first hop with a ProxyCommand has no hop before it, so
    it is the outermost of the route: its connection runs over the command's process.

    Raises:
        TransportError: a malformed spec or value, an unsupported option, or both a
            ProxyJump and a ProxyCommand in the jump host's block.
    """
    try:
        user, name, port = parse_jump_spec(spec)
    except ValueError as e:
        raise TransportError(f"{owner}: {e}") from None
    config = lookup(path, name, owner)
    source = f"ssh_config {path} (jump host {name})"
    check_options(config, source, owner)
    own = _split_jumps(str(_one(config.get("proxyjump")) or "none"))
    proxy = _one(config.get("proxycommand")) if first else None
    if proxy is not None and proxy.strip().lower() == "none":
        proxy = None
    if proxy is not None and own:
        raise TransportError(
            f"{owner}: {source}: both a ProxyJump ({', '.join(own)}) and a ProxyCommand are "
            "set; use one"
        )
    config_port = _one(config.get("port"))
    ids = config.get("identityfile")
    known = _one(config.get("userknownhostsfile"))
    strict = _one(config.get("stricthostkeychecking"))
    timeout = _one(config.get("connecttimeout"))
    settings = _JumpSettings(
        spec=spec,
        name=name,
        address=str(_one(config.get("hostname")) or name),
        port=port or (_port(config_port, owner, source) if config_port else 22),
        user=user or _one(config.get("user")),
        identities=tuple(
            os.path.expanduser(i) for i in (ids if isinstance(ids, list) else [ids] if ids else [])
        ),
        identities_only=str(_one(config.get("identitiesonly")) or "no").lower() == "yes",
        known_hosts=known_files(known, owner, source) if known else None,
        host_keys=_host_keys(strict, owner, source) if strict else None,
        connect_timeout=_number(timeout, "ConnectTimeout", owner, source) if timeout else None,
        proxy_command=proxy,
    )
    return settings, own
