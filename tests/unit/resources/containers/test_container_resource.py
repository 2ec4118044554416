"""The resource's contract: it is a ``Resource`` of container targets and containers read, and
it tells an update in place from a replacement, and which replacement.

What apply and diff used to refuse at run time (a change without a container target, a foreign
actual state) their types now refuse: tests/unit/resources/test_plan_types.py shows mypy doing
it."""

from __future__ import annotations

import dataclasses

import pytest

from checkpointctl.model import Action, FieldChange
from checkpointctl.resources.base import Resource
from checkpointctl.resources.containers.diff import ContainerTarget, action_for, replace_action
from checkpointctl.resources.containers.parse import (
    ContainerActual,
    ContainersActual,
    PortBinding,
    parse_container,
)
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import ContainerSpec, ImageRef, Limits

SPEC = ContainerSpec("probe", ImageRef("r/p", "sha256:" + "0" * 64))


def _old(status: str = "running", ports: tuple[PortBinding, ...] = ()) -> ContainerActual:
    """A managed container as the engine reports it (from a minimal inspect document)."""
    inspect = {
        "Id": "c1",
        "Name": "/probe",
        "Image": "sha256:" + "1" * 64,
        "Config": {
            "Image": "r/p@sha256:" + "1" * 64,
            "Labels": {"io.checkpointctl.managed": "true"},
        },
        "State": {"Status": status},
    }
    return dataclasses.replace(parse_container(inspect), ports=ports)


def test_is_a_resource_of_kind_container() -> None:
    # mypy checks the Protocol here, with the types apply and diff take
    resource: Resource[ContainerTarget, ContainersActual] = ContainersResource()
    assert resource.kind == "container"


@pytest.mark.parametrize(
    ("paths", "memory", "action"),
    [
        (["state.status"], None, Action.UPDATE),
        (["state.health"], None, Action.UPDATE),
        (["restart", "state.status"], None, Action.UPDATE),
        (["limits.memory", "limits.memory_swap"], 1 << 26, Action.UPDATE),
        # removing a limit: docker update cannot
        (["limits.memory"], None, Action.REPLACE_CREATE_FIRST),
        (["limits.cpus"], None, Action.REPLACE_CREATE_FIRST),
        (["restart", "image"], None, Action.REPLACE_CREATE_FIRST),
        (["env.MODE"], None, Action.REPLACE_CREATE_FIRST),
    ],
)
def test_in_place_or_replace(paths: list[str], memory: int | None, action: Action) -> None:
    spec = ContainerSpec("probe", ImageRef("r/p", "sha256:" + "0" * 64), limits=Limits(memory))
    assert action_for([FieldChange(p, 1, 2) for p in paths], spec, _old()) is action


PORT = PortBinding("8080", "tcp", "8080")


@pytest.mark.parametrize(
    ("status", "ports", "wanted", "action"),
    [
        # no host port in common: the new one runs before the old one goes
        ("running", (), (), Action.REPLACE_CREATE_FIRST),
        ("running", (PORT,), ("8081:8080",), Action.REPLACE_CREATE_FIRST),
        # both would bind 8080/tcp: the old one must go first
        ("running", (PORT,), ("8080:8080",), Action.REPLACE_DESTROY_FIRST),
        # a stopped container binds nothing: no clash
        ("exited", (PORT,), ("8080:8080",), Action.REPLACE_CREATE_FIRST),
        # another protocol is another port
        (
            "running",
            (PortBinding("8080", "udp", "8080"),),
            ("8080:8080",),
            Action.REPLACE_CREATE_FIRST,
        ),
    ],
)
def test_replacement_order(
    status: str, ports: tuple[PortBinding, ...], wanted: tuple[str, ...], action: Action
) -> None:
    spec = dataclasses.replace(SPEC, ports=wanted)
    old = _old(status, ports)
    assert replace_action(spec, old) is action
    # the plan and the apply decide with the same function: a setting fixed at creation
    assert action_for([FieldChange("env.MODE", "a", "b")], spec, old) is action
