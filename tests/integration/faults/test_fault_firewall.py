"""Firewall faults on a full lab host: a ruleset nft rejects, a dockerd restart between two
applies, and a connection open to a destination the allow-list drops.

The host is checked independently (``nft``, ``docker`` inside the host's namespaces). The
dockerd restart is real: the host's dockerd (found through the lab's pidfile) gets SIGTERM,
and the same command line is started again inside the host's namespaces.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from faultlib import docker, host_run, restart_dockerd

from checkpointctl.errors import ResourceError
from checkpointctl.lab import LabInfo, exec_argv
from checkpointctl.model import Host, Planned
from checkpointctl.resources.firewall.resource import PID_PATH, FirewallPlan, FirewallResource
from checkpointctl.spec import DesiredState, FirewallRule, FirewallSpec
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import connect

pytestmark = [pytest.mark.lab, pytest.mark.slow]

CONTROLLER = "10.213.0.1"
KEPT_PORT, CUT_PORT, BLOCKED_PORT = 18091, 18092, 18093


def _spec(*extra_ports: int) -> FirewallSpec:
    return FirewallSpec(
        management_from=(f"{CONTROLLER}/32",),
        outbound=(
            FirewallRule("tcp", 5000, (f"{CONTROLLER}/32",), comment="lab registry"),
            FirewallRule("tcp", KEPT_PORT, (f"{CONTROLLER}/32",), comment="kept"),
            *(FirewallRule("tcp", p, (f"{CONTROLLER}/32",), comment="extra") for p in extra_ports),
        ),
    )


@pytest.fixture(scope="module")
def full(lab: LabInfo, inventory_host: Callable[[str], Host]) -> Iterator[tuple[str, Transport]]:
    name = lab.full_hosts[-1].name
    host = inventory_host(name)
    saved = host_run(name, ["nft", "list", "table", "inet", "checkpointctl"], check=False)
    t = connect(host)
    try:
        yield name, t
    finally:
        t.close()
        host_run(name, ["nft", "delete", "table", "inet", "checkpointctl"], check=False)
        if saved.returncode == 0:
            host_run(name, ["nft", "-f", "-"], input=saved.stdout)


def _converge(t: Transport, state: DesiredState) -> list[Planned[FirewallPlan]]:
    fw = FirewallResource()
    changes = fw.diff(state, fw.read(t, state))
    for change in changes:
        assert isinstance(change.desired, FirewallPlan)
        assert "flush ruleset" not in change.desired.compiled.script
        fw.apply(t, change)
    assert fw.diff(state, fw.read(t, state)) == []
    return changes


def _ruleset(host: str) -> str:
    return host_run(host, ["nft", "list", "ruleset"]).stdout


def _table(host: str, family: str, name: str) -> str:
    out = host_run(host, ["nft", "list", "table", family, name], check=False)
    return out.stdout if out.returncode == 0 else "<absent>"


def _docker_tables(host: str) -> dict[str, str]:
    """Every table but ours, as nft lists it (Docker's ip nat/filter, ...), without counters."""
    tables = host_run(host, ["nft", "list", "tables"]).stdout.split("\n")
    out = {}
    for line in tables:
        parts = line.split()
        if len(parts) == 3 and parts[2] != "checkpointctl":
            text = _table(host, parts[1], parts[2])
            out[f"{parts[1]} {parts[2]}"] = re.sub(r"counter packets \d+ bytes \d+", "", text)
    return out


def test_a_ruleset_nft_rejects_is_checked_first_and_the_live_table_is_unchanged(
    full: tuple[str, Transport],
) -> None:
    name, t = full
    _converge(t, DesiredState(host=name, firewall=_spec()))
    before = _table(name, "inet", "checkpointctl")
    fw = FirewallResource()
    wanted = DesiredState(host=name, firewall=_spec(CUT_PORT))
    (change,) = fw.diff(wanted, fw.read(t, wanted))
    plan = change.desired
    assert isinstance(plan, FirewallPlan)
    # Hand-made input: our compiler cannot emit a script nft rejects (by construction), so the
    # real compiled script gets one statement nft refuses; everything after this is real nft.
    bad = plan.compiled.script.replace(
        f"tcp dport {CUT_PORT} accept", f"tcp dport {CUT_PORT} jump no-such-chain", 1
    )
    assert bad != plan.compiled.script
    broken = dataclasses.replace(plan, compiled=dataclasses.replace(plan.compiled, script=bad))
    with pytest.raises(ResourceError, match="nft refused the new table"):
        fw.apply(t, dataclasses.replace(change, desired=broken))
    assert _table(name, "inet", "checkpointctl") == before
    assert host_run(name, ["test", "-e", PID_PATH], check=False).returncode == 1, "timer armed"


@pytest.fixture
def listener() -> Iterator[dict[int, list[bytes]]]:
    """TCP listeners on the controller's lab address; what each connection received."""
    got: dict[int, list[bytes]] = {KEPT_PORT: [], CUT_PORT: [], BLOCKED_PORT: []}
    socks = []
    stop = threading.Event()

    def serve(s: socket.socket, port: int) -> None:
        s.settimeout(0.5)
        while not stop.is_set():
            try:
                conn, _ = s.accept()
            except OSError:
                continue
            threading.Thread(target=echo, args=(conn, port), daemon=True).start()

    def echo(conn: socket.socket, port: int) -> None:
        conn.settimeout(0.5)
        with conn:
            while not stop.is_set():
                try:
                    data = conn.recv(100)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not data:
                    return
                got[port].append(data)
                with contextlib.suppress(OSError):
                    conn.sendall(data)

    servers = []
    for port in got:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((CONTROLLER, port))
        s.listen()
        socks.append(s)
        server = threading.Thread(target=serve, args=(s, port), daemon=True)
        server.start()
        servers.append(server)
    yield got
    stop.set()
    # Join before closing: a thread still inside accept() keeps the listening socket alive
    # after close(), and the next test's bind() on the same port would fail.
    for server in servers:
        server.join()
    for s in socks:
        s.close()


def _from_container(name: str, image: str, port: int) -> str:
    probe = f"nc -w 3 {CONTROLLER} {port} </dev/null >/dev/null 2>&1 && echo open || echo closed"
    out = host_run(name, ["docker", "-H", "unix:///run/docker.sock", "run", "--rm", image,
                          "sh", "-c", probe])  # fmt: skip
    return out.stdout.strip()


def test_dockerd_restart_between_applies_leaves_docker_tables_and_allowed_egress(
    full: tuple[str, Transport], lab: LabInfo, listener: dict[int, list[bytes]]
) -> None:
    name, _ = full
    docker(name, "pull", lab.checkpoint_image)
    with contextlib.closing(connect(full[1].host)) as t:
        _converge(t, DesiredState(host=name, firewall=_spec()))
    restart_dockerd(lab, name)
    docker_before = _docker_tables(name)
    assert docker_before, "dockerd made no tables of its own"
    ours_before = _table(name, "inet", "checkpointctl")
    with contextlib.closing(connect(full[1].host)) as t:
        changes = _converge(t, DesiredState(host=name, firewall=_spec()))
    assert changes == [], "a dockerd restart is not drift of our table"
    assert _docker_tables(name) == docker_before
    assert _table(name, "inet", "checkpointctl") == ours_before
    assert _from_container(name, lab.checkpoint_image, KEPT_PORT) == "open"
    assert _from_container(name, lab.checkpoint_image, 5000) == "open"
    assert _from_container(name, lab.checkpoint_image, BLOCKED_PORT) == "closed"


CLIENT = r"""
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
s.sendall(b"before\n"); s.recv(100)
print("connected", flush=True)
sys.stdin.readline()
s.settimeout(4)
try:
    s.sendall(b"after\n")
    print("reply" if s.recv(100) else "closed", flush=True)
except OSError as e:
    print("cut", type(e).__name__, flush=True)
"""


def test_a_connection_open_when_its_destination_is_removed_is_cut_after_apply(
    full: tuple[str, Transport], listener: dict[int, list[bytes]]
) -> None:
    name, t = full
    _converge(t, DesiredState(host=name, firewall=_spec(CUT_PORT)))
    client = subprocess.Popen(
        [*exec_argv(name),
         sys.executable, "-c", CLIENT, CONTROLLER, str(CUT_PORT)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert client.stdout is not None
        assert client.stdin is not None
        assert client.stdout.readline().strip() == "connected"
        _converge(t, DesiredState(host=name, firewall=_spec()))  # CUT_PORT removed
        client.stdin.write("go\n")
        client.stdin.flush()
        outcome = client.stdout.readline().strip()
    finally:
        client.kill()
        client.wait()
    assert b"before\n" in b"".join(listener[CUT_PORT]), "the connection never carried data"
    assert b"after\n" not in b"".join(listener[CUT_PORT]), f"data still passed ({outcome})"
    assert outcome.startswith("cut"), outcome
