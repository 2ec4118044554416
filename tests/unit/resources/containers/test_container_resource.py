"""The resource's contract: it is a ``Resource``, and apply refuses what it cannot act on."""

from __future__ import annotations

import pytest

from checkpointctl.errors import ResourceError
from checkpointctl.model import Action, Change, FieldChange
from checkpointctl.resources.base import Resource
from checkpointctl.resources.containers.diff import action_for
from checkpointctl.resources.containers.resource import ContainersResource
from checkpointctl.spec import ContainerSpec, ImageRef, Limits
from checkpointctl.transport.base import Transport


class _Untouchable:
    """A transport that fails the test if apply gets as far as the host."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"apply touched the transport ({name}) before refusing")


def test_is_a_resource_of_kind_container() -> None:
    resource: Resource = ContainersResource()  # mypy checks the Protocol here
    assert resource.kind == "container"


def test_apply_refuses_a_change_without_a_container_target() -> None:
    change = Change("container/probe", Action.CREATE, desired={"name": "probe"})
    transport: Transport = _Untouchable()  # type: ignore[assignment]
    with pytest.raises(ResourceError, match="carries no container target"):
        ContainersResource().apply(transport, change)


def test_diff_refuses_foreign_actual_state() -> None:
    with pytest.raises(TypeError, match="ContainersActual"):
        ContainersResource().diff(None, {})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("paths", "memory", "action"),
    [
        (["state.status"], None, Action.UPDATE),
        (["state.health"], None, Action.UPDATE),
        (["restart", "state.status"], None, Action.UPDATE),
        (["limits.memory", "limits.memory_swap"], 1 << 26, Action.UPDATE),
        (["limits.memory"], None, Action.REPLACE),  # removing a limit: docker update cannot
        (["limits.cpus"], None, Action.REPLACE),
        (["restart", "image"], None, Action.REPLACE),
        (["env.MODE"], None, Action.REPLACE),
    ],
)
def test_in_place_or_replace(paths: list[str], memory: int | None, action: Action) -> None:
    spec = ContainerSpec("probe", ImageRef("r/p", "sha256:" + "0" * 64), limits=Limits(memory))
    assert action_for([FieldChange(p, 1, 2) for p in paths], spec) is action
