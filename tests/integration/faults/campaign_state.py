"""The campaign's desired state in plain data (a recipe), shared by the campaign and its
controller process: the same recipe builds the same :class:`DesiredState` in both."""

from __future__ import annotations

import json
from dataclasses import dataclass

from checkpointctl.model import Secret
from checkpointctl.resources.base import Resource
from checkpointctl.resources.collection.resource import CollectionResource
from checkpointctl.resources.credentials.resource import CredentialsResource
from checkpointctl.resources.firewall.resource import FirewallResource
from checkpointctl.resources.paths import PathsResource
from checkpointctl.spec import (
    CollectionSpec,
    CredentialSpec,
    DesiredState,
    FirewallRule,
    FirewallSpec,
)

CONTROLLER = "10.213.0.1"
CONTAINER = "probe-campaign"
ROLLBACK_AFTER = 5.0
"""The firewall's commit-confirmed window in the campaign (short, so a killed controller's
timer fires within a round)."""


@dataclass(frozen=True, slots=True)
class Recipe:
    """What the campaign converges: credentials (name, secret), collection toggles for one
    container, and extra outbound ports to the controller."""

    host: str
    credentials: tuple[tuple[str, str], ...]
    settings: tuple[tuple[str, bool], ...]
    ports: tuple[int, ...]

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "credentials": [list(c) for c in self.credentials],
                "settings": [list(s) for s in self.settings],
                "ports": list(self.ports),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> Recipe:
        doc = json.loads(text)
        return cls(
            doc["host"],
            tuple((str(n), str(s)) for n, s in doc["credentials"]),
            tuple((str(k), bool(v)) for k, v in doc["settings"]),
            tuple(int(p) for p in doc["ports"]),
        )

    def state(self) -> DesiredState:
        creds = tuple(
            CredentialSpec(
                name=name,
                username=f"{name}-monitor",
                secret=Secret(secret),
                containers=(CONTAINER,),
                uid=65534,
                gid=65534,
            )
            for name, secret in self.credentials
        )
        firewall = FirewallSpec(
            management_from=(f"{CONTROLLER}/32",),
            outbound=(
                FirewallRule("tcp", 5000, (f"{CONTROLLER}/32",), comment="lab registry"),
                *(
                    FirewallRule("tcp", p, (f"{CONTROLLER}/32",), comment="campaign")
                    for p in self.ports
                ),
            ),
        )
        return DesiredState(
            host=self.host,
            credentials=creds,
            collection=(CollectionSpec(CONTAINER, "minimal", self.settings),),
            firewall=firewall,
            policies=("campaign",),
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        return tuple(s for _, s in self.credentials)


def resources(*, pull_mode: bool) -> tuple[Resource, ...]:
    """Every resource but containers (the campaign's time budget; the container faults have
    their own tests), the firewall with a short commit-confirmed window."""
    return (
        PathsResource(),
        FirewallResource(pull_mode=pull_mode, rollback_after=ROLLBACK_AFTER, confirm_timeout=2.0),
        CredentialsResource(),
        CollectionResource(),
    )
