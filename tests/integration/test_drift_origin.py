"""Drift that says who changed what, on the lab: three hosts, three classes, four formats.

After one apply of this test's policies (which records, on each host, what it converged to):

- lt-1 gets a firewall rule added by hand with plain ``nft``: *out-of-band*, shown with the
  last apply's record;
- cp-1's policy changes in Git (an environment variable): *pending*;
- cp-2's container is replaced by another digest of the same repository, with the same
  configuration, the way a vendor's auto-updater does it: *vendor update*. The replacement is
  made by the engine pointed at another state directory, so the host's own last-apply record
  knows nothing of it, exactly as with an updater that is not checkpointctl.

Then an exception accepts lt-1's rule until a day: drift ``--at`` before it shows the rule as
accepted (lt-1 in sync), ``--at`` after it reports it again as *expired exception*.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.engine.run import ApplyOptions, run_fleet
from checkpointctl.inventory import load_inventory
from checkpointctl.lab import LabInfo
from checkpointctl.policy.loader import load_desired
from checkpointctl.transport.connect import connect

pytestmark = pytest.mark.lab

HOSTS = "cp-1,cp-2,lt-1"
Capsys = pytest.CaptureFixture[str]

FIREWALL = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: origin-firewall
selector:
  hosts: [cp-1, cp-2, lt-1]
spec:
  firewall:
    table: checkpointctl
    management:
      ssh_port: 22
      from: ["{{ controller_cidr }}"]
    inbound:
      default: drop
      allow: []
    outbound:
      default: drop
      allow:
        - {proto: tcp, port: "{{ registry_port | int }}", to: ["{{ registry_cidr }}"]}
"""
EXCEPTION = """\
  exceptions:
    - resource: firewall/checkpointctl
      field: "*8080*"
      reason: vendor support session, ticket OPS-1234
      owner: ops-team
      expires: "2026-12-31"
"""


def probe_policy(host: str, mode: str, image: str = "{{ checkpoint_image }}") -> str:
    return f"""\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: origin-probe-{host}
selector:
  hosts: [{host}]
spec:
  registries:
    trusted: [{{registry: "{{{{ trusted_registry }}}}", prefix: checkpoint/}}]
  containers:
    - name: probe
      image: "{image}"
      user: "10001:10001"
      cap_drop: [ALL]
      env:
        MODE: {mode}
"""


def run(capsys: Capsys, *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out if code in (0, 2) else out + err


def vendor_replace(lab: LabInfo, policies: Path) -> None:
    """Recreate cp-2's probe from another digest of its repository, same configuration, and
    leave cp-2's last-apply record alone (the engine records under another state directory)."""
    (policies / "probe-cp-2.yml").write_text(
        probe_policy("cp-2", "one", image="{{ checkpoint_image_v2 }}")
    )
    inventory = load_inventory(str(lab.inventory))
    hosts = inventory.select("cp-2")
    states = load_desired([str(policies)], inventory, hosts).states
    options = ApplyOptions(state_dir="/var/lib/checkpointctl-vendor-sim", health_gate=False)
    report = run_fleet(hosts, states, "apply", connect, options=options)
    assert report.exit_code == 0, report.hosts[0].error


def test_three_changes_three_classes_in_every_format_and_an_exception_until_it_expires(
    lab: LabInfo, tmp_path: Path, capsys: Capsys, on_host
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "firewall.yml").write_text(FIREWALL)
    for host in ("cp-1", "cp-2"):
        (policies / f"probe-{host}.yml").write_text(probe_policy(host, "one"))
    base = [str(policies), "-i", str(lab.inventory), "--limit", HOSTS]
    code, out = run(capsys, "apply", *base, "-q")
    assert code == 0, out
    assert run(capsys, "drift", *base)[0] == 0

    on_host("lt-1", ["nft", "add", "rule", "inet", "checkpointctl", "input", "tcp", "dport",
                     "8080", "accept"])  # fmt: skip
    vendor_replace(lab, _copy(policies, tmp_path))
    (policies / "probe-cp-1.yml").write_text(probe_policy("cp-1", "two"))

    code, out = run(capsys, "drift", *base, "--at", "2026-12-07", "--format", "json")
    assert code == 2
    report = json.loads(out)
    origins = {h["host"]: [c["origin"] for c in h["changes"]] for h in report["hosts"]}
    assert origins == {"cp-1": ["pending"], "cp-2": ["vendor-update"], "lt-1": ["out-of-band"]}
    by_host = {h["host"]: h for h in report["hosts"]}
    assert by_host["lt-1"]["last_apply"]["result"] in ("converged", "in-sync")
    assert [f["path"] for f in by_host["cp-1"]["changes"][0]["fields"]] == ["env.MODE"]

    code, text = run(capsys, "drift", *base, "--at", "2026-12-07")
    assert "origin: pending: the policy changed since the last apply" in text
    assert "origin: vendor update: the image was replaced by another digest" in text
    assert "origin: out-of-band: changed on the host since the last apply (" in text
    assert "by origin: 1 pending, 1 out-of-band, 1 vendor-update." in text

    code, xml = run(capsys, "drift", *base, "--at", "2026-12-07", "--format", "junit")
    messages = {
        case.get("classname"): failure.get("message")
        for case in ET.fromstring(xml).iter("testcase")
        if (failure := case.find("failure")) is not None
    }
    assert messages == {
        "cp-1": "drifted (pending): 1 field",
        "cp-2": "drifted (vendor-update): 1 field",
        "lt-1": "drifted (out-of-band): 1 field",
    }
    code, markdown = run(capsys, "drift", *base, "--at", "2026-12-07", "--format", "markdown")
    for word in ("**pending:**", "**vendor update:**", "**out-of-band:**"):
        assert word in markdown

    # CI chooses what is red: the vendor's update alone does not fail a pending-only gate
    assert run(capsys, "drift", *base, "--fail-on", "out-of-band,vendor-update")[0] == 2
    (policies / "probe-cp-1.yml").write_text(probe_policy("cp-1", "one"))  # Git reverted
    assert run(capsys, "drift", *base, "--fail-on", "pending,out-of-band")[0] == 2  # lt-1
    assert run(capsys, "drift", *base, "--fail-on", "pending")[0] == 0
    # each cycle of drift --watch is judged as one-shot drift is (--fail-on, --at)
    watch = ["--watch", "1s", "--cycles", "1"]
    assert run(capsys, "drift", *base, *watch, "--fail-on", "pending")[0] == 0
    assert run(capsys, "drift", *base, *watch, "--fail-on", "pending,out-of-band")[0] == 2

    # an exception accepts lt-1's rule until it expires
    (policies / "firewall.yml").write_text(FIREWALL + EXCEPTION)
    code, out = run(capsys, "drift", *base, "--at", "2026-12-07", "--format", "json")
    lt1 = next(h for h in json.loads(out)["hosts"] if h["host"] == "lt-1")
    assert lt1["status"] == "in-sync"
    assert lt1["changes"] == []
    assert [(a["address"], a["exception"]["owner"]) for a in lt1["accepted"]] == [
        ("firewall/checkpointctl", "ops-team")
    ]
    assert "8080" in lt1["accepted"][0]["fields"][0]
    code, text = run(capsys, "drift", *base, "--at", "2026-12-07")
    assert "  = firewall/checkpointctl input: " in text
    assert "accepted by exception (ops-team until 2026-12-31: vendor support session" in text
    code, out = run(capsys, "drift", *base, "--at", "2027-01-01", "--format", "json")
    lt1 = next(h for h in json.loads(out)["hosts"] if h["host"] == "lt-1")
    assert [c["origin"] for c in lt1["changes"]] == ["expired-exception"]
    assert lt1["changes"][0]["exception"]["expires"] == "2026-12-31"
    for day, status in (("2026-12-07", "in-sync"), ("2027-01-01", "drift")):
        code, out = run(capsys, "drift", *base, *watch, "--at", day, "--format", "json")
        lt1 = next(h for h in json.loads(out)["hosts"] if h["host"] == "lt-1")
        assert lt1["status"] == status, (day, lt1)

    # apply leaves the accepted rule alone (and says so) while it fixes the vendor's image...
    code, out = run(capsys, "apply", *base, "--format", "json")
    assert code == 0, out
    hosts = {h["host"]: h for h in json.loads(out)["hosts"]}
    assert hosts["lt-1"]["applied"] == []
    assert (
        "dport 8080 accept"
        in on_host("lt-1", ["nft", "list", "table", "inet", "checkpointctl"]).stdout
    )
    assert hosts["cp-2"]["applied"] == ["container/probe"]
    # ...and once the exception is gone, puts the firewall back too
    (policies / "firewall.yml").write_text(FIREWALL)
    assert run(capsys, "apply", *base, "-q")[0] == 0
    assert "8080" not in on_host("lt-1", ["nft", "list", "table", "inet", "checkpointctl"]).stdout
    assert run(capsys, "drift", *base, "--at", "2026-12-07")[0] == 0


def _copy(policies: Path, tmp_path: Path) -> Path:
    """A copy of the policies for the vendor's side (Git's copy stays as it was)."""
    other = tmp_path / "vendor-policies"
    other.mkdir()
    for f in policies.iterdir():
        (other / f.name).write_text(f.read_text())
    return other
