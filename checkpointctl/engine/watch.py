"""Continuous drift (``drift --watch INTERVAL``): the same plan every interval, kept connections.

Each cycle is an ordinary ``drift`` of the fleet (fresh reads, the same engine, the same report),
so a cycle says exactly what a cold run would. What is kept between cycles is only the hosts'
connections (:class:`~checkpointctl.transport.pool.ConnectionPool`): a steady cycle skips the TCP
connect, key exchange and authentication of every host and, with the batched reads, costs one
round trip per host. A host whose connection broke is reconnected on the next cycle.

Cycles start ``interval`` seconds apart (a cycle that takes longer is followed at once), and the
watch ends after ``cycles`` cycles, or on Ctrl-C. The loop is a plain function of its inputs
(``clock`` and ``sleep`` can be replaced) so it is tested without time passing.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from checkpointctl.engine.run import ApplyOptions, Connect, Observer, run_fleet
from checkpointctl.model import Host, RunReport
from checkpointctl.spec import DesiredState
from checkpointctl.transport.pool import ConnectionPool


class Cause(enum.Enum):
    """Why a cycle read the hosts it read."""

    START = "start"
    """The listening watch's first read of every host."""
    POLL = "poll"
    """The interval passed (every host in a polling watch; the polled hosts in a listening one)."""
    CHANGE = "change"
    """A host said it changed."""
    RESYNC = "resync"
    """The listening watch's safety net: every host, however quiet."""
    LOST = "lost"
    """A host's listener ended (it listens again if it can)."""


@dataclass(frozen=True, slots=True)
class Cycle:
    """One finished cycle: its number (1-based), report and wall time."""

    number: int
    report: RunReport
    seconds: float
    connects: int
    """Connections made during this cycle (0 in a steady cycle where every host was kept)."""
    reread: tuple[str, ...] = ()
    """The hosts this cycle read, when not the whole fleet (a listening watch's re-read)."""
    cause: Cause = Cause.POLL
    """Why the cycle ran."""


def watch(
    run_cycle: Callable[[], RunReport],
    *,
    interval: float,
    cycles: int | None,
    on_cycle: Callable[[Cycle], None],
    connects: Callable[[], int] = lambda: 0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RunReport:
    """Run ``run_cycle`` every ``interval`` seconds, ``cycles`` times (None: until interrupted),
    handing each result to ``on_cycle``; returns the last report."""
    number = 0
    last: RunReport | None = None
    while cycles is None or number < cycles:
        number += 1
        started = clock()
        before = connects()
        last = run_cycle()
        on_cycle(Cycle(number, last, clock() - started, connects() - before))
        if cycles is not None and number >= cycles:
            break
        sleep(max(0.0, started + interval - clock()))
    assert last is not None, "cycles must be at least 1"
    return last


def watch_fleet(
    hosts: Sequence[Host],
    states: Mapping[str, DesiredState],
    connect: Connect,
    *,
    interval: float,
    cycles: int | None,
    on_cycle: Callable[[Cycle], None],
    forks: int = 50,
    observer: Observer | None = None,
    options: ApplyOptions | None = None,
) -> RunReport:
    """:func:`watch` of ``drift`` over ``hosts``, with their connections kept in a pool that is
    closed when the watch ends (normally or not). ``options`` are one-shot drift's (the day
    exceptions are judged on, the classes that fail): each cycle is judged as a cold run is."""
    pool = ConnectionPool(connect)

    def cycle() -> RunReport:
        return run_fleet(
            hosts, states, "drift", pool.connect, forks=forks, observer=observer, options=options
        )

    try:
        return watch(
            cycle,
            interval=interval,
            cycles=cycles,
            on_cycle=on_cycle,
            connects=lambda: pool.connects,
        )
    finally:
        pool.close()
