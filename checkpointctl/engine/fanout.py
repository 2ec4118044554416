"""Per-host work over a fleet, at most ``forks`` hosts at once: the one fan-out of the package.

``drift``, ``apply`` (batch after batch, and the rollback of a halted batch), ``status`` and
``push-bundle`` all run one function per host and want the results in the hosts' order. The
workers are threads: a host's work is mostly waiting on its connection, and the threads share
the controller's connection pool, head start and observer. A :class:`FanOut` keeps its workers
across several :meth:`FanOut.map` calls, so a rollout's batches start without new threads.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from types import TracebackType
from typing import Self, TypeVar

T = TypeVar("T")
R = TypeVar("R")

DEFAULT_FORKS = 50
""":class:`FanOut`'s width when the caller names none (``--forks``' default)."""


class FanOut:
    """``forks`` workers for per-host work; use as a context manager."""

    def __init__(self, forks: int = DEFAULT_FORKS) -> None:
        self._width = max(1, forks)
        self._pool = ThreadPoolExecutor(max_workers=self._width)

    def map(self, work: Callable[[T], R], items: Iterable[T]) -> list[R]:
        """``work`` of every item, in the items' order, once all are done. An exception raised
        by ``work`` is raised here (per-host work reports its failures as results instead)."""
        return list(self._pool.map(work, items))

    def stream(self, work: Callable[[T], R], items: Iterable[T], emit: Callable[[R], None]) -> None:
        """``emit(work(item))`` for every item, in the items' order, each as soon as it and
        every item before it are done; nothing is kept once emitted.

        At most ``forks`` items are in flight (an item is taken from ``items`` only when a
        worker is free), so a fleet of any size costs the futures of ``forks`` hosts plus the
        results that finished ahead of a slower host before them, never one per host. ``emit``
        runs in the calling thread. An exception raised by ``work`` is raised here.
        """
        source = iter(enumerate(items))
        running: set[Future[tuple[int, R]]] = set()
        ready: dict[int, R] = {}
        next_index = 0

        def indexed(index: int, item: T) -> tuple[int, R]:
            return index, work(item)

        def fill() -> None:
            for index, item in source:
                running.add(self._pool.submit(indexed, index, item))
                if len(running) >= self._width:
                    return

        fill()
        while running:
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            running.difference_update(done)
            for future in done:
                index, result = future.result()
                ready[index] = result
            fill()
            while next_index in ready:
                emit(ready.pop(next_index))
                next_index += 1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True)


def fan_out(work: Callable[[T], R], items: Iterable[T], *, forks: int) -> list[R]:
    """:meth:`FanOut.map` once, for work that is a single pass over the fleet."""
    with FanOut(forks) as pool:
        return pool.map(work, items)
