"""Auto-updaters: the grep's output → findings (the lab test adds a real cron entry)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from checkpointctl.resources.updaters import PULL, findings_for, parse_updaters

CRON = "0 * * * * root cd /opt/uptrends && docker-compose pull && docker-compose up -d"


def test_grep_output_becomes_one_warning_per_line_with_a_printable_excerpt() -> None:
    text = (
        f"/etc/cron.d/uptrends:3:{CRON}\n"
        "/etc/systemd/system/pull.service:7:ExecStart=/usr/bin/docker pull x\x1b[31m\n"
        "garbage without a path\n"
    )
    found = parse_updaters(text)
    assert [(u.path, u.line) for u in found] == [
        ("/etc/cron.d/uptrends", 3),
        ("/etc/systemd/system/pull.service", 7),
    ]
    assert "\x1b" not in found[1].excerpt
    (first, _) = findings_for(found)
    assert first.address == "updater/etc/cron.d/uptrends"
    assert first.severity == "warning"
    assert "update pipeline" in first.message


def test_the_pattern_matches_pulls_and_not_other_docker_use(tmp_path: Path) -> None:
    lines = [CRON, "@hourly docker compose -f x.yml pull", "docker image pull a", "watchtower",
             "docker ps", "docker-compose up -d", "echo pull"]  # fmt: skip
    crontab = tmp_path / "crontab"
    crontab.write_text("\n".join(lines) + "\n")
    out = subprocess.run(
        ["grep", "-s", "-H", "-n", "-E", "-e", PULL, "--", str(crontab)],
        capture_output=True, text=True, check=False,
    ).stdout  # fmt: skip
    assert [u.line for u in parse_updaters(out)] == [1, 2, 3, 4]
    assert re.search(PULL, "docker ps") is None
