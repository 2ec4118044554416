"""A release that breaks only after it took over is rolled back on the canary, on the lab.

The probe here is the lab's hand-over probe (:mod:`checkpointctl.lab.handover`): its releases
share the checkpoint's state in a named volume, the live container holds it, and a container
takes it over when the previous one stops. The broken release is a healthy standby (so the
create-first replacement swaps it in) and unhealthy from the first check after the swap (it
cannot use the state it took over). Its healthcheck and its health signal are the same command.

Story, with two locations (ams: cp-1, cp-2; fra: lt-1, lt-2, firewall only):
- the working release everywhere; then ``update`` bumps the tracked tag's newer digest, the
  broken release, into the policy (clean scan report);
- ``apply``: cp-1 (ams's canary) swaps, fails its health gate (the signal, read live after the
  swap, and Docker's healthcheck), is rolled back to the previous digest at once and is healthy
  on it again; cp-2 is never touched (same container, same digest); ams stops naming the
  rollback and the failed check; a poller reading both ams hosts all along never sees both down.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest
from test_location_rollout import (
    DOCKER,
    FIREWALL,
    LOCATIONS,
    Poller,
    clean_report,
    healthy_probes,
    running_digest,
)

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo
from checkpointctl.lab.handover import HEALTH, STATE_DIR, handover_probe
from checkpointctl.lab.images import push
from checkpointctl.lab.layout import REGISTRY

pytestmark = pytest.mark.lab

TRACKED = "handover-test-stable"
Capsys = pytest.CaptureFixture[str]


def probe_policy(image: str, volume: str, *, docker_check: bool = True, timeout: int = 20) -> str:
    health = json.dumps(list(HEALTH))
    check = f"healthcheck: {{test: {health}, interval: 1s, timeout: 2s, retries: 1}}"
    return f"""\
# The hand-over probe follows the vendor's channel; the update job bumps it.
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: handover-probe}}
selector: {{hosts: [cp-1, cp-2]}}
spec:
  registries:
    trusted: [{{registry: "{REGISTRY}", prefix: checkpoint/}}]
  containers:
    - name: probe
      image: {image}   # bumped by the update job
      track: {TRACKED}
      user: "10001:10001"
      cap_drop: [ALL]
      volumes: [{{name: {volume}, target: {STATE_DIR}, read_only: false}}]
      {check if docker_check else "restart: unless-stopped"}
      health_signal: {health}
  health: {{require_healthy: true, timeout: {timeout}s}}
"""


def container_id(on_host, host: str) -> str:  # type: ignore[no-untyped-def]
    out = on_host(host, [*DOCKER, "inspect", "--type", "container", "-f", "{{.Id}}", "probe"])
    return str(out.stdout).strip()


def test_a_release_broken_after_the_swap_is_rolled_back_on_the_canary_only(
    lab: LabInfo, tmp_path: Path, capsys: Capsys, on_host
) -> None:
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "probe.yml"
    (tmp_path / "policies" / "firewall.yml").write_text(FIREWALL)
    locations = tmp_path / "locations.yml"
    locations.write_text(LOCATIONS)
    inventories = ["-i", str(lab.inventory), "-i", str(locations)]
    repository = f"{lab.registry}/checkpoint/probe"
    # a volume of this run's own: a hand-over state left by another run is not this story's
    volume = f"handover-{secrets.token_hex(6)}"
    for host in ("cp-1", "cp-2"):  # earlier runs' volumes that no container uses any more
        left = on_host(host, [*DOCKER, "volume", "ls", "-q", "--filter", "name=handover-"])
        for name in left.stdout.split():
            on_host(host, [*DOCKER, "volume", "rm", name], check=False)
    working = handover_probe("checkpoint/probe", TRACKED, "handover-works")
    push(working)
    policy.write_text(probe_policy(f"{repository}:{TRACKED}@{working.digest}", volume))
    apply = ["apply", str(tmp_path / "policies"), *inventories, "--limit", "cp-1,cp-2,lt-1,lt-2",
             "--format", "json"]  # fmt: skip
    update = ["update", str(tmp_path / "policies"), *inventories, "--insecure-registry",
              lab.registry, "--summary", str(tmp_path / "summary.md")]  # fmt: skip

    def run(argv: list[str]) -> tuple[int, dict]:  # type: ignore[type-arg]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, (json.loads(out) if out.startswith("{") else {"out": out, "err": err})

    code, report = run(apply)
    assert code == 0, report
    assert {running_digest(on_host, h) for h in ("cp-1", "cp-2")} == {working.digest}
    assert [healthy_probes(on_host, h) for h in ("cp-1", "cp-2")] == [1, 1]
    cp2_before = container_id(on_host, "cp-2")

    broken = handover_probe("checkpoint/probe", TRACKED, "handover-breaks", breaks_on_takeover=True)
    push(broken)
    clean_report(tmp_path, broken.digest)
    assert main(update) == 2
    capsys.readouterr()
    assert f"@{broken.digest}   # bumped by the update job" in policy.read_text()

    poller = Poller(on_host)
    poller.start()
    try:
        code, report = run(apply)
    finally:
        poller.done.set()
        poller.join()
    assert code == 1, report
    halted = report["halted"]
    # the swap happened (the standby was healthy), the live check failed, the canary went back
    assert halted.startswith(
        "location ams stopped: cp-1 failed its health gate and was rolled back "
        "(health gate: container probe"
    ), halted
    assert "cannot use the checkpoint state handed over by the previous release" in halted, halted
    hosts = {h["host"]: h for h in report["hosts"]}
    cp1 = hosts["cp-1"]
    assert cp1["status"] == "failed"
    assert "container/probe" in cp1["applied"]  # the broken release did replace the old one
    rolled = [f for f in cp1["findings"] if f["address"] == "container/probe"]
    assert len(rolled) == 1, cp1["findings"]
    assert rolled[0]["message"].startswith("rolled back to "), rolled
    assert rolled[0]["message"].endswith(f"@{working.digest} after its health gate failed")
    assert hosts["cp-2"]["status"] == "not-attempted"
    assert "location ams" in hosts["cp-2"]["error"]

    assert running_digest(on_host, "cp-1") == working.digest  # the previous digest again
    assert healthy_probes(on_host, "cp-1") == 1  # and healthy on it
    assert running_digest(on_host, "cp-2") == working.digest
    assert container_id(on_host, "cp-2") == cp2_before  # never touched
    assert len(poller.samples) > 10
    assert min(poller.samples) >= 1, poller.samples  # ams never without a healthy checkpoint

    # without locations (plain batches, no --rollback-on-fail) a failed gate rolls back too
    plain = ["apply", str(tmp_path / "policies"), "-i", str(lab.inventory), "--limit", "cp-1",
             "--format", "json"]  # fmt: skip
    code, report = run(plain)
    assert code == 1, report
    assert report["halted"].startswith("health gate failed after batch 1 on cp-1 (container probe")
    (cp1,) = report["hosts"]
    assert "container/probe" in cp1["applied"]
    assert [f["message"] for f in cp1["findings"] if f["address"] == "container/probe"] == [
        f"rolled back to {repository}@{working.digest} after its health gate failed"
    ]
    assert running_digest(on_host, "cp-1") == working.digest
    assert healthy_probes(on_host, "cp-1") == 1

    # the signal speaks before a swap too: on a fresh state volume the broken release is live
    # from its start, and without a Docker healthcheck only its signal says it is broken; the
    # create-first replacement refuses it and cp-1 keeps the working release
    policy.write_text(
        probe_policy(f"{repository}:{TRACKED}@{broken.digest}", volume + "-fresh",
                     docker_check=False, timeout=5)
    )  # fmt: skip
    code, report = run(plain)
    assert code == 1, report
    (cp1,) = report["hosts"]
    assert "its health signal `/probe/health` exited 1" in cp1["error"], cp1["error"]
    assert "the old container keeps running" in cp1["error"], cp1["error"]
    assert "container/probe" not in cp1["applied"]  # (its new volume was created, and is empty)
    assert running_digest(on_host, "cp-1") == working.digest
    assert healthy_probes(on_host, "cp-1") == 1

    # leave no hand-over probe behind: its state volumes are checkpointctl's and would be
    # orphans to the next test's policy (removed while the old probe still uses them)
    for host in ("cp-1", "cp-2"):
        on_host(host, [*DOCKER, "rm", "-f", "probe"], check=False)
        left = on_host(host, [*DOCKER, "volume", "ls", "-q", "--filter", "name=handover-"])
        for name in left.stdout.split():
            on_host(host, [*DOCKER, "volume", "rm", name], check=False)
