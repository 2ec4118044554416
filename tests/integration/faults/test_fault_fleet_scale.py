"""200 light hosts with busy sshds (``MaxStartups 10:30:60``), hosts that drop packets, one
that refuses our key: the run finishes, with bounded concurrency, timeouts and retries.

For real, no mock: the lab grows to 200 light hosts whose sshd is started with
``MaxStartups 10:30:60`` (``CHECKPOINTCTL_LAB_SSHD_MAXSTARTUPS``; hosts that were already up get
the line rewritten and a SIGHUP, and it is put back afterwards). The first 30 hosts also get
15 idle unauthenticated connections each, held for 3 s from the moment the engine starts to
connect to that host, so their sshd drops new connections with probability 37 % as sshd's
``MaxStartups`` prescribes; three hosts drop every packet to port 22 (an nft rule inside the
host) and one host is given a key it does not trust. The engine plans a firewall table for
every host (``drift``: connect, lock-free read, diff) with 50 workers. It is a read-only run on
purpose: what is under test is connecting and talking to a busy fleet, and a 200-host apply is
several minutes on this 2-core machine (apply twice is proven in test_fault_apply_twice.py).

Measured numbers (retries, drops, time) are printed; ``docs/reliability.md`` quotes a run.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from faultlib import host_run

from checkpointctl import lab as lab_api
from checkpointctl.engine.run import ApplyOptions, run_fleet
from checkpointctl.errors import LabError
from checkpointctl.lab import LabInfo
from checkpointctl.lab import hosts as lab_hosts
from checkpointctl.lab.layout import MAX_LIGHT, lab_paths
from checkpointctl.lab.sshd import MAX_STARTUPS_ENV, write_keypair
from checkpointctl.model import Host, HostStatus, RunReport
from checkpointctl.resources.firewall.resource import FirewallResource
from checkpointctl.spec import DesiredState, FirewallRule, FirewallSpec
from checkpointctl.transport import ssh as _ssh  # noqa: F401 (imported now, not mid-burst)
from checkpointctl.transport.base import Transport
from checkpointctl.transport.connect import connect

pytestmark = [pytest.mark.lab, pytest.mark.slow]

LIGHT = 200


def _first() -> int:
    """Where the 200 hosts start: fresh ones past the lab's light hosts when there is room (on
    CI, lt-4..lt-203, started by this test's ``lab up`` with the MaxStartups it needs), else
    the last 200 the lab allows (a lab someone grew: those get the line and a SIGHUP)."""
    with contextlib.suppress(Exception):
        return min(max(4, lab_api.status().light + 1), MAX_LIGHT - LIGHT + 1)
    return 4


FIRST = _first()
LAST = FIRST + LIGHT - 1
MAX_STARTUPS = "10:30:60"
DROPPING = tuple(f"lt-{i}" for i in range(LAST - 2, LAST + 1))
BAD_KEY = f"lt-{LAST - 3}"
NOISY = tuple(f"lt-{i}" for i in range(FIRST, FIRST + 30))
NOISE_CONNECTIONS = 15
NOISE_HOLD = 3.0
CONNECT_TIMEOUT = 5.0
FORKS = 50
FAULT_TABLE = "cpfault"
DROP_RULES = f"""table inet {FAULT_TABLE} {{
  set attempts {{ type ipv4_addr . inet_service; flags dynamic; }}
  chain input {{
    type filter hook input priority -300; policy accept;
    tcp dport 22 tcp flags & (syn | ack) == syn add @attempts {{ ip saddr . tcp sport }} drop
    tcp dport 22 drop
  }}
}}
"""
SPEC = FirewallSpec(
    management_from=("10.213.0.1/32",),
    outbound=(FirewallRule("tcp", 5000, ("10.213.0.1/32",), comment="lab registry"),),
)


def _up(full: int, light: int) -> LabInfo:
    try:
        return lab_api.up(full=full, light=light)
    except LabError:  # a veth vanished with its namespace under a concurrent `up`: once more
        time.sleep(2)
        return lab_api.up(full=full, light=light)


def _banner(address: str) -> bool:
    try:
        with socket.create_connection((address, 22), timeout=1.0) as s:
            return s.recv(8).startswith(b"SSH-")
    except OSError:
        return False


def _set_max_startups(info: LabInfo, names: list[str], value: str | None) -> list[str]:
    """Rewrite ``MaxStartups`` of these hosts' sshd and SIGHUP it; return the hosts changed.
    ``value`` None puts back the lab's default line."""
    paths = lab_paths()
    changed = []
    for name in names:
        host = info.host(name)
        cfg = paths.host_dir(host) / "sshd_config"
        text = cfg.read_text()
        line = f"MaxStartups {value or '100:30:200'}"
        if line in text.splitlines():
            continue
        cfg.write_text(re.sub(r"(?m)^MaxStartups .*$", line, text))
        pid = lab_hosts.pids(paths, host).sshd
        assert pid is not None, f"{name}: sshd not running"
        os.kill(pid, signal.SIGHUP)  # sshd re-executes itself with the new config
        changed.append(name)
    deadline = time.monotonic() + 30
    for name in changed:
        while not _banner(info.host(name).address):
            assert time.monotonic() < deadline, f"{name}: sshd did not come back after SIGHUP"
            time.sleep(0.1)
    return changed


@pytest.fixture(scope="module")
def fleet(lab: LabInfo) -> Iterator[tuple[LabInfo, list[str]]]:
    """The lab with 200 light hosts on ``MaxStartups 10:30:60``; shrunk back afterwards."""
    before = lab_api.status()
    old_env = os.environ.get(MAX_STARTUPS_ENV)
    os.environ[MAX_STARTUPS_ENV] = MAX_STARTUPS
    try:
        info = _up(max(2, before.full), max(LAST, before.light))
    finally:
        if old_env is None:
            os.environ.pop(MAX_STARTUPS_ENV, None)
        else:
            os.environ[MAX_STARTUPS_ENV] = old_env
    names = [f"lt-{i}" for i in range(FIRST, FIRST + LIGHT)]
    rewritten = _set_max_startups(info, names, MAX_STARTUPS)
    for name in DROPPING:
        host_run(name, ["nft", "-f", "-"], input=DROP_RULES)
    try:
        yield info, names
    finally:
        for name in DROPPING:
            with contextlib.suppress(AssertionError, LabError):
                host_run(name, ["nft", "delete", "table", "inet", FAULT_TABLE], check=False)
        _set_max_startups(info, rewritten, None)
        now = lab_api.status()
        # shrink back only if nobody grew the shared lab meanwhile (their hosts are theirs)
        if before.light < LAST and now.light == LAST:
            _up(max(2, before.full), before.light)


@dataclass
class Noise:
    """Idle unauthenticated connections to the first hosts, closed 3 s after the engine starts
    connecting to each (so the burst overlaps that host's first connect attempts)."""

    sockets: dict[str, list[socket.socket]] = field(default_factory=dict)
    timers: list[threading.Timer] = field(default_factory=list)

    def open(self, info: LabInfo) -> None:
        for name in NOISY:
            addr = info.host(name).address
            self.sockets[name] = [
                socket.create_connection((addr, 22), timeout=5) for _ in range(NOISE_CONNECTIONS)
            ]
        time.sleep(0.5)  # sshd has accepted them all: they count against MaxStartups

    def start_countdown(self, name: str) -> None:
        if name in self.sockets:
            timer = threading.Timer(NOISE_HOLD, self.close, args=(name,))
            self.timers.append(timer)
            timer.start()

    def close(self, name: str) -> None:
        for s in self.sockets.pop(name, []):
            s.close()

    def close_all(self) -> None:
        for t in self.timers:
            t.cancel()
        for name in list(self.sockets):
            self.close(name)


@dataclass
class Measured:
    attempts: dict[str, int] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    """The controller's source port of each host's one session (to find it in sshd's log)."""
    lock: threading.Lock = field(default_factory=threading.Lock)


def _hosts(info: LabInfo, names: list[str], bad_key: Path) -> list[Host]:
    out = []
    for name in names:
        h = info.host(name)
        out.append(
            Host(
                name=name,
                address=h.address,
                identity_file=str(bad_key if name == BAD_KEY else info.identity_file),
                known_hosts=str(info.known_hosts),
                connect_timeout=CONNECT_TIMEOUT,
            )
        )
    return out


def _log_sizes(info: LabInfo, names: list[str]) -> dict[str, int]:
    paths = lab_paths()
    return {n: (paths.host_dir(info.host(n)) / "sshd.log").stat().st_size for n in names}


def _log_since(info: LabInfo, name: str, offset: int) -> str:
    path = lab_paths().host_dir(info.host(name)) / "sshd.log"
    with path.open("rb") as f:
        f.seek(offset)
        return f.read().decode("utf-8", "replace")


def _run(
    info: LabInfo, names: list[str], bad_key: Path, noise: Noise | None
) -> tuple[RunReport, Measured, float]:
    measured = Measured()

    def counting_connect(host: Host) -> Transport:
        if noise is not None:
            noise.start_countdown(host.name)
        t = connect(host)
        with measured.lock:
            measured.attempts[host.name] = getattr(t, "connect_attempts", 1)
            measured.ports[host.name] = t.connection.sock.getsockname()[1]  # type: ignore[attr-defined]
        return t

    states = {n: DesiredState(host=n, firewall=SPEC, policies=("fault-scale",)) for n in names}
    started = time.monotonic()
    report = run_fleet(
        _hosts(info, names, bad_key),
        states,
        "drift",
        counting_connect,
        forks=FORKS,
        resources=[FirewallResource()],
        options=ApplyOptions(lock_wait=30.0, health_gate=False),
    )
    return report, measured, time.monotonic() - started


def test_200_busy_hosts_with_dropping_and_refusing_ones_finish_with_retries_and_no_auth_retry(
    fleet: tuple[LabInfo, list[str]], tmp_path: Path
) -> None:
    info, names = fleet
    bad_key = tmp_path / "untrusted_key"
    write_keypair(bad_key, "not-trusted")
    good = [n for n in names if n not in DROPPING and n != BAD_KEY]

    noise = Noise()
    noise.open(info)
    sizes = _log_sizes(info, names)
    try:
        first, measured, seconds = _run(info, names, bad_key, noise)
    finally:
        noise.close_all()
    by_host = {r.host: r for r in first.hosts}

    # every host has an answer: the run finished
    assert sorted(by_host) == sorted(names)
    bad = {n: (r.status.value, r.error) for n, r in by_host.items() if n in good}
    bad = {n: v for n, v in bad.items() if v[0] not in ("drift", "in-sync")}
    assert bad == {}, bad
    for name in DROPPING:
        result = by_host[name]
        assert result.status is HostStatus.UNREACHABLE
        assert f"timed out after {CONNECT_TIMEOUT:g}s" in (result.error or "")
        assert "tried" not in (result.error or "")  # a timeout is not retried
        # independent view: the host saw our SYNs (each connect is one source port). On a lab
        # only this test uses, that is exactly one port; other controllers on a shared lab
        # come from the same address, so more ports are not ours to count against.
        listed = host_run(name, ["nft", "list", "set", "inet", FAULT_TABLE, "attempts"]).stdout
        seen_ports = len(re.findall(r"10\.213\.0\.1 \. \d+", listed))
        assert seen_ports >= 1, listed
        print(f"{name}: SYNs from {seen_ports} source port(s)")
        host_run(name, ["nft", "flush", "set", "inet", FAULT_TABLE, "attempts"])
    bad_key_result = by_host[BAD_KEY]
    assert bad_key_result.status is HostStatus.UNREACHABLE
    assert "authentication as root" in (bad_key_result.error or "")
    assert "tried" not in (bad_key_result.error or "")
    refused_log = _log_since(info, BAD_KEY, sizes[BAD_KEY])
    assert len(re.findall(r"authenticating user root 10\.213\.0\.1 port", refused_log)) == 1

    # one session per host: exactly one login each, however many connects it took (found in
    # each host's sshd log by our source port: other controllers may use the shared lab too)
    logins = {
        n: len(re.findall(rf"Accepted publickey for root from 10\.213\.0\.1 port {port} ",
                          _log_since(info, n, sizes[n])))
        for n, port in measured.ports.items()
    }  # fmt: skip
    assert sorted(logins) == sorted(good)
    assert {n: c for n, c in logins.items() if c != 1} == {}
    # the busy sshds really dropped connections, and the retries got through
    retries = {n: a - 1 for n, a in measured.attempts.items() if a > 1}
    drops = sum(_log_since(info, n, sizes[n]).count("past MaxStartups") for n in NOISY)
    assert retries, "no connect was retried: the MaxStartups burst did not bite"
    assert set(retries) <= set(NOISY)

    # every reachable host got its whole plan: our table to create (or none, where a table
    # identical to the one planned is already there)
    plans = {r.host: [c.address for c in r.changes] for r in first.hosts if r.host in good}
    assert {n: p for n, p in plans.items() if p not in ([], ["firewall/checkpointctl"])} == {}
    slowest = max(r.seconds for r in first.hosts)
    print(
        f"\nfleet: {len(names)} light hosts, forks {FORKS}, MaxStartups {MAX_STARTUPS}; "
        f"drift {seconds:.1f}s (slowest host {slowest:.1f}s), "
        f"{sum(retries.values())} connect retries on {len(retries)} of {len(NOISY)} busy hosts "
        f"(max {max(measured.attempts.values())} attempts), "
        f"{drops} 'past MaxStartups' drops logged"
    )
