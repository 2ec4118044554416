"""Maintenance windows and the manual strategy on the lab (cp-1), against the real clock.

Outside the window, apply puts back a firewall rule added by hand and leaves the container on
its old image (saying so); inside the window it replaces the image. With ``strategy: manual``
the image waits for ``--allow-image-updates``. Windows are written around the current UTC time
(an hour ahead for "outside", an hour either side for "inside"), so the test never depends on
when it runs; the clock logic itself has fixed-clock unit tests (test_policy_window.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

DOCKER = ["docker", "-H", "unix:///run/docker.sock"]
Capsys = pytest.CaptureFixture[str]


def policy(image_var: str, updates: str) -> str:
    return f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: window-probe
selector:
  hosts: [cp-1]
spec:
  registries:
    trusted: [{{registry: "{{{{ trusted_registry }}}}", prefix: checkpoint/}}]
  containers:
    - name: probe
      image: "{{{{ {image_var} }}}}"
      user: "10001:10001"
      cap_drop: [ALL]
  firewall:
    table: checkpointctl
    management:
      ssh_port: 22
      from: ["{{{{ controller_cidr }}}}"]
    inbound: {{default: drop, allow: []}}
    outbound:
      default: drop
      allow:
        - {{proto: tcp, port: "{{{{ registry_port | int }}}}", to: ["{{{{ registry_cidr }}}}"]}}
  updates:
{updates}"""


def window(start: timedelta, end: timedelta) -> str:
    now = datetime.now(UTC)
    return f"    window: daily {(now + start):%H:%M}-{(now + end):%H:%M} UTC\n"


def running_digest(on_host, lab: LabInfo) -> str:  # type: ignore[no-untyped-def]
    info = json.loads(on_host("cp-1", [*DOCKER, "inspect", "--type", "container", "probe"]).stdout)
    image = json.loads(on_host("cp-1", [*DOCKER, "image", "inspect", info[0]["Image"]]).stdout)
    return str(image[0]["RepoDigests"][0])


def hand_rule(on_host) -> None:  # type: ignore[no-untyped-def]
    on_host("cp-1", ["nft", "add", "rule", "inet", "checkpointctl", "input", "tcp", "dport",
                     "8080", "accept"])  # fmt: skip


def has_hand_rule(on_host) -> bool:  # type: ignore[no-untyped-def]
    table = on_host("cp-1", ["nft", "list", "table", "inet", "checkpointctl"]).stdout
    return "dport 8080 accept" in table


def apply(capsys: Capsys, policies: Path, lab: LabInfo, *extra: str) -> dict:  # type: ignore[type-arg]
    code = main(["apply", str(policies), "-i", str(lab.inventory), "--limit", "cp-1",
                 "--format", "json", *extra])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, out + err
    return json.loads(out)["hosts"][0]  # type: ignore[no-any-return]


def test_images_wait_for_the_window_and_the_operator_security_drift_does_not(
    lab: LabInfo, tmp_path: Path, capsys: Capsys, on_host
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    file = policies / "probe.yml"
    outside = window(timedelta(hours=2), timedelta(hours=3))
    file.write_text(policy("checkpoint_image", "    strategy: gitops\n" + outside))
    # start from v1 whatever an earlier test left running (a swap outside the window waits)
    apply(capsys, policies, lab, "--allow-image-updates")
    v1, v2 = lab.checkpoint_image, lab.checkpoint_image_v2
    assert running_digest(on_host, lab) == v1

    # outside the window: the firewall is fixed, the new image waits (and the report says so)
    hand_rule(on_host)
    file.write_text(policy("checkpoint_image_v2", "    strategy: gitops\n" + outside))
    host = apply(capsys, policies, lab)
    assert not has_hand_rule(on_host)
    assert running_digest(on_host, lab) == v1
    assert host["applied"] == ["firewall/checkpointctl"]
    held = [f["message"] for f in host["findings"] if f["address"] == "updates"]
    assert held == [f"container/probe: image update held back: outside the maintenance window "
                    f"{outside.split(': ', 1)[1].strip()}"]  # fmt: skip

    # inside the window: the image is replaced
    inside = window(timedelta(hours=-1), timedelta(hours=1))
    file.write_text(policy("checkpoint_image_v2", "    strategy: gitops\n" + inside))
    host = apply(capsys, policies, lab)
    assert host["applied"] == ["container/probe"]
    assert running_digest(on_host, lab) == v2

    # manual: even inside the window the image waits for the operator
    file.write_text(policy("checkpoint_image", "    strategy: manual\n" + inside))
    host = apply(capsys, policies, lab)
    assert running_digest(on_host, lab) == v2
    assert [f["address"] for f in host["findings"]] == ["updates"]
    host = apply(capsys, policies, lab, "--allow-image-updates")
    assert host["applied"] == ["container/probe"]
    assert running_digest(on_host, lab) == v1
