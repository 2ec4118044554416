"""When apply holds image replacements back (updates.strategy, updates.window) with a fixed
clock; the lab story is tests/integration/test_update_window.py."""

from __future__ import annotations

from datetime import UTC, datetime

from checkpointctl.engine.updates import image_hold, replaces_image
from checkpointctl.model import Action, Change, FieldChange
from checkpointctl.spec import DesiredState, UpdatesSpec

MONDAY_3AM_AMS = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)
MONDAY_NOON_AMS = datetime(2026, 12, 7, 11, 0, tzinfo=UTC)


def state(strategy: str = "gitops", window: str | None = None) -> DesiredState:
    return DesiredState(host="cp-1", updates=UpdatesSpec(strategy=strategy, window=window))  # type: ignore[arg-type]


def test_the_window_holds_images_outside_it_only() -> None:
    desired = state(window="Mon-Fri 02:00-05:00 Europe/Amsterdam")
    assert image_hold(desired, MONDAY_3AM_AMS, allowed=False) is None
    assert image_hold(desired, MONDAY_NOON_AMS, allowed=False) == (
        "outside the maintenance window Mon-Fri 02:00-05:00 Europe/Amsterdam"
    )
    assert image_hold(desired, MONDAY_NOON_AMS, allowed=True) is None
    assert image_hold(state(), MONDAY_NOON_AMS, allowed=False) is None


def test_manual_strategy_needs_the_operator() -> None:
    hold = image_hold(state("manual"), MONDAY_3AM_AMS, allowed=False)
    assert hold == "updates.strategy is manual: image changes need apply --allow-image-updates"
    assert image_hold(state("manual"), MONDAY_3AM_AMS, allowed=True) is None


def test_a_window_that_does_not_parse_holds_images() -> None:
    hold = image_hold(state(window="Mon 25:00-05:00 UTC"), MONDAY_3AM_AMS, allowed=False)
    assert hold is not None
    assert hold.startswith("updates.window does not parse, so images wait:")


def test_only_a_replaced_image_is_held_not_security_drift() -> None:
    image = Change(
        "container/probe",
        Action.REPLACE_CREATE_FIRST,
        (FieldChange("image", "r@sha256:a", "r@sha256:b"),),
    )
    env = Change(
        "container/probe", Action.REPLACE_CREATE_FIRST, (FieldChange("env.MODE", "x", "y"),)
    )
    create = Change("container/probe", Action.CREATE, (FieldChange("image", None, "r@sha256:b"),))
    firewall = Change("firewall/checkpointctl", Action.UPDATE, (FieldChange("image", "a", "b"),))
    assert [replaces_image(c) for c in (image, env, create, firewall)] == [
        True,
        False,
        False,
        False,
    ]
