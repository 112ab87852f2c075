"""The storage the Nexus and Artifactory stand-ins share: one SQLite file and a blob store in a folder.

One connection (WAL, foreign keys on) serves every request thread under one lock: the stand-ins are
rehearsal and test tools, where simple and correct beats concurrent.
"""

from __future__ import annotations

import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Iterator

from ferry.sandbox.blobs import BlobStore


class LockedStore:
    """``data_dir/<db_name>`` (created with ``schema``) and the blobs under ``data_dir/blobs``."""

    def __init__(self, data_dir: Path, db_name: str, schema: str):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.data_dir / "blobs")
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.data_dir / db_name, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        # As the CodeArtifact stand-in's: consistent after any crash, no fsync per commit (a Nexus download
        # records its time: one commit each, made under the lock every other request waits on).
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(schema)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the store's lock (rolled back if the block raises)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, args: Iterable[Any] = ()) -> list[sqlite3.Row]:
        """Rows of a read-only query."""
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()
