"""The seeded fault campaign in CI: 20 rounds of a random policy change times a random fault on
a full lab host, with every invariant checked after each round (see ``campaign.py``).

``CHECKPOINTCTL_CAMPAIGN_SEED`` and ``CHECKPOINTCTL_CAMPAIGN_ROUNDS`` replay or lengthen it; by
default the seed is the day's date (a different campaign each day, the same within a day). A
failure names its seed and round R: ``scripts/campaign --seed S --rounds R`` replays it exactly
(each round's recipe grows from the rounds before it).
"""

from __future__ import annotations

import os
import time

import pytest
from campaign import run

from checkpointctl.lab import LabInfo

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROUNDS = int(os.environ.get("CHECKPOINTCTL_CAMPAIGN_ROUNDS", "20"))


def test_seeded_campaign_keeps_every_invariant(lab: LabInfo) -> None:
    seed = int(os.environ.get("CHECKPOINTCTL_CAMPAIGN_SEED", time.strftime("%Y%m%d")))
    lines = run(seed, ROUNDS, lab.full_hosts[-1].name, log=lambda line: None)
    assert len(lines) == ROUNDS  # every round passed its invariants (else RoundFailed)
