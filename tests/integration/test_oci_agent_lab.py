"""Bundles through the lab's OCI registry (10.213.0.1:5000): ``publish`` pushes, an agent on a
light host whose firewall drops every inbound connection converges from the tag, picks up the
next bundle on its next run, refuses (and reports) a lower serial or a bad signature pushed
under the tag, and costs the registry one request per run while the tag is unchanged, counted
in the registry's own access log. The agent PUTs a signed status report after each run to a
small PUT server this module runs on the bridge address (standing in for the WebDAV share the
issue names; Debian's nginx is not in the lab yet), and ``status --from`` shows the host from
its reports beside lt-1, read over SSH.

The host, keys, inventory and clean-up are test_trust_agent's ``pull`` fixture (lt-2, its
table ``cpctlpull``); this module adds policies whose egress allows the registry as well as
that fixture's HTTPS server, so the fixture's own clean-up still reaches the host. Each run
uses a repository of its own, so counts are not mixed with other tests' pushes. Runs are
``--once``: each is one interval of ``--interval`` (the state kept between runs is the same
files in the host's state directory).
"""

from __future__ import annotations

import http.server
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from test_trust_agent import HOST, HOST_A, TABLE, TRUST_DIR, Pull, ssh_open
from test_trust_agent import pull as pull  # the fixture, requested by name

from checkpointctl.cli.main import main

pytestmark = pytest.mark.lab

REGISTRY = "10.213.0.1:5000"
LOG = Path("/var/lib/checkpointctl-lab/registry/registry.log")


@pytest.fixture
def reports(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A PUT endpoint on the bridge address storing each report under its file name."""
    root = tmp_path / "reports"
    root.mkdir()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            (root / Path(self.path).name).write_bytes(self.rfile.read(length))
            self.send_response(201)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("10.213.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def _policy(env: Pull, name: str, *, ui_port: int | None, report_port: int) -> None:
    https_port = urllib.parse.urlsplit(env.base_url).port
    allow = [
        {"proto": "tcp", "port": port, "to": ["10.213.0.1/32"], "comment": "bundles, reports"}
        for port in (https_port, 5000, report_port)
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


def _status_inventory(env: Pull, path: Path) -> None:
    """The fixture's inventory with HOST's report key; HOST_A is a push host (read over SSH)."""
    report_pub = json.loads(env.on_host(HOST, ["cat", f"{TRUST_DIR}/report.pub"]).stdout)
    doc = yaml.safe_load(env.inventory.read_text())
    hosts = doc["all"]["children"]["pull"]["hosts"]
    hosts[HOST]["agent_report_key"] = report_pub["public_key"]
    doc["all"]["hosts"] = {HOST_A: hosts.pop(HOST_A)}
    path.write_text(yaml.safe_dump(doc))


def _status(inventory: Path, root: Path) -> tuple[int, dict[str, object]]:
    out = inventory.parent / "status.json"
    code = main(["status", "-i", str(inventory), "--from", str(root), "--format", "json",
                 "-o", str(out), "--interval", "1m"])  # fmt: skip
    doc: dict[str, object] = json.loads(out.read_text())
    return code, doc


def test_an_agent_follows_a_bundle_tag_in_the_lab_registry(
    request: pytest.FixtureRequest,
    reports: tuple[int, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pull: Pull = request.getfixturevalue("pull")
    monkeypatch.chdir(tmp_path)  # status compares with no policies: it only reads
    report_port, report_root = reports
    if not LOG.exists():
        pytest.skip("the lab registry keeps no access log here")
    repo = f"cpctl-test/bundles-{int(time.time())}"
    reference = f"oci://{REGISTRY}/{repo}:fleet"
    address = pull.lab.host(HOST).address
    _policy(pull, "oci-closed", ui_port=None, report_port=report_port)
    _policy(pull, "oci-closed-8080", ui_port=8080, report_port=report_port)
    report_url = f"http://10.213.0.1:{report_port}/reports/{{host}}.json"
    inventory = tmp_path / "status-inventory.yml"
    _status_inventory(pull, inventory)

    def agent() -> tuple[int, str]:
        proc = pull.agent(
            HOST, reference, "--insecure-registry", REGISTRY, "--report-url", report_url,
            "--report-interval", "1m",
        )  # fmt: skip
        return proc.returncode, proc.stdout.strip() + proc.stderr.strip()

    first = pull.next_serial()
    _publish(pull, pull.build("oci-closed", first), reference)
    try:
        # 1. published -> converged, and the host accepts no inbound connection
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
        time.sleep(0.5)  # the registry writes its access log after answering
        seen = _requests(repo, address, mark)
        assert seen == ["HEAD manifests/fleet"] * 3, seen

        # 3. a new bundle under the tag: picked up on the next run
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

        # the host's own signed report, shown beside lt-1 (read over SSH)
        code, doc = _status(inventory, report_root)
        (mine,) = doc["pull_hosts"]  # type: ignore[misc]
        assert (mine["host"], mine["flags"], mine["serial"]) == (HOST, [], second)
        assert [h["host"] for h in doc["hosts"]] == [HOST_A]  # type: ignore[attr-defined]

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
        code, doc = _status(inventory, report_root)
        (mine,) = doc["pull_hosts"]  # type: ignore[misc]
        assert mine["flags"] == ["unhealthy"]
        assert code == 1
        # a report rewritten in the share does not verify
        path = report_root / f"{HOST}.json"
        path.write_bytes(path.read_bytes().replace(b'"refused"', b'"in-sync"'))
        code, doc = _status(inventory, report_root)
        (mine,) = doc["pull_hosts"]  # type: ignore[misc]
        assert mine["flags"] == ["bad-signature"]
    finally:
        pull.converge("keep-ssh")  # SSH back, through the fixture's HTTPS source
    assert ssh_open(address)
