"""Semantic checks of a policy's ``firewall`` section, shared by ``validate`` and the compiler.

These checks exist so that a firewall that would lock the controller out, or that carries a
value nft would misread, is refused *before* any host is touched: the policy lint calls
:func:`lint_firewall` (errors) and :func:`lint_inbound_open` (warnings), and
:func:`checkpointctl.resources.firewall.compile.compile_table` calls :func:`lint_firewall` again and
refuses to compile when it finds anything. The module imports only ``spec`` and the standard
library, so the policy layer can use it without depending on the rest of the resources.

Every message starts with the field it is about, relative to the policy's ``spec`` (for example
``firewall.inbound[0].cidrs[1]: ...``), so the caller can map it to a source location.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from checkpointctl.spec import FirewallRule, FirewallSpec

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

TABLE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,31}$")
"""nft identifiers allow more, but a table name never needs more than this, and nothing in it
can be read by nft as syntax."""

_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$)(?:{_LABEL}\.)*{_LABEL}\.?$", re.IGNORECASE)
"""A DNS host name (RFC 1123 labels). Anything else, quotes and semicolons included, is refused,
so a host name can never carry nft or shell syntax."""

OPEN_NETWORKS = ("0.0.0.0/0", "::/0")


def parse_network(text: str) -> IPNetwork:
    """An address or CIDR as a network; host bits must be zero (``10.0.0.1/8`` is refused).

    Raises:
        ValueError: the text is not an IPv4/IPv6 address or a CIDR with zero host bits.
    """
    # ip_network would accept an integer-looking string like "42"; demand a dot or a colon.
    if "." not in text and ":" not in text:
        raise ValueError(f"{text!r} is not an IP address or CIDR")
    return ipaddress.ip_network(text, strict=True)


def normalize_network(text: str) -> str:
    """The canonical spelling of an address or CIDR: ``10.0.0.1`` becomes ``10.0.0.1/32``."""
    return parse_network(text).with_prefixlen


def is_ip_literal(text: str) -> bool:
    """True when ``text`` is a bare IPv4 or IPv6 address (which needs no resolving)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def lint_firewall(spec: FirewallSpec, *, pull_mode: bool = False) -> list[str]:
    """Errors that make ``spec`` unsafe or impossible to compile; empty when it is fine.

    ``pull_mode`` is True for hosts converged by their own agent: they need no inbound
    management access, so an empty ``management_from`` under a dropping inbound default is then
    allowed.
    """
    return list(_errors(spec, pull_mode=pull_mode))


def lint_inbound_open(spec: FirewallSpec) -> list[str]:
    """Warnings for inbound rules that accept traffic from anywhere.

    Checkpoints need no incoming connections; an inbound rule without sources, or with
    ``0.0.0.0/0`` / ``::/0``, opens the host to the whole network and deserves a reviewer's eye.
    """
    out: list[str] = []
    for i, rule in enumerate(spec.inbound):
        what = _rule_words(rule)
        if not rule.cidrs and not rule.hosts:
            out.append(f"firewall.inbound[{i}]: accepts {what} from anywhere (no cidrs or hosts)")
            continue
        for j, cidr in enumerate(rule.cidrs):
            if cidr.strip() in OPEN_NETWORKS:
                out.append(f"firewall.inbound[{i}].cidrs[{j}]: accepts {what} from anywhere")
    if spec.inbound_default == "accept":
        out.append("firewall.inbound_default: accept lets every inbound connection in")
    return out


def _rule_words(rule: FirewallRule) -> str:
    if rule.proto == "icmp":
        return "icmp"
    proto = "tcp+udp" if rule.proto == "any" else rule.proto
    return f"{proto}/{rule.port}" if rule.port is not None else f"all {proto}"


def _errors(spec: FirewallSpec, *, pull_mode: bool) -> Iterator[str]:
    if not TABLE_NAME.match(spec.table):
        yield (
            f"firewall.table: {spec.table!r} is not a valid table name "
            "(a letter, then letters, digits or _; at most 32)"
        )
    if not 1 <= spec.management_port <= 65535:
        yield f"firewall.management_port: {spec.management_port} is not a port (1-65535)"
    yield from _networks("firewall.management_from", spec.management_from)
    if spec.inbound_default == "drop" and not spec.management_from and not pull_mode:
        yield (
            "firewall.management_from: empty while inbound_default is drop: the controller "
            "would be locked out (list the controller's CIDRs, or manage this host in pull mode)"
        )
    for j, server in enumerate(spec.dns):
        if not is_ip_literal(server):
            yield (
                f"firewall.dns[{j}]: {server!r} must be an IP address "
                "(a resolver cannot be found by name)"
            )
    for j, server in enumerate(spec.ntp):
        if not is_ip_literal(server) and not HOST_NAME.match(server):
            yield f"firewall.ntp[{j}]: {server!r} is neither an IP address nor a host name"
    for kind, rules in (("inbound", spec.inbound), ("outbound", spec.outbound)):
        for i, rule in enumerate(rules):
            yield from _rule_errors(f"firewall.{kind}[{i}]", rule)


def _rule_errors(field: str, rule: FirewallRule) -> Iterator[str]:
    if rule.proto not in ("tcp", "udp", "icmp", "any"):
        yield f"{field}.proto: {rule.proto!r} is not one of tcp, udp, icmp, any"
    if rule.port is not None:
        if rule.proto == "icmp":
            yield f"{field}.port: icmp has no ports"
        elif not 1 <= rule.port <= 65535:
            yield f"{field}.port: {rule.port} is not a port (1-65535)"
    yield from _networks(f"{field}.cidrs", rule.cidrs)
    for j, host in enumerate(rule.hosts):
        if not HOST_NAME.match(host) and not is_ip_literal(host):
            yield f"{field}.hosts[{j}]: {host!r} is not a valid host name"


def _networks(field: str, values: tuple[str, ...]) -> Iterator[str]:
    for j, value in enumerate(values):
        try:
            parse_network(value)
        except ValueError as exc:
            yield f"{field}[{j}]: {value!r} is not a valid address or CIDR ({exc})"
