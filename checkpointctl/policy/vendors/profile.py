"""The data a vendor profile is made of (see :mod:`checkpointctl.policy.vendors`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from checkpointctl.model import JSONValue

SettingTarget = Literal["env", "file"]


@dataclass(frozen=True, slots=True)
class Setting:
    """One variable or configuration key the vendor's agent reads, by the vendor's name."""

    name: str
    container: str
    """The role (profile container name) that reads it."""
    target: SettingTarget = "env"
    secret: bool = False
    """Must be a vaulted value in the policy."""
    required: bool = False
    """The agent refuses to start without it."""


@dataclass(frozen=True, slots=True)
class Toggle:
    """Where a data-collection toggle reaches the agent: a variable of one container."""

    container: str
    variable: str
    target: SettingTarget = "env"
    warn_when_off: str = ""
    """A consequence to warn about when the toggle is turned off."""


@dataclass(frozen=True, slots=True)
class ProfileWaiver:
    """A hardening rule a profile container is exempt from, and the vendor's documented why."""

    rule: str
    container: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """A configuration document the agent reads from a file (secrets inside)."""

    container: str
    path: str
    format: Literal["json", "yaml"] = "json"


@dataclass(frozen=True, slots=True)
class VendorProfile:
    """Everything a vendor documents about running its private-location agent."""

    name: str
    title: str
    pages: tuple[str, ...]
    """The vendor's public pages the profile follows."""
    containers: tuple[tuple[str, Mapping[str, JSONValue]], ...]
    """(role, policy-shaped container fields), in start order."""
    settings: tuple[Setting, ...]
    toggles: Mapping[str, Toggle] = field(default_factory=dict)
    unenforceable: str = ""
    """Why the toggles without an entry in ``toggles`` cannot be enforced by this vendor."""
    egress: tuple[str, ...] = ()
    """Documented outbound endpoints (HTTPS, port 443)."""
    waivers: tuple[ProfileWaiver, ...] = ()
    config_file: ConfigFile | None = None
    notes: tuple[str, ...] = ()
    """What the profile could not confirm from a vendor page."""

    @property
    def origin(self) -> str:
        """How ``render`` names the profile as the source of a field (its page is shown once,
        under ``origin.profile``)."""
        return f"vendor {self.name}"

    def setting(self, name: str) -> Setting | None:
        return next((s for s in self.settings if s.name == name), None)


def hardened(**extra: JSONValue) -> dict[str, JSONValue]:
    """The hardened runtime every profile container starts from (policy-shaped fields)."""
    base: dict[str, JSONValue] = {
        "user": "10001:10001",
        "read_only": True,
        "cap_drop": ["ALL"],
        "no_new_privileges": True,
        "privileged": False,
        "tmpfs": ["/tmp:size=256m,mode=1777"],  # noqa: S108 - a private tmpfs in the container  # noqa: S108 - a private tmpfs in the container
        "resources": {"memory": "1g", "cpus": 1, "pids": 512},
        "restart": "always",
        "logging": {"driver": "json-file", "max_size": "10m", "max_file": 3},
    }
    base.update(extra)
    return base


__all__ = [
    "ConfigFile",
    "ProfileWaiver",
    "Setting",
    "SettingTarget",
    "Toggle",
    "VendorProfile",
    "hardened",
]
