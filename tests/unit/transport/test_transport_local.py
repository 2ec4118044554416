"""LocalTransport against this machine: real commands and real files under tmp_path."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from checkpointctl.errors import CommandFailed, CommandTimedOut, TransportError
from checkpointctl.model import Host
from checkpointctl.transport.base import FileStat, Transport
from checkpointctl.transport.command import stderr_tail
from checkpointctl.transport.connect import connect
from checkpointctl.transport.local import LocalTransport

HOST = Host(name="here", address="127.0.0.1", connection="local")


@pytest.fixture
def local() -> LocalTransport:
    return LocalTransport(HOST)


def test_connect_gives_a_local_transport_for_connection_local() -> None:
    transport: Transport = connect(HOST)
    assert isinstance(transport, LocalTransport)
    assert transport.host is HOST
    transport.close()


# -- run ----------------------------------------------------------------------------------------


def test_run_passes_argv_without_a_shell(local: LocalTransport) -> None:
    result = local.run(["/bin/echo", "$(id)", "a;b", "two words"])
    assert result.ok
    assert result.argv == ("/bin/echo", "$(id)", "a;b", "two words")
    assert result.stdout == b"$(id) a;b two words\n"
    assert result.text() == "$(id) a;b two words\n"


def test_run_feeds_stdin_and_separates_stderr(local: LocalTransport) -> None:
    result = local.run(
        ["/bin/sh", "-c", "cat; echo oops >&2; exit 3"], stdin=b"data\n", check=False
    )
    assert (result.rc, result.stdout, result.stderr) == (3, b"data\n", b"oops\n")
    assert not result.ok


def test_run_without_stdin_sees_end_of_input(local: LocalTransport) -> None:
    assert local.run(["/bin/cat"], timeout=10).stdout == b""


def test_run_check_raises_command_failed_with_stderr_tail(local: LocalTransport) -> None:
    script = "for i in $(seq 1 30); do echo line$i >&2; done; exit 4"
    with pytest.raises(CommandFailed) as info:
        local.run(["/bin/sh", "-c", script])
    err = info.value
    assert (err.host, err.rc) == ("here", 4)
    assert err.argv == ("/bin/sh", "-c", script)
    assert err.stderr_tail.splitlines() == [f"line{i}" for i in range(21, 31)]
    assert "exited 4" in str(err)


def test_run_reports_a_missing_program_like_a_shell(local: LocalTransport) -> None:
    result = local.run(["/nonexistent/program"], check=False)
    assert result.rc == 127
    assert b"command not found" in result.stderr
    with pytest.raises(CommandFailed):
        local.run(["/nonexistent/program"])


def test_run_timeout_raises_and_kills_the_process_group(
    local: LocalTransport, tmp_path: Path
) -> None:
    pidfile = tmp_path / "child.pid"
    script = f"sleep 30 & echo $! > {pidfile}; wait"
    with pytest.raises(CommandTimedOut, match=r"did not finish within 0\.5s"):
        local.run(["/bin/sh", "-c", script], timeout=0.5)
    child = int(pidfile.read_text())
    # The background sleep was in the command's process group, so it was killed too. SIGKILL
    # is delivered asynchronously: wait (bounded) until it is dead or a zombie nobody reaped.
    assert wait_dead(child)


def wait_dead(pid: int) -> bool:
    for _ in range(200):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def test_stderr_tail_limits_lines_and_decodes_invalid_utf8() -> None:
    assert stderr_tail(b"a\nb\n\xff\n") == "a\nb\n\ufffd"
    assert len(stderr_tail(b"x" * 10_000)) == 2001


# -- files --------------------------------------------------------------------------------------


def test_read_file_missing_is_none(local: LocalTransport, tmp_path: Path) -> None:
    assert local.read_file(str(tmp_path / "absent")) is None
    assert local.read_file(str(tmp_path / "no" / "dir" / "file")) is None


def test_read_file_of_a_directory_is_an_error(local: LocalTransport, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="cannot read"):
        local.read_file(str(tmp_path))


def test_stat(local: LocalTransport, tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    path.chmod(0o640)
    assert local.stat(str(path)) == FileStat(
        mode=0o640, uid=os.getuid(), gid=os.getgid(), size=5, is_dir=False
    )
    dir_stat = local.stat(str(tmp_path))
    assert dir_stat is not None
    assert dir_stat.is_dir
    assert local.stat(str(tmp_path / "absent")) is None


def test_write_file_creates_parents_mode_and_owner(local: LocalTransport, tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "secret.json"
    old_umask = os.umask(0o077)  # created parents must still be 0755
    try:
        local.write_file(str(path), b'{"k": 1}', mode=0o600, uid=os.getuid(), gid=os.getgid())
    finally:
        os.umask(old_umask)
    assert path.read_bytes() == b'{"k": 1}'
    st = path.stat()
    assert stat.S_IMODE(st.st_mode) == 0o600
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o755


def test_write_file_replaces_atomically_and_leaves_no_temp(
    local: LocalTransport, tmp_path: Path
) -> None:
    path = tmp_path / "conf"
    path.write_bytes(b"old")
    inode_before = path.stat().st_ino
    # A reader holding the old file keeps the old content: the new one is a new inode.
    with path.open("rb") as reader:
        local.write_file(str(path), b"new", mode=0o644, uid=os.getuid(), gid=os.getgid())
        assert reader.read() == b"old"
    assert path.read_bytes() == b"new"
    assert path.stat().st_ino != inode_before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conf"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
def test_write_file_chowns_as_root(local: LocalTransport, tmp_path: Path) -> None:
    path = tmp_path / "owned"
    local.write_file(str(path), b"x", mode=0o640, uid=1234, gid=5678)
    st = path.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 5678, 0o640)


def test_write_file_failure_is_a_transport_error_and_cleans_up(
    local: LocalTransport, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(TransportError, match="cannot write"):
        local.write_file(str(blocker / "child"), b"x", mode=0o600)
    target = tmp_path / "dir-in-the-way"
    target.mkdir()
    with pytest.raises(TransportError, match="cannot write"):
        local.write_file(str(target), b"x", mode=0o600, uid=os.getuid(), gid=os.getgid())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir-in-the-way", "file"]


def test_remove_file_is_idempotent(local: LocalTransport, tmp_path: Path) -> None:
    path = tmp_path / "gone"
    path.write_bytes(b"x")
    local.remove_file(str(path))
    assert not path.exists()
    local.remove_file(str(path))  # already gone: no error


def test_close_without_docker_is_harmless(local: LocalTransport) -> None:
    local.close()
    local.close()
