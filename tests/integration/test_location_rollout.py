"""Location-aware rollouts on the lab: ``update`` bumps, ``apply`` rolls out by location.

The lab has two full hosts (cp-1, cp-2: Docker, the probe container) and light hosts
(sshd and nftables only). A second inventory gives them locations: cp-1 and cp-2 are ``ams``,
lt-1 and lt-2 are ``fra`` (a firewall-only location). Four full hosts would have meant
``lab up --hosts 4`` on a machine the whole team shares; two locations of two hosts each, one
of them with containers, exercise every rule with what the lab has.

Stories:
- a clean newer digest under the tracked tag: ``update`` writes it, ``apply`` replaces cp-1
  then cp-2, and a poller that reads both ams hosts all along never sees both down;
- a newer digest whose container fails its health check: the canary (cp-1) keeps the previous
  digest (its create-first replacement never let the old container go), the location stops
  naming itself, cp-2 is not touched;
- cp-2's checkpoint stopped by hand: the next bump would take down the last healthy checkpoint
  of ams, so the location stops before cp-1 and leaves both untouched.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo
from checkpointctl.lab.images import (
    PROBE_CMD,
    SLEEP_CMD,
    base_layer,
    build_image,
    push,
    version_layer,
)
from checkpointctl.lab.layout import REGISTRY

pytestmark = pytest.mark.lab

TRACKED = "location-test-stable"
DOCKER = ["docker", "-H", "unix:///run/docker.sock"]
Capsys = pytest.CaptureFixture[str]

LOCATIONS = """\
all:
  hosts:
    cp-1: {location: ams}
    cp-2: {location: ams}
    lt-1: {location: fra}
    lt-2: {location: fra}
"""
FIREWALL = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: location-firewall}
selector: {hosts: [cp-1, cp-2, lt-1, lt-2]}
spec:
  firewall:
    table: checkpointctl
    management: {ssh_port: 22, from: ["{{ controller_cidr }}"]}
    inbound: {default: drop, allow: []}
    outbound:
      default: drop
      allow:
        - {proto: tcp, port: "{{ registry_port | int }}", to: ["{{ registry_cidr }}"]}
"""


def probe_policy(image: str) -> str:
    return f"""\
# The probe follows the vendor's channel; the update job bumps it.
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: location-probe}}
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
      healthcheck:
        test: [wget, -q, -O, /dev/null, "http://127.0.0.1:8080/"]
        interval: 1s
        timeout: 1s
        retries: 2
  health: {{require_healthy: true, timeout: 20s}}
"""


def push_probe(version: str, *, serving: bool = True) -> str:
    image = build_image(
        "checkpoint/probe", TRACKED, "location_test",
        [base_layer(), version_layer(f"checkpoint-probe {version}")],
        PROBE_CMD if serving else SLEEP_CMD, {"org.opencontainers.image.version": version},
        ["8080/tcp"],
    )  # fmt: skip
    push(image)
    return image.digest


def clean_report(repo: Path, digest: str) -> None:
    path = repo / "scans" / f"{digest.removeprefix('sha256:')}.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps({"digest": digest, "findings": []}))


def running_digest(on_host, host: str) -> str:  # type: ignore[no-untyped-def]
    info = json.loads(on_host(host, [*DOCKER, "inspect", "--type", "container", "probe"]).stdout)
    image = json.loads(on_host(host, [*DOCKER, "image", "inspect", info[0]["Image"]]).stdout)
    return str(image[0]["RepoDigests"][0]).rpartition("@")[2]


def healthy_probes(on_host, host: str) -> int:  # type: ignore[no-untyped-def]
    out = on_host(host, [*DOCKER, "ps", "--format", "{{.Names}} {{.Status}}"], check=False).stdout
    return sum(1 for line in out.splitlines() if line.startswith("probe") and "(healthy)" in line)


class Poller(threading.Thread):
    """Reads both ams hosts again and again; records how many of them serve a healthy probe."""

    def __init__(self, on_host) -> None:  # type: ignore[no-untyped-def]
        super().__init__(daemon=True)
        self.on_host = on_host
        self.samples: list[int] = []
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            up = sum(healthy_probes(self.on_host, h) > 0 for h in ("cp-1", "cp-2"))
            self.samples.append(up)
            time.sleep(0.05)


def test_update_then_apply_location_by_location_never_below_one_healthy_checkpoint(
    lab: LabInfo, tmp_path: Path, capsys: Capsys, on_host
) -> None:
    (tmp_path / "policies").mkdir()
    policy = tmp_path / "policies" / "probe.yml"
    (tmp_path / "policies" / "firewall.yml").write_text(FIREWALL)
    locations = tmp_path / "locations.yml"
    locations.write_text(LOCATIONS)
    inventories = ["-i", str(lab.inventory), "-i", str(locations)]
    repository = f"{lab.registry}/checkpoint/probe"
    old = push_probe("location-old")
    policy.write_text(probe_policy(f"{repository}:{TRACKED}@{old}"))
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
    assert {running_digest(on_host, h) for h in ("cp-1", "cp-2")} == {old}

    # 1. a clean newer digest: bumped, then rolled out location by location
    new = push_probe("location-new")
    clean_report(tmp_path, new)
    assert main(update) == 2
    capsys.readouterr()
    summary = (tmp_path / "summary.md").read_text()
    assert "- Hosts (2): ams: cp-1, cp-2\n" in summary
    assert "healthy checkpoints kept: ams 1" in summary
    poller = Poller(on_host)
    poller.start()
    try:
        code, report = run(apply)
    finally:
        poller.done.set()
        poller.join()
    assert code == 0, report
    assert {running_digest(on_host, h) for h in ("cp-1", "cp-2")} == {new}
    assert len(poller.samples) > 10
    assert min(poller.samples) >= 1, poller.samples  # never both ams checkpoints down

    # 2. a newer digest whose checkpoint fails its health check: the canary is rolled back
    broken = push_probe("location-broken", serving=False)
    clean_report(tmp_path, broken)
    assert main(update) == 2
    capsys.readouterr()
    code, report = run(apply)
    assert code == 1
    # the replacement is create-first: the new container never became healthy, so the old one
    # was never stopped (what a rollback would restore is still running) and ams stops there
    assert report["halted"].startswith("location ams stopped: cp-1 failed (container/probe: ")
    assert "the old container keeps running" in report["halted"]
    hosts = {h["host"]: h for h in report["hosts"]}
    assert hosts["cp-2"]["status"] == "not-attempted"
    assert "location ams" in hosts["cp-2"]["error"]
    assert running_digest(on_host, "cp-1") == new  # back on the previous digest
    assert running_digest(on_host, "cp-2") == new  # never touched

    # 3. cp-2's checkpoint stopped by hand: ams would fall below one healthy checkpoint
    policy.write_text(probe_policy(f"{repository}:{TRACKED}@{old}"))  # a reviewed pin back
    on_host("cp-2", [*DOCKER, "stop", "probe"])
    code, report = run(apply)
    assert code == 1
    assert report["halted"].startswith(
        "location ams stopped before cp-1: taking it down would leave 0 of 1 other "
        "checkpoint(s) healthy, below its minimum of 1"
    )
    assert running_digest(on_host, "cp-1") == new  # untouched
    # fixing cp-2 first (its checkpoint is down already) is how ams gets back
    code, report = run([*apply[:-2], "--limit", "cp-2", "--format", "json"])
    assert code == 0, report
    code, report = run(apply)
    assert code == 0, report
    assert {running_digest(on_host, h) for h in ("cp-1", "cp-2")} == {old}
