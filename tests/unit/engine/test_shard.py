"""``drift --shard I/N``: every host in exactly one shard, by its name alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from checkpointctl.cli.main import main
from checkpointctl.engine.shard import Shard, ShardError, parse_shard, shard_of
from checkpointctl.model import Host


def _fleet(n: int) -> tuple[Host, ...]:
    return tuple(Host(f"cp-{i}", f"10.0.{i // 250}.{i % 250}") for i in range(n))


def test_the_shards_split_the_fleet_into_disjoint_parts_in_inventory_order() -> None:
    fleet = _fleet(1000)
    parts = [Shard(i, 4).select(fleet) for i in range(1, 5)]
    names = [h.name for part in parts for h in part]
    assert sorted(names) == sorted(h.name for h in fleet)
    assert len(set(names)) == len(fleet)
    for part in parts:
        order = [fleet.index(h) for h in part]
        assert order == sorted(order)
        assert 200 <= len(part) <= 300  # roughly even: a hash, not a position


def test_a_host_keeps_its_shard_as_the_fleet_grows() -> None:
    small, large = _fleet(100), _fleet(10_000)
    for index in range(1, 5):
        shard = Shard(index, 4)
        in_large = {h.name for h in shard.select(large)}
        assert {h.name for h in shard.select(small)} <= in_large


def test_the_hash_is_fixed_across_processes_and_versions() -> None:
    # sha256 of the name: a change here would move hosts between CI runners' shards
    assert [shard_of(f"cp-{i}", 4) for i in range(1, 9)] == PINNED
    assert shard_of("anything", 1) == 1


PINNED = [4, 3, 1, 3, 2, 1, 1, 3]


@pytest.mark.parametrize(("text", "shard"), [("1/4", Shard(1, 4)), (" 4 / 4 ", Shard(4, 4))])
def test_parse(text: str, shard: Shard) -> None:
    assert parse_shard(text) == shard
    assert str(shard) == text.replace(" ", "")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0/4", "I must be 1..4"),
        ("5/4", "I must be 1..4"),
        ("1/0", "N must be"),
        ("1", "takes I/N"),
        ("a/b", "takes I/N"),
        ("-1/4", "takes I/N"),
    ],
)
def test_bad_shards_are_refused(text: str, message: str) -> None:
    with pytest.raises(ShardError, match=message):
        parse_shard(text)


def test_drift_refuses_a_bad_shard_before_connecting(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    cp-1: {address: 127.0.0.1, port: 1}\n")
    assert main(["drift", "-i", str(inventory), "--shard", "5/4"]) == 1
    assert "--shard 5/4: I must be 1..4" in capsys.readouterr().err


def test_an_empty_shard_is_an_empty_report_in_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # cp-1 is in shard 4 of 4 (PINNED): shard 1 of 4 holds no host of this inventory
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    cp-1: {address: 127.0.0.1, port: 1}\n")
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "p.yml").write_text(
        "apiVersion: checkpointctl/v1\nkind: CheckpointPolicy\nmetadata: {name: p}\n"
        "selector: {hosts: ['*']}\nspec: {}\n"
    )
    monkeypatch.chdir(tmp_path)
    code = main(["drift", "-i", str(inventory), "--shard", "1/4", "--format", "json", "-q"])
    assert code == 0
    assert json.loads(capsys.readouterr().out)["hosts"] == []
