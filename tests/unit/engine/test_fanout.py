"""The one fan-out over a fleet: results in the hosts' order, at most ``forks`` at once."""

from __future__ import annotations

import threading

import pytest

from checkpointctl.engine.fanout import FanOut, fan_out


def test_results_come_back_in_the_items_order() -> None:
    assert fan_out(lambda n: n * n, range(20), forks=7) == [n * n for n in range(20)]


@pytest.mark.parametrize("forks", [0, 1, 3])
def test_never_more_than_forks_at_once(forks: int) -> None:
    active = 0
    most = 0
    lock = threading.Lock()
    # the first `width` workers wait for each other, so the bound is reached, never passed
    width = max(1, forks)
    all_in = threading.Barrier(width)

    def work(n: int) -> int:
        nonlocal active, most
        with lock:
            active += 1
            most = max(most, active)
        if n < width:
            all_in.wait(timeout=30)
        with lock:
            active -= 1
        return n

    assert fan_out(work, range(12), forks=forks) == list(range(12))
    assert most == width


def test_one_pool_serves_several_batches_and_raises_a_worker_error() -> None:
    seen: set[str] = set()

    def name(n: int) -> int:
        seen.add(threading.current_thread().name)
        return n

    with FanOut(2) as pool:
        assert pool.map(name, [1, 2, 3]) == [1, 2, 3]
        assert pool.map(name, [4, 5]) == [4, 5]
        with pytest.raises(ZeroDivisionError):
            pool.map(lambda n: 1 // n, [1, 0])
    assert len(seen) <= 2
