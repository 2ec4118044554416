"""The lab's WebDAV share (nginx) config: on the lab bridge only, PUT only below /reports/,
every file it names under the lab root, and nginx itself accepts it (``nginx -t``, where
Debian's nginx is installed). The share in use is tests/integration/test_oci_agent_lab.py."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from checkpointctl.lab import webdav
from checkpointctl.lab.layout import LabPaths

PATHS = LabPaths(Path("/var/lib/checkpointctl-lab"))


def test_the_share_listens_on_the_bridge_and_takes_put_below_reports_only() -> None:
    text = webdav.render_config(PATHS)
    assert re.findall(r"^\s*listen (\S+);", text, re.M) == ["10.213.0.1:8088"]
    assert text.count("dav_methods PUT;") == 1
    reports = text.split("location /reports/ {", 1)[1].split("}", 1)[0]
    assert "dav_methods PUT;" in reports
    assert "create_full_put_path on;" in reports
    assert "limit_except GET PUT" in text  # no DELETE, MKCOL, COPY or MOVE
    assert "autoindex" not in text  # status --from asks for <host>.json; nothing lists hosts
    assert webdav.REPORTS_URL == "http://10.213.0.1:8088/reports/"


def test_every_path_in_the_config_is_under_the_lab_root() -> None:
    text = webdav.render_config(PATHS)
    named = [p for p in re.findall(r"\s(/[^\s;{]+)", text) if p.startswith("/var")]
    assert len(named) == 9, named  # pid, two logs, five temp paths, the root
    outside = [p for p in named if not p.startswith(f"{PATHS.webdav_dir}/")]
    assert outside == []
    locations = re.findall(r"location (?:= )?(\S+) \{", text)
    assert locations == ["/reports/", "/healthz", "/"]


@pytest.mark.skipif(
    not shutil.which("nginx", path="/usr/sbin") or os.geteuid() != 0,
    reason="needs Debian's nginx and root (the worker user)",
)
def test_nginx_accepts_the_config(tmp_path: Path) -> None:
    paths = LabPaths(tmp_path)
    paths.webdav_dir.mkdir()
    (paths.webdav_dir / "tmp").mkdir()
    (paths.webdav_dir / "share").mkdir()
    conf = paths.webdav_dir / "nginx.conf"
    # nginx binds while it checks: a free loopback port, so the check needs no lab bridge
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conf.write_text(webdav.render_config(paths, listen=f"127.0.0.1:{port}"))
    error_log = paths.webdav_dir / "error.log"
    argv = ["/usr/sbin/nginx", "-t", "-p", f"{paths.webdav_dir}/", "-c", str(conf)]
    proc = subprocess.run([*argv, "-e", str(error_log)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "test is successful" in proc.stderr
