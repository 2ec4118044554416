"""The controller's audit log lives in the user's state directory, never in the current one."""

from __future__ import annotations

from checkpointctl.engine.audit import default_local_log


def test_xdg_state_home_is_used_when_absolute() -> None:
    assert default_local_log({"XDG_STATE_HOME": "/srv/state", "HOME": "/home/u"}) == (
        "/srv/state/checkpointctl/audit.jsonl"
    )


def test_falls_back_to_home_local_state() -> None:
    for env in ({"HOME": "/home/u"}, {"HOME": "/home/u", "XDG_STATE_HOME": "relative/dir"}):
        assert default_local_log(env) == "/home/u/.local/state/checkpointctl/audit.jsonl"


def test_never_relative_to_the_current_directory() -> None:
    assert default_local_log({"HOME": "/home/u"}).startswith("/")
