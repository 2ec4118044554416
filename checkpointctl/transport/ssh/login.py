"""Who each host's SSH session logs in as, for ``validate``: a warning for direct root logins.

Logging in as root means a stolen controller key is root on every host, with nothing in the
host's logs but "root logged in". The README's "Least privilege" setup (an unprivileged user,
``become: true``, one sudoers rule) is what ``validate`` points at. The login user is the one
the connection would use, ssh_config included, so an ``User`` from ``~/.ssh/config`` counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from checkpointctl.errors import TransportError
from checkpointctl.model import Host
from checkpointctl.transport.ssh.route import resolve


def login_user(host: Host) -> str:
    """The user the host's SSH connection logs in as (the inventory's when its ssh_config
    cannot be read: ``validate`` does not fail on that, the connection will)."""
    try:
        return resolve(host).target.user
    except TransportError:
        return host.user


def root_logins(hosts: Iterable[Host]) -> list[str]:
    """Names of the SSH hosts that log in as root directly."""
    return [h.name for h in hosts if h.connection == "ssh" and login_user(h) == "root"]


def root_login_warning(hosts: Iterable[Host]) -> str | None:
    """The ``validate`` warning for hosts that log in as root, or None."""
    names = root_logins(hosts)
    if not names:
        return None
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return (
        f"warning: {len(names)} host(s) log in as root directly ({shown})\n"
        "  hint: log in as an unprivileged user with `become: true` and the sudoers rule in the "
        "README (Least privilege)"
    )
