"""Fleet rollouts on the lab, through the real CLI: canary and --max-fail halts, the host lock
between two controllers, kill -9 of a controller mid-rollout, rollback of a halted batch, the
audit log, and ``status``.

Failures are real: a read-only bind mount inside a lab host's mount namespace makes its
collection file unwritable, and a lab address where no host lives is unreachable. The slow step
that lets two controllers overlap (and a kill land mid-apply) is a real container replacement
(v1 → v2 image), which waits for the new container and stops the old one.

Every test starts from, and leaves, the lab's full hosts converged to the example policies.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from checkpointctl.cli.main import main
from checkpointctl.lab import LabInfo

pytestmark = pytest.mark.lab

REPO = Path(__file__).resolve().parents[2]
POLICIES = REPO / "policies"
VAULT_PASSWORD = str(REPO / "examples" / "lab-vault-password")
STATE = "/var/lib/checkpointctl"
COLLECTION_DIR = "/etc/checkpoint/probe"
WAIT = "300"  # other sessions may be converging the lab too: wait for their lock politely

V2_POLICY = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: fleet-test-v2}
selector: {groups: [checkpoints]}
priority: 50
spec:
  containers:
    - name: probe
      image: "{{ checkpoint_image_v2 }}"
"""
STANDARD_COLLECTION = """\
apiVersion: checkpointctl/v1
kind: CheckpointPolicy
metadata: {name: fleet-test-collection}
selector: {groups: [checkpoints]}
priority: 50
spec:
  data_collection:
    profile: standard
"""


def cli_args(policies: Path, inventory: Path | str, verb: str, *extra: str) -> list[str]:
    return [
        verb,
        str(policies),
        "-i",
        str(inventory),
        "--vault-password-file",
        VAULT_PASSWORD,
        *extra,
    ]


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def spawn_cli(*argv: str, cwd: Path) -> subprocess.Popen[str]:
    """``checkpointctl ARGV`` as its own process (a second controller, or one to kill)."""
    return subprocess.Popen(
        [sys.executable, "-m", "checkpointctl", *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A copy of the example policies a test may add overrides to."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    return target


def add(policies: Path, name: str, text: str) -> None:
    (policies / name).write_text(text)


@pytest.fixture
def converged(
    lab: LabInfo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[LabInfo]:
    """The full hosts on the example policies before and after the test."""
    args = cli_args(
        POLICIES,
        lab.inventory,
        "apply",
        "-q",
        "--limit",
        "lab_full",
        "--lock-wait",
        WAIT,
        "--audit-log",
        str(tmp_path / "setup-audit.jsonl"),
    )
    code, out, err = run_cli(capsys, *args)
    assert code == 0, out + err
    yield lab
    code, out, err = run_cli(capsys, *args)
    assert code == 0, f"restoring the lab failed:\n{out}{err}"


@contextlib.contextmanager
def read_only(on_host, host: str, path: str) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """``path`` read-only inside the host's mount namespace (writes there fail with EROFS)."""
    on_host(host, ["mount", "--bind", path, path])
    try:
        on_host(host, ["mount", "-o", "remount,bind,ro", path])
        yield
    finally:
        on_host(host, ["umount", path])


def cat(on_host, host: str, path: str) -> str:  # type: ignore[no-untyped-def]
    return str(on_host(host, ["cat", path]).stdout)


def host_audit(on_host, host: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    proc = on_host(host, ["cat", f"{STATE}/audit.jsonl"], check=False)
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def probe(on_host, host: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    info = json.loads(on_host(host, ["docker", "inspect", "probe"]).stdout)[0]
    assert isinstance(info, dict)
    return info


def containers(on_host, host: str) -> list[str]:  # type: ignore[no-untyped-def]
    out = on_host(host, ["docker", "ps", "-a", "--format", "{{.Names}}"]).stdout
    return sorted(out.split())


def image_id(lab: LabInfo, key: str) -> str:
    entries = json.loads((Path(lab.root) / "images.json").read_text())["images"]
    return str(next(e["image_id"] for e in entries if e["key"] == key))


def hosts_by_name(report: dict[str, object]) -> dict[str, dict[str, object]]:
    hosts = report["hosts"]
    assert isinstance(hosts, list)
    return {h["host"]: h for h in hosts}


# --- canary and max-fail ---------------------------------------------------------------------


def test_canary_failure_stops_after_the_canary_and_leaves_the_others_untouched(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    capsys,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-collection.yml", STANDARD_COLLECTION)
    before_file = cat(on_host, "cp-2", f"{COLLECTION_DIR}/collection.json")
    before_container = probe(on_host, "cp-2")["Id"]
    before_audit = len(host_audit(on_host, "cp-2"))
    with read_only(on_host, "cp-1", COLLECTION_DIR):
        code, out, _ = run_cli(
            capsys,
            *cli_args(
                policies,
                converged.inventory,
                "apply",
                "--limit",
                "lab_full",
                "--canary",
                "1",
                "--format",
                "json",
                "--lock-wait",
                WAIT,
                "--audit-log",
                str(tmp_path / "audit.jsonl"),
            ),
        )
    report = json.loads(out)
    hosts = hosts_by_name(report)
    assert code == 1
    assert report["halted"] == "canary failed on cp-1"
    assert hosts["cp-1"]["status"] == "failed"
    assert hosts["cp-1"]["failed"] == "collection/probe"
    error = str(hosts["cp-1"]["error"])
    assert "/etc/checkpoint/probe/" in error  # the write was refused in the file's directory
    assert "Read-only file system" in error
    assert hosts["cp-2"]["status"] == "not-attempted"
    assert hosts["cp-2"]["changes"] == []
    assert hosts["cp-2"]["applied"] == []
    # cp-2 untouched: same file, same container, nothing new in its audit log
    assert cat(on_host, "cp-2", f"{COLLECTION_DIR}/collection.json") == before_file
    assert probe(on_host, "cp-2")["Id"] == before_container
    assert len(host_audit(on_host, "cp-2")) == before_audit
    # the canary kept its previous working state: its checkpoint still runs
    state = probe(on_host, "cp-1")["State"]
    assert isinstance(state, dict)
    assert state["Status"] == "running"
    local = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert [(x["host"], x["result"]) for x in local] == [
        ("cp-1", "failed"),
        ("cp-2", "not-attempted"),
    ]


def test_max_fail_halts_and_lists_the_hosts_not_attempted(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    capsys,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-collection.yml", STANDARD_COLLECTION)
    inventory = yaml.safe_load(Path(converged.inventory).read_text())
    full = inventory["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"]
    # cp-1, then a host that does not answer, then cp-2: the second batch fails
    dead = {"address": "10.213.250.1", "connect_timeout": 2, "region": "eu"}
    full = {"cp-1": full["cp-1"], "cp-dead": dead, "cp-2": full["cp-2"]}
    inventory["all"]["children"]["checkpoints"]["children"]["lab_full"]["hosts"] = full
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory, sort_keys=False))
    before = cat(on_host, "cp-2", f"{COLLECTION_DIR}/collection.json")

    code, out, _ = run_cli(
        capsys,
        *cli_args(
            policies,
            path,
            "apply",
            "--serial",
            "1",
            "--max-fail",
            "40%",
            "--format",
            "json",
            "--lock-wait",
            WAIT,
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ),
    )
    report = json.loads(out)
    assert code == 1
    assert [(h["host"], h["status"]) for h in report["hosts"]] == [
        ("cp-1", "converged"),
        ("cp-dead", "unreachable"),
        ("cp-2", "not-attempted"),
    ]
    assert report["halted"] == "1 of 2 hosts failed, over the --max-fail of 40%"
    assert cat(on_host, "cp-2", f"{COLLECTION_DIR}/collection.json") == before
    code, text, _ = run_cli(
        capsys,
        *cli_args(
            policies,
            path,
            "apply",
            "--serial",
            "1",
            "--max-fail",
            "40%",
            "--lock-wait",
            WAIT,
            "--audit-log",
            str(tmp_path / "audit.jsonl"),
        ),
    )
    assert "cp-2: not attempted: halted: 1 of 2 hosts failed" in text
    assert "1 unreachable, 1 not attempted" in text


# --- the lock ---------------------------------------------------------------------------------


def _wait_for_owner(  # type: ignore[no-untyped-def]
    on_host, host: str, pid: int, timeout: float = 360
) -> dict[str, object]:
    """The lock owner record once process ``pid`` holds the host's lock (other sessions may
    be converging the lab too, so the lock can be someone else's first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        proc = on_host(host, ["cat", f"{STATE}/lock-owner.json"], check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            doc = json.loads(proc.stdout)
            assert isinstance(doc, dict)
            if doc.get("pid") == pid:
                return doc
        time.sleep(0.1)
    raise AssertionError(f"process {pid} did not take the lock on {host} within {timeout}s")


def test_a_second_controller_fails_fast_with_the_lock_message(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-v2.yml", V2_POLICY)
    base = cli_args(policies, converged.inventory, "apply", "--limit", "cp-1", "-q")
    first = spawn_cli(
        *base, "--lock-wait", WAIT, "--audit-log", str(tmp_path / "a.jsonl"), cwd=tmp_path
    )
    try:
        owner = _wait_for_owner(on_host, "cp-1", first.pid)
        second = spawn_cli(
            *base, "--format", "json", "--audit-log", str(tmp_path / "b.jsonl"), cwd=tmp_path
        )
        out, _ = second.communicate(timeout=120)
    finally:
        first_out, first_err = first.communicate(timeout=600)
    assert second.returncode == 1
    (host,) = json.loads(out)["hosts"]
    assert host["status"] == "failed"
    assert host["applied"] == []
    assert str(host["error"]).startswith(
        f"cp-1 is being converged by {owner['user']}@{owner['controller']} "
        f"(pid {owner['pid']}, apply) since {owner['since']}"
    )
    assert "hint: wait for it with --lock-wait SECONDS" in str(host["error"])
    assert first.returncode == 0, first_out + first_err
    local = json.loads((tmp_path / "b.jsonl").read_text())
    assert local["result"] == "failed"
    assert str(local["error"]).startswith("cp-1 is being converged by")


def test_two_applies_at_once_one_waits_the_host_ends_correct_and_both_are_audited(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-v2.yml", V2_POLICY)
    audit_before = len(host_audit(on_host, "cp-1"))
    log = tmp_path / "audit.jsonl"
    args = [
        *cli_args(
            policies,
            converged.inventory,
            "apply",
            "--limit",
            "cp-1",
            "-q",
            "--format",
            "json",
            "--lock-wait",
            WAIT,
            "--audit-log",
            str(log),
        )
    ]
    procs = [spawn_cli(*args, cwd=tmp_path) for _ in range(2)]
    outputs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    hosts = [json.loads(out)["hosts"][0] for out, _ in outputs]
    # exactly one replaced the container; the other waited for it and then found cp-1 in sync
    assert sorted(h["status"] for h in hosts) == ["converged", "in-sync"]
    waiter = next(h for h in hosts if h["status"] == "in-sync")
    worker_pid = procs[[h["status"] for h in hosts].index("converged")].pid
    notes = [f["message"] for f in waiter["findings"] if f["address"] == "lock"]
    assert any(n.startswith("waited ") and f"(pid {worker_pid}, apply)" in n for n in notes), notes
    # the host is correct: v2 runs, healthy or running, and nothing is left over
    info = probe(on_host, "cp-1")
    assert info["Image"] == image_id(converged, "checkpoint_image_v2")
    assert containers(on_host, "cp-1") == ["probe"]
    # both runs are in the host's audit log and in the shared local one
    new = host_audit(on_host, "cp-1")[audit_before:]
    pids = {p.pid for p in procs}
    ours = [x for x in new if x["result"] in ("converged", "in-sync")]
    assert len({x["run"] for x in ours}) >= 2
    local = [json.loads(x) for x in log.read_text().splitlines()]
    assert sorted(x["result"] for x in local) == ["converged", "in-sync"]
    assert {x["run"] for x in local} <= {x["run"] for x in new}
    assert len(pids) == 2


# --- kill -9 mid-rollout ----------------------------------------------------------------------


def test_kill_9_mid_rollout_then_a_new_apply_converges_and_takes_over_the_stale_lock(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-v2.yml", V2_POLICY)
    args = cli_args(
        policies,
        converged.inventory,
        "apply",
        "--limit",
        "lab_full",
        "-q",
        "--serial",
        "1",
        "--lock-wait",
        WAIT,
        "--audit-log",
        str(tmp_path / "audit.jsonl"),
    )
    victim = spawn_cli(*args, cwd=tmp_path)
    try:
        _wait_for_owner(on_host, "cp-1", victim.pid)
        deadline = time.monotonic() + 300
        while "probe--next" not in containers(on_host, "cp-1"):  # its replacement is underway
            assert victim.poll() is None, victim.communicate()
            assert time.monotonic() < deadline, "cp-1's replacement never started"
            time.sleep(0.2)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.communicate()
    assert victim.returncode == -signal.SIGKILL
    # no host is left without a running checkpoint
    for host in ("cp-1", "cp-2"):
        state = probe(on_host, host)["State"]
        assert isinstance(state, dict)
        assert state["Status"] == "running", host
    # the dead controller's owner record is still there: its lock was never released by it
    assert _wait_for_owner(on_host, "cp-1", victim.pid, timeout=1)["pid"] == victim.pid

    new = spawn_cli(
        *args[:-2], "--format", "json", "--audit-log", str(tmp_path / "audit2.jsonl"), cwd=tmp_path
    )
    out, err = new.communicate(timeout=600)
    assert new.returncode == 0, out + err
    hosts = hosts_by_name(json.loads(out))
    assert {h["status"] for h in hosts.values()} <= {"converged", "in-sync"}
    notes = [f["message"] for f in hosts["cp-1"]["findings"] if f["address"] == "lock"]
    assert any(
        n.startswith("took over a stale lock left by ") and f"(pid {victim.pid}, apply)" in n
        for n in notes
    ), notes
    for host in ("cp-1", "cp-2"):
        info = probe(on_host, host)
        assert info["Image"] == image_id(converged, "checkpoint_image_v2"), host
        assert containers(on_host, host) == ["probe"], host
    assert on_host("cp-1", ["test", "-e", f"{STATE}/lock-owner.json"], check=False).returncode


# --- rollback ---------------------------------------------------------------------------------


def test_rollback_on_fail_returns_the_converged_hosts_of_the_halted_batch(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    capsys,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    add(policies, "zz-v2.yml", V2_POLICY)
    add(policies, "zz-collection.yml", STANDARD_COLLECTION)
    v1 = image_id(converged, "checkpoint_image")
    assert probe(on_host, "cp-1")["Image"] == v1
    with read_only(on_host, "cp-2", COLLECTION_DIR):
        code, out, _ = run_cli(
            capsys,
            *cli_args(
                policies,
                converged.inventory,
                "apply",
                "--limit",
                "lab_full",
                "--serial",
                "2",
                "--max-fail",
                "0%",
                "--rollback-on-fail",
                "--format",
                "json",
                "--lock-wait",
                WAIT,
                "--audit-log",
                str(tmp_path / "audit.jsonl"),
            ),
        )
    report = json.loads(out)
    hosts = hosts_by_name(report)
    assert code == 1
    assert hosts["cp-2"]["status"] == "failed"
    assert hosts["cp-1"]["status"] == "converged"
    assert "container/probe" in hosts["cp-1"]["applied"]
    assert str(report["halted"]).endswith("; rolled back 1 converged host(s) of that batch")
    rolled = [f for f in hosts["cp-1"]["findings"] if f["address"] == "container/probe"]
    assert len(rolled) == 1
    assert rolled[0]["message"].startswith("rolled back to 10.213.0.1:5000/checkpoint/probe@")
    assert probe(on_host, "cp-1")["Image"] == v1
    actions = [(x["action"], x["result"]) for x in host_audit(on_host, "cp-1")[-2:]]
    assert actions == [("apply", "converged"), ("rollback", "converged")]
    last = json.loads(cat(on_host, "cp-1", f"{STATE}/last-apply.json"))
    assert last["action"] == "rollback"


# --- audit and secrets --------------------------------------------------------------------------


def test_audit_logs_never_hold_a_secret(
    converged: LabInfo,
    policies: Path,
    tmp_path: Path,
    capsys,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    from checkpointctl.trust import vault

    text = (POLICIES / "credentials.yml").read_text()
    sealed = yaml.safe_load(text)["spec"]["credentials"][0]["secret"]
    key = vault.load_key(VAULT_PASSWORD, interactive=False)
    assert key is not None
    field = "credentials.shop-login.secret"
    plaintext = vault.decrypt(sealed, key, field).decode()
    # rotate the secret (a new vaulted value), so apply writes it and audits the change
    new_secret = "rotated-" + plaintext[::-1]
    new_sealed = vault.encrypt(new_secret.encode(), key, field)
    doc = yaml.safe_load(text)
    doc["spec"]["credentials"][0]["secret"] = new_sealed
    doc["metadata"]["name"] = "credentials"
    (policies / "credentials.yml").write_text(yaml.safe_dump(doc, sort_keys=False))
    log = tmp_path / "audit.jsonl"
    code, out, err = run_cli(
        capsys,
        *cli_args(
            policies,
            converged.inventory,
            "apply",
            "--limit",
            "cp-1",
            "--lock-wait",
            WAIT,
            "--audit-log",
            str(log),
        ),
    )
    assert code == 0, out + err
    local = log.read_text()
    on_cp1 = cat(on_host, "cp-1", f"{STATE}/audit.jsonl")
    record = cat(on_host, "cp-1", f"{STATE}/last-apply.json")
    for secret in (plaintext, new_secret):
        assert secret not in local
        assert secret not in on_cp1
        assert secret not in record
    line = json.loads(local.splitlines()[-1])
    assert "credential/shop-login" in line["applied"]
    assert "<sensitive>" in json.dumps(line["changes"])


# --- status ---------------------------------------------------------------------------------


def test_status_reports_each_host(converged: LabInfo, capsys) -> None:  # type: ignore[no-untyped-def]
    code, out, _ = run_cli(
        capsys, "status", str(POLICIES), "-i", str(converged.inventory), "--format", "json"
    )
    doc = json.loads(out)
    hosts = hosts_by_name(doc)
    assert code == (0 if doc["healthy"] else 1)
    cp1 = hosts["cp-1"]
    assert cp1["reachable"] is True
    assert cp1["docker"]
    (container,) = cp1["containers"]
    assert container["name"] == "probe"
    assert container["state"] == "running"
    assert container["digest_matches_policy"] is True
    assert container["in_policy"] is True
    assert cp1["firewall"] == "in sync"
    assert cp1["last_apply"]["result"] in ("converged", "in-sync")
    assert cp1["disk"]["used_percent"] >= 0
    light = hosts["lt-1"]
    assert light["reachable"] is True
    assert light["docker"] is None
    assert light["containers"] == []


def test_status_exits_1_for_a_stopped_checkpoint(
    converged: LabInfo,
    capsys,
    on_host,  # type: ignore[no-untyped-def]
) -> None:
    on_host("cp-2", ["docker", "stop", "-t", "1", "probe"])
    code, out, _ = run_cli(
        capsys,
        "status",
        str(POLICIES),
        "-i",
        str(converged.inventory),
        "--limit",
        "cp-2",
        "--format",
        "text",
    )
    assert code == 1
    assert "cp-2: problem: container probe is exited" in out
    assert "UNHEALTHY" in out
