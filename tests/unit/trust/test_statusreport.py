"""Signed status reports: the agent signs with its host's report key and PUTs; the controller
believes only what verifies with that host's key.

The PUT endpoint is a small server on loopback started here (it stores what it is sent by
path, as a WebDAV share or an object store would).
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from checkpointctl.errors import TrustError
from checkpointctl.trust.statusreport import (
    ensure_report_key,
    parse_report_public_key,
    public_key_text,
    report_body,
    send_run_report,
    sign_report,
    verify_report,
)

STATUS = {
    "host": "cp-7",
    "time": "2026-12-07T12:00:00Z",
    "result": "converged",
    "healthy": True,
    "message": "",
    "source": "oci://10.213.0.1:5000/fleet:prod",
    "bundle": {"serial": 12, "manifest_sha256": "sha256:" + "ab" * 32},
    "report": {
        "findings": [{"address": "x", "message": "m", "severity": "warning"}],
        "changes": [],
    },
    "consecutive_failures": 0,
}


@pytest.fixture
def put_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "dav"
    root.mkdir()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_PUT(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            (root / Path(self.path).name).write_bytes(self.rfile.read(length))
            self.send_response(201)
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/reports/{{host}}.json", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_a_report_put_by_the_agent_verifies_with_the_hosts_key(
    put_server: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = put_server
    trust = tmp_path / "trust"
    trust.mkdir()
    key = ensure_report_key(str(trust))
    assert ensure_report_key(str(trust)).key_id == key.key_id  # kept, not remade
    assert (trust / "report.key").stat().st_mode & 0o777 == 0o600
    sent = send_run_report(
        STATUS, trust_dir=str(trust), url_template=url, interval=300.0, source_version="sha256:1"
    )
    assert sent.endswith("/reports/cp-7.json")
    public = parse_report_public_key(public_key_text(key), "inventory")
    report = verify_report((root / "cp-7.json").read_bytes(), public, "cp-7", "cp-7.json")
    assert (report.result, report.serial, report.interval) == ("converged", 12, 300.0)
    assert report.healthy


def test_a_report_is_refused_if_another_key_signed_it_or_it_was_changed(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    key = ensure_report_key(str(tmp_path / "a"))
    other = ensure_report_key(str(tmp_path / "b"))
    public = parse_report_public_key(public_key_text(key), "inventory")
    body = report_body(STATUS, interval=None, source_version=None)
    with pytest.raises(TrustError, match="does not verify"):
        verify_report(sign_report(body, other), public, "cp-7", "r.json")
    forged = sign_report(body, key).replace(b'"serial":12', b'"serial":99')
    with pytest.raises(TrustError, match="does not verify"):
        verify_report(forged, public, "cp-7", "r.json")
    with pytest.raises(TrustError, match="not of cp-8"):
        verify_report(sign_report(body, key), public, "cp-8", "r.json")
    with pytest.raises(TrustError, match="base64 Ed25519"):
        parse_report_public_key("not-a-key", "inventory")
