"""The compiler: golden nft scripts, canonical stability, and hostile values.

Goldens are byte-exact: ``UPDATE_GOLDEN=1 pytest tests/unit/resources/firewall`` rewrites them
(then run ``record.py`` so the recordings follow, and review both diffs).
"""

from __future__ import annotations

import dataclasses
import os
import re

import pytest
from firewall_support import GOLDEN, SPEC_NAMES, compiled, load_spec

from checkpointctl.errors import ResourceError
from checkpointctl.resources.firewall.compile import compile_table, host_names, set_name
from checkpointctl.resources.firewall.model import Rule
from checkpointctl.spec import FirewallRule, FirewallSpec

UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
MGMT = ("10.213.0.0/16",)


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_golden_script(name: str) -> None:
    script = compiled(name).script
    path = GOLDEN / f"{name}.nft"
    if UPDATE:
        path.write_text(script)
    assert path.exists(), f"no golden for {name}: run with UPDATE_GOLDEN=1"
    assert script == path.read_text()


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_same_input_gives_byte_identical_script(name: str) -> None:
    assert compiled(name).script == compiled(name).script


def test_list_order_inside_a_rule_does_not_change_the_script() -> None:
    spec, res, _ = load_spec("dual-stack")
    shuffled = dataclasses.replace(
        spec,
        management_from=tuple(reversed(spec.management_from)),
        outbound=tuple(
            dataclasses.replace(r, cidrs=tuple(reversed(r.cidrs)), hosts=tuple(reversed(r.hosts)))
            for r in spec.outbound
        ),
    )
    reversed_res = {k: tuple(reversed(v)) for k, v in reversed(list(res.items()))}
    assert compile_table(shuffled, reversed_res).script == compile_table(spec, res).script


def test_policy_rule_order_is_kept() -> None:
    a = FirewallRule(proto="tcp", port=443, cidrs=("10.0.0.0/8",))
    b = FirewallRule(proto="udp", port=53, cidrs=("10.0.0.0/8",))
    one = compile_table(FirewallSpec(management_from=MGMT, outbound=(a, b)), {})
    two = compile_table(FirewallSpec(management_from=MGMT, outbound=(b, a)), {})
    ports = [r.dport for r in one.table.chain("output").rules if r.comment.startswith("cpctl:out")]  # type: ignore[union-attr]
    assert ports == [("443",), ("53",)]
    assert one.script != two.script


def test_management_rule_is_always_there_and_before_inbound_rules() -> None:
    spec = FirewallSpec(
        management_from=("10.213.0.1",),
        management_port=2200,
        inbound=(FirewallRule(proto="tcp", port=2200, cidrs=("10.9.0.0/16",)),),
    )
    rules = compile_table(spec, {}).table.chain("input").rules  # type: ignore[union-attr]
    comments = [r.comment for r in rules]
    mgmt = rules[comments.index("cpctl:management")]
    assert mgmt == Rule(
        "accept",
        family="ip",
        proto="tcp",
        dport=("2200",),
        saddr=("10.213.0.1/32",),
        comment="cpctl:management",
    )
    assert comments.index("cpctl:management") < comments.index("cpctl:inbound[0]")
    # Stateless, and ahead of "ct state invalid drop": the controller's session may be picked
    # up by conntrack mid-stream when our table is the first ruleset on the host.
    assert comments.index("cpctl:management") < comments.index("cpctl:invalid")
    out = compile_table(spec, {}).table.chain("output").rules  # type: ignore[union-attr]
    reply = next(r for r in out if r.comment == "cpctl:management")
    assert (reply.proto, reply.sport, reply.daddr, reply.ct_state) == (
        "tcp",
        ("2200",),
        ("10.213.0.1/32",),
        (),
    )
    assert out.index(reply) < [r.comment for r in out].index("cpctl:invalid")


def test_chain_policies_follow_the_defaults() -> None:
    table = compile_table(
        FirewallSpec(management_from=MGMT, inbound_default="accept", outbound_default="accept"), {}
    ).table
    assert [(c.name, c.hook, c.policy) for c in table.chains] == [
        ("input", "input", "accept"),
        ("output", "output", "accept"),
        ("forward", "forward", "accept"),
    ]
    table = compile_table(FirewallSpec(management_from=MGMT), {}).table
    assert [c.policy for c in table.chains] == ["drop", "drop", "drop"]


def test_host_names_get_one_set_per_family_and_the_plan_sees_them() -> None:
    spec = FirewallSpec(
        management_from=MGMT,
        outbound=(FirewallRule(proto="tcp", port=443, hosts=("api.example.com",)),),
    )
    result = compile_table(spec, {"api.example.com": ("10.1.2.3", "fd00::1")})
    assert host_names(spec) == ("api.example.com",)
    assert [(s.name, s.elements, s.comment) for s in result.table.sets] == [
        (set_name("api.example.com", 4), ("10.1.2.3/32",), "cpctl:host api.example.com"),
        (set_name("api.example.com", 6), ("fd00::1/128",), "cpctl:host api.example.com"),
    ]
    assert result.resolutions == {"api.example.com": ("10.1.2.3/32", "fd00::1/128")}
    assert f"ip daddr @{set_name('api.example.com', 4)} tcp dport 443 accept" in result.script


def test_unresolved_host_name_is_a_clear_error() -> None:
    spec = FirewallSpec(
        management_from=MGMT, outbound=(FirewallRule(port=443, hosts=("gone.example.com",)),)
    )
    with pytest.raises(ResourceError, match=r"'gone\.example\.com' did not resolve"):
        compile_table(spec, {})


def test_lockout_spec_is_refused_unless_pull_mode() -> None:
    spec = FirewallSpec()
    with pytest.raises(ResourceError, match="controller would be locked out"):
        compile_table(spec, {})
    table = compile_table(spec, {}, pull_mode=True).table
    assert all(r.comment != "cpctl:management" for r in table.chain("input").rules)  # type: ignore[union-attr]


# --- hostile values ---------------------------------------------------------------------------

SAFE_COMMENT = re.compile(r'comment "[A-Za-z0-9 ._,:/@+=()#\[\]-]*"$')


def test_hostile_comment_cannot_leave_its_string() -> None:
    script = compiled("hostile-comment").script
    inbound = [line for line in script.splitlines() if "cpctl:inbound[0]" in line]
    assert len(inbound) == 1, "the comment must not add lines"
    assert SAFE_COMMENT.search(inbound[0]), inbound[0]
    assert inbound[0].count('"') == 2
    assert "othertable" not in script.replace(
        "cpctl:inbound[0] x_ accept_ _ delete table inet othertable_", ""
    )
    assert not re.search(r"[;{}`$\\]", inbound[0].split("comment", 1)[1])


@pytest.mark.parametrize(
    "host",
    [
        'api.example.com" accept',
        "api.example.com; flush ruleset",
        "api.example.com\nflush ruleset",
        "a b",
        "$(id)",
        "@h_set",
        "",
    ],
)
def test_hostile_host_name_is_refused(host: str) -> None:
    spec = FirewallSpec(management_from=MGMT, outbound=(FirewallRule(port=443, hosts=(host,)),))
    with pytest.raises(ResourceError, match=r"firewall\.outbound\[0\]\.hosts\[0\]"):
        compile_table(spec, {host: ("10.0.0.1",)})


@pytest.mark.parametrize(
    "address", ["10.0.0.1; flush ruleset", '10.0.0.1" accept', "10.0.0.1/8", "example.com", "42"]
)
def test_hostile_resolution_is_refused(address: str) -> None:
    spec = FirewallSpec(
        management_from=MGMT, outbound=(FirewallRule(port=443, hosts=("api.example.com",)),)
    )
    with pytest.raises(ResourceError, match=r"'api\.example\.com' resolved to"):
        compile_table(spec, {"api.example.com": (address,)})


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (FirewallSpec(table="cp; flush ruleset", management_from=MGMT), "firewall.table"),
        (FirewallSpec(table='x" {', management_from=MGMT), "firewall.table"),
        (FirewallSpec(management_from=("10.0.0.0/8 accept",)), r"firewall\.management_from\[0\]"),
        (FirewallSpec(management_from=MGMT, dns=("1.1.1.1; drop",)), r"firewall\.dns\[0\]"),
        (FirewallSpec(management_from=MGMT, ntp=('pool" accept',)), r"firewall\.ntp\[0\]"),
        (
            FirewallSpec(management_from=MGMT, inbound=(FirewallRule(cidrs=("::/0 drop",)),)),
            r"firewall\.inbound\[0\]\.cidrs\[0\]",
        ),
    ],
)
def test_hostile_names_and_addresses_are_refused(spec: FirewallSpec, field: str) -> None:
    with pytest.raises(ResourceError, match=field):
        compile_table(spec, {})


@pytest.mark.parametrize("name", SPEC_NAMES)
def test_no_chain_lets_an_established_connection_bypass_the_allow_list(name: str) -> None:
    # Only replies (and related packets) pass on conntrack state alone: packets a host (or a
    # container) sends in a connection's original direction meet the allow-list every time,
    # so removing a destination cuts connections already open to it.
    table = compiled(name).table
    for chain in table.chains:
        stateful = [r for r in chain.rules if "established" in r.ct_state]
        assert stateful, f"{chain.name}: replies are not accepted"
        for rule in stateful:
            assert rule.ct_direction == "reply", f"{chain.name}: {rule}"
