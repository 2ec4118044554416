"""The workload in pyinfra (3.x), through its Python API at its best parallel settings.

pyinfra's deploy files run once per host in turn while operations are collected, so a deploy
that reads facts would read them host after host; its API instead connects every host at once
(gevent) and gathers facts in parallel, which is what its ``fact`` command does. Here each host
gets one greenlet that reads the workload's three facts (``server.Command``) over pyinfra's
paramiko connection, with the lab key and strict host key checking against the lab's
known_hosts, ``PARALLEL`` greenlets at a time (default: one per host, capped at 50 like the
other tools' forks).

Run with the bench venv: bench/.venv/bin/python bench/pyinfra_drift.py FLEET.json EXPECTED.json
Prints one JSON line: {"drift": [...], "errors": {...}}.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import gevent
from pyinfra.api import Config, Inventory, State
from pyinfra.api.connect import connect_all, disconnect_all
from pyinfra.api.facts import get_fact
from pyinfra.facts.server import Command

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import FIND_META, FIND_SHA, LIST_TABLE, Expected, compare


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("fleet")
    ap.add_argument("expected")
    ap.add_argument("--parallel", type=int, default=50)
    args = ap.parse_args()
    fleet = json.loads(Path(args.fleet).read_text())
    e = json.loads(Path(args.expected).read_text())
    exp = Expected(e["meta"], e["sha256"], e["table"])
    names = list(fleet["addresses"])
    hosts = [(n, {"ssh_hostname": fleet["addresses"][n]}) for n in names]
    inventory = Inventory(
        (
            hosts,
            {
                "ssh_user": "root",
                "ssh_key": fleet["identity_file"],
                "ssh_known_hosts_file": fleet["known_hosts"],
                "ssh_strict_host_key_checking": "yes",
                "ssh_allow_agent": False,
                "ssh_look_for_keys": False,
            },
        )
    )
    config = Config(PARALLEL=min(args.parallel, len(names)), CONNECT_TIMEOUT=60)
    state = State(inventory, config)
    connect_all(state)
    # pyinfra fails a host on a non-zero exit; a missing table is drift, not an error here
    commands = [shlex.join(FIND_META), shlex.join(FIND_SHA), shlex.join(LIST_TABLE) + " || true"]

    def read(host: object) -> bool:
        outs = [get_fact(state, host, Command, kwargs={"command": c}) for c in commands]
        return compare(exp, *(o or "" for o in outs))

    active = list(state.inventory.get_active_hosts())
    greenlets = {state.pool.spawn(read, h): h for h in active}
    gevent.joinall(list(greenlets))
    drift, errors = [], {}
    for g, h in greenlets.items():
        if g.exception is not None:
            errors[h.name] = repr(g.exception)
        elif g.value is False:
            drift.append(h.name)
    for n in names:
        if n not in {h.name for h in active}:
            errors[n] = "not connected"
    disconnect_all(state)
    print(json.dumps({"drift": sorted(drift), "errors": errors}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
