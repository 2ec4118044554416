"""The listening ``drift --watch`` on the lab: 100 hosts, changes made by hand, heard at once.

The module grows the lab to 98 light hosts beside its 2 full ones (and gives it back the shape it
found). Every host wants a firewall table no host has (``cpwatch``); the full hosts also want a
container no host runs. A watch over the 100 hosts is started; then, by hand, inside the hosts
(not through checkpointctl): a managed directory is made world-writable, the table is created,
and a container of the managed name and label is created. Each must show in the watch's output as a
re-read of that host alone, with the change in the report, within 2 s of the hand-made change
(the issue's acceptance; the speed itself is a bench row). Killing the controller with SIGKILL
leaves no listener on any host.

A host on which ``inotifywait`` is hidden (an empty file bind-mounted over it in the host's
mount namespace) is named in the watch's output as polled, and a change on it is found by
polling.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

import checkpointctl.lab as lab_api
from checkpointctl.lab import LabInfo
from checkpointctl.spec import OWNER_LABEL

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]

SIZE = 100
TABLE = "cpwatch"
CONTAINER = "cpwatch-probe"
HEARD_WITHIN = 2.0
"""Seconds from a hand-made change to the watch's report of it (the issue's acceptance)."""

POLICIES = {
    "fleet.yml": f"""
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: listen-fleet}}
selector: {{groups: [listen_fleet]}}
priority: 10
spec:
  firewall:
    table: {TABLE}
    management: {{ssh_port: 22, from: ["{{{{ controller_cidr }}}}"]}}
    inbound: {{default: drop, allow: []}}
    outbound: {{default: accept, allow: []}}
""",
    "full.yml": f"""
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: listen-full}}
selector: {{groups: [listen_full]}}
priority: 20
spec:
  registries:
    trusted: [{{registry: "{{{{ trusted_registry }}}}", prefix: checkpoint/}}]
  containers:
    - name: {CONTAINER}
      image: "{{image}}"
      user: "10001:10001"
      cap_drop: [ALL]
""",
}

LISTENER_TOOLS = ("inotifywait -m ", "nft -j monitor", "docker events --filter type=container")


@pytest.fixture(scope="module")
def fleet(lab: LabInfo) -> Iterator[LabInfo]:
    """The lab with at least SIZE hosts, given back its shape afterwards."""
    before = lab_api.status()
    light = SIZE - len(lab.full_hosts)
    if len(lab.light_hosts) >= light:
        yield lab
        return
    grown = lab_api.up(full=max(2, before.full), light=light)
    try:
        yield grown
    finally:
        lab_api.up(full=max(2, before.full), light=before.light)


def _project(lab: LabInfo, root: Path, hosts: int = SIZE) -> list[str]:
    """Inventory and policies for the first ``hosts`` hosts (full ones first); their names."""
    lab_vars = yaml.safe_load(lab.inventory.read_text())["all"]["vars"]
    full = sorted(lab.full_hosts, key=lambda h: h.index)
    light = sorted(lab.light_hosts, key=lambda h: h.index)[: hosts - len(full)]
    children = {
        "listen_full": {"hosts": {h.name: {"address": h.address} for h in full}},
        "listen_light": {"hosts": {h.name: {"address": h.address} for h in light}},
    }
    doc = {"all": {"vars": lab_vars, "children": {"listen_fleet": {"children": children}}}}
    (root / "inventory.yml").write_text(yaml.safe_dump(doc))
    (root / "policies").mkdir()
    for name, text in POLICIES.items():
        (root / "policies" / name).write_text(text.replace("{image}", lab.checkpoint_image))
    return [h.name for h in (*full, *light)]


class Watch:
    """A running ``checkpointctl drift --watch``, its stderr lines as they come."""

    def __init__(self, root: Path, *extra: str) -> None:
        ctl = str(Path(sys.executable).parent / "checkpointctl")
        self.report = root / "report.json"
        self.proc = subprocess.Popen(
            [
                ctl,
                "drift",
                str(root / "policies"),
                "-i",
                str(root / "inventory.yml"),
                "-q",
                "--format",
                "json",
                "-o",
                str(self.report),
                *extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "NO_COLOR": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, pattern: str, deadline: float) -> re.Match[str]:
        """The first new line matching ``pattern`` before ``deadline`` (time.monotonic)."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line {pattern!r} in time; seen:\n" + "\n".join(self.seen))
            try:
                line = self.lines.get(timeout=min(remaining, 1.0))
            except queue.Empty:
                if self.proc.poll() is not None and self.lines.empty():
                    raise AssertionError(
                        f"the watch ended ({self.proc.returncode}); seen:\n" + "\n".join(self.seen)
                    ) from None
                continue
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found

    def host_changes(self, host: str) -> list[dict[str, Any]]:
        doc = json.loads(self.report.read_text())
        [result] = [h for h in doc["hosts"] if h["host"] == host]
        changes: list[dict[str, Any]] = result["changes"]
        return changes

    def stop(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        self.proc.wait(timeout=60)


def listeners() -> list[str]:
    """Command lines of the listeners' tools running on the machine (lab hosts share its PID
    namespace), found by what only our listener passes them."""
    out = subprocess.run(["ps", "-ww", "-eo", "args="], capture_output=True, text=True, check=True)
    return [ln for ln in out.stdout.splitlines() if ln.startswith(LISTENER_TOOLS)]


def wait_no_listeners(within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while listeners() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert listeners() == [], "listeners left on hosts after the watch ended"


def heard(watch: Watch, host: str, started: float) -> re.Match[str]:
    """The cycle that re-read ``host`` on a change, no later than HEARD_WITHIN after ``started``."""
    return watch.wait_for(
        r"^watch: cycle \d+ in [\d.]+s \(0 new connections; change: ([^)]*)\): ",
        started + HEARD_WITHIN,
    )


def test_hand_made_changes_are_heard_on_100_hosts(
    fleet: LabInfo, on_host: OnHost, tmp_path: Path
) -> None:
    wait_no_listeners()  # nothing of an earlier run is left to confuse the count
    names = _project(fleet, tmp_path)
    assert len(names) == SIZE
    full, light_a, light_b = names[0], names[-1], names[-2]
    on_host(full, ["docker", "rm", "-f", CONTAINER], check=False)
    on_host(full, ["docker", "pull", "-q", fleet.checkpoint_image])
    watch = Watch(tmp_path, "--watch", "30s")
    try:
        start = watch.wait_for(r"^watch: (listening on .*)$", time.monotonic() + 300)
        assert start.group(1) == f"listening on {SIZE} hosts", start.group(1)
        watch.wait_for(r"^watch: cycle 1 in ", time.monotonic() + 300)
        tools = listeners()
        assert sum(ln.startswith("inotifywait") for ln in tools) == SIZE
        assert sum(ln.startswith("nft") for ln in tools) == SIZE
        assert sum(ln.startswith("docker") for ln in tools) == len(fleet.full_hosts)
        assert not any(c["address"].startswith("path") for c in watch.host_changes(light_a))

        # a managed directory made writable by others
        started = time.monotonic()
        on_host(light_a, ["chmod", "0777", "/etc/checkpoint"])
        try:
            assert heard(watch, light_a, started).group(1) == light_a
            paths = [c for c in watch.host_changes(light_a) if c["address"].startswith("path")]
            assert [c["address"] for c in paths] == ["path/etc/checkpoint"], paths
        finally:
            on_host(light_a, ["chmod", "0755", "/etc/checkpoint"])
        assert heard(watch, light_a, time.monotonic()).group(1) == light_a

        # our table, created by hand
        before = watch.host_changes(light_b)
        started = time.monotonic()
        on_host(light_b, ["nft", "add", "table", "inet", TABLE])
        try:
            assert heard(watch, light_b, started).group(1) == light_b
            assert watch.host_changes(light_b) != before
        finally:
            on_host(light_b, ["nft", "delete", "table", "inet", TABLE])
        assert heard(watch, light_b, time.monotonic()).group(1) == light_b
        assert watch.host_changes(light_b) == before

        # a container of the managed name, created by hand
        before = watch.host_changes(full)
        started = time.monotonic()
        on_host(
            full,
            ["docker", "create", "--name", CONTAINER, "--label", f"{OWNER_LABEL}=true"]
            + [fleet.checkpoint_image],
        )
        try:
            assert heard(watch, full, started).group(1) == full
            assert watch.host_changes(full) != before
        finally:
            on_host(full, ["docker", "rm", "-f", CONTAINER])
        assert heard(watch, full, time.monotonic()).group(1) == full
    finally:
        watch.stop(signal.SIGKILL)
    wait_no_listeners()


def test_a_host_without_inotifywait_is_polled(
    lab: LabInfo, on_host: OnHost, tmp_path: Path
) -> None:
    wait_no_listeners()
    names = _project(lab, tmp_path, hosts=len(lab.full_hosts) + 2)
    hidden, other = names[-1], names[-2]
    blank = tmp_path / "no-inotifywait"
    blank.write_text("")
    on_host(hidden, ["mount", "--bind", str(blank), "/usr/bin/inotifywait"])
    try:
        watch = Watch(tmp_path, "--watch", "1s", "--cycles", "40")
        try:
            start = watch.wait_for(r"^watch: (listening on .*)$", time.monotonic() + 120)
            assert start.group(1) == (
                f"listening on {len(names) - 1} hosts; polling every 1s on 1 hosts: "
                f"{hidden} (no inotifywait)"
            )
            watch.wait_for(r"^watch: cycle 1 in ", time.monotonic() + 120)
            before = watch.host_changes(hidden)
            on_host(hidden, ["nft", "add", "table", "inet", TABLE])
            try:
                # the next poll reads it (and only the polled host)
                found = watch.wait_for(
                    r"^watch: cycle \d+ in [\d.]+s \(0 new connections; poll: ([^)]*)\): ",
                    time.monotonic() + 30,
                )
                assert found.group(1) == hidden
                while watch.host_changes(hidden) == before:
                    watch.wait_for(rf"poll: {re.escape(hidden)}\)", time.monotonic() + 30)
            finally:
                on_host(hidden, ["nft", "delete", "table", "inet", TABLE])
            assert all(other not in line for line in watch.seen[2:])
        finally:
            watch.stop(signal.SIGINT)
        wait_no_listeners()
    finally:
        on_host(hidden, ["umount", "/usr/bin/inotifywait"])
