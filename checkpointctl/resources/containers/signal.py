"""A container's health signal: a command run inside it now, exit 0 = its agent says healthy.

Docker's healthcheck status is what the engine last saw; a signal is asked afresh each time,
so it can speak for a container right after it became the live one. Used by a replacement
before it lets the old container go, and by the engine's health gate after an apply.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from checkpointctl.model.jsondoc import as_int, as_text
from checkpointctl.transport.base import DockerApi

SIGNAL_SECONDS = 10.0
"""How long one run of a health signal may take before it counts as failing."""
SIGNAL_POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class SignalResult:
    """One live run of a container's health signal."""

    argv: tuple[str, ...]
    exit_code: int | None
    """The command's exit status; None when it did not end within :data:`SIGNAL_SECONDS`."""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def problem(self) -> str:
        how = (
            f"exited {self.exit_code}"
            if self.exit_code is not None
            else f"did not answer within {SIGNAL_SECONDS:g}s"
        )
        return f"its health signal `{' '.join(self.argv)}` {how}"


def run_signal(
    api: DockerApi,
    name: str,
    argv: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> SignalResult:
    """Run ``argv`` inside container ``name`` now and wait for its exit status.

    The exec is started detached (a plain HTTP request, whatever carries the Docker API) and
    polled until it ends, at most :data:`SIGNAL_SECONDS`; one still running then counts as
    failing (Docker cannot stop an exec: it ends with the command or the container).

    Raises:
        docker.errors.DockerException, requests.exceptions.RequestException: the engine
            refused or could not be asked (the caller words it).
    """
    created = api.exec_create(name, list(argv))
    exec_id = as_text(created.get("Id"))
    api.exec_start(exec_id, detach=True)
    deadline = time.monotonic() + SIGNAL_SECONDS
    while True:
        info = api.exec_inspect(exec_id)
        if not info.get("Running"):
            return SignalResult(tuple(argv), as_int(info.get("ExitCode"), -1))
        if time.monotonic() >= deadline:
            return SignalResult(tuple(argv), None)
        sleep(SIGNAL_POLL_SECONDS)


__all__ = ["SIGNAL_SECONDS", "SignalResult", "run_signal"]
