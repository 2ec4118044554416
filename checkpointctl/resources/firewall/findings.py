"""Openings outside checkpointctl's table: what other tables let in, reported, never changed.

checkpointctl owns one table and never edits another, but a person reviewing a checkpoint
wants to know about every way in that the policy did not ask for. Two kinds are recognised
(best effort, on the canonical form of the ruleset):

- another table's base chain on the ``input`` hook with an accepting rule for a port or
  protocol (an nftables packet must pass every base chain on a hook, so our table still drops
  what the policy does not allow; the finding says so when that is the case);
- a DNAT rule, such as Docker's ``table ip nat`` chain ``DOCKER`` for a published container
  port, which sends inbound traffic to a container through the forward hook.

Listening sockets are out of scope.
"""

from __future__ import annotations

from checkpointctl.model import Finding
from checkpointctl.resources.firewall.model import Rule, Ruleset, Table, describe, printable

_HARMLESS_STATES = {"established", "related"}


def foreign_openings(ruleset: Ruleset, own: Table | None, address: str) -> list[Finding]:
    """Findings for every opening in tables other than ``own`` (which may be absent).

    ``address`` is the resource address the findings are filed under (``firewall/<table>``).
    """
    own_key = (own.family, own.name) if own else None
    guarded = own is not None and any(c.hook == "input" and c.policy == "drop" for c in own.chains)
    out: list[Finding] = []
    for table in ruleset.tables:
        if (table.family, table.name) == own_key:
            continue
        for chain in table.chains:
            for rule in chain.rules:
                if rule.verdict.startswith("dnat"):
                    out.append(Finding(address, printable(_dnat_words(table, rule))))
                elif chain.hook == "input" and rule.verdict == "accept" and _opens(rule):
                    words = describe(rule, "input", table.set_labels())
                    note = (
                        "; our input chain still drops what the policy does not allow"
                        if guarded
                        else ""
                    )
                    message = (
                        f"{table.title}: chain {chain.name} (policy {chain.policy}) "
                        f"{words} (not managed by checkpointctl{note})"
                    )
                    out.append(Finding(address, printable(message)))
    return out


def _opens(rule: Rule) -> bool:
    """An accept that lets new traffic in: not loopback-only, not replies to our own traffic."""
    if rule.iif == "lo":
        return False
    if rule.ct_state and set(rule.ct_state) <= _HARMLESS_STATES:
        return False
    return bool(rule.dport or rule.proto or not (rule.saddr or rule.iif or rule.ct_state))


def _dnat_words(table: Table, rule: Rule) -> str:
    proto = rule.proto.replace(",", "+") or "any"
    what = f"{proto}/{','.join(rule.dport)}" if rule.dport else proto
    target = rule.verdict.removeprefix("dnat").removeprefix(" to").strip()
    where = f" from {', '.join(rule.saddr)}" if rule.saddr else ""
    if rule.daddr:
        where += f" to {', '.join(rule.daddr)}"
    return f"{table.title}: DNAT {what}{where} → {target} (a published container port)"
