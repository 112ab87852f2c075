"""The ledger writer's batching: multi-row upserts keep event order; small batches linger for more, never a waiter."""

from __future__ import annotations

import threading

from ferry.model import Action, ItemKey, PlanEntry, SourceItem
from ferry.state import Call, LedgerReader, LedgerWriter
from ferry.state.ledger import Planned, Transition


def key(n: int) -> ItemKey:
    return ItemKey("generic", "ns", f"p{n}", "1.0", "a.bin")


def planned(n: int) -> PlanEntry:
    k = key(n)
    return PlanEntry(k, Action.COPY, SourceItem(k, size=n, checksums={"sha256": f"{n:064x}"}), None, "")


def test_runs_of_events_keep_their_order_within_one_batch(tmp_path):
    path = tmp_path / "l.db"
    writer = LedgerWriter(path, linger=0)
    writer.start_run("migrate")
    events = []
    for n in range(237):  # more than one 100-row statement, plus 10-row and 1-row ones
        events.append(("planned", n))
    for n in range(237):
        events += [("t", n, "downloading", True), ("t", n, "published", False)]
    events.append(("call", None))
    for n in range(0, 237, 2):
        events.append(("t", n, "confirmed", False))
    seen_in_call = []
    group = []
    for ev in events:
        if ev[0] == "planned":
            group.append(Planned(planned(ev[1]), "src", "dst"))
        elif ev[0] == "call":
            group.append(Call(lambda db: seen_in_call.append(
                db.execute("SELECT COUNT(*) FROM items WHERE state = 'published'").fetchone()[0])))
        else:
            group.append(Transition("dst", key(ev[1]), ev[2], attempt=ev[3], source_sha256=f"{ev[1]:064x}"))
    writer.put_many(group)  # one batch, one transaction
    writer.close()
    # the call ran after every row before it was written, and before the ones after it
    assert seen_in_call == [237]
    with LedgerReader(path) as reader:
        rows = {row.package: row for row in reader.items()}
    assert len(rows) == 237
    for n in range(237):
        row = rows[f"p{n}"]
        assert row.state == ("confirmed" if n % 2 == 0 else "published")
        assert row.attempts == 1  # the same key twice in one statement still adds up
        assert row.size == n and row.action == "copy" and row.source_sha256 == f"{n:064x}"


def test_small_batches_wait_for_more_but_not_when_someone_waits(tmp_path):
    writer = LedgerWriter(tmp_path / "l.db", linger=30.0)
    writer.start_run("migrate")
    committed = threading.Event()
    writer.transition("dst", key(1), "planned")
    # flush() puts a waiting call: the batch goes at once instead of lingering 30 s
    done = threading.Thread(target=lambda: (writer.flush(), committed.set()))
    done.start()
    assert committed.wait(10)
    done.join()
    with LedgerReader(tmp_path / "l.db") as reader:
        assert [r.state for r in reader.items()] == ["planned"]
    writer.transition("dst", key(2), "planned")
    writer.close()  # the stop marker ends a lingering batch too
    with LedgerReader(tmp_path / "l.db") as reader:
        assert len(list(reader.items())) == 2


def test_a_full_batch_goes_without_lingering(tmp_path):
    """The writer lingers on an event, not on the queue; a producer filling a batch hurries it."""
    writer = LedgerWriter(tmp_path / "l.db", linger=30.0, batch_size=5)
    writer.start_run("migrate")
    for n in range(5):
        writer.transition("dst", key(n), "planned")
    seen = []
    for _ in range(100):
        with LedgerReader(tmp_path / "l.db") as reader:
            seen = list(reader.items())
        if len(seen) == 5:
            break
        threading.Event().wait(0.1)
    assert len(seen) == 5  # committed while the writer would otherwise still be lingering
    writer.close()


def test_rows_of_another_table_wait_beside_item_rows_and_a_call_sees_them_all(tmp_path):
    from ferry.state import Upsert, UpsertStatement

    path = tmp_path / "l.db"
    writer = LedgerWriter(path, linger=0)
    writer.call(lambda db: db.execute("CREATE TABLE notes (k TEXT PRIMARY KEY, n INTEGER)"))
    notes = UpsertStatement("notes", ("k", "n"), ("k",), "n = notes.n + excluded.n")
    writer.start_run("migrate")
    seen = []
    group = []
    for n in range(30):
        group += [Transition("dst", key(n), "downloading"), Upsert(notes, ("total", 1)),
                  Upsert(notes, (f"k{n}", n)), Transition("dst", key(n), "published")]
    group.append(Call(lambda db: seen.append((
        db.execute("SELECT n FROM notes WHERE k = 'total'").fetchone()[0],
        db.execute("SELECT COUNT(*) FROM items WHERE state = 'published'").fetchone()[0]))))
    group.append(Upsert(notes, ("total", 100)))
    writer.put_many(group)
    writer.close()
    assert seen == [(30, 30)]
    with LedgerReader(path) as reader:
        assert reader.db.execute("SELECT n FROM notes WHERE k = 'total'").fetchone()[0] == 130
        assert reader.db.execute("SELECT n FROM notes WHERE k = 'k29'").fetchone()[0] == 29
        assert {r.state for r in reader.items()} == {"published"}
