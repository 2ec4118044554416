"""paramiko, imported for the whole package without ``invoke``.

paramiko imports ``invoke`` (a task runner, with heavy imports: ``unittest.mock``, ``asyncio``)
only to run the commands of an ssh_config ``Match exec`` block, and goes without it when the
import fails. checkpointctl reads ssh_config with its own reader (which runs ``Match exec``
itself: :mod:`checkpointctl.transport.ssh.sshconfig`), so every command that talks SSH would
pay that start-up for nothing: the first import of paramiko here sees ``invoke`` as missing. The
block lasts only for that import, so anything else in the process can still import ``invoke``.
Every module of ours imports paramiko through this one.
"""

from __future__ import annotations

import sys

if "paramiko" not in sys.modules and "invoke" not in sys.modules:
    sys.modules["invoke"] = None  # type: ignore[assignment]  # "import invoke" raises ImportError
    try:
        import paramiko
    finally:
        if "invoke" in sys.modules and sys.modules.get("invoke") is None:
            del sys.modules["invoke"]

import paramiko  # already imported above; this binds the name for the modules of ours
from paramiko.pkey import UnknownKeyType

__all__ = ["UnknownKeyType", "paramiko"]
