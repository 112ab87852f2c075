"""The ledger's schema, as an ordered list of migrations (sqlite-utils ``Migrations``).

``SCHEMA_VERSION`` is the number of migrations this ferry knows; the ledger records how many it has
had in ``ferry_meta.schema_version``. A ledger with a higher number was written by a newer ferry
and is refused rather than guessed at. Migrations are append-only: never edit a shipped one.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from ferry.errors import FatalError, FerryError, UsageError

META = "ferry_meta"
# The target domain a ledger's audit, migrate and verify runs went into (ferry.commands.check_job_target).
JOB_TARGET = "job_target"
migrations = Migrations("ferry-ledger")
NAMES: list[str] = []


def _step(name: str):
    NAMES.append(name)
    return migrations(name=name)


@_step("0001_initial")
def _initial(db: Database) -> None:
    db[META].create({"key": str, "value": str}, pk="key")
    db["runs"].create(
        {"id": int, "command": str, "job": str, "started": str, "ended": str, "status": str, "counts": str},
        pk="id",
        not_null={"command", "started", "status"},
    )
    db["items"].create(
        {
            "id": int,
            "target_repo": str,
            "format": str,
            "namespace": str,
            "package": str,
            "version": str,
            "asset": str,
            "source_repo": str,
            "action": str,
            "state": str,
            "size": int,
            "source_sha256": str,
            "target_sha256": str,
            "reason": str,
            "attempts": int,
            "updated": str,
            "run_id": int,
        },
        pk="id",
        not_null={"target_repo", "format", "namespace", "package", "version", "asset", "source_repo", "state",
                  "attempts", "updated"},
        defaults={"attempts": 0, "namespace": "", "source_repo": ""},
        foreign_keys=[("run_id", "runs", "id")],
    )
    # Identity is the live target's: one row per asset per target repository, across runs.
    db["items"].create_index(
        ["target_repo", "format", "namespace", "package", "version", "asset"], index_name="items_identity", unique=True
    )


@_step("0002_status_indexes")
def _status_indexes(db: Database) -> None:
    # status/report filter by state and by run; without these they scan the whole table.
    db["items"].create_index(["state"], index_name="items_state")
    db["items"].create_index(["run_id", "state"], index_name="items_run_state")
    db["runs"].add_column("ferry_version", str)


@_step("0003_source_details")
def _source_details(db: Database) -> None:
    # The transfer streams its work list out of the ledger, so each planned row carries what is needed
    # to fetch and check the file again: where the source serves it and the digests the source reported.
    db["items"].add_column("locator", str)
    db["items"].add_column("source_checksums", str)


@_step("0004_replication")
def _replication(db: Database) -> None:
    # replicate's memory of the source, per target repository: what each version looked like (revision,
    # status) when it was last fully in step, each npm package's dist-tags, and each repository's
    # high-water mark and run counter (for the periodic full reconcile). Advanced only after success.
    db["replica_versions"].create(
        {"target_repo": str, "format": str, "namespace": str, "package": str, "version": str, "source_repo": str,
         "revision": str, "status": str, "run_id": int, "updated": str},
        pk=("target_repo", "format", "namespace", "package", "version"),
        not_null={"target_repo", "format", "namespace", "package", "version", "source_repo", "status"},
    )
    db["replica_packages"].create(
        {"target_repo": str, "format": str, "namespace": str, "package": str, "dist_tags": str, "updated": str},
        pk=("target_repo", "format", "namespace", "package"),
    )
    db["replica_repos"].create(
        {"target_repo": str, "source_repo": str, "source": str, "high_water": str, "runs_since_full": int,
         "last_full": str, "last_run_id": int},
        pk="target_repo",
    )


@_step("0005_target_versions")
def _target_versions(db: Database) -> None:
    # What each target version held when ferry last listed it (its revision and assets), so a rerun
    # lists a package's versions once and lists assets only of versions whose revision has changed.
    db["target_versions"].create(
        {"target_repo": str, "format": str, "namespace": str, "package": str, "version": str, "revision": str,
         "assets": str, "updated": str},
        pk=("target_repo", "format", "namespace", "package", "version"),
        not_null={"target_repo", "format", "namespace", "package", "version", "revision", "assets"},
    )


@_step("0006_replica_deprecations")
def _replica_deprecations(db: Database) -> None:
    # replicate's memory of each npm package's deprecation messages ({version: message}, JSON), beside its
    # dist-tags, so an incremental run touches the target only for a package whose messages changed.
    db["replica_packages"].add_column("deprecated", str)


@_step("0007_run_problems")
def _run_problems(db: Database) -> None:
    # What a run could not bring in step beside its items (replicate: a status, a deletion, a dist-tag), as a
    # JSON list of lines: no item row says so, and ``status`` of a run that failed for one showed nothing.
    db["runs"].add_column("problems", str)


@_step("0008_version_statuses")
def _version_statuses(db: Database) -> None:
    # A CodeArtifact source's version status, and the target version's status as the plan listed it, per row:
    # migrate sets the target version to the source's status once its files are there (and on a later run,
    # when the two still differ), with no listing of its own. NULL for sources without statuses (Nexus,
    # Artifactory), for files the target lacked, and for rows of older ledgers.
    db["items"].add_column("source_status", str)
    db["items"].add_column("target_status", str)


@_step("0009_source_origin")
def _source_origin(db: Database) -> None:
    # How a CodeArtifact source got each version when it was not published there (``external:NAME``,
    # ``upstream:REPO``): in the target it is a direct publish, whose origin controls then block upstream
    # versions of the package, so the run's notes count such versions and the ledger says which they were.
    db["items"].add_column("source_origin", str)


@_step("0010_run_notes")
def _run_notes(db: Database) -> None:
    # What the run told the operator beside its items (origin controls changed, repositories created, versions
    # left out, what faults cost), as a JSON list of lines: printed only on stderr, they were lost with the
    # terminal, and no report (status, report, --report FILE, report --merge) showed them.
    db["runs"].add_column("notes", str)


SCHEMA_VERSION = len(NAMES)
# What SQLite says when it could not write a file: the disk or quota full (SQLITE_FULL), a file-size limit or a
# failing disk (SQLITE_IOERR_WRITE), or no room to grow the -shm file a WAL ledger is read through (SHMSIZE).
_WRITE_ERRORS = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_WRITE, sqlite3.SQLITE_IOERR_SHMSIZE,
                 sqlite3.SQLITE_IOERR_TRUNCATE, sqlite3.SQLITE_IOERR_FSYNC)


def write_failed(err: sqlite3.Error) -> bool:
    """Whether SQLite failed writing a file (its disk or quota full, a file-size limit, a failing disk), as
    opposed to finding a file that is not a ledger."""
    return getattr(err, "sqlite_errorcode", None) in _WRITE_ERRORS


# What to do with a damaged ledger: it is a journal, the target the truth.
DAMAGED_ADVICE = ("move it aside and run the job's command again (a new ledger is planned from the target, which "
                  "keeps what was published)")


def damaged(err: sqlite3.Error) -> bool:
    """Whether SQLite found the ledger's pages damaged (a disk error, a torn copy), as opposed to a file that
    was never a database."""
    return (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF == sqlite3.SQLITE_CORRUPT


def read_failed(label: str, err: sqlite3.Error) -> FatalError | None:
    """The error to end with when reading the ledger at ``label`` failed for its file (damaged, or a disk or
    -wal/-shm that cannot be read); None for any other failure (a bug, left as it is)."""
    if damaged(err):
        return FatalError(f"{label}: the ledger is damaged ({err}); {DAMAGED_ADVICE}")
    if (getattr(err, "sqlite_errorcode", None) or 0) & 0xFF == sqlite3.SQLITE_IOERR:
        return unreadable(label, err)
    return None


def unreadable(label: str, err: sqlite3.Error) -> FatalError:
    """The error to end with when the ledger at ``label`` could not be read for its files (a disk error, its
    -wal truncated or removed under a run)."""
    return FatalError(f"{label}: the ledger cannot be read ({err}); check its disk and the -wal and -shm files "
                      "beside it (a run writing it must keep them), then run the same command again")


def write_advice(err: sqlite3.Error) -> str:
    """What to do about a write SQLite failed (:func:`write_failed`): free space, when that is what it says or what
    an unwritable -shm mostly means; else also a disk gone read-only (an ext4 after errors) or failing."""
    if getattr(err, "sqlite_errorcode", None) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR_SHMSIZE):
        return "free space on its disk and run the same command again"
    return ("free space on its disk, or if it went read-only or fails, make the ledger writable there or move it to a "
            "sound disk, then run the same command again")


def unusable(label: str, err: sqlite3.Error) -> FerryError:
    """The error to end with when SQLite fails opening or upgrading the ledger at ``label``: :class:`FatalError`
    when a file could not be written or read (a full disk; a -wal or -shm removed under a run: the ledger may
    be whole), which no other ledger path would mend; else :class:`UsageError`: a damaged ledger (moved aside,
    a new one is planned from the target), or a file that is not a ledger."""
    if write_failed(err):
        return FatalError(f"{label}: the ledger cannot be written ({err}); {write_advice(err)}")
    if damaged(err):
        return UsageError(f"{label}: the ledger is damaged ({err}); {DAMAGED_ADVICE}")
    return read_failed(label, err) or UsageError(f"{label}: not a ferry ledger ({err}); choose another ledger path")


def stored_version(db: Database) -> int:
    """The schema version recorded in the ledger (0 for an empty file)."""
    if not db[META].exists():
        return 0
    row = db.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else 0


def migrate(db: Database, label: str, upto: int = SCHEMA_VERSION) -> int:
    """Bring the ledger at *label* up to schema *upto* (default: this ferry's). Returns the version.

    Raises :class:`UsageError` for a ledger from a newer ferry or a file that is not a ledger, and
    :class:`FatalError` when its files cannot be written or read (:func:`unusable`). Holds a write lock
    for the whole upgrade so two processes cannot migrate at once.
    """
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.DatabaseError as err:
        raise unusable(label, err) from None
    try:
        version = stored_version(db)
        if version == 0 and any(t not in (META, Migrations.migrations_table) for t in db.table_names()):
            raise UsageError(f"{label}: not a ferry ledger (it holds other tables); choose another ledger path")
        if version > SCHEMA_VERSION:
            raise UsageError(f"{label}: ledger written by a newer ferry (schema {version}); upgrade ferry")
        if version < upto:
            stop = NAMES[upto] if upto < len(NAMES) else None
            migrations.apply(db, stop_before=stop)
            db[META].upsert({"key": "schema_version", "value": str(upto)}, pk="key")
            version = upto
        db.execute("COMMIT")
    except BaseException:
        if db.conn.in_transaction:
            db.execute("ROLLBACK")
        raise
    return version
