"""Listing helpers: ordered concurrent target listing and the source read-ahead (errors, early stop)."""

from __future__ import annotations

import threading
import time

import pytest

from ferry.inventory import VERSIONS_AT_ONCE, _ordered, have, prefetched


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

    assert list(_ordered(lambda n: [slow(n)], [(n,) for n in range(20)], 4)) == [n * n for n in range(20)]
    assert peak[0] == 4  # four in flight at once, never more


def test_ordered_raises_the_first_error_in_order():
    def fn(n):
        yield n
        if n == 3:
            raise ValueError("three")

    out = []
    with pytest.raises(ValueError, match="three"):
        for value in _ordered(fn, [(n,) for n in range(10)], 4):
            out.append(value)
    assert out == [0, 1, 2, 3]  # what came before the error, in order


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


class _OnePackageTarget:
    """A target repository holding packages of the given numbers of versions, one asset each; counts the
    versions its listings have handed out."""

    def __init__(self, sizes: dict[str, int]):
        self.sizes = sizes
        self.listed = 0
        self.lock = threading.Lock()

    def packages(self, repository, fmt):
        return iter([{"package": name} for name in self.sizes])

    def versions(self, repository, fmt, namespace, package):
        for n in range(self.sizes[package]):
            with self.lock:
                self.listed += 1
            yield {"version": f"1.0.{n}", "revision": f"r{n}", "status": "Published"}

    def assets(self, repository, fmt, namespace, package, version):
        return [{"name": f"{package}-{version}.bin", "size": 1, "hashes": {"SHA-256": "ab" * 32}}]


def test_a_package_of_many_versions_is_listed_in_runs_not_held_whole():
    """Memory stays flat in the size of one package: the listing runs at most a few runs of versions ahead of
    what the plan has taken, however many versions the package has (the whole package used to be listed into
    one list before its first item was handed on)."""
    target = _OnePackageTarget({"huge": 20 * VERSIONS_AT_ONCE})
    items = have(target, "repo", "generic", concurrency=8)
    first = next(items)
    assert first.key.version == "1.0.0"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # let the listing thread run as far ahead as it will
        before = target.listed
        time.sleep(0.2)
        if target.listed == before:
            break
    assert target.listed <= 4 * VERSIONS_AT_ONCE  # the run handed on, two waiting, one being filled
    rest = list(items)
    assert [i.key.version for i in [first, *rest]] == [f"1.0.{n}" for n in range(20 * VERSIONS_AT_ONCE)]


def test_packages_of_every_size_come_out_whole_and_in_order():
    sizes = {"a": 1, "b": 3 * VERSIONS_AT_ONCE + 7, "c": 0, "d": VERSIONS_AT_ONCE, "e": 2, "f": VERSIONS_AT_ONCE + 1}
    got = [(i.key.package, i.key.version) for i in have(_OnePackageTarget(sizes), "repo", "generic", concurrency=3)]
    assert got == [(name, f"1.0.{n}") for name, size in sizes.items() for n in range(size)]


class _SlowAssetsTarget(_OnePackageTarget):
    """Each ListPackageVersionAssets takes a while (a remote service); counts those made."""

    def __init__(self, sizes: dict[str, int]):
        super().__init__(sizes)
        self.asset_calls = 0

    def assets(self, repository, fmt, namespace, package, version):
        time.sleep(0.005)
        with self.lock:
            self.asset_calls += 1
        return super().assets(repository, fmt, namespace, package, version)


def test_closing_the_target_listing_stops_each_listing_thread_at_its_next_call():
    """Ctrl-C during the plan (or a fatal error) closes the listing: each listing thread used to finish the
    run of versions it was filling first, up to VERSIONS_AT_ONCE ListPackageVersionAssets calls each (388
    calls, 5 s, against a stand-in answering in 40 ms) before "interrupted" was even printed."""
    workers = 4
    target = _SlowAssetsTarget({f"p{n}": 10 * VERSIONS_AT_ONCE for n in range(workers)})
    items = have(target, "repo", "generic", concurrency=workers)
    next(items)
    time.sleep(0.3)  # every thread is filling a run
    with target.lock:
        before = target.asset_calls
    items.close()
    assert target.asset_calls - before <= workers  # the one call each thread had in flight
    assert not [t for t in threading.enumerate() if t.name.startswith("ferry-list")]


class _ThrottledTarget(_OnePackageTarget):
    """Package ``slow``'s first asset listing is throttled: it waits out a Retry-After the way the engine's
    retry sleep does (until the run stops); the other packages answer at once."""

    def __init__(self, sizes: dict[str, int]):
        super().__init__(sizes)
        self.stopping = threading.Event()
        self.waiting = threading.Event()

    def assets(self, repository, fmt, namespace, package, version):
        if package == "slow":
            self.waiting.set()
            if self.stopping.wait(30):
                raise RuntimeError("the run is stopping")
        return super().assets(repository, fmt, namespace, package, version)


def test_closing_the_target_listing_ends_a_listing_thread_s_retry_wait():
    """A listing thread waiting out a Retry-After (up to 30 s) kept Ctrl-C during the plan waiting for it:
    19.5 s after Ctrl-C against a stand-in throttling with Retry-After 25 s. Closing the listing before its
    end now calls on_abandon (the engine's stop, which ends retry waits) before the threads are waited for."""
    target = _ThrottledTarget({"fast": 3, "slow": 5})
    items = have(target, "repo", "generic", concurrency=2, on_abandon=target.stopping.set)
    assert next(items).key.package == "fast"
    assert target.waiting.wait(5)
    started = time.monotonic()
    items.close()
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith("ferry-list")]


def test_a_target_listing_read_to_its_end_does_not_stop_the_run():
    stopped = []
    items = list(have(_OnePackageTarget({"a": 3, "b": VERSIONS_AT_ONCE + 1}), "repo", "generic", concurrency=2,
                      on_abandon=lambda: stopped.append(True)))
    assert len(items) == VERSIONS_AT_ONCE + 4 and not stopped
