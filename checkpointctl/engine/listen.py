"""A watch that listens (``drift --watch``): hosts say when they changed; only they are re-read.

A polling watch re-reads every host every interval, which costs the fleet a read per host per
cycle when nothing changed. A listening watch starts, on each host's kept connection, the
listener of :mod:`~checkpointctl.engine.hostwatch` (``inotifywait`` on the managed directories,
``nft monitor``, ``docker events``) and waits: a line about something the host should be makes
the controller re-read that host alone, after a short quiet time so that a burst of events (a
package upgrade, ``nft -f``) costs one read. Each re-read ends in a :class:`~.watch.Cycle` whose
report is the whole fleet, the other hosts as last read.

Polling stays where listening cannot work: a host that lacks a tool it needs (found once, when
its listener starts, and named in :class:`Listening`), whose listener could not start or was
lost is re-read every ``interval``; and every host is re-read every ``resync`` (a safety net for
events a tool cannot see, e.g. a listener that died quietly).

The listeners are channels of the kept connections: closing the watch closes them, and their
stdin ends with the connection whatever ends it (Ctrl-C, ``kill -9`` of the controller), upon
which the script on the host stops its tools.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from checkpointctl.engine.fanout import fan_out
from checkpointctl.engine.hostwatch import (
    READY,
    SETTING_UP,
    WATCHES_ESTABLISHED,
    Missing,
    Source,
    WatchTargets,
    parse_status,
    targets,
)
from checkpointctl.engine.run import ApplyOptions, Connect, Observer, run_fleet
from checkpointctl.engine.watch import Cause, Cycle
from checkpointctl.errors import CheckpointctlError
from checkpointctl.model import Host, HostResult, RunReport
from checkpointctl.spec import DesiredState
from checkpointctl.transport.base import HostProcess, Transport
from checkpointctl.transport.pool import ConnectionPool

QUIET = 0.05
"""Seconds without a new event before the changed hosts are read (a burst is one read)."""
BURST = 0.3
"""At most this many seconds of a burst are waited for before reading anyway."""
START_TIMEOUT = 20.0
"""Seconds a listener has to say it is ready."""


@dataclass(frozen=True, slots=True)
class Listening:
    """Which hosts listen and which are polled, and why (given once, after the listeners
    started)."""

    listening: tuple[str, ...]
    polled: Mapping[str, str]
    """Host name → why it is polled (``no inotifywait``, ``unreachable``…)."""


@dataclass(frozen=True, slots=True)
class Event:
    """A host that changed (``lost``: its listener ended; ``rearm``: restart the listener)."""

    host: str
    lost: bool = False
    rearm: bool = False


class ListenerUnavailable(CheckpointctlError):
    """The host cannot listen: a tool is missing or the listener did not start."""

    def __init__(self, reason: str, *, lacks_tool: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.lacks_tool = lacks_tool
        """The host lacks a tool (trying again will not help, unlike a listener that failed)."""


def start_listener(transport: Transport, watch: WatchTargets) -> HostProcess:
    """Start the host's listener and wait for its ``ready``.

    Raises:
        ListenerUnavailable: a tool it needs is missing, or it did not start.
    """
    try:
        process = transport.spawn(watch.argv())
    except CheckpointctlError as e:
        raise ListenerUnavailable(f"listener not started: {e}") from e
    missing: list[Missing] = []
    ready = False
    established = Source.FILES not in watch.sources or not watch.watched
    deadline = time.monotonic() + START_TIMEOUT
    while not (ready and (established or missing)):
        line = process.read_line(max(0.0, deadline - time.monotonic()))
        if line is None or line == b"":
            tail = process.stderr_tail().strip().splitlines()[-1:]
            stop_listener(process)
            raise ListenerUnavailable("listener did not start" + (f": {tail[0]}" if tail else ""))
        text = line.rstrip(b"\n")
        if text == READY:
            ready = True
        elif text == WATCHES_ESTABLISHED:
            established = True
        elif (status := parse_status(line)) is not None:
            missing.append(status)
        elif text and text != SETTING_UP and not text.startswith((b"S ", b"F ", b"D ", b"{")):
            # inotifywait says nothing else while it starts, unless it cannot listen
            stop_listener(process)
            raise ListenerUnavailable(f"inotifywait: {text.decode('utf-8', 'replace')}")
    if missing:
        stop_listener(process)
        raise ListenerUnavailable(", ".join(f"no {m.tool}" for m in missing), lacks_tool=True)
    return process


def stop_listener(process: HostProcess) -> None:
    """End the listener: its stdin ends (the script stops its tools), the channel closes."""
    with contextlib.suppress(CheckpointctlError, OSError):
        process.close_stdin()
    with contextlib.suppress(CheckpointctlError, OSError):
        process.close()


def _relay(
    host: str,
    process: HostProcess,
    watch: WatchTargets,
    events: queue.Queue[tuple[Event, HostProcess]],
) -> None:
    """Pass the listener's relevant lines on as events until its output ends."""
    while True:
        try:
            line = process.read_line(3600.0)
        except CheckpointctlError:
            line = b""
        if line is None:
            continue
        if line == b"":
            events.put((Event(host, lost=True), process))
            return
        heard = watch.classify(line)
        if heard is not None:
            events.put((Event(host, rearm=heard.rearm), process))


def next_batch(
    events: queue.Queue[tuple[Event, HostProcess]],
    timeout: float,
    current: Callable[[str, HostProcess], bool],
    *,
    quiet: float = QUIET,
    burst: float = BURST,
    clock: Callable[[], float] = time.monotonic,
) -> list[Event]:
    """The events of the next burst (waiting at most ``timeout`` for its first; [] when none
    came): after the first, more are taken until ``quiet`` seconds pass without one, or
    ``burst`` seconds in all. Events of a listener that was replaced (``current`` is False) are
    dropped."""
    out: list[Event] = []
    wait = max(0.0, timeout)
    first_at: float | None = None
    while True:
        try:
            event, process = events.get(timeout=wait)
        except queue.Empty:
            return out
        if current(event.host, process):
            out.append(event)
            if first_at is None:
                first_at = clock()
        if first_at is None:
            continue  # a stale event: keep waiting for a real one (roughly the same timeout)
        wait = min(quiet, first_at + burst - clock())
        if wait <= 0:
            return out


class FleetListener:
    """The listeners of a fleet's hosts, their relay threads and their events."""

    def __init__(self, pool: ConnectionPool, states: Mapping[str, DesiredState]) -> None:
        self._pool = pool
        self._targets = {name: targets(state) for name, state in states.items()}
        self._processes: dict[str, HostProcess] = {}
        self._lock = threading.Lock()
        self.polled: dict[str, str] = {}
        self._retry: set[str] = set()
        self.events: queue.Queue[tuple[Event, HostProcess]] = queue.Queue()

    def start(self, host: Host) -> None:
        """Start ``host``'s listener (replacing the one it had); on failure it is polled."""
        self.stop(host.name)
        try:
            transport = self._pool.connect(host)
        except CheckpointctlError as e:
            self._poll(host.name, f"unreachable ({e})", retry=True)
            return
        try:
            process = start_listener(transport, self._targets[host.name])
        except ListenerUnavailable as e:
            self._poll(host.name, e.reason, retry=not e.lacks_tool)
            return
        finally:
            transport.close()
        with self._lock:
            self._processes[host.name] = process
            self.polled.pop(host.name, None)
            self._retry.discard(host.name)
        threading.Thread(
            target=_relay,
            args=(host.name, process, self._targets[host.name], self.events),
            name=f"listen-{host.name}",
            daemon=True,
        ).start()

    def _poll(self, name: str, reason: str, *, retry: bool) -> None:
        with self._lock:
            self.polled[name] = reason
            if retry:
                self._retry.add(name)
            else:
                self._retry.discard(name)

    def retryable(self) -> list[str]:
        """Polled hosts whose listener may start now (it failed; no tool is missing)."""
        with self._lock:
            return sorted(self._retry)

    def is_current(self, name: str, process: HostProcess) -> bool:
        with self._lock:
            return self._processes.get(name) is process

    def lost(self, name: str) -> None:
        """The host's listener ended: it is polled until :meth:`start` succeeds again."""
        with self._lock:
            self._processes.pop(name, None)
        self._poll(name, "listener lost", retry=True)

    def listening(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._processes))

    def stop(self, name: str) -> None:
        with self._lock:
            process = self._processes.pop(name, None)
        if process is not None:
            stop_listener(process)

    def close(self) -> None:
        with self._lock:
            processes, self._processes = list(self._processes.values()), {}
        for process in processes:
            stop_listener(process)


def merge_events(batch: Sequence[Event]) -> dict[str, Event]:
    """One event per host, in the order hosts were first heard (lost or rearm if any was)."""
    out: dict[str, Event] = {}
    for event in batch:
        old = out.get(event.host)
        out[event.host] = Event(
            event.host,
            lost=event.lost or (old is not None and old.lost),
            rearm=event.rearm or (old is not None and old.rearm),
        )
    return out


@dataclass(frozen=True, slots=True)
class Timers:
    """The clock and the next deadlines of a listening watch."""

    now: float
    next_poll: float
    next_resync: float
    interval: float
    resync: float


@dataclass(frozen=True, slots=True)
class Step:
    """What the watch does next: which hosts to read and why, whose listener to start first."""

    read: tuple[str, ...]
    cause: Cause
    restart: tuple[str, ...]
    next_poll: float
    next_resync: float


def plan_step(
    changed: Mapping[str, Event],
    timers: Timers,
    *,
    polled: Sequence[str],
    retryable: Sequence[str],
    everyone: Sequence[str],
) -> Step:
    """The next step of a listening watch (pure): every host when the resync is due; else the
    hosts heard and, when the poll is due, the polled hosts (whose listeners that failed are
    tried again). A host whose listener was lost or must watch new directories listens again
    before it is read, so nothing between the read and the listening is missed."""
    t = timers
    restart = [e.host for e in changed.values() if e.lost or e.rearm]
    if t.now >= t.next_resync:
        return Step(
            tuple(everyone), Cause.RESYNC, tuple(restart), t.now + t.interval, t.now + t.resync
        )
    read = list(changed)
    cause = Cause.LOST if any(e.lost for e in changed.values()) else Cause.CHANGE
    next_poll = t.next_poll
    if polled and t.now >= t.next_poll:
        restart += [n for n in retryable if n not in changed]
        read += [n for n in polled if n not in changed]
        cause = cause if changed else Cause.POLL
        next_poll = t.now + t.interval
    return Step(tuple(read), cause, tuple(restart), next_poll, t.next_resync)


def listen_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    connect: Connect,
    *,
    interval: float,
    resync: float,
    cycles: int | None,
    on_cycle: Callable[[Cycle], None],
    on_listening: Callable[[Listening], None],
    forks: int = 50,
    observer: Observer | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """Watch ``hosts`` by listening (see the module's docstring); ``cycles`` reports (None:
    until interrupted). Returns the last report. ``options`` are one-shot drift's (``--at``,
    ``--fail-on``): every report is judged as a cold drift is."""
    todo = [h for h in hosts if h.name in states]
    by_name = {h.name: h for h in todo}
    pool = ConnectionPool(connect)
    listener = FleetListener(pool, states)
    results: dict[str, HostResult] = {}
    number = 0
    last: RunReport | None = None

    def read(names: Sequence[str], cause: Cause, before: int | None = None) -> None:
        """Read ``names``; the cycle counts the connections made since ``before`` (default:
        since now)."""
        nonlocal number, last
        number += 1
        started = time.monotonic()
        before = pool.connects if before is None else before
        wanted = [by_name[n] for n in names]
        report = run_fleet(
            wanted, states, "drift", pool.connect, forks=forks, observer=observer, options=options
        )
        for result in report.hosts:
            results[result.host] = result
        last = RunReport(
            mode="drift",
            hosts=tuple(results[h.name] for h in todo if h.name in results),
            fail_on=report.fail_on,
        )
        reread = () if len(names) == len(todo) else tuple(names)
        on_cycle(
            Cycle(
                number,
                last,
                time.monotonic() - started,
                pool.connects - before,
                reread=reread,
                cause=cause,
            )
        )

    try:
        # listen first, then read: a change made while the first read runs is heard
        fan_out(listener.start, todo, forks=forks)
        on_listening(Listening(listener.listening(), dict(sorted(listener.polled.items()))))
        read([h.name for h in todo], Cause.START, before=0)
        next_poll = time.monotonic() + interval
        next_resync = time.monotonic() + resync
        while cycles is None or number < cycles:
            now = time.monotonic()
            due = min(next_resync, next_poll if listener.polled else next_resync)
            batch = next_batch(listener.events, due - now, listener.is_current)
            changed = merge_events(batch)
            for event in changed.values():
                if event.lost:
                    listener.lost(event.host)
            step = plan_step(
                changed,
                Timers(time.monotonic(), next_poll, next_resync, interval, resync),
                polled=list(listener.polled),
                retryable=listener.retryable(),
                everyone=[h.name for h in todo],
            )
            next_poll, next_resync = step.next_poll, step.next_resync
            if not step.read:
                continue
            if step.restart:
                fan_out(listener.start, [by_name[n] for n in step.restart], forks=forks)
            names, cause = set(step.read), step.cause
            read([h.name for h in todo if h.name in names], cause)
    finally:
        listener.close()
        pool.close()
    assert last is not None, "cycles must be at least 1"
    return last
