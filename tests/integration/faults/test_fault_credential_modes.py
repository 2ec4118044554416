"""A credential file replaced by a world-readable copy, or its directory made 0777: drift is
reported and repaired without the secret ever sitting in a file with a wider mode.

An inotify watcher runs inside the host while apply repairs it, and records the kernel's event
queue in order (create, attribute changes, data writes, renames) for the credentials directory,
where the write's temp file is made. The kernel orders the
events, so "every chown/chmod of the temp file comes before its first data write" is read from
the queue itself, not from a racy poll of the mode.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator

import pytest
from faultlib import host_run

from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.lab import exec_argv
from checkpointctl.model import Host, HostResult, HostStatus, Secret
from checkpointctl.resources.credentials.resource import CREDENTIALS_DIR, CredentialsResource
from checkpointctl.spec import CredentialSpec, DesiredState
from checkpointctl.transport.connect import connect

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LIGHT = "lt-1"
WATCHER = r"""
import ctypes, json, os, select, struct, sys
libc = ctypes.CDLL(None, use_errno=True)
MASK = {0x2: "MODIFY", 0x4: "ATTRIB", 0x8: "CLOSE_WRITE", 0x40: "MOVED_FROM", 0x80: "MOVED_TO",
        0x100: "CREATE", 0x200: "DELETE"}
fd = libc.inotify_init1(os.O_NONBLOCK)
watches = {}
def watch(path):
    wd = libc.inotify_add_watch(fd, path.encode(), sum(MASK))
    if wd >= 0:
        watches[wd] = path
watch(sys.argv[1])
print("ready", flush=True)
while True:
    r, _, _ = select.select([fd, sys.stdin], [], [], 5)
    if sys.stdin in r:
        break
    try:
        buf = os.read(fd, 65536)
    except BlockingIOError:
        continue
    i = 0
    while i < len(buf):
        wd, mask, _, n = struct.unpack_from("iIII", buf, i)
        name = buf[i + 16:i + 16 + n].rstrip(b"\0").decode()
        i += 16 + n
        path = os.path.join(watches.get(wd, "?"), name) if name else watches.get(wd, "?")
        try:
            st = os.lstat(path)
            mode = oct(st.st_mode & 0o7777)
        except OSError:
            mode = None
        if mask & 0x40000000 and mask & 0x100:  # a directory was created: watch it at once
            watch(path)
        kinds = [v for k, v in MASK.items() if mask & k]
        print(json.dumps({"path": path, "events": kinds, "mode": mode}), flush=True)
"""


def _run(host: Host, state: DesiredState, mode: str) -> HostResult:
    return converge_host(
        host,
        state,
        connect,
        mode,  # type: ignore[arg-type]
        [CredentialsResource()],
        options=ApplyOptions(lock_wait=30.0, health_gate=False),
    )


class Watcher:
    def __init__(self, directory: str) -> None:
        self.proc = subprocess.Popen(
            [*exec_argv(LIGHT), sys.executable, "-c", WATCHER, directory],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def stop(self) -> list[dict[str, object]]:
        time.sleep(0.5)  # let the last events be read
        out, _ = self.proc.communicate("stop\n", timeout=30)
        return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


@pytest.fixture
def credential(
    inventory_host: Callable[[str], Host],
) -> Iterator[tuple[Host, DesiredState, str]]:
    name = f"fault-mode-{uuid.uuid4().hex[:6]}"
    state = DesiredState(
        host=LIGHT,
        credentials=(
            CredentialSpec(
                name=name,
                username="u",
                secret=Secret(f"mode-test-{uuid.uuid4().hex}"),
                uid=10001,
                gid=10001,
            ),
        ),
        policies=("fault-modes",),
    )
    host = inventory_host(LIGHT)
    assert _run(host, state, "apply").status is HostStatus.CONVERGED
    yield host, state, f"{CREDENTIALS_DIR}/{name}"
    host_run(LIGHT, ["rm", "-rf", CREDENTIALS_DIR], check=False)


def _stat(path: str) -> str:
    return host_run(LIGHT, ["stat", "-c", "%a %u %g", path]).stdout.strip()


def test_world_readable_copy_is_drift_and_the_repair_never_widens(
    credential: tuple[Host, DesiredState, str],
) -> None:
    host, state, path = credential
    copy = 'cp -- "$1" "$1.copy" && chmod 644 "$1.copy" && mv -- "$1.copy" "$1"'
    host_run(LIGHT, ["sh", "-c", copy, "sh", path])
    assert _stat(path) == "644 0 0"
    drift = _run(host, state, "drift")
    assert drift.status is HostStatus.DRIFT
    fields = {f.path: (f.before, f.after) for c in drift.changes for f in c.fields}
    assert fields["mode"] == ("0644", "0400")
    assert fields["owner"] == ("0:0", "10001:10001")

    watcher = Watcher(CREDENTIALS_DIR)
    applied = _run(host, state, "apply")
    events = watcher.stop()
    assert applied.status is HostStatus.CONVERGED, applied.error
    assert _stat(path) == "400 10001 10001"

    # the data goes to a fresh temp file in the checked directory itself (safepath.write):
    # created 0600 by mktemp, owner and final mode set while it is still empty, then the data
    temp = [e for e in events if "/.checkpointctl-" in str(e["path"])]
    assert temp, f"the watcher saw no temp file: {events}"
    created = [e for e in temp if "CREATE" in e["events"]]  # type: ignore[operator]
    assert all(e["mode"] in ("0o600", "0o400", None) for e in created), created
    for name in {str(e["path"]) for e in temp}:
        kinds = [k for e in temp if e["path"] == name for k in e["events"]]  # type: ignore[attr-defined]
        assert "MODIFY" in kinds, f"no data write seen: {temp}"
        first_write = kinds.index("MODIFY")
        last_attrib = len(kinds) - 1 - kinds[::-1].index("ATTRIB")
        assert last_attrib < first_write, f"mode/owner changed after data was written: {kinds}"
    # the target path only ever changed by a rename onto it (never rewritten in place)
    target = [k for e in events if e["path"] == path for k in e["events"]]  # type: ignore[attr-defined]
    assert "MODIFY" not in target
    assert "MOVED_TO" in target
    assert _run(host, state, "drift").status is HostStatus.IN_SYNC


def test_directory_made_0777_is_drift_and_is_narrowed(
    credential: tuple[Host, DesiredState, str],
) -> None:
    host, state, _ = credential
    host_run(LIGHT, ["chmod", "0777", CREDENTIALS_DIR])
    drift = _run(host, state, "drift")
    assert drift.status is HostStatus.DRIFT
    # a directory others can write to is refused before it is read: security drift naming it
    (change,) = [c for c in drift.changes if c.address == f"path{CREDENTIALS_DIR}"]
    assert [(f.before, f.after) for f in change.fields] == [("0777", "0755")]
    applied = _run(host, state, "apply")
    assert applied.status is HostStatus.CONVERGED, applied.error
    assert _stat(CREDENTIALS_DIR) == "755 0 0"
    assert _run(host, state, "drift").status is HostStatus.IN_SYNC
