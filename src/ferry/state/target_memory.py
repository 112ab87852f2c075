"""The ledger's memory of target versions: revision and assets as last listed, to skip relisting.

Listing a target repository costs one ListPackageVersionAssets per version (the only call that
reports hashes); a package's ListPackageVersions already reports each version's ``revision``,
which CodeArtifact changes whenever the version's assets change. So ferry records, per target
version, the revision and the asset list it saw together (from a ListPackageVersionAssets answer,
which carries both, or from the plan's own listing), and on the next run trusts the recorded assets
of every version whose revision is unchanged. A version whose revision differs, or that ferry has
never seen, is listed again, so a stale or missing record only ever costs a request, never a wrong
verdict. Records are written by the ledger thread (as :class:`~ferry.state.upsert.Upsert` events,
batched with the rest) and read through a separate read-only connection, one package at a time.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ferry.state.ledger import LedgerWriter, now
from ferry.state.migrations import unreadable
from ferry.state.upsert import Upsert, UpsertStatement

Listing = tuple[str, list[dict[str, Any]]]  # (revision, [{"name", "size", "hashes": {"SHA-256": ...}}])

_RECORD = UpsertStatement(
    "target_versions", ("target_repo", "format", "namespace", "package", "version", "revision", "assets", "updated"),
    ("target_repo", "format", "namespace", "package", "version"),
    "revision = excluded.revision, assets = excluded.assets, updated = excluded.updated")


# The hashes recorded, in this order after name and size: what the plan compares. SHA-256 (CodeArtifact always
# reports it) and SHA-1, what a source without SHA-256 (older Nexus, older Artifactory files) is compared by:
# without it, each run would download every item of such a source again to hash it.
_KEPT = ("SHA-256", "SHA-1")


def _compact(assets: list[dict[str, Any]]) -> str:
    return json.dumps([[a["name"], a.get("size"), *((a.get("hashes") or {}).get(h) for h in _KEPT)]
                       for a in assets], separators=(",", ":"))


def _expand(text: str) -> list[dict[str, Any]]:
    # Rows recorded before SHA-1 was kept have three fields.
    return [{"name": row[0], "size": row[1], "hashes": {h: v for h, v in zip(_KEPT, row[2:]) if v}}
            for row in json.loads(text)]


READ_CACHE_KIB = 256  # page cache of each read connection


class TargetMemory:
    """Recorded listings of one ledger; :meth:`recall` reads, :meth:`remember` queues a write."""

    def __init__(self, ledger: str | Path, writer: LedgerWriter):
        self.writer = writer
        self._path = Path(ledger)
        # one read-only connection per thread: the target listing recalls from several threads at once
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(f"{self._path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
            # Each listing thread of each mapping gets one; at SQLite's default 2 MiB page cache, 32 of
            # them held about 65 MB on a 100k-version rerun. Lookups are by index: the OS cache serves.
            db.execute(f"PRAGMA cache_size = -{READ_CACHE_KIB}")
            self._local.db = db
            with self._lock:
                self._conns.append(db)
        return db

    def recall(self, target_repo: str, fmt: str, namespace: str, package: str,
               versions: list[str] | None = None) -> dict[str, Listing]:
        """``{version: (revision, assets)}`` recorded for one target package (empty if none): of ``versions``
        only, when given (one query for a run of versions: a package's whole record need not be held).
        Raises :class:`FatalError` when the ledger cannot be read."""
        params: list[Any] = [target_repo, fmt, namespace or "", package]
        which = ""
        if versions is not None:
            which = f" AND version IN ({', '.join('?' * len(versions))})"
            params += versions
        rows = self._query("SELECT version, revision, assets FROM target_versions "
                           f"WHERE target_repo = ? AND format = ? AND namespace = ? AND package = ?{which}", params)
        return {version: (revision, _expand(assets)) for version, revision, assets in rows}

    def recorded(self, target_repo: str, fmt: str, namespace: str, package: str, version: str) -> bool:
        """Whether a listing of ``version`` is recorded (committed) for this target repository. Raises
        :class:`FatalError` when the ledger cannot be read."""
        rows = self._query("SELECT 1 FROM target_versions WHERE target_repo = ? AND format = ? AND namespace = ? AND "
                           "package = ? AND version = ? LIMIT 1", [target_repo, fmt, namespace or "", package, version])
        return bool(rows)

    def _query(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        try:
            return self._conn().execute(sql, params).fetchall()
        except sqlite3.Error as err:
            # Its -wal truncated or removed under the run, a failing disk: the run stops saying so, not as a bug.
            raise unreadable(str(self._path), err) from None

    def remember(self, target_repo: str, fmt: str, namespace: str, package: str, version: str,
                 revision: str | None, assets: list[dict[str, Any]]) -> None:
        """Record that ``version`` had ``assets`` at ``revision`` (nothing is recorded without a revision)."""
        if not revision:
            return
        row = (target_repo, fmt, namespace or "", package, version, revision, _compact(assets), now())
        self.writer.put(Upsert(_RECORD, row))

    def close(self) -> None:
        """Close the read connections (recording goes on through the writer)."""
        with self._lock:
            conns, self._conns = self._conns, []
        for db in conns:
            db.close()
        self._local = threading.local()
