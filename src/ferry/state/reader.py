"""Reading the ledger for ``status``, ``report`` and resume: counts, failures, per-repository summaries.

A :class:`LedgerReader` has its own connection; WAL lets it read while the writer thread writes.
Every helper takes ``run_id``: ``None`` means the whole ledger (the latest state of every item),
a number means the items that run touched last.
"""

from __future__ import annotations

import functools
import inspect
import json
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlite_utils import Database

from ferry.errors import FatalError, UsageError
from ferry.model import ItemKey
from ferry.state.ledger import CRASHED, REMOVED, TRANSIENT, connect, open_read_only, write_failed, writer_gone
from ferry.state.migrations import SCHEMA_VERSION, migrate, read_failed, stored_version

PENDING = ("planned", "downloading", "published")
# Failed rows a rerun publishes: the plan copies again a file the target lacks. Not a failed file the target holds
# (its version status or npm tags could not be set; or it shows other bytes, which a rerun finds a conflict), and
# not a conflict or an unmappable item, which a rerun finds the same.
RETRIED = "(state = 'failed' AND target_sha256 IS NULL)"
FAILED = ("failed", "conflict", "unmappable")
SKIPPED = "skipped"  # left out by the job's choice (e.g. Maven SNAPSHOTs): counted, never a failure


@dataclass(frozen=True)
class ItemRow:
    """One ``items`` row."""

    target_repo: str
    format: str
    namespace: str
    package: str
    version: str
    asset: str
    source_repo: str
    action: str | None
    state: str
    size: int | None
    source_sha256: str | None
    target_sha256: str | None
    reason: str | None
    attempts: int
    updated: str
    run_id: int | None
    locator: str | None = None
    source_checksums: str | None = None
    source_status: str | None = None  # the source version's status (a CodeArtifact source), as planned
    target_status: str | None = None  # the target version's status as the plan listed it (None: absent)
    source_origin: str | None = None  # how a CodeArtifact source got the version, if not published there

    @property
    def key(self) -> ItemKey:
        """The item's :class:`ItemKey`."""
        return ItemKey(self.format, self.namespace, self.package, self.version, self.asset)


@dataclass(frozen=True)
class RunRow:
    """One ``runs`` row; ``counts`` is by state (empty while the run is going). ``status`` is as stored,
    except ``crashed`` for a run stored as ``running`` whose process has gone (:func:`writer_gone`)."""

    id: int
    command: str
    job: str | None
    started: str
    ended: str | None
    status: str
    counts: dict[str, int] = field(default_factory=dict, hash=False)
    ferry_version: str | None = None
    problems: tuple[str, ...] = ()  # what the run could not bring in step beside its items (replicate)
    notes: tuple[str, ...] = ()  # what the run told the operator beside its items, as it ended (redacted lines)


@dataclass(frozen=True)
class GroupSummary:
    """Totals for one (source repository, target repository, format).

    ``files``/``versions``/``bytes`` count what the source has (target-only items excluded);
    ``pending_*`` count what still has to be published; ``retry_*`` the failed files the target does not hold
    (:data:`RETRIED`), which a rerun plans and publishes again; ``states``/``actions`` count every row.
    """

    source_repo: str
    target_repo: str
    format: str
    files: int
    versions: int
    bytes: int
    pending_files: int
    pending_bytes: int
    states: dict[str, int] = field(default_factory=dict, hash=False)
    actions: dict[str, int] = field(default_factory=dict, hash=False)
    retry_files: int = 0
    retry_bytes: int = 0


_ITEM_COLUMNS = ", ".join(ItemRow.__dataclass_fields__)
_IDENTITY = "target_repo, format, namespace, package, version, asset"
_ORDER = f"ORDER BY {_IDENTITY}"


def _where(run_id: int | None, extra: str = "", params: list[Any] | None = None) -> tuple[str, list[Any]]:
    clauses, values = [], list(params or [])
    if run_id is not None:
        clauses.append("run_id = ?")
        values.insert(0, run_id)
    if extra:
        clauses.append(extra)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", values


def _open_read_only(path: Path) -> Database | bool:
    """The ledger opened for reading only when its schema is this ferry's; else ``True`` for an older
    ledger (to be read from an upgraded copy) or ``False`` (newer, or not a ledger: :func:`connect`
    refuses it with the reason)."""
    try:
        conn = open_read_only(path)
    except sqlite3.Error:
        return False
    db = Database(conn)
    try:
        version = stored_version(db)
        if version == SCHEMA_VERSION:
            return db
        older = 0 < version < SCHEMA_VERSION
    except sqlite3.DatabaseError:
        older = False  # connect() names what is wrong with the file
    db.close()
    return older


# Rows of files the source has (what the summary's files, versions and bytes count): not a file only the
# target holds, whether listed as such or, by verify, as a difference inside a version the source has
# (those rows carry no source locator: every source file has one); nor one of a version the source deleted
# or disposed, which --propagate-deletes then removed from the target (ledger.REMOVED).
_FROM_SOURCE = ("(state NOT IN ('only_in_target', 'deleted', 'disposed')"
                " AND NOT (action = 'conflict' AND locator IS NULL))")


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` of :class:`LedgerReader`, raising :class:`FatalError` naming the ledger when its file cannot be
    read (damaged, a disk error) instead of SQLite's bare error, which ended status "unexpected ... report it"."""

    def failed(reader: "LedgerReader", err: sqlite3.DatabaseError) -> BaseException:
        return read_failed(reader.path, err) or err

    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def walk(self: "LedgerReader", *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from method(self, *args, **kwargs)
            except sqlite3.DatabaseError as err:
                raise failed(self, err) from None

        return walk

    @functools.wraps(method)
    def call(self: "LedgerReader", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as err:
            raise failed(self, err) from None

    return call


class LedgerReader:
    """Read helpers over one ledger file. Raises :class:`UsageError` if it is missing (unless
    ``create``), not a ledger, or from a newer ferry.

    With ``read_only`` (``ferry status`` and ``report``) the ledger is never written: one of this ferry's
    schema is opened read-only (a read-only mount can be read, a writer's file is left as it is), and an
    older one is read from an upgraded copy, so an older ferry still writing it does not find it turned
    into a ledger "written by a newer ferry". Such a reader reads the ledger as it was at its first query
    (one read transaction until :meth:`close`), so a run writing it meanwhile cannot make a report's
    table disagree with its counts and the failures it lists.
    """

    def __init__(self, path: str | Path, create: bool = False, read_only: bool = False):
        if not create and not Path(path).exists():
            raise UsageError(f"{path}: no ledger there; check the ledger path or run a migration first")
        self.path = str(path)
        self._scratch: str | None = None
        found = _open_read_only(Path(path)) if read_only and not create else False
        if isinstance(found, Database):
            self.db = found
        elif found:
            self.db = self._upgraded_copy(Path(path))
        else:
            self.db = connect(path)
        if read_only:
            # Each query would otherwise see the commits made since the one before (WAL: the writer goes on).
            self.db.execute("BEGIN")

    def _upgraded_copy(self, path: Path) -> Database:
        """An upgraded copy of the older ledger at ``path``, in a scratch folder removed by :meth:`close`
        (at once when the copy fails). Raises :class:`UsageError` for a ledger the upgrade refuses (named
        as ``path``) and :class:`FatalError` when the temporary folder cannot hold the copy."""
        self._scratch = tempfile.mkdtemp(prefix="ferry-read-")
        copy = Path(self._scratch) / "ledger.db"
        db = None
        try:
            with closing(open_read_only(path)) as src, closing(sqlite3.connect(copy)) as dst:
                src.backup(dst)  # consistent even while a writer appends to its WAL
            db = Database(sqlite3.connect(copy))
            migrate(db, str(path))  # its messages name the ledger as given, not this copy
            return db
        except BaseException as err:
            if db is not None:
                db.close()
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
            if isinstance(err, sqlite3.DatabaseError) and write_failed(err):
                raise FatalError(f"{path}: written by an older ferry, so it is read from an upgraded copy, which "
                                 f"{copy.parent.parent} cannot hold ({err}); free space there or set TMPDIR to a "
                                 "folder with room for the ledger") from None
            if isinstance(err, sqlite3.DatabaseError):
                raise UsageError(f"{path}: not a ferry ledger ({err}); choose another ledger path") from None
            raise

    def close(self) -> None:
        self.db.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)

    def __enter__(self) -> "LedgerReader":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    @property
    def schema_version(self) -> int:
        """The ledger's schema version."""
        return stored_version(self.db)

    def _runs(self, sql: str, params: list[Any]) -> list[RunRow]:
        rows = self.db.execute(
            f"SELECT id, command, job, started, ended, status, counts, ferry_version, problems, notes FROM runs {sql}",
            params).fetchall()
        runs = [RunRow(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6]) if r[6] else {}, r[7],
                       tuple(json.loads(r[8])) if r[8] else (), tuple(json.loads(r[9])) if r[9] else ()) for r in rows]
        if any(run.status == "running" for run in runs):
            # Its process ended without recording how: "running" would tell the user to wait for it. Runs on
            # a ledger take turns (the writer lock), so one a later run followed has ended, whoever holds
            # the lock now; the last one has ended once nobody does.
            last = self.db.execute("SELECT MAX(id) FROM runs").fetchone()[0]
            gone = writer_gone(self.path)
            runs = [replace(run, status=CRASHED) if run.status == "running" and (run.id != last or gone) else run
                    for run in runs]
        return runs

    def runs(self) -> list[RunRow]:
        """Every run, oldest first."""
        return self._runs("ORDER BY id", [])

    def run(self, run_id: int) -> RunRow | None:
        """One run, or ``None``."""
        found = self._runs("WHERE id = ?", [run_id])
        return found[0] if found else None

    def last_run(self, command: str | None = None) -> RunRow | None:
        """The newest run (of *command*, if given), or ``None``."""
        sql, params = ("WHERE command = ? ORDER BY id DESC LIMIT 1", [command]) if command else (
            "ORDER BY id DESC LIMIT 1", [])
        found = self._runs(sql, params)
        return found[0] if found else None

    def _count_by(self, column: str, run_id: int | None) -> dict[str, int]:
        where, params = _where(run_id)
        rows = self.db.execute(
            f"SELECT {column}, COUNT(*) FROM items {where} GROUP BY {column} ORDER BY {column}", params
        ).fetchall()
        return {name: n for name, n in rows if name is not None}

    def counts(self, run_id: int | None = None) -> dict[str, int]:
        """Items by state."""
        return self._count_by("state", run_id)

    def action_counts(self, run_id: int | None = None) -> dict[str, int]:
        """Items by planned action."""
        return self._count_by("action", run_id)

    def items(self, run_id: int | None = None, states: tuple[str, ...] | None = None,
              target_repo: str | None = None, page: int = 2000) -> Iterator[ItemRow]:
        """Stream rows (sorted by identity), optionally only those in *states* / one target repository.

        Read ``page`` rows at a time, each page its own short read that resumes after the last identity
        seen: a walk that takes hours (the transfer's) never holds one read open, which would stop the
        writer's checkpoints and let the WAL file grow with every row written meanwhile. Rows are seen
        as they are when their page is read.
        """
        extra, params = [], []
        if states:
            extra.append(f"state IN ({', '.join('?' for _ in states)})")
            params.extend(states)
        if target_repo is not None:
            extra.append("target_repo = ?")
            params.append(target_repo)
        after: list[Any] = []
        while True:
            clauses = [*extra, *([f"({_IDENTITY}) > ({', '.join('?' for _ in after)})"] if after else [])]
            where, values = _where(run_id, " AND ".join(clauses), [*params, *after])
            rows = self.db.execute(f"SELECT {_ITEM_COLUMNS} FROM items INDEXED BY items_identity {where} {_ORDER} "
                                   "LIMIT ?", [*values, page]).fetchall()
            for row in rows:
                yield ItemRow(*row)
            if len(rows) < page:
                return
            last = ItemRow(*rows[-1])
            after = [getattr(last, column) for column in _IDENTITY.split(", ")]

    def failures(self, run_id: int | None = None, limit: int | None = None) -> list[ItemRow]:
        """Failed and conflicting items (at most *limit*)."""
        found = []
        for row in self.items(run_id, FAILED):
            if limit is not None and len(found) >= limit:
                break
            found.append(row)
        return found

    def remarks(self, run_id: int | None = None, limit: int = 1000) -> tuple[list[ItemRow], int]:
        """Copied items whose row says something though nothing failed (a crate version the source has
        yanked): at most *limit* of them (sorted by identity), and how many there are."""
        where, params = _where(run_id, "state = 'confirmed' AND reason IS NOT NULL")
        total = self.db.execute(f"SELECT COUNT(*) FROM items {where}", params).fetchone()[0]
        rows = self.db.execute(f"SELECT {_ITEM_COLUMNS} FROM items {where} {_ORDER} LIMIT ?",
                               [*params, limit]).fetchall()
        return [ItemRow(*row) for row in rows], total

    def skipped_reasons(self, run_id: int | None = None) -> dict[str, int]:
        """Skipped items counted by reason, most frequent first."""
        where, params = _where(run_id, "state = ?", [SKIPPED])
        rows = self.db.execute(
            f"SELECT COALESCE(reason, ''), COUNT(*) FROM items {where} GROUP BY 1 ORDER BY 2 DESC, 1", params
        ).fetchall()
        return dict(rows)

    def transient(self, target_repo: str | None = None) -> Iterator[ItemRow]:
        """Rows a crash may have left mid-transfer; the engine re-checks them against the target on resume."""
        return self.items(None, TRANSIENT, target_repo)

    def summary(self, run_id: int | None = None) -> list[GroupSummary]:
        """Per (source repo, target repo, format) totals, sorted."""
        where, params = _where(run_id)
        pending = ", ".join(f"'{s}'" for s in PENDING)
        totals = self.db.execute(
            f"""SELECT source_repo, target_repo, format,
                   SUM({_FROM_SOURCE}),
                   COUNT(DISTINCT CASE WHEN {_FROM_SOURCE}
                                       THEN namespace || char(0) || package || char(0) || version END),
                   COALESCE(SUM(CASE WHEN {_FROM_SOURCE} THEN size END), 0),
                   SUM(state IN ({pending})),
                   COALESCE(SUM(CASE WHEN state IN ({pending}) THEN size END), 0),
                   SUM({RETRIED}),
                   COALESCE(SUM(CASE WHEN {RETRIED} THEN size END), 0)
                FROM items {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
            params,
        ).fetchall()
        by_state: dict[tuple[str, str, str], dict[str, dict[str, int]]] = {}
        for column in ("state", "action"):
            for src, dst, fmt, name, n in self.db.execute(
                f"SELECT source_repo, target_repo, format, {column}, COUNT(*) FROM items {where} "
                f"GROUP BY 1, 2, 3, 4 ORDER BY 4",
                params,
            ):
                if name is not None:
                    by_state.setdefault((src, dst, fmt), {"state": {}, "action": {}})[column][name] = n
        out = []
        for src, dst, fmt, files, versions, size, pending_files, pending_bytes, retry_files, retry_bytes in totals:
            groups = by_state.get((src, dst, fmt), {"state": {}, "action": {}})
            out.append(GroupSummary(src, dst, fmt, files or 0, versions, size, pending_files or 0, pending_bytes,
                                    groups["state"], groups["action"], retry_files or 0, retry_bytes))
        return out

    def finished_per_minute(self, run_id: int | None = None) -> list[tuple[str, int]]:
        """Items that reached a final state, counted by the UTC minute of their ``updated`` time
        (``'YYYY-MM-DDTHH:MM'``), oldest first; minutes with none are not listed. Rows of versions
        ``replicate --propagate-deletes`` removed from the target are no items moved: left out."""
        unfinished = (*PENDING, "only_in_target", *REMOVED)
        where, params = _where(run_id, f"state NOT IN ({', '.join('?' for _ in unfinished)})", list(unfinished))
        rows = self.db.execute(
            f"SELECT substr(updated, 1, 16), COUNT(*) FROM items {where} GROUP BY 1 ORDER BY 1", params
        ).fetchall()
        return [(minute, n) for minute, n in rows if minute]

    def largest(self, run_id: int | None = None, limit: int = 10) -> list[ItemRow]:
        """The *limit* largest items (by source size, known sizes only), largest first."""
        where, params = _where(run_id, "size IS NOT NULL")
        rows = self.db.execute(
            f"SELECT {_ITEM_COLUMNS} FROM items {where} ORDER BY size DESC, target_repo, package LIMIT ?",
            [*params, limit],
        ).fetchall()
        return [ItemRow(*row) for row in rows]


# Every query of the ledger: a damaged page or a disk error is named as such (see _guarded).
for _name in ("_runs", "_count_by", "items", "remarks", "skipped_reasons", "summary", "finished_per_minute", "largest"):
    setattr(LedgerReader, _name, _guarded(getattr(LedgerReader, _name)))
LedgerReader.schema_version = property(_guarded(LedgerReader.schema_version.fget))  # type: ignore[method-assign]
