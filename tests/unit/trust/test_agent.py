"""The agent's decisions without a host: anti-rollback, refusals recorded, trust store checks.

Convergence is injected into the agent, so here it is a recorder that says "converged"; what is
under test is everything *before* it: what is believed, what is refused, and what is written.
The lab test (tests/integration/test_trust_agent.py) converges a real host.
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from trust_samples import CREATED, DURING, make_bundle, plain_state

from checkpointctl.cli.main import main
from checkpointctl.errors import TrustError
from checkpointctl.model import HostResult, HostStatus
from checkpointctl.spec import DesiredState
from checkpointctl.trust.agent import (
    AgentOptions,
    AgentOutcome,
    Converge,
    read_status,
    run_loop,
    run_once,
)
from checkpointctl.trust.keys import HostKey, SigningKey, generate_signing_key
from checkpointctl.trust.revocation import make_revocations
from checkpointctl.trust.store import init_trust_dir, load_trust_store
from checkpointctl.trust.verify import VerifiedBundle

KEY = generate_signing_key()
NEW = generate_signing_key()


class Recorder:
    """Stands in for the engine: records what it was asked to converge."""

    def __init__(self, status: HostStatus = HostStatus.CONVERGED) -> None:
        self.calls: list[DesiredState] = []
        self.status = status

    def __call__(self, desired: DesiredState, bundle: VerifiedBundle) -> HostResult:
        assert bundle.manifest.hosts
        self.calls.append(desired)
        error = "boom" if self.status is HostStatus.FAILED else None
        return HostResult(host=desired.host, status=self.status, error=error)


class Env:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.trust_dir = str(tmp / "trust")
        self.state_dir = str(tmp / "state")
        pub = tmp / "fleet.pub"
        pub.write_text(KEY.public.to_text())
        self.pub = str(pub)
        self.host_key: HostKey = init_trust_dir(self.trust_dir, trust_keys=[str(pub)])
        self.source = tmp / "bundle.cpb"

    def publish(self, data: bytes) -> None:
        self.source.write_bytes(data)

    def bundle(self, serial: int, keys: list[SigningKey] | None = None, **kw: object) -> bytes:
        return make_bundle(keys or [KEY], {"cp-a": self.host_key}, serial=serial, **kw)  # type: ignore[arg-type]

    def run(self, converge: Converge, now: datetime = DURING) -> AgentOutcome:
        return run_once(self.options, converge, now=lambda: now)

    @property
    def options(self) -> AgentOptions:
        return AgentOptions(
            source=str(self.source), host="cp-a", trust_dir=self.trust_dir, state_dir=self.state_dir
        )

    def applied(self) -> dict[str, object] | None:
        path = Path(self.state_dir) / "agent.json"
        return json.loads(path.read_text()) if path.exists() else None

    def status(self) -> dict[str, object]:
        doc = read_status(self.state_dir)
        assert doc is not None
        return doc


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def test_a_good_bundle_converges_and_is_recorded(env: Env) -> None:
    env.publish(env.bundle(5))
    converge = Recorder()
    outcome = env.run(converge)
    assert (outcome.result, outcome.serial, outcome.exit_code) == ("converged", 5, 0)
    assert [d.host for d in converge.calls] == ["cp-a"]
    assert converge.calls[0].credentials[0].secret.reveal() == b"hunter2-for-host-a"
    assert env.applied()["serial"] == 5  # type: ignore[index]
    status = env.status()
    assert status["result"] == "converged"
    assert status["healthy"] is True
    assert status["bundle"]["serial"] == 5  # type: ignore[index]
    assert status["bundle"]["signed_by"] == [KEY.key_id]  # type: ignore[index]
    assert status["report"]["status"] == "converged"  # type: ignore[index]
    assert "hunter2" not in json.dumps(status)


def _refused(env: Env, data: bytes, message: str, now: datetime = DURING) -> None:
    before = env.applied()
    env.publish(data)
    converge = Recorder()
    outcome = env.run(converge, now)
    assert outcome.result == "refused"
    assert outcome.exit_code == 1
    assert message in outcome.message
    assert converge.calls == []  # nothing was applied
    assert env.applied() == before  # the anti-rollback record did not move
    status = env.status()
    assert (status["result"], status["healthy"]) == ("refused", False)
    assert message in str(status["message"])


def test_older_serial_is_refused(env: Env) -> None:
    env.publish(env.bundle(5))
    env.run(Recorder())
    _refused(env, env.bundle(4), "bundle serial 4 is older than serial 5")
    assert env.status()["last_success"]["serial"] == 5  # type: ignore[index]
    assert env.status()["consecutive_failures"] == 1


def test_same_serial_with_new_content_is_refused(env: Env) -> None:
    env.publish(env.bundle(5))
    env.run(Recorder())
    changed = env.bundle(5, expires=CREATED + timedelta(days=8))
    _refused(env, changed, "serial 5 was already accepted with different content")


def test_same_bundle_again_reconverges(env: Env) -> None:
    env.publish(env.bundle(5))
    env.run(Recorder())
    converge = Recorder(HostStatus.IN_SYNC)
    assert env.run(converge).result == "in-sync"
    assert len(converge.calls) == 1


def test_expired_is_refused(env: Env) -> None:
    _refused(env, env.bundle(5), "expired at", now=CREATED + timedelta(days=30))


def test_untrusted_key_is_refused(env: Env) -> None:
    _refused(env, env.bundle(5, keys=[NEW]), "not signed by any trusted key")


def test_missing_host_state_is_refused(env: Env) -> None:
    data = make_bundle([KEY], {"cp-z": None}, states={"cp-z": plain_state("cp-z")})
    _refused(env, data, "has no state for host cp-a")


def test_a_failed_converge_still_moves_the_serial(env: Env) -> None:
    env.publish(env.bundle(6))
    outcome = env.run(Recorder(HostStatus.FAILED))
    assert (outcome.result, outcome.message, outcome.exit_code) == ("failed", "boom", 1)
    assert env.applied()["serial"] == 6  # type: ignore[index]
    _refused(env, env.bundle(5), "older than serial 6")


def test_fetch_errors_are_recorded_as_errors(env: Env) -> None:
    converge = Recorder()
    outcome = env.run(converge)  # nothing published yet
    assert outcome.result == "error"
    assert "cannot read the bundle" in outcome.message
    assert converge.calls == []
    assert env.status()["result"] == "error"


def test_embedded_revocations_are_adopted_and_then_enforced(env: Env) -> None:
    (Path(env.trust_dir) / "keys" / f"{NEW.key_id}.pub").write_text(NEW.public.to_text())
    rl = make_revocations([KEY.key_id], [NEW], serial=1, created=CREATED)
    env.publish(env.bundle(5, keys=[KEY, NEW], revocations=rl))
    assert env.run(Recorder()).result == "converged"
    store = load_trust_store(env.trust_dir)
    assert store.revoked == {KEY.key_id}
    _refused(env, env.bundle(6, keys=[KEY]), f"signed by revoked key {KEY.key_id}")


def test_a_damaged_rollback_record_refuses(env: Env) -> None:
    os.makedirs(env.state_dir, exist_ok=True)
    (Path(env.state_dir) / "agent.json").write_text("{not json")
    env.publish(env.bundle(5))
    converge = Recorder()
    outcome = env.run(converge)
    assert outcome.result == "refused"
    assert "anti-rollback record is damaged" in outcome.message
    assert converge.calls == []


# --- the trust store ---------------------------------------------------------------------------


def test_trust_store_writable_by_others_is_refused(env: Env) -> None:
    os.chmod(Path(env.trust_dir) / "keys", 0o777)
    with pytest.raises(TrustError, match="writable by group or others"):
        load_trust_store(env.trust_dir)


def test_a_key_file_not_named_by_its_id_is_refused(env: Env) -> None:
    (Path(env.trust_dir) / "keys" / "fleet.pub").write_text(NEW.public.to_text())
    with pytest.raises(TrustError, match=f"name it {NEW.key_id}.pub"):
        load_trust_store(env.trust_dir)


def test_init_keeps_the_host_key_unless_forced(env: Env) -> None:
    again = init_trust_dir(env.trust_dir)
    assert again.key_id == env.host_key.key_id
    assert init_trust_dir(env.trust_dir, force=True).key_id != env.host_key.key_id


def test_store_threshold_is_a_floor(env: Env) -> None:
    init_trust_dir(env.trust_dir, threshold=2)
    _refused(env, env.bundle(5), "but 2 are required")


def test_the_loop_runs_until_stopped(env: Env) -> None:
    env.publish(env.bundle(5, expires=datetime.now(UTC) + timedelta(days=1)))
    stop = threading.Event()
    seen: list[str] = []

    def record(outcome: AgentOutcome) -> None:
        seen.append(outcome.result)
        if len(seen) == 2:
            stop.set()

    run_loop(env.options, Recorder(), 0.01, stop, on_outcome=record)
    assert seen == ["converged", "converged"]


def test_verify_cli_with_a_trust_dir(env: Env, capsys: pytest.CaptureFixture[str]) -> None:
    env.publish(env.bundle(5))
    at = ["--at", "2026-01-02T00:00:00Z"]
    assert main(["verify", str(env.source), "--trust-dir", env.trust_dir, *at]) == 0
    assert "(threshold 1)" in capsys.readouterr().out
    init_trust_dir(env.trust_dir, threshold=2)
    assert main(["verify", str(env.source), "--trust-dir", env.trust_dir, *at]) == 1
    assert "but 2 are required" in capsys.readouterr().err
