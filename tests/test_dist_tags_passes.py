"""ferry.dist_tags' follow passes on a real ledger: which packages each takes, how they stop, what a
failing pass does to the run, and how remembered tags are read."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import pytest

from ferry import dist_tags
from ferry.errors import FatalError
from ferry.model import Action, ItemKey, PlanEntry, SourceItem, TargetItem
from ferry.state import LedgerReader, LedgerWriter
from ferry.transfer import Interrupted

SHA = "ab" * 32
CTX = SimpleNamespace(format="npm", mapping=SimpleNamespace(source="npm-src", target="npm-store"))


def _key(package: str, version: str) -> ItemKey:
    return ItemKey("npm", "", package, version, f"{package}-{version}.tgz")


def _plan(writer: LedgerWriter, package: str, version: str, action: Action) -> None:
    k = _key(package, version)
    have = TargetItem(k, size=1, sha256=SHA) if action == Action.SAME else None
    writer.planned(PlanEntry(k, action, SourceItem(k, size=1, checksums={"sha256": SHA}), have, ""),
                   "npm-src", "npm-store")


@pytest.fixture
def ledger(tmp_path):
    """A migrate run's ledger: ``steady`` untouched, ``growing`` with a version the transfer confirmed,
    ``broken`` with the one version it failed."""
    path = tmp_path / "ferry.db"
    writer = LedgerWriter(path)
    run = writer.start_run("migrate")
    _plan(writer, "steady", "1.0.0", Action.SAME)
    _plan(writer, "steady", "1.1.0", Action.SAME)
    _plan(writer, "growing", "1.0.0", Action.SAME)
    _plan(writer, "growing", "2.0.0", Action.COPY)
    _plan(writer, "broken", "1.0.0", Action.COPY)
    writer.transition("npm-store", _key("growing", "2.0.0"), "confirmed", source_sha256=SHA, target_sha256=SHA)
    writer.transition("npm-store", _key("broken", "1.0.0"), "failed", reason="publishing it: 500")
    writer.flush()
    yield SimpleNamespace(path=path, writer=writer, run=run)
    writer.close()


def _engine(package_facts_of, workers: int = 2):
    stopped = threading.Event()
    return SimpleNamespace(job=SimpleNamespace(options=SimpleNamespace(workers=workers)), mappings=[CTX],
                           package_facts_of=package_facts_of, request_retry=lambda fn: fn(), domain=None,
                           session=None, stop=stopped.set, stopped=stopped)


def test_each_pass_takes_the_packages_it_owns(ledger):
    with LedgerReader(ledger.path) as reader:
        def names(copied):
            return {p[1]: sorted(v) for p, v in dist_tags._packages(reader, ledger.run, CTX, copied)}

        assert names(False) == {"steady": ["1.0.0", "1.1.0"]}
        # the transfer touched growing (and broken, which holds no version to point a tag at)
        assert names(True) == {"growing": ["1.0.0", "2.0.0"]}
        assert names(None) == {"steady": ["1.0.0", "1.1.0"], "growing": ["1.0.0", "2.0.0"]}


def test_a_set_stop_starts_no_package():
    engine = _engine(lambda *_: pytest.fail("no package may be read"))
    writer = SimpleNamespace(transition=lambda *a, **k: pytest.fail("nothing to record"))
    stop = threading.Event()
    stop.set()
    followed: list = []
    packages = iter([(("", f"p{i}"), {}) for i in range(100)])
    dist_tags._each_package(engine, CTX, writer, lambda package, *_: followed.append(package) or [],
                            remembered=None, packages=packages, stop=stop)
    assert followed == []


def test_a_pass_the_run_interrupts_blames_no_package(ledger):
    def stopping(*_):
        raise Interrupted("the run is stopping")

    with LedgerReader(ledger.path) as reader, pytest.raises(Interrupted):
        dist_tags._follow_mapping(_engine(stopping), CTX, ledger.writer, reader, copied=False,
                                  stop=threading.Event())
    ledger.writer.flush()
    with LedgerReader(ledger.path) as reader:
        assert [row.package for row in reader.items(ledger.run, ("failed",))] == ["broken"]


def test_a_fatal_error_in_the_early_pass_stops_the_run_at_once(ledger):
    def refused(*_):
        raise FatalError("CodeArtifact refused the credentials")

    engine = _engine(refused)
    with dist_tags.Follower(engine, ledger.writer) as follower:
        follower.mapping_planned(CTX)
        assert engine.stopped.wait(10), "the transfer would have gone on"
        deadline = time.monotonic() + 10
        while not all(f.done() for f in follower._early) and time.monotonic() < deadline:
            time.sleep(0.01)
        with pytest.raises(FatalError):  # the next mapping's plan ends there
            follower.mapping_planned(CTX)


def test_remembered_tags_are_read_a_page_at_a_time_with_no_read_left_open(ledger, monkeypatch):
    names = [f"pkg-{i:02d}" for i in range(0, 14, 2)]  # 7 packages, every other name
    ledger.writer.call(lambda db: db.conn.executemany(
        "INSERT INTO replica_packages (target_repo, format, namespace, package, dist_tags, updated)"
        " VALUES ('npm-store', 'npm', '', ?, ?, 'now')", [(n, f'{{"latest": "{n}"}}') for n in names]))
    monkeypatch.setattr(dist_tags._Remembered, "_PAGE", 3)
    with LedgerReader(ledger.path) as reader:
        remembered = dist_tags._Remembered(reader, "npm-store")
        got = {}
        for i in range(15):
            got[f"pkg-{i:02d}"] = remembered.get(("", f"pkg-{i:02d}")).get("latest")
            assert not reader.db.conn.in_transaction
    assert {n for n, tag in got.items() if tag} == set(names)
    assert all(tag == name for name, tag in got.items() if tag)


def test_a_tags_update_that_gives_up_says_so_once(ledger, monkeypatch):
    """The target's dist-tags still failing after the request retries: the package's item fails saying
    what was not brought in step and that the retries were spent, naming the request once."""
    from ferry.errors import RetryableError

    def refusing(_ctx, pid, *_a, **_k):
        raise RetryableError(f"dist-tags of {pid}: HTTP 503")

    monkeypatch.setattr(dist_tags, "sync_dist_tags", refusing)
    facts = {"dist_tags": {"latest": "1.0.0"}, "deprecated": {}}  # the source moved latest back to 1.0.0
    with LedgerReader(ledger.path) as reader:
        dist_tags._follow_mapping(_engine(lambda *_: facts), CTX, ledger.writer, reader, copied=False,
                                  stop=threading.Event())
    ledger.writer.flush()
    with LedgerReader(ledger.path) as reader:
        failed = {row.package: row.reason for row in reader.items(ledger.run, ("failed",))}
    assert failed["steady"] == "npm dist-tags not in step: gave up after retries: dist-tags of steady: HTTP 503"
