"""``agent install``: the pull agent as a systemd service run by a timer.

The service is a ``oneshot`` run of ``checkpointctl agent --once`` (one fetch, verify, converge
and report); the timer starts it every interval, each start delayed by a random part of the
jitter so a fleet's agents do not all ask the registry at the same second. The unit is
hardened: no new privileges, the whole file system read-only (``ProtectSystem=strict``) except
the directories the agent writes (its state directory, the managed configuration root, the
trust directory, which holds adopted revocation lists), a private ``/tmp``, no home
directories. It keeps the capabilities convergence needs (nftables, the Docker socket), so it
runs as root, as the agent must.

Every value written into a unit is quoted for systemd (``"…"`` with ``\\``, ``"``, ``%`` and
``$`` escaped), and a value holding a control character is refused: an inventory or a flag
cannot add a line to the unit.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from checkpointctl.errors import CheckpointctlError
from checkpointctl.spec import CHECKPOINT_ROOT, STATE_DIR
from checkpointctl.trust import DEFAULT_TRUST_DIR

UNIT_NAME = "checkpointctl-agent"
UNIT_DIR = "/etc/systemd/system"


class UnitError(CheckpointctlError):
    """A value cannot be written into a systemd unit."""


def systemd_quote(value: str) -> str:
    """``value`` as one word of a systemd command line or setting.

    Raises:
        UnitError: a control character (a newline would start another setting).
    """
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise UnitError(f"{value!r}: a control character cannot go into a systemd unit")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{escaped}"'


@dataclass(frozen=True, slots=True)
class AgentService:
    """What the installed agent runs with."""

    executable: str
    source: str
    interval_seconds: int
    jitter_seconds: int
    trust_dir: str = DEFAULT_TRUST_DIR
    state_dir: str = STATE_DIR
    report_url: str | None = None
    insecure_registries: tuple[str, ...] = ()
    ca_file: str | None = None
    host: str | None = None
    registry_auth_file: str | None = None

    def argv(self) -> list[str]:
        """The agent's command line (one run; the timer repeats it)."""
        argv = [self.executable, "agent", "--once", "--source", self.source]
        argv += ["--trust-dir", self.trust_dir, "--state-dir", self.state_dir]
        if self.host:
            argv += ["--host", self.host]
        if self.ca_file:
            argv += ["--ca-file", self.ca_file]
        for registry in self.insecure_registries:
            argv += ["--insecure-registry", registry]
        if self.registry_auth_file:
            argv += ["--registry-auth-file", self.registry_auth_file]
        if self.report_url:
            argv += ["--report-url", self.report_url]
            argv += ["--report-interval", f"{self.interval_seconds}s"]
        return argv

    def writable_paths(self) -> list[str]:
        """The directories the agent writes, each once (outermost kept)."""
        out: list[str] = []
        for path in sorted({CHECKPOINT_ROOT, self.state_dir, self.trust_dir}, key=len):
            if not any(path == p or path.startswith(p.rstrip("/") + "/") for p in out):
                out.append(path)
        return out


def service_unit(service: AgentService) -> str:
    """The ``.service`` file."""
    exec_start = " ".join(systemd_quote(a) for a in service.argv())
    writable = " ".join(systemd_quote(p) for p in service.writable_paths())
    return (
        "# written by `checkpointctl agent install`\n"
        "[Unit]\n"
        "Description=checkpointctl pull agent: fetch, verify and apply this host's bundle\n"
        "Wants=network-online.target\n"
        "After=network-online.target docker.service\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        "NoNewPrivileges=yes\n"
        "ProtectSystem=strict\n"
        f"ReadWritePaths={writable}\n"
        "ProtectHome=yes\n"
        "PrivateTmp=yes\n"
        "ProtectKernelModules=yes\n"
        "ProtectControlGroups=yes\n"
        "RestrictSUIDSGID=yes\n"
        "LockPersonality=yes\n"
        "UMask=0077\n"
    )


def timer_unit(service: AgentService) -> str:
    """The ``.timer`` file: every interval after the last run, with random jitter."""
    return (
        "# written by `checkpointctl agent install`\n"
        "[Unit]\n"
        f"Description=Run the checkpointctl pull agent every {service.interval_seconds}s\n"
        "\n"
        "[Timer]\n"
        "OnBootSec=1min\n"
        f"OnUnitInactiveSec={service.interval_seconds}s\n"
        f"RandomizedDelaySec={service.jitter_seconds}s\n"
        "AccuracySec=1s\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )


def unit_files(service: AgentService, unit_dir: str = UNIT_DIR) -> Sequence[tuple[str, str]]:
    """(path, text) of the service and the timer in ``unit_dir``."""
    return (
        (os.path.join(unit_dir, f"{UNIT_NAME}.service"), service_unit(service)),
        (os.path.join(unit_dir, f"{UNIT_NAME}.timer"), timer_unit(service)),
    )
