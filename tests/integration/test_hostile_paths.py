"""A host that fights back (issue 16), on the lab's light host lt-1, in push and pull mode.

The attack: a managed directory replaced by a symlink to a world-writable decoy holding a file
``marker`` (or made writable by others, or given to another user, or a FIFO put where it should
be). Before and after ``drift`` and ``apply``, the decoy and ``/etc/shadow`` are hashed and
stat'ed inside the host's mount namespace (``on_host``): nothing outside the managed paths may
change, and the secret may land nowhere but its credential file. The plan must name the path
and what is wrong; apply must either repair the entry itself (the link replaced, never followed)
or refuse the host.

Push mode is the SSH transport; pull mode runs the same convergence inside the host through the
local transport (``pull_converge.py``), as the agent does. ``/etc/checkpoint`` and
``/var/lib/checkpointctl`` are bind mounts in the lab (a mount point cannot be replaced by a
link), so at those two levels the lab tries a writable mode and a foreign owner; a link at those
levels is covered by ``tests/unit/transport/test_safepath.py`` and
``tests/unit/resources/test_paths.py`` on a temporary tree.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hostile_state import RESOURCES, desired, result_json

from checkpointctl.cli.main import main
from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.inventory import load_inventory
from checkpointctl.lab import LabInfo, exec_argv
from checkpointctl.model import JSONValue
from checkpointctl.spec import CHECKPOINT_ROOT, STATE_DIR
from checkpointctl.transport.connect import connect

pytestmark = pytest.mark.lab

HOST = "lt-1"
HERE = Path(__file__).resolve().parent
DECOY = "/tmp/checkpointctl-hostile-decoy"
CONTAINER_DIR = f"{CHECKPOINT_ROOT}/probe-hostile"
CREDENTIALS = f"{CHECKPOINT_ROOT}/credentials"
TRUST = f"{CHECKPOINT_ROOT}/trust"
SNAPSHOT = (
    'for f in /etc/shadow "$1" "$1"/*; do [ -e "$f" ] || continue; '
    'stat -c "%n %F %a %u %g %s %Y" -- "$f"; [ -f "$f" ] && sha256sum -- "$f"; done; '
    'grep -rl -- "$2" "$1" 2>/dev/null; true'
)

Converge = Callable[[str], dict[str, JSONValue]]
OnHost = Callable[..., "subprocess.CompletedProcess[str]"]


@pytest.fixture
def secret() -> str:
    return f"hostile-secret-{uuid.uuid4().hex}"


@pytest.fixture(params=["push", "pull"])
def converge(request: pytest.FixtureRequest, lab: LabInfo, secret: str) -> Converge:
    """``converge(mode)`` the test's desired state on lt-1, as the result's JSON."""
    state = desired(HOST, secret)
    if request.param == "push":
        host = load_inventory(str(lab.inventory)).host(HOST)

        def push(mode: str) -> dict[str, JSONValue]:
            options = ApplyOptions(lock_wait=30.0, health_gate=False)
            result = converge_host(host, state, connect, mode, RESOURCES, options=options)  # type: ignore[arg-type]
            return result_json(result)

        return push

    def pull(mode: str) -> dict[str, JSONValue]:
        args = json.dumps({"host": HOST, "secret": secret})
        argv = [*exec_argv(HOST), sys.executable, str(HERE / "pull_converge.py"), mode, args]
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        doc: dict[str, JSONValue] = json.loads(proc.stdout.splitlines()[-1])
        return doc

    return pull


@pytest.fixture
def clean(on_host: OnHost) -> Iterator[None]:
    """Managed paths as a converged host has them; the decoy gone; modes set back after."""

    def reset() -> None:
        on_host(HOST, ["rm", "-rf", "--", DECOY, CREDENTIALS, CONTAINER_DIR, TRUST])
        on_host(HOST, ["chmod", "0755", CHECKPOINT_ROOT, STATE_DIR])
        on_host(HOST, ["chown", "0:0", CHECKPOINT_ROOT, STATE_DIR])

    reset()
    yield
    reset()


def _plant_decoy(on_host: OnHost) -> None:
    script = 'mkdir -p -- "$1" && echo keep >"$1/marker" && chmod 0777 -- "$1"'
    on_host(HOST, ["sh", "-c", script, "sh", DECOY])


def _snapshot(on_host: OnHost, secret: str) -> str:
    return on_host(HOST, ["sh", "-c", SNAPSHOT, "sh", DECOY, secret]).stdout


def _addresses(result: dict[str, JSONValue]) -> list[str]:
    changes = result["changes"]
    assert isinstance(changes, list)
    return [str(c["address"]) for c in changes if isinstance(c, dict)]


def _reasons(result: dict[str, JSONValue]) -> str:
    return json.dumps(result["changes"])


def _file_type(on_host: OnHost, path: str) -> str:
    return on_host(HOST, ["stat", "-c", "%F %a %u", path]).stdout.strip()


@pytest.mark.parametrize("level", [CREDENTIALS, CONTAINER_DIR, TRUST])
def test_a_link_at_each_level_is_drift_naming_it_and_apply_replaces_the_link_itself(
    clean: None, on_host: OnHost, converge: Converge, secret: str, level: str
) -> None:
    _plant_decoy(on_host)
    on_host(HOST, ["ln", "-s", DECOY, level])
    before = _snapshot(on_host, secret)

    drift = converge("drift")
    assert drift["status"] == "drift"
    assert f"path{level}" in _addresses(drift)
    assert f"{level} is a symbolic link" in _reasons(drift)
    assert "marker" not in _reasons(drift)  # nothing planned from what is behind the link
    assert _snapshot(on_host, secret) == before

    applied = converge("apply")
    assert applied["status"] == "converged", applied["error"]
    assert _addresses(applied)[0] == f"path{level}"
    after = _snapshot(on_host, secret)
    assert after == before, "something outside the managed paths changed"
    assert secret not in after
    assert _file_type(on_host, level) == "directory 755 0"
    api = on_host(HOST, ["cat", f"{CREDENTIALS}/api"]).stdout
    assert secret in api
    assert converge("drift")["status"] == "in-sync"


@pytest.mark.parametrize(
    ("level", "hostile", "problem"),
    [
        (CHECKPOINT_ROOT, ["chmod", "0777"], "is writable by group or others (mode 0777)"),
        (CHECKPOINT_ROOT, ["chown", "1000:1000"], "is owned by uid 1000, not root"),
        (CREDENTIALS, ["chmod", "0775"], "is writable by group or others (mode 0775)"),
    ],
)
def test_a_writable_or_foreign_managed_directory_is_drift_and_apply_sets_it_back(
    clean: None,
    on_host: OnHost,
    converge: Converge,
    secret: str,
    level: str,
    hostile: list[str],
    problem: str,
) -> None:
    on_host(HOST, ["mkdir", "-p", level])
    on_host(HOST, [*hostile, level])
    _plant_decoy(on_host)
    before = _snapshot(on_host, secret)
    drift = converge("drift")
    assert drift["status"] == "drift"
    assert f"path{level}" in _addresses(drift)
    assert f"{level} {problem}" in _reasons(drift)
    applied = converge("apply")
    assert applied["status"] == "converged", applied["error"]
    assert _file_type(on_host, level) == "directory 755 0"
    assert _snapshot(on_host, secret) == before
    assert converge("drift")["status"] == "in-sync"


@pytest.mark.parametrize("hostile", [["chmod", "0777"], ["chown", "1000:1000"]])
def test_an_unsafe_state_directory_is_drift_and_apply_refuses_the_host(
    clean: None, on_host: OnHost, converge: Converge, secret: str, hostile: list[str]
) -> None:
    on_host(HOST, [*hostile, STATE_DIR])
    listing = on_host(HOST, ["ls", "-la", STATE_DIR]).stdout
    drift = converge("drift")
    assert drift["status"] == "drift"
    assert f"path{STATE_DIR}" in _addresses(drift)
    applied = converge("apply")
    assert applied["status"] == "failed"
    assert STATE_DIR in str(applied["error"])
    assert "refused" in str(applied["error"])
    # the lock refused before opening anything there, and no credential was written
    assert on_host(HOST, ["ls", "-la", STATE_DIR]).stdout == listing
    assert on_host(HOST, ["test", "-e", f"{CREDENTIALS}/api"], check=False).returncode != 0


def test_a_fifo_where_a_directory_should_be_is_never_opened_and_apply_refuses(
    clean: None, on_host: OnHost, converge: Converge, secret: str
) -> None:
    on_host(HOST, ["mkfifo", CONTAINER_DIR])
    drift = converge("drift")
    assert drift["status"] == "drift"
    assert f"{CONTAINER_DIR} is a FIFO" in _reasons(drift)
    applied = converge("apply")
    assert applied["status"] == "failed"
    assert CONTAINER_DIR in str(applied["error"])
    assert on_host(HOST, ["stat", "-c", "%F", CONTAINER_DIR]).stdout.strip() == "fifo"
    # refused before anything was written: no credential, so the secret is nowhere
    assert on_host(HOST, ["test", "-e", f"{CREDENTIALS}/api"], check=False).returncode != 0


def test_cli_drift_names_a_0777_checkpoint_root_in_every_format_and_apply_sets_it_back(
    clean: None, lab: LabInfo, on_host: OnHost, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "hostile.yml"
    policy.write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata:\n  name: hostile\n"
        f"selector:\n  hosts: [{HOST}]\npriority: 10\n"
        "spec:\n  health:\n    require_healthy: false\n"
    )
    base = [str(tmp_path), "-i", str(lab.inventory), "--limit", HOST]
    on_host(HOST, ["chmod", "0777", CHECKPOINT_ROOT])
    for fmt in ("text", "json", "junit", "markdown"):
        code = main(["drift", *base, "--format", fmt])
        out = capsys.readouterr().out
        assert code == 2, fmt
        assert CHECKPOINT_ROOT in out, fmt
        assert "0777" in out, fmt
    assert main(["apply", *base, "--audit-log", str(tmp_path / "audit.jsonl")]) == 0
    capsys.readouterr()
    assert _file_type(on_host, CHECKPOINT_ROOT) == "directory 755 0"
    assert main(["drift", *base]) == 0


def test_rollback_files_left_by_a_crash_are_reported_and_removed_by_the_next_apply(
    clean: None, on_host: OnHost, converge: Converge
) -> None:
    """A controller killed after arming the firewall's timer, and the timer gone too (the host
    rebooted): the saved table and the pidfile stay with no timer to use them. The pidfile
    names a live process that is not our timer, so only the timer's name makes it one."""
    saved, pidfile = f"{STATE_DIR}/firewall.rollback.nft", f"{STATE_DIR}/firewall.rollback.pid"
    script = 'umask 077; echo "delete table inet checkpointctl" >"$1"; echo 1 >"$2"'
    on_host(HOST, ["sh", "-c", script, "sh", saved, pidfile])
    drift = converge("drift")
    assert drift["status"] == "drift"
    assert {f"path{saved}", f"path{pidfile}"} <= set(_addresses(drift))
    assert "left over from an interrupted firewall change" in _reasons(drift)
    applied = converge("apply")
    assert applied["status"] == "converged", applied["error"]
    for leftover in (saved, pidfile):
        assert on_host(HOST, ["test", "-e", leftover], check=False).returncode != 0
    assert converge("drift")["status"] == "in-sync"
