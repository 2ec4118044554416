"""The canonical form of an nftables table: what the firewall diff compares.

Desired rules (built from the policy by ``nft_compile``) and actual rules (parsed from
``nft -j`` by ``nft_parse``) meet in this one shape, so the comparison is about meaning, not
text: ``ip saddr 10.0.0.1`` and ``ip saddr { 10.0.0.1/32 }`` are the same rule, and the order in
which nft lists set elements does not matter. Everything is frozen and sorted, so equal rules
are equal values.

The same module turns a rule into the words a person reads in a plan
(``accepts tcp/8080 from any``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

HOOK_WORDS = {"input": "from", "output": "to", "forward": "to"}
"""How a chain names the far side of a rule: input traffic comes *from* it, egress goes *to* it."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule in canonical form.

    Empty fields mean "not matched on". Addresses are normalized CIDRs (``10.0.0.1/32``) or a
    named-set reference (``@h_0a1b2c3d4e5f_v4``), sorted. ``comment`` is not part of the rule's
    meaning: :meth:`key` leaves it out, and the diff reports a comment change on its own.
    """

    verdict: str
    """``accept``, ``drop``, ``reject``, ``jump NAME``, ``dnat 172.17.0.2:80``... or ``""``."""
    family: str = ""
    """``ip`` or ``ip6`` when the rule matches one address family only; ``""`` for both."""
    proto: str = ""
    """``tcp``, ``udp``, ``tcp,udp``, ``icmp``, ``icmpv6``... or ``""`` for any."""
    dport: tuple[str, ...] = ()
    """Destination ports or ranges (``443``, ``1000-2000``), in numeric order."""
    sport: tuple[str, ...] = ()
    """Source ports, likewise (our management rule in ``output`` matches sshd's port)."""
    saddr: tuple[str, ...] = ()
    daddr: tuple[str, ...] = ()
    iif: str = ""
    """Input interface (``lo``), with ``!=`` in front for a negated match."""
    oif: str = ""
    ct_state: tuple[str, ...] = ()
    ct_direction: str = ""
    """``reply`` or ``original`` when the rule matches one direction of tracked connections."""
    icmp_types: tuple[str, ...] = ()
    limit: str = ""
    """``10/second``; ``10/second burst 20`` when the burst is not nft's default of 5."""
    other: tuple[str, ...] = ()
    """Expressions the canonicalizer does not understand, as compact JSON: they keep a
    hand-written rule distinct from ours instead of being silently ignored."""
    comment: str = ""

    def key(self) -> tuple[str | tuple[str, ...], ...]:
        """The rule's meaning: every field except the comment."""
        return (
            self.verdict,
            self.family,
            self.proto,
            self.dport,
            self.sport,
            self.saddr,
            self.daddr,
            self.iif,
            self.oif,
            self.ct_state,
            self.ct_direction,
            self.icmp_types,
            self.limit,
            self.other,
        )


@dataclass(frozen=True, slots=True)
class NamedSet:
    """A named address set; checkpointctl uses one per resolved host name and family."""

    name: str
    type: str
    """``ipv4_addr`` or ``ipv6_addr`` (or whatever nft reports for a foreign set)."""
    elements: tuple[str, ...]
    """Normalized, sorted CIDRs."""
    flags: tuple[str, ...] = ()
    comment: str = ""

    @property
    def label(self) -> str:
        """What a person calls this set: the host name our comment records, else its name."""
        if self.comment.startswith("cpctl:host "):
            family = "ipv6" if self.type == "ipv6_addr" else "ipv4"
            return f"{self.comment.removeprefix('cpctl:host ')} ({family})"
        return self.name


@dataclass(frozen=True, slots=True)
class Chain:
    """A chain: base chains have a type, hook, priority and policy; regular ones have none."""

    name: str
    rules: tuple[Rule, ...] = ()
    type: str = ""
    hook: str = ""
    priority: int | None = None
    policy: str = ""

    @property
    def is_base(self) -> bool:
        return bool(self.hook)


@dataclass(frozen=True, slots=True)
class Table:
    """One nftables table, in canonical form."""

    family: str
    name: str
    chains: tuple[Chain, ...] = ()
    sets: tuple[NamedSet, ...] = ()

    def chain(self, name: str) -> Chain | None:
        return next((c for c in self.chains if c.name == name), None)

    def set_labels(self) -> Mapping[str, str]:
        """``@name`` → label, for describing rules that reference sets."""
        return {f"@{s.name}": s.label for s in self.sets}

    @property
    def title(self) -> str:
        return f"table {self.family} {self.name}"


@dataclass(frozen=True, slots=True)
class Ruleset:
    """Every table on a host, as ``nft -j list ruleset`` showed them."""

    tables: tuple[Table, ...] = ()
    version: str = ""

    def table(self, family: str, name: str) -> Table | None:
        return next((t for t in self.tables if t.family == family and t.name == name), None)


def sort_networks(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Addresses in a stable order: IPv4 before IPv6, then numerically; set references last."""

    def key(value: str) -> tuple[int, int, int, str]:
        if value.startswith("@"):
            return (2, 0, 0, value)
        try:
            net = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return (3, 0, 0, value)
        return (net.version // 6, int(net.network_address), net.prefixlen, value)

    return tuple(sorted(set(values), key=key))


def sort_ports(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Ports and ranges in numeric order."""

    def key(value: str) -> tuple[int, str]:
        head = value.split("-", 1)[0]
        return (int(head), value) if head.isdigit() else (1 << 20, value)

    return tuple(sorted(set(values), key=key))


def describe(rule: Rule, chain: str, labels: Mapping[str, str] | None = None) -> str:
    """The rule in a person's words: ``accepts tcp/8080 from any``.

    ``chain`` picks "from" (input) or "to" (output); a forward chain names both sides when it
    matches on them. ``labels`` maps ``@set`` references to host names.
    """
    labels = labels or {}
    verdict = {
        "accept": "accepts",
        "drop": "drops",
        "reject": "rejects",
        "": "matches",
    }.get(rule.verdict, rule.verdict)
    if rule.verdict.startswith(("jump ", "goto ")):
        verdict = f"{rule.verdict.replace('jump', 'jumps to').replace('goto', 'goes to')} for"
    words = [verdict, _what(rule)]
    if rule.iif:
        words.append(f"on iif {rule.iif}")
    if rule.oif:
        words.append(f"on oif {rule.oif}")
    if rule.ct_state:
        words.append(f"with ct state {','.join(rule.ct_state)}")
    if rule.ct_direction:
        words.append(f"in the {rule.ct_direction} direction")
    has_l4 = bool(rule.proto or rule.dport or rule.sport)
    src = _addresses(rule.saddr, rule.family, labels)
    dst = _addresses(rule.daddr, rule.family, labels)
    direction = HOOK_WORDS.get(chain)
    if rule.saddr or (direction == "from" and has_l4 and not rule.daddr):
        words.append(f"from {src}")
    if rule.daddr or (direction == "to" and has_l4 and not rule.saddr):
        words.append(f"to {dst}")
    if rule.family and not rule.saddr and not rule.daddr:
        words.append("(ipv4 only)" if rule.family == "ip" else "(ipv6 only)")
    if rule.limit:
        words.append(f"limited to {rule.limit}")
    if rule.other:
        words.append("[" + " ".join(rule.other) + "]")
    return " ".join(words)


def _what(rule: Rule) -> str:
    proto = rule.proto.replace(",", "+")
    if rule.icmp_types:
        return f"{proto or 'icmp'} {','.join(rule.icmp_types)}"
    if rule.dport:
        what = f"{proto or 'any'}/{','.join(rule.dport)}"
        return what + (f" from port {','.join(rule.sport)}" if rule.sport else "")
    if rule.sport:
        return f"{proto or 'any'} from port {','.join(rule.sport)}"
    if proto:
        return proto
    return "all traffic"


def _addresses(values: tuple[str, ...], family: str, labels: Mapping[str, str]) -> str:
    if not values:
        return "any"
    return ", ".join(labels.get(v, v) for v in values)


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\n``, ``\\x1b``...).

    Names and comments read from a host were written by someone else; a newline or a terminal
    escape in them must not reshape the plan a person reads.
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
