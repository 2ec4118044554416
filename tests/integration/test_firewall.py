"""The firewall resource against the lab: converge, drift, findings, and lock-out safety.

Every test drives ``FirewallResource`` the way the engine does (read, diff, apply each change,
read and diff again) over a real SSH transport, and checks the host *independently*: ``nft``
run inside the host's namespaces with ``lab.exec_argv`` (the ``on_host`` fixture), and TCP
connections made from inside the host. Tests borrow lt-3 and lt-2 (and, for the container
test, the last full host): our table and ``othertable`` are removed before each test and
whatever was there is put back afterwards.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
import sys
from collections.abc import Callable, Iterator

import pytest

from checkpointctl.errors import ResourceError
from checkpointctl.lab import LabInfo
from checkpointctl.model import Action, Host, Planned
from checkpointctl.resources.firewall.model import Table
from checkpointctl.resources.firewall.parse import parse_ruleset
from checkpointctl.resources.firewall.resource import (
    PID_PATH,
    ROLLBACK_PATH,
    TIMER_NAME,
    FirewallActual,
    FirewallPlan,
    FirewallResource,
)
from checkpointctl.spec import DesiredState, FirewallRule, FirewallSpec
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import connect

pytestmark = pytest.mark.lab

OnHost = Callable[..., "subprocess.CompletedProcess[str]"]
CONTROLLER = "10.213.0.1"
TABLES = (("inet", "checkpointctl"), ("inet", "othertable"))


# --- helpers -----------------------------------------------------------------------------------


InventoryHost = Callable[[str], Host]


def converge(
    resource: FirewallResource, transport: Transport, desired: DesiredState
) -> list[Planned[FirewallPlan]]:
    """What the engine does for one resource: plan, apply each change, verify it converged."""
    changes = resource.diff(desired, resource.read(transport, desired))
    for change in changes:
        resource.apply(transport, change)
    after = resource.diff(desired, resource.read(transport, desired))
    assert after == [], [f.path for c in after for f in c.fields]
    return changes


def nft_table(
    on_host: OnHost, host: str, family: str = "inet", name: str = "checkpointctl"
) -> Table | None:
    """The table as plain ``nft -j list table`` inside the host shows it (None when absent)."""
    proc = on_host(host, ["nft", "-j", "list", "table", family, name], check=False)
    if proc.returncode != 0:
        assert "No such file or directory" in proc.stderr, proc.stderr
        return None
    return parse_ruleset(proc.stdout).table(family, name)


def nft_text(on_host: OnHost, host: str) -> str:
    proc = on_host(host, ["nft", "list", "table", "inet", "checkpointctl"], check=False)
    return proc.stdout if proc.returncode == 0 else "<absent>"


def tcp_from(on_host: OnHost, host: str, address: str, port: int) -> bool:
    """Whether a TCP connection from inside ``host`` to ``address:port`` is established."""
    code = (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3).close()\n"
        "except OSError:\n"
        "    sys.exit(1)\n"
    )
    proc = on_host(host, [sys.executable, "-c", code, address, str(port)], check=False)
    return proc.returncode == 0


ALLOWED_PORT, BLOCKED_PORT = 18081, 18082
"""Ports of the listener the tests run on the controller's lab address (see ``listener``)."""


def spec_for(lab: LabInfo, **overrides: object) -> FirewallSpec:
    """Management from the controller only; egress to the registry (through a named set, as a
    host entry) and to the test listener's ALLOWED_PORT (by CIDR)."""
    base = FirewallSpec(
        management_from=(f"{CONTROLLER}/32",),
        outbound=(
            FirewallRule(proto="tcp", port=5000, hosts=(CONTROLLER,), comment="lab registry"),
            FirewallRule(proto="tcp", port=ALLOWED_PORT, cidrs=(f"{CONTROLLER}/32",)),
        ),
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


class UnguardedFirewall(FirewallResource):
    """TEST ONLY: skips the controller-address guard so a lock-out really happens.

    The guard would refuse the spec before anything is loaded; to prove that commit-confirmed
    recovers a host for real, the test must get a locking-out table past it. Everything else
    (timer, new-connection check, rollback) is the production code path.
    """

    def check_controller(self, transport: Transport, spec: FirewallSpec) -> None:
        return None


def timer_processes() -> list[str]:
    """Command lines of rollback timers still running on this machine (all lab hosts share it)."""
    out = subprocess.run(["pgrep", "-af", TIMER_NAME], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosts(lab: LabInfo) -> tuple[str, str]:
    # lt-3 and lt-2: in every lab the conftest accepts, and not the hosts a benchmark adds
    # and removes at the end of the list.
    light = sorted(lab.light_hosts, key=lambda h: h.index)
    if len(light) < 3:
        pytest.skip("needs three light lab hosts")
    return light[2].name, light[1].name


def wipe(on_host: OnHost, *names: str) -> None:
    """Remove our table and ``othertable`` (whatever a test made) from the hosts."""
    for host in names:
        for family, name in TABLES:
            on_host(host, ["nft", "delete", "table", family, name], check=False)


@contextlib.contextmanager
def borrowed(on_host: OnHost, *names: str) -> Iterator[None]:
    """Start the hosts without our tables and give back afterwards what was there.

    Other sessions may have converged these lab hosts; a test borrows them and must not leave
    them without the firewall someone else applied.
    """
    saved: dict[tuple[str, str, str], str] = {}
    for host in names:
        for family, name in TABLES:
            proc = on_host(host, ["nft", "list", "table", family, name], check=False)
            if proc.returncode == 0:
                saved[(host, family, name)] = proc.stdout
    wipe(on_host, *names)
    try:
        yield
    finally:
        wipe(on_host, *names)
        for (host, _family, _name), text in saved.items():
            on_host(host, ["nft", "-f", "-"], input=text)


LISTENER = """
import select, socket, sys
socks = []
for port in sys.argv[2:]:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((sys.argv[1], int(port)))
    s.listen(16)
    socks.append(s)
print("ready", flush=True)
while True:
    for s in select.select(socks, [], [])[0]:
        s.accept()[0].close()
"""


@pytest.fixture(scope="module")
def listener(lab: LabInfo) -> Iterator[str]:
    """A TCP listener on ALLOWED_PORT and BLOCKED_PORT at the controller's lab address.

    Destinations of our own that no other session converges, so reachability does not depend
    on what others did to the lab's hosts meanwhile. Started here, stopped here by its pid.
    """
    argv = [sys.executable, "-c", LISTENER, CONTROLLER, str(ALLOWED_PORT), str(BLOCKED_PORT)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        yield CONTROLLER
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def clean(on_host: OnHost, hosts: tuple[str, str]) -> Iterator[None]:
    with borrowed(on_host, *hosts):
        yield


@pytest.fixture
def target(
    inventory_host: InventoryHost, hosts: tuple[str, str], clean: None
) -> Iterator[tuple[str, Transport]]:
    name = hosts[0]
    transport = connect(inventory_host(name))
    yield name, transport
    transport.close()


# --- tests -------------------------------------------------------------------------------------


def test_apply_creates_exactly_the_compiled_table_and_second_plan_is_empty(
    lab: LabInfo, target: tuple[str, Transport], on_host: OnHost
) -> None:
    name, t = target
    resource = FirewallResource()
    desired = DesiredState(host=name, firewall=spec_for(lab))
    (change,) = converge(resource, t, desired)
    assert change.action is Action.CREATE
    assert change.address == "firewall/checkpointctl"
    plan = change.desired
    assert isinstance(plan, FirewallPlan)

    # Independently: plain nft inside the host shows our table with exactly the compiled rules.
    assert nft_table(on_host, name) == plan.compiled.table
    raw = json.loads(on_host(name, ["nft", "-j", "list", "ruleset"]).stdout)["nftables"]
    chains = {o["chain"]["name"]: o["chain"] for o in raw if "chain" in o}
    assert (chains["input"]["hook"], chains["input"]["policy"]) == ("input", "drop")
    mgmt = [
        o["rule"]
        for o in raw
        if o.get("rule", {}).get("comment") == "cpctl:management" and o["rule"]["chain"] == "input"
    ]
    assert len(mgmt) == 1
    assert {
        "match": {
            "op": "==",
            "left": {"payload": {"protocol": "ip", "field": "saddr"}},
            "right": CONTROLLER,
        }
    } in mgmt[0]["expr"]

    # Second run: nothing to do. The confirmed apply left no timer behind.
    assert resource.diff(desired, resource.read(t, desired)) == []
    # the outcome is known: neither the timer's pidfile nor the saved table is left
    for leftover in (PID_PATH, ROLLBACK_PATH):
        assert on_host(name, ["test", "-e", leftover], check=False).returncode != 0, leftover
    assert not [p for p in timer_processes() if lab.host(name).address in p]


def test_egress_follows_the_allow_list(
    target: tuple[str, Transport], listener: str, on_host: OnHost, lab: LabInfo
) -> None:
    name, t = target
    assert tcp_from(on_host, name, listener, BLOCKED_PORT), "reachable before the firewall"
    converge(FirewallResource(), t, DesiredState(host=name, firewall=spec_for(lab)))
    assert tcp_from(on_host, name, listener, ALLOWED_PORT)
    assert tcp_from(on_host, name, CONTROLLER, 5000)  # the registry, through the named set
    assert not tcp_from(on_host, name, listener, BLOCKED_PORT)


def test_hand_added_rule_is_drift_naming_it_and_apply_removes_it(
    lab: LabInfo, target: tuple[str, Transport], on_host: OnHost
) -> None:
    name, t = target
    resource = FirewallResource()
    desired = DesiredState(host=name, firewall=spec_for(lab))
    converge(resource, t, desired)
    on_host(
        name,
        ["nft", "add", "rule", "inet", "checkpointctl", "input", "tcp", "dport", "8080", "accept"],
    )

    (change,) = resource.diff(desired, resource.read(t, desired))
    assert change.action is Action.UPDATE
    assert [(f.path, f.before, f.after) for f in change.fields] == [
        ("input: accepts tcp/8080 from any", "present", None)
    ]
    resource.apply(t, change)
    assert resource.diff(desired, resource.read(t, desired)) == []
    assert "8080" not in nft_text(on_host, name)


def test_foreign_table_is_a_finding_and_is_never_touched(
    lab: LabInfo, target: tuple[str, Transport], on_host: OnHost
) -> None:
    name, t = target
    for argv in (
        ["add", "table", "inet", "othertable"],
        [
            "add",
            "chain",
            "inet",
            "othertable",
            "input",
            "{ type filter hook input priority 0; policy accept; }",
        ],
        ["add", "rule", "inet", "othertable", "input", "tcp", "dport", "8080", "accept"],
    ):
        on_host(name, ["nft", *argv])
    before = on_host(name, ["nft", "list", "table", "inet", "othertable"]).stdout

    resource = FirewallResource()
    desired = DesiredState(host=name, firewall=spec_for(lab))
    converge(resource, t, desired)
    messages = [f.message for f in resource.findings(desired, resource.read(t, desired))]
    assert messages == [
        "table inet othertable: chain input (policy accept) accepts tcp/8080 from any "
        "(not managed by checkpointctl; our input chain still drops what the policy does not "
        "allow)"
    ]
    assert on_host(name, ["nft", "list", "table", "inet", "othertable"]).stdout == before


def test_policy_that_excludes_the_controller_is_refused_and_nothing_changes(
    lab: LabInfo, target: tuple[str, Transport], on_host: OnHost
) -> None:
    name, t = target
    resource = FirewallResource()
    converge(resource, t, DesiredState(host=name, firewall=spec_for(lab)))
    before = nft_text(on_host, name)

    locked = DesiredState(host=name, firewall=spec_for(lab, management_from=("10.213.9.0/24",)))
    actual = resource.read(t, locked)
    assert isinstance(actual, FirewallActual)
    (finding,) = [f for f in resource.findings(locked, actual) if f.severity == "error"]
    assert f"sees the controller at {CONTROLLER}" in finding.message
    (change,) = resource.diff(locked, actual)
    with pytest.raises(
        ResourceError, match=rf"refused: the host sees the controller at {CONTROLLER}"
    ):
        resource.apply(t, change)
    assert nft_text(on_host, name) == before


@pytest.mark.parametrize("old", ["table", "absent"])
def test_rollback_restores_the_old_firewall_when_confirmation_fails(
    lab: LabInfo,
    target: tuple[str, Transport],
    on_host: OnHost,
    old: str,
    inventory_host: InventoryHost,
) -> None:
    """A real lock-out: the table loads, the new connection fails, the host's timer restores."""
    name, t = target
    if old == "table":
        converge(FirewallResource(), t, DesiredState(host=name, firewall=spec_for(lab)))
    before = nft_text(on_host, name)

    unguarded = UnguardedFirewall(rollback_after=6, confirm_timeout=2)
    locked = DesiredState(host=name, firewall=spec_for(lab, management_from=("10.213.9.0/24",)))
    (change,) = unguarded.diff(locked, unguarded.read(t, locked))
    with pytest.raises(ResourceError) as failure:
        unguarded.apply(t, change)
    message = str(failure.value)
    assert "rolled back: the new firewall cut off management access" in message
    assert "the host restored its previous rules" in message

    assert nft_text(on_host, name) == before
    fresh = connect(inventory_host(name))  # a brand-new SSH session works again
    try:
        assert fresh.run(["true"]).ok
    finally:
        fresh.close()
    # the outcome is known: neither the timer's pidfile nor the saved table is left
    for leftover in (PID_PATH, ROLLBACK_PATH):
        assert on_host(name, ["test", "-e", leftover], check=False).returncode != 0, leftover


def test_containers_are_held_to_the_same_egress_allow_list(
    lab: LabInfo, on_host: OnHost, listener: str, inventory_host: InventoryHost
) -> None:
    if len(lab.full_hosts) < 2:
        pytest.skip("needs two full lab hosts")
    full = lab.full_hosts[-1].name
    image = lab.checkpoint_image
    docker = ["docker", "-H", "unix:///run/docker.sock"]
    on_host(full, [*docker, "pull", image], timeout=120)
    probe = "nc -w 3 {} {} </dev/null >/dev/null 2>&1 && echo open || echo closed"

    def from_container(address: str, port: int) -> str:
        proc = on_host(
            full,
            [*docker, "run", "--rm", image, "sh", "-c", probe.format(address, port)],
            timeout=60,
        )
        return proc.stdout.strip()

    with borrowed(on_host, full), contextlib.closing(connect(inventory_host(full))) as t:
        assert from_container(listener, BLOCKED_PORT) == "open"
        converge(FirewallResource(), t, DesiredState(host=full, firewall=spec_for(lab)))
        assert from_container(listener, ALLOWED_PORT) == "open"
        assert from_container(CONTROLLER, 5000) == "open"
        assert from_container(listener, BLOCKED_PORT) == "closed"
