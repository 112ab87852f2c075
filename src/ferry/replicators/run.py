"""``ferry replicate``: keep a target CodeArtifact domain in step with a source one, moving only what changed.

A run: for each mapping, decide incremental or full (``--full``, no high-water mark yet, or
``[options] full_every`` runs since the last full one), scan and plan (:class:`RepoPass`), move the
bytes (the engine's transfer, or CopyPackageVersions when both sides are one domain), then settle
statuses, deletions and dist-tags and advance each clean repository's high-water mark.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ferry import scratch
from ferry.codeartifact import names_one_domain
from ferry.commands import exit_code, recorded_run
from ferry.config import Job
from ferry.engine import Engine, MappingContext, Settings
from ferry.errors import EXIT_ITEMS_FAILED, EXIT_OK, UsageError
from ferry.replicators import batches
from ferry.replicators.memory import Memory, RepoMark
from ferry.replicators.repo_pass import RepoPass
from ferry.report import RunReport, build_report
from ferry.sources.codeartifact import CodeArtifactSource
from ferry.state.ledger import LedgerWriter, now, writer_lock
from ferry.state.reader import ItemRow, LedgerReader


@dataclass
class ReplicateOptions:
    full: bool = False
    propagate_deletes: bool = False
    create_missing: bool = False


@dataclass
class ReplicateOutcome:
    """What a replicate run did: the ledger report, per-mapping tallies, request counts, exit code."""

    run_id: int
    report: RunReport
    exit_code: int
    notes: list[str]
    tallies: dict[str, Counter]
    modes: dict[str, str]
    requests: dict[str, dict[str, int]] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)


class ReplicaEngine(Engine):
    """The engine with one mapping context per (mapping, format): a CodeArtifact repository holds many."""

    def _contexts(self) -> dict:
        return {(c.mapping.source, c.mapping.target, c.format): c for c in self.mappings}

    def _context_of(self, row: ItemRow, by_target) -> MappingContext | None:
        return by_target.get((row.source_repo, row.target_repo, row.format))


def same_domain(job: Job, source_label: str, target_label: str) -> bool:
    """Whether source and target are one domain: the same endpoint, and the same :func:`domain_label`
    (account, name and region). The account is the one each side's credentials resolve, not only a
    ``domain_owner`` the job gives: two accounts' domains of one name and region, each side signing in
    with its own, are two domains, and CopyPackageVersions (one domain only) would read the target
    account's repository of the source's name instead of the source."""
    return (job.source.url or "") == (job.target.endpoint_url or "") and source_label == target_label


def _check_target(engine: Engine, job: Job, create: bool) -> None:
    """Refuse, before the ledger is opened, a target domain or repository that is missing and not to be
    created (a usage error leaves nothing behind). Raises :class:`UsageError`."""
    if create:
        return
    domain = engine.domain
    if not domain.exists():
        raise UsageError(f"target domain {domain.name!r} does not exist in {domain.region}; create it, run "
                         "ferry replicate --config-only, or pass --create-missing")
    for m in job.repositories:
        if not domain.repository_exists(m.target):
            raise UsageError(f"target repository {m.target!r} does not exist; run ferry replicate --config-only "
                             "or pass --create-missing")


def _prepare_target(engine: Engine, passes: list[RepoPass], create: bool, notes: list[str]) -> set[str]:
    """Make sure the target domain and repositories exist (creating them with ``create``; without, they
    were checked by :func:`_check_target`). Returns the existing ones.

    Creates are retried as migrate's are (:meth:`Engine._ensure`): a throttled create is tried again, and
    one whose answer was lost counts as done when the target then shows it.
    """
    domain = engine.domain
    if not domain.exists():
        engine._ensure(domain.create, domain.exists)
        notes.append(f"created domain {domain.name} in {domain.region}")
    existing = set()
    for p in passes:
        target = p.mapping.target
        if domain.repository_exists(target):
            existing.add(target)
        else:
            engine._ensure(lambda: domain.create_repository(target), lambda: domain.repository_exists(target))
            notes.append(f"created repository {target}")
    return existing


def _copy_in_domain(engine: Engine, passes: list[RepoPass], writer: LedgerWriter, reader: LedgerReader) -> None:
    """Same domain: CopyPackageVersions (≤100 per call, pinned to the listed revisions) for every planned
    version, then confirm each asset's SHA-256 on the target."""
    for p in passes:
        m = p.mapping
        planned: dict[tuple[str, str, str, str], list[ItemRow]] = {}
        for row in reader.items(None, ("planned",), m.target):
            if row.key.version_id in p.pending:
                planned.setdefault(row.key.version_id, []).append(row)
        by_pkg: dict[tuple[str, str, str], dict[str, str | None]] = {}
        for vid in planned:
            by_pkg.setdefault(vid[:3], {})[vid[3]] = p.pending[vid].revision
        for (fmt, ns, name), revisions in sorted(by_pkg.items()):
            result = batches.copy(engine.domain, m.source, m.target, fmt, ns, name, revisions)
            p.tally["CopyPackageVersions versions"] += len(result.ok)
            for version in revisions:
                rows = planned[(fmt, ns, name, version)]
                if version in result.failed:
                    for r in rows:
                        writer.transition(m.target, r.key, "failed", reason=f"copy: {result.failed[version]}",
                                          attempt=True)
                    continue
                listed = {a["name"]: a["hashes"].get("SHA-256") for a in
                          engine.domain.assets(m.target, fmt, ns, name, version)}
                for r in rows:
                    got, want = listed.get(r.asset), r.source_sha256
                    state = "confirmed" if got and got == want else "failed"
                    writer.transition(m.target, r.key, state, target_sha256=got, source_sha256=want,
                                      reason=None if state == "confirmed" else
                                      f"after the copy the target shows sha256 {got}, expected {want}")
    writer.flush()


def domain_label(domain, required: bool = True) -> str:
    """How the replication memory names a domain, source or target: ``ACCOUNT:DOMAIN@REGION``. The account
    matters: a job pointed at another account's domain of the same name and region is another domain.
    ``DOMAIN@REGION`` for a target domain not created yet (not ``required``). Raises :class:`UsageError`
    for a ``required`` domain that does not exist."""
    account = domain.account(required)
    return f"{account + ':' if account else ''}{domain.name}@{domain.region}"


def same_source(mark: RepoMark, label: str, source_repo: str) -> bool:
    """Whether ``mark`` was left by runs reading ``source_repo`` of the domain ``label`` names."""
    return mark.source_repo == source_repo and names_one_domain(mark.source, label)


def _forget_other_source(memory: Memory, target: str, mark: RepoMark, source: str, notes: list[str]) -> None:
    """The mapping of ``target`` now names another source than the one its memory is of: forget that memory,
    so that this run is a first (full) run for the new source, and say so in ``notes``.

    Kept, versions the old source had and the new one lacks would look deleted from the source, and
    --propagate-deletes would delete in the target everything copied from the old source.
    """
    memory.forget_repository(target)
    notes.append(f"the source of {target} changed from {mark.source}/{mark.source_repo} to {source} since the last "
                 "run: what was remembered of the old source is forgotten and this run is a full one; nothing "
                 "copied from the old source is deleted")


def _forget_other_target(memory: Memory, target: str, notes: list[str]) -> bool:
    """Returns True, with a note, when the job now names another target domain (``target``, as
    :func:`domain_label` names it) than the one the memory is of,
    after forgetting that memory: it says what the old target held, so an incremental run trusting it would
    copy nothing to the new one. A ledger that has not said which target it remembers is taken at its word."""
    known = memory.target()
    if known == target:
        return False
    if known is not None and names_one_domain(known, target):
        memory.is_of(target, forget=False)  # the same domain, named now with its account
        return False
    memory.is_of(target, forget=known is not None)
    if known is None:
        return False
    notes.append(f"the target changed from {known} to {target} since the last run: what was remembered of the old "
                 "one is forgotten and this run is a full one")
    return True


def replicate(job: Job, settings: Settings, options: ReplicateOptions) -> ReplicateOutcome:
    """Run one replication of ``job``. Raises :class:`FerryError` for usage and fatal problems.

    The run is recorded in the ledger as ``replicate``; the exit code is 1 if any item failed or a
    status, deletion or dist-tag could not be brought in step. Raises :class:`UsageError` while another
    run writes the same ledger, before anything is contacted.
    """
    with writer_lock(settings.ledger), scratch.in_folder(settings.spool):
        return _replicate(job, settings, options)


def _replicate(job: Job, settings: Settings, options: ReplicateOptions) -> ReplicateOutcome:
    engine = ReplicaEngine(job, settings)
    if not isinstance(engine.source, CodeArtifactSource):
        raise UsageError('ferry replicate reads from a CodeArtifact domain: set [source] kind = "codeartifact"')
    source = engine.source
    problems: list[str] = []
    create = options.create_missing or job.options.create_missing
    # Bad input is refused before the ledger is opened and before anything is created in the target.
    for m in job.repositories:
        source.check_repository(m.source)
    _check_target(engine, job, create)
    label = domain_label(source.domain)
    with LedgerWriter(settings.ledger) as writer:
        failed = lambda counts: exit_code(counts, "replicate") != EXIT_OK or bool(problems)  # noqa: E731
        with recorded_run(writer, "replicate", job.path, failed, settings.notes) as run_id:
            try:
                with LedgerReader(settings.ledger) as reader:
                    memory = Memory(reader.db, writer)
                    target = domain_label(engine.domain, required=False)
                    moved = _forget_other_target(memory, target, settings.notes)
                    passes = []
                    for m in job.repositories:
                        mark = memory.mark(m.target)
                        if mark is not None and not same_source(mark, label, m.source):
                            _forget_other_source(memory, m.target, mark, f"{label}/{m.source}", settings.notes)
                            mark = None  # a first run for the new source
                        full = (options.full or moved or mark is None
                                or mark.runs_since_full + 1 >= job.options.full_every)
                        passes.append(RepoPass(job, m, source, engine.domain, memory, full, now(),
                                               options.propagate_deletes))
                    existing = _prepare_target(engine, passes, create, settings.notes)
                    if ":" not in target:  # created just now: its account is known from here on
                        memory.is_of(domain_label(engine.domain), forget=False)
                    for p in passes:
                        p.scan(writer, p.mapping.target in existing)
                    writer.flush()
                    engine.mappings = [c for p in passes for c in p.contexts.values()]
                    if same_domain(job, label, domain_label(engine.domain)):
                        _copy_in_domain(engine, passes, writer, reader)
                    else:
                        engine.transfer(writer, reader)
                    for p in passes:
                        clean = p.settle(reader.db, engine.session)
                        problems.extend(p.problems)
                        memory.advance(p.mapping.target, p.mapping.source, label, p.started, p.full, clean)
                    # The problems are no item rows: the run keeps them (redacted), so its report, the --report
                    # file and a later ``ferry status`` say why a run that exits 1 for a status it could not set did.
                    writer.record_problems(problems)
                writer.flush()
            finally:  # inside the recorded run, so the ledger keeps what the faults cost with its other notes
                note = engine.retry_note()  # as migrate says it
                if note:
                    settings.notes.append(note)
    with LedgerReader(settings.ledger) as reader:
        report = build_report(reader, run_id)
    code = exit_code(report.counts, "replicate")
    if problems and code == EXIT_OK:
        code = EXIT_ITEMS_FAILED
    return ReplicateOutcome(
        run_id=run_id, report=report, exit_code=code, notes=settings.notes,
        tallies={p.mapping.target: p.tally for p in passes},
        modes={p.mapping.target: "full" if p.full else "incremental" for p in passes},
        requests={f"source {source.domain.name}@{source.domain.region}": source.domain.request_counts(),
                  f"target {engine.domain.name}@{engine.domain.region}": engine.domain.request_counts()},
        problems=problems,
    )
