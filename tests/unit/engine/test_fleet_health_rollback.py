"""The health gate's verdicts and the rollback plan: pure functions, no host."""

from __future__ import annotations

from checkpointctl.engine.health import ContainerHealth, gate_problems, parse_health, settling
from checkpointctl.engine.rollback import (
    AFTER_GATE,
    previous_images,
    rollback_findings,
    rollback_state,
)
from checkpointctl.model import Action, Change, FieldChange
from checkpointctl.resources.containers.signal import SignalResult
from checkpointctl.spec import ContainerSpec, DesiredState, ImageRef

V1 = "10.213.0.1:5000/checkpoint/probe@sha256:" + "1" * 64
V2 = "10.213.0.1:5000/checkpoint/probe@sha256:" + "2" * 64


def _h(status: str, health: str | None = None) -> ContainerHealth:
    return ContainerHealth("probe", status, health)


def test_parse_health_from_inspect() -> None:
    inspect = {
        "State": {"Status": "running", "Health": {"Status": "starting"}},
        "RestartCount": 2,
        "Image": "sha256:abc",
    }
    assert parse_health("probe", inspect) == ContainerHealth(
        "probe", "running", "starting", 2, "sha256:abc"
    )
    assert parse_health("probe", {"State": {"Status": "exited"}}).health is None
    assert parse_health("gone", None) == ContainerHealth("gone", "missing")


def test_gate_passes_running_and_healthy_or_without_healthcheck() -> None:
    assert gate_problems([_h("running", "healthy"), _h("running")], True) == []


def test_gate_fails_each_problem_in_words() -> None:
    states = [
        ContainerHealth("a", "missing"),
        ContainerHealth("b", "exited"),
        ContainerHealth("c", "running", "unhealthy"),
        ContainerHealth("d", "running", "starting"),
    ]
    assert gate_problems(states, True) == [
        "container a is missing",
        "container b is exited",
        "container c is unhealthy",
        "container d is starting",
    ]


def test_gate_ignores_health_when_the_policy_does_not_require_it() -> None:
    assert gate_problems([_h("running", "unhealthy")], False) == []
    assert gate_problems([_h("exited")], False) == ["container probe is exited"]


def test_settling_waits_only_while_a_pass_is_still_possible() -> None:
    assert settling([_h("running", "starting")], True)
    assert settling([_h("restarting")], True)
    assert not settling([_h("running", "starting")], False)
    assert not settling([_h("running", "starting"), _h("exited")], True)
    assert not settling([_h("running", "unhealthy")], True)
    assert not settling([_h("running", "healthy")], True)


def _replace(name: str, before: object, after: str) -> Change:
    return Change(
        f"container/{name}",
        Action.REPLACE_CREATE_FIRST,
        (FieldChange("image", before, after), FieldChange("labels.x", "1", "2")),  # type: ignore[arg-type]
    )


def test_previous_images_only_for_replaced_images_known_by_digest() -> None:
    changes = [
        _replace("probe", V1, V2),
        _replace("by-id", "sha256:" + "9" * 64, V2),  # an image ID cannot be pinned again
        Change("container/new", Action.CREATE, (FieldChange("image", None, V2),)),
        Change(
            "container/env-only", Action.REPLACE_CREATE_FIRST, (FieldChange("env.A", "1", "2"),)
        ),
        Change("collection/probe", Action.UPDATE, (FieldChange("image", V1, V2),)),
    ]
    assert previous_images(changes) == {"probe": V1}


def test_rollback_state_pins_only_the_rolled_back_containers() -> None:
    desired = DesiredState(
        host="cp-1",
        containers=(
            ContainerSpec("probe", ImageRef(*V2.split("@"))),
            ContainerSpec("other", ImageRef(*V2.split("@"))),
        ),
    )
    back = rollback_state(desired, {"probe": V1})
    assert back.containers[0].image.reference == V1
    assert back.containers[1] == desired.containers[1]
    assert back.containers[0].user == desired.containers[0].user
    assert back.host == "cp-1"


def test_rollback_findings() -> None:
    done = rollback_findings({"probe": V1}, "converged", None)
    assert [(f.address, f.severity) for f in done] == [("container/probe", "warning")]
    assert done[0].message.startswith(f"rolled back to {V1} after the rollout halted")
    failed = rollback_findings({"probe": V1}, "failed", "boom")
    assert [(f.address, f.severity, f.message) for f in failed] == [
        ("rollback", "error", "rollback to the previous image failed (failed): boom")
    ]


SIGNAL = ("/probe/health",)


def _signalled(exit_code: int | None, health: str | None = "healthy") -> ContainerHealth:
    return ContainerHealth("probe", "running", health, signal=SignalResult(SIGNAL, exit_code))


def test_parse_health_keeps_the_last_check_output_in_one_line() -> None:
    inspect = {
        "State": {
            "Status": "running",
            "Health": {
                "Status": "unhealthy",
                "Log": [{"Output": "standby\n"}, {"Output": "live: cannot use\n  the state\n"}],
            },
        }
    }
    assert parse_health("probe", inspect).output == "live: cannot use the state"
    c = ContainerHealth("probe", "running", "unhealthy", output="live: cannot use the state")
    assert gate_problems([c], True) == ["container probe is unhealthy: live: cannot use the state"]


def test_a_failing_health_signal_fails_the_gate_even_when_docker_says_healthy() -> None:
    assert gate_problems([_signalled(0)], True) == []
    assert gate_problems([_signalled(1)], True) == [
        "container probe: its health signal `/probe/health` exited 1"
    ]
    assert gate_problems([_signalled(None, None)], False) == [
        "container probe: its health signal `/probe/health` did not answer within 10s"
    ]


def test_a_failing_signal_is_waited_for_but_docker_unhealthy_is_final() -> None:
    assert settling([_signalled(1)], True)  # the agent may still be writing its settings
    assert not settling([_signalled(1, "unhealthy")], True)
    assert not settling([_signalled(0)], True)
    assert not settling([_signalled(1), _h("exited")], True)


def test_rollback_findings_say_why() -> None:
    done = rollback_findings({"probe": V1}, "converged", None, AFTER_GATE)
    assert done[0].message == f"rolled back to {V1} after its health gate failed"
