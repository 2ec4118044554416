"""The bench fleet: light lab hosts, an inventory for them, their expected state, and drift.

The lab is shared (other people's tests use cp-1, cp-2 and lt-1..lt-3, and the firewall tests
pick the *last* two light hosts), so the bench fleet starts at ``lt-4`` and the lab is grown to
``3 + N + 2`` light hosts while the bench runs, then given back the shape it had. Only for
N = 500 (the lab's maximum of light hosts) is every light host read; the bench never writes
to a host outside ``lt-4 .. lt-N+3``.

Setup is done with checkpointctl itself: ``apply`` of ``bench/policy`` converges the fleet,
then a few hosts are drifted on purpose, each in a different way, by commands run inside the
host (``lab exec``), not through any tool under test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
POLICY = BENCH / "policy"
WORK = BENCH / "results" / "work"
VAULT_KEY = BENCH / "vault.key"
"""Public, for the bench only; given to checkpointctl as $CHECKPOINTCTL_VAULT_KEY_FILE."""
FIRST = 4
"""lt-1..lt-3 belong to the integration tests."""
SPARE = 2
"""Light hosts past the bench fleet, for the firewall tests that use the last two."""
TABLE = ("inet", "checkpointctl")
CRED_DIR = "/etc/checkpoint/credentials"


def checkpointctl() -> str:
    return str(Path(sys.executable).parent / "checkpointctl")


def ctl_env() -> dict[str, str]:
    """checkpointctl's environment: the bench's vault key."""
    import os

    return {**os.environ, "CHECKPOINTCTL_VAULT_KEY_FILE": str(VAULT_KEY)}


def lab_status() -> tuple[int, int]:
    """(full, light) hosts of the running lab, (0, 0) when none."""
    from checkpointctl import lab

    st = lab.status()
    full = sum(1 for h in st.hosts if h.kind == "full")
    return full, len(st.hosts) - full


def lab_up(full: int, light: int, *, bastion: bool = False) -> None:
    extra = ["--bastion"] if bastion else []
    subprocess.run(
        [checkpointctl(), "lab", "up", "--hosts", str(full), "--light", str(light), *extra],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def variant(fleet: Fleet, name: str, overrides: dict[str, Any]) -> Fleet:
    """The same fleet under another inventory: ``overrides`` replace its ``all.vars``."""
    doc = yaml.safe_load(fleet.inventory.read_text())
    doc["all"]["vars"].update(overrides)
    path = fleet.inventory.with_name(f"inventory-{fleet.n}-{name}.yml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Fleet(fleet.hosts, fleet.addresses, path, fleet.lab_vars)


@dataclass(frozen=True)
class Fleet:
    """N light hosts and the files that describe them."""

    hosts: tuple[str, ...]
    addresses: dict[str, str]
    inventory: Path
    lab_vars: dict[str, Any]

    @property
    def n(self) -> int:
        return len(self.hosts)

    @property
    def identity_file(self) -> str:
        return str(self.lab_vars["identity_file"])

    @property
    def known_hosts(self) -> str:
        return str(self.lab_vars["known_hosts"])


def bench_names(n: int, total_light: int) -> list[str]:
    """lt-4 .. lt-(n+3); when that does not fit the lab (N = 500), every light host."""
    if FIRST + n - 1 <= total_light:
        return [f"lt-{i}" for i in range(FIRST, FIRST + n)]
    return [f"lt-{i}" for i in range(1, n + 1)]


def writable(names: Sequence[str], total_light: int) -> list[str]:
    """The hosts the bench may change: never lt-1..3 nor the last two light hosts."""
    last = total_light - SPARE
    return [h for h in names if FIRST <= int(h.split("-")[1]) <= last]


def make_fleet(n: int) -> Fleet:
    """Write the bench inventory for ``n`` light hosts of the running lab."""
    from checkpointctl import lab

    info = lab.info()
    doc = yaml.safe_load(Path(info.inventory).read_text())
    light_hosts = doc["all"]["children"]["lab_light"]["hosts"]
    names = bench_names(n, len(light_hosts))
    missing = [h for h in names if h not in light_hosts]
    if missing:
        raise SystemExit(f"the lab lacks {missing[:3]}...; grow it first")
    addresses = {h: str(light_hosts[h]["address"]) for h in names}
    from checkpointctl.lab.layout import BASTION_MANAGEMENT_CIDR

    # management from the controller and the bastion, so the bastion rows reach the same hosts
    variables = {**doc["all"]["vars"], "controller_cidr": BASTION_MANAGEMENT_CIDR}
    inv = {
        "all": {
            "vars": variables,
            "children": {"bench": {"hosts": {h: {"address": addresses[h]} for h in names}}},
        }
    }
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"inventory-{n}.yml"
    path.write_text(yaml.safe_dump(inv, sort_keys=False))
    return Fleet(tuple(names), addresses, path, dict(doc["all"]["vars"]))


def names_per_host(fleet: Fleet, per_host: int) -> Fleet:
    """The same hosts under ``per_host`` inventory names each (``lt-7`` → ``lt-7-n01`` ..):
    a fleet of ``per_host × N`` names for a read-only run (drift), which only reads."""
    doc = yaml.safe_load(fleet.inventory.read_text())
    addresses = {
        f"{h}-n{k:02d}": fleet.addresses[h] for h in fleet.hosts for k in range(1, per_host + 1)
    }
    doc["all"]["children"] = {"bench": {"hosts": {n: {"address": a} for n, a in addresses.items()}}}
    path = fleet.inventory.with_name(f"inventory-{len(addresses)}-names.yml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return Fleet(tuple(addresses), addresses, path, fleet.lab_vars)


def base_host(name: str) -> str:
    """The light host behind a name of :func:`names_per_host` (``lt-7-n01`` → ``lt-7``)."""
    return name.rsplit("-n", 1)[0]


def on_host(host: str, argv: Sequence[str], *, stdin: bytes | None = None) -> bytes:
    """Run argv inside a lab host's namespaces (not over SSH: the tools are not involved)."""
    from checkpointctl import lab

    proc = subprocess.run(
        [*lab.exec_argv(host), *argv], input=stdin, capture_output=True, check=True
    )
    return proc.stdout


def converge(fleet: Fleet, hosts: Sequence[str], tries: int = 3) -> None:
    """``checkpointctl apply`` the bench policy to ``hosts`` (setup, not measured).

    A host that fails is tried again (apply is idempotent): on a loaded machine a firewall's
    access check can time out and roll the table back, which the next try fixes.
    """
    todo = list(hosts)
    out = WORK / "setup.json"
    for _ in range(tries):
        if not todo:
            return
        out.unlink(missing_ok=True)
        proc = subprocess.run(
            [
                checkpointctl(),
                "apply",
                str(POLICY),
                "-i",
                str(fleet.inventory),
                "--limit",
                ",".join(todo),
                "--forks",
                "50",
                "-q",
                "--audit-log",
                str(WORK / "setup-audit.jsonl"),
                "--format",
                "json",
                "-o",
                str(out),
            ],
            capture_output=True,
            text=True,
            env=ctl_env(),
        )
        if proc.returncode == 0:
            return
        if not out.exists():
            raise SystemExit(f"bench setup: apply failed: {proc.stderr[-2000:]}")
        report = json.loads(out.read_text())
        bad = [h for h in report["hosts"] if h["status"] not in ("converged", "in-sync")]
        todo = [h["host"] for h in bad]
    summary = [(h["host"], h["status"], (h.get("error") or "")[:200]) for h in bad[:3]]
    raise SystemExit(f"bench setup: apply failed on {len(bad)} host(s): {summary}")


# -- drift on purpose ------------------------------------------------------------------------

DRIFTS = ("content", "mode", "firewall", "stale-file")


def drifted_hosts(names: Sequence[str], total_light: int) -> dict[str, str]:
    """Which hosts get which drift: about one in 25, each kind in turn (at least one)."""
    pool = writable(names, total_light)
    step = 25
    picks = pool[step - 1 :: step] or pool[-1:]
    return {h: DRIFTS[i % len(DRIFTS)] for i, h in enumerate(picks)}


def make_drift(host: str, kind: str) -> None:
    """Change one thing on the host, as an operator's stray command would."""
    if kind == "content":
        on_host(host, ["sh", "-c", 'printf x >> "$1"', "sh", f"{CRED_DIR}/api-login"])
    elif kind == "mode":
        on_host(host, ["chmod", "0644", f"{CRED_DIR}/shop-login"])
    elif kind == "firewall":
        on_host(
            host,
            ["nft", "add", "rule", *TABLE, "input", "tcp", "dport", "8080", "accept"],
        )
    elif kind == "stale-file":
        on_host(
            host,
            ["sh", "-c", 'umask 077; printf "{}" > "$1"', "sh", f"{CRED_DIR}/old-login"],
        )
    else:  # pragma: no cover
        raise ValueError(kind)


@dataclass(frozen=True)
class Expected:
    """What an in-sync host looks like, as the non-checkpointctl tools compare it.

    Taken from a converged host that checkpointctl reports in sync: path → "mode uid gid",
    path → sha256 of the content, and the table listing without handles.
    """

    meta: dict[str, str]
    sha256: dict[str, str]
    table: str

    def to_json(self) -> dict[str, Any]:
        return {"meta": self.meta, "sha256": self.sha256, "table": self.table}


FIND_META = ["find", "/etc/checkpoint", "-type", "f", "-printf", "%m %U %G %p\\n"]
FIND_SHA = ["find", "/etc/checkpoint", "-type", "f", "-exec", "sha256sum", "--", "{}", "+"]
LIST_TABLE = ["nft", "list", "table", *TABLE]


def parse_meta(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        mode, uid, gid, path = line.split(" ", 3)
        out[path] = f"{int(mode, 8):o} {uid} {gid}"
    return out


def parse_sha(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        digest, path = line.split(None, 1)
        out[path] = digest
    return out


def expected_from(host: str) -> Expected:
    return Expected(
        parse_meta(on_host(host, FIND_META).decode()),
        parse_sha(on_host(host, FIND_SHA).decode()),
        on_host(host, LIST_TABLE).decode(),
    )


def norm_table(text: str) -> str:
    """The listing without trailing blanks (some tools strip output, some do not)."""
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def compare(exp: Expected, meta: str, sha: str, table: str) -> bool:
    """Whether a host's three answers match the expected state (True = in sync)."""
    return (
        parse_meta(meta) == exp.meta
        and parse_sha(sha) == exp.sha256
        and norm_table(table) == norm_table(exp.table)
    )
