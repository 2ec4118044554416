"""Every transport implements the whole ``Transport`` protocol, and nobody probes for methods.

Capabilities are declared as sub-protocols of ``Transport`` (transport/base.py); a transport
without a use for one answers through the method's typed return, so callers (the pool, the host
lock) call the method instead of looking for it with ``getattr``/``hasattr``.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from checkpointctl.transport.base import Transport
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.pool import PooledTransport
from checkpointctl.transport.ssh import SshTransport

PACKAGE = Path(__file__).resolve().parents[3] / "checkpointctl"


def protocol_members() -> set[str]:
    members: set[str] = set()
    for cls in Transport.__mro__:
        if cls is object or cls.__name__ == "Protocol" or cls.__name__ == "Generic":
            continue
        members.update(name for name in vars(cls) if not name.startswith("_"))
        members.update(getattr(cls, "__annotations__", {}))
    return members


def test_the_protocol_declares_every_capability() -> None:
    assert {
        "run",
        "run_many",
        "spawn",
        "keep_shell",
        "adopt_shell",
        "drop_shell",
        "read_file",
        "stat",
        "write_file",
        "remove_file",
        "docker",
        "alive",
        "close",
        "host",
    } <= protocol_members()


@pytest.mark.parametrize("cls", [LocalTransport, SshTransport, PooledTransport])
def test_every_transport_implements_every_method(cls: type) -> None:
    methods = protocol_members() - {"host"}
    missing = {m for m in methods if not inspect.isfunction(getattr(cls, m, None))}
    assert not missing, f"{cls.__name__} lacks {sorted(missing)}"


def test_no_capability_is_discovered_with_getattr_or_hasattr() -> None:
    offenders = []
    for folder in ("transport", "engine"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (
                    isinstance(node, ast.Call)
                    and isinstance(node.func, ast.Name)
                    and node.func.id in ("getattr", "hasattr")
                ):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not offenders
