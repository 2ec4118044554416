"""kill -9 of the controller at each step of a container replacement, for real.

The controller (``controller.py``, the real engine over SSH) is stopped at a step by the
test-only hook ``CHECKPOINTCTL_TEST_PAUSE_AT=<step>:<marker>`` in resources/containers.py, which
writes the marker and sleeps; the test then sends SIGKILL. No mock: the host is left exactly as
a crashed controller leaves it. What must hold: the next apply converges to exactly one healthy
container (no ``--next``/``--old`` left, the wanted image), and the apply after that has 0
changes.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faultlib import (
    containers_named,
    controller_argv,
    kill9,
    remove_containers,
    repo_digests,
    run_controller,
    wait_for_file,
)

from checkpointctl.lab import LabInfo
from checkpointctl.resources.containers.resource import PAUSE_ENV, PAUSE_STEPS

pytestmark = [pytest.mark.lab, pytest.mark.slow]

HOST = "cp-1"
LEFT_BEHIND: dict[str, list[str]] = {}
"""Per step, what the kill left on the host (name:status), for the reliability table."""


@pytest.fixture(scope="module")
def container(lab: LabInfo) -> Iterator[dict[str, str]]:
    """One container on v1 shared by the steps; each step replaces it with the other image."""
    name = f"fault-kill-{uuid.uuid4().hex[:6]}"
    first = run_controller(HOST, name, "v1")
    assert first.code == 0, first.stderr + first.stdout
    yield {"name": name, "image": "v1"}
    remove_containers(HOST, name)


@pytest.mark.parametrize("step", PAUSE_STEPS)
def test_kill_9_at_each_replace_step_then_apply_converges_and_the_next_changes_nothing(
    container: dict[str, str], lab: LabInfo, tmp_path: Path, step: str
) -> None:
    name = container["name"]
    target = "v2" if container["image"] == "v1" else "v1"
    pinned = lab.checkpoint_image_v2 if target == "v2" else lab.checkpoint_image
    before = containers_named(HOST, name)
    assert [c["Name"].lstrip("/") for c in before] == [name]
    old_id = before[0]["Id"]

    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        controller_argv(HOST, name, target),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, PAUSE_ENV: f"{step}:{marker}"},
    )
    try:
        assert wait_for_file(marker, proc).split()[1] == step
    finally:
        kill9(proc)
    assert proc.returncode == -9

    left = containers_named(HOST, name)
    LEFT_BEHIND[step] = [f"{c['Name'].lstrip('/')}:{c['State']['Status']}" for c in left]
    print(f"after kill -9 at {step}: {LEFT_BEHIND[step]}")
    if step != "after-pull":
        # the kill really interrupted the replacement: a second container exists
        assert len(left) == 2, LEFT_BEHIND[step]

    again = run_controller(HOST, name, target)
    assert again.code == 0, again.stderr + again.stdout
    assert again.report["status"] == "converged"
    assert "Traceback" not in again.stderr

    after = containers_named(HOST, name)
    assert [c["Name"].lstrip("/") for c in after] == [name], "exactly one instance, no leftovers"
    only = after[0]
    assert only["State"]["Running"] is True
    assert only["State"]["Health"]["Status"] == "healthy"
    assert only["Id"] != old_id
    repo, _, digest = pinned.partition("@")
    image_digests = repo_digests(HOST, only["Image"])
    assert f"{repo}@{digest}" in image_digests

    third = run_controller(HOST, name, target)
    assert third.code == 0, third.stderr
    assert third.report["status"] == "in-sync"
    assert third.report["changes"] == []
    assert third.report["applied"] == []
    container["image"] = target
