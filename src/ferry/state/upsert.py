"""Multi-row upserts for the ledger writer: rows of one statement written together, in order per table.

The ledger thread turns each event into a row of an :class:`UpsertStatement`; :class:`Rows` holds
them until they must be written and then sends up to 128 per SQLite call instead of one per event,
so the writer thread calls into SQLite, and gives up the GIL, far less often. Rows of one table keep
their order (a switch to another statement on the same table writes what is pending first); rows of
different tables do not depend on each other and wait side by side until the caller flushes (before
running arbitrary SQL, and at the end of each transaction).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

# Statement sizes in rows: any run of rows goes out in a few statements (27 rows: 16 + 8 + 2 + 1), and
# eight prepared statements per kind stay in SQLite's statement cache. 128 rows of the widest row
# (21 columns) are 2,688 parameters, far below SQLite's limit of 32,766.
_SIZES = (128, 64, 32, 16, 8, 4, 2, 1)


@dataclass(frozen=True, eq=False)
class UpsertStatement:
    """An insert-or-update into ``table``; rows of one statement are written as multi-row upserts."""

    table: str
    columns: tuple[str, ...]
    conflict: tuple[str, ...]
    updates: str

    def __post_init__(self) -> None:
        one = "(" + ", ".join("?" for _ in self.columns) + ")"
        sql = {n: (f"INSERT INTO {self.table} ({', '.join(self.columns)}) VALUES {', '.join([one] * n)} "
                   f"ON CONFLICT ({', '.join(self.conflict)}) DO UPDATE SET {self.updates}") for n in _SIZES}
        object.__setattr__(self, "sql", sql)


@dataclass(frozen=True)
class Upsert:
    """Insert or update one row with ``statement`` (values in its column order)."""

    statement: UpsertStatement
    values: tuple[Any, ...]


class Rows:
    """Rows waiting to be written (see the module docstring). Not thread-safe: the ledger thread's own."""

    def __init__(self, db: Database):
        self.db = db
        self.pending: dict[UpsertStatement, list[tuple[Any, ...]]] = {}

    def add(self, statement: UpsertStatement, row: tuple[Any, ...]) -> None:
        for other in [o for o in self.pending if o is not statement and o.table == statement.table]:
            self._write(other)
        self.pending.setdefault(statement, []).append(row)

    def flush(self) -> None:
        for statement in list(self.pending):
            self._write(statement)

    def _write(self, statement: UpsertStatement) -> None:
        rows = self.pending.pop(statement, [])
        start = 0
        for size in _SIZES:
            while len(rows) - start >= size:
                chunk = rows[start:start + size]
                self.db.execute(statement.sql[size], [value for row in chunk for value in row])
                start += size
