"""The library behind ``ferry audit``, ``migrate`` and ``verify``: one function each, returning an outcome.

Each records a run in the ledger and derives its exit code from the ledger's rows, so what the user
is told and what the ledger says can never disagree.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator
from pathlib import Path

from ferry.codeartifact import names_one_domain
from ferry.config import Job
from ferry import origins, scratch, statuses
from ferry.migrators import cargo
from ferry.dist_tags import Follower, check_source_tags
from ferry.engine import Engine, Settings
from ferry.errors import EXIT_INTERRUPTED, EXIT_ITEMS_FAILED, EXIT_OK, UsageError
from ferry.report import PUBLISH_RATE, RunReport, build_report
from ferry.state.ledger import BAD, LedgerWriter, RunNotes, open_read_only, writer_lock
from ferry.state.migrations import JOB_TARGET, META, SCHEMA_VERSION, unusable
from ferry.state.reader import PENDING, LedgerReader


@dataclass
class Outcome:
    """What a command did: the run's report and the exit code that follows from it."""

    command: str
    run_id: int
    report: RunReport
    exit_code: int
    notes: list[str]


def exit_code(counts: dict[str, int], command: str) -> int:
    """The exit code a run with these counts by state ends with (0 all done, 1 items failed or pending)."""
    bad = sum(counts.get(state, 0) for state in BAD)
    if command == "audit":
        return EXIT_ITEMS_FAILED if counts.get("conflict", 0) or counts.get("unmappable", 0) else EXIT_OK
    if command == "verify":
        return EXIT_ITEMS_FAILED if bad or counts.get("planned", 0) else EXIT_OK
    pending = sum(counts.get(state, 0) for state in PENDING)
    return EXIT_ITEMS_FAILED if bad or pending else EXIT_OK


def run(command: str, job: Job, settings: Settings, create_missing: bool = False) -> Outcome:
    """Run ``audit``, ``migrate`` or ``verify`` for ``job``.

    audit and verify publish nothing; migrate plans, then transfers what the plan says to copy.
    Raises :class:`ferry.errors.FerryError` for usage or fatal problems (the run is recorded as such;
    :class:`UsageError` while another run writes the same ledger) and KeyboardInterrupt after recording
    the run as interrupted.
    """
    check_ledger(settings.ledger)  # before anything is created on the target
    # The job's settings and credentials are checked before the lock file is made: bad input leaves nothing.
    engine = Engine(job, settings)
    # before anything is created on the target, as another run is
    with writer_lock(settings.ledger, settings.shard), scratch.in_folder(settings.spool):
        target = job_target(job, engine)
        check_job_target(settings.ledger, target)
        return _run(command, engine, job, settings, create_missing, target)


def _run(command: str, engine: Engine, job: Job, settings: Settings, create_missing: bool, target: str) -> Outcome:
    engine.prepare(create_missing=create_missing, dry_run=command != "migrate")
    with LedgerWriter(settings.ledger) as writer:
        writer.call(lambda db: _record_job_target(db, target))
        with recorded_run(writer, command, job.path, lambda counts: exit_code(counts, command) != EXIT_OK,
                          settings.notes) as run_id:
            try:
                if command == "migrate":
                    with Follower(engine, writer) as follower:
                        # Statuses first: the npm tags pass sees only the versions the target lists.
                        status_pass = statuses.StatusPass(engine, writer)
                        engine.plan(writer, planned=lambda ctx: (status_pass.mapping_planned(ctx),
                                                                 follower.mapping_planned(ctx)))
                        with LedgerReader(settings.ledger) as reader:
                            engine.transfer(writer, reader)  # returns with every outcome committed
                            status_pass.finish(reader)
                            follower.finish(reader)
                else:
                    engine.plan(writer, verifying=command == "verify")
                    if command == "verify":  # the plan returned with its verdicts committed
                        with LedgerReader(settings.ledger) as reader:
                            check_source_tags(engine, writer, reader)
                writer.flush()
                with LedgerReader(settings.ledger) as reader:
                    statuses.would_set(engine, reader, run_id, command)
                    origins.note(engine, reader, run_id, command)
                    yanked = cargo.yanked_note(reader, run_id) if command == "migrate" else None
                    if yanked:
                        settings.notes.append(yanked)
            finally:  # inside the recorded run, so the ledger keeps what the faults cost with its other notes
                note = engine.retry_note()
                if note:
                    settings.notes.append(note)
    with LedgerReader(settings.ledger) as reader:
        report = build_report(reader, run_id, rate=publish_rate(engine))
    return Outcome(command, run_id, report, exit_code(report.counts, command), settings.notes)


def publish_rate(engine: Engine) -> float:
    """Publishes per second the run's estimate assumes: the job's publish rate ([options.rates] publish,
    raised with the account's quota), this shard's share of it; the default quota where the job lifts the
    client-side limit (0), since the service still holds to its quota."""
    ceiling = engine.limiter.buckets["publish"].ceiling
    return ceiling if ceiling > 0 else PUBLISH_RATE / engine.limiter.share


@contextmanager
def recorded_run(writer: LedgerWriter, command: str, job_path: str | None,
                 failed: Callable[[dict[str, int]], bool], notes: list[str] | None = None) -> Iterator[int]:
    """Record one run in the ledger around the block; yields the run id.

    The run ends as ``ok`` (or ``items-failed`` when ``failed(counts by state)`` says so), ``interrupted``
    on KeyboardInterrupt, ``fatal`` on any other exception, which propagates. However it ends, the run keeps
    what ``notes`` (the run's list, which the block goes on filling) holds by then, so its reports show them.
    """
    run_id = writer.start_run(command, job_path)
    if isinstance(notes, RunNotes):  # kept as they come: a run killed outright never reaches end_run
        notes.kept_by(writer)
    status = "fatal"
    try:
        yield run_id
        status = "ok"
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if isinstance(notes, RunNotes):
            notes.kept_by(None)
        counts = writer.end_run(status, notes or ())
        if status == "ok" and failed(counts):
            writer.call(lambda db: db.execute("UPDATE runs SET status='items-failed' WHERE id=?", [run_id]))


def check_ledger(path: Path) -> bool:
    """Refuse, without changing it, a ledger file this ferry cannot use (not a ledger, or from a newer ferry).

    A missing or empty file is fine (it is created). Returns whether ``path`` holds a ledger already.
    Raises :class:`UsageError`, or :class:`FatalError` when its files cannot be written or read (a full disk).
    """
    if not path.exists():
        return False
    try:
        with closing(open_read_only(path)) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if META not in tables:
                if tables:
                    raise UsageError(f"{path}: not a ferry ledger (it holds other tables); choose another ledger path")
                return False
            row = db.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'").fetchone()
    except sqlite3.DatabaseError as err:
        raise unusable(str(path), err) from None
    version = int(row[0]) if row and str(row[0]).isdigit() else 0
    if version > SCHEMA_VERSION:
        raise UsageError(f"{path}: ledger written by a newer ferry (schema {version}, this ferry knows "
                         f"{SCHEMA_VERSION}); upgrade ferry or use another --state")
    return True


def job_target(job: Job, engine: Engine) -> str:
    """The job's target domain as the ledger records it: ``ACCOUNT:DOMAIN@REGION``, without ``ACCOUNT:`` when
    the job does not name the domain's owner (the caller's account, not looked up for this)."""
    owner = job.target.domain_owner
    return f"{owner + ':' if owner else ''}{engine.domain.name}@{engine.domain.region}"


def check_job_target(path: Path, target: str) -> None:
    """Refuse a ledger whose runs went into another target domain than ``target``.

    The ledger keys its rows by target repository name, not domain: a job into another domain whose
    repositories have the same names would take over the first job's rows, and the reports of both would
    mix. Raises :class:`UsageError`; a ledger that has not recorded its target (new, or from an older ferry)
    passes, and so does one that named the same domain without its account.
    """
    if not path.is_file():
        return
    try:
        with closing(open_read_only(path)) as db:
            if not db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", [META]).fetchone():
                return
            row = db.execute(f"SELECT value FROM {META} WHERE key = ?", [JOB_TARGET]).fetchone()
    except sqlite3.DatabaseError as err:
        raise unusable(str(path), err) from None
    if row is None or names_one_domain(row[0], target):
        return
    raise UsageError(f"{path}: this ledger holds the runs of a job into {row[0]}, and this job targets {target}; "
                     "give this job its own ledger (--state), as a ledger keys its rows by repository name")


def _record_job_target(db, target: str) -> None:
    """Record ``target`` as the ledger's, keeping the account a ledger named it with when this job leaves it out."""
    row = db.execute(f"SELECT value FROM {META} WHERE key = ?", [JOB_TARGET]).fetchone()
    if row is None or (":" in target or ":" not in row[0]):
        db.execute(f"INSERT OR REPLACE INTO {META} (key, value) VALUES (?, ?)", [JOB_TARGET, target])


__all__ = ["Outcome", "Settings", "check_job_target", "check_ledger", "run", "EXIT_INTERRUPTED"]
