"""The lab's per-host sshd ``MaxStartups`` knob (used by the fault suite's 200-host run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from checkpointctl.errors import LabError
from checkpointctl.lab import sshd
from checkpointctl.lab.layout import LabPaths, light_host

PATHS = LabPaths(Path("/var/lib/checkpointctl-lab-test"))


def test_default_max_startups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(sshd.MAX_STARTUPS_ENV, raising=False)
    lines = sshd.render_config(PATHS, light_host(1)).splitlines()
    assert "MaxStartups 100:30:200" in lines


def test_env_sets_max_startups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(sshd.MAX_STARTUPS_ENV, "10:30:60")
    lines = sshd.render_config(PATHS, light_host(1)).splitlines()
    assert "MaxStartups 10:30:60" in lines
    assert not any(line.startswith("MaxStartups 100") for line in lines)


@pytest.mark.parametrize("bad", ["10:30", "ten", "10:30:60\nPermitRootLogin yes", "-1"])
def test_a_value_that_is_not_max_startups_is_refused(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv(sshd.MAX_STARTUPS_ENV, bad)
    with pytest.raises(LabError, match="MAXSTARTUPS"):
        sshd.render_config(PATHS, light_host(1))
