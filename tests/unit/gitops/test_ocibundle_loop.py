"""The agent's ``--interval`` loop against a real registry (Debian's ``docker-registry`` on
loopback, test_ocibundle_registry's fixture): two intervals on an unchanged tag fetch the bundle
once and then only ask the tag (counted in the registry's access log and in the agent's logged
decisions), and the wait between them is the interval plus a jitter inside its bound (read from
the logged decision, never timed).

Convergence is a recorder (the engine is the lab tests' business); the loop, the fetcher, the
verification and the state files are the real ones.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_ocibundle_registry import Registry
from test_ocibundle_registry import registry as registry  # the fixture, requested by name

from checkpointctl.cli.main import main
from checkpointctl.gitops.ocibundle import CachedOciSource, OciClient
from checkpointctl.gitops.registry import RegistryClient
from checkpointctl.model import HostResult, HostStatus
from checkpointctl.spec import DesiredState
from checkpointctl.trust.agent import AgentOptions, AgentOutcome, next_delay, run_loop
from checkpointctl.trust.bundle import build_bundle
from checkpointctl.trust.keys import SigningKey
from checkpointctl.trust.store import init_trust_dir
from checkpointctl.trust.verify import VerifiedBundle

pytestmark = pytest.mark.slow

KEY = SigningKey(Ed25519PrivateKey.generate())
INTERVAL = 0.05
JITTER = 0.2


def _in_sync(desired: DesiredState, bundle: VerifiedBundle) -> HostResult:
    return HostResult(host=desired.host, status=HostStatus.IN_SYNC)


def test_two_intervals_fetch_once_then_skip_on_an_unchanged_digest(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pub = tmp_path / "fleet.pub"
    pub.write_text(KEY.public.to_text())
    trust_dir = str(tmp_path / "trust")
    host_key = init_trust_dir(trust_dir, trust_keys=[str(pub)])
    now = datetime.now(UTC).replace(microsecond=0)
    data = build_bundle(
        {"cp-1": DesiredState(host="cp-1")}, {"cp-1": host_key.public_raw}, [KEY],
        serial=3, created=now - timedelta(hours=1), expires=now + timedelta(days=1),
    )  # fmt: skip
    path = tmp_path / "b.cpb"
    path.write_bytes(data)
    source = f"oci://{registry.netloc}/fleet/bundles:loop"
    assert main(["publish", str(path), source, "--insecure-registry", registry.netloc]) == 0

    state_dir = str(tmp_path / "state")
    options = AgentOptions(source=source, host="cp-1", trust_dir=trust_dir, state_dir=state_dir)
    fetcher = CachedOciSource(source, OciClient(RegistryClient([registry.netloc])), state_dir)
    stop = threading.Event()
    outcomes: list[AgentOutcome] = []

    def record(outcome: AgentOutcome) -> None:
        outcomes.append(outcome)
        if len(outcomes) == 2:
            stop.set()

    start = registry.mark()
    with caplog.at_level(logging.INFO, logger="checkpointctl.agent"):
        run_loop(
            options, _in_sync, INTERVAL, stop,
            jitter=JITTER, rng=random.Random(7), on_outcome=record, fetcher=fetcher,
        )  # fmt: skip
    registry.mark()

    assert [(o.result, o.serial) for o in outcomes] == [("in-sync", 3), ("in-sync", 3)]
    # the registry saw one fetch (tag, manifest, bundle) and then the tag alone
    assert registry.requests(start) == [
        ("HEAD", "manifests"),
        ("GET", "manifests"),
        ("GET", "blobs"),
        ("HEAD", "manifests"),
    ]
    messages = [r.getMessage() for r in caplog.records if r.name == "checkpointctl.agent"]
    decisions = [m.split(": ", 1)[1].split(",")[0] for m in messages if m.startswith(source)]
    assert decisions[0].startswith("now sha256:")
    assert decisions[1].startswith("unchanged at sha256:")
    assert len(decisions) == 2
    # one wait between the two runs (none after the second: the loop was stopped), inside
    # [interval, interval + jitter], and the seeded draw is the one next_delay makes
    waits = [r.args for r in caplog.records if r.getMessage().startswith("next run in")]
    assert len(waits) == 1
    (delay, interval, jitter) = waits[0]  # type: ignore[misc]
    assert (interval, jitter) == (INTERVAL, JITTER)
    assert INTERVAL <= delay <= INTERVAL + JITTER
    assert delay == next_delay(INTERVAL, JITTER, random.Random(7))
    assert delay != INTERVAL


def test_next_delay_stays_inside_its_bound() -> None:
    rng = random.Random(1)
    draws = [next_delay(300.0, 30.0, rng) for _ in range(2000)]
    assert all(300.0 <= d <= 330.0 for d in draws)
    assert max(draws) - min(draws) > 25.0  # the jitter spreads, it is not a constant offset
    assert next_delay(300.0, 0.0, rng) == 300.0
