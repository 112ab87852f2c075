"""The ledger: a SQLite journal of every item ferry has planned or moved, written by one thread.

Tables (see :mod:`ferry.state.migrations`): ``runs`` (one row per command run), ``items`` (one row
per asset per target repository, across runs: identity ``(target_repo, format, namespace, package,
version, asset)``; ``run_id`` is the last run that touched it), ``ferry_meta`` (schema version).

Writing. Only :class:`LedgerWriter`'s thread owns a write connection. Producers (planner, transfer
workers) put events on its bounded queue and go on; the thread applies them in arrival order and
commits in batches (whatever is queued, up to ``batch_size`` events, one transaction; a small batch
waits up to ``linger`` seconds for more), writing runs of item events as multi-row upserts.
:meth:`LedgerWriter.put_many` groups events that must commit together. :meth:`LedgerWriter.flush`
returns once everything put before it is committed.

Crash safety and the resume contract. The file is in WAL mode; a batch is one transaction, so a
crash (even ``kill -9``) loses at most the batches not yet committed and never leaves half a
batch. The ledger is a journal, not the truth: the live target is. On resume the engine re-lists
the target and re-plans every mapping (the plan overwrites each row's action/state), and rows left
in a transient state (``downloading``, ``published``: see :data:`TRANSIENT`, listed by
:meth:`ferry.state.reader.LedgerReader.transient`) are re-checked against the target before being
trusted: a ``published`` row whose asset the target holds with the expected SHA-256 becomes
``confirmed``; anything else goes back to ``planned``. Nothing stored here is a secret: every reason
is redacted (:func:`ferry.redact.redact`) as it is written, since reasons quote servers' answers.
"""

from __future__ import annotations

import json
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ferry import __version__
from ferry.errors import FatalError, UsageError
from ferry.model import Action, ItemKey, PlanEntry
from ferry.redact import one_line, redact
from ferry.state.migrations import DAMAGED_ADVICE, damaged, migrate, unusable, write_advice, write_failed
from ferry.state.upsert import Rows, Upsert, UpsertStatement

try:
    import fcntl
except ImportError:  # not POSIX: no file locks, so nothing keeps two runs off one ledger
    fcntl = None  # type: ignore[assignment]

STATES = ("planned", "downloading", "published", "confirmed", "same", "conflict", "failed", "unmappable",
          "only_in_target", "skipped", "deleted", "disposed")
TRANSIENT = ("downloading", "published")
DONE = ("confirmed", "same")
BAD = ("conflict", "failed", "unmappable")  # "skipped" is not bad: the job chose to leave those items out
# Files of versions ``replicate --propagate-deletes`` deleted or disposed in the target because the source had:
# neither side holds them any more, so they are neither copied nor bad (see LedgerWriter.removed).
REMOVED = ("deleted", "disposed")
STATE_OF_ACTION = {
    Action.COPY: "planned",
    Action.SAME: "same",
    Action.CONFLICT: "conflict",
    Action.ONLY_IN_TARGET: "only_in_target",
    Action.UNMAPPABLE: "unmappable",
    Action.SKIPPED: "skipped",
}
RUN_STATUSES = ("running", "ok", "items-failed", "fatal", "interrupted")
# How status and report show a run the ledger still calls running whose process has gone (never stored).
CRASHED = "crashed"
_LOCK_TRIES = 4


def now() -> str:
    """The current UTC time as ISO 8601 with milliseconds (how the ledger stores times)."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def connect(path: str | Path) -> Database:
    """Open (creating) the ledger at *path* in WAL mode and bring its schema up to date.

    Returns a ``sqlite_utils.Database`` bound to the calling thread. Raises :class:`UsageError`
    for a ledger from a newer ferry or a file that is not a ledger, :class:`FatalError` for one whose files
    cannot be written or read (a full disk: :func:`ferry.state.migrations.unusable`).
    """
    label = str(path)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # timeout: wait for the writer's lock instead of failing with "database is locked".
    db = Database(sqlite3.connect(label, timeout=30.0))
    try:
        db.enable_wal()
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: consistent after any crash
        db.execute("PRAGMA foreign_keys = ON")
        migrate(db, label)
    except sqlite3.DatabaseError as err:
        db.close()
        # A failed upgrade (one transaction) is undone: the ledger holds what it held.
        raise unusable(label, err) from None
    except BaseException:
        db.close()
        raise
    return db


def open_read_only(path: str | Path) -> sqlite3.Connection:
    """A connection that reads the ledger file at ``path`` and never changes what it holds.

    Where the file and its folder can be written, a plain connection held to ``query_only``: the last
    connection to close a WAL ledger removes the ``-wal`` and ``-shm`` files beside it, which a ``mode=ro``
    one cannot do (every ``status`` left an empty pair behind). Where the file cannot be written (another
    user's) and no connection has it open (one keeps a ``-wal`` or ``-journal`` beside it), it is read as it
    is (``immutable``): a ``mode=ro`` connection would leave a pair this user owns, which the ledger's owner
    then cannot write (its next run: "attempt to write a readonly database"). Elsewhere ``mode=ro``; and
    where that cannot make the ``-shm`` a WAL ledger needs (a read-only mount, a full disk) while no ``-wal`` holds
    commits beside it, the file is read as it is too: no writer has it open, so the file alone holds
    everything. Raises ``sqlite3.Error`` for a file SQLite cannot read.
    """
    real = Path(path).resolve()
    uri = real.as_uri()
    wal = Path(f"{real}-wal")
    writable = os.access(real, os.W_OK) and os.access(real.parent, os.W_OK | os.X_OK)
    idle = not writable and not wal.exists() and not Path(f"{real}-journal").exists()
    if not idle:
        conn = sqlite3.connect(f"{uri}?mode={'rw' if writable else 'ro'}", uri=True, timeout=30.0)
        try:
            if writable:
                conn.execute("PRAGMA query_only = ON")
            conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()  # opens the file (and its WAL) now
            return conn
        except sqlite3.OperationalError as err:
            conn.close()
            # No -shm to be had: a read-only mount, or a full disk (no room to grow one: status at 2 a.m.).
            no_shm = (err.sqlite_errorcode or 0) & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY) or (
                err.sqlite_errorcode == sqlite3.SQLITE_IOERR_SHMSIZE)
            if not no_shm or (wal.is_file() and wal.stat().st_size > 0):
                raise  # not for want of a -shm; or commits only the -wal holds, which the file alone would miss
    conn = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.Error:
        conn.close()
        raise
    return conn


@contextmanager
def writer_lock(path: str | Path, shard: object | None = None) -> Iterator[None]:
    """Hold the ledger's writer lock for the block: an advisory lock on the file ``<ledger>.lock`` beside
    it (beside the file a symlink names), which the operating system drops when the process ends, however it
    ends (kill -9 included).

    Two runs writing one ledger would each re-plan the other's rows into their own run, so both reports
    (and ``status``) would leave out items the run moved. Raises :class:`UsageError` naming the process
    that holds the lock, or the lock file when it cannot be opened; take it before anything is contacted or
    created. With ``shard`` (the ``--shard`` the ledger is kept for) the holder is that shard running already,
    and the advice is to wait for it: another ledger would have two runs move the same packages at once.
    """
    if fcntl is None:
        yield
        return
    lock = _lock_file(path)
    lock.parent.mkdir(parents=True, exist_ok=True)
    # The file stays when the run ends: removing it would let a run that opened it just before lock
    # a file no longer there while a third run locks a new one.
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise UsageError(f"{path}: its lock file {lock} cannot be opened ({err.strerror or type(err).__name__}); "
                         "make it a file this user can write, or give this run another --state") from None
    try:
        for attempt in range(_LOCK_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if attempt + 1 < _LOCK_TRIES:
                    time.sleep(0.05)  # a status or report looking whether a run is alive holds it that long
        else:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            if shard is not None:
                raise UsageError(f"{path}: another ferry run is writing this ledger (process {holder}): shard "
                                 f"{shard} is running already; wait for that run to end, or stop it")
            raise UsageError(f"{path}: another ferry run is writing this ledger (process {holder}); wait for "
                             "it to end, or give this run another --state")
        try:
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
        except OSError:
            # No room for the id (a full disk): the lock is held all the same, a second run is told "process
            # unknown", and the ledger's own first write names the full disk with what to do.
            pass
        yield
    finally:
        os.close(fd)  # releases the lock


def _lock_file(path: str | Path) -> Path:
    # Beside the file the path names, not the name given: a run given the ledger through a symlink and one given
    # the file itself took two locks, and both wrote the ledger.
    return Path(f"{Path(path).resolve()}.lock")


def writer_gone(path: str | Path) -> bool:
    """True when the run that took ``path``'s writer lock (:func:`writer_lock`) has ended, so a run the
    ledger still shows ``running`` stopped without recording its end (killed, out of memory, power lost).
    Also True where no lock file is beside the ledger: every run creates one there before it writes, so
    none is writing this copy (the nightly runbook's ledger comes back from S3 without it). False while a
    process holds the lock. Creates nothing."""
    if fcntl is None:
        return False
    try:
        fd = os.open(_lock_file(path), os.O_RDONLY)
    except FileNotFoundError:
        return Path(path).exists()
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def _identities(path: str) -> dict[str, tuple[int, int]]:
    """``{suffix: (device, inode)}`` of the ledger at ``path`` and of its ``-wal`` and ``-shm`` files, those there."""
    found = {}
    for suffix in ("", "-wal", "-shm"):
        try:
            info = os.stat(f"{path}{suffix}")
        except OSError:
            continue
        found[suffix] = (info.st_dev, info.st_ino)
    return found


def _clean(reason: str | None) -> str | None:
    """A reason as the ledger keeps it: redacted (it may quote a server's answer), None for none."""
    return redact(reason) if reason else None


# ---------------------------------------------------------------- events


@dataclass(frozen=True)
class Planned:
    """The plan's verdict for one item in one mapping; sets action and state, keeps ``attempts``."""

    entry: PlanEntry
    source_repo: str
    target_repo: str


@dataclass(frozen=True)
class Transition:
    """An item moved to ``state``. ``None`` fields keep what the row has, except ``reason`` (replaced)."""

    target_repo: str
    key: ItemKey
    state: str
    reason: str | None = None
    size: int | None = None
    source_sha256: str | None = None
    target_sha256: str | None = None
    attempt: bool = False
    source_repo: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown ledger state {self.state!r}; one of {', '.join(STATES)}")


@dataclass(frozen=True)
class Call:
    """Run ``fn(db)`` on the writer thread inside the current batch's transaction."""

    fn: Callable[[Database], Any]


@dataclass(frozen=True)
class _Group:
    events: tuple[Any, ...]


_STOP = object()

_COLUMNS = ("target_repo", "format", "namespace", "package", "version", "asset", "source_repo", "action", "state",
            "size", "source_sha256", "target_sha256", "reason", "attempts", "updated", "run_id", "locator",
            "source_checksums", "source_status", "target_status", "source_origin")
_IDENTITY = ("target_repo", "format", "namespace", "package", "version", "asset")
_PLANNED = UpsertStatement("items", _COLUMNS, _IDENTITY, """
    source_repo = excluded.source_repo, action = excluded.action, state = excluded.state, size = excluded.size,
    source_sha256 = excluded.source_sha256, target_sha256 = excluded.target_sha256, reason = excluded.reason,
    updated = excluded.updated, run_id = excluded.run_id, locator = excluded.locator,
    source_checksums = excluded.source_checksums, source_status = excluded.source_status,
    target_status = excluded.target_status, source_origin = excluded.source_origin""")
_TRANSITION = UpsertStatement("items", _COLUMNS, _IDENTITY, """
    state = excluded.state, reason = excluded.reason,
    size = COALESCE(excluded.size, items.size),
    source_sha256 = COALESCE(excluded.source_sha256, items.source_sha256),
    target_sha256 = COALESCE(excluded.target_sha256, items.target_sha256),
    source_repo = CASE WHEN excluded.source_repo = '' THEN items.source_repo ELSE excluded.source_repo END,
    attempts = items.attempts + excluded.attempts, updated = excluded.updated,
    run_id = COALESCE(excluded.run_id, items.run_id)""")


# ---------------------------------------------------------------- writer


class RunNotes(list):
    """The notes a run tells the operator (its ``note:`` lines), appended to from any thread. While a ledger
    writer keeps them (:meth:`kept_by`, which :func:`ferry.commands.recorded_run` calls), each new note is also
    queued to the run's row in the ledger, committed with the rows around it: a run killed outright (kill -9,
    out of memory, SIGKILL after a pod's grace period) never ends its run, yet what it created and the origin
    controls it changed, which no rerun notes again, stay with the run for ``ferry status`` and ``report``.
    ``append`` raises :class:`FatalError` only where the ledger's writes have just failed (the run ends on it)."""

    def __init__(self, notes: Iterable[str] = ()):
        super().__init__(notes)
        self._lock = threading.Lock()
        self._writer: LedgerWriter | None = None

    def append(self, note: str) -> None:
        # Queued under the lock, so the writes reach the ledger in the order of the notes and the last holds all.
        with self._lock:
            super().append(note)
            if self._writer is not None:
                self._writer.keep_notes(list(self))

    def kept_by(self, writer: LedgerWriter | None) -> None:
        """Queue the notes so far to ``writer``'s current run, and each later one as it comes; None stops that."""
        with self._lock:
            self._writer = writer
            if writer is not None and self:
                writer.keep_notes(list(self))


class LedgerWriter:
    """The one thread that writes the ledger. Use as a context manager, or call :meth:`close`.

    ``put``/``put_many`` are thread-safe and return at once (they block only while the queue is
    full); they raise :class:`FatalError` once a write has failed, or once the ledger (or its -wal or -shm
    file) is found removed or replaced under the writer, which looks after each commit. Raises :class:`UsageError` at
    construction for a ledger this ferry cannot use.
    """

    def __init__(self, path: str | Path, *, batch_size: int = 200, queue_size: int = 2_000, linger: float = 0.2):
        self.path = str(path)
        self.batch_size = batch_size
        # Wait this long for more events before committing a small batch (never when someone waits
        # on the commit): fewer, larger transactions, at the price of that much more to redo after a crash.
        self.linger = linger
        self.run_id: int | None = None
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        # Set when the writer should stop lingering: someone waits on a commit, or a batch is full.
        # While it lingers the writer waits on this, not on the queue, so a put does not wake it.
        self._hurry = threading.Event()
        self._error: BaseException | None = None
        self._files: dict[str, tuple[int, int]] = {}  # the files the writer has open (see _moved)
        self._closed = False
        opened: Future[None] = Future()
        self._thread = threading.Thread(target=self._main, args=(opened,), name="ferry-ledger", daemon=True)
        self._thread.start()
        opened.result()

    # -- producer side

    def put(self, event: Planned | Transition | Upsert | Call) -> None:
        """Queue one event."""
        self._check()
        self._queue.put(event)
        self._hurry_if_full()

    def _hurry_if_full(self) -> None:
        if self._queue.qsize() >= self.batch_size:
            self._hurry.set()

    def put_many(self, events: Iterable[Planned | Transition | Upsert | Call]) -> None:
        """Queue events that must be committed together (all or none after a crash)."""
        self._check()
        self._queue.put(_Group(tuple(events)))
        self._hurry_if_full()

    def planned(self, entry: PlanEntry, source_repo: str, target_repo: str) -> None:
        """Queue the plan's verdict for one item."""
        self.put(Planned(entry, source_repo, target_repo))

    def transition(self, target_repo: str, key: ItemKey, state: str, **fields: Any) -> None:
        """Queue a state change (fields as in :class:`Transition`). Raises ``ValueError`` for an unknown state."""
        self.put(Transition(target_repo, key, state, **fields))

    def removed(self, target_repo: str, versions: Iterable[tuple[str, str, str, str]], state: str,
                reason: str) -> None:
        """Queue: every row of these ``(format, namespace, package, version)`` of ``target_repo`` is now
        ``state`` (one of :data:`REMOVED`) in the current run, as the target no longer holds those files. A later
        plan of such a version (published again in the source) overwrites the rows as any plan does.
        Raises ``ValueError`` for another state."""
        if state not in REMOVED:
            raise ValueError(f"not a state of removed versions: {state!r}; one of {', '.join(REMOVED)}")
        keys = [(target_repo, *version) for version in versions]

        def apply(db: Database) -> None:
            # No plan's verdict either: the action is cleared, so the run's actions do not count them as copies.
            db.conn.executemany(
                "UPDATE items SET state = ?, action = NULL, reason = ?, updated = ?, run_id = ? WHERE target_repo = ?"
                " AND format = ? AND namespace = ? AND package = ? AND version = ?",
                [(state, _clean(reason), now(), self.run_id, *key) for key in keys])

        if keys:
            self.put(Call(apply))

    def drop_unlisted_unmappable(self, source_repo: str, target_repo: str, fmt: str) -> None:
        """Queue: the unmappable rows of ``fmt`` from ``source_repo`` into ``target_repo`` that the current run did
        not plan go. Call it only once the run has planned everything the source lists for that mapping and
        format (no include/exclude, no ``since``): an unmappable row stands for no file in the target, and one a
        whole listing no longer gives is a file the source has since named otherwise (a gemspec read that
        failed, then worked; a property set) or no longer holds. Left, it would count as a failure in every
        report of the whole ledger."""

        def apply(db: Database) -> None:
            db.conn.execute("DELETE FROM items WHERE state = 'unmappable' AND target_repo = ? AND source_repo = ? AND "
                            "format = ? AND run_id IS NOT ?", (target_repo, source_repo, fmt, self.run_id))

        self.put(Call(apply))

    def call(self, fn: Callable[[Database], Any]) -> Any:
        """Run ``fn(db)`` on the writer thread after everything queued before; return its result once committed."""
        self._check()
        done: Future[Any] = Future()
        self._queue.put((Call(fn), done))
        self._hurry.set()
        return done.result()

    def flush(self) -> None:
        """Return once every event put before this call is committed. Raises :class:`FatalError` if one failed."""
        self.call(lambda db: None)

    def start_run(self, command: str, job: str | None = None) -> int:
        """Record a new run and tag every later item event with it. Returns the run id.

        *command* is the subcommand's name (``"migrate"``), never the command line: flags could
        carry secrets. *job* is the job file's path.
        """

        def insert(db: Database) -> int:
            cursor = db.execute(
                "INSERT INTO runs (command, job, started, status, ferry_version) VALUES (?, ?, ?, 'running', ?)",
                [command, job, now(), __version__],
            )
            # Set on the writer thread, so every event applied after this one carries the new id.
            self.run_id = cursor.lastrowid
            return cursor.lastrowid

        return self.call(insert)

    def record_problems(self, problems: list[str]) -> None:
        """Keep with the current run what it could not bring in step beside its items (redacted lines)."""
        run_id = self.run_id
        text = json.dumps([redact(problem) for problem in problems]) if problems else None
        self.call(lambda db: db.execute("UPDATE runs SET problems = ? WHERE id = ?", [text, run_id]))

    def keep_notes(self, notes: Iterable[str]) -> None:
        """Queue the current run's notes so far (redacted, one line each), to be committed with the events queued
        around them, so a run killed before :meth:`end_run` keeps them; :meth:`end_run` writes them again, whole.
        Does nothing before a run is started or once a write has failed (the run is ending on that error)."""
        run_id = self.run_id
        if run_id is None or self._error is not None:
            return
        kept = [one_line(redact(note)) for note in notes]
        text = json.dumps(kept) if kept else None
        self.put(Call(lambda db: db.execute("UPDATE runs SET notes = ? WHERE id = ?", [text, run_id])))

    def end_run(self, status: str, notes: Iterable[str] = ()) -> dict[str, int]:
        """Close the current run with *status* (one of :data:`RUN_STATUSES`), keeping with it the *notes* it told
        the operator (redacted, one line each: they quote the source's file names). Returns its counts by state.
        Raises ``ValueError`` for an unknown status."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        run_id = self.run_id
        kept = [one_line(redact(note)) for note in notes]
        text = json.dumps(kept) if kept else None

        def finish(db: Database) -> dict[str, int]:
            counts = dict(db.execute(
                "SELECT state, COUNT(*) FROM items WHERE run_id = ? GROUP BY state ORDER BY state", [run_id]
            ).fetchall())
            db.execute("UPDATE runs SET ended = ?, status = ?, counts = ?, notes = ? WHERE id = ?",
                       [now(), status, json.dumps(counts, sort_keys=True), text, run_id])
            return counts

        return self.call(finish)

    def close(self) -> None:
        """Commit what is queued and stop the thread. Raises :class:`FatalError` if a write failed."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._hurry.set()
        self._thread.join()
        if self._error is not None:
            raise self._failed() from self._error

    def __enter__(self) -> "LedgerWriter":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _check(self) -> None:
        if self._error is not None:
            raise self._failed()
        if self._closed:
            raise FatalError(f"{self.path}: ledger writer is closed")

    def _failed(self) -> FatalError:
        """The error a failed write ends the run with, saying what to do when the disk had no room."""
        error = self._error
        if isinstance(error, FatalError):  # said already (the ledger was removed under the run)
            return FatalError(str(error))
        advice = ""
        if isinstance(error, sqlite3.Error) and write_failed(error):
            advice = f"; {write_advice(error)}"
        elif isinstance(error, sqlite3.Error) and damaged(error):
            advice = f"; the ledger is damaged: {DAMAGED_ADVICE}"
        return FatalError(f"{self.path}: ledger write failed: {error}{advice}")

    # -- writer thread

    def _main(self, opened: Future[None]) -> None:
        try:
            db = connect(self.path)
        except BaseException as err:  # reported to the constructor
            opened.set_exception(err)
            return
        self._files = _identities(self.path)
        opened.set_result(None)
        try:
            while self._batch(db):
                pass
        finally:
            if self._moved() is not None:  # removed after the last commit: no commit looks again
                self._salvage(db)
            db.close()

    def _take(self) -> tuple[list[Any], bool]:
        batch, size, stop = [], 0, False
        item = self._queue.get()
        if item is not _STOP and not isinstance(item, tuple) and self._queue.qsize() < self.batch_size:
            # Linger for more unless hurried. Waiting on the event rather than on the queue: a wake-up
            # per event (and the GIL hand-over it costs the workers) would be paid on every put.
            self._hurry.wait(self.linger)
        self._hurry.clear()
        while True:
            if item is _STOP:
                stop = True
                break
            batch.append(item)
            size += len(item.events) if isinstance(item, _Group) else 1
            if size >= self.batch_size or isinstance(item, tuple):  # a full batch, or a caller waiting
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return batch, stop

    def _batch(self, db: Database) -> bool:
        batch, stop = self._take()
        results: list[tuple[Future[Any], Any]] = []
        if self._error is None and batch:
            try:
                with db.atomic():
                    rows = Rows(db)
                    for item in batch:
                        if isinstance(item, tuple):  # (Call, Future) from call()
                            rows.flush()
                            results.append((item[1], item[0].fn(db)))
                        elif isinstance(item, _Group):
                            for event in item.events:
                                self._apply(rows, event)
                        else:
                            self._apply(rows, item)
                    rows.flush()
            except BaseException as err:
                self._error = err
            else:
                self._error = self._moved()
                if self._error is not None:
                    self._salvage(db)
        for item in batch:
            if isinstance(item, tuple) and self._error is not None:
                item[1].set_exception(self._failed())
        if self._error is None:
            for future, value in results:
                future.set_result(value)
        return not stop

    def _moved(self) -> FatalError | None:
        """The error to stop with when the ledger, or its -wal or -shm file, is no longer the file this writer
        has open (removed, its folder with it, or another put in its place): what the writer commits goes
        where no reader finds it, and no lock keeps a second run off the path. None while all are in place."""
        now_there = _identities(self.path)
        for suffix, identity in self._files.items():
            if now_there.get(suffix) != identity:
                what = "the ledger" if not suffix else f"its {suffix} file"
                return FatalError(f"{self.path}: {what} was removed or replaced while this run wrote it; the target "
                                  "holds what the run published: run the same command again, which finds it there")
        return None

    def _salvage(self, db: Database) -> None:
        """Copy what the -wal this writer has open holds into the ledger file, when only the -wal or -shm went:
        the writer's connection closing last would do so, but not while another connection is open (a
        read-only status), and what was committed since the last checkpoint would go with the removed -wal."""
        if _identities(self.path).get("") != self._files.get(""):
            return  # the ledger itself went: there is nowhere to copy it to
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # the run stops all the same; the target holds what it published

    def _apply(self, rows: Rows, event: Any) -> None:
        if isinstance(event, Planned):
            entry = event.entry
            source, target = entry.source, entry.target
            key = entry.key
            rows.add(_PLANNED, (
                event.target_repo, key.format.value, key.namespace, key.package, key.version, key.asset,
                event.source_repo, entry.action.value, STATE_OF_ACTION[entry.action],
                source.size if source is not None and source.size is not None else (target.size if target else None),
                source.sha256 if source is not None else None, target.sha256 if target is not None else None,
                _clean(entry.reason), 0, now(), self.run_id, source.locator if source is not None else None,
                json.dumps(source.checksums.as_dict()) if source is not None else None,
                source.status if source is not None else None, target.status if target is not None else None,
                source.origin if source is not None else None))
        elif isinstance(event, Transition):
            key = event.key
            rows.add(_TRANSITION, (
                event.target_repo, key.format.value, key.namespace, key.package, key.version, key.asset,
                event.source_repo or "", None, event.state, event.size, event.source_sha256, event.target_sha256,
                _clean(event.reason), 1 if event.attempt else 0, now(), self.run_id, None, None, None, None, None))
        elif isinstance(event, Upsert):
            rows.add(event.statement, event.values)
        elif isinstance(event, Call):
            rows.flush()
            event.fn(rows.db)
        else:
            raise TypeError(f"not a ledger event: {type(event).__name__}")
