"""Bundles through the lab's OCI registry (10.213.0.1:5000) and status reports through the lab's
WebDAV share (Debian's nginx on 10.213.0.1:8088): ``publish`` pushes, an agent on a light host
whose firewall drops every inbound connection converges from the tag, picks up the next bundle
on its next run, refuses (and reports) a lower serial or a bad signature pushed under the tag,
and costs the registry one request per run while the tag is unchanged, counted in the
registry's own access log. After each run the agent PUTs its signed status report to the share
(counted in nginx's access log), and ``status --from http://10.213.0.1:8088/reports/`` reads
the reports back over HTTP and shows the pull hosts beside lt-3, read over SSH; it flags a
report whose signature fails, one older than three intervals and one on an older serial.

The hosts, keys, inventory and clean-up are test_trust_agent's ``pull`` fixture (lt-2 and
lt-1, table ``cpctlpull``); this module adds policies whose egress allows the registry and the
share as well as that fixture's HTTPS server, so the fixture's own clean-up still reaches the
host. Each run uses a repository of its own, so counts are not mixed with other tests' pushes.
Runs are ``--once``: each is one interval of ``--interval`` (the state kept between runs is
the same files in the host's state directory; the loop itself is
tests/unit/gitops/test_ocibundle_loop.py).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml
from test_trust_agent import HOST, HOST_A, Pull, ssh_open
from test_trust_agent import pull as pull  # the fixture, requested by name
from trust_env import CHECKPOINTCTL, TABLE, TRUST_DIR

from checkpointctl.cli.main import main

pytestmark = pytest.mark.lab

REGISTRY = "10.213.0.1:5000"
LOG = Path("/var/lib/checkpointctl-lab/registry/registry.log")
SHARE = "http://10.213.0.1:8088/reports/"
SHARE_LOG = Path("/var/lib/checkpointctl-lab/webdav/access.log")
PUSH_HOST = "lt-3"
"""Read over SSH by ``status`` beside the pull hosts."""
NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _policy(env: Pull, name: str, *, ui_port: int | None) -> None:
    https_port = urllib.parse.urlsplit(env.base_url).port
    allow = [
        {"proto": "tcp", "port": port, "to": ["10.213.0.1/32"], "comment": "bundles, reports"}
        for port in (https_port, 5000, 8088)
    ]
    inbound: dict[str, object] = {"default": "drop"}
    if ui_port:
        inbound["allow"] = [{"proto": "tcp", "port": ui_port, "from": ["10.213.0.0/16"]}]
    doc = {
        "apiVersion": "checkpointctl/v1",
        "kind": "CheckpointPolicy",
        "metadata": {"name": name},
        "selector": {"groups": ["pull"]},
        "spec": {
            "firewall": {
                "table": TABLE,
                "inbound": inbound,
                "outbound": {"default": "drop", "allow": allow},
            }
        },
    }
    folder = env.root / "policies" / name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yml").write_text(yaml.safe_dump(doc, sort_keys=False))


def _publish(env: Pull, data: bytes, reference: str) -> str:
    path = env.root / f"publish-{time.monotonic_ns()}.cpb"
    path.write_bytes(data)
    assert main(["publish", str(path), reference, "--insecure-registry", REGISTRY]) == 0
    return reference


def _requests(repo: str, address: str, since: int) -> list[str]:
    """The registry's access-log lines for ``repo`` from ``address`` after offset ``since``."""
    with LOG.open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    pattern = re.compile(rf'^{re.escape(address)} .*"(\w+) /v2/{re.escape(repo)}/(\S+)', re.M)
    return [f"{m.group(1)} {m.group(2)}" for m in pattern.finditer(text)]


def _puts(address: str, since: int) -> list[str]:
    """nginx's access-log lines for PUTs from ``address`` after offset ``since``: PATH STATUS."""
    with SHARE_LOG.open("rb") as f:
        f.seek(since)
        text = f.read().decode("utf-8", "replace")
    pattern = re.compile(rf'^{re.escape(address)} \S+ "PUT (\S+) [^"]*" (\d+)', re.M)
    return [f"{m.group(1)} {m.group(2)}" for m in pattern.finditer(text)]


def _status_inventory(env: Pull, path: Path) -> None:
    """The fixture's inventory with both pull hosts' report keys, and lt-3 as a push host."""
    doc = yaml.safe_load(env.inventory.read_text())
    hosts = doc["all"]["children"]["pull"]["hosts"]
    for name in (HOST, HOST_A):
        report_pub = json.loads(env.on_host(name, ["cat", f"{TRUST_DIR}/report.pub"]).stdout)
        hosts[name]["agent_report_key"] = report_pub["public_key"]
    doc["all"]["hosts"] = {PUSH_HOST: {"address": env.lab.host(PUSH_HOST).address}}
    path.write_text(yaml.safe_dump(doc))


def _status(
    inventory: Path, *, later: str | None = None
) -> tuple[int, dict[str, dict[str, object]]]:
    """``status --from`` the share as JSON: the exit code and each host's entry by name
    (pull hosts and push hosts alike). ``later``: run it with the clock that much ahead."""
    out = inventory.parent / "status.json"
    argv = ["status", "-i", str(inventory), "--from", SHARE, "--format", "json",
            "-o", str(out), "--interval", "1m"]  # fmt: skip
    if later is None:
        code = main(argv)
    else:
        proc = subprocess.run(["faketime", "-f", later, CHECKPOINTCTL, *argv], check=False)
        code = proc.returncode
    doc = json.loads(out.read_text())
    by_name = {h["host"]: {"kind": "pull", **h} for h in doc["pull_hosts"]}
    by_name.update({h["host"]: {"kind": "push", **h} for h in doc["hosts"]})
    return code, by_name


def _flags(entry: dict[str, object]) -> list[str]:
    flags = entry["flags"]
    assert isinstance(flags, list)
    return [str(f) for f in flags]


def test_an_agent_follows_a_bundle_tag_and_reports_to_the_lab_share(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pull: Pull = request.getfixturevalue("pull")
    monkeypatch.chdir(tmp_path)  # status compares with no policies: it only reads
    if not LOG.exists() or not SHARE_LOG.exists():
        pytest.skip("the lab registry or share keeps no access log here")
    if PUSH_HOST not in {h.name for h in pull.lab.light_hosts}:
        pytest.skip(f"needs the light lab host {PUSH_HOST}")
    repo = f"cpctl-test/bundles-{int(time.time())}"
    reference = f"oci://{REGISTRY}/{repo}:fleet"
    address = pull.lab.host(HOST).address
    _policy(pull, "oci-closed", ui_port=None)
    _policy(pull, "oci-closed-8080", ui_port=8080)
    report_url = SHARE + "{host}.json"
    inventory = tmp_path / "status-inventory.yml"
    _status_inventory(pull, inventory)

    def agent(host: str = HOST) -> tuple[int, str]:
        proc = pull.agent(
            host, reference, "--insecure-registry", REGISTRY, "--report-url", report_url,
            "--report-interval", "1m",
        )  # fmt: skip
        return proc.returncode, proc.stdout.strip() + proc.stderr.strip()

    first = pull.next_serial()
    _publish(pull, pull.build("oci-closed", first), reference)
    try:
        # 1. published -> converged, the host accepts no inbound connection, and its report
        #    went to the share
        share_mark = SHARE_LOG.stat().st_size
        code, out = agent()
        assert code == 0, out
        assert f"{HOST}: converged (bundle serial {first})" in out
        assert "policy drop" in pull.table(HOST)
        assert not ssh_open(address)

        # 2. an unchanged tag: one HEAD per run, nothing downloaded
        mark = LOG.stat().st_size
        for _ in range(3):
            code, out = agent()
            assert code == 0, out
            assert f"{HOST}: in-sync (bundle serial {first})" in out
            assert "unchanged at sha256:" in out  # the agent's own decision, logged
        time.sleep(0.5)  # the registry writes its access log after answering
        seen = _requests(repo, address, mark)
        assert seen == ["HEAD manifests/fleet"] * 3, seen
        # nginx took one report per run (201 created, 204 replaced)
        puts = _puts(address, share_mark)
        assert [p.split()[0] for p in puts] == [f"/reports/{HOST}.json"] * 4, puts
        assert {p.split()[1] for p in puts} <= {"201", "204"}, puts

        # 3. a new bundle under the tag: picked up on the next run; lt-1 follows the tag too
        second = pull.next_serial()
        _publish(pull, pull.build("oci-closed-8080", second), reference)
        mark = LOG.stat().st_size
        code, out = agent()
        assert code == 0, out
        assert f"{HOST}: converged (bundle serial {second})" in out
        assert "8080" in pull.table(HOST)
        time.sleep(0.5)
        methods = [r.split()[0] for r in _requests(repo, address, mark)]
        assert methods == ["HEAD", "GET", "GET"], methods  # tag, manifest, bundle
        table = pull.table(HOST)
        code, out = agent(HOST_A)
        assert code == 0, out

        # the hosts' own signed reports, read over HTTP from nginx, beside lt-3 (over SSH)
        code, hosts = _status(inventory)
        assert sorted(hosts) == sorted([HOST, HOST_A, PUSH_HOST])
        for name in (HOST, HOST_A):
            assert (hosts[name]["kind"], _flags(hosts[name])) == ("pull", []), hosts[name]
            assert hosts[name]["serial"] == second
        assert hosts[PUSH_HOST]["kind"] == "push"

        # a report older than three intervals (the clock 4 minutes on, interval 1m) is stale
        _, later = _status(inventory, later="+4m")
        assert [_flags(later[n]) for n in (HOST, HOST_A)] == [["stale"], ["stale"]]

        # lt-1 moves on to a newer serial: lt-2's report now runs an older one
        third = pull.next_serial()
        _publish(pull, pull.build("oci-closed-8080", third), reference)
        code, out = agent(HOST_A)
        assert code == 0, out
        code, hosts = _status(inventory)
        assert code == 1
        assert _flags(hosts[HOST]) == ["old-serial"]
        assert (_flags(hosts[HOST_A]), hosts[HOST_A]["serial"]) == ([], third)

        # 4. a lower serial, then a bad signature, pushed under the tag: refused and reported
        _publish(pull, pull.build("oci-closed", second - 1), reference)
        code, out = agent()
        assert code == 1
        assert "rollback" in out
        status = pull.status(HOST)
        assert status["result"] == "refused"
        assert "older than serial" in str(status["message"])
        _publish(pull, pull.build("oci-closed", pull.next_serial(), "rogue"), reference)
        code, out = agent()
        assert code == 1
        status = pull.status(HOST)
        assert status["result"] == "refused"
        assert "not signed by any trusted key" in str(status["message"])
        assert pull.table(HOST) == table  # refused bundles leave the host as it was

        # the refusals reached the controller: the host's report is flagged
        code, hosts = _status(inventory)
        assert "unhealthy" in _flags(hosts[HOST])
        assert code == 1
        # a report rewritten in the share (PUT by anyone who can write there) does not verify
        url = SHARE + f"{HOST}.json"
        with NO_PROXY.open(url, timeout=10) as resp:
            forged = resp.read().replace(b'"refused"', b'"in-sync"')
        put = urllib.request.Request(url, data=forged, method="PUT")
        with NO_PROXY.open(put, timeout=10) as resp:
            assert resp.status == 204
        code, hosts = _status(inventory)
        assert _flags(hosts[HOST]) == ["bad-signature"]
        assert code == 1
    finally:
        pull.converge("keep-ssh")  # SSH back, through the fixture's HTTPS source
    assert ssh_open(address)
