"""Processes the lab starts and stops: commands, daemons, pidfiles and careful killing.

The lab only ever signals a PID it recorded in one of its pidfiles, and only after checking that
the process's command line still names the lab file it was started with, so a PID reused by an
unrelated process is left alone. The one exception is :func:`pids_in_netns`: a process living
in one of the lab's own network namespaces (an SSH session, a container shim) can only have
been started inside the lab, so ``down`` stops those too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from checkpointctl.errors import LabError

# Daemons get this environment and nothing else: no proxy variables (dockerd would send pulls
# through them, and the lab must not talk to anything outside the machine), no user settings.
CLEAN_ENV: Mapping[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
}

_DAEMON_SH = Path(__file__).with_name("daemon.sh")


def run(argv: Sequence[str], *, stdin: bytes | None = None, check: bool = True) -> str:
    """Run a local command (argv list) and return its stdout.

    Raises:
        LabError: the command exited non-zero and ``check`` is set; stderr is included.
    """
    proc = subprocess.run(
        list(argv), input=stdin, capture_output=True, env=dict(CLEAN_ENV), check=False
    )
    if check and proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise LabError(f"`{' '.join(argv[:4])}` exited {proc.returncode}: {err[-2000:]}")
    return proc.stdout.decode("utf-8", "replace")


def spawn_detached(argv: Sequence[str], log: Path) -> None:
    """Start argv as a daemon owned by init (``setsid -f``), output appended to ``log``.

    The daemon is not our child: it outlives ``checkpointctl lab up`` and never becomes a
    zombie of a long-lived caller such as a pytest session. It reports its own PID through a
    pidfile (see daemon.sh and host.sh).
    """
    with log.open("ab") as out:
        subprocess.run(
            ["setsid", "-f", *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            env=dict(CLEAN_ENV),
            check=True,
        )


def daemon_argv(pidfile: Path, argv: Sequence[str]) -> list[str]:
    """argv that writes its PID to ``pidfile`` and then execs ``argv`` (same PID)."""
    return ["/bin/sh", str(_DAEMON_SH), str(pidfile), *argv]


def read_pidfile(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 1 else None


def cmdline(pid: int) -> str | None:
    """The process's command line with NULs as spaces, or None if it is gone or a zombie."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode("utf-8", "replace") if raw else None


def is_ours(pid: int | None, needle: str) -> bool:
    """True if ``pid`` is alive and its command line contains ``needle`` (a lab path)."""
    if pid is None:
        return False
    line = cmdline(pid)
    return line is not None and needle in line


def recorded_pid(pidfile: Path, needle: str) -> int | None:
    """The PID in ``pidfile`` if that process is alive and still ours, else None."""
    pid = read_pidfile(pidfile)
    return pid if is_ours(pid, needle) else None


def _alive(pid: int) -> bool:
    return cmdline(pid) is not None


def signal_pids(pids: Iterable[int], sig: signal.Signals) -> None:
    """Send ``sig`` to each PID (the caller verified they are the lab's); gone ones are skipped."""
    for pid in pids:
        _signal(pid, sig)


def wait_gone(pids: Iterable[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for the processes to exit; return those still alive."""
    deadline = time.monotonic() + timeout
    pending = [p for p in pids if _alive(p)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.05)
        pending = [p for p in pending if _alive(p)]
    return pending


def stop_pids(pids: Collection[int], timeout: float) -> list[int]:
    """SIGTERM ``pids``, wait up to ``timeout`` s for them to exit, SIGKILL the rest.

    Callers pass only PIDs they verified as the lab's. Returns the PIDs that needed SIGKILL.
    """
    signal_pids(pids, signal.SIGTERM)
    pending = wait_gone(pids, timeout)
    signal_pids(pending, signal.SIGKILL)
    wait_gone(pending, 5)
    return pending


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.kill(pid, sig)


def namespace_inode(path: Path) -> int | None:
    """The inode of a namespace file (``/var/run/netns/X``), or None if it does not exist."""
    try:
        return path.stat().st_ino
    except OSError:
        return None


def pids_in_netns(inodes: Iterable[int]) -> dict[int, int]:
    """PIDs whose network namespace is one of ``inodes``, mapped to that inode."""
    wanted = {f"net:[{ino}]": ino for ino in inodes}
    found: dict[int, int] = {}
    if not wanted:
        return found
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            link = os.readlink(f"/proc/{entry.name}/ns/net")
        except OSError:
            continue
        if link in wanted:
            found[int(entry.name)] = wanted[link]
    return found


def tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log file, for error messages."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])
