"""What the lab records about itself, and what it tells callers.

``lab.json`` under the lab root remembers the shape and what ``up`` changed on the machine
(mount-point directories it had to create), so that ``down`` can undo exactly that. The
dataclasses here are the public answers of :mod:`checkpointctl.lab`: :class:`LabInfo` (where
everything is) and :class:`LabStatus` (what is running).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from checkpointctl.lab.layout import (
    BASTION_NAME,
    REGISTRY,
    WEBDAV,
    LabHost,
    LabPaths,
    bastion_host,
    plan_hosts,
)
from checkpointctl.localfile import write_atomic


@dataclass(frozen=True, slots=True)
class LabRecord:
    """The content of ``<root>/lab.json``."""

    full: int
    light: int
    created_dirs: tuple[str, ...] = ()
    """Directories on the machine ``up`` created (empty mount points, /var/run/netns)."""
    bastion: bool = False
    """``up --bastion``: a bastion host, and the others accept SSH from it alone."""

    @property
    def hosts(self) -> tuple[LabHost, ...]:
        planned = plan_hosts(self.full, self.light)
        return (*planned, bastion_host()) if self.bastion else planned


def load_record(paths: LabPaths) -> LabRecord | None:
    """The recorded lab, or None if there is none (or it is unreadable)."""
    try:
        data = json.loads(paths.record.read_text())
        return LabRecord(
            full=int(data["full"]),
            light=int(data["light"]),
            created_dirs=tuple(str(d) for d in data.get("created_dirs", [])),
            bastion=data.get("bastion", False) is True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def save_record(paths: LabPaths, record: LabRecord) -> None:
    data = {
        "format_version": "1",
        "full": record.full,
        "light": record.light,
        "created_dirs": list(record.created_dirs),
    }
    if record.bastion:
        data["bastion"] = True
    write_atomic(paths.record, (json.dumps(data, indent=2) + "\n").encode())


def load_images(paths: LabPaths) -> tuple[dict[str, str], ...]:
    """The entries of ``<root>/images.json`` (empty if absent)."""
    try:
        entries = json.loads(paths.images.read_text())["images"]
        return tuple({str(k): str(v) for k, v in e.items()} for e in entries)
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return ()


@dataclass(frozen=True, slots=True)
class LabInfo:
    """Where the running lab's pieces are: what tests, the demo and the CLI need."""

    root: Path
    inventory: Path
    """The generated Ansible-layout inventory of every lab host."""
    identity_file: Path
    """The client private key every host's root account trusts."""
    known_hosts: Path
    """Every host's address with its host key."""
    registry: str
    """``host:port`` of the lab registry (10.213.0.1:5000)."""
    hosts: tuple[LabHost, ...]
    images: Mapping[str, str] = field(default_factory=dict)
    """Tagged reference (``10.213.0.1:5000/checkpoint/probe:v1``) to pinned ``repo@sha256:``."""
    image_ids: Mapping[str, str] = field(default_factory=dict)
    """Tagged reference to the image ID (config digest) Docker reports after a pull."""

    @property
    def checkpoint_image(self) -> str:
        """``checkpoint/probe:v1`` pinned by digest."""
        return self.images[f"{REGISTRY}/checkpoint/probe:v1"]

    @property
    def checkpoint_image_v2(self) -> str:
        return self.images[f"{REGISTRY}/checkpoint/probe:v2"]

    @property
    def untrusted_image(self) -> str:
        return self.images[f"{REGISTRY}/untrusted/tool:v1"]

    @property
    def reports_url(self) -> str:
        """The lab's WebDAV share for agents' status reports (``<host>.json`` below it)."""
        return f"http://{WEBDAV}/reports/"

    @property
    def full_hosts(self) -> tuple[LabHost, ...]:
        return tuple(h for h in self.hosts if h.kind == "full")

    @property
    def light_hosts(self) -> tuple[LabHost, ...]:
        return tuple(h for h in self.hosts if h.kind == "light" and h.name != BASTION_NAME)

    @property
    def bastion(self) -> LabHost | None:
        """The bastion (``lab up --bastion``), or None."""
        return next((h for h in self.hosts if h.name == BASTION_NAME), None)

    def host(self, name: str) -> LabHost:
        """The lab host called ``name``; KeyError if the lab has no such host."""
        for host in self.hosts:
            if host.name == name:
                return host
        raise KeyError(name)


def make_info(paths: LabPaths, record: LabRecord) -> LabInfo:
    entries = load_images(paths)
    return LabInfo(
        root=paths.root,
        inventory=paths.inventory,
        identity_file=paths.identity_file,
        known_hosts=paths.known_hosts,
        registry=REGISTRY,
        hosts=record.hosts,
        images={e["tagged"]: e["pinned"] for e in entries},
        image_ids={e["tagged"]: e["image_id"] for e in entries},
    )


@dataclass(frozen=True, slots=True)
class HostStatus:
    """Whether one lab host's daemons are running."""

    name: str
    address: str
    kind: str
    sshd: bool
    dockerd: bool | None
    """None on light hosts, which have no dockerd."""

    @property
    def running(self) -> bool:
        return self.sshd and self.dockerd is not False


@dataclass(frozen=True, slots=True)
class LabStatus:
    """The lab at a glance; ``str()`` is the table ``checkpointctl lab status`` prints."""

    root: Path
    registry: str
    registry_running: bool
    hosts: tuple[HostStatus, ...]

    @property
    def full(self) -> int:
        return sum(1 for h in self.hosts if h.kind == "full")

    @property
    def light(self) -> int:
        return sum(1 for h in self.hosts if h.kind == "light" and h.name != BASTION_NAME)

    @property
    def running(self) -> bool:
        """True if there is a lab and every part of it is running."""
        return bool(self.hosts) and self.registry_running and all(h.running for h in self.hosts)

    def __str__(self) -> str:
        if not self.hosts and not self.registry_running:
            return f"lab is down (root {self.root})"
        rows = [("HOST", "ADDRESS", "KIND", "SSHD", "DOCKERD")]
        for h in self.hosts:
            docker = "-" if h.dockerd is None else _word(h.dockerd)
            rows.append((h.name, h.address, h.kind, _word(h.sshd), docker))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
        ]
        lines.append(f"registry {self.registry}: {_word(self.registry_running)}")
        summary = "running" if self.running else "degraded"
        lines.append(f"lab {summary}: {self.full} full, {self.light} light (root {self.root})")
        return "\n".join(lines)


def _word(up: bool) -> str:
    return "up" if up else "DOWN"
