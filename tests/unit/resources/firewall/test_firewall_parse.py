"""The parser, fed with ``nft -j`` outputs recorded from a real nft (see record.py)."""

from __future__ import annotations

import json

import pytest
from firewall_support import RECORDED, SPEC_NAMES, compiled, recorded
from hypothesis import given
from hypothesis import strategies as st

from checkpointctl.errors import ResourceError
from checkpointctl.resources.firewall.model import Rule, describe
from checkpointctl.resources.firewall.parse import nat_targets, parse_rule, parse_ruleset


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_compiled_table_reads_back_equal(name: str) -> None:
    """What nft lists after loading our script is, canonically, what we compiled."""
    want = compiled(name).table
    got = recorded(f"golden-{name}").table("inet", want.name)
    assert got is not None
    assert got.sets == want.sets
    for ours, theirs in zip(want.chains, got.chains, strict=True):
        assert ours.rules == theirs.rules, ours.name
    assert got == want


def test_hand_added_rule_is_read_as_its_meaning() -> None:
    table = recorded("baseline-plus-8080").table("inet", "checkpointctl")
    assert table is not None
    last = table.chain("input").rules[-1]  # type: ignore[union-attr]
    assert last == Rule("accept", proto="tcp", dport=("8080",))
    assert describe(last, "input") == "accepts tcp/8080 from any"


def test_rules_it_only_partly_understands_keep_the_rest_verbatim() -> None:
    table = recorded("baseline-odd-rules").table("inet", "checkpointctl")
    assert table is not None
    odd = table.chain("input").rules[-3:]  # type: ignore[union-attr]
    negated, mark, jump = odd
    assert negated.verdict == "accept"
    assert negated.dport == ("1000-2000", "3000")
    assert any('"op":"!="' in o for o in negated.other)
    assert any('"log"' in o for o in negated.other)
    assert mark.verdict == "drop"
    assert any('"mark"' in o for o in mark.other)
    assert jump.verdict == "jump extra"
    assert jump.dport == ("22",)
    assert table.chain("extra") is not None


def test_chain_heads_are_read() -> None:
    ruleset = recorded("baseline-extra-chain")
    sneaky = ruleset.table("inet", "checkpointctl").chain("sneaky")  # type: ignore[union-attr]
    assert sneaky is not None
    assert (sneaky.type, sneaky.hook, sneaky.priority, sneaky.policy) == (
        "filter",
        "input",
        -10,
        "accept",
    )
    assert sneaky.rules == (Rule("accept", family="ip", saddr=("192.0.2.0/24",)),)


def test_docker_dnat_target_comes_from_the_text_listing() -> None:
    ruleset = recorded("docker-nat")
    docker = ruleset.table("ip", "nat").chain("DOCKER")  # type: ignore[union-attr]
    assert docker is not None
    dnat = docker.rules[-1]
    assert dnat.verdict == "dnat to 172.17.0.2:80"
    assert (dnat.iif, dnat.proto, dnat.dport) == ("!=docker0", "tcp", ("8080",))
    # Without the text, the JSON alone still says it is a DNAT.
    bare = parse_ruleset((RECORDED / "docker-nat.json").read_bytes())
    assert bare.table("ip", "nat").chain("DOCKER").rules[-1].verdict == "dnat"  # type: ignore[union-attr]


def test_real_docker_ruleset_from_the_lab() -> None:
    ruleset = recorded("lab-cp1-docker-published")
    dnat = [
        r for t in ruleset.tables for c in t.chains for r in c.rules if r.verdict.startswith("dnat")
    ]
    assert [(r.proto, r.dport, r.verdict) for r in dnat] == [
        ("tcp", ("18080",), "dnat to 172.17.0.3:80")
    ]
    assert ruleset.table("inet", "checkpointctl") is None


def test_nat_targets_reads_handles_per_table() -> None:
    text = (RECORDED / "docker-nat.txt").read_text()
    assert nat_targets(text) == {("ip", "nat", 5): "172.17.0.2:80"}


@pytest.mark.parametrize("text", ["", "not json", "[]", '{"nftables": 3}', "{}"])
def test_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(ResourceError, match="nft"):
        parse_ruleset(text)


def test_objects_it_does_not_know_are_skipped() -> None:
    doc = {
        "nftables": [
            {"metainfo": {"version": "9.9"}},
            {"flowtable": {"family": "inet", "name": "f", "table": "t"}},
            {"table": {"family": "inet", "name": "t"}},
            {"rule": {"family": "inet", "table": "t", "chain": "c", "expr": "weird"}},
            "stray",
            {"a": 1, "b": 2},
        ]
    }
    ruleset = parse_ruleset(json.dumps(doc))
    assert ruleset.version == "9.9"
    (table,) = ruleset.tables
    (chain,) = table.chains
    assert chain.rules[0].other == ('"weird"',)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
EXPR_KEYS = st.sampled_from(["match", "accept", "limit", "dnat", "xt", "jump", "counter", "log"])


@given(st.lists(st.dictionaries(EXPR_KEYS, JSON, min_size=1, max_size=1) | JSON, max_size=6))
def test_parse_rule_never_crashes(exprs: list[object]) -> None:
    rule = parse_rule({"expr": exprs, "comment": "x"})
    assert isinstance(describe(rule, "input"), str)
