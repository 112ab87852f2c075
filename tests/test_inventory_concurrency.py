"""Listing helpers: ordered concurrent target listing and the source read-ahead (errors, early stop)."""

from __future__ import annotations

import threading
import time

import pytest

from ferry.inventory import _ordered, prefetched


def test_ordered_keeps_order_and_runs_calls_side_by_side():
    running, peak, lock = [0], [0], threading.Lock()
    release = threading.Event()

    def slow(n):
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
            if running[0] >= 4:
                release.set()
        release.wait(5)
        with lock:
            running[0] -= 1
        return n * n

    assert list(_ordered(slow, [(n,) for n in range(20)], 4)) == [n * n for n in range(20)]
    assert peak[0] == 4  # four in flight at once, never more


def test_ordered_raises_the_first_error_in_order():
    def fn(n):
        if n == 3:
            raise ValueError("three")
        return n

    out = []
    with pytest.raises(ValueError, match="three"):
        for value in _ordered(fn, [(n,) for n in range(10)], 4):
            out.append(value)
    assert out == [0, 1, 2]


def test_prefetched_reads_ahead_before_the_first_next():
    produced = []

    def source():
        for n in range(50):
            produced.append(n)
            yield n

    it = prefetched(source(), limit=10)
    deadline = time.monotonic() + 5
    while len(produced) < 11 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert 10 <= len(produced) <= 12  # ran ahead up to the limit without being asked
    assert list(it) == list(range(50))


def _endless(threads: list):
    """Counts for ever, noting the thread that runs it in ``threads``."""
    threads.append(threading.current_thread())
    n = 0
    while True:
        n += 1
        yield n


def test_prefetched_passes_errors_and_stops_when_closed():
    def failing():
        yield 1
        raise RuntimeError("listing broke")

    it = prefetched(failing())
    assert next(it) == 1
    with pytest.raises(RuntimeError, match="listing broke"):
        next(it)

    endless_thread = []
    it = prefetched(_endless(endless_thread), limit=5)
    assert next(it) == 1
    it.close()
    endless_thread[0].join(5)
    assert not endless_thread[0].is_alive()


def test_prefetched_closed_before_its_first_item_stops_its_thread():
    """The plan starts the next mapping's listing early; if the plan stops first, that listing stops too."""
    started = []
    it = prefetched(_endless(started), limit=5)
    deadline = time.monotonic() + 5
    while not started and time.monotonic() < deadline:
        time.sleep(0.01)
    it.close()  # never iterated
    started[0].join(5)
    assert not started[0].is_alive()
