"""replicate's memory of the source, kept in the ledger (tables from migration ``0004_replication``; the
deprecation messages from ``0006_replica_deprecations``).

It is of one target domain, named in ``ferry_meta`` (``replica_target``). Per target repository it holds the high-water mark of the last run that went through without a failure
(``replica_repos``), the revision and status every version had when it was last fully in step
(``replica_versions``) and every npm package's dist-tags and deprecation messages (``replica_packages``).
An incremental run compares a fresh version listing with this memory and moves only what differs. A
version is remembered only once it is in step, so anything that failed is looked at again next run.

Reads use the reader's connection; writes go through the ledger's writer thread (:meth:`LedgerWriter.call`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Iterable

from ferry.state.ledger import LedgerWriter, now
from ferry.state.migrations import META

VersionId = tuple[str, str, str, str]  # (format, namespace, package, version)
PackageId = tuple[str, str, str]  # (format, namespace, package)


@dataclass(frozen=True)
class Remembered:
    """A version as it was when last in step."""

    revision: str | None
    status: str
    source_repo: str


@dataclass(frozen=True)
class RepoMark:
    """A target repository's high-water mark: when it was last in step, and runs since a full reconcile."""

    target_repo: str
    source_repo: str
    source: str
    high_water: str | None
    runs_since_full: int
    last_full: str | None


class Memory:
    """The replication tables of one ledger: ``db`` is a reader connection, ``writer`` the ledger's writer."""

    def __init__(self, db, writer: LedgerWriter):
        self.db = db
        self.writer = writer

    # -- reading

    def versions(self, target_repo: str) -> dict[VersionId, Remembered]:
        """Every remembered version of ``target_repo``."""
        rows = self.db.execute(
            "SELECT format, namespace, package, version, revision, status, source_repo FROM replica_versions "
            "WHERE target_repo = ?", [target_repo]).fetchall()
        return {(r[0], r[1], r[2], r[3]): Remembered(r[4], r[5], r[6]) for r in rows}

    def dist_tags(self, target_repo: str) -> dict[PackageId, dict[str, str]]:
        """The npm dist-tags remembered per package of ``target_repo``."""
        rows = self.db.execute("SELECT format, namespace, package, dist_tags FROM replica_packages "
                               "WHERE target_repo = ?", [target_repo]).fetchall()
        return {(r[0], r[1], r[2]): json.loads(r[3] or "{}") for r in rows}

    def deprecations(self, target_repo: str) -> dict[PackageId, dict[str, str]]:
        """The npm deprecation messages (``{version: message}``) remembered per package of ``target_repo``."""
        rows = self.db.execute("SELECT format, namespace, package, deprecated FROM replica_packages "
                               "WHERE target_repo = ?", [target_repo]).fetchall()
        return {(r[0], r[1], r[2]): json.loads(r[3] or "{}") for r in rows}

    def target(self) -> str | None:
        """The target domain (``ACCOUNT:DOMAIN@REGION``) the memory is of, or None in a ledger that has not said."""
        row = self.db.execute(f"SELECT value FROM {META} WHERE key = 'replica_target'").fetchone()
        return row[0] if row else None

    def mark(self, target_repo: str) -> RepoMark | None:
        """The repository's high-water mark, or None before its first run."""
        row = self.db.execute("SELECT target_repo, source_repo, source, high_water, runs_since_full, last_full "
                              "FROM replica_repos WHERE target_repo = ?", [target_repo]).fetchone()
        return RepoMark(*row) if row else None

    # -- writing (on the ledger thread)

    def remember(self, target_repo: str, source_repo: str,
                 versions: Iterable[tuple[VersionId, str | None, str]]) -> None:
        """Remember ``(version id, revision, status)`` for versions now in step."""
        rows = [(target_repo, *vid, source_repo, revision, status, self.writer.run_id, now())
                for vid, revision, status in versions]
        if not rows:
            return
        self.writer.call(lambda db: db.conn.executemany(
            "INSERT INTO replica_versions (target_repo, format, namespace, package, version, source_repo, revision,"
            " status, run_id, updated) VALUES (?,?,?,?,?,?,?,?,?,?) ON CONFLICT (target_repo, format, namespace,"
            " package, version) DO UPDATE SET source_repo = excluded.source_repo, revision = excluded.revision,"
            " status = excluded.status, run_id = excluded.run_id, updated = excluded.updated", rows))

    def forget(self, target_repo: str, versions: Iterable[VersionId]) -> None:
        """Forget versions that are gone from the source (and, with --propagate-deletes, from the target)."""
        rows = [(target_repo, *vid) for vid in versions]
        if rows:
            self.writer.call(lambda db: db.conn.executemany(
                "DELETE FROM replica_versions WHERE target_repo = ? AND format = ? AND namespace = ? AND package = ?"
                " AND version = ?", rows))

    def forget_repository(self, target_repo: str) -> None:
        """Forget every version, dist-tag and deprecation remembered of ``target_repo`` (its high-water mark
        stays until the run advances it)."""
        def apply(db) -> None:
            db.execute("DELETE FROM replica_versions WHERE target_repo = ?", [target_repo])
            db.execute("DELETE FROM replica_packages WHERE target_repo = ?", [target_repo])

        self.writer.call(apply)

    def is_of(self, target: str, forget: bool) -> None:
        """From now on the memory is of ``target``; with ``forget``, every version, dist-tag and deprecation
        remembered of every repository (of another target) is forgotten first. High-water marks stay until
        runs advance them."""
        def apply(db) -> None:
            if forget:
                db.execute("DELETE FROM replica_versions")
                db.execute("DELETE FROM replica_packages")
            db.execute(f"INSERT OR REPLACE INTO {META} (key, value) VALUES ('replica_target', ?)", [target])

        self.writer.call(apply)

    def forget_package(self, target_repo: str, package: PackageId) -> None:
        """Forget a package deleted in the target: its remembered dist-tags and deprecation messages."""
        row = (target_repo, *package)
        self.writer.call(lambda db: db.execute(
            "DELETE FROM replica_packages WHERE target_repo = ? AND format = ? AND namespace = ? AND package = ?",
            row))

    def remember_tags(self, target_repo: str, package: PackageId, tags: dict[str, str]) -> None:
        self._remember_package("dist_tags", target_repo, package, tags)

    def remember_deprecations(self, target_repo: str, package: PackageId, messages: dict[str, str]) -> None:
        self._remember_package("deprecated", target_repo, package, messages)

    def _remember_package(self, column: str, target_repo: str, package: PackageId, value: dict[str, str]) -> None:
        # column is one of this class's two names, never input: it may be spliced into the statement.
        row = (target_repo, *package, json.dumps(value, sort_keys=True), now())
        self.writer.call(lambda db: db.execute(
            f"INSERT INTO replica_packages (target_repo, format, namespace, package, {column}, updated)"
            f" VALUES (?,?,?,?,?,?) ON CONFLICT (target_repo, format, namespace, package) DO UPDATE SET"
            f" {column} = excluded.{column}, updated = excluded.updated", row))

    def advance(self, target_repo: str, source_repo: str, source: str, started: str, full: bool,
                clean: bool) -> None:
        """Count one run of the repository; move its high-water mark to ``started`` only when ``clean``."""
        run_id = self.writer.run_id

        def apply(db) -> None:
            prior = db.execute("SELECT high_water, runs_since_full, last_full FROM replica_repos "
                               "WHERE target_repo = ?", [target_repo]).fetchone()
            high_water, runs, last_full = prior if prior else (None, 0, None)
            if clean:
                high_water = started
            if full and clean:
                runs, last_full = 0, started
            else:
                runs = (runs or 0) + 1
            db.execute("INSERT OR REPLACE INTO replica_repos (target_repo, source_repo, source, high_water,"
                       " runs_since_full, last_full, last_run_id) VALUES (?,?,?,?,?,?,?)",
                       [target_repo, source_repo, source, high_water, runs, last_full, run_id])

        self.writer.call(apply)
