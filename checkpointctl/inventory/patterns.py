"""``--limit`` host patterns, in Ansible's language.

Terms are separated by ``,`` (or ``:`` where it cannot be part of an IPv6 address or a
regex); a plain term is a host or group name or a glob (which also matches group names),
``all``/``*`` is every host, ``~`` starts a regular expression, ``&term`` intersects and
``!term`` excludes. Plain terms are united first, then intersected, then excluded. A name
that is both a group and a host selects the group, as in Ansible.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping

from checkpointctl.errors import Diagnostic, InventoryError


def _split_pattern(pattern: str) -> list[str]:
    # Ansible accepts ',' and ':' as separators; ':' only when not part of an IPv6 or regex
    parts = [p.strip() for p in pattern.split(",")]
    out: list[str] = []
    for p in parts:
        if p.startswith("~") or p.count(":") > 1:
            out.append(p)
        else:
            out.extend(q.strip() for q in p.split(":"))
    return [p for p in out if p]


def _match_one(term: str, names: list[str], groups: Mapping[str, frozenset[str]]) -> set[str]:
    if term in ("all", "*"):
        return set(names)
    if term in groups:
        return set(groups[term])
    if term.startswith("~"):
        try:
            rx = re.compile(term[1:])
        except re.error as exc:
            raise InventoryError([Diagnostic(f"bad regex in pattern {term!r}: {exc}")]) from None
        return {n for n in names if rx.search(n)}
    hits = {n for n in names if fnmatch.fnmatchcase(n, term)}
    for g, members in groups.items():
        if fnmatch.fnmatchcase(g, term) and any(ch in term for ch in "*?["):
            hits |= members
    return hits


def match_pattern(pattern: str, names: list[str], groups: Mapping[str, frozenset[str]]) -> set[str]:
    """Names selected by ``pattern``: union of plain terms, then ``&`` terms, then ``!`` terms."""
    include: set[str] = set()
    has_plain = False
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in _split_pattern(pattern):
        if term.startswith("!"):
            exclude |= _match_one(term[1:], names, groups)
        elif term.startswith("&"):
            intersect.append(_match_one(term[1:], names, groups))
        else:
            has_plain = True
            include |= _match_one(term, names, groups)
    if not has_plain:
        include = set(names)
    for s in intersect:
        include &= s
    return include - exclude
