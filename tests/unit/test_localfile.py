"""The one local file writer: atomic, exact modes, never through a link at the destination."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from checkpointctl.localfile import write_atomic


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_replaces_a_link_instead_of_writing_through_it(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_bytes(b"keep me")
    link = tmp_path / "out"
    link.symlink_to(victim)
    write_atomic(link, b"new", mode=0o600)
    assert victim.read_bytes() == b"keep me"
    assert not link.is_symlink()
    assert link.read_bytes() == b"new"


def test_an_exact_mode_ignores_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        write_atomic(tmp_path / "pub", b"x", mode=0o644)
    finally:
        os.umask(old)
    assert _mode(tmp_path / "pub") == 0o644


def test_none_keeps_the_current_mode(tmp_path: Path) -> None:
    path = tmp_path / "policy.yml"
    path.write_bytes(b"old")
    path.chmod(0o640)
    write_atomic(path, b"new", mode=None)
    assert (path.read_bytes(), _mode(path)) == (b"new", 0o640)


def test_the_default_mode_is_what_open_gives(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        write_atomic(tmp_path / "report.json", b"{}")
    finally:
        os.umask(old)
    assert _mode(tmp_path / "report.json") == 0o640


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "dir-in-the-way"
    path.mkdir()
    (path / "child").write_bytes(b"")
    with pytest.raises(IsADirectoryError):
        write_atomic(path, b"new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way"]
