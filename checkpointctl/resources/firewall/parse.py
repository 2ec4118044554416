"""Parse ``nft -j`` output into the canonical form of :mod:`nft_model`.

Pure: the input is the JSON text a host printed, the output frozen data. Tests feed it outputs
recorded from a real nft. The parser must never crash on a ruleset someone wrote by hand or a
tool like Docker generated: anything it does not understand is kept, as compact JSON, in
:attr:`Rule.other`, so an unknown rule still shows up as a difference instead of vanishing or
masquerading as one of ours.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from checkpointctl.errors import ResourceError
from checkpointctl.model import JSONValue
from checkpointctl.model.jsondoc import JSONObject
from checkpointctl.resources.firewall.lint import normalize_network
from checkpointctl.resources.firewall.model import (
    Chain,
    NamedSet,
    Rule,
    Ruleset,
    Table,
    sort_networks,
    sort_ports,
)

_VERDICTS = ("accept", "drop", "continue", "return", "queue")
_IGNORED = ("counter",)
"""Statements that do not change what a rule lets through."""
_L4_NAMES = {"ipv6-icmp": "icmpv6"}


def parse_ruleset(text: str | bytes, listing: str | None = None) -> Ruleset:
    """Every table in ``nft -j list ruleset`` (or ``list table``) output.

    Pure, and its result immutable, so equal outputs share one parse: a fleet's hosts mostly
    answer with the same bytes, and parsing a ruleset costs the controller more than the host's
    whole answer takes to arrive (and it holds the GIL).

    ``listing`` is the optional text of ``nft -a list ruleset``: rules that iptables-nft wrote
    (Docker's) show their NAT target only as ``{"xt": ...}`` in JSON, without the address, and
    the text listing fills it in (see :func:`nat_targets`).

    Raises:
        ResourceError: the text is not nft's JSON document.
    """
    return _parse_ruleset(text, listing)


@functools.lru_cache(maxsize=64)
def _parse_ruleset(text: str | bytes, listing: str | None) -> Ruleset:
    targets = nat_targets(listing) if listing else {}
    try:
        doc: JSONValue = json.loads(text)
    except ValueError as exc:
        raise ResourceError(f"nft printed something that is not JSON: {exc}") from exc
    items = doc.get("nftables") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise ResourceError("nft -j output has no 'nftables' list")
    version = ""
    tables: dict[tuple[str, str], _TableBuilder] = {}

    def builder(body: JSONObject, key: str = "table") -> _TableBuilder | None:
        family, name = body.get("family"), body.get(key)
        if not isinstance(family, str) or not isinstance(name, str):
            return None
        return tables.setdefault((family, name), _TableBuilder(family, name))

    for item in items:
        if not isinstance(item, dict) or len(item) != 1:
            continue
        ((kind, body),) = item.items()
        if not isinstance(body, dict):
            continue
        if kind == "metainfo":
            version = str(body.get("version", ""))
        elif kind == "table":
            builder(body, "name")
        elif kind == "chain" and (b := builder(body)) is not None:
            b.add_chain(body)
        elif kind == "set" and (b := builder(body)) is not None:
            b.sets.append(parse_set(body))
        elif kind == "rule" and (b := builder(body)) is not None:
            handle = body.get("handle")
            nat = targets.get((b.family, b.name, handle)) if isinstance(handle, int) else None
            b.add_rule(body, nat)
    built = sorted((b.build() for b in tables.values()), key=lambda t: (t.family, t.name))
    return Ruleset(tables=tuple(built), version=version)


@dataclass
class _TableBuilder:
    family: str
    name: str
    chains: dict[str, JSONObject] = field(default_factory=dict)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    sets: list[NamedSet] = field(default_factory=list)

    def add_chain(self, body: JSONObject) -> None:
        name = str(body.get("name", ""))
        self.chains[name] = body
        self.rules.setdefault(name, [])

    def add_rule(self, body: JSONObject, nat_target: str | None = None) -> None:
        chain = str(body.get("chain", ""))
        rule = parse_rule(body)
        if nat_target and rule.verdict in ("dnat", "snat"):
            rule = replace(rule, verdict=f"{rule.verdict} to {nat_target}")
        self.rules.setdefault(chain, []).append(rule)

    def build(self) -> Table:
        chains = []
        for name in self.rules:
            head = self.chains.get(name, {})
            prio = head.get("prio")
            chains.append(
                Chain(
                    name=name,
                    rules=tuple(self.rules[name]),
                    type=str(head.get("type", "")),
                    hook=str(head.get("hook", "")),
                    priority=prio if isinstance(prio, int) else None,
                    policy=str(head.get("policy", "")) if head.get("hook") else "",
                )
            )
        sets = tuple(sorted(self.sets, key=lambda s: s.name))
        return Table(self.family, self.name, tuple(chains), sets)


def parse_set(body: JSONObject) -> NamedSet:
    """A named set; elements are normalized CIDRs (or kept as written when not addresses)."""
    elem = body.get("elem", [])
    flags = body.get("flags", [])
    return NamedSet(
        name=str(body.get("name", "")),
        type=str(body.get("type", "")),
        elements=sort_networks(list(_values(elem if isinstance(elem, list) else [elem]))),
        flags=tuple(sorted(str(f) for f in flags)) if isinstance(flags, list) else (str(flags),),
        comment=str(body.get("comment", "")),
    )


def parse_rule(body: JSONObject) -> Rule:
    """One rule (the body of a ``{"rule": ...}`` object) in canonical form."""
    p = _RuleParts()
    exprs = body.get("expr", [])
    for expr in exprs if isinstance(exprs, list) else [exprs]:
        if not p.take(expr):
            p.other.append(_dump(expr))
    return p.build(str(body.get("comment", "")))


@dataclass
class _RuleParts:
    """Accumulates a rule's expressions; each ``take`` says whether it understood one."""

    verdict: str = ""
    family: str = ""
    l4: tuple[str, ...] = ()
    proto: str = ""
    dport: tuple[str, ...] = ()
    sport: tuple[str, ...] = ()
    saddr: tuple[str, ...] = ()
    daddr: tuple[str, ...] = ()
    iif: str = ""
    oif: str = ""
    ct_state: tuple[str, ...] = ()
    ct_direction: str = ""
    icmp_types: tuple[str, ...] = ()
    limit: str = ""
    other: list[str] = field(default_factory=list)

    def take(self, expr: JSONValue) -> bool:
        if not isinstance(expr, dict) or len(expr) != 1:
            return False
        ((kind, body),) = expr.items()
        if kind in _IGNORED:
            return True
        if self.verdict:  # anything after a verdict (or a second verdict) is kept verbatim
            return False
        if kind in _VERDICTS:
            self.verdict = kind
            return True
        if kind == "reject":
            self.verdict = "reject"
            return not body
        if kind in ("jump", "goto") and isinstance(body, dict):
            self.verdict = f"{kind} {body.get('target', '?')}"
            return True
        if kind in ("dnat", "snat", "redirect", "masquerade"):
            self.verdict = _nat(kind, body)
            return True
        if kind == "xt" and isinstance(body, dict) and body.get("type") == "target":
            # iptables-nft's targets (Docker's DNAT); the JSON omits their arguments.
            self.verdict = str(body.get("name", "xt")).lower()
            return True
        if kind == "limit" and isinstance(body, dict) and not self.limit:
            return self._limit(body)
        if kind == "match" and isinstance(body, dict):
            return self._match(body)
        return False

    def _limit(self, body: JSONObject) -> bool:
        rate, per, burst = body.get("rate"), body.get("per"), body.get("burst", 5)
        if body.get("inv") or body.get("rate_unit") not in (None, "packets"):
            return False
        self.limit = f"{rate}/{per}" + (f" burst {burst}" if burst not in (0, 5) else "")
        return True

    def _match(self, body: JSONObject) -> bool:
        op, left, right = body.get("op"), body.get("left"), body.get("right")
        if not isinstance(left, dict) or len(left) != 1:
            return False
        ((what, spec),) = left.items()
        if not isinstance(spec, dict):
            return False
        if what == "meta" and spec.get("key") in ("iif", "iifname", "oif", "oifname"):
            if op not in ("==", "!=") or not isinstance(right, str):
                return False
            name = right if op == "==" else f"!={right}"
            if str(spec["key"]).startswith("i") and not self.iif:
                self.iif = name
                return True
            if str(spec["key"]).startswith("o") and not self.oif:
                self.oif = name
                return True
            return False
        if op not in ("==", "in"):
            return False
        if what == "ct" and spec.get("key") == "state" and not self.ct_state:
            self.ct_state = tuple(sorted(str(v) for v in _flat(right)))
            return True
        if what == "ct" and spec.get("key") == "direction" and not self.ct_direction:
            if op != "==" or right not in ("original", "reply"):
                return False
            self.ct_direction = str(right)
            return True
        if what == "meta" and spec.get("key") == "l4proto" and not self.l4:
            self.l4 = tuple(sorted(_L4_NAMES.get(str(v), str(v)) for v in _flat(right)))
            return True
        if what == "meta" and spec.get("key") == "nfproto" and right in ("ipv4", "ipv6"):
            return self._family("ip" if right == "ipv4" else "ip6")
        if what != "payload":
            return False
        proto, fld = spec.get("protocol"), spec.get("field")
        if proto in ("ip", "ip6") and fld in ("saddr", "daddr"):
            values = sort_networks(list(_values(_flat(right))))
            if getattr(self, str(fld)) or not self._family(str(proto)):
                return False
            setattr(self, str(fld), values)
            return True
        ports = fld in ("dport", "sport") and not getattr(self, str(fld))
        if proto in ("tcp", "udp", "th") and ports:
            if self.proto and proto != "th" and self.proto != proto:
                return False
            setattr(self, str(fld), sort_ports([_port(v) for v in _flat(right)]))
            if proto != "th":
                self.proto = str(proto)
            return True
        if proto in ("icmp", "icmpv6") and fld == "type" and not self.icmp_types:
            self.icmp_types = tuple(sorted(str(v) for v in _flat(right)))
            self.proto = str(proto)
            return True
        return False

    def _family(self, family: str) -> bool:
        if self.family and self.family != family:
            return False
        self.family = family
        return True

    def build(self, comment: str) -> Rule:
        return Rule(
            verdict=self.verdict,
            family=self.family,
            proto=self.proto or ",".join(self.l4),
            dport=self.dport,
            sport=self.sport,
            saddr=self.saddr,
            daddr=self.daddr,
            iif=self.iif,
            oif=self.oif,
            ct_state=self.ct_state,
            ct_direction=self.ct_direction,
            icmp_types=self.icmp_types,
            limit=self.limit,
            other=tuple(self.other),
            comment=comment,
        )


_TABLE_LINE = re.compile(r"^table (\S+) (\S+) \{")
_NAT_LINE = re.compile(r"\b(dnat|snat) to (\S+).*# handle (\d+)$")


def nat_targets(listing: str) -> dict[tuple[str, str, int], str]:
    """``(family, table, handle)`` → NAT target (``172.17.0.2:80``) from ``nft -a list`` text."""
    out: dict[tuple[str, str, int], str] = {}
    table: tuple[str, str] | None = None
    for line in listing.splitlines():
        line = line.strip()
        if m := _TABLE_LINE.match(line):
            table = (m.group(1), m.group(2))
        elif table and (m := _NAT_LINE.search(line)):
            out[(*table, int(m.group(3)))] = m.group(2)
    return out


def _flat(right: JSONValue) -> list[JSONValue]:
    """A match's right side as a list: a scalar, a list, or ``{"set": [...]}``."""
    if isinstance(right, dict) and "set" in right:
        inner = right["set"]
        return list(inner) if isinstance(inner, list) else [inner]
    if isinstance(right, list):
        return list(right)
    return [right]


def _values(items: Iterable[JSONValue]) -> Iterable[str]:
    """Addresses as normalized CIDRs; ranges as ``a-b``; set references as ``@name``."""
    for item in items:
        elem = item.get("elem") if isinstance(item, dict) else None
        if isinstance(elem, dict):
            item = elem.get("val")
        prefix = item.get("prefix") if isinstance(item, dict) else None
        span = item.get("range") if isinstance(item, dict) else None
        if isinstance(prefix, dict):
            text = f"{prefix.get('addr')}/{prefix.get('len')}"
        elif isinstance(span, list):
            text = "-".join(str(v) for v in span)
        else:
            text = item if isinstance(item, str) else _dump(item)
        if text.startswith("@"):
            yield text
            continue
        try:
            yield normalize_network(text)
        except ValueError:
            yield text


def _port(value: JSONValue) -> str:
    span = value.get("range") if isinstance(value, dict) else None
    if isinstance(span, list):
        return "-".join(str(v) for v in span)
    return str(value) if isinstance(value, int | str) else _dump(value)


def _nat(kind: str, body: JSONValue) -> str:
    if not isinstance(body, dict):
        return kind
    addr, port = body.get("addr"), body.get("port")
    target = "" if addr is None else str(addr) if isinstance(addr, str) else _dump(addr)
    if port is not None:
        target += f":{port}"
    return f"{kind} to {target}" if target else kind


def _dump(value: JSONValue) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
