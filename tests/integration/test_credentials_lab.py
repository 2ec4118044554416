"""Acceptance stories for the credentials resource, on the lab's light host lt-1.

Converge with :func:`checkpointctl.engine.run.converge_host` over SSH (the real transport, one
connection per run), then check the host independently: plain ``stat``/``cat`` run inside the
host's namespaces (``lab.exec_argv``). The last story drives ``checkpointctl drift/apply`` (in
process, restricted to this resource) with a vaulted policy and greps every output format for
the plaintext. Each test starts and ends with an empty credentials directory on lt-1.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from checkpointctl import lab as lab_api
from checkpointctl.engine import run as engine
from checkpointctl.inventory import load_inventory
from checkpointctl.lab import LabInfo
from checkpointctl.model import Action, Host, HostResult, HostStatus, RunReport, Secret
from checkpointctl.model import report_to_json as _report_json
from checkpointctl.resources.credentials.resource import (
    CREDENTIALS_DIR,
    MANIFEST_PATH,
    CredentialsResource,
)
from checkpointctl.spec import STATE_DIR, CredentialSpec, DesiredState
from checkpointctl.transport.connect import connect

pytestmark = pytest.mark.lab

HOST = "lt-1"
PLAINTEXT = "pl41nt3xt-DO-NOT-LEAK"
ROTATED = "r0tated-pl41nt3xt-DO-NOT-LEAK"
RESOURCE = CredentialsResource()
API = f"{CREDENTIALS_DIR}/api"
DB = f"{CREDENTIALS_DIR}/db"


def on_host(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run argv inside lt-1's namespaces, bypassing checkpointctl's transports."""
    proc = subprocess.run(
        [*lab_api.exec_argv(HOST), *argv], capture_output=True, text=True, timeout=60, check=False
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"{list(argv)} exited {proc.returncode}: {proc.stderr}")
    return proc


def stat(path: str) -> str:
    return on_host(["stat", "-c", "%a %u %g", path]).stdout.strip()


def spec(name: str, secret: str = PLAINTEXT, **kw: Any) -> CredentialSpec:
    fields: dict[str, Any] = {
        "name": name,
        "username": f"{name}-monitor",
        "secret": Secret(secret),
        "containers": ("probe",),
        "targets": (f"https://{name}.example/login",),
        "permissions": ("read",),
        "expires": date(2031, 1, 1),
        "uid": 65534,
        "gid": 65534,
    }
    fields.update(kw)
    return CredentialSpec(**fields)


def state(*specs: CredentialSpec) -> DesiredState:
    return DesiredState(host=HOST, credentials=specs, policies=("test-credentials",))


@pytest.fixture(scope="module")
def host(lab: LabInfo) -> Host:
    return load_inventory(str(lab.inventory)).host(HOST)


@pytest.fixture(autouse=True)
def empty_credentials(lab: LabInfo) -> Iterator[None]:
    on_host(["rm", "-rf", "--", CREDENTIALS_DIR])
    yield
    on_host(["rm", "-rf", "--", CREDENTIALS_DIR])


def converge(host: Host, desired: DesiredState, mode: str = "apply") -> HostResult:
    result = engine.converge_host(host, desired, connect, mode, [RESOURCE])  # type: ignore[arg-type]
    assert result.error is None, result.error
    return result


def report_text(result: HostResult) -> str:
    return json.dumps(_report_json(RunReport(mode="drift", hosts=(result,))))


def test_apply_creates_0400_files_owned_by_the_container_user_then_in_sync(host: Host) -> None:
    desired = state(spec("api"), spec("db", uid=10001, gid=10002, expires=None))
    result = converge(host, desired)
    assert result.status is HostStatus.CONVERGED
    assert result.applied == ("credential/api", "credential/db", "credential/manifest")
    assert stat(API) == "400 65534 65534"
    assert stat(DB) == "400 10001 10002"
    assert stat(MANIFEST_PATH) == "444 0 0"
    doc = json.loads(on_host(["cat", API]).stdout)
    assert doc == {
        "username": "api-monitor",
        "secret": PLAINTEXT,
        "targets": ["https://api.example/login"],
        "permissions": ["read"],
        "expires": "2031-01-01",
    }
    manifest = on_host(["cat", MANIFEST_PATH]).stdout
    assert json.loads(manifest)["credentials"]["db"]["uid"] == 10001
    assert PLAINTEXT not in manifest
    again = converge(host, desired, "drift")
    assert again.status is HostStatus.IN_SYNC
    assert again.changes == ()


def test_chmod_and_chown_by_hand_are_drift_and_apply_repairs_them(host: Host) -> None:
    desired = state(spec("api"))
    converge(host, desired)
    on_host(["chmod", "0644", API])
    on_host(["chown", "0:0", API])
    drift = converge(host, desired, "drift")
    assert drift.status is HostStatus.DRIFT
    assert [c.address for c in drift.changes] == ["credential/api"]
    fields = {f.path: (f.before, f.after) for f in drift.changes[0].fields}
    assert fields == {"mode": ("0644", "0400"), "owner": ("0:0", "65534:65534")}
    assert converge(host, desired).status is HostStatus.CONVERGED
    assert stat(API) == "400 65534 65534"


def test_rotated_secret_is_sensitive_drift_and_apply_writes_it(host: Host) -> None:
    converge(host, state(spec("api")))
    rotated = state(spec("api", ROTATED))
    drift = converge(host, rotated, "drift")
    assert [(c.address, c.action) for c in drift.changes] == [("credential/api", Action.UPDATE)]
    (field,) = drift.changes[0].fields
    assert field.path == "secret"
    assert isinstance(field.before, Secret)
    assert isinstance(field.after, Secret)
    assert drift.changes[0].reason == f"{API}: content differs"
    text = report_text(drift)
    assert '"path": "secret", "before": "<sensitive>", "after": "<sensitive>"' in text
    assert PLAINTEXT not in text
    assert ROTATED not in text
    assert converge(host, rotated).status is HostStatus.CONVERGED
    assert json.loads(on_host(["cat", API]).stdout)["secret"] == ROTATED


def test_credential_removed_from_policy_is_deleted(host: Host) -> None:
    converge(host, state(spec("api"), spec("db")))
    drift = converge(host, state(spec("api")), "drift")
    deletes = [c for c in drift.changes if c.action is Action.DELETE]
    assert [c.address for c in deletes] == ["credential/db"]
    assert "stale credential removed" in deletes[0].reason
    assert converge(host, state(spec("api"))).status is HostStatus.CONVERGED
    assert on_host(["test", "-e", DB], check=False).returncode == 1
    assert on_host(["test", "-f", API], check=False).returncode == 0
    entries = json.loads(on_host(["cat", MANIFEST_PATH]).stdout)["credentials"]
    assert set(entries) == {"api"}
    # and with no credentials at all, the manifest goes too
    assert converge(host, state()).status is HostStatus.CONVERGED
    assert on_host(["ls", "-A", CREDENTIALS_DIR]).stdout == ""


def test_unknown_file_dropped_in_the_directory_is_removed(host: Host) -> None:
    converge(host, state(spec("api")))
    on_host(["sh", "-c", f"echo leftover > {CREDENTIALS_DIR}/hand-made"])
    drift = converge(host, state(spec("api")), "drift")
    assert [(c.address, c.action) for c in drift.changes] == [
        ("credential/hand-made", Action.DELETE)
    ]
    converge(host, state(spec("api")))
    assert on_host(["test", "-e", f"{CREDENTIALS_DIR}/hand-made"], check=False).returncode == 1


def test_hand_edited_manifest_scope_is_drift(host: Host) -> None:
    desired = state(spec("api"))
    converge(host, desired)
    doc = json.loads(on_host(["cat", MANIFEST_PATH]).stdout)
    doc["credentials"]["api"]["targets"].append("https://*")
    subprocess.run(
        [*lab_api.exec_argv(HOST), "sh", "-c", 'cat > "$1"', "sh", MANIFEST_PATH],
        input=json.dumps(doc),
        text=True,
        check=True,
        timeout=60,
    )
    drift = converge(host, desired, "drift")
    assert [c.address for c in drift.changes] == ["credential/manifest"]
    fields = {f.path: (f.before, f.after) for f in drift.changes[0].fields}
    assert fields == {
        "api.targets": (
            ["https://api.example/login", "https://*"],
            ["https://api.example/login"],
        )
    }
    converge(host, desired)
    assert converge(host, desired, "drift").changes == ()


# -- the CLI, end to end: no output format ever shows the plaintext ------------------------------


POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata:
  name: test-credentials
selector:
  hosts: [{host}]
priority: 50
spec:
  credentials:
    - name: api
      username: monitor-ro
      secret: |
{secret}
      scope:
        containers: [probe]
        targets: ["https://shop.example/login"]
        permissions: [read]
      expires: "2031-01-01"
"""


def _policy(tmp_path: Path, plaintext: bytes) -> tuple[Path, Path]:
    from checkpointctl.trust import vault

    password = tmp_path / "vault-password"
    password.write_text("lab test vault password\n")
    key = vault.load_key(str(password))
    assert key is not None
    sealed = vault.encrypt(plaintext, key, "credentials.api.secret")
    policies = tmp_path / "policies"
    policies.mkdir(exist_ok=True)
    indented = "\n".join("        " + line for line in sealed.split("\n"))
    (policies / "credentials.yml").write_text(POLICY.format(host=HOST, secret=indented))
    return policies, password


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    from checkpointctl.cli import main as cli

    code = cli.main(argv)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def only_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Limit the CLI's resources to this one, so the test needs no dockerd and touches nothing
    else on the shared host."""
    monkeypatch.setattr(engine, "default_resources", lambda: (CredentialsResource(),))


@pytest.mark.usefixtures("only_credentials")
def test_cli_drift_and_apply_never_print_the_secret(
    lab: LabInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policies, password = _policy(tmp_path, PLAINTEXT.encode())
    base = ["-i", str(lab.inventory), "--limit", HOST, "--vault-password-file", str(password)]
    outputs: list[str] = []
    for fmt in ("text", "json", "junit", "markdown"):
        code, out = _cli(["drift", str(policies), *base, "--format", fmt], capsys)
        assert code == 2, out
        assert "credential/api" in out
        outputs.append(out)
    code, out = _cli(["-v", "apply", str(policies), *base], capsys)
    assert code == 0, out
    outputs.append(out)
    assert json.loads(on_host(["cat", API]).stdout)["secret"] == PLAINTEXT

    rotated, _ = _policy(tmp_path, ROTATED.encode())
    for fmt in ("text", "json", "junit", "markdown"):
        code, out = _cli(["drift", str(rotated), *base, "--format", fmt], capsys)
        assert code == 2, out
        assert "<sensitive>" in out or "&lt;sensitive&gt;" in out  # JUnit escapes it
        outputs.append(out)
    code, out = _cli(["-v", "apply", str(rotated), *base], capsys)
    assert code == 0, out
    outputs.append(out)
    code, out = _cli(["drift", str(rotated), *base], capsys)
    assert code == 0, out
    outputs.append(out)

    outputs.append(on_host(["cat", f"{STATE_DIR}/last-apply.json"]).stdout)  # the host's record
    for text in outputs:
        assert PLAINTEXT not in text
        assert ROTATED not in text


@pytest.mark.usefixtures("only_credentials")
def test_cli_failure_path_does_not_quote_the_secret(
    lab: LabInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A secret that cannot be written (not UTF-8) fails the host with a message naming the
    credential only: not the value, not a byte of it, even with -v."""
    policies, password = _policy(tmp_path, b"\xff" + PLAINTEXT.encode())
    base = ["-i", str(lab.inventory), "--limit", HOST, "--vault-password-file", str(password)]
    code, out = _cli(["-v", "apply", str(policies), *base, "--format", "json"], capsys)
    assert code == 1, out
    assert "credential 'api'" in out
    assert "not UTF-8" in out
    assert PLAINTEXT not in out
    assert "xff" not in out.lower()
    assert on_host(["test", "-e", API], check=False).returncode == 1
