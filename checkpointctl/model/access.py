"""How a host is reached and who runs commands there: SSH settings and privilege escalation.

These are the typed form of the inventory variables operators already use with Ansible
(``ansible_ssh_common_args``, ``ansible_ssh_extra_args``, ``ssh_jump``/``bastion``,
``ansible_become*``). The SSH command-line arguments are parsed here, once, into
``-o``-style options, so the transport sees typed data and never a shell string; an argument we
do not support is an error naming it rather than something silently dropped.
"""

from __future__ import annotations

import dataclasses
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from checkpointctl.model import Become, Host, Secret, SshSettings

#: ssh(1) flags with a value that the inventory's SSH arguments may carry, and the
#: ssh_config option each one stands for.
FLAG_OPTIONS = {
    "-o": "",
    "-J": "proxyjump",
    "-F": "",
    "-i": "identityfile",
    "-p": "port",
    "-l": "user",
}
#: Flags without a value that change nothing checkpointctl does: ``-q`` (quiet), ``-C``
#: (compression, a bandwidth trade) and ``-T`` (no terminal; checkpointctl never asks for one).
HARMLESS_FLAGS = frozenset({"-q", "-C", "-T"})


@dataclass(frozen=True, slots=True)
class SshArgs:
    """What ``ansible_ssh_common_args``/``ansible_ssh_extra_args`` said, as options."""

    options: tuple[tuple[str, str], ...] = ()
    config_file: str | None = None


def parse_ssh_args(text: str, field: str) -> SshArgs:
    """Parse ssh(1) command-line arguments the way the shell would split them.

    Supported: ``-o Key=Value`` (also ``-oKey=Value`` and ``-o "Key Value"``), ``-J hops``,
    ``-F file``, ``-i file``, ``-p port``, ``-l user``, and the harmless ``-q``, ``-C``, ``-T``.

    Raises:
        ValueError: unbalanced quotes, a flag without its value, or an unsupported argument
            (named, with ``field``).
    """
    try:
        words = shlex.split(text, comments=False, posix=True)
    except ValueError as e:
        raise ValueError(f"{field}: cannot split {text!r}: {e}") from None
    options: list[tuple[str, str]] = []
    config_file: str | None = None
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word in HARMLESS_FLAGS:
            continue
        flag, attached = word[:2], word[2:]
        if flag not in FLAG_OPTIONS or not word.startswith("-"):
            raise ValueError(
                f"{field}: unsupported ssh argument {word!r} "
                "(supported: -o, -J, -F, -i, -p, -l, -q, -C, -T)"
            )
        if attached:
            value = attached
        elif i < len(words):
            value = words[i]
            i += 1
        else:
            raise ValueError(f"{field}: {flag} needs a value")
        if flag == "-F":
            config_file = value
        elif flag == "-o":
            options.append(split_option(value, field))
        else:
            options.append((FLAG_OPTIONS[flag], value))
    return SshArgs(tuple(options), config_file)


def split_option(text: str, field: str) -> tuple[str, str]:
    """``Key=Value`` or ``Key Value`` as ssh's ``-o`` takes it: (lower-cased key, value).

    Raises:
        ValueError: no value.
    """
    text = text.strip()
    for i, ch in enumerate(text):
        if ch == "=" or ch.isspace():
            key, value = text[:i], text[i + 1 :].strip().lstrip("=").strip()
            if key and value:
                return key.lower(), value
            break
    raise ValueError(f"{field}: -o {text!r} is not Key=Value")


def parse_jump(value: object, field: str) -> tuple[str, ...]:
    """``ssh_jump``/``bastion``: one ``[user@]host[:port]``, a comma-separated chain, or a list.

    Raises:
        ValueError: empty, or not a string or list of strings.
    """
    items: list[str] = []
    if isinstance(value, str):
        items = [p.strip() for p in value.split(",")]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        items = [str(v).strip() for v in value]
    else:
        raise ValueError(f"{field}: expected [user@]host[:port] or a list of them")
    if not items or not all(items):
        raise ValueError(f"{field}: empty jump host")
    return tuple(items)


def with_default_config_file(host: Host, path: str) -> Host:
    """``host`` reading ``path`` as its ssh_config (``ssh -F``) unless its inventory names
    one (``-F`` in its SSH arguments, or ``ssh_config_file``): the command line's file is the
    default for the fleet, a host's own setting is the exception to it."""
    if host.ssh.config_file is not None:
        return host
    return dataclasses.replace(host, ssh=dataclasses.replace(host.ssh, config_file=path))


def truthy(value: object) -> bool:
    """Ansible's booleans: ``true``/``yes``/``on``/``1`` in any case, or a YAML true."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y")
    return value is True or value == 1


#: Ansible's names for the become settings, ours first (ours win within one level).
BECOME_VARS = ("become", "ansible_become")
BECOME_USER_VARS = ("become_user", "ansible_become_user")
BECOME_METHOD_VARS = ("become_method", "ansible_become_method")
BECOME_PASSWORD_VARS = ("become_password", "ansible_become_password", "ansible_become_pass")
#: Become settings that would change how sudo is run; not supported, so an error when set.
UNSUPPORTED_BECOME_VARS = ("ansible_become_exe", "ansible_become_flags", "become_flags")
SSH_ARGS_VARS = ("ansible_ssh_common_args", "ansible_ssh_extra_args")
JUMP_VARS = ("ssh_jump", "bastion")


def _first(hvars: Mapping[str, object], names: tuple[str, ...]) -> tuple[str, object] | None:
    for name in names:
        if hvars.get(name) is not None:
            return name, hvars[name]
    return None


def host_access(hvars: Mapping[str, object]) -> tuple[SshSettings, Become | None]:
    """The SSH settings and become settings a host's merged variables describe.

    Raises:
        ValueError: a value is malformed or asks for something unsupported (named).
    """
    options: list[tuple[str, str]] = []
    config_file: str | None = None
    for name in SSH_ARGS_VARS:
        value = hvars.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise ValueError(f"{name}: expected a string of ssh arguments")
        parsed = parse_ssh_args(value, name)
        options.extend(parsed.options)
        config_file = parsed.config_file or config_file
    own_config = hvars.get("ssh_config_file")
    if own_config is not None:
        config_file = str(own_config)
    jump_var = _first(hvars, JUMP_VARS)
    jump = parse_jump(jump_var[1], jump_var[0]) if jump_var else ()
    passphrase = hvars.get("ssh_key_passphrase_file")
    ssh = SshSettings(
        config_file=config_file,
        options=tuple(options),
        jump=jump,
        passphrase_file=None if passphrase is None else str(passphrase),
    )
    for name in UNSUPPORTED_BECOME_VARS:
        if hvars.get(name) not in (None, ""):
            raise ValueError(f"{name} is not supported (checkpointctl runs `sudo -n` or `sudo -S`)")
    wanted = _first(hvars, BECOME_VARS)
    if wanted is None or not truthy(wanted[1]):
        return ssh, None
    method = _first(hvars, BECOME_METHOD_VARS)
    if method is not None and method[1] != "sudo":
        raise ValueError(f"{method[0]}: {method[1]!r} is not supported (only sudo)")
    user = _first(hvars, BECOME_USER_VARS)
    secret = _first(hvars, BECOME_PASSWORD_VARS)
    password: Secret | None = None
    if secret is not None:
        value = secret[1]
        if isinstance(value, Secret):
            password = value
        elif isinstance(value, str | int):
            if "\n" in str(value) or "\r" in str(value):
                raise ValueError(f"{secret[0]}: a sudo password cannot contain a line break")
            password = Secret(str(value))
        else:
            raise ValueError(f"{secret[0]}: expected a string")
    return ssh, Become(user="root" if user is None else str(user[1]), password=password)
