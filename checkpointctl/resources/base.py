"""The resource contract.

A resource owns one coarse slice of a host's state (all containers, one nftables table, the
credential files, the collection files). ``read`` is thin I/O plus a pure parse; ``diff`` is
pure and deterministic; ``apply`` executes one change atomically. Because read and diff have no
side effects, ``drift`` is simply ``apply`` without the last step, for every resource.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from checkpointctl.model import Change, Finding
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import Transport


class Resource(Protocol):
    """A kind of host state. Implementations are stateless; all state is passed in."""

    kind: ClassVar[str]

    def read(self, transport: Transport, desired: DesiredState) -> object:
        """Read the actual state relevant to ``desired`` (no side effects)."""
        ...

    def diff(self, desired: DesiredState, actual: object) -> list[Change]:
        """Changes that turn ``actual`` into ``desired``; pure, deterministic order."""
        ...

    def findings(self, desired: DesiredState, actual: object) -> list[Finding]:
        """Observations to report that the resource will not change (may be empty)."""
        ...

    def apply(self, transport: Transport, change: Change) -> None:
        """Make one change real, atomically for its address."""
        ...
