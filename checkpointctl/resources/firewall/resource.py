"""The firewall resource: one nftables table per host, converged atomically and safely.

checkpointctl owns exactly one table, ``inet <spec.table>`` (``checkpointctl`` by default), and
never edits any other. The policy's ``firewall`` section compiles (pure, :mod:`nft_compile`)
into the whole table; ``read`` lists the host's ruleset as JSON and parses it (pure,
:mod:`nft_parse`); ``diff`` compares the two in canonical form (pure, :mod:`nft_diff`) and
yields one change for ``firewall/<table>``; ``apply`` replaces the table in one ``nft -f``
transaction. When a host's ``DesiredState.firewall`` is None the policy does not manage the
firewall: there is no change, and a table of ours that already exists is left exactly as it is
(reported as an ``info`` finding).

Lock-out safety, because a firewall change is the one change that can cut the controller off:

1. Compile refuses a dropping inbound default with an empty ``management_from`` (unless the
   host is in pull mode), and always injects the management rule itself.
2. Over SSH, apply asks the host how it sees the controller (``SSH_CONNECTION``) and refuses
   unless ``management_from`` covers that address and ``management_port`` is the port the
   session arrived on.
3. Commit-confirmed: before loading, the current table is saved on the host (or "absent"), and a
   detached timer (``setsid``) is armed there that restores it after ``rollback_after`` seconds.
   The new table is loaded; then the controller opens a *new* TCP connection to the host's SSH
   port and reads the SSH banner (the existing session may survive a bad table, since sshd's
   replies pass as ``ct direction reply``, so it proves nothing). Only then is the timer
   cancelled. If the new connection fails, or the session that loads the table stalls under
   it past the timer, the timer is left to restore the old table; apply waits until the host
   answers again and fails with "rolled back: the new firewall cut off management access".
   Pull mode and local transports skip 2 and 3: nothing remote can be locked out there.

Host names in allow rules are resolved on the controller during ``read`` (resolution is an
input of the pure diff, and ``read`` is the I/O step), and the resolved addresses travel in the
change, so apply installs exactly what the plan showed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import random
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, NoReturn

from checkpointctl.errors import CheckpointctlError, ResourceError, TransportError
from checkpointctl.model import Action, Change, Finding, Host, Planned
from checkpointctl.resources.batched import BatchedResource, ReadPlan
from checkpointctl.resources.firewall.compile import (
    FAMILY,
    CompiledFirewall,
    compile_table,
    host_names,
    removal_script,
)
from checkpointctl.resources.firewall.diff import diff_tables
from checkpointctl.resources.firewall.findings import foreign_openings
from checkpointctl.resources.firewall.lint import (
    is_ip_literal,
    lint_firewall,
    lint_inbound_open,
    parse_network,
)
from checkpointctl.resources.firewall.model import Ruleset, Table
from checkpointctl.resources.firewall.parse import parse_ruleset
from checkpointctl.resources.paths import ROLLBACK_FILE, ROLLBACK_PID_FILE, ROLLBACK_TIMER_NAME
from checkpointctl.spec import DesiredState, FirewallSpec
from checkpointctl.transport import safepath
from checkpointctl.transport.base import ByteStream, CommandResult, NewConnections, Transport, Watch
from checkpointctl.transport.batch import Command

__all__ = [
    "FirewallActual",
    "FirewallPlan",
    "FirewallResource",
    "controller_access_problem",
    "lint_firewall",
    "lint_inbound_open",
    "resolve_hosts",
]

DEFAULT_TABLE = FirewallSpec().table
LIST_RULESET = ("nft", "-j", "list", "ruleset")
PRINT_SSH_CONNECTION = ("sh", "-c", 'printf "%s\\n" "${SSH_CONNECTION-}"')
"""How the host sees this connection (empty when not over SSH). A shell builtin rather than
``printenv``: inside a command batch it runs without starting a process
(:data:`~checkpointctl.transport.framing.RUNNER`)."""
"""How the host sees the controller's session (the lock-out guard compares it with the table)."""
ROLLBACK_PATH = ROLLBACK_FILE
PID_PATH = ROLLBACK_PID_FILE
TIMER_NAME = ROLLBACK_TIMER_NAME
"""``$0`` of the timer's shell: how a pid is recognised as our timer before it is killed."""

# The timer, run detached on the host. Fixed text: every value arrives as a positional
# argument ($1 seconds, $2 rollback script, $3 pidfile) and is only ever quoted. Once it has
# restored the saved table, both of its files go: the outcome is known.
TIMER_SCRIPT = 'echo $$ >"$3.tmp" && mv "$3.tmp" "$3"; sleep "$1"; nft -f "$2"; rm -f -- "$2" "$3"'
# Starts the timer in its own session with no ties to our channel (so the command returns at
# once over SSH too), waits up to 5 s for its pidfile and prints the pid. $1 is TIMER_SCRIPT.
# It runs guarded (safepath): the state directory is checked before the pidfile is written.
ARM_SCRIPT = (
    'rm -f "$4"; setsid -f sh -c "$1" ' + TIMER_NAME + ' "$2" "$3" "$4" </dev/null >/dev/null 2>&1'
    '; i=0; while [ ! -s "$4" ] && [ "$i" -lt 50 ]; do sleep 0.1; i=$((i+1)); done; cat "$4"'
)

Resolver = Callable[[Sequence[str]], Mapping[str, tuple[str, ...]]]


def resolve_hosts(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Resolve host names on the controller with ``getaddrinfo`` (IP literals map to themselves).

    Raises:
        ResourceError: a name does not resolve; the message names it.
    """
    out: dict[str, tuple[str, ...]] = {}
    for name in names:
        if is_ip_literal(name):
            out[name] = (name,)
            continue
        try:
            infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise ResourceError(f"firewall: host name {name!r} does not resolve: {exc}") from exc
        addrs = sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
        if not addrs:
            raise ResourceError(f"firewall: host name {name!r} resolved to no address")
        out[name] = tuple(addrs)
    return out


@dataclass(frozen=True, slots=True)
class FirewallActual:
    """What ``read`` found: our table (None when absent), the whole ruleset, and inputs to diff."""

    table: Table | None
    ruleset: Ruleset
    resolutions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """The policy's host names as resolved on the controller during this read."""
    ssh_connection: str | None = None
    """``SSH_CONNECTION`` as the host reported it (None for a local transport)."""


@dataclass(frozen=True, slots=True)
class FirewallPlan:
    """What a firewall change plans towards: everything apply needs, computed by diff."""

    spec: FirewallSpec
    compiled: CompiledFirewall
    pull_mode: bool


@dataclass(frozen=True, slots=True)
class FirewallResource(BatchedResource[FirewallPlan, FirewallActual, None]):
    """The ``firewall`` resource (see the module docstring for the whole contract).

    ``pull_mode``: the host is converged by its own agent, so it needs no management access and
    commit-confirmed is skipped. ``rollback_after``: seconds before the host restores its old
    table unless the controller confirms (the policy does not carry this yet). ``resolve``: how
    host names become addresses (the default asks the controller's resolver).
    """

    kind: ClassVar[str] = "firewall"
    pull_mode: bool = False
    rollback_after: float = 30.0
    confirm_timeout: float = 5.0
    resolve: Resolver = resolve_hosts

    # -- read -------------------------------------------------------------------------------

    def read_plan(self, host: Host, desired: DesiredState) -> ReadPlan[None]:
        """The ruleset as JSON, and (for a guarded push) how the host sees the controller.

        The read (:meth:`read_finish` of their results) lists the ruleset, picks out our
        table and resolves the policy's host names."""
        commands = [Command(LIST_RULESET, read_only=True)]
        if desired.firewall is not None and self._guarded_host(host):
            # the connection's own address: the same for as long as the connection lives
            commands.append(Command(PRINT_SSH_CONNECTION, watch=Watch()))
        return ReadPlan(tuple(commands), context=None)

    def read_finish(
        self,
        transport: Transport,
        desired: DesiredState,
        plan: ReadPlan[None],
        results: Sequence[CommandResult],
    ) -> FirewallActual:
        """Parse the ruleset (listing it as text too when iptables-nft rules hide targets from
        the JSON), resolve the policy's host names.

        Raises:
            ResourceError: nft is missing or failed, or a host name does not resolve.
        """
        spec = desired.firewall
        name = spec.table if spec else DEFAULT_TABLE
        result = results[0]
        if not result.ok:
            raise ResourceError(
                f"{transport.host.name}: cannot list the nftables ruleset: "
                f"{result.stderr.decode('utf-8', 'replace').strip() or f'exit {result.rc}'}"
            )
        listing = None
        if b'"xt"' in result.stdout:
            # iptables-nft rules (Docker's) hide NAT targets from JSON; the text shows them.
            text = transport.run(["nft", "-a", "list", "ruleset"], check=False)
            listing = text.text() if text.ok else None
        ruleset = parse_ruleset(result.stdout, listing)
        resolutions: Mapping[str, tuple[str, ...]] = {}
        ssh_connection = None
        if spec is not None:
            resolutions = self.resolve(host_names(spec))
            if len(results) > 1:
                ssh_connection = results[1].text().strip()
        return FirewallActual(ruleset.table(FAMILY, name), ruleset, resolutions, ssh_connection)

    # -- diff -------------------------------------------------------------------------------

    def plan(self, spec: FirewallSpec, actual: FirewallActual) -> FirewallPlan:
        """Compile ``spec`` with the resolutions ``read`` made (pure).

        Raises:
            ResourceError: the spec is refused by lint or a host name has no resolution.
        """
        compiled = compile_table(spec, actual.resolutions, pull_mode=self.pull_mode)
        return FirewallPlan(spec=spec, compiled=compiled, pull_mode=self.pull_mode)

    def diff(self, desired: DesiredState, actual: FirewallActual) -> list[Planned[FirewallPlan]]:
        """One change for ``firewall/<table>`` (create or update), or none when in sync."""
        spec = desired.firewall
        if spec is None:
            return []
        plan = self.plan(spec, actual)
        fields = diff_tables(plan.compiled.table, actual.table)
        if not fields:
            return []
        title = plan.compiled.table.title
        if actual.table is None:
            action, reason = Action.CREATE, f"{title} does not exist"
        else:
            action, reason = Action.UPDATE, f"{title} differs from the policy"
        change = Change(
            address=f"firewall/{spec.table}",
            action=action,
            fields=tuple(fields),
            reason=reason,
            source=desired.source("firewall"),
        )
        return [Planned(change, plan)]

    # -- findings ---------------------------------------------------------------------------

    def findings(self, desired: DesiredState, actual: FirewallActual) -> list[Finding]:
        """Openings in other tables, an unmanaged table of ours, a controller to be cut off."""
        spec = desired.firewall
        name = spec.table if spec else DEFAULT_TABLE
        address = f"firewall/{name}"
        out = foreign_openings(actual.ruleset, actual.table, address)
        if spec is None and actual.table is not None:
            out.append(
                Finding(
                    address,
                    f"{actual.table.title} exists but no policy manages the firewall; "
                    "it is left as it is",
                    severity="info",
                )
            )
        if spec is not None and actual.ssh_connection is not None and not self.pull_mode:
            problem = controller_access_problem(spec, actual.ssh_connection)
            if problem:
                out.append(Finding(address, problem + "; apply will refuse", severity="error"))
        return out

    # -- apply ------------------------------------------------------------------------------

    def apply(self, transport: Transport, change: Planned[FirewallPlan]) -> None:
        """Replace the table in one ``nft -f`` transaction, commit-confirmed over SSH.

        Raises:
            ResourceError: nft refused the script; the controller would be locked out; a
                rollback timer is still pending from an earlier run; or the new table cut off
                management access and the host rolled back (the message starts with
                "rolled back:").
        """
        plan = change.desired
        script = plan.compiled.script.encode()
        where = f"{transport.host.name}: {plan.compiled.table.title}"
        check = transport.run(["nft", "-c", "-f", "-"], stdin=script, check=False)
        if not check.ok:
            raise ResourceError(f"{where}: nft refused the new table: {_err(check.stderr)}")
        if not self._guarded(transport):
            self._load(transport, script, where)
            return
        self.check_controller(transport, plan.spec)
        pid = self._arm(transport, plan.compiled.table, where)
        try:
            self._load(transport, script, where, timeout=self.rollback_after + 30)
        except TransportError as exc:
            # The session stalled or broke under the new table: the timer restores the old one.
            self._await_rollback(
                transport.host,
                f"the session loading it stalled: {exc}",
                where,
                opener=stream_opener(transport),
            )
        except CheckpointctlError:
            # nft refused the script, so nothing changed: disarm and report.
            with contextlib.suppress(CheckpointctlError):
                self._cancel(transport, pid, where)
            raise
        problem = self.confirm_access(transport.host, opener=stream_opener(transport))
        if problem is None:
            self._cancel(transport, pid, where)
            return
        self._await_rollback(transport.host, problem, where, opener=stream_opener(transport))

    def _guarded(self, transport: Transport) -> bool:
        """Commit-confirmed and the controller check apply to push over SSH only."""
        return self._guarded_host(transport.host)

    def _guarded_host(self, host: Host) -> bool:
        return host.connection == "ssh" and not self.pull_mode

    def check_controller(self, transport: Transport, spec: FirewallSpec) -> None:
        """Refuse when the new table would not let the controller's SSH in.

        Raises:
            ResourceError: naming the controller's address as the host sees it.
        """
        problem = controller_access_problem(spec, _ssh_connection(transport))
        if problem:
            raise ResourceError(f"{transport.host.name}: refused: {problem}")

    def confirm_access(self, host: Host, *, opener: Opener | None = None) -> str | None:
        """Open a new TCP connection to the host's SSH port and read the banner: with
        ``opener`` along the transport's route (through its bastion), else directly.

        Returns None when it works, else why it did not.
        """
        return _ssh_banner(host.address, host.port, self.confirm_timeout, opener=opener)

    @staticmethod
    def _load(transport: Transport, script: bytes, where: str, timeout: float = 60.0) -> None:
        result = transport.run(["nft", "-f", "-"], stdin=script, timeout=timeout, check=False)
        if not result.ok:
            raise ResourceError(f"{where}: nft could not load the new table: {_err(result.stderr)}")

    def _arm(self, transport: Transport, table: Table, where: str) -> int:
        """Save the current table on the host and start the detached rollback timer."""
        pending = _timer_pid(transport)
        if pending is not None:
            raise ResourceError(
                f"{where}: a rollback timer from an earlier run is still pending (pid {pending}); "
                "it will restore the table it saved: try again after it has fired"
            )
        rollback = removal_script(table.family, table.name)
        saved = transport.run(["nft", "list", "table", table.family, table.name], check=False)
        if saved.ok:
            candidate = rollback + saved.text()
            # A table that cannot be loaded back (hand-made oddities) rolls back to absent,
            # which gives management access back all the same.
            probe = transport.run(["nft", "-c", "-f", "-"], stdin=candidate.encode(), check=False)
            if probe.ok:
                rollback = candidate
        safepath.write(transport, ROLLBACK_PATH, rollback.encode(), mode=0o600)
        seconds = str(max(1, round(self.rollback_after)))
        argv = ("sh", "-c", ARM_SCRIPT, "checkpointctl-arm", TIMER_SCRIPT, seconds)
        arm = safepath.guard_files(Command((*argv, ROLLBACK_PATH, PID_PATH)), [PID_PATH])
        armed = transport.run(arm.argv, check=False)
        refused = safepath.refusal(armed)
        if refused is not None:
            raise safepath.UnsafePathError(transport.host.name, refused)
        text = armed.text().strip()
        if not armed.ok or not text.isdigit():
            raise ResourceError(
                f"{where}: could not arm the rollback timer (setsid/sh on the host?): "
                f"{_err(armed.stderr) or text or f'exit {armed.rc}'}"
            )
        return int(text)

    def _cancel(self, transport: Transport, pid: int, where: str) -> None:
        if _timer_pid(transport) != pid:
            # Typically the session that loaded the table stalled under it until the timer
            # fired (a lock-out the new connection check could not even start to see).
            raise ResourceError(
                f"{where}: rolled back: the new firewall cut off management access (it was not "
                f"confirmed within the {self.rollback_after:g}s rollback window); the host "
                "restored its previous rules"
            )
        # The timer is its own session and process group (setsid): end the sleep with it.
        transport.run(["kill", "-TERM", "--", f"-{pid}"], check=False)
        for _ in range(20):
            if _timer_pid(transport) != pid:
                break
            time.sleep(0.1)
        else:
            raise ResourceError(
                f"{where}: could not cancel the rollback timer (pid {pid}): the host will "
                f"restore its previous rules within {self.rollback_after:g}s"
            )
        safepath.remove(transport, PID_PATH)
        safepath.remove(transport, ROLLBACK_PATH)

    def _await_rollback(
        self, host: Host, problem: str, where: str, *, opener: Opener | None = None
    ) -> NoReturn:
        """Wait for the host's timer to restore the old table, then fail the change.

        Raises:
            ResourceError: always; "rolled back: ..." once the host answers again.
        """
        deadline = time.monotonic() + self.rollback_after + 30
        while time.monotonic() < deadline:
            time.sleep(1.0)
            if _ssh_banner(host.address, host.port, 2.0, opener=opener) is None:
                raise ResourceError(
                    f"{where}: rolled back: the new firewall cut off management access "
                    f"({problem}); the host restored its previous rules"
                )
        raise ResourceError(
            f"{where}: rolled back: the new firewall cut off management access ({problem}); "
            f"the host should have restored its previous rules after {self.rollback_after:g}s "
            f"but {host.address}:{host.port} still does not answer"
        )


def controller_access_problem(spec: FirewallSpec, ssh_connection: str | None) -> str | None:
    """Why ``spec`` would lock out the controller whose session the host sees, or None.

    ``ssh_connection`` is the host's ``SSH_CONNECTION`` (``client_ip client_port server_ip
    server_port``). A spec with an accepting inbound default cannot lock anyone out.
    """
    if spec.inbound_default == "accept":
        return None
    parts = (ssh_connection or "").split()
    if len(parts) != 4:
        return (
            "cannot tell the controller's address (SSH_CONNECTION is not set on the host), "
            "so the new firewall cannot be checked against management_from"
        )
    try:
        client = ipaddress.ip_address(parts[0].split("%", 1)[0])
    except ValueError:
        return f"the host reports an unreadable controller address {parts[0]!r}"
    if isinstance(client, ipaddress.IPv6Address) and client.ipv4_mapped is not None:
        client = client.ipv4_mapped
    allowed = [parse_network(c) for c in spec.management_from]
    if not any(client.version == n.version and client in n for n in allowed):
        listed = ", ".join(spec.management_from) or "nothing"
        return (
            f"the host sees the controller at {client}, which firewall.management_from "
            f"({listed}) does not include: the new firewall would lock the controller out"
        )
    if parts[3] != str(spec.management_port):
        return (
            f"the controller's SSH session arrives on port {parts[3]} but "
            f"firewall.management_port is {spec.management_port}: the new firewall would "
            "lock the controller out"
        )
    return None


def _ssh_connection(transport: Transport) -> str:
    result = transport.run(PRINT_SSH_CONNECTION, check=False)
    return result.text().strip()


def _timer_pid(transport: Transport) -> int | None:
    """The pid of a live rollback timer of ours on the host, or None."""
    raw = safepath.read(transport, PID_PATH)
    text = raw.decode("ascii", "replace").strip() if raw else ""
    if not text.isdigit():
        return None
    # /proc files report size 0, so read them with cat rather than SFTP.
    cmdline = transport.run(["cat", f"/proc/{text}/cmdline"], check=False)
    return int(text) if cmdline.ok and TIMER_NAME.encode() in cmdline.stdout else None


BANNER_TRIES = 4
"""Tries of the access check when the TCP connection is made but sshd closes it unanswered."""


Opener = Callable[[float], ByteStream]
"""Opens a new connection to the host's SSH port (see :func:`stream_opener`)."""


def stream_opener(transport: Transport) -> Opener | None:
    """How to open a new connection along the transport's route, when it has one of its own
    (through a bastion); None: directly."""
    return transport.open_stream if isinstance(transport, NewConnections) else None


def _ssh_banner(
    address: str, port: int, timeout: float, *, opener: Opener | None = None
) -> str | None:
    """None when a new connection gets an SSH banner, else why not.

    A connection sshd accepts and then closes (or resets) without a banner came through the
    firewall both ways: that is a busy sshd (past ``MaxStartups``), not a lock-out, so it is
    tried again after a jittered pause instead of rolling a good table back. A connect that
    fails or times out is not retried: that is what a lock-out looks like.
    """
    why = ""
    for attempt in range(BANNER_TRIES):
        if attempt:
            time.sleep(random.uniform(0.0, 0.5 * 2**attempt))  # noqa: S311 (jitter)
        try:
            conn: ByteStream = (
                opener(timeout)
                if opener is not None
                else socket.create_connection((address, port), timeout=timeout)
            )
        except OSError as exc:
            return f"a new connection to {address}:{port} failed: {exc or type(exc).__name__}"
        try:
            conn.settimeout(timeout)
            banner = conn.recv(64)
        except (ConnectionResetError, ConnectionAbortedError) as exc:
            why = f"{exc}"
            continue
        except OSError as exc:
            return f"a new connection to {address}:{port} failed: {exc or type(exc).__name__}"
        finally:
            conn.close()
        if banner.startswith(b"SSH-"):
            return None
        if banner:
            return f"a new connection to {address}:{port} got no SSH banner"
        why = "closed without a banner"
    return f"a new connection to {address}:{port} got no SSH banner ({why}, {BANNER_TRIES} tries)"


def _err(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", "replace").strip().splitlines()
    return "\n".join(lines[-8:])
