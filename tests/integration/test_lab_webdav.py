"""The lab's WebDAV share: its own Debian nginx on the lab bridge (10.213.0.1:8088), started by
``lab up`` and known by its pidfile. A PUT below /reports/ is stored (directories made as
needed) and served back; nothing else is writable, and nothing is listed. Requests here come
from the controller's side of the bridge (a lab host's egress is whatever its last test's
firewall left); the agents' reports from a host behind its firewall are
tests/integration/test_oci_agent_lab.py."""

from __future__ import annotations

import re
import time
import urllib.error
import urllib.request
import uuid

import pytest

from checkpointctl.lab import LabInfo, webdav
from checkpointctl.lab.layout import lab_paths
from checkpointctl.lab.process import cmdline

pytestmark = pytest.mark.lab

NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _status(url: str, method: str = "GET", data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, method=method)
    try:
        with NO_PROXY.open(request, timeout=10) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_share_is_the_labs_own_nginx_and_takes_puts_below_reports(lab: LabInfo) -> None:
    paths = lab_paths()
    pid = webdav.running_pid(paths)
    assert pid is not None
    assert str(webdav.config_path(paths)) in (cmdline(pid) or "")
    webdav.ensure_running(paths)  # running and answering: left as it is
    assert webdav.running_pid(paths) == pid
    assert lab.reports_url == webdav.REPORTS_URL

    name = f"t-{uuid.uuid4().hex[:8]}"
    body = b'{"ok": true}\n'
    url = f"{lab.reports_url}{name}/lt-1.json"
    mark = webdav.access_log(paths).stat().st_size
    assert _status(url, "PUT", body) == 201  # the directory made on the way
    assert _status(url, "PUT", body) == 204  # replaced
    stored = webdav.share_dir(paths) / "reports" / name / "lt-1.json"
    assert stored.read_bytes() == body
    assert _status(url) == 200
    assert _status(url, "DELETE") == 403
    assert _status(f"{lab.reports_url}{name}/") == 403  # no listing
    assert _status("http://10.213.0.1:8088/elsewhere.json", "PUT", body) == 404
    time.sleep(0.2)
    with webdav.access_log(paths).open("rb") as f:
        f.seek(mark)
        lines = f.read().decode()
    seen = re.findall(r'^10\.213\.0\.1 \S+ "(\w+) (\S+) [^"]*" (\d+)', lines, re.M)
    # only this test's requests: nginx logs a request after answering it, so the health probe
    # of ensure_running above can land after ``mark`` on a slow machine
    ours = [(m, s) for m, path, s in seen if name in path or path == "/elsewhere.json"]
    assert ours == [
        ("PUT", "201"), ("PUT", "204"), ("GET", "200"), ("DELETE", "403"), ("GET", "403"),
        ("PUT", "404"),
    ]  # fmt: skip
    stored.unlink()
    stored.parent.rmdir()
