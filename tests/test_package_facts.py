"""The engine's package facts: read once per package however many workers ask at once, and a read that fails
is that answer too (the workers waiting for it are not each sent to read again, one after another)."""

from __future__ import annotations

import threading
import time

import pytest

from e2e_helpers import aws_env, write_job
from ferry.config import RepositoryMapping, load_job
from ferry.engine import Engine, MappingContext, Settings
from ferry.errors import RetryableError
from ferry.model import ItemKey

MAPPING = RepositoryMapping(source="crates", target="crates", namespace="")


class _Migrator:
    """A migrator whose package facts read can be held open and made to fail, counting the reads."""

    format = "cargo"

    def __init__(self, fail: bool = False):
        self.fail, self.reads, self.release = fail, [], threading.Event()

    def package_facts(self, source, repository, key):
        self.reads.append(key.package)
        if not self.release.wait(10):
            raise AssertionError("never released")
        if self.fail:
            raise RetryableError(f"index of {key.package}: HTTP 503")
        return {"yanked": []}


@pytest.fixture
def engine(tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("NEXUS_PASSWORD", "x")
    job = load_job(write_job(tmp_path / "job.toml", "http://127.0.0.1:9", "http://127.0.0.1:9",
                             [{"source": "crates", "target": "crates", "format": "cargo"}]))
    engine = Engine(job, Settings(ledger=tmp_path / "ferry.db", allow_http=True, sleep=lambda seconds: None))
    yield engine
    engine.session.close()


def _ask(engine, ctx, packages):
    """Ask the facts of each of ``packages`` on a thread of its own; returns the threads and their outcomes."""
    outcomes: dict[int, object] = {}

    def ask(index, package):
        try:
            outcomes[index] = engine.package_facts_of(ctx, ItemKey("cargo", "", package, "1.0.0", "x.crate"))
        except Exception as err:  # noqa: BLE001 - what the test looks at
            outcomes[index] = err

    threads = [threading.Thread(target=ask, args=(i, p), daemon=True) for i, p in enumerate(packages)]
    for thread in threads:
        thread.start()
    return threads, outcomes


def test_workers_waiting_for_a_read_that_fails_get_its_failure_instead_of_each_reading_again(engine):
    migrator = _Migrator(fail=True)
    ctx = MappingContext(MAPPING, "cargo", migrator)
    threads, outcomes = _ask(engine, ctx, ["acme_core"] * 4)
    time.sleep(0.2)  # all four are asking now
    migrator.release.set()
    for thread in threads:
        thread.join(10)
    assert all(isinstance(outcomes[i], RetryableError) for i in range(4)), outcomes
    # One read, under the request retry (5 attempts): not 5 for each of the 4 workers, one after another.
    assert len(migrator.reads) == 5, migrator.reads


def test_a_package_whose_read_is_slow_does_not_hold_up_the_facts_of_another(engine):
    migrator = _Migrator()
    ctx = MappingContext(MAPPING, "cargo", migrator)
    slow = "acme_slow"
    # A package that 64 locks striped by hash would put on the slow one's lock (as they once did), so that this
    # test fails wherever a read holds a lock that another package's facts need.
    stripe = hash(("crates", "cargo", "", slow)) % 64
    other = next(f"acme_{n}" for n in range(100000) if hash(("crates", "cargo", "", f"acme_{n}")) % 64 == stripe)
    threads, outcomes = _ask(engine, ctx, [slow])
    time.sleep(0.2)
    quick = _Migrator()
    quick.release.set()
    threads2, outcomes2 = _ask(engine, MappingContext(MAPPING, "cargo", quick), [other])
    threads2[0].join(2)
    done_before_the_slow_one = not threads2[0].is_alive()
    migrator.release.set()
    threads[0].join(10)
    threads2[0].join(10)
    assert done_before_the_slow_one, "the facts of another package waited for a slow read of acme_slow"
    assert outcomes2[0] == {"yanked": []} and outcomes[0] == {"yanked": []}
