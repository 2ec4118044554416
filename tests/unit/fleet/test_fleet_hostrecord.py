"""The last-apply record and the audit line, written by their real scripts under the local ``sh``
(the SSH transport sends the same argv in one batch)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from checkpointctl.fleet.hostrecord import audit_command, record_command
from checkpointctl.model import Host
from checkpointctl.transport.batch import run_many
from checkpointctl.transport.local import LocalTransport


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(Host(name="ctl", address="127.0.0.1", connection="local"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_record_replaces_the_file_whole_with_mode_0600(
    local: LocalTransport, tmp_path: Path
) -> None:
    state = tmp_path / "state" / "dir"  # missing: made by the script
    path = state / "last-apply.json"
    for content in (b'{"run": 1}\n', b'{"run": 2, "longer": true}\n', b"{}\n"):
        (done,) = run_many(local, [record_command(str(path), content)])
        assert done.rc == 0, done.stderr
        assert path.read_bytes() == content
        assert _mode(path) == 0o600
    assert sorted(os.listdir(state)) == ["last-apply.json"]  # no temp file left behind


def test_audit_lines_are_appended_to_a_0600_log(local: LocalTransport, tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    lines = [b'{"n": 1}\n', b'{"n": 2, "note": "it\'s $(id) `x`"}\n']
    results = run_many(local, [audit_command(str(log), line) for line in lines])
    assert [r.rc for r in results] == [0, 0]
    assert log.read_bytes() == b"".join(lines)
    assert _mode(log) == 0o600


def test_a_record_that_cannot_be_written_fails_and_leaves_no_temp(
    local: LocalTransport, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    (done,) = run_many(local, [record_command(str(blocker / "last-apply.json"), b"{}")])
    assert done.rc != 0
    assert blocker.read_text() == "not a directory"
