"""The safe-path scripts on this machine (local transport, a temporary tree): a link, a foreign
owner, a group-writable mode or a FIFO on the way refuse the operation and leave the outside
untouched; the shell check and the Python check agree on every case."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from checkpointctl.model import Host
from checkpointctl.transport import safepath
from checkpointctl.transport.batch import Command, run_many
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.safepath import Problem, UnsafePathError, Violation

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="ownership rules need root")


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(Host(name="here", address="localhost", connection="local"))


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """``managed`` (root, 0755) and a world-writable ``decoy`` holding a file ``marker``."""
    tmp_path.chmod(0o755)
    managed = tmp_path / "managed"
    managed.mkdir(mode=0o755)
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    decoy.chmod(0o777)
    (decoy / "marker").write_text("keep me\n")
    return managed, decoy


def _fingerprint(directory: Path) -> dict[str, tuple[int, int, str]]:
    out = {}
    for p in sorted(directory.iterdir()):
        st = p.lstat()
        out[p.name] = (st.st_mode, st.st_uid, hashlib.sha256(p.read_bytes()).hexdigest())
    st = directory.lstat()
    out["."] = (st.st_mode, st.st_uid, "")
    return out


def _hostile(managed: Path, decoy: Path, how: str) -> Violation:
    creds = managed / "credentials"
    if how == "link":
        creds.symlink_to(decoy)
        return Violation(str(creds), Problem.LINK)
    creds.mkdir(mode=0o755)
    if how == "owner":
        os.chown(creds, 1000, 1000)
        return Violation(str(creds), Problem.OWNER, "1000")
    if how == "mode":
        creds.chmod(0o775)
        return Violation(str(creds), Problem.MODE, "775")
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["link", "owner", "mode"])
def test_write_remove_read_refuse_and_touch_nothing(
    local: LocalTransport, tree: tuple[Path, Path], how: str
) -> None:
    managed, decoy = tree
    expected = _hostile(managed, decoy, how)
    before = _fingerprint(decoy)
    target = str(managed / "credentials" / "api")
    with pytest.raises(UnsafePathError) as err:
        safepath.write(local, target, b"s3cret", mode=0o400, uid=65534, gid=65534)
    assert err.value.violations == (expected,)
    assert expected.path in str(err.value)
    with pytest.raises(UnsafePathError):
        safepath.remove(local, str(managed / "credentials" / "marker"))
    with pytest.raises(UnsafePathError):
        safepath.read(local, str(managed / "credentials" / "marker"))
    assert _fingerprint(decoy) == before
    assert safepath.check_local([str(managed / "credentials")]) == [expected]


def test_guarded_read_is_refused_before_it_runs(
    local: LocalTransport, tree: tuple[Path, Path]
) -> None:
    managed, decoy = tree
    _hostile(managed, decoy, "link")
    listing = Command(("ls", "--", str(managed / "credentials")))
    ok = safepath.guarded(Command(("echo", "ran")), [str(managed)])
    refused = safepath.guarded(listing, [str(managed / "credentials")])
    first, second = run_many(local, [ok, refused])
    assert first.stdout == b"ran\n"
    assert safepath.refusal(first) is None
    assert safepath.refusal(second) == [Violation(str(managed / "credentials"), Problem.LINK)]
    assert b"marker" not in second.stdout


def test_write_creates_checked_directories_and_replaces_a_link_target(
    local: LocalTransport, tree: tuple[Path, Path]
) -> None:
    managed, decoy = tree
    target = managed / "a" / "b" / "file"
    safepath.write(local, str(target), b"data", mode=0o640, uid=0, gid=0)
    assert target.read_bytes() == b"data"
    assert oct(target.stat().st_mode & 0o7777) == "0o640"
    assert oct((managed / "a").stat().st_mode & 0o7777) == "0o755"
    # a link where the file should be is replaced by the rename, its target left alone
    link = managed / "a" / "b" / "link"
    link.symlink_to(decoy / "marker")
    safepath.write(local, str(link), b"ours", mode=0o600)
    assert not link.is_symlink()
    assert link.read_bytes() == b"ours"
    assert (decoy / "marker").read_text() == "keep me\n"
    safepath.remove(local, str(link))
    assert not link.exists()
    assert [p.name for p in (managed / "a" / "b").iterdir()] == ["file"]  # no temp left


def test_fifo_and_directory_are_never_opened(
    local: LocalTransport, tree: tuple[Path, Path]
) -> None:
    managed, _ = tree
    fifo = managed / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(UnsafePathError, match="FIFO"):
        safepath.read(local, str(fifo))
    (managed / "dir").mkdir()
    with pytest.raises(UnsafePathError, match="directory"):
        safepath.write(local, str(managed / "dir"), b"x", mode=0o600)
    with pytest.raises(UnsafePathError):
        safepath.remove(local, str(managed / "dir"))
    assert (managed / "dir").is_dir()
    assert safepath.read(local, str(managed / "absent")) is None


def test_sticky_world_writable_ancestor_is_accepted(tmp_path: Path) -> None:
    sticky = tmp_path / "sticky"
    sticky.mkdir()
    sticky.chmod(0o1777)
    (sticky / "inner").mkdir(mode=0o755)
    tmp_path.chmod(0o755)
    assert safepath.check_local([str(sticky / "inner")]) == []


def test_violation_messages_name_path_and_problem() -> None:
    assert Violation("/etc/checkpoint", Problem.MODE, "777").message == (
        "/etc/checkpoint is writable by group or others (mode 0777)"
    )
    assert "symbolic link" in Violation("/x", Problem.LINK).message
    assert "uid 1000" in Violation("/x", Problem.OWNER, "1000").message
    assert "FIFO" in Violation("/x", Problem.TYPE, "1180").message


def test_parse_drops_paths_reached_through_a_violation() -> None:
    text = "unsafe link - /etc/checkpoint\nunsafe owner 5 /etc/checkpoint/credentials\nnoise\n"
    assert safepath.parse_violations(text) == [Violation("/etc/checkpoint", Problem.LINK)]


def test_a_shell_script_gets_the_check_inline_with_its_own_arguments(
    local: LocalTransport, tree: tuple[Path, Path]
) -> None:
    managed, decoy = tree
    script = Command(("sh", "-c", 'printf "%s|" "$#" "$@"', "sh", "a b", "c"))
    inline = safepath.guarded(script, [str(managed)])
    assert inline.argv[:2] == ("sh", "-c")
    assert inline.argv[2].endswith(script.argv[2])
    assert local.run(inline.argv).stdout == b"2|a b|c|"
    _hostile(managed, decoy, "link")
    refused = local.run(safepath.guarded(script, [str(managed / "credentials")]).argv, check=False)
    assert safepath.refusal(refused) == [Violation(str(managed / "credentials"), Problem.LINK)]
