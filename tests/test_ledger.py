"""The ledger: one writer thread, crash safety, schema migrations, read helpers."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
import threading
import time

import pytest
from sqlite_utils import Database

from ferry.errors import FatalError, UsageError
from ferry.model import Action, ItemKey, PlanEntry, SourceItem, TargetItem
from ferry.plan import plan
from ferry.state import SCHEMA_VERSION, Call, LedgerReader, LedgerWriter, Planned, connect
from ferry.state.ledger import writer_lock
from ferry.state.migrations import META, migrate


def sha(n: int) -> str:
    return f"{n:064x}"


def key(package: str, version: str = "1.0.0", asset: str = "package.tgz", ns: str = "") -> ItemKey:
    return ItemKey("npm", ns, package, version, asset)


def entry(package: str, action=Action.COPY, asset="package.tgz") -> PlanEntry:
    k = key(package, asset=asset)
    return PlanEntry(k, action, SourceItem(k, size=100, checksums={"sha256": sha(1)}), None, "")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state" / "ledger.db"


def test_plan_and_transitions_round_trip(path):
    want = [SourceItem(key(f"p{i}"), size=10 * i, checksums={"sha256": sha(i)}) for i in range(1, 6)]
    have = [TargetItem(key("p1"), 10, sha(1)), TargetItem(key("p2"), 20, sha(99)), TargetItem(key("zz"), 7, sha(7))]
    want.append(SourceItem(key("bad"), unmappable="version is not SemVer"))
    with LedgerWriter(path) as writer:
        run_id = writer.start_run("migrate", "job.toml")
        for e in plan(want, have):
            writer.planned(e, "npm-hosted", "npm-store")
        writer.transition("npm-store", key("p3"), "downloading", attempt=True)
        writer.transition("npm-store", key("p3"), "published", target_sha256=sha(3))
        writer.transition("npm-store", key("p3"), "confirmed")
        writer.transition("npm-store", key("p4"), "downloading", attempt=True)
        writer.transition("npm-store", key("p4"), "failed", reason="source checksum mismatch")
        counts = writer.end_run("items-failed")
    expected = {"confirmed": 1, "conflict": 1, "failed": 1, "only_in_target": 1, "planned": 1, "same": 1,
                "unmappable": 1}
    assert counts == expected
    with LedgerReader(path) as reader:
        assert reader.counts() == expected
        assert reader.action_counts(run_id) == {"conflict": 1, "copy": 3, "only-in-target": 1, "same": 1,
                                                "unmappable": 1}
        (run,) = reader.runs()
        assert (run.id, run.command, run.job, run.status, run.counts) == (run_id, "migrate", "job.toml",
                                                                           "items-failed", expected)
        assert run.ended is not None
        p3 = next(reader.items(states=("confirmed",)))
        assert (p3.key, p3.attempts, p3.source_sha256, p3.target_sha256, p3.action) == (
            key("p3"), 1, sha(3), sha(3), "copy")
        assert [(r.package, r.state, r.reason) for r in reader.failures()] == [
            ("bad", "unmappable", "version is not SemVer"),
            ("p2", "conflict", next(e.reason for e in plan(want, have) if e.key == key("p2"))),
            ("p4", "failed", "source checksum mismatch"),
        ]
        (group,) = reader.summary(run_id)
        assert (group.source_repo, group.target_repo, group.format) == ("npm-hosted", "npm-store", "npm")
        assert (group.files, group.versions, group.bytes) == (6, 6, 150)  # target-only 'zz' not counted
        assert (group.pending_files, group.pending_bytes) == (1, 50)  # p5
        assert group.states == expected
        unmappable = next(reader.items(states=("unmappable",)))
        assert unmappable.reason == "version is not SemVer"


def test_identity_is_run_independent_and_replanning_keeps_attempts(path):
    with LedgerWriter(path) as writer:
        first = writer.start_run("migrate")
        writer.planned(entry("a"), "src", "dst")
        writer.transition("dst", key("a"), "downloading", attempt=True)
        writer.transition("dst", key("a"), "failed", reason="connection reset")
        writer.end_run("items-failed")
        second = writer.start_run("migrate")
        writer.planned(entry("a"), "src", "dst")
        writer.transition("dst", key("a"), "downloading", attempt=True)
        writer.end_run("interrupted")
    with LedgerReader(path) as reader:
        (row,) = list(reader.items())
        assert (row.state, row.attempts, row.run_id, row.reason) == ("downloading", 2, second, None)
        assert reader.counts(first) == {}
        assert [r.package for r in reader.transient()] == ["a"]
        assert [r.status for r in reader.runs()] == ["items-failed", "interrupted"]
        assert reader.last_run().id == second


def test_concurrent_producers_are_serialized_by_one_writer_thread(path):
    threads, per_thread, shared = 8, 300, 20
    writer_threads = set()
    with LedgerWriter(path, batch_size=50) as writer:
        writer.start_run("migrate")
        for i in range(shared):
            writer.planned(entry(f"shared{i}"), "src", "dst")

        def produce(t):
            for n in range(per_thread):
                writer.planned(entry(f"t{t}-{n}"), "src", "dst")
                writer.transition("dst", key(f"shared{n % shared}"), "downloading", attempt=True)
                if n % 50 == 0:
                    writer.put(Call(lambda db: writer_threads.add(threading.get_ident())))

        workers = [threading.Thread(target=produce, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        writer.flush()
        with LedgerReader(path) as reader:  # readable while the writer is open
            assert sum(reader.counts().values()) == shared + threads * per_thread
        writer.end_run("ok")
    assert len(writer_threads) == 1 and threading.get_ident() not in writer_threads
    with LedgerReader(path) as reader:
        attempts = {r.package: r.attempts for r in reader.items(states=("downloading",))}
        assert sum(attempts.values()) == threads * per_thread  # no lost update
        assert set(attempts.values()) == {threads * per_thread // shared}


def test_put_many_is_one_transaction_and_write_errors_surface(path):
    writer = LedgerWriter(path)
    writer.put(Planned(entry("kept"), "src", "dst"))

    def explode(db):
        raise sqlite3.IntegrityError("disk says no")

    writer.put_many([Planned(entry("g1"), "src", "dst"), Planned(entry("g2"), "src", "dst"), Call(explode)])
    with pytest.raises(FatalError, match="ledger write failed: disk says no"):
        writer.flush()
    with pytest.raises(FatalError):
        writer.planned(entry("late"), "src", "dst")
    with pytest.raises(FatalError):
        writer.close()
    with LedgerReader(path) as reader:
        names = {r.package for r in reader.items()}
    assert "g1" not in names and "g2" not in names  # the failed group left nothing behind


def test_unknown_state_is_refused_at_the_producer(path):
    with LedgerWriter(path) as writer:
        with pytest.raises(ValueError, match="unknown ledger state"):
            writer.transition("dst", key("a"), "done")
        with pytest.raises(ValueError):
            writer.end_run("finished")


# ---------------------------------------------------------------- crashes

CRASH_MID_BATCH = """
import sys, time, pathlib
from ferry.model import Action, ItemKey, PlanEntry, SourceItem
from ferry.state import LedgerWriter, Planned, Call

path, marker = sys.argv[1], sys.argv[2]

def group(name):
    out = []
    for i in range(10):
        k = ItemKey("generic", "ns", name, "1", f"a{i}")
        out.append(Planned(PlanEntry(k, Action.COPY, SourceItem(k, size=1)), "src", "dst"))
    return out

writer = LedgerWriter(path)
writer.start_run("migrate")
writer.put_many(group("committed"))
writer.flush()

def hang(db):
    pathlib.Path(marker).write_text("inside the transaction")
    time.sleep(120)

writer.put_many(group("uncommitted") + [Call(hang)])
time.sleep(120)
"""

FREE_RUNNING = """
import sys
from ferry.model import Action, ItemKey, PlanEntry, SourceItem
from ferry.state import LedgerWriter, Planned

writer = LedgerWriter(sys.argv[1], batch_size=25)
writer.start_run("migrate")
n = 0
while True:
    events = []
    for i in range(7):
        k = ItemKey("generic", "ns", f"g{n}", "1", f"a{i}")
        events.append(Planned(PlanEntry(k, Action.COPY, SourceItem(k, size=i)), "src", "dst"))
    writer.put_many(events)
    n += 1
"""


def run_script(tmp_path, source, *args):
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(source))
    return subprocess.Popen([sys.executable, str(script), *map(str, args)])


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.02)


def assert_consistent(path):
    db = Database(sqlite3.connect(str(path)))
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()


def test_kill_inside_a_batch_leaves_the_committed_part_only(tmp_path, path):
    marker = tmp_path / "marker"
    proc = run_script(tmp_path, CRASH_MID_BATCH, path, marker)
    try:
        wait_for(marker.exists)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert_consistent(path)
    with LedgerReader(path) as reader:
        packages = {}
        for row in reader.items():
            packages[row.package] = packages.get(row.package, 0) + 1
        assert packages == {"committed": 10}
        (run,) = reader.runs()
        # Stored as running; read as crashed: no process holds (or, here, ever took) the writer lock.
        assert run.status == "crashed" and run.ended is None
    with LedgerWriter(path) as writer:  # and a later run carries on normally
        writer.start_run("migrate")
        writer.planned(entry("after-crash"), "src", "dst")
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        assert [r.status for r in reader.runs()] == ["crashed", "ok"]


def test_kill_at_an_arbitrary_moment_never_leaves_half_a_group(tmp_path, path):
    proc = run_script(tmp_path, FREE_RUNNING, path)
    try:
        def enough():
            if not path.exists():
                return False
            try:
                with LedgerReader(path) as reader:
                    return sum(reader.counts().values()) >= 7 * 300
            except (UsageError, sqlite3.OperationalError):
                return False  # still being created

        wait_for(enough)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert_consistent(path)
    with LedgerReader(path) as reader:
        sizes = {}
        for row in reader.items():
            sizes[row.package] = sizes.get(row.package, 0) + 1
    assert len(sizes) >= 300
    assert set(sizes.values()) == {7}
    # groups are committed in order: no gaps
    assert sorted(int(name[1:]) for name in sizes) == list(range(len(sizes)))


# ---------------------------------------------------------------- schema


def test_older_schema_is_migrated_and_keeps_its_rows(path):
    path.parent.mkdir(parents=True)
    db = Database(sqlite3.connect(str(path)))
    assert migrate(db, str(path), upto=1) == 1
    db.execute("INSERT INTO runs (command, job, started, status) VALUES ('migrate', 'old.toml', '2024-01-01', 'ok')")
    db.execute(
        "INSERT INTO items (target_repo, format, namespace, package, version, asset, source_repo, action, state,"
        " size, attempts, updated, run_id) VALUES ('dst', 'npm', '', 'old', '1.0.0', 'package.tgz', 'src', 'copy',"
        " 'confirmed', 5, 1, '2024-01-01', 1)"
    )
    assert "ferry_version" not in db["runs"].columns_dict
    db.close()
    with LedgerReader(path) as reader:
        assert reader.schema_version == SCHEMA_VERSION >= 3  # later steps (e.g. 0004) append
        assert "locator" in reader.db["items"].columns_dict
        assert reader.counts() == {"confirmed": 1}
        assert {i.name for i in reader.db["items"].indexes} >= {"items_identity", "items_state", "items_run_state"}
        (run,) = reader.runs()
        assert (run.job, run.ferry_version) == ("old.toml", None)
    with LedgerWriter(path) as writer:
        writer.start_run("migrate")
        writer.planned(entry("new"), "src", "dst")
    with LedgerReader(path) as reader:
        assert reader.counts() == {"confirmed": 1, "planned": 1}
        assert reader.runs()[-1].ferry_version is not None


UPGRADE_WITHOUT_ROOM = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
resource.setrlimit(resource.RLIMIT_FSIZE, (48 * 1024, 48 * 1024))  # the -shm (32 KiB) fits, the upgrade not
from ferry.errors import FerryError
from ferry.state import connect
try:
    connect(sys.argv[1])
except FerryError as err:
    print(type(err).__name__, err.exit_code, err)
"""


def test_an_upgrade_the_disk_has_no_room_for_says_so_and_keeps_the_ledger(tmp_path, path):
    """Upgrading a ledger on a full disk (RLIMIT_FSIZE stands in for it) said "not a ferry ledger (database or
    disk is full); choose another ledger path": a user who did so would lose the ledger's memory."""
    path.parent.mkdir(parents=True)
    db = Database(sqlite3.connect(str(path)))
    assert migrate(db, str(path), upto=1) == 1
    db.execute("INSERT INTO runs (command, job, started, status) VALUES ('migrate', 'old.toml', '2024-01-01', 'ok')")
    db.conn.executemany(
        "INSERT INTO items (target_repo, format, package, version, asset, state, updated, run_id) VALUES "
        "('dst', 'npm', ?, '1.0.0', 'package.tgz', 'confirmed', '2024-01-01', 1)", [(f"p{i}",) for i in range(50)])
    db.conn.commit()
    db.close()
    script = tmp_path / "upgrade.py"
    script.write_text(UPGRADE_WITHOUT_ROOM)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == (f"FatalError 3 {path}: the ledger cannot be written (disk I/O error); free space on "
                                  "its disk, or if it went read-only or fails, make the ledger writable there or move "
                                  "it to a sound disk, then run the same command again"), out.stderr
    db = Database(sqlite3.connect(str(path)))
    assert db.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchone() == ("1",)
    assert db.execute("SELECT COUNT(*) FROM items").fetchone() == (50,)
    db.close()
    with LedgerReader(path) as reader:  # and once there is room, it upgrades
        assert reader.schema_version == SCHEMA_VERSION and sum(reader.counts().values()) == 50


WRITES_WITHOUT_ROOM = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
from ferry.errors import FerryError
from ferry.model import Action, ItemKey, PlanEntry, SourceItem
from ferry.state import LedgerWriter, Planned
writer = LedgerWriter(sys.argv[1])
writer.start_run("migrate")
writer.flush()
resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))  # the disk fills up during the run
try:
    for n in range(2000):
        k = ItemKey("generic", "ns", f"g{n}", "1", "a" * 200)
        writer.put(Planned(PlanEntry(k, Action.COPY, SourceItem(k, size=1)), "src", "dst"))
    writer.close()
except FerryError as err:
    print(type(err).__name__, err)
"""


def test_a_disk_that_fills_up_during_a_run_is_named_with_what_to_do(tmp_path, path):
    """A ledger write failing for want of room said only "ledger write failed: database or disk is full". A write
    error SQLite does not call a full disk (here a file-size limit; a disk gone read-only, chattr +i on an ext4
    ledger mid-run, or failing) said "free space on its disk" alone, of a disk with room to spare."""
    script = tmp_path / "fill.py"
    script.write_text(WRITES_WITHOUT_ROOM)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == (f"FatalError {path}: ledger write failed: disk I/O error; free space on its disk, or "
                                  "if it went read-only or fails, make the ledger writable there or move it to a sound "
                                  "disk, then run the same command again"), out.stderr


OPENS_WITHOUT_ROOM = """
import resource, signal, sys
from pathlib import Path
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
from ferry.commands import check_ledger
from ferry.errors import FerryError
from ferry.state import LedgerReader, LedgerWriter
resource.setrlimit(resource.RLIMIT_FSIZE, (8 * 1024, 8 * 1024))  # no room for the -shm file (32 KiB)
for step in (lambda: check_ledger(Path(sys.argv[1])), lambda: LedgerWriter(sys.argv[1]),
             lambda: LedgerReader(sys.argv[1], read_only=True)):
    try:
        opened = step()
        print("read", [run.command for run in opened.runs()] if isinstance(opened, LedgerReader) else opened)
    except FerryError as err:
        print(type(err).__name__, err.exit_code, err)
"""


def test_a_ledger_whose_disk_has_no_room_for_its_shm_file_is_not_called_no_ledger(tmp_path, path):
    """On a full disk (a 2 MB tmpfs filled up between runs) migrate said "not a ferry ledger (disk I/O error);
    choose another ledger path", exit 2, of a whole ledger: SQLite could not grow the -shm file a WAL ledger is
    read through (SQLITE_IOERR_SHMSIZE). An operator who took the advice would drop the ledger's memory. And
    status and report, which only read, could not read it there ("the ledger cannot be written")."""
    writer = LedgerWriter(path)
    writer.start_run("migrate")
    writer.close()  # the last connection: the -wal and -shm files go
    assert not os.path.exists(f"{path}-shm")
    script = tmp_path / "open.py"
    script.write_text(OPENS_WITHOUT_ROOM)
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True, text=True, timeout=60)
    message = (f"FatalError 3 {path}: the ledger cannot be written (disk I/O error); free space on its disk and run "
               "the same command again")
    # The reading commands read it as it is (no writer has it open: the file alone holds everything).
    assert out.stdout.splitlines() == ["read True", message, "read ['migrate']"], out.stderr
    with LedgerReader(path) as reader:  # and once there is room, it is the ledger it was
        assert [run.command for run in reader.runs()] == ["migrate"]


@pytest.mark.parametrize("what", ["folder", "wal", "ledger"])
def test_a_ledger_removed_under_a_run_stops_it_with_what_to_do(tmp_path, path, what):
    """The ledger's folder removed during a migrate: the run went on writing a file no longer there, published
    everything and then ended "no ledger there; check the ledger path or run a migration first", exit 2; its
    -wal and -shm removed: "not a ferry ledger (disk I/O error); choose another ledger path", exit 2. The writer
    now stops at its next commit, one line naming what went and what to do; the -wal gone, nothing is lost."""
    writer = LedgerWriter(path, linger=0)
    writer.start_run("migrate")
    writer.planned(entry("kept"), "src", "dst")
    writer.flush()
    # A read-only reader open meanwhile (status of another user's ledger): the writer's connection is then not
    # the last to close, which alone would have put what the removed -wal held into the ledger.
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert reader.execute("SELECT COUNT(*) FROM items").fetchone() == (1,)
    if what == "folder":
        shutil.rmtree(path.parent)
        gone = "the ledger"
    elif what == "wal":
        os.remove(f"{path}-wal")
        os.remove(f"{path}-shm")
        gone = "its -wal file"
    else:
        other = tmp_path / "other.db"
        connect(other).close()
        os.replace(other, path)
        gone = "the ledger"
    message = (f"{path}: {gone} was removed or replaced while this run wrote it; the target holds what the run "
               "published: run the same command again, which finds it there")
    writer.planned(entry("after"), "src", "dst")
    with pytest.raises(FatalError) as caught:
        writer.flush()
    assert str(caught.value) == message
    with pytest.raises(FatalError, match="was removed or replaced"):
        writer.close()
    reader.close()
    if what == "wal":  # what the removed -wal held is in the ledger: a rerun resumes from it
        with LedgerReader(path) as reader:
            assert [row.package for row in reader.items()] == ["after", "kept"]


def test_a_wal_removed_after_the_last_commit_loses_nothing(path):
    """The -wal and -shm removed after a run's last commit, a read-only reader open: the writer's closing
    connection was not the last, nobody copied the removed -wal into the ledger, and a rerun found it empty."""
    writer = LedgerWriter(path, linger=0)
    writer.start_run("migrate")
    writer.planned(entry("kept"), "src", "dst")
    writer.flush()
    reader = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
    assert reader.execute("SELECT COUNT(*) FROM items").fetchone() == (1,)
    os.remove(f"{path}-wal")
    os.remove(f"{path}-shm")
    writer.close()
    reader.close()
    with LedgerReader(path) as ledger:
        assert [row.package for row in ledger.items()] == ["kept"]


def test_a_ledger_with_a_damaged_page_is_named_damaged_with_what_to_do(tmp_path, path, capsys):
    """A ledger with a page overwritten (a disk error, a bad copy): status and report ended "unexpected
    DatabaseError: database disk image is malformed; rerun with --debug for the details and report it" and
    migrate "ledger write failed: database disk image is malformed", with nothing to do about it."""
    from e2e_helpers import ferry

    with LedgerWriter(path) as writer:
        writer.start_run("migrate")
        for n in range(400):
            writer.planned(entry(f"pkg{n}", asset="a" * 200), "src", "dst")
        writer.end_run("ok")
    with closing(sqlite3.connect(path)) as db:
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        size = db.execute("PRAGMA page_size").fetchone()[0]
    with open(path, "r+b") as file:  # the middle page: one of the items table's, the test checks below
        file.seek(pages // 2 * size + 100)
        file.write(bytes(range(256)) * 8)
    with closing(sqlite3.connect(path)) as db, pytest.raises(sqlite3.DatabaseError, match="malformed"):
        db.execute("SELECT SUM(length(asset)) FROM items").fetchone()
    advice = ("move it aside and run the job's command again (a new ledger is planned from the target, which keeps "
              "what was published)")
    for command in (["status", "--state", str(path)], ["report", "--state", str(path)]):
        capsys.readouterr()
        assert ferry(*command) == 3
        assert capsys.readouterr().err == (f"ferry: error: {path}: the ledger is damaged (database disk image is "
                                           f"malformed); {advice}\n")
    writer = LedgerWriter(path)
    with pytest.raises(FatalError) as caught:
        writer.start_run("migrate")
        for n in range(400):
            writer.planned(entry(f"pkg{n}", asset="a" * 200), "src", "dst")
        writer.flush()
    with pytest.raises(FatalError, match="the ledger is damaged"):
        writer.close()
    assert str(caught.value) == (f"{path}: ledger write failed: database disk image is malformed; the ledger is "
                                 f"damaged: {advice}")


def test_a_ledger_before_version_statuses_upgrades_and_keeps_both_statuses_and_the_origin(path):
    path.parent.mkdir(parents=True)
    db = Database(sqlite3.connect(str(path)))
    assert migrate(db, str(path), upto=7) == 7
    db.execute("INSERT INTO items (target_repo, format, namespace, package, version, asset, source_repo, state,"
               " attempts, updated) VALUES ('dst', 'npm', '', 'old', '1.0.0', 'package.tgz', 'src', 'same', 0, 'x')")
    assert "source_status" not in db["items"].columns_dict
    db.close()
    k = key("new")
    unlisted = PlanEntry(k, Action.SAME, SourceItem(k, size=1, checksums={"sha256": sha(1)}, status="Unlisted",
                                                  origin="external:public:npmjs"),
                         TargetItem(k, size=1, sha256=sha(1), status="Published"), "")
    with LedgerWriter(path) as writer:
        writer.start_run("migrate")
        writer.planned(unlisted, "src", "dst")
    with LedgerReader(path) as reader:
        assert reader.schema_version == SCHEMA_VERSION
        rows = {r.package: (r.source_status, r.target_status, r.source_origin) for r in reader.items(None)}
    assert rows == {"old": (None, None, None), "new": ("Unlisted", "Published", "external:public:npmjs")}


def test_ledger_from_a_newer_ferry_is_refused(path):
    connect(path).close()
    db = Database(sqlite3.connect(str(path)))
    db.execute(f"UPDATE {META} SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    db.close()
    message = f"{path}: ledger written by a newer ferry (schema {SCHEMA_VERSION + 1}); upgrade ferry"
    with pytest.raises(UsageError) as caught:
        LedgerReader(path)
    assert str(caught.value) == message
    with pytest.raises(UsageError, match="newer ferry"):
        LedgerWriter(path)


def test_files_that_are_not_ledgers_are_refused(tmp_path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UsageError, match="not a ferry ledger"):
        LedgerReader(junk)
    other = tmp_path / "other.db"
    Database(sqlite3.connect(str(other)))["people"].insert({"name": "x"})
    with pytest.raises(UsageError, match="not a ferry ledger"):
        LedgerWriter(other)
    with pytest.raises(UsageError, match="no ledger there"):
        LedgerReader(tmp_path / "missing.db")


def test_a_lock_file_that_cannot_be_used_is_bad_input_before_anything_is_contacted(tmp_path, path, monkeypatch,
                                                                                     capsys):
    """The writer lock beside the ledger could not be opened (a folder in its place; another user's file in a
    shared folder): "unexpected IsADirectoryError ... report it", exit 3."""
    from e2e_helpers import aws_env, ferry, write_job
    from ferry.state.ledger import writer_lock

    aws_env(monkeypatch, tmp_path)
    path.parent.mkdir(parents=True)
    lock = path.parent / "ledger.db.lock"
    lock.mkdir()
    message = (f"{path}: its lock file {lock} cannot be opened (Is a directory); make it a file this user can write, "
               "or give this run another --state")
    with pytest.raises(UsageError) as caught, writer_lock(path):
        pass
    assert str(caught.value) == message
    job = write_job(tmp_path / "job.toml", "http://127.0.0.1:9", "http://127.0.0.1:9",
                    [{"source": "npm-internal", "target": "npm-store"}])
    capsys.readouterr()
    assert ferry("audit", str(job), "--state", str(path)) == 2
    assert capsys.readouterr().err == f"ferry: error: {message}\n"
    assert not path.exists()


HOLDS_THE_LOCK_WITHOUT_ROOM = """
import resource, signal, sys
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing us
from ferry.errors import FerryError
from ferry.state.ledger import writer_lock
resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # the disk has no room for the process id in the lock file
try:
    with writer_lock(sys.argv[1]):
        print("held", flush=True)
        sys.stdin.readline()
except FerryError as err:
    print(type(err).__name__, err.exit_code, err)
except OSError as err:
    print("unexpected", err)
"""


def test_a_lock_file_with_no_room_for_the_process_id_still_locks(tmp_path, path):
    """On a full disk migrate ended with "unexpected OSError: [Errno 28] No space left on device ... report it":
    the writer lock could not write its process id into the new lock file. The lock is the flock, not the id."""
    path.parent.mkdir(parents=True)
    script = tmp_path / "hold.py"
    script.write_text(HOLDS_THE_LOCK_WITHOUT_ROOM)
    holder = subprocess.Popen([sys.executable, str(script), str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(UsageError, match=r"another ferry run is writing this ledger \(process unknown\)"):
            with writer_lock(path):
                pass
    finally:
        out, _ = holder.communicate("\n", timeout=30)
    assert out == ""


def test_a_ledger_named_through_a_symlink_has_one_writer_lock(tmp_path):
    """The lock file was named after the path as given: a run given the ledger through a symlink (a stable
    name for a ledger kept on another disk) locked another file than a run given the file itself, so both ran
    on one ledger, and status read through the link called the running run crashed."""
    from ferry.state.ledger import writer_gone, writer_lock

    real = tmp_path / "disk" / "ferry.db"
    real.parent.mkdir()
    with LedgerWriter(real) as writer:
        writer.start_run("migrate", "job.toml")
    link = tmp_path / "ferry.db"
    link.symlink_to(real)
    with writer_lock(real):
        with pytest.raises(UsageError, match="another ferry run is writing this ledger"), writer_lock(link):
            pass
        assert not writer_gone(link)
        with LedgerReader(link, read_only=True) as reader:
            assert reader.last_run().status == "running"
    with writer_lock(link):
        with pytest.raises(UsageError, match="another ferry run is writing this ledger"), writer_lock(real):
            pass
    assert writer_gone(link) and writer_gone(real)
    assert sorted(p.name for p in tmp_path.rglob("*.lock")) == ["ferry.db.lock"]


def test_wal_mode(path):
    connect(path).close()
    db = Database(sqlite3.connect(str(path)))
    assert db.journal_mode == "wal"
    db.close()


def test_a_long_walk_of_the_items_does_not_stop_the_wal_being_checkpointed(path):
    """The transfer walks the ledger for hours while the writer commits: each page is its own short read,
    so checkpoints go on and the WAL file does not grow with the run."""
    with LedgerWriter(path) as writer:
        writer.start_run("migrate", "job.toml")
        for i in range(50):
            writer.planned(entry(f"p{i:02d}"), "npm-hosted", "npm-store")
        writer.flush()
        with LedgerReader(path) as reader:
            walk = reader.items(None, ("planned",), page=10)
            seen = [next(walk).package for _ in range(15)]  # mid-walk: a page is held by the generator
            for i in range(15):
                writer.transition("npm-store", key(f"p{i:02d}"), "confirmed")
            writer.flush()
            probe = sqlite3.connect(path)
            busy, _log, _done = probe.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            probe.close()
            assert busy == 0  # no reader held a snapshot
            assert os.path.getsize(f"{path}-wal") == 0
            seen += [row.package for row in walk]
    assert seen == [f"p{i:02d}" for i in range(50)]  # every row once, in identity order
