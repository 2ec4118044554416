"""``agent install``'s systemd units: the agent's command line, the hardening, the timer with
jitter, values quoted so nothing can add a line; checked with ``systemd-analyze verify`` when
the machine has it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.trust.agentunits import (
    AgentService,
    UnitError,
    service_unit,
    systemd_quote,
    timer_unit,
)

SOURCE = "oci://10.213.0.1:5000/fleet/bundles:prod"


def _service(**changes: object) -> AgentService:
    base: dict[str, object] = {
        "executable": "/usr/local/bin/checkpointctl",
        "source": SOURCE,
        "interval_seconds": 300,
        "jitter_seconds": 30,
        "report_url": "https://dav.example.com/reports/{host}.json",
        "insecure_registries": ("10.213.0.1:5000",),
    }
    base.update(changes)
    return AgentService(**base)  # type: ignore[arg-type]


def _settings(unit: str) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )


def test_the_service_runs_one_agent_pass_hardened() -> None:
    settings = _settings(service_unit(_service()))
    assert settings["Type"] == "oneshot"
    assert settings["NoNewPrivileges"] == "yes"
    assert settings["ProtectSystem"] == "strict"
    # only what the agent writes: the configuration root (holding the trust dir) and its state
    assert shlex.split(settings["ReadWritePaths"]) == ["/etc/checkpoint", "/var/lib/checkpointctl"]
    argv = shlex.split(settings["ExecStart"])
    assert argv[:5] == ["/usr/local/bin/checkpointctl", "agent", "--once", "--source", SOURCE]
    assert argv[argv.index("--report-url") + 1] == "https://dav.example.com/reports/{host}.json"
    assert argv[argv.index("--report-interval") + 1] == "300s"
    assert argv[argv.index("--insecure-registry") + 1] == "10.213.0.1:5000"


def test_a_state_dir_elsewhere_is_writable_too() -> None:
    settings = _settings(service_unit(_service(state_dir="/srv/agent", trust_dir="/srv/agent/t")))
    assert shlex.split(settings["ReadWritePaths"]) == ["/srv/agent", "/etc/checkpoint"]


def test_the_timer_repeats_with_jitter() -> None:
    settings = _settings(timer_unit(_service()))
    assert settings["OnUnitInactiveSec"] == "300s"
    assert settings["RandomizedDelaySec"] == "30s"
    assert settings["WantedBy"] == "timers.target"


def test_values_are_quoted_and_cannot_add_lines() -> None:
    assert systemd_quote('a "b" \\ 100% $HOME') == '"a \\"b\\" \\\\ 100%% $$HOME"'
    with pytest.raises(UnitError, match="control character"):
        service_unit(_service(source=SOURCE + "\nExecStartPost=/bin/sh -c evil"))


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="no systemd-analyze")
def test_systemd_accepts_the_installed_units(tmp_path: Path) -> None:
    exe = tmp_path / "checkpointctl"
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    code = main(
        ["agent", "install", "--source", SOURCE, "--interval", "2m", "--unit-dir", str(tmp_path),
         "--executable", str(exe), "--report-url", "http://127.0.0.1:1/r/{host}.json"]
    )  # fmt: skip
    assert code == 0
    timer = tmp_path / "checkpointctl-agent.timer"
    assert "RandomizedDelaySec=12s" in timer.read_text()  # a tenth of the interval by default
    proc = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(timer),
         str(tmp_path / "checkpointctl-agent.service")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    problems = [
        line for line in proc.stderr.splitlines()
        if "checkpointctl-agent" in line and "network-online" not in line
    ]  # fmt: skip
    assert not problems, proc.stderr
