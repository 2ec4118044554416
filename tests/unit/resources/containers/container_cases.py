"""Helpers for the containers unit tests: specs from plain YAML-shaped dicts, recorded JSON.

Test cases are data files; these helpers turn them into the typed objects the resource takes,
so each case file stays short and readable.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from checkpointctl.model import Secret
from checkpointctl.spec import (
    ContainerSpec,
    Healthcheck,
    ImageRef,
    Limits,
    Mount,
)

HERE = Path(__file__).parent
RECORDED = HERE / "recorded"
CASES = HERE / "cases"
GOLDEN = HERE / "golden"
SCANS = HERE / "scans"


def image_ref(text: str) -> ImageRef:
    repo, _, digest = text.partition("@")
    return ImageRef(repo, digest)


def env_value(value: object) -> str | Secret:
    if isinstance(value, Mapping):
        return Secret(str(value["secret"]))
    return str(value)


def build_spec(d: Mapping[str, Any]) -> ContainerSpec:
    """A ContainerSpec from the policy-like dict used in case files (``{secret: …}`` = Secret)."""
    hc = d.get("healthcheck")
    limits = d.get("limits") or {}
    kwargs: dict[str, Any] = {
        "name": d["name"],
        "image": image_ref(d["image"]),
        "command": tuple(d["command"]) if d.get("command") is not None else None,
        "env": tuple((k, env_value(v)) for k, v in (d.get("env") or {}).items()),
        "mounts": tuple(
            Mount(m["source"], m["target"], m.get("read_only", True)) for m in d.get("mounts") or ()
        ),
        "tmpfs": tuple(d.get("tmpfs") or ()),
        "limits": Limits(limits.get("memory"), limits.get("cpus"), limits.get("pids")),
        "healthcheck": Healthcheck(
            test=tuple(hc["test"]),
            interval=hc.get("interval", 30.0),
            timeout=hc.get("timeout", 5.0),
            retries=hc.get("retries", 3),
            start_period=hc.get("start_period", 0.0),
        )
        if hc
        else None,
        "labels": tuple(sorted((d.get("labels") or {}).items())),
        "ports": tuple(d.get("ports") or ()),
    }
    for key in (
        "user",
        "read_only",
        "no_new_privileges",
        "privileged",
        "network_mode",
        "restart",
        "config_digest",
        "pid",
        "ipc",
        "userns_mode",
    ):
        if key in d:
            kwargs[key] = d[key]
    for key in ("cap_drop", "cap_add", "security_opt", "devices"):
        if key in d:
            kwargs[key] = tuple(d[key])
    if "sysctls" in d:
        kwargs["sysctls"] = tuple(sorted(d["sysctls"].items()))
    return ContainerSpec(**kwargs)


def merge(base: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: dicts merge, ``null`` deletes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return copy.deepcopy(patch)
    out = dict(base) if isinstance(base, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge(out.get(key), value)
    return out


def recorded(name: str) -> Any:
    return json.loads((RECORDED / name).read_text())
