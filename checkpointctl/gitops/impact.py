"""What a change to the repository does to each host's desired state: a pure comparison.

Input is each host's desired state at two revisions, as plain data (``state_to_data``); output
is per host, per resource (the plan's addresses: ``firewall/<table>``, ``credential/<name>``,
``collection/<container>``, ``container/<name>``, plus ``settings`` for the rest), per field.
Lists of equal items in another order are one value change; otherwise a list change is the
items added and removed (``outbound: +1 rule``). Secrets compare by value and never print.

Totals group identical changes across hosts, which is what a reviewer of a fleet-wide change
wants first: "37 hosts: container/probe image.digest …; 2 hosts: firewall outbound +1 rule".
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence

from checkpointctl.model import Secret
from checkpointctl.model.impact import (
    ABSENT,
    ChangeGroup,
    FieldDelta,
    HostImpact,
    Impact,
    ResourceDelta,
)
from checkpointctl.report.impact import items_summary, value_summary

_RESOURCE_KEYS = frozenset({"host", "firewall", "credentials", "collection", "containers"})
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


# --- values ----------------------------------------------------------------------------------


def _canon_default(obj: object) -> object:
    if isinstance(obj, Secret):
        return {"<secret>": obj.digest()}  # compared only; never rendered
    raise TypeError(f"unexpected value of type {type(obj).__name__}")


def canon(value: object) -> str:
    """A canonical text of a value for equality and grouping (``1`` ≠ ``true``; secrets by
    digest). Internal only: it may hold secret digests, so it is never shown."""
    if value is ABSENT:
        return "<absent>"
    return json.dumps(value, sort_keys=True, default=_canon_default)


# --- diff ------------------------------------------------------------------------------------


def _join(path: str, key: object) -> str:
    text = str(key)
    part = text if _SIMPLE_KEY.match(text) else f"[{json.dumps(text)}]"
    if not path:
        return part
    return path + part if part.startswith("[") else f"{path}.{part}"


def _items_delta(before: list[object], after: list[object]) -> tuple[list[object], list[object]]:
    """(removed, added) between two lists taken as multisets, each in its list's order."""
    b_count = Counter(canon(v) for v in before)
    a_count = Counter(canon(v) for v in after)
    removed: list[object] = []
    added: list[object] = []
    seen: Counter[str] = Counter()
    for v in before:
        k = canon(v)
        seen[k] += 1
        if seen[k] > a_count[k]:
            removed.append(v)
    seen = Counter()
    for v in after:
        k = canon(v)
        seen[k] += 1
        if seen[k] > b_count[k]:
            added.append(v)
    return removed, added


def diff_values(before: object, after: object, path: str = "") -> list[FieldDelta]:
    """Field-level differences between two values (mappings recursed, lists as item sets)."""
    if canon(before) == canon(after):
        return []
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[FieldDelta] = []
        keys = list(before) + [k for k in after if k not in before]
        for k in keys:
            b, a = before.get(k, ABSENT), after.get(k, ABSENT)
            if b is ABSENT and isinstance(a, dict) and a:
                out.extend(diff_values({}, a, _join(path, k)))
            else:
                out.extend(diff_values(b, a, _join(path, k)))
        return out
    if isinstance(before, list) and isinstance(after, list):
        removed, added = _items_delta(before, after)
        if removed or added:
            return [FieldDelta(path, added=tuple(added), removed=tuple(removed))]
    return [FieldDelta(path, before, after)]


def resources(data: Mapping[str, object]) -> dict[str, dict[str, object]]:
    """A host's desired state split by resource address, in apply order, then ``settings``."""
    out: dict[str, dict[str, object]] = {}

    def items(key: str) -> list[dict[str, object]]:
        value = data.get(key)
        return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []

    fw = data.get("firewall")
    if isinstance(fw, dict):
        out[f"firewall/{fw.get('table')}"] = fw
    for cred in items("credentials"):
        out[f"credential/{cred.get('name')}"] = cred
    for col in items("collection"):
        out[f"collection/{col.get('container')}"] = col
    for c in items("containers"):
        out[f"container/{c.get('name')}"] = c
    out["settings"] = {k: v for k, v in data.items() if k not in _RESOURCE_KEYS}
    return out


def diff_host(before: Mapping[str, object], after: Mapping[str, object]) -> list[ResourceDelta]:
    """Per-resource differences of one host present on both sides."""
    b_res, a_res = resources(before), resources(after)
    out: list[ResourceDelta] = []
    for address in list(b_res) + [a for a in a_res if a not in b_res]:
        if address not in a_res:
            out.append(ResourceDelta(address, "delete"))
        elif address not in b_res:
            out.append(ResourceDelta(address, "create", tuple(diff_values({}, a_res[address]))))
        else:
            fields = diff_values(b_res[address], a_res[address])
            if fields:
                out.append(ResourceDelta(address, "update", tuple(fields)))
    return out


# --- grouping --------------------------------------------------------------------------------


def _group_key(address: str, delta: FieldDelta) -> tuple[str, ...]:
    return (
        address,
        delta.path,
        canon(delta.before),
        canon(delta.after),
        canon(list(delta.added)),
        canon(list(delta.removed)),
    )


def group_changes(hosts: Sequence[HostImpact]) -> tuple[ChangeGroup, ...]:
    """Identical changes across hosts, most widespread first (then in order of appearance)."""
    groups: dict[tuple[str, ...], tuple[str, str, str, list[str]]] = {}

    def add(key: tuple[str, ...], address: str, path: str, summary: str, host: str) -> None:
        entry = groups.setdefault(key, (address, path, summary, []))
        if host not in entry[3]:
            entry[3].append(host)

    for h in hosts:
        if h.status == "added":
            add(("+host",), "", "", "newly managed (selected by no policy before)", h.host)
        elif h.status == "removed":
            add(("-host",), "", "", "no longer managed (selected by no policy now)", h.host)
        for r in h.resources if h.status == "changed" else ():
            if r.action != "update":
                verb = "created" if r.action == "create" else "deleted"
                add((r.address, r.action), r.address, "", verb, h.host)
                continue
            for f in r.fields:
                summary = items_summary(r.address, f) if f.is_items else value_summary(f)
                add(_group_key(r.address, f), r.address, f.path, summary, h.host)
    ordered = sorted(enumerate(groups.values()), key=lambda e: (-len(e[1][3]), e[0]))
    return tuple(ChangeGroup(a, p, s, tuple(hs)) for _, (a, p, s, hs) in ordered)


def compare(
    base: Mapping[str, Mapping[str, object]],
    head: Mapping[str, Mapping[str, object]],
    *,
    base_label: str,
    head_label: str,
    inventory: str,
    notes: Sequence[str] = (),
) -> Impact:
    """The impact of going from ``base`` to ``head`` (host name → desired-state data)."""
    hosts: list[HostImpact] = []
    for name in list(head) + [n for n in base if n not in head]:
        if name not in base:
            created = tuple(ResourceDelta(a, "create") for a in resources(head[name]))
            hosts.append(HostImpact(name, "added", created))
        elif name not in head:
            deleted = tuple(ResourceDelta(a, "delete") for a in resources(base[name]))
            hosts.append(HostImpact(name, "removed", deleted))
        else:
            changes = tuple(diff_host(base[name], head[name]))
            hosts.append(HostImpact(name, "changed" if changes else "unchanged", changes))
    return Impact(
        base=base_label,
        head=head_label,
        inventory=inventory,
        hosts=tuple(hosts),
        groups=group_changes(hosts),
        notes=tuple(notes),
    )
