"""The host lock: messages (pure) and the real ``flock`` mechanism on this machine.

The mechanism tests use the local transport with the lock in a temporary directory: the same
``flock … cat`` process the SSH transport runs on a host, so a holder that dies (``kill -9``)
really releases the lock, and the next one really finds its owner record.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from checkpointctl.engine.lock import (
    HELD_SCRIPT,
    LockBusyError,
    LockNoteKind,
    LockOwner,
    LockPaths,
    acquire,
    busy_message,
    current_owner,
    stale_message,
    waited_message,
)
from checkpointctl.errors import LockError
from checkpointctl.model import Host
from checkpointctl.transport.framing import new_token
from checkpointctl.transport.local import LocalTransport
from checkpointctl.transport.shellserver import decode_response, encode_request

OWNER = LockOwner("ops", "ci-3", 812, "2025-03-01T10:00:00+00:00")


def test_busy_message_names_host_user_controller_and_time() -> None:
    text = busy_message("cp-ams-1", OWNER)
    first = text.splitlines()[0]
    assert first == (
        "cp-ams-1 is being converged by ops@ci-3 (pid 812, apply) since 2025-03-01T10:00:00+00:00"
    )
    assert "hint: wait for it with --lock-wait SECONDS" in text


def test_busy_message_after_waiting_says_how_long() -> None:
    assert busy_message("cp-1", OWNER, 30).endswith("; gave up after waiting 30s (--lock-wait)")


def test_busy_message_without_owner_record() -> None:
    assert "another controller (which has not recorded itself yet)" in busy_message("cp-1", None)


def test_stale_message_names_the_dead_holder() -> None:
    text = stale_message(OWNER)
    assert text.startswith("took over a stale lock left by ops@ci-3 (pid 812, apply) since")
    assert "its holder is gone" in text
    assert "no readable record" in stale_message(None)


def test_waited_message() -> None:
    assert waited_message(OWNER, 2.345) == (
        "waited 2.3s for the lock held by ops@ci-3 (pid 812, apply) since 2025-03-01T10:00:00+00:00"
    )


def test_owner_json_round_trip_and_tolerance() -> None:
    assert LockOwner.from_json(OWNER.to_json()) == OWNER
    assert LockOwner.from_json(b"not json") is None
    assert LockOwner.from_json(b"[1]") is None
    partial = LockOwner.from_json(b'{"user": "x", "pid": "nope"}')
    assert partial == LockOwner("x", "?", 0, "?", "apply")


def test_current_owner_is_this_process() -> None:
    owner = current_owner()
    assert owner.pid == os.getpid()
    assert "@" in owner.who


@pytest.fixture
def local(tmp_path: Path) -> tuple[LocalTransport, LockPaths]:
    transport = LocalTransport(Host("here", "127.0.0.1", connection="local"))
    return transport, LockPaths.under(str(tmp_path / "state"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_held_lock_writes_the_record_and_appends_the_audit_line(
    local: tuple[LocalTransport, LockPaths],
) -> None:
    """The last-apply record is replaced whole (0600, no temp file left), audit lines are
    appended (0600), and values a shell would interpret are written as they are."""
    transport, paths = local
    record, audit = Path(paths.record), Path(paths.audit)
    lines = []
    for run, note in enumerate(("first", 'it\'s $(id) `x` \\n "q"', "third")):
        held = acquire(transport, OWNER, paths=paths)
        doc = json.dumps({"run": run, "note": note}).encode()
        line = json.dumps({"audit": run, "note": note}).encode() + b"\n"
        lines.append(line)
        if run == 1:  # records and release in one exchange
            assert held.write_records(doc + b"\n", line, release=True) == []
            assert not Path(paths.owner).exists()
        else:
            assert held.write_records(doc + b"\n", line) == []
        held.release()
        assert record.read_bytes() == doc + b"\n"
        assert audit.read_bytes() == b"".join(lines)
    assert (_mode(record), _mode(audit)) == (0o600, 0o600)
    assert sorted(os.listdir(record.parent)) == ["audit.jsonl", "last-apply.json", "lock"]


def test_a_record_that_cannot_be_written_is_reported_and_the_line_still_appended(
    local: tuple[LocalTransport, LockPaths],
) -> None:
    transport, paths = local
    blocked = dataclasses.replace(paths, record=str(Path(paths.record).parent / "no" / "x.json"))
    held = acquire(transport, OWNER, paths=blocked)
    try:
        problems = held.write_records(b"{}", b'{"n": 1}')
        with pytest.raises(ValueError, match="one line"):
            held.write_records(b"{\n}", b"{}")
    finally:
        held.release()
    assert len(problems) == 1
    assert problems[0].startswith(f"could not write the host's last-apply record {blocked.record}")
    assert Path(paths.audit).read_bytes() == b'{"n": 1}\n'
    assert not Path(paths.owner).exists()  # released normally after the failure


def test_second_taker_fails_with_the_holders_name(local: tuple[LocalTransport, LockPaths]) -> None:
    transport, paths = local
    held = acquire(transport, OWNER, paths=paths)
    try:
        with pytest.raises(LockError) as info:
            acquire(transport, current_owner(), paths=paths)
        assert str(info.value).startswith("here is being converged by ops@ci-3 (pid 812, apply)")
        recorded = json.loads(Path(paths.owner).read_text())
        assert recorded["user"] == "ops"
    finally:
        held.release()
    assert not Path(paths.owner).exists()


def test_release_lets_the_next_one_in_without_notes(
    local: tuple[LocalTransport, LockPaths],
) -> None:
    transport, paths = local
    acquire(transport, OWNER, paths=paths).release()
    again = acquire(transport, OWNER, paths=paths)
    assert again.notes == ()
    again.release()


def test_waiting_gives_up_after_lock_wait(local: tuple[LocalTransport, LockPaths]) -> None:
    transport, paths = local
    held = acquire(transport, OWNER, paths=paths)
    try:
        with pytest.raises(LockBusyError, match=r"gave up after waiting 0.5s"):
            acquire(transport, OWNER, paths=paths, wait=0.5)
    finally:
        held.release()


HOLDER = """
import sys, time
from checkpointctl.engine.lock import LockPaths, acquire, current_owner
from checkpointctl.model import Host
from checkpointctl.transport.local import LocalTransport
t = LocalTransport(Host("here", "127.0.0.1", connection="local"))
acquire(t, current_owner(), paths=LockPaths(sys.argv[1], sys.argv[2]))
print("held", flush=True)
time.sleep(600)
"""


def _start_holder(paths: LockPaths) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, paths.lock, paths.owner],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "held\n"
    return proc


def test_a_waiter_gets_the_lock_when_the_holder_is_killed(
    local: tuple[LocalTransport, LockPaths],
) -> None:
    transport, paths = local
    holder = _start_holder(paths)
    with pytest.raises(LockBusyError, match="is being converged by"):
        acquire(transport, OWNER, paths=paths)
    killer = subprocess.Popen(["sh", "-c", f"sleep 1; kill -9 {holder.pid}"])
    started = time.monotonic()
    lock = acquire(transport, OWNER, paths=paths, wait=60)
    killer.wait()
    holder.wait()
    assert holder.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 60
    assert [n.kind for n in lock.notes] == [LockNoteKind.WAITED, LockNoteKind.STALE]
    assert lock.notes[0].text.startswith("waited ")
    assert lock.notes[1].text.startswith("took over a stale lock left by ")
    assert f"(pid {holder.pid}, apply)" in lock.notes[1].text
    lock.release()


def test_kill_9_releases_the_lock_and_the_next_taker_reports_it_stale(
    local: tuple[LocalTransport, LockPaths],
) -> None:
    transport, paths = local
    holder = _start_holder(paths)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    deadline = time.monotonic() + 10
    while True:  # cat sees EOF and exits right after its parent died; give it a moment
        try:
            lock = acquire(transport, OWNER, paths=paths)
            break
        except LockError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert len(lock.notes) == 1
    assert lock.notes[0].kind is LockNoteKind.STALE
    assert f"(pid {holder.pid}, apply)" in lock.notes[0].text
    assert "stale" in lock.notes[0].text
    lock.release()


def test_the_held_shell_answers_command_batches_under_the_lock(tmp_path: Path) -> None:
    """While the lock is held, its shell runs kept-shell requests (what ``lend_shell`` hands the
    SSH transport), then still writes the records and releases: real ``flock`` and ``sh``."""
    paths = LockPaths.under(str(tmp_path))
    argv = ["flock", "--nonblock", paths.lock, "sh", "-c", HELD_SCRIPT, "sh"]
    proc = subprocess.Popen(
        [*argv, paths.owner, paths.record, paths.audit],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    token = new_token()
    proc.stdin.write(token.encode() + b"\n" + OWNER.to_json())
    proc.stdin.flush()
    assert proc.stdout.readline() == b"locked\n"
    assert proc.stdout.readline() == b"\n"  # no previous owner
    assert proc.stdout.readline() == b"held\n"
    commands: list[tuple[tuple[str, ...], bytes | None]] = [
        (("flock", "--nonblock", paths.lock, "true"), None),  # the lock is taken: 1
        (("cat",), b"it's $(id)"),
        (("sh", "-c", 'printf "%s" "$1"; exit 3', "sh", "a\nb"), None),
    ]
    proc.stdin.write(encode_request(commands, bound=60))
    proc.stdin.flush()
    buf = b""
    while (decoded := decode_response([c for c, _ in commands], buf, token)) is None:
        chunk = proc.stdout.read1(65536)  # type: ignore[attr-defined]
        assert chunk, "the held shell ended"
        buf += chunk
    results, _ = decoded
    assert [(r.rc, r.stdout) for r in results] == [(1, b""), (0, b"it's $(id)"), (3, b"a\nb")]
    proc.stdin.write(b'record\n{"run": 1}\n{"audit": 1}\n')
    proc.stdin.flush()
    assert proc.stdout.readline() == b"recorded\n"
    assert proc.stdout.readline() == b"appended\n"
    proc.stdin.write(b"release\n")
    proc.stdin.close()
    assert proc.wait(10) == 0
    assert Path(paths.record).read_bytes() == b'{"run": 1}\n'
    assert not Path(paths.owner).exists()
