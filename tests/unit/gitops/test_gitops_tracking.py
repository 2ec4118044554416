"""``track`` values: a tag to follow, or a semver range whose highest release is picked."""

from __future__ import annotations

import pytest

from checkpointctl.gitops.tracking import TrackError, parse_track, tag_version

TAGS = ["1.3.9", "v1.4.0", "1.4.2", "1.4.10", "1.5.0-rc1", "1.5.1", "2.0.0", "stable", "0.2.3",
        "0.2.9", "0.3.0", "latest"]  # fmt: skip


@pytest.mark.parametrize(
    ("track", "picked"),
    [
        ("^1.4", "1.5.1"),
        ("^1.4.2", "1.5.1"),
        ("~1.4", "1.4.10"),
        ("~1.4.2", "1.4.10"),
        ("1.x", "1.5.1"),
        ("1.4.*", "1.4.10"),
        (">=1.4.0 <1.5", "1.4.10"),
        (">=1.4.0, <2", "1.5.1"),
        (">1.4", "2.0.0"),
        (">1.4 <2", "1.5.1"),
        (">1.4.10 <1.5.1", None),
        ("<=1.4", "1.4.10"),
        ("^0.2", "0.2.9"),
        ("^2", "2.0.0"),
        ("^3", None),
        ("*", "2.0.0"),
    ],
)
def test_a_range_picks_its_highest_release(track: str, picked: str | None) -> None:
    parsed = parse_track(track)
    assert parsed.is_range
    assert parsed.pick(TAGS) == picked


def test_numbers_compare_as_numbers_and_pre_releases_are_never_picked() -> None:
    assert parse_track("~1.4").pick(["1.4.9", "1.4.10"]) == "1.4.10"
    assert parse_track("^1.5").pick(["1.5.0-rc1"]) is None
    assert tag_version("v1.4.0") == (1, 4, 0)
    assert tag_version("1.4") is None


@pytest.mark.parametrize("tag", ["stable", "latest", "1.4.2", "v2-lts"])
def test_anything_else_is_a_tag(tag: str) -> None:
    parsed = parse_track(tag)
    assert not parsed.is_range
    assert parsed.tag == tag


@pytest.mark.parametrize(
    ("track", "message"),
    [
        ("", "track is empty"),
        ("^1 || ^2", "'||' alternatives are not supported"),
        ("^1.x.3", "has a number after a wildcard"),
        (">=one", "is not a version comparator"),
        ("no/slash", "is not a tag name or a semver range"),
    ],
)
def test_bad_values_are_refused_by_name(track: str, message: str) -> None:
    with pytest.raises(TrackError, match=message.replace("|", r"\|")):
        parse_track(track)
