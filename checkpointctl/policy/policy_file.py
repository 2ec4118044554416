"""A loaded policy file: its name, selector, priority and located document."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from checkpointctl.errors import Location
from checkpointctl.inventory import label_value
from checkpointctl.model import Host
from checkpointctl.yamlsource import Document


@dataclass(frozen=True)
class Selector:
    """Which hosts a policy applies to: every given criterion must match (AND)."""

    groups: tuple[str, ...] = ()
    hosts: tuple[str, ...] = ()
    labels: tuple[tuple[str, object], ...] = ()

    def matches(self, host: Host) -> bool:
        if self.groups and not any(g in host.groups for g in self.groups):
            return False
        if self.hosts and not any(fnmatch.fnmatchcase(host.name, p) for p in self.hosts):
            return False
        return all(label_value(host, k) == v for k, v in self.labels)


@dataclass(frozen=True)
class Policy:
    """One policy document. ``doc.data`` is the raw (untemplated) YAML data."""

    name: str
    priority: int
    selector: Selector
    doc: Document
    template_vars: frozenset[str] = field(default_factory=frozenset)

    @property
    def path(self) -> str:
        return self.doc.path

    @property
    def location(self) -> Location:
        return self.doc.where(())

    @property
    def spec(self) -> dict[str, Any]:
        spec = self.doc.data.get("spec") or {}
        assert isinstance(spec, dict)
        return spec
