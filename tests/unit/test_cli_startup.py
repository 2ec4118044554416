"""``--version`` and ``--help`` answer without importing the heavy libraries.

Start-up is part of every command and of every CI step that only asks for the version or the
usage; importing cryptography, paramiko, jinja2, jsonschema, PyYAML, docker or rich there costs
several times Python's own start-up (bench/README.md, ``--version``). Each case runs in a fresh
interpreter, as the console script does, and lists the heavy modules that got imported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

HEAVY = ("cryptography", "docker", "jinja2", "jsonschema", "paramiko", "rich", "yaml")

PROBE = f"""
import contextlib, io, json, sys
from checkpointctl.cli.main import main
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted({{name.partition(".")[0] for name in sys.modules}} & set({HEAVY!r}))
print(json.dumps({{"code": code, "heavy": heavy, "out": out.getvalue()}}))
"""


def _probe(*argv: str) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, timeout=60, check=True
    )
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


@pytest.mark.parametrize(
    "argv", [("--version",), ("--help",), ("validate", "--help"), ("apply", "--help")]
)
def test_no_heavy_import(argv: tuple[str, ...]) -> None:
    result = _probe(*argv)
    assert result["code"] == 0
    assert result["out"]
    assert result["heavy"] == [], f"{' '.join(argv)} imported {result['heavy']}"


def test_the_probe_sees_heavy_imports(tmp_path: Path) -> None:
    """The check itself works: a command that loads policies does import YAML and Jinja."""
    result = _probe("validate", str(tmp_path / "nothing-here"))
    assert result["code"] == 1
    assert {"yaml", "jinja2"} <= set(result["heavy"])


def test_the_ssh_transport_imports_paramiko_without_invoke() -> None:
    """paramiko's optional ``invoke`` (~90 ms of imports, only for ssh_config ``Match exec``)
    is not loaded by our transport, and stays importable for anything else afterwards."""
    probe = (
        "import sys, checkpointctl.transport.ssh, paramiko.config as c\n"
        "print('invoke' in sys.modules, c.invoke is None)\n"
        "import importlib.util\n"
        "print(importlib.util.find_spec('invoke') is not None)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    ).stdout.split()
    assert out[:2] == ["False", "True"]
    if out[2] == "True":  # where invoke is installed, the block did not outlive the import
        after = subprocess.run(
            [sys.executable, "-c", "import checkpointctl.transport.ssh, invoke"],
            capture_output=True,
            timeout=60,
        )
        assert after.returncode == 0
