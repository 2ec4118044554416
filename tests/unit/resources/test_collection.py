"""Collection resource logic without a host: parse, diff, and the canonical file."""

from __future__ import annotations

import json

import pytest

from checkpointctl.model import Action
from checkpointctl.policy.build import collection_for
from checkpointctl.resources.collection.resource import CollectionActual, CollectionResource
from checkpointctl.resources.files import FileState, FileWant, parse_stat_output
from checkpointctl.spec import DesiredState


def _state(**toggles: object) -> DesiredState:
    return DesiredState(host="h", collection=(collection_for(toggles, None, "probe"),))


def _actual_from(content: bytes | None, mode: int = 0o644, uid: int = 0) -> CollectionActual:
    path = "/etc/checkpoint/probe/collection.json"
    if content is None:
        return CollectionActual({path: FileState(path, False)}, {})
    want = FileWant(path, content, mode)
    state = FileState(path, True, mode, uid, 0, want.sha256)
    return CollectionActual({path: state}, {path: content})


def test_profile_minimal_sends_only_health() -> None:
    spec = collection_for({"profile": "minimal"}, None, "probe")
    assert dict(spec.settings) == {
        "screenshots": False,
        "page_content": False,
        "console_logs": False,
        "http_headers": False,
        "http_bodies": False,
        "resolved_ips": False,
        "traces": False,
        "agent_telemetry": True,
    }


def test_container_override_beats_host_toggle_beats_profile() -> None:
    spec = collection_for({"profile": "full", "screenshots": False}, {"traces": False}, "probe")
    settings = dict(spec.settings)
    assert settings["screenshots"] is False
    assert settings["traces"] is False
    assert settings["http_bodies"] is True


def test_missing_file_is_create_with_every_toggle() -> None:
    state = _state(profile="minimal")
    changes = CollectionResource().diff(state, _actual_from(None))
    assert [c.action for c in changes] == [Action.CREATE]
    assert changes[0].address == "collection/probe"
    assert {f.path for f in changes[0].fields} >= {"profile", "screenshots", "agent_telemetry"}


def test_in_sync_file_gives_no_change() -> None:
    state = _state(profile="minimal")
    assert CollectionResource().diff(state, _actual_from(state.collection[0].render())) == []


def test_hand_edited_toggle_is_named() -> None:
    state = _state(profile="minimal")
    doc = json.loads(state.collection[0].render())
    doc["collect"]["screenshots"] = True
    changes = CollectionResource().diff(state, _actual_from(json.dumps(doc).encode()))
    assert len(changes) == 1
    (field,) = changes[0].fields
    assert (field.path, field.before, field.after) == ("screenshots", True, False)
    assert changes[0].action is Action.UPDATE


def test_mode_and_owner_drift() -> None:
    state = _state(profile="minimal")
    content = state.collection[0].render()
    changes = CollectionResource().diff(state, _actual_from(content, mode=0o666, uid=1000))
    paths = {f.path: (f.before, f.after) for f in changes[0].fields}
    assert paths == {"mode": ("0666", "0644"), "owner": ("1000:0", "0:0")}


def test_stale_file_is_deleted() -> None:
    stale = "/etc/checkpoint/old/collection.json"
    actual = CollectionActual({stale: FileState(stale, True, 0o644, 0, 0, "ab")}, {})
    changes = CollectionResource().diff(DesiredState(host="h"), actual)
    assert [(c.address, c.action) for c in changes] == [("collection/old", Action.DELETE)]


def test_render_is_canonical() -> None:
    a = collection_for({"profile": "standard"}, None, "probe").render()
    b = collection_for({"profile": "standard"}, None, "probe").render()
    assert a == b
    assert json.loads(a)["profile"] == "standard"


def test_parse_stat_output() -> None:
    out = parse_stat_output(["/a", "/b"], "644 0 0 abcd\n-\n")
    assert out["/a"] == FileState("/a", True, 0o644, 0, 0, "abcd")
    assert out["/b"].exists is False
    with pytest.raises(ValueError, match="expected 2 lines"):
        parse_stat_output(["/a", "/b"], "-\n")
