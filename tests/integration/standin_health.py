"""Reading a lab stand-in's output only once it is there: wait for its health signal first.

A stand-in (``checkpointctl.lab.standins``) publishes its effective settings and only then turns
``healthy`` (its image's ``HEALTHCHECK``). Right after an apply started or replaced it, the file
may not be there yet on a slow machine, so every test that reads a stand-in's output goes
through :func:`effective`, which waits for that signal. The deadline is generous because it is
a wait, not an assertion about speed: a stand-in that is merely slow passes, and one that exits
or never turns healthy fails with its state and its logs in the message.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from checkpointctl.lab.standins import EFFECTIVE

DOCKER = ("docker", "-H", "unix:///run/docker.sock")
DEADLINE_SECONDS = 180.0
POLL_SECONDS = 0.5


def wait_standin_healthy(
    on_host: Callable[..., Any], host: str, name: str, deadline: float = DEADLINE_SECONDS
) -> None:
    """Return once container ``name`` on ``host`` is ``healthy``; fail with its logs if it
    exits, turns unhealthy, or is still not healthy after ``deadline`` seconds."""
    until = time.monotonic() + deadline
    while True:
        run = on_host(host, [*DOCKER, "inspect", "--type", "container", "--format",
                             "{{json .State}}", name], check=False)  # fmt: skip
        state: dict[str, Any] = json.loads(run.stdout) if run.returncode == 0 else {}
        health = (state.get("Health") or {}).get("Status")
        if health == "healthy":
            return
        over = time.monotonic() >= until
        if over or state.get("Status") in ("exited", "dead") or health == "unhealthy":
            logs = on_host(host, [*DOCKER, "logs", "--tail", "40", name], check=False)
            raise AssertionError(
                f"stand-in {name} on {host} is not healthy (state {state or run.stderr!r}"
                f"{f', after {deadline:g}s' if over else ''})\n"
                f"logs:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}"
            )
        time.sleep(POLL_SECONDS)


def effective(on_host: Callable[..., Any], host: str, name: str) -> dict[str, str]:
    """The stand-in's effective settings, once its health signal says they are published."""
    wait_standin_healthy(on_host, host, name)
    out = on_host(host, [*DOCKER, "exec", name, "cat", EFFECTIVE]).stdout
    doc: dict[str, str] = json.loads(out)
    return doc


__all__ = ["DEADLINE_SECONDS", "effective", "wait_standin_healthy"]
