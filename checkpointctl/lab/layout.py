"""Names, addresses and paths of the lab: pure functions, no I/O.

Everything the lab creates on the machine is named here, so that ``up``, ``down``, ``status``
and the cleanup of a half-dead earlier lab agree on what belongs to the lab: the bridge
``cplab0``, network namespaces ``cplab-<host>``, root-side veths ``cpl-<host>``, the state root,
and the 10.213.0.0/16 range that only the lab uses.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from checkpointctl.errors import LabError

Kind = Literal["full", "light"]

DEFAULT_ROOT = Path("/var/lib/checkpointctl-lab")
ROOT_ENV = "CHECKPOINTCTL_LAB_ROOT"

BRIDGE = "cplab0"
PREFIX_LEN = 16
CONTROLLER_ADDRESS = "10.213.0.1"
REGISTRY_PORT = 5000
REGISTRY = f"{CONTROLLER_ADDRESS}:{REGISTRY_PORT}"
WEBDAV_PORT = 8088
WEBDAV = f"{CONTROLLER_ADDRESS}:{WEBDAV_PORT}"
"""The lab's WebDAV share (Debian's nginx): agents PUT their status reports below /reports/."""
NETNS_DIR = Path("/var/run/netns")
NETNS_PREFIX = "cplab-"
VETH_PREFIX = "cpl-"
MAX_FULL = 250
MAX_LIGHT = 500
REGIONS = ("eu", "us")

# Where the lab's hosts see their configuration and state. They are bind-mount targets inside
# each host's private mount namespace; on the machine they are (at most) empty directories.
HOST_MOUNTS = {
    "etc-checkpoint": Path("/etc/checkpoint"),
    "state": Path("/var/lib/checkpointctl"),
    "etc-docker": Path("/etc/docker"),
}

_NAME = re.compile(r"^(cp|lt)-([1-9][0-9]{0,2})$")
BASTION_NAME = "bastion"
BASTION_ADDRESS = "10.213.0.2"
BASTION_MANAGEMENT_CIDR = "10.213.0.0/30"
"""Management sources behind the bastion: the bastion (.2) and the controller (.1)."""
LAB_USER = "checkpointctl"
"""The unprivileged account every lab host accepts the lab key for; it escalates with sudo."""


@dataclass(frozen=True, slots=True)
class LabHost:
    """One lab host: a network namespace with its own sshd (and dockerd when ``full``)."""

    name: str
    """``cp-N`` for full hosts, ``lt-N`` for light ones."""
    address: str
    """Its IPv4 address on the lab bridge (10.213.0.0/16)."""
    kind: Kind
    index: int
    """N in the name, 1-based."""

    @property
    def netns(self) -> str:
        return NETNS_PREFIX + self.name

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def veth(self) -> str:
        """The root-namespace end of the host's veth pair (at most 10 characters)."""
        return VETH_PREFIX + self.name

    @property
    def region(self) -> str:
        return REGIONS[(self.index - 1) % len(REGIONS)]

    @property
    def cidr(self) -> str:
        return f"{self.address}/{PREFIX_LEN}"


def full_host(n: int) -> LabHost:
    """Full host ``cp-n`` at 10.213.1.n."""
    if not 1 <= n <= MAX_FULL:
        raise LabError(f"full host index must be 1..{MAX_FULL} (got {n})")
    return LabHost(f"cp-{n}", f"10.213.1.{n}", "full", n)


def light_host(i: int) -> LabHost:
    """Light host ``lt-i`` at 10.213.(2 + (i-1)//250).((i-1)%250 + 1)."""
    if not 1 <= i <= MAX_LIGHT:
        raise LabError(f"light host index must be 1..{MAX_LIGHT} (got {i})")
    return LabHost(f"lt-{i}", f"10.213.{2 + (i - 1) // 250}.{(i - 1) % 250 + 1}", "light", i)


def bastion_host() -> LabHost:
    """The bastion (``lab up --bastion``): a light host at 10.213.0.2, the only address whose
    SSH the checkpoint hosts then accept."""
    return LabHost(BASTION_NAME, BASTION_ADDRESS, "light", 1)


def plan_hosts(full: int, light: int) -> tuple[LabHost, ...]:
    """The hosts of a lab with ``full`` full and ``light`` light hosts, in inventory order."""
    if not 0 <= full <= MAX_FULL:
        raise LabError(f"the lab supports 0..{MAX_FULL} full hosts (got {full})")
    if not 0 <= light <= MAX_LIGHT:
        raise LabError(f"the lab supports 0..{MAX_LIGHT} light hosts (got {light})")
    return tuple(full_host(n) for n in range(1, full + 1)) + tuple(
        light_host(i) for i in range(1, light + 1)
    )


def host_by_name(name: str) -> LabHost | None:
    """The lab host a name denotes (``cp-3``, ``lt-42``, ``bastion``), or None if it is not a
    lab name."""
    if name == BASTION_NAME:
        return bastion_host()
    match = _NAME.match(name)
    if match is None:
        return None
    index = int(match.group(2))
    if match.group(1) == "cp":
        return full_host(index) if index <= MAX_FULL else None
    return light_host(index) if index <= MAX_LIGHT else None


def lab_root() -> Path:
    """The state root: ``$CHECKPOINTCTL_LAB_ROOT`` or /var/lib/checkpointctl-lab."""
    value = os.environ.get(ROOT_ENV, "")
    root = Path(value) if value else DEFAULT_ROOT
    if not root.is_absolute() or any(c.isspace() for c in str(root)):
        # sshd_config and the launcher's command line carry it unquoted
        raise LabError(f"{ROOT_ENV} must be an absolute path without spaces (got {value!r})")
    return root


@dataclass(frozen=True, slots=True)
class LabPaths:
    """Every file the lab writes lives under ``root``; this names them."""

    root: Path

    @property
    def marker(self) -> Path:
        """Proof that ``root`` is a lab root: ``down`` deletes nothing without it."""
        return self.root / ".checkpointctl-lab"

    @property
    def record(self) -> Path:
        return self.root / "lab.json"

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.yml"

    @property
    def images(self) -> Path:
        return self.root / "images.json"

    @property
    def identity_file(self) -> Path:
        return self.root / "id_ed25519"

    @property
    def authorized_keys(self) -> Path:
        return self.root / "authorized_keys"

    @property
    def known_hosts(self) -> Path:
        return self.root / "known_hosts"

    @property
    def registry_dir(self) -> Path:
        return self.root / "registry"

    @property
    def webdav_dir(self) -> Path:
        """The lab's nginx: its config, pidfile, logs, temp files and the share (``share/``)."""
        return self.root / "webdav"

    @property
    def hosts_dir(self) -> Path:
        return self.root / "hosts"

    @property
    def ssh_config(self) -> Path:
        """The OpenSSH client config ``lab up --bastion`` writes (ProxyJump via the bastion)."""
        return self.root / "ssh_config"

    @property
    def bastion_inventory(self) -> Path:
        """The inventory variant that reaches the hosts through ``ssh_config``."""
        return self.root / "inventory-bastion.yml"

    @property
    def sudo_inventory(self) -> Path:
        """The inventory variant that logs in as the unprivileged user with become."""
        return self.root / "inventory-sudo.yml"

    def host_dir(self, host: LabHost) -> Path:
        return self.hosts_dir / host.name


def lab_paths() -> LabPaths:
    return LabPaths(lab_root())
