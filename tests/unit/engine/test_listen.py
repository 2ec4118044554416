"""The listening watch's pure parts, and its listener script run for real on this machine.

What a desired state makes the watch listen to, what one line of the listener means (lines
recorded from ``inotifywait``, ``nft -j monitor`` and ``docker events`` as the script runs them),
how a burst of events becomes one read, and the script itself through the local transport: it
reports a file change in a watched directory, and ending its stdin ends its tools.
"""

from __future__ import annotations

import queue
import shutil
import subprocess
import time
from pathlib import Path
from typing import cast

import pytest

from checkpointctl.engine.hostwatch import (
    Heard,
    Missing,
    Source,
    WatchTargets,
    parse_status,
    targets,
)
from checkpointctl.engine.listen import (
    Event,
    ListenerUnavailable,
    Step,
    Timers,
    merge_events,
    next_batch,
    plan_step,
    start_listener,
    stop_listener,
)
from checkpointctl.engine.watch import Cause
from checkpointctl.model import Host, Secret
from checkpointctl.spec import ContainerSpec, CredentialSpec, DesiredState, FirewallSpec, ImageRef
from checkpointctl.transport.base import HostProcess
from checkpointctl.transport.local import LocalTransport

IMAGE = ImageRef("reg.example/checkpoint/probe", "sha256:" + "a" * 64)
STATE = DesiredState(
    host="h1",
    containers=(ContainerSpec(name="probe", image=IMAGE),),
    firewall=FirewallSpec(table="cpwatch"),
    credentials=(CredentialSpec("api", "u", Secret("s"), path="/etc/checkpoint/keys/api"),),
)


def test_targets_are_the_managed_directories_the_table_and_the_containers() -> None:
    t = targets(STATE)
    assert {"/etc/checkpoint", "/etc/checkpoint/credentials", "/etc/checkpoint/keys"} <= set(
        t.directories
    )
    assert "/etc/checkpoint/probe" in t.directories
    assert {"/etc", "/var/lib"} <= set(t.watched)
    assert "/etc" not in t.directories
    assert t.table == "cpwatch"
    assert t.containers == {"probe"}
    assert t.sources == {Source.FILES, Source.FIREWALL, Source.CONTAINERS}
    assert targets(DesiredState(host="h1")).sources == {Source.FILES}


def test_values_reach_the_script_as_arguments_only() -> None:
    odd = DesiredState(
        host="h1",
        credentials=(CredentialSpec("x", "u", Secret("s"), path="/etc/checkpoint/a b;$(x)/c"),),
    )
    argv = targets(odd).argv()
    script = argv[argv.index("-c") + 1]
    assert "a b;$(x)" not in script
    assert "/etc/checkpoint/a b;$(x)" in argv[argv.index("-c") + 2 :]


def test_file_lines_about_managed_paths_are_heard() -> None:
    t = targets(STATE)
    assert t.classify(b"F /etc/checkpoint/keys/api\n") == Heard(Source.FILES)
    assert t.classify(b"F /etc/checkpoint/\n") == Heard(Source.FILES, rearm=True)
    assert t.classify(b"F /etc/checkpoint\n") == Heard(Source.FILES, rearm=True)
    assert t.classify(b"F /etc/passwd\n") is None
    assert t.classify(b"F /var/lib/dpkg\n") is None
    assert t.classify(b"S ready\n") is None


def test_nft_lines_about_our_table_are_heard() -> None:
    t = targets(STATE)
    ours = (
        b'{"add": {"rule": {"family": "inet", "table": "cpwatch", "chain": "in", "handle": 2}}}\n'
    )
    table = b'{"delete": {"table": {"family": "inet", "name": "cpwatch", "handle": 1}}}\n'
    other = b'{"add": {"rule": {"family": "inet", "table": "docker", "chain": "x", "handle": 2}}}\n'
    other_family = b'{"add": {"table": {"family": "ip", "name": "cpwatch", "handle": 3}}}\n'
    assert t.classify(ours) == Heard(Source.FIREWALL)
    assert t.classify(table) == Heard(Source.FIREWALL)
    assert t.classify(other) is None
    assert t.classify(other_family) is None
    assert t.classify(b"{not json\n") is None
    assert targets(DesiredState(host="h1")).classify(ours) is None


def test_docker_lines_about_managed_containers_are_heard() -> None:
    t = targets(STATE)
    assert t.classify(b"D probe <no value> create\n") == Heard(Source.CONTAINERS)
    assert t.classify(b"D stray true die\n") == Heard(Source.CONTAINERS)
    assert t.classify(b"D other <no value> start\n") is None
    assert t.classify(b"D probe true exec_start: sh -c true\n") is None
    assert t.classify(b"D probe true health_status: unhealthy\n") == Heard(Source.CONTAINERS)


def test_status_lines_name_the_missing_tool() -> None:
    assert parse_status(b"S files missing inotifywait\n") == Missing(Source.FILES, "inotifywait")
    assert parse_status(b"S containers missing dockerd\n") == Missing(Source.CONTAINERS, "dockerd")
    assert parse_status(b"S files ok\n") is None
    assert parse_status(b"S weird missing x\n") is None


def test_a_burst_is_one_batch_and_a_replaced_listener_is_not_heard() -> None:
    events: queue.Queue[tuple[Event, HostProcess]] = queue.Queue()
    # only the identity of the process that heard an event matters here
    current, old = cast(HostProcess, object()), cast(HostProcess, object())
    for name in ("h1", "h2", "h1"):
        events.put((Event(name), current))
    events.put((Event("h3"), old))

    def is_current(name: str, process: HostProcess) -> bool:
        return process is current

    batch = next_batch(events, 1.0, is_current, quiet=0.01)
    assert [e.host for e in batch] == ["h1", "h2", "h1"]
    assert next_batch(events, 0.01, is_current) == []


needs_inotify = pytest.mark.skipif(
    shutil.which("inotifywait") is None, reason="inotify-tools is not installed (scripts/setup)"
)


def _group(process: HostProcess) -> list[str]:
    """Processes in the listener's session (the local transport starts it in its own)."""
    pid = process._proc.pid  # type: ignore[attr-defined]
    out = subprocess.run(["ps", "-o", "pid=,args=", "-g", str(pid)], capture_output=True, text=True)
    return [ln.strip() for ln in out.stdout.splitlines() if ln.strip()]


@needs_inotify
def test_the_listener_hears_a_file_and_stops_with_its_stdin(tmp_path: Path) -> None:
    watched = tmp_path / "managed"
    watched.mkdir()
    t = WatchTargets(frozenset({str(watched)}), (str(watched),), None, frozenset())
    process = start_listener(LocalTransport(Host("here", "127.0.0.1", connection="local")), t)
    try:
        assert any(ln.split()[1] == "inotifywait" for ln in _group(process))
        (watched / "cred").write_text("x")
        heard = None
        deadline = time.monotonic() + 10
        while heard is None and time.monotonic() < deadline:
            line = process.read_line(1.0)
            assert line != b"", process.stderr_tail()
            if line:
                heard = t.classify(line)
        assert heard == Heard(Source.FILES)
    finally:
        stop_listener(process)
    assert process.wait(10) is not None
    deadline = time.monotonic() + 10
    while _group(process) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _group(process) == []


def test_a_missing_tool_makes_the_host_unable_to_listen(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("env", "sh"):
        found = shutil.which(tool)
        assert found is not None
        (bin_dir / tool).symlink_to(found)
    monkeypatch.setenv("PATH", str(bin_dir))  # a host with a shell and nothing else
    t = WatchTargets(frozenset({str(tmp_path)}), (str(tmp_path),), None, frozenset())
    host = Host("here", "127.0.0.1", connection="local")
    with pytest.raises(ListenerUnavailable, match=r"^no inotifywait$"):
        start_listener(LocalTransport(host), t)


def test_events_of_one_host_merge() -> None:
    merged = merge_events([Event("h2"), Event("h1", rearm=True), Event("h2", lost=True)])
    assert list(merged) == ["h2", "h1"]
    assert merged["h2"] == Event("h2", lost=True)
    assert merged["h1"] == Event("h1", rearm=True)


EVERYONE = ["h1", "h2", "h3", "h4"]


def test_a_change_reads_only_the_host_heard() -> None:
    step = plan_step(
        {"h2": Event("h2")},
        Timers(now=10, next_poll=40, next_resync=600, interval=30, resync=600),
        polled=["h4"],
        retryable=[],
        everyone=EVERYONE,
    )
    assert step == Step(("h2",), Cause.CHANGE, (), 40, 600)


def test_a_due_poll_reads_the_polled_hosts_and_retries_failed_listeners() -> None:
    step = plan_step(
        {},
        Timers(now=41, next_poll=40, next_resync=600, interval=30, resync=600),
        polled=["h3", "h4"],
        retryable=["h3"],
        everyone=EVERYONE,
    )
    assert step == Step(("h3", "h4"), Cause.POLL, ("h3",), 71, 600)


def test_a_lost_listener_is_read_and_restarted_and_the_resync_reads_everyone() -> None:
    lost = {"h1": Event("h1", lost=True)}
    timers = Timers(now=10, next_poll=40, next_resync=600, interval=30, resync=600)
    step = plan_step(lost, timers, polled=["h1"], retryable=["h1"], everyone=EVERYONE)
    assert step == Step(("h1",), Cause.LOST, ("h1",), 40, 600)
    late = Timers(now=601, next_poll=590, next_resync=600, interval=30, resync=600)
    step = plan_step({}, late, polled=["h4"], retryable=[], everyone=EVERYONE)
    assert step == Step(tuple(EVERYONE), Cause.RESYNC, (), 631, 1201)


def test_nothing_due_reads_nothing() -> None:
    step = plan_step(
        {},
        Timers(now=10, next_poll=40, next_resync=600, interval=30, resync=600),
        polled=["h4"],
        retryable=["h4"],
        everyone=EVERYONE,
    )
    assert step.read == ()
    assert step.restart == ()
