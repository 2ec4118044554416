"""``drift --watch`` and batched reads over real SSH, on a light lab host (read-only).

The first cycle connects; the next ones reuse the connection and its kept shell (no new
connection), and say exactly what the first said. The host is read, never written: the policy
wants a firewall table and files the test does not expect to match, so the plan is whatever the
host holds, and only its sameness across cycles is asserted.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from checkpointctl import api
from checkpointctl.lab import LabHost, LabInfo
from checkpointctl.transport.connect import connect
from checkpointctl.transport.pool import ConnectionPool

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]

POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: watch-test}
selector: {groups: [watched]}
priority: 10
spec:
  firewall:
    table: checkpointctl
    management: {ssh_port: 22, from: ["{{ controller_cidr }}"]}
    inbound: {default: drop, allow: []}
    outbound: {default: drop, allow: []}
"""


def watched_host(lab: LabInfo, tmp_path: Path) -> LabHost:
    """The first light host, alone in ``tmp_path/inventory.yml`` (the lab's variables, group
    ``watched``), with :data:`POLICY` in ``tmp_path/policies``."""
    if not lab.light_hosts:
        pytest.skip("needs a light lab host")
    host = lab.light_hosts[0]
    doc = yaml.safe_load(lab.inventory.read_text())
    inv = {
        "all": {
            "vars": doc["all"]["vars"],
            "children": {"watched": {"hosts": {host.name: {"address": host.address}}}},
        }
    }
    (tmp_path / "inventory.yml").write_text(yaml.safe_dump(inv))
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "watch.yml").write_text(POLICY)
    return host


def test_watch_reuses_the_connection_and_reports_the_same(lab: LabInfo, tmp_path: Path) -> None:
    host = watched_host(lab, tmp_path)
    out = tmp_path / "report.json"
    ctl = str(Path(sys.executable).parent / "checkpointctl")
    proc = subprocess.run(
        [
            ctl,
            "drift",
            str(tmp_path / "policies"),
            "-i",
            str(tmp_path / "inventory.yml"),
            "-q",
            "--format",
            "json",
            "-o",
            str(out),
            "--watch",
            "0",
            "--poll",
            "--cycles",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "NO_COLOR": "1"},
        check=False,
    )
    assert proc.returncode in (0, 2), proc.stderr
    cycles = re.findall(
        r"^watch: cycle (\d+) in [\d.]+s \((\d+) new connections\): (.*)$", proc.stderr, re.M
    )
    assert [c[0] for c in cycles] == ["1", "2", "3"], proc.stderr
    assert [c[1] for c in cycles] == ["1", "0", "0"]
    assert cycles[0][2] == cycles[1][2] == cycles[2][2]
    report = json.loads(out.read_text())
    [result] = report["hosts"]
    assert result["host"] == host.name
    assert result["status"] in ("in-sync", "drift")


def test_a_kept_connection_answers_unchanged_reads_from_memory_and_still_sees_changes(
    lab: LabInfo, tmp_path: Path, on_host: OnHost
) -> None:
    """Cycles over one pool, as ``drift --watch --poll`` runs them: once the host's files have
    been quiet for the racy window, its file reads are answered from memory (the pool counts
    it) and every report equals the first; a directory made world-writable by hand and a chain
    added to our table by hand (nft is read every cycle) are each in the very next report."""
    host = watched_host(lab, tmp_path)
    inventory = api.load_inventory(str(tmp_path / "inventory.yml"))
    states = api.load_policies([tmp_path / "policies"], inventory)
    pool = ConnectionPool(connect)

    def cycle() -> str:
        report = json.loads(
            api.render_report(api.drift(inventory, states, connect=pool.connect), "json")
        )
        for result in report["hosts"]:
            del result["seconds"]  # the only field that differs from run to run
        return json.dumps(report, sort_keys=True)

    hostile = "/etc/checkpoint/cpmemo"
    had_table = on_host(host.name, ["nft", "list", "table", "inet", "checkpointctl"], check=False)
    try:
        first = cycle()
        deadline = time.monotonic() + 30
        while pool.memo_hits == 0 and time.monotonic() < deadline:
            time.sleep(0.5)
            assert cycle() == first
        assert pool.memo_hits > 0, "a quiet host's reads were never answered from memory"

        on_host(host.name, ["install", "-d", "-m", "0777", hostile])
        made = cycle()
        assert hostile in made
        assert hostile not in first
        on_host(host.name, ["rmdir", hostile])
        assert cycle() == first

        hits = pool.memo_hits
        time.sleep(2.5)  # the directory's parent is quiet again: its reads may be kept
        assert cycle() == first
        on_host(host.name, ["nft", "add", "table", "inet", "checkpointctl"])
        on_host(host.name, ["nft", "add", "chain", "inet", "checkpointctl", "cpmemo"])
        chained = cycle()
        assert "cpmemo" in chained
        assert "cpmemo" not in first
        assert pool.memo_hits > hits, "the files were quiet: only nft should have run"
    finally:
        pool.close()
        on_host(host.name, ["rmdir", hostile], check=False)
        if had_table.returncode == 0:
            on_host(host.name, ["nft", "delete", "chain", "inet", "checkpointctl", "cpmemo"])
        else:
            on_host(host.name, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
