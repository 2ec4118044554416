"""The credentials directory's own mode: wider than 0755 is drift, repaired by narrowing only."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from checkpointctl.model import Action, Secret
from checkpointctl.resources.credentials.resource import (
    DIRECTORY_ADDRESS,
    CredentialsResource,
    DirectoryWant,
    keyed_digest,
    parse_read_output,
    read_command,
    render_manifest,
)
from checkpointctl.spec import CredentialSpec, DesiredState

KEY = "k" * 64
SPEC = CredentialSpec(name="login", username="u", secret=Secret("not-real"))


def _state() -> DesiredState:
    return DesiredState(host="h", credentials=(SPEC,))


def test_the_read_script_reports_the_directory_mode(tmp_path: Path) -> None:
    """A directory mode the path check lets through (sticky, like /tmp) but wider than ours."""
    if os.geteuid() != 0:
        pytest.skip("the read's path check wants every directory on the way owned by root")
    d = tmp_path / "credentials"
    d.mkdir()
    d.chmod(0o1777)
    command, key = read_command(str(d))
    out = subprocess.run(list(command.argv), capture_output=True, text=True, check=True).stdout
    assert out.startswith("1 0\n1777 0 0\n")
    assert parse_read_output(out.encode(), key).directory_mode == 0o1777


def test_the_read_script_gives_each_file_its_own_metadata_after_the_check(tmp_path: Path) -> None:
    """One ``stat`` checks the directories and describes the files: each file's line is its own
    (modes differ per file), and the digests follow in the same order."""
    if os.geteuid() != 0:
        pytest.skip("the read's path check wants every directory on the way owned by root")
    d = tmp_path / "credentials"
    d.mkdir(mode=0o700)
    for name, mode in (("a.json", 0o400), ("b b.json", 0o440), ("c.json", 0o600)):
        (d / name).write_text(name)
        (d / name).chmod(mode)
    command, key = read_command(str(d))
    out = subprocess.run(list(command.argv), capture_output=True, check=True).stdout
    actual = parse_read_output(out, key)
    assert actual.directory_mode == 0o700
    assert {f.rsplit("/", 1)[1]: m.mode for f, m in actual.files.items()} == {
        "a.json": 0o400,
        "b b.json": 0o440,
        "c.json": 0o600,
    }


def test_the_read_script_refuses_a_linked_directory_and_reads_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the read's path check wants every directory on the way owned by root")
    real = tmp_path / "elsewhere"
    real.mkdir(mode=0o700)
    (real / "a.json").write_text("secret")
    (tmp_path / "credentials").symlink_to(real)
    command, _ = read_command(str(tmp_path / "credentials"))
    proc = subprocess.run(list(command.argv), capture_output=True, text=True)
    assert proc.returncode == 86
    assert proc.stdout == f"unsafe link - {tmp_path / 'credentials'}\n"


def test_nothing_at_the_directory_is_an_empty_answer_without_a_check(tmp_path: Path) -> None:
    command, key = read_command(str(tmp_path / "absent" / "credentials"))
    out = subprocess.run(list(command.argv), capture_output=True, check=True).stdout
    assert out == b"0 0\n"
    assert parse_read_output(out, key).files == {}


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


@pytest.mark.parametrize("drifted", [False, True])
def test_the_manifest_travels_only_when_it_is_not_the_expected_one(
    tmp_path: Path, drifted: bool
) -> None:
    if os.geteuid() != 0:
        pytest.skip("the read's path check wants every directory on the way owned by root")
    d = tmp_path / "credentials"
    d.mkdir(mode=0o755)
    expected = render_manifest([SPEC])
    on_host = expected.replace(b'"u"', b'"someone-else"') if drifted else expected
    assert (on_host != expected) is drifted
    (d / "manifest.json").write_bytes(on_host)
    command, key = read_command(str(d), manifest=expected)
    out = subprocess.run(list(command.argv), capture_output=True, check=True).stdout
    assert out.endswith(b"--manifest--\n" + on_host if drifted else b"--manifest-as-expected--\n")
    actual = parse_read_output(out, key, expected)
    assert actual.manifest == on_host
    assert actual.files[str(d / "manifest.json")].digest == keyed_digest(key, on_host)
