"""The credentials directory's own mode: wider than 0755 is drift, repaired by narrowing only."""

from __future__ import annotations

import subprocess

from checkpointctl.model import Action, Secret
from checkpointctl.resources.credentials.resource import (
    _READ_SCRIPT,
    DIRECTORY_ADDRESS,
    CredentialsResource,
    DirectoryWant,
    parse_read_output,
)
from checkpointctl.spec import CredentialSpec, DesiredState

KEY = "k" * 64
SPEC = CredentialSpec(name="login", username="u", secret=Secret("not-real"))


def _state() -> DesiredState:
    return DesiredState(host="h", credentials=(SPEC,))


def test_the_read_script_reports_the_directory_mode(tmp_path: object) -> None:
    from pathlib import Path

    d = Path(str(tmp_path)) / "credentials"
    d.mkdir()
    d.chmod(0o777)
    out = subprocess.run(
        ["sh", "-c", _READ_SCRIPT, "sh", str(d)], capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("1 0\n777 ")
    assert parse_read_output(out.encode(), KEY).directory_mode == 0o777


def test_a_directory_others_can_write_is_drift_first_and_narrowed() -> None:
    actual = parse_read_output(b"1 0\n777 0 0\n", KEY)
    changes = CredentialsResource().diff(_state(), actual)
    first = changes[0]
    assert first.address == DIRECTORY_ADDRESS
    assert first.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in first.fields] == [("mode", "0777", "0755")]
    assert first.desired == DirectoryWant(0o755)


def test_a_narrower_directory_is_left_alone() -> None:
    for mode in (b"755", b"700", b"711"):
        actual = parse_read_output(b"1 0\n" + mode + b" 0 0\n", KEY)
        changes = CredentialsResource().diff(_state(), actual)
        assert DIRECTORY_ADDRESS not in [c.address for c in changes]


def test_the_repair_only_removes_bits() -> None:
    actual = parse_read_output(b"1 0\n1777 0 0\n", KEY)
    (change,) = [
        c
        for c in CredentialsResource().diff(_state(), actual)
        if c.fields[0].path == "mode" and c.address == DIRECTORY_ADDRESS
    ]
    assert isinstance(change.desired, DirectoryWant)
    assert change.desired.mode == 0o755
    assert change.desired.mode & ~0o1777 == 0
