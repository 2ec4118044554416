"""One canary secret through success, failure, validation errors, ``-v``, a changed and a
removed value, and an exception path: it reaches its destination and nothing else.

The canary travels as a container env value (cp-N, the last full host) and as a credential
(lt-3). Positive checks first prove it arrived where it belongs (the container's env, the
credential file), so the negative checks mean something. Then it must appear in none of: every
report format, stdout/stderr (with ``-v``), the controller's audit log, the hosts' audit log
and ``last-apply.json``, any process command line on the machine (sampled every 20 ms during
the runs; the lab hosts share the machine's PID namespace, so this covers the controller, sshd
sessions, docker and the hosts' commands), and ``docker inspect`` of every other container.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from faultlib import REPO, docker, host_run, remove_containers, run_controller

from checkpointctl.engine.audit import LocalAuditLog
from checkpointctl.engine.run import ApplyOptions, converge_host
from checkpointctl.lab import LabInfo
from checkpointctl.model import Host, HostStatus, RunReport, Secret
from checkpointctl.report import render
from checkpointctl.resources.credentials.resource import CredentialsResource
from checkpointctl.spec import CredentialSpec, DesiredState
from checkpointctl.transport.connect import connect

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CANARY = f"CANARY-{uuid.uuid4().hex}-s3cr3t"
CANARY2 = f"CANARY-{uuid.uuid4().hex}-rotated"
LIGHT = "lt-3"
VAULT_PASSWORD = REPO / "examples" / "lab-vault-password"
STATE_FILES = ("/var/lib/checkpointctl/audit.jsonl", "/var/lib/checkpointctl/last-apply.json")


class CmdlineSampler:
    """Reads every /proc/*/cmdline on the machine every 20 ms and keeps those with a canary."""

    def __init__(self, *needles: str) -> None:
        self.needles = [n.encode() for n in needles]
        self.hits: list[str] = []
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            self.samples += 1
            for entry in os.scandir("/proc"):
                if not entry.name.isdigit() or int(entry.name) == me:
                    continue
                with contextlib.suppress(OSError):
                    raw = Path(entry.path, "cmdline").read_bytes()
                    if any(n in raw for n in self.needles):
                        self.hits.append(raw.replace(b"\0", b" ").decode("utf-8", "replace"))

    def __enter__(self) -> CmdlineSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _clean(text: str, where: str) -> None:
    assert CANARY not in text, f"the canary leaked into {where}"
    assert CANARY2 not in text, f"the rotated canary leaked into {where}"


def _host_state(host: str) -> str:
    return "".join(host_run(host, ["cat", f], check=False).stdout for f in STATE_FILES)


@pytest.fixture(scope="module")
def full(lab: LabInfo) -> str:
    return lab.full_hosts[-1].name


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    values = {"FAULT_CANARY": CANARY, "FAULT_CANARY2": CANARY2}
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


@pytest.fixture
def container(full: str) -> Iterator[str]:
    name = f"fault-secret-{uuid.uuid4().hex[:6]}"
    yield name
    remove_containers(full, name)


def test_canary_in_a_container_env_through_apply_drift_failure(
    full: str, container: str, env: dict[str, str], tmp_path: Path, lab: LabInfo
) -> None:
    audit = tmp_path / "audit.jsonl"
    common = ("--render", "--audit-log", str(audit))
    outputs: list[tuple[str, str]] = []
    with CmdlineSampler(CANARY, CANARY2) as sampler:
        ok = run_controller(full, container, "v1", "--secret-env", "TOKEN=@FAULT_CANARY", *common)
        assert ok.code == 0, ok.stderr
        outputs.append(("apply", ok.stdout + ok.stderr))
        # a diff where it changes, one where it is removed: both shown as <sensitive>
        changed = run_controller(
            full, container, "v1", "--secret-env", "TOKEN=@FAULT_CANARY2", "--mode", "drift",
            *common,
        )  # fmt: skip
        assert '"path": "env.TOKEN"' in changed.stdout
        assert "<sensitive>" in changed.stdout
        outputs.append(("drift (changed)", changed.stdout + changed.stderr))
        removed = run_controller(full, container, "v1", "--mode", "drift", *common)
        assert '"path": "env.TOKEN"' in removed.stdout
        outputs.append(("drift (removed)", removed.stdout + removed.stderr))
        # a failure: the image cannot be pulled; the error must not carry the env
        failed = run_controller(
            full, container, f"{lab.registry}/checkpoint/probe@sha256:{'0' * 64}",
            "--secret-env", "TOKEN=@FAULT_CANARY2", *common,
        )  # fmt: skip
        assert failed.code == 1
        outputs.append(("failed apply", failed.stdout + failed.stderr))
    # it reached its destination ...
    own = json.loads(docker(full, "inspect", container).stdout)[0]
    assert f"TOKEN={CANARY}" in own["Config"]["Env"]
    # ... and nothing else
    for where, text in outputs:
        _clean(text, where)
    _clean(audit.read_text(), "the controller's audit log")
    _clean(_host_state(full), f"{full}'s audit log / last-apply.json")
    assert sampler.samples > 50
    assert sampler.hits == [], sampler.hits[:3]
    others = list(docker(full, "ps", "-a", "--format", "{{.Names}}").stdout.split())
    others = [n for n in others if n != container]
    for other in others:
        _clean(docker(full, "inspect", other).stdout, f"docker inspect {other}")


def test_canary_in_a_credential_reaches_only_its_file(
    inventory_host: Callable[[str], Host], tmp_path: Path
) -> None:
    host = inventory_host(LIGHT)
    name = f"fault-canary-{uuid.uuid4().hex[:6]}"
    state = DesiredState(
        host=LIGHT,
        credentials=(
            CredentialSpec(
                name=name,
                username="canary-user",
                secret=Secret(CANARY),
                containers=("probe",),
                uid=10001,
                gid=10001,
            ),
        ),
        policies=("fault-secrets",),
    )
    audit = LocalAuditLog(str(tmp_path / "audit.jsonl"))
    try:
        with CmdlineSampler(CANARY) as sampler:
            result = converge_host(
                host, state, connect, "apply", [CredentialsResource()],
                options=ApplyOptions(lock_wait=30.0, health_gate=False, audit_log=audit),
            )  # fmt: skip
            rotated = DesiredState(
                host=LIGHT,
                credentials=(CredentialSpec(name=name, username="canary-user",
                                            secret=Secret(CANARY2), uid=10001, gid=10001),),
                policies=("fault-secrets",),
            )  # fmt: skip
            drift = converge_host(host, rotated, connect, "drift", [CredentialsResource()])
        assert result.status is HostStatus.CONVERGED, result.error
        assert drift.status is HostStatus.DRIFT
        path = f"/etc/checkpoint/credentials/{name}"
        assert CANARY in host_run(LIGHT, ["cat", path]).stdout  # its destination
        for r in (result, drift):
            report = RunReport(mode="apply" if r is result else "drift", hosts=(r,))
            for fmt in ("text", "json", "junit", "markdown"):
                _clean(render(report, fmt), f"the {fmt} report")  # type: ignore[arg-type]
            _clean(repr(r), "the result's repr")
        _clean(Path(audit.path).read_text(), "the controller's audit log")
        _clean(_host_state(LIGHT), f"{LIGHT}'s audit log / last-apply.json")
        assert sampler.hits == [], sampler.hits[:3]
    finally:
        host_run(LIGHT, ["sh", "-c", "rm -rf /etc/checkpoint/credentials"], check=False)


def _vaulted(value: str, field: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-m", "checkpointctl", "vault", "encrypt-string",
         "--vault-password-file", str(VAULT_PASSWORD), "--name", field],
        input=value, capture_output=True, text=True, check=True,
    )  # fmt: skip
    _clean(proc.stdout + proc.stderr, "vault encrypt-string output")
    return proc.stdout


def test_canary_through_validation_errors_render_and_verbose_exception_paths(
    lab: LabInfo, tmp_path: Path
) -> None:
    snippet = _vaulted(CANARY, "credentials.fault-canary.secret")
    body = "\n".join("        " + line for line in snippet.splitlines()[1:])
    policies = tmp_path / "policies"
    policies.mkdir()
    good = f"""apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {{name: canary}}
selector: {{groups: [checkpoints]}}
priority: 10
spec:
  credentials:
    - name: fault-canary
      username: canary-user
      secret: |
{body}
      scope: {{containers: [probe], targets: ["https://x.example/*"], permissions: [read]}}
      expires: "2027-01-01"
"""
    (policies / "canary.yml").write_text(good)
    runs = []
    base = [sys.executable, "-m", "checkpointctl", "-v"]
    inv = ["-i", str(lab.inventory), "--vault-password-file", str(VAULT_PASSWORD)]
    runs.append(subprocess.run([*base, "render", str(policies), *inv, "--host", "cp-1"],
                               capture_output=True, text=True, check=False))  # fmt: skip
    assert runs[-1].returncode == 0, runs[-1].stderr
    assert "<sensitive>" in runs[-1].stdout or "sensitive" in runs[-1].stdout
    # validation errors next to the secret: "mode" as a string, a boolean as a string
    (policies / "broken.yml").write_text(
        good.replace("name: canary}", "name: broken}").replace(
            "      expires:", '      mode: "0600"\n      expires:'
        )
    )
    runs.append(subprocess.run([*base, "validate", str(policies), *inv],
                               capture_output=True, text=True, check=False))  # fmt: skip
    assert runs[-1].returncode == 1
    # an exception path with -v: the vault key is wrong, decrypting the canary fails
    wrong = tmp_path / "wrong-password"
    wrong.write_text("not the lab password\n")
    (policies / "broken.yml").unlink()
    runs.append(subprocess.run(
        [*base, "render", str(policies), "-i", str(lab.inventory), "--vault-password-file",
         str(wrong), "--host", "cp-1"], capture_output=True, text=True, check=False))  # fmt: skip
    assert runs[-1].returncode == 1
    for proc in runs:
        _clean(proc.stdout + proc.stderr, f"`{' '.join(proc.args[3:5])}` output")
        assert "internal error" not in proc.stderr
