"""Compile a policy's firewall into the canonical table and the nft script that installs it.

Pure: the same spec and host-name resolutions always give the same :class:`~nft_model.Table`
and byte-identical script, which is what the golden tests pin down. Host names are resolved by
the caller (on the controller) and passed in, so nothing here does I/O.

The table always contains, whatever the policy's allow-lists say:

- ``input``: loopback, replies and related packets (:data:`TRACKED`), management SSH from
  ``management_from`` (injected here, so no inbound list can remove it), invalid dropped, the
  ICMP and ICMPv6 that networks need (errors, packet-too-big, neighbour discovery, rate-limited
  echo), then the inbound allow rules;
- ``output``: loopback, replies and related packets, sshd's packets to ``management_from``,
  invalid dropped, the ICMPv6 that neighbour discovery sends, DNS to the resolvers, NTP to the
  time servers, then the outbound allow rules;
- ``forward``: the same egress allow-list for containers, with replies and related packets, so
  a container cannot reach what the host itself may not.

Every rule carries ``comment "cpctl:<id>"`` (``cpctl:inbound[2]``, ``cpctl:dns``...) so a rule
read back from a host maps to the policy entry it came from. Values that reach the script are
either validated strictly (table and host names, addresses, ports) or built from a fixed
alphabet (comments), so no policy value can inject nft syntax.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

from checkpointctl.errors import ResourceError
from checkpointctl.resources.firewall.lint import (
    is_ip_literal,
    lint_firewall,
    normalize_network,
)
from checkpointctl.resources.firewall.model import (
    Chain,
    NamedSet,
    Rule,
    Table,
    sort_networks,
)
from checkpointctl.spec import FirewallRule, FirewallSpec

Resolutions = Mapping[str, tuple[str, ...]]
"""Host name (as written in the policy, lower-cased) → the addresses it resolved to."""

FAMILY = "inet"
ECHO_LIMIT = "10/second"
TRACKED = (
    Rule("accept", ct_state=("established",), ct_direction="reply", comment="cpctl:established"),
    Rule("accept", ct_state=("related",), comment="cpctl:related"),
)
"""Tracked traffic every chain accepts before its allow-list: replies to connections the
other side of the chain let in, and related packets (ICMP errors, packet-too-big). Packets
of an established connection in its *original* direction are not accepted here: they meet
the allow-list again, so a connection opened while its destination (or source) was allowed
stops passing data as soon as an apply removes it, instead of living on in conntrack."""

ICMP_NEEDED = ("destination-unreachable", "parameter-problem", "time-exceeded")
ICMPV6_NEEDED = (
    "destination-unreachable",
    "nd-neighbor-advert",
    "nd-neighbor-solicit",
    "nd-router-advert",
    "packet-too-big",
    "parameter-problem",
    "time-exceeded",
)
ICMPV6_ND_OUT = (
    "mld2-listener-report",
    "nd-neighbor-advert",
    "nd-neighbor-solicit",
    "nd-router-solicit",
)
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9 ._,:/@+=()#-]")
COMMENT_MAX = 64


@dataclass(frozen=True, slots=True)
class CompiledFirewall:
    """What a policy's firewall becomes on one host: the canonical table and its script."""

    table: Table
    script: str
    """The whole transaction for ``nft -f -``: create-if-absent, delete, then the full table,
    so it is atomic and idempotent whether or not the table exists."""
    resolutions: Mapping[str, tuple[str, ...]]
    """The host names this table was built from and what they resolved to."""


def host_names(spec: FirewallSpec) -> tuple[str, ...]:
    """Every entry of the policy that goes into a named set, lower-cased, sorted, once each.

    These are the ``hosts`` of the allow rules and the NTP servers given by name; IP literals
    written under ``hosts`` count too (they resolve to themselves), so the named-set path is the
    same whether a policy names a host or writes its address.
    """
    names = {h.lower().rstrip(".") for r in (*spec.inbound, *spec.outbound) for h in r.hosts}
    names |= {s.lower().rstrip(".") for s in spec.ntp if not is_ip_literal(s)}
    return tuple(sorted(names))


def set_name(host: str, version: int) -> str:
    """The named set that holds ``host``'s addresses of one IP version.

    A digest keeps the name short and free of characters nft would read as syntax; the set's
    comment records the host name for people.
    """
    digest = hashlib.sha256(host.lower().rstrip(".").encode()).hexdigest()[:12]
    return f"h_{digest}_v{version}"


def compile_table(
    spec: FirewallSpec, resolutions: Resolutions, *, pull_mode: bool = False
) -> CompiledFirewall:
    """The canonical table and its ``nft -f`` script for ``spec``.

    Raises:
        ResourceError: the spec fails :func:`lint_firewall` (including the lock-out check, unless
            ``pull_mode``), or a host name has no resolution / resolved to a non-address.
    """
    frozen = tuple(sorted((name, tuple(addrs)) for name, addrs in resolutions.items()))
    return _compile_table(spec, frozen, pull_mode)


@functools.lru_cache(maxsize=64)
def _compile_table(
    spec: FirewallSpec, resolutions: tuple[tuple[str, tuple[str, ...]], ...], pull_mode: bool
) -> CompiledFirewall:
    """:func:`compile_table`, once per distinct spec and resolutions: it is pure, its result is
    immutable, and a fleet's hosts mostly share one policy (compiling it again for every host
    would cost controller CPU per host for the same result)."""
    problems = lint_firewall(spec, pull_mode=pull_mode)
    if problems:
        raise ResourceError("firewall policy refused:\n  " + "\n  ".join(problems))
    resolved = _checked_resolutions(spec, dict(resolutions))
    table = desired_table(spec, resolved)
    return CompiledFirewall(table=table, script=transaction_script(table), resolutions=resolved)


def _checked_resolutions(
    spec: FirewallSpec, resolutions: Resolutions
) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    given = {k.lower().rstrip("."): v for k, v in resolutions.items()}
    for name in host_names(spec):
        if name not in given or not given[name]:
            raise ResourceError(f"firewall: host name {name!r} did not resolve to any address")
        try:
            out[name] = sort_networks([normalize_network(a) for a in given[name]])
        except ValueError as exc:
            raise ResourceError(f"firewall: host name {name!r} resolved to {exc}") from exc
    return out


def desired_table(spec: FirewallSpec, resolved: Resolutions) -> Table:
    """The canonical table for a linted spec and checked resolutions (see module docstring)."""
    sets = tuple(
        sorted(
            (
                NamedSet(
                    name=set_name(host, version),
                    type="ipv4_addr" if version == 4 else "ipv6_addr",
                    elements=elements,
                    flags=("interval",),
                    comment=f"cpctl:host {host}",
                )
                for host, addrs in resolved.items()
                for version in (4, 6)
                if (elements := _of_version(addrs, version))
            ),
            key=lambda s: s.name,
        )
    )
    present = {s.name for s in sets}
    egress = tuple(_egress_rules(spec, present))
    input_rules = (
        Rule("accept", iif="lo", comment="cpctl:loopback"),
        *TRACKED,
        *_management_rules(spec, "saddr"),
        Rule("drop", ct_state=("invalid",), comment="cpctl:invalid"),
        Rule("accept", proto="icmp", icmp_types=ICMP_NEEDED, comment="cpctl:icmp"),
        Rule(
            "accept",
            proto="icmp",
            icmp_types=("echo-request",),
            limit=ECHO_LIMIT,
            comment="cpctl:icmp-echo",
        ),
        Rule("accept", proto="icmpv6", icmp_types=ICMPV6_NEEDED, comment="cpctl:icmpv6"),
        Rule(
            "accept",
            proto="icmpv6",
            icmp_types=("echo-request",),
            limit=ECHO_LIMIT,
            comment="cpctl:icmpv6-echo",
        ),
        *(
            r
            for i, rule in enumerate(spec.inbound)
            for r in _allow_rules("saddr", rule, present, _comment("inbound", i, rule))
        ),
    )
    output_rules = (
        Rule("accept", oif="lo", comment="cpctl:loopback"),
        *TRACKED,
        *_management_rules(spec, "daddr"),
        Rule("drop", ct_state=("invalid",), comment="cpctl:invalid"),
        Rule("accept", proto="icmpv6", icmp_types=ICMPV6_ND_OUT, comment="cpctl:icmpv6-nd"),
        *egress,
    )
    forward_rules = (
        *TRACKED,
        Rule("drop", ct_state=("invalid",), comment="cpctl:invalid"),
        *egress,
    )

    def base(name: str, policy: str, rules: tuple[Rule, ...]) -> Chain:
        return Chain(name, rules, type="filter", hook=name, priority=0, policy=policy)

    return Table(
        family=FAMILY,
        name=spec.table,
        chains=(
            base("input", spec.inbound_default, input_rules),
            base("output", spec.outbound_default, output_rules),
            base("forward", spec.outbound_default, forward_rules),
        ),
        sets=sets,
    )


def _management_rules(spec: FirewallSpec, side: str) -> list[Rule]:
    """SSH from ``management_from`` (input) and sshd's packets back to it (output).

    None when ``management_from`` is empty (pull mode): never "from any". The rules do not
    depend on connection tracking and come before ``ct state invalid drop``, because the
    controller's own session may predate tracking: on a host with no ruleset yet, conntrack
    starts with our table and picks that session up mid-stream, where its first packets can look
    "new" (sshd's reply in output) or "invalid" (window tracking without the handshake). A
    stateful-only table would stall the very session that is loading it.
    """
    if not spec.management_from:
        return []
    port = (str(spec.management_port),)
    if side == "saddr":
        ssh = Rule("accept", proto="tcp", dport=port)
    else:
        ssh = Rule("accept", proto="tcp", sport=port)
    return _address_rules(side, ssh, spec.management_from, (), set(), "cpctl:management")


def _egress_rules(spec: FirewallSpec, present: set[str]) -> Iterable[Rule]:
    # No resolvers (or time servers) listed means none allowed: never "to any".
    if spec.dns:
        dns = Rule("accept", proto="tcp,udp", dport=("53",))
        yield from _address_rules("daddr", dns, spec.dns, (), present, "cpctl:dns")
    if spec.ntp:
        ntp = Rule("accept", proto="udp", dport=("123",))
        ntp_cidrs = tuple(s for s in spec.ntp if is_ip_literal(s))
        ntp_hosts = tuple(s for s in spec.ntp if not is_ip_literal(s))
        yield from _address_rules("daddr", ntp, ntp_cidrs, ntp_hosts, present, "cpctl:ntp")
    for i, rule in enumerate(spec.outbound):
        yield from _allow_rules("daddr", rule, present, _comment("outbound", i, rule))


def _allow_rules(side: str, rule: FirewallRule, present: set[str], comment: str) -> list[Rule]:
    """One policy allow rule as canonical rules: one per address family and named set."""
    port = (str(rule.port),) if rule.port is not None else ()
    if rule.proto == "icmp":
        # "icmp" means ping and friends for both families: ICMP for IPv4, ICMPv6 for IPv6.
        icmp4, icmp6 = Rule("accept", proto="icmp"), Rule("accept", proto="icmpv6")
        if not rule.cidrs and not rule.hosts:
            return [replace(icmp4, comment=comment), replace(icmp6, comment=comment)]
        return [
            *_address_rules(side, icmp4, rule.cidrs, rule.hosts, present, comment, only=4),
            *_address_rules(side, icmp6, rule.cidrs, rule.hosts, present, comment, only=6),
        ]
    proto = "tcp,udp" if rule.proto == "any" and port else "" if rule.proto == "any" else rule.proto
    return _address_rules(
        side, Rule("accept", proto=proto, dport=port), rule.cidrs, rule.hosts, present, comment
    )


def _address_rules(
    side: str,
    template: Rule,
    cidrs: tuple[str, ...],
    hosts: tuple[str, ...],
    present: set[str],
    comment: str,
    *,
    only: int | None = None,
) -> list[Rule]:
    """``template`` restricted to ``cidrs`` and ``hosts`` on ``side`` (saddr/daddr).

    No cidrs and no hosts means any address: one rule without an address match. Otherwise one
    rule per IP version of the CIDRs, then one per host name and version whose set exists.
    """

    def with_addresses(family: str, values: tuple[str, ...]) -> Rule:
        if side == "saddr":
            return replace(template, family=family, comment=comment, saddr=values)
        return replace(template, family=family, comment=comment, daddr=values)

    if not cidrs and not hosts:
        return [replace(template, comment=comment)]
    out: list[Rule] = []
    networks = [normalize_network(c) for c in cidrs]
    for version, family in ((4, "ip"), (6, "ip6")):
        if only not in (None, version):
            continue
        mine = _of_version(networks, version)
        if mine:
            out.append(with_addresses(family, mine))
    for host in sorted({h.lower().rstrip(".") for h in hosts}):
        for version, family in ((4, "ip"), (6, "ip6")):
            name = set_name(host, version)
            if only in (None, version) and name in present:
                out.append(with_addresses(family, (f"@{name}",)))
    return out


def _of_version(values: Iterable[str], version: int) -> tuple[str, ...]:
    """The networks of one IP version, merged the way nft merges an interval set.

    nft collapses overlapping and adjacent intervals (``10.0.0.0/25`` + ``10.0.0.128/25`` is
    listed as ``10.0.0.0/24``); doing the same here keeps desired and read-back equal.
    """
    nets = [ipaddress.ip_network(v) for v in values]
    merged: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network]
    if version == 4:
        merged = ipaddress.collapse_addresses(
            n for n in nets if isinstance(n, ipaddress.IPv4Network)
        )
    else:
        merged = ipaddress.collapse_addresses(
            n for n in nets if isinstance(n, ipaddress.IPv6Network)
        )
    return sort_networks([n.with_prefixlen for n in merged])


def _comment(kind: str, index: int, rule: FirewallRule) -> str:
    """``cpctl:outbound[3] <the policy's comment>``, the latter reduced to a safe alphabet.

    nft strings have no escapes, so anything outside a fixed set of characters (quotes,
    newlines, semicolons, braces...) is replaced: the comment is for people, not for matching.
    """
    words = _COMMENT_SAFE.sub("_", " ".join(rule.comment.split()))[:COMMENT_MAX].strip()
    ident = f"cpctl:{kind}[{index}]"
    return f"{ident} {words}" if words else ident


# --- rendering -------------------------------------------------------------------------------


def transaction_script(table: Table) -> str:
    """The atomic ``nft -f`` input that replaces ``table`` whole.

    ``table ... {}`` first creates the table when it is absent, so the ``delete`` that follows
    never fails, and the full definition then rebuilds it, all in one kernel transaction.
    """
    head = f"table {table.family} {table.name} {{}}\ndelete table {table.family} {table.name}\n"
    return head + render_table(table)


def removal_script(family: str, name: str) -> str:
    """An ``nft -f`` input that leaves the table absent whether or not it exists."""
    return f"table {family} {name} {{}}\ndelete table {family} {name}\n"


def render_table(table: Table) -> str:
    """The table as nft text, in the one canonical layout (sets, then chains, tab-indented)."""
    blocks: list[str] = []
    for s in table.sets:
        lines = [f"\tset {s.name} {{", f"\t\ttype {s.type}"]
        if s.flags:
            lines.append(f"\t\tflags {','.join(s.flags)}")
        if s.comment:
            lines.append(f'\t\tcomment "{s.comment}"')
        lines.append(f"\t\telements = {{ {', '.join(_address(e) for e in s.elements)} }}")
        lines.append("\t}")
        blocks.append("\n".join(lines))
    for chain in table.chains:
        lines = [f"\tchain {chain.name} {{"]
        if chain.is_base:
            lines.append(
                f"\t\ttype {chain.type} hook {chain.hook} priority {chain.priority}; "
                f"policy {chain.policy};"
            )
        lines.extend(f"\t\t{render_rule(rule)}" for rule in chain.rules)
        lines.append("\t}")
        blocks.append("\n".join(lines))
    return f"table {table.family} {table.name} {{\n" + "\n\n".join(blocks) + "\n}\n"


def render_rule(rule: Rule) -> str:
    """One canonical rule as an nft statement (only the forms ``desired_table`` produces)."""
    parts: list[str] = []
    if rule.iif:
        parts.append(f'iif "{rule.iif}"')
    if rule.oif:
        parts.append(f'oif "{rule.oif}"')
    if rule.ct_state:
        parts.append(f"ct state {','.join(rule.ct_state)}")
    if rule.ct_direction:
        parts.append(f"ct direction {rule.ct_direction}")
    for side, values in (("saddr", rule.saddr), ("daddr", rule.daddr)):
        if values:
            parts.append(f"{rule.family} {side} {_one_or_set([_address(v) for v in values])}")
    protos = rule.proto.split(",") if rule.proto else []
    if rule.dport or rule.sport:
        if len(protos) != 1:
            parts.append(f"meta l4proto {_one_or_set(protos)}")
        header = protos[0] if len(protos) == 1 else "th"
        for field, ports in (("sport", rule.sport), ("dport", rule.dport)):
            if ports:
                parts.append(f"{header} {field} {_one_or_set(list(ports))}")
    elif rule.icmp_types:
        parts.append(f"{rule.proto} type {_one_or_set(list(rule.icmp_types))}")
    elif protos:
        names = ["ipv6-icmp" if p == "icmpv6" else p for p in protos]
        parts.append(f"meta l4proto {_one_or_set(names)}")
    if rule.limit:
        parts.append(f"limit rate {rule.limit}")
    parts.append(rule.verdict)
    if rule.comment:
        parts.append(f'comment "{rule.comment}"')
    return " ".join(parts)


def _one_or_set(values: list[str]) -> str:
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def _address(value: str) -> str:
    """A host route is written as a bare address, as nft itself prints it."""
    if value.endswith(("/32", "/128")) and not value.startswith("@"):
        return value.rsplit("/", 1)[0]
    return value
