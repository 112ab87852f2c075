"""``ferry report --merge``: one view over the ledgers of a sharded run, without touching them.

Each shard of ``--shard i/N`` keeps its own ledger. :func:`merged` opens every one of them
read-only (:func:`~ferry.state.ledger.open_read_only`), copies their ``items`` rows into a private temporary ledger and
hands back a :class:`~ferry.state.reader.LedgerReader` over it, so the report code reads a merged
run exactly like a single ledger. Shards own disjoint packages, so rows normally never collide;
when the same item does appear in two ledgers (a shard re-run under another count, or an earlier
unsharded run), the most recently updated row wins.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ferry.errors import FatalError, UsageError
from ferry.shard import MAX_SHARDS
from ferry.state.ledger import CRASHED, connect, open_read_only, write_failed, writer_gone
from ferry.state.migrations import JOB_TARGET, META, SCHEMA_VERSION
from ferry.state.reader import ItemRow, LedgerReader, RunRow

_IDENTITY = ("target_repo", "format", "namespace", "package", "version", "asset")
_SHARD_LEDGER = re.compile(r"(?P<stem>.+)\.shard-(?P<index>[0-9]+)-of-(?P<count>[0-9]+)(?P<suffix>.*)")
_NAMED_AT_MOST = 20  # missing shards listed by index; beyond that, only how many


@dataclass(frozen=True)
class Part:
    """One input ledger: its path, item count and last run (None if it never ran), with that run's notes."""

    path: str
    items: int
    last_run: RunRow | None


def _open_ro(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise UsageError(f"{path}: no ledger there; check the path (each shard writes ferry.shard-I-of-N.db)")
    try:
        db = open_read_only(path)
        row = db.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as err:
        raise UsageError(f"{path}: not a ferry ledger ({err})") from None
    if row is None or not str(row[0]).isdigit() or int(row[0]) > SCHEMA_VERSION:
        db.close()
        newer = row is not None and str(row[0]).isdigit()
        what = f"written by a newer ferry (schema {row[0]}); upgrade ferry" if newer else "not a ferry ledger"
        raise UsageError(f"{path}: {what}")
    return db


def _last_run(db: sqlite3.Connection, path: Path) -> RunRow | None:
    import json

    # A shard ledger an older ferry wrote has no notes column (schema 0010): its runs kept none.
    notes = "notes" if "notes" in {r[1] for r in db.execute("PRAGMA table_info(runs)")} else "NULL"
    row = db.execute(f"SELECT id, command, job, started, ended, status, counts, {notes} FROM runs "
                     "ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    status = row[5]
    if status == "running" and writer_gone(path):
        status = CRASHED  # its process stopped without recording its end, as LedgerReader says too
    return RunRow(row[0], row[1], row[2], row[3], row[4], status, json.loads(row[6]) if row[6] else {},
                  notes=tuple(json.loads(row[7])) if row[7] else ())


@contextmanager
def merged(paths: Sequence[str | Path]) -> Iterator[tuple[LedgerReader, list[Part]]]:
    """Yield a reader over the union of the ledgers' items, and what each input held.

    Inputs are only read. Run ids are not comparable across ledgers, so merged rows carry none:
    report the whole merged ledger (``build_report(reader, None)``). Raises :class:`UsageError`
    for a missing path, a file that is not a ledger, or one written by a newer ferry, and
    :class:`FatalError` when the temporary folder cannot hold the merged copy.
    """
    if not paths:
        raise UsageError("--merge needs at least one ledger file")
    folder = Path(tempfile.mkdtemp(prefix="ferry-merge-"))
    try:
        target = folder / "merged.db"
        columns = [name for name in ItemRow.__dataclass_fields__ if name != "run_id"]
        parts = []
        domains: dict[str, str] = {}  # a target domain the ledgers recorded -> the first ledger that did
        try:
            out = connect(target)
        except FatalError:  # it names the scratch file: say which folder lacks room
            raise _no_room(folder, "it cannot be written") from None
        try:
            for raw in paths:
                path = Path(raw)
                src = _open_ro(path)
                try:
                    _same_target(src, path, domains)
                    have = {r[1] for r in src.execute("PRAGMA table_info(items)")}
                    cols = [c for c in columns if c in have]
                    parts.append(Part(str(path), src.execute("SELECT COUNT(*) FROM items").fetchone()[0],
                                      _last_run(src, path)))
                    _copy(src, out.conn, cols)
                except (sqlite3.DatabaseError, ValueError) as err:  # a damaged ledger: tables or rows missing
                    if isinstance(err, sqlite3.DatabaseError) and write_failed(err):
                        raise _no_room(folder, err) from None  # the copy failed, not the ledger given
                    raise UsageError(f"{path}: not a readable ferry ledger ({err}); leave it out of --merge") from None
                finally:
                    src.close()
            out.conn.commit()
        except sqlite3.DatabaseError as err:
            if not write_failed(err):
                raise
            raise _no_room(folder, err) from None
        finally:
            out.close()
        reader = LedgerReader(target)
        reader.path = ", ".join(str(p) for p in paths)
        try:
            yield reader, parts
        finally:
            reader.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _same_target(src: sqlite3.Connection, path: Path, domains: dict[str, str]) -> None:
    """Refuse a ledger whose runs went into another target domain than those merged before it (the shards of
    two jobs: their totals added up would describe neither). A ledger that recorded none (an older ferry's)
    passes. Raises :class:`UsageError`."""
    from ferry.codeartifact import names_one_domain

    row = src.execute(f"SELECT value FROM {META} WHERE key = ?", [JOB_TARGET]).fetchone()
    if row is None:
        return
    for known, first in domains.items():
        if not names_one_domain(known, row[0]):
            raise UsageError(f"{path}: its runs went into {row[0]}, those of {first} into {known}; merge the "
                             "ledgers of one job's shards only")
    domains.setdefault(row[0], str(path))


def _no_room(folder: Path, why: object) -> FatalError:
    return FatalError(f"--merge: the merged copy of the ledgers does not fit in {folder.parent} ({why}); free space "
                      "there or set TMPDIR to a folder with room for them")


def _copy(src: sqlite3.Connection, out: sqlite3.Connection, cols: list[str]) -> None:
    names = ", ".join(cols)
    marks = ", ".join("?" for _ in cols)
    updates = ", ".join(f"{c} = excluded.{c}" for c in cols if c not in _IDENTITY)
    sql = (f"INSERT INTO items ({names}) VALUES ({marks}) ON CONFLICT ({', '.join(_IDENTITY)}) "
           f"DO UPDATE SET {updates} WHERE excluded.updated > items.updated")
    cursor = src.execute(f"SELECT {names} FROM items")
    while True:
        rows = cursor.fetchmany(5000)
        if not rows:
            return
        out.executemany(sql, rows)


def shards_not_given(paths: Sequence[str | Path]) -> list[str]:
    """One line for each set of shard ledgers (``ferry.shard-I-of-N.db`` in one folder) of which ``paths``
    leaves some out, naming those: a child that never wrote its ledger (still queued, or stopped before its
    first write) is not matched by ``ferry.shard-*.db``, and the merge would pass for the whole job."""
    given: dict[tuple[Path, str, str, int], set[int]] = {}
    shown: dict[Path, Path] = {}  # a folder as first written (./x and x, or a relative and an absolute path, are one)
    for raw in paths:
        path = Path(raw)
        m = _SHARD_LEDGER.fullmatch(path.name)
        if m is None or not 1 <= int(m["index"]) <= int(m["count"]) <= MAX_SHARDS:
            continue  # a ledger named by --state: no shard set to be complete
        folder = shown.setdefault(path.parent.resolve(), path.parent)
        given.setdefault((folder, m["stem"], m["suffix"], int(m["count"])), set()).add(int(m["index"]))
    lines = []
    for (folder, stem, suffix, count), indexes in given.items():
        missing = [i for i in range(1, count + 1) if i not in indexes]
        if len(missing) == 1:
            name = folder / f"{stem}.shard-{missing[0]}-of-{count}{suffix}"
            lines.append(f"{name}: not given, so shard {missing[0]} of {count}'s packages are not in this report; "
                         "run that shard, or add its ledger")
        elif missing:
            named = ", ".join(str(i) for i in missing[:_NAMED_AT_MOST])
            more = f" and {len(missing) - _NAMED_AT_MOST} more" if len(missing) > _NAMED_AT_MOST else ""
            lines.append(f"{folder / f'{stem}.shard-I-of-{count}{suffix}'} for I = {named}{more}: not given, so those "
                         f"{len(missing)} shards' packages are not in this report; run those shards, or add their "
                         "ledgers")
    return lines
