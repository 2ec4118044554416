"""Rollout batching is pure: canary first, then serial batches of N or P%."""

from __future__ import annotations

import pytest

from checkpointctl.engine.run import Rollout, batches

HOSTS = [f"h{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("rollout", "expected"),
    [
        (Rollout(), [HOSTS]),
        (Rollout(canary=1), [HOSTS[:1], HOSTS[1:]]),
        (Rollout(serial=3), [HOSTS[0:3], HOSTS[3:6], HOSTS[6:9], HOSTS[9:]]),
        (Rollout(canary=2, serial="50%"), [HOSTS[:2], HOSTS[2:7], HOSTS[7:]]),
        (Rollout(serial="1%"), [[h] for h in HOSTS]),
    ],
)
def test_batches(rollout: Rollout, expected: list[list[str]]) -> None:
    assert batches(HOSTS, rollout) == expected


def test_every_host_in_exactly_one_batch() -> None:
    out = batches(HOSTS, Rollout(canary=3, serial=4))
    flat = [h for b in out for h in b]
    assert flat == HOSTS
