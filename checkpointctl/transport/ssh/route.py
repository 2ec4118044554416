"""Where an SSH connection goes and through what: the host, its jump hosts, its settings.

Operators already describe their networks to OpenSSH: ``~/.ssh/config`` and
``/etc/ssh/ssh_config`` (or ``-F FILE`` alone) with ``Host``/``Match`` blocks, and the
inventory's ``ansible_ssh_common_args``. This module reads both
(:mod:`checkpointctl.transport.ssh.sshconfig` reads the files as ssh does, ``Include`` and
``Match exec`` included) and maps every option it meets explicitly: the supported ones onto an
:class:`Endpoint`, a short list of harmless ones (logging, keepalives, multiplexing: nothing
that changes whom we talk to or what we trust) is passed over, and any other option is an error
naming the option and its file and line, never dropped.

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

Tokens (``%h``, ``%p``, ``%r``, ``%C``…, see :mod:`checkpointctl.transport.ssh.tokens`) are
expanded here, once a hop's address, port and user are final, for each option as ssh_config(5)
lists them: IdentityFile and UserKnownHostsFile (``${VAR}`` too, from the config or ``-o``;
the inventory's own key and known_hosts fields are paths, read as written), HostName,
ProxyCommand and ProxyJump. A jump host's tokens stand for the jump host.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.hostkeys import DEFAULT_KNOWN_HOSTS
from checkpointctl.transport.ssh.sshconfig import (
    SYSTEM_CONFIG,
    ConfigError,
    Given,
    Options,
    SshConfig,
    argv_split,
    combine,
    parse_path,
)
from checkpointctl.transport.ssh.tokens import TokenError, TokenValues, expand
from checkpointctl.transport.sshfiles import FileCache

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
    "gssapiauthentication": None,
    "gssapidelegatecredentials": None,
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


CONFIGS: FileCache[SshConfig] = FileCache(parse_path)


def config_paths(host: Host) -> tuple[str, ...]:
    """The ssh_config files for ``host``, in the order ssh reads them: its ``-F`` file alone,
    else ``~/.ssh/config`` and then the system's :data:`SYSTEM_CONFIG`, those that exist.

    Raises:
        TransportError: the host names a file that does not exist.
    """
    if host.ssh.config_file is not None:
        path = os.path.expanduser(host.ssh.config_file)
        if not os.path.isfile(path):
            raise TransportError(f"{host.name}: ssh_config file {path} does not exist")
        return (path,)
    found = (os.path.expanduser(DEFAULT_CONFIG), SYSTEM_CONFIG)
    return tuple(p for p in found if os.path.isfile(p))


def lookup(paths: Sequence[str], name: str, owner: str, given: Given) -> Options:
    """The settings ``paths``, read one after the other, give ``name`` (see
    :meth:`SshConfig.lookup`).

    Raises:
        TransportError: a file cannot be read or used (a line ssh would refuse, a Match
            criterion that cannot be evaluated, a ``Match exec`` that cannot run), named with
            its file and line.
    """
    configs: list[SshConfig] = []
    for path in paths:
        try:
            configs.append(CONFIGS.get(path))
        except OSError as e:
            raise TransportError(f"{owner}: cannot use ssh_config {path}: {e}") from e
        except ConfigError as e:
            raise TransportError(f"{owner}: {e}") from e
    if not configs:
        return {}
    try:
        return _combined(tuple(configs)).lookup(name, given)
    except ConfigError as e:
        raise TransportError(f"{owner}: {e}") from e


_COMBINED: dict[tuple[int, ...], tuple[tuple[SshConfig, ...], SshConfig]] = {}
_COMBINED_LOCK = threading.Lock()


def _combined(configs: tuple[SshConfig, ...]) -> SshConfig:
    """:func:`combine` once per set of parsed files (the cache holds the files it was made
    of, so their ids stay theirs; keyed by id: hashing a big config per host would cost more
    than combining it)."""
    if len(configs) == 1:
        return configs[0]
    key = tuple(id(c) for c in configs)
    with _COMBINED_LOCK:
        hit = _COMBINED.get(key)
        if hit is not None:
            return hit[1]
        combined = combine(configs)
        if len(_COMBINED) >= 8:
            _COMBINED.clear()
        _COMBINED[key] = (configs, combined)
        return combined


def check_options(options: Iterable[tuple[str, str, str]], owner: str) -> None:
    """Refuse every option that is neither supported nor harmless (named, with its source).
    ``options`` are ``(keyword, value, source)``.

    Raises:
        TransportError: the first such option, by name.
    """
    for key, text, source in options:
        if key in SUPPORTED:
            continue
        if key in HARMLESS:
            allowed = HARMLESS[key]
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


def _config_options(options: Options, suffix: str) -> list[tuple[str, str, str]]:
    """The settings of a lookup as :func:`check_options` takes them."""
    return [
        (key, " ".join(found[0].args), f"ssh_config {found[0].where}{suffix}")
        for key, found in options.items()
        if found
    ]


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


@dataclass(frozen=True, slots=True)
class _Value:
    """One option's value and where it was set: a config line or the inventory's ``-o``."""

    key: str
    text: str
    """As written (ProxyCommand and ProxyJump use it whole)."""
    args: tuple[str, ...]
    source: str

    def one(self, owner: str) -> str:
        """The single argument of a keyword that takes one (as ssh, more is an error).

        Raises:
            TransportError: no argument, or more than one.
        """
        if len(self.args) != 1 or not self.args[0]:
            raise TransportError(
                f"{owner}: {self.source}: {self.key} takes one argument, "
                f"got {len(self.args)} ({self.text!r})"
            )
        return self.args[0]

    def expanded(self, text: str, values: TokenValues, owner: str) -> str:
        """``text`` (this option's value or one of its words) with its tokens expanded (a
        ProxyCommand is run by a shell: see :func:`expand`'s ``for_shell``).

        Raises:
            TransportError: a token the keyword does not accept, an unset ``${VAR}``, or a
                value the shell would interpret in a ProxyCommand.
        """
        try:
            return expand(self.key, text, values, for_shell=self.key == "proxycommand")
        except TokenError as e:
            raise TransportError(f"{owner}: {self.source}: {e}") from None


def _from_config(options: Options, key: str, suffix: str) -> list[_Value]:
    return [
        _Value(key, s.text, s.args, f"ssh_config {s.where}{suffix}") for s in options.get(key, [])
    ]


def _from_cli(key: str, text: str) -> _Value:
    """An inventory ``-o`` (or ``-i``, ``-J``…) value: its words split as ssh splits ``-o``."""
    try:
        args = tuple(argv_split(text)) if key == "userknownhostsfile" else (text,)
    except ValueError as e:
        raise TransportError(f"inventory ssh arguments: {key} {text!r}: {e}") from None
    return _Value(key, text, args, "inventory ssh arguments")


def _first_value(
    cli: Mapping[str, str], config: Options, key: str, suffix: str = ""
) -> _Value | None:
    """``-o`` first, then the config (None: neither sets it)."""
    if key in cli:
        return _from_cli(key, cli[key])
    found = _from_config(config, key, suffix)
    return found[0] if found else None


def _none(text: str | None) -> str | None:
    """``none`` (any case) turns an option off."""
    return None if text is None or text.strip().lower() == "none" else text


def resolve(host: Host) -> Route:
    """The route to ``host`` (see the module docstring for precedence).

    Raises:
        TransportError: an unsupported or malformed option (named, with its file and line),
            a token an option does not accept, a jump host spec that cannot be read, or both
            a ProxyJump and a ProxyCommand.
    """
    paths = config_paths(host)
    settings = host.ssh
    lookup_name = host.address if settings.is_given("address") else host.name
    cli: dict[str, str] = {}
    for key, value in settings.options:
        cli.setdefault(key, value)  # as ssh's -o: the first one wins
    cli_jump = cli.get("proxyjump") or (",".join(settings.jump) if settings.jump else None)
    given = Given(
        hostname=cli.get("hostname"),
        user=cli.get("user") or (host.user if settings.is_given("user") else None),
        port=_given_port(cli.get("port"), host.port if settings.is_given("port") else None),
        jump=cli_jump,
    )
    config = lookup(paths, lookup_name, host.name, given)
    check_options(_config_options(config, ""), host.name)
    check_options(((k, v, "inventory ssh arguments") for k, v in settings.options), host.name)

    def pick(key: str, field: str) -> _Value | None:
        """``-o`` option, else the config's unless the inventory field is given."""
        if key in cli:
            return _from_cli(key, cli[key])
        if settings.is_given(field):
            return None
        found = _from_config(config, key, "")
        return found[0] if found else None

    # as ssh does with the name it was given: a HostName replaces it, its %h the name
    hostname = _first_value(cli, config, "hostname")
    address = lookup_name
    if hostname is not None:
        address = hostname.expanded(hostname.one(host.name), _name_only(lookup_name), host.name)
    port_value = pick("port", "port")
    port = (
        _port(port_value.one(host.name), host.name, port_value.source) if port_value else host.port
    )
    user_value = pick("user", "user")
    user = user_value.one(host.name) if user_value else host.user
    jump_value = (
        None if settings.jump and "proxyjump" not in cli else _first_value(cli, config, "proxyjump")
    )
    jump_text = _none(jump_value.text if jump_value else cli_jump) or ""
    values = TokenValues(
        host=address.lower(), original=lookup_name, port=port, remote_user=user, jump=jump_text
    )

    identities: list[str] = []
    for key, value in settings.options:
        if key == "identityfile":
            cli_id = _from_cli(key, value)
            identities.append(cli_id.expanded(value, values, host.name))
    if host.identity_file:
        identities.append(os.path.expanduser(host.identity_file))
    for setting in _from_config(config, "identityfile", ""):
        identities.append(setting.expanded(setting.one(host.name), values, host.name))
    identities = list(dict.fromkeys(identities))
    only_value = _first_value(cli, config, "identitiesonly")
    only = only_value is not None and only_value.one(host.name).lower() == "yes"
    known_value = pick("userknownhostsfile", "known_hosts")
    known = (
        known_files(known_value, values, host.name)
        if known_value is not None
        else (os.path.expanduser(host.known_hosts or DEFAULT_KNOWN_HOSTS),)
    )
    strict_value = _first_value(cli, config, "stricthostkeychecking")
    host_keys: HostKeyPolicy = "accept-new" if host.trust_on_first_use else "strict"
    if strict_value is not None:
        host_keys = _host_keys(strict_value.one(host.name), host.name, strict_value.source)
    timeout_value = pick("connecttimeout", "connect_timeout")
    timeout = (
        _number(timeout_value.one(host.name), "ConnectTimeout", host.name, timeout_value.source)
        if timeout_value
        else host.connect_timeout
    )
    proxy_value = _first_value(cli, config, "proxycommand")
    proxy = _none(proxy_value.text if proxy_value else None)
    if proxy is not None and proxy_value is not None:
        proxy = proxy_value.expanded(proxy, values, host.name)
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
    specs: tuple[str, ...]
    # the target's name starts a loop only when its own ssh_config block gave the ProxyJump
    trail: tuple[str, ...] = ()
    if settings.jump and "proxyjump" not in cli:
        specs = settings.jump
    else:
        text = _none(jump_value.text if jump_value else None)
        specs = ()
        if jump_value is not None and text is not None:
            specs = _split_jumps(jump_value.expanded(text, values, host.name))
        if "proxyjump" not in cli:
            trail = (lookup_name,)
    if specs and proxy is not None:
        raise TransportError(
            f"{host.name}: both a ProxyJump ({', '.join(specs)}) and a ProxyCommand are set; "
            "use one"
        )
    jumps = _jump_chain(specs, paths, target, host.name, trail) if specs else ()
    if jumps and (jumps[-1].address, jumps[-1].port, jumps[-1].user) == (
        target.address,
        target.port,
        target.user,
    ):
        raise TransportError(f"{host.name}: jump host loop via {jumps[-1].label}")
    return Route(target, jumps)


def _given_port(option: str | None, field: int | None) -> int | None:
    """The port ``Match exec``'s ``%p`` sees before the file is read: ``-o Port``, else the
    inventory's (a malformed ``-o Port`` is refused later, with the other options)."""
    if option is not None:
        return int(option) if option.isdigit() else None
    return field


def _name_only(name: str) -> TokenValues:
    """The values HostName's ``%h`` sees: the name as given (HostName takes only %h and %%)."""
    return TokenValues(host=name, original=name, port=22, remote_user="")


def known_files(value: _Value, values: TokenValues, owner: str) -> tuple[str, ...]:
    """``UserKnownHostsFile``'s value: one or several files (the words as ssh splits them,
    quotes keeping a name with spaces whole), each with ``~``, the tokens ssh_config(5) lists
    for it and ``${VAR}`` expanded for this host.

    Raises:
        TransportError: no file, ``none`` (checkpointctl never talks to a host whose key it
            cannot check), an empty word, or a token or variable ssh would refuse (named).
    """
    words = value.args
    if not words:
        raise TransportError(f"{owner}: {value.source}: UserKnownHostsFile names no file")
    if [w.lower() for w in words] == ["none"]:
        raise TransportError(
            f"{owner}: {value.source}: UserKnownHostsFile none is not supported: checkpointctl "
            "always checks host keys"
        )
    if any(not w for w in words):
        raise TransportError(f"{owner}: {value.source}: UserKnownHostsFile: an empty file name")
    return tuple(dict.fromkeys(value.expanded(w, values, owner) for w in words))


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
    specs: Sequence[str],
    paths: Sequence[str],
    target: Endpoint,
    owner: str,
    trail: tuple[str, ...],
) -> tuple[Endpoint, ...]:
    """The hops of ``ProxyJump specs`` (outermost first), preceded by the hops of the first
    one's own ProxyJump, recursively (see the module docstring). ``trail`` names the hosts
    whose ssh_config ProxyJump led here, outermost call first, to name a loop.

    Raises:
        TransportError: a spec or a jump host's block that cannot be used, a loop, or more
            than :data:`MAX_JUMPS` hops.
    """
    first, name, own = _jump_endpoint(specs[0], paths, target, owner, before=None)
    before: tuple[Endpoint, ...] = ()
    if own:
        if name in trail:
            loop = " -> ".join((*trail[trail.index(name) :], name))
            where = ", ".join(paths)
            raise TransportError(f"{owner}: ProxyJump loop in ssh_config {where}: {loop}")
        if len(trail) > MAX_JUMPS:
            raise _too_many(owner, (*trail, name))
        before = _jump_chain(own, paths, target, owner, (*trail, name))
    chain = (
        *before,
        first,
        *(
            _jump_endpoint(s, paths, target, owner, before=",".join(specs[: i + 1]))[0]
            for i, s in enumerate(specs[1:])
        ),
    )
    if len(chain) > MAX_JUMPS:
        raise _too_many(owner, tuple(hop.label for hop in chain))
    return chain


def _too_many(owner: str, hops: tuple[str, ...]) -> TransportError:
    return TransportError(
        f"{owner}: more than {MAX_JUMPS} jump hosts on the way ({', '.join(hops)}); "
        "is a ProxyJump in ssh_config looping?"
    )


def _jump_endpoint(
    spec: str, paths: Sequence[str], target: Endpoint, owner: str, *, before: str | None
) -> tuple[Endpoint, str, tuple[str, ...]]:
    """A jump host as its spec and its own ssh_config block describe it, its name, and that
    block's own ProxyJump hops (empty when it names none).

    ``before`` is None for the first hop of a ProxyJump list, which alone reaches its host by
    its own ProxyJump or ProxyCommand; a later hop is reached through the hops ``before`` it,
    as with OpenSSH (``ssh -J before -W …``: that ``-J`` is its ProxyJump, and its ``%j``). A
    first hop with a ProxyCommand has no hop before it, so it is the outermost of the route:
    its connection runs over the command's process.

    What the block leaves unset comes from the target: its user (one account across a
    customer's hosts is the common case), key, known_hosts, host key policy and timeout.
    The block's tokens stand for the jump host: its address, name, port and user.

    Raises:
        TransportError: a malformed spec or value, an unsupported option or token, or both a
            ProxyJump and a ProxyCommand in the jump host's block.
    """
    try:
        spec_user, name, spec_port = parse_jump_spec(spec)
    except ValueError as e:
        raise TransportError(f"{owner}: {e}") from None
    config = lookup(paths, name, owner, Given(user=spec_user, port=spec_port, jump=before))
    suffix = f" (jump host {name})"
    check_options(_config_options(config, suffix), owner)

    def first_value(key: str) -> _Value | None:
        found = _from_config(config, key, suffix)
        return found[0] if found else None

    own_value = first_value("proxyjump") if before is None else None
    own_text = _none(own_value.text if own_value else None)
    proxy_value = first_value("proxycommand") if before is None else None
    proxy = _none(proxy_value.text if proxy_value else None)
    hostname = first_value("hostname")
    address = hostname.expanded(hostname.one(owner), _name_only(name), owner) if hostname else name
    port_value = first_value("port")
    port = spec_port or (
        _port(port_value.one(owner), owner, port_value.source) if port_value else 22
    )
    user_value = first_value("user")
    user = spec_user or (user_value.one(owner) if user_value else target.user)
    values = TokenValues(
        host=address.lower(),
        original=name,
        port=port,
        remote_user=user,
        jump=(before if before is not None else own_text) or "",
    )
    own = (
        _split_jumps(own_value.expanded(own_text, values, owner))
        if own_value is not None and own_text
        else ()
    )
    if proxy is not None and proxy_value is not None:
        if own:
            raise TransportError(
                f"{owner}: {proxy_value.source}: both a ProxyJump ({', '.join(own)}) and a "
                "ProxyCommand are set; use one"
            )
        proxy = proxy_value.expanded(proxy, values, owner)
    identities = tuple(
        dict.fromkeys(
            v.expanded(v.one(owner), values, owner)
            for v in _from_config(config, "identityfile", suffix)
        )
    )
    known_value = first_value("userknownhostsfile")
    strict_value = first_value("stricthostkeychecking")
    timeout_value = first_value("connecttimeout")
    only_value = first_value("identitiesonly")
    endpoint = Endpoint(
        label=spec,
        address=address,
        port=port,
        user=user,
        identities=identities or target.identities,
        identities_only=(only_value is not None and only_value.one(owner).lower() == "yes")
        or target.identities_only,
        known_hosts=known_files(known_value, values, owner) if known_value else target.known_hosts,
        host_keys=_host_keys(strict_value.one(owner), owner, strict_value.source)
        if strict_value
        else target.host_keys,
        connect_timeout=_number(
            timeout_value.one(owner), "ConnectTimeout", owner, timeout_value.source
        )
        if timeout_value
        else target.connect_timeout,
        proxy_command=proxy,
    )
    return endpoint, name, own
