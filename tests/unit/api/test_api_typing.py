"""The API is typed for its users: a client using only ``checkpointctl.api`` passes
``mypy --strict``, and a misuse of it fails (so the API's types are not ``Any``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import checkpointctl.api as api

HERE = Path(__file__).parent
REPO = HERE.parents[2]

MISUSE = """
from checkpointctl import api

inventory = api.load_inventory("inventory.yml")
report = api.drift(inventory, {}, forks="many")
text: int = api.render_report(report, "pdf")
"""


def test_client_passes_strict_mypy_and_misuse_fails(tmp_path: Path) -> None:
    misuse = tmp_path / "misuse.py"
    misuse.write_text(MISUSE, encoding="utf-8")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file",
            str(REPO / "pyproject.toml"),
            "--cache-dir",
            str(REPO / ".mypy_cache"),
            str(HERE / "api_client.py"),
            str(misuse),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    errors = [line for line in proc.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if "api_client.py" in e], proc.stdout
    assert {e.split(":")[1] for e in errors if "misuse.py" in e} == {"5", "6"}, proc.stdout
    assert any('"forks"' in e for e in errors), proc.stdout
    assert any('"pdf"' in e or "Literal" in e for e in errors), proc.stdout


def test_the_client_imports_only_the_api() -> None:
    source = (HERE / "api_client.py").read_text(encoding="utf-8")
    imports = [line for line in source.splitlines() if "checkpointctl" in line and "import" in line]
    assert imports == ["from checkpointctl import api"]


def test_every_exported_name_exists_and_has_a_docstring_when_callable() -> None:
    for name in api.__all__:
        value = getattr(api, name)
        if callable(value) and not isinstance(value, type) and name[0].islower():
            assert value.__doc__, f"api.{name} has no docstring"
