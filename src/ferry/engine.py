"""The migration engine: plan every mapping into the ledger, then move what the plan says to copy.

Deciding is separate from doing. :meth:`Engine.plan` lists both sides of each mapping and writes
one ledger row per item. :meth:`Engine.transfer` streams the rows still to copy out of the ledger,
groups them by package version, and hands each version to a worker, which copies it
(:class:`ferry.version_copy.VersionCopier`: re-check the target, download to the spool while hashing,
publish through the format's migrator, confirm the target's SHA-256, finish the version). Only the
ledger thread writes the ledger; workers send it events.

Ctrl-C: the main thread stops handing out versions, drops the queued ones, and waits only for the
workers' current items (downloads stop at the next chunk); rows left mid-way are re-planned on resume.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
import threading
from collections import Counter, OrderedDict
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import time as clock_time
from pathlib import Path
from typing import Callable, Iterator

import requests

from ferry import inventory, scratch, statuses, transfer
from ferry.codeartifact import Domain, source_limiter
from ferry.config import DEFAULT_LAYOUT, Job, Options, RepositoryMapping
from ferry.errors import FatalError, ItemError, ListedTwice, RetryableError, UsageError
from ferry.http import check_url, make_session
from ferry.migrators import MIGRATORS
from ferry.migrators.base import Migrator
from ferry.model import Action, ItemKey, PlanEntry, SourceItem, VersionStatus
from ferry.outage import OutageWatch
from ferry.plan import plan
from ferry.ratelimit import RateLimiter
from ferry.redact import register
from ferry.retry import REQUEST, cause_of, retrying
from ferry.screening import screened
from ferry.shard import Shard
from ferry.sources.base import Source
from ferry.state.ledger import LedgerWriter, RunNotes
from ferry.state.reader import ItemRow, LedgerReader
from ferry.state.target_memory import TargetMemory
from ferry.version_copy import VersionCopier


@dataclass
class Settings:
    """How a run behaves, beyond the job file."""

    ledger: Path = Path("ferry.db")
    spool: Path | None = None
    allow_http: bool = False
    ca_bundle: str | None = None
    progress: Callable[[int], None] | None = None  # called with the number of items finished
    sleep: Callable[[float], None] | None = None  # injectable for tests
    # Things the run wants to tell the user; a recorded run keeps them in the ledger as they come (RunNotes).
    notes: list[str] = field(default_factory=RunNotes)
    shard: Shard | None = None  # --shard i/N: only the packages this shard owns, at 1/N of the rate limits
    # Plan from the ledger's record of target versions whose revision is unchanged (migrate); verify
    # leaves it off and lists every version's assets from the live target.
    recall_target: bool = False


@dataclass
class MappingContext:
    mapping: RepositoryMapping
    format: str
    migrator: Migrator


def open_source(job: Job, settings: Settings, session: requests.Session, retry) -> Source:
    """The source the job names. Raises UsageError for kinds this ferry cannot read yet."""
    cfg = job.source
    for secret in (cfg.password, cfg.token):  # known before anything can print it (ferry.redact)
        if secret is not None:
            # current() refuses a value with a line break inside (a header would echo it) without showing it
            register(secret.current(), user=cfg.username)
    if cfg.kind == "nexus":
        from ferry.sources.nexus import NexusSource

        url = check_url(cfg.url or "", "[source] url", settings.allow_http)
        password = cfg.password.reveal() if cfg.password else None
        return NexusSource(url, session, cfg.username, password, retry=retry, notes=settings.notes)
    if cfg.kind == "artifactory":
        from ferry.sources.artifactory import open_artifactory_source

        return open_artifactory_source(cfg, settings, session, retry)
    if cfg.kind == "codeartifact":
        from ferry.sources.codeartifact import open_codeartifact_source

        return open_codeartifact_source(cfg, session, retry, settings.allow_http, settings.ca_bundle,
                                        settings.notes)
    raise UsageError(f"[source] kind {cfg.kind!r} is not supported by this ferry yet; use \"nexus\"")


class Engine:
    """One job's run. Create, then call :meth:`prepare`, :meth:`plan`, :meth:`transfer`."""

    def __init__(self, job: Job, settings: Settings):
        self.job = job
        self.settings = settings
        # Set on Ctrl-C or a fatal error: workers leave their current item, retry waits end at once.
        self._stopping = threading.Event()
        kwargs = {"sleep": settings.sleep or self.pause}
        self.retries: Counter[str] = Counter()  # retries spent, by layer and by cause (for the run's notes)
        # Items failing in a row on connections, timeouts or 5xx: a side that went down stops the run (exit 3).
        self.outage = OutageWatch()
        self._retries_lock = threading.Lock()
        # Public: the request layer's one retry policy, for passes beside the transfer (ferry.dist_tags).
        self.request_retry = retrying(REQUEST, on_retry=self._counter("request"), **kwargs)
        # The item layer's retry settings, for each version copier (ferry.version_copy).
        self.item_retry_kwargs = {**kwargs, "on_retry": self._counter("item")}
        workers = job.options.workers
        self.session = make_session(pool_size=workers * 2, ca_bundle=settings.ca_bundle)
        self.source = open_source(job, settings, self.session, self.request_retry)
        t = job.target
        self.limiter = RateLimiter(dict(job.options.rates), share=settings.shard.count if settings.shard else 1)
        # The endpoint gets the authorization tokens ferry then sends to package endpoints: same rule as the source.
        endpoint = check_url(t.endpoint_url, "[target] endpoint_url", settings.allow_http) if t.endpoint_url else None
        self.domain = Domain(t.domain, t.domain_owner, t.region, t.profile, endpoint_url=endpoint,
                             max_pool=workers * 2, retry=self.request_retry, role_arn=t.role_arn,
                             limiter=self.limiter, ca_bundle=settings.ca_bundle, allow_http=settings.allow_http)
        if isinstance(getattr(self.source, "domain", None), Domain):  # a CodeArtifact source
            self.source.domain.limiter = source_limiter(job, self.source.domain, self.domain)
        self.mappings: list[MappingContext] = []
        self.missing_targets: set[str] = set()  # planned as empty (dry runs only)
        # Per-package caches, bounded: versions come out of the ledger grouped by package, so only the
        # packages in flight matter, and memory stays flat however many packages a run moves.
        self._facts_cache: _Recent = _Recent(4096)
        # Workers move a package's versions side by side: the first to ask reads its facts, the others wait
        # for that answer, a failure included, instead of each reading it again (a crate's index was read 4
        # times for 8 versions). One entry per read in flight (at most one per worker); the lock is held only
        # to look up or add an entry, never during a read, so a slow package holds up no other.
        self._facts_reading: dict[tuple[str, str, str, str], Future] = {}
        self._facts_reading_lock = threading.Lock()
        self._origin_ok: _Recent = _Recent(4096)  # packages whose origin controls allow publishing
        # The migrators' PublishContext.run_memory (Maven: the versions of each artifact's metadata).
        # Few entries: an artifact's versions come one after another, and one entry may list thousands.
        self.run_memory: _Recent = _Recent(16)
        # The plan's ListPackages walk reports each target package's origin controls: kept for the
        # few that block publishing, so the transfer asks DescribePackage only where no walk answered.
        self._origin_listed: set[tuple[str, str]] = set()  # (target, format) walked to the end
        self._origin_blocking: dict[tuple[str, str, str, str], dict] = {}
        self._origin_lock = threading.Lock()
        self._memory: TargetMemory | None = None  # the ledger's record of target versions (revision, assets)

    def repository_pairs(self) -> list[RepositoryMapping]:
        """Each (source, target) repository pair of the job once, in job order: a repository holding several
        formats is planned once per format, but the rows of its run are read back in one query."""
        pairs: dict[tuple[str, str], RepositoryMapping] = {}
        for ctx in self.mappings:
            pairs.setdefault((ctx.mapping.source, ctx.mapping.target), ctx.mapping)
        return list(pairs.values())

    def stop(self) -> None:
        """Tell every pass of this run to stop: transfer workers leave their current item, and retry waits
        end at once (raising :class:`ferry.transfer.Interrupted`)."""
        self._stopping.set()

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds``, or raise :class:`ferry.transfer.Interrupted` as soon as the run is stopping."""
        if self._stopping.wait(seconds):
            raise transfer.Interrupted("the run is stopping")

    def _counter(self, layer: str) -> Callable[[int, BaseException, float], None]:
        def count(_attempt: int, err: BaseException, _delay: float) -> None:
            with self._retries_lock:
                self.retries[layer] += 1
                self.retries[f"{layer}:{cause_of(err)}"] += 1

        return count

    def retry_note(self) -> str | None:
        """One line on the retries this run spent (None if none): what the faults cost."""
        with self._retries_lock:
            counts = dict(self.retries)
        if not counts:
            return None
        parts = []
        for layer, label in (("request", "requests"), ("item", "items")):
            if counts.get(layer):
                causes = sorted((k.split(":", 1)[1], n) for k, n in counts.items() if k.startswith(layer + ":"))
                detail = ", ".join(f"{cause} {n}" for cause, n in causes)
                parts.append(f"{counts[layer]} {label} ({detail})")
        return "retried " + " and ".join(parts)

    # -- preparing ----------------------------------------------------------------------------------

    def prepare(self, create_missing: bool, dry_run: bool = False) -> None:
        """Check (or create) the target domain and repositories and resolve each mapping's format (each format
        a CodeArtifact source repository holds, for a mapping of a mixed one that names none).

        Raises :class:`UsageError` for a missing domain/repository without ``create_missing``, an
        unknown source repository, or a format no migrator handles; nothing has moved by then. An empty
        CodeArtifact source repository gets no context, only a note.
        With ``dry_run`` nothing is created: missing targets are planned as empty and noted.
        """
        for m in self.job.repositories:
            repo = self.source.repository(m.source)
            by_format = m.format is None and repo.format is None and getattr(self.source, "lists_by_format", False)
            if by_format and not self.source.formats(m.source):
                # A CodeArtifact repository with no packages (new, or emptied): nothing to move, as replicate says.
                self.settings.notes.append(f"{m.source}: no packages, nothing to migrate")
                continue
            if by_format:
                # A CodeArtifact repository holding several formats: each is planned on its own, all into the
                # one target (a target is named by one mapping only, so the mapping cannot be split by format).
                self.mappings.extend(self._contexts_by_format(m))
                continue
            # A Nexus or Artifactory repository has one format: a mapping that names another would read its
            # files with the wrong rules (npm tarballs taken for generic files). A generic (raw) one may hold
            # anything, and a CodeArtifact repository mixes formats: format = ... narrows those.
            if (m.format and repo.format and m.format != repo.format and repo.format != "generic"
                    and self.source.kind != "codeartifact"):
                raise UsageError(f"source repository {m.source!r} is a {repo.native_format} repository, but its "
                                 f"mapping says format = {m.format!r}; remove format from that [[repositories]] "
                                 "entry")
            fmt = m.format or repo.format
            if fmt is None:
                raise UsageError(f"source repository {m.source!r} has format {repo.native_format!r}, which ferry "
                                 "cannot migrate; remove that [[repositories]] entry, or set format = \"generic\" "
                                 "in it to copy its files as generic packages")
            if fmt not in MIGRATORS:
                supported = ", ".join(sorted(MIGRATORS))
                raise UsageError(f"source repository {m.source!r} is {fmt}; this ferry migrates {supported}")
            _check_keys_apply(m, fmt)
            self.mappings.append(MappingContext(m, fmt, MIGRATORS[fmt]))
        # Every mapping's target, also one whose source holds nothing (yet) to migrate.
        targets = sorted({m.target for m in self.job.repositories})
        # What an audit's note names as the creator: the runbook's migrate command, unless the job creates.
        creator = "migrate" if self.job.options.create_missing else "migrate --create-missing"
        domain_exists = self.domain.exists()
        if not domain_exists:
            if not create_missing:
                raise UsageError(f"target domain {self.domain.name!r} does not exist in {self.domain.region}; "
                                 f"create it{self._create_hint(dry_run)}")
            if dry_run:
                self.settings.notes.append(f"domain {self.domain.name} does not exist yet; {creator} creates it")
            else:
                self._ensure(self.domain.create, self.domain.exists)
                self.settings.notes.append(f"created domain {self.domain.name}")
        for target in targets:
            if domain_exists and self.domain.repository_exists(target):
                continue
            if not create_missing:
                raise UsageError(f"target repository {target!r} does not exist in domain "
                                 f"{self.domain.name!r}; create it{self._create_hint(dry_run)}")
            if dry_run:
                self.missing_targets.add(target)
                self.settings.notes.append(f"repository {target} does not exist yet; {creator} creates it")
            else:
                self._ensure(lambda: self.domain.create_repository(target),
                             lambda: self.domain.repository_exists(target))
                self.settings.notes.append(f"created repository {target}")

    def _contexts_by_format(self, m: RepositoryMapping) -> list[MappingContext]:
        """One context per format a CodeArtifact source repository holds; a format no migrator handles is
        left out and the run's notes say so (as replicate counts it). Raises :class:`UsageError` for a
        mapping key one of the formats never reads."""
        contexts = []
        for fmt in sorted(self.source.formats(m.source)):
            if fmt not in MIGRATORS:
                self.settings.notes.append(f"{m.source}: its {fmt} packages are left out (this ferry migrates "
                                           f"{', '.join(sorted(MIGRATORS))})")
                continue
            _check_keys_apply(m, fmt)
            contexts.append(MappingContext(m, fmt, MIGRATORS[fmt]))
        return contexts

    @staticmethod
    def _create_hint(dry_run: bool) -> str:
        # Only migrate creates; audit --create-missing plans against an empty target (verify has no such flag).
        return (", or run ferry migrate with --create-missing (ferry audit --create-missing plans against an "
                "empty target first)") if dry_run else " or pass --create-missing"

    def _ensure(self, create: Callable[[], object], exists: Callable[[], bool]) -> None:
        """Create something under the retry policy; a create whose answer was lost shows up as existing."""

        def attempt() -> None:
            try:
                create()
            except (ItemError, RetryableError):
                if not exists():
                    raise

        self.request_retry(attempt)

    # -- planning -----------------------------------------------------------------------------------

    def plan(self, writer: LedgerWriter, verifying: bool = False,
             planned: Callable[[MappingContext], None] | None = None) -> None:
        """List both sides of every mapping and write the verdict for each item into the ledger.

        ``verifying`` (``ferry verify``): an asset the target holds unchanged in an Archived version
        is a conflict, not ``same``: its bytes are there but can no longer be downloaded. ``migrate``
        leaves such versions as they are and calls them ``same`` (with the status in the reason):
        archiving old versions in the target is the target owner's choice. From a CodeArtifact source,
        whose versions have statuses, the target's status is to be the source's instead: verifying, a
        version whose status differs is a conflict, and ``migrate`` sets it after the transfer
        (:mod:`ferry.statuses`). Also when verifying, an
        asset the target holds in a version the source has too, but which the source's version lacks,
        is a conflict where the format's migrator says it differs (``extra_differs``); ``migrate`` and
        ``audit`` list it as only in the target (ferry never deletes).

        ``planned(ctx)`` is called once every verdict of a mapping is queued (``migrate``: its npm tags
        pass starts there).
        """
        memory = self._target_memory(writer)
        shard = self.settings.shard
        # With "since" the source lists only newer files, so a version's older files would look extra.
        strict = verifying and self.job.options.since is None
        if verifying and not strict:
            self.settings.notes.append("[options] since leaves the source's older files out of the listing, so "
                                       "files the target holds beyond a source version are listed as extra, not "
                                       "as differences")

        def listing(ctx: MappingContext) -> Iterator[SourceItem]:
            # The source listing runs ahead in a thread while the plan indexes the target (bounded).
            return inventory.prefetched(inventory.want(self.source, ctx.mapping, ctx.migrator, self.job.options,
                                                       shard, retry=self.request_retry, spool=self.settings.spool))

        upcoming = listing(self.mappings[0]) if self.mappings else None
        try:
            for index, ctx in enumerate(self.mappings):
                m = ctx.mapping
                want, upcoming = upcoming, None
                # The next mapping's source listing starts now too, so it is under way while this one plans.
                if index + 1 < len(self.mappings):
                    upcoming = listing(self.mappings[index + 1])
                have = [] if m.target in self.missing_targets else inventory.have(
                    self.domain, m.target, ctx.format, shard, memory, recall=self.settings.recall_target,
                    concurrency=self.job.options.workers,
                    on_package=lambda pkg, t=m.target: self._note_origin(t, pkg), on_abandon=self.stop)
                try:
                    # screened() passes each key once, so the plan need not check (nor remember) keys again.
                    extra = getattr(ctx.migrator, "extra_differs", None) if strict else None
                    listed = 0
                    entries = plan(screened(want, writer, m.target), have, check_unique=False, extra=extra)
                    if _filtered(m, self.job):
                        entries = _in_scope(entries, m, self.job.options)
                    for entry in entries:
                        listed += entry.source is not None
                        writer.planned(_unusable(entry) if verifying else entry, m.source, m.target)
                    if not _filtered(m, self.job) and self.job.options.since is None and shard is None:
                        # The whole listing is planned: an unmappable row of an earlier run it did not give again
                        # is a file since named otherwise (a gemspec read that failed, then worked) or gone. (A
                        # shard plans only its packages: the rows of another's, in a ledger they share, stay.)
                        writer.drop_unlisted_unmappable(m.source, m.target, ctx.format)
                    self._note_left_out(ctx)
                    if not listed and shard is None:
                        # Nothing in the table says so otherwise: a mapping to the wrong (empty, or group)
                        # repository would pass as a run with nothing left to do.
                        self.settings.notes.append(_nothing_listed(self.job, ctx))
                    if m.target not in self.missing_targets and len(self._origin_blocking) <= _MAX_BLOCKING_NOTED:
                        self._origin_listed.add((m.target, ctx.format))
                    if planned is not None:
                        planned(ctx)
                except ListedTwice as err:
                    raise UsageError(f"repository {m.source!r}: {err}; map them to different targets or exclude "
                                     "one") from None
                finally:
                    want.close()  # stops the read-ahead if the plan ended early
        finally:
            if upcoming is not None:  # the plan stopped early: the next listing stops too
                upcoming.close()
        memory.close()  # its read connection; recording goes on through the writer
        writer.flush()

    def _note_left_out(self, ctx: MappingContext) -> None:
        """Say how many versions of the mapping's format the source listed with nothing to read (a CodeArtifact
        source's Disposed and Unfinished versions, and those removed while it was listed): nothing in the
        ledger stands for them."""
        left_out = getattr(self.source, "left_out", None)
        if not left_out:
            return
        m = ctx.mapping
        for status, why in (("Disposed", "Disposed in the source (their files are gone there; not copied)"),
                            ("Unfinished", "Unfinished in the source (not completely published there yet; a later "
                                           "run copies them once they are Published)"),
                            ("gone", "removed from the source while it was listed (not copied)")):
            count = left_out.pop((m.source, ctx.format, status), 0)
            if count:
                self.settings.notes.append(f"{m.source}: {count} {ctx.format} version(s) {why}")

    # -- transferring -------------------------------------------------------------------------------

    def transfer(self, writer: LedgerWriter, reader: LedgerReader) -> None:
        """Copy every item the ledger holds as planned for this job's mappings, version by version.

        Raises :class:`FatalError` (after stopping the workers) when the run cannot go on, and
        ``KeyboardInterrupt`` once the workers have left their current items.
        """
        copier = VersionCopier(self, self._target_memory(writer))
        self._sweep_spools()
        spool_parent = self.settings.spool or _temporary_spool()
        spool = transfer.Spool(spool_parent)
        by_target = self._contexts()
        workers = self.job.options.workers
        stop = self._stopping
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ferry-worker")
        try:
            running: set[Future] = set()
            for ctx, rows, held in self._version_jobs(reader, by_target, writer.run_id):
                if stop.is_set():
                    break
                running.add(pool.submit(copier.copy, ctx, rows, writer, spool, stop, held))
                if len(running) >= workers * 2:
                    done, running = wait(running, return_when=FIRST_COMPLETED)
                    _raise_first(done, stop)
            done, _ = wait(running)
            _raise_first(done, stop)
        except BaseException:
            # Ctrl-C or a fatal error: queued versions are dropped, running ones stop after their current item.
            stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True)
            # The workers' read connections: left open, SQLite cannot fold the WAL back into the ledger
            # when the writer closes, and a copy of the ledger file alone would miss the whole run.
            if self._memory is not None:
                self._memory.close()
            spool.close()
            if self.settings.spool is None:
                shutil.rmtree(spool_parent, ignore_errors=True)
        writer.flush()

    def _contexts(self) -> dict:
        """{(source, target): {format: context}}: a mixed CodeArtifact repository's mapping has one per format."""
        by_target: dict = {}
        for m in self.mappings:
            by_target.setdefault((m.mapping.source, m.mapping.target), {})[m.format] = m
        return by_target

    def _sweep_spools(self) -> None:
        """Remove what runs that died (killed, out of memory, node preempted) left in the spool, so
        repeated crashes do not fill the disk; the run's notes say how much was freed."""
        removed, freed = transfer.sweep_temporary_spools(scratch.system_folder())
        if self.settings.spool is not None:
            more, size = transfer.sweep_spool(self.settings.spool)
            removed, freed = removed + more, freed + size
        if removed:
            self.settings.notes.append(f"removed {removed} spool folder(s) ({freed / 1e6:.1f} MB) left by earlier "
                                       "runs that stopped without cleaning up")

    def _version_jobs(self, reader: LedgerReader, by_target,
                      run_id: int | None) -> Iterator[tuple[MappingContext, list[ItemRow], bool]]:
        """This run's versions to copy: the rows its plan left to copy, grouped by version, each with
        whether the plan found a conflicting asset in that version in the target.

        Only rows this run planned: rows an earlier run left planned (an ``audit``, an interrupted
        run, other ``--include``/``--exclude`` or shard filters) are not this run's to publish.
        """
        rows = (r for r in reader.items(run_id, ("planned", "downloading", "published", "conflict"))
                if self._context_of(r, by_target) is not None)
        # Rows come sorted by identity, so a version's rows (conflicts among them) arrive together.
        for _vid, group in itertools.groupby(rows, key=lambda r: (r.target_repo, r.format, r.namespace, r.package,
                                                                   r.version)):
            batch, held = [], False
            for r in group:
                if r.state == "conflict":
                    held = True
                elif r.locator:
                    batch.append(r)
            if batch:
                yield self._context_of(batch[0], by_target), batch, held

    def _context_of(self, row: ItemRow, by_target) -> MappingContext | None:
        """The mapping a ledger row belongs to in this run, or None."""
        contexts = by_target.get((row.source_repo, row.target_repo))
        if not contexts:
            return None
        # A mapping of one format takes its rows whatever they say (unchanged); a mixed one picks by format.
        return next(iter(contexts.values())) if len(contexts) == 1 else contexts.get(row.format)

    def _target_memory(self, writer: LedgerWriter) -> TargetMemory:
        if self._memory is None or self._memory.writer is not writer:
            self._memory = TargetMemory(self.settings.ledger, writer)
        return self._memory

    def package_facts_of(self, ctx: MappingContext, key: ItemKey) -> dict:
        """What the migrator wants to know of the whole package from the source (cached per package; read
        once however many workers ask at once).

        Raises what the source raises once the request retries are spent (to the workers that waited for that
        read as well)."""
        cache_key = (ctx.mapping.source, ctx.format, key.namespace, key.package)
        cached = self._facts_cache.get(cache_key)
        if cached is not None:
            return cached
        with self._facts_reading_lock:
            cached = self._facts_cache.get(cache_key)
            if cached is not None:
                return cached
            reading = self._facts_reading.get(cache_key)
            mine = reading is None
            if mine:
                reading = self._facts_reading[cache_key] = Future()
        if not mine:
            return reading.result()  # the other worker's answer: its facts, or what its read raised
        try:
            facts = dict(self.request_retry(lambda: ctx.migrator.package_facts(self.source, ctx.mapping.source,
                                                                               key)))
            self._facts_cache.put(cache_key, facts)
            reading.set_result(facts)
            return facts
        except BaseException as err:
            reading.set_exception(err)  # those waiting fail as this version does; a later ask reads again
            raise
        finally:
            with self._facts_reading_lock:
                del self._facts_reading[cache_key]

    def _note_origin(self, target: str, pkg: dict) -> None:
        """Keep a listed package's origin restrictions if they block publishing (a bounded number)."""
        restrictions = (pkg.get("originConfiguration") or {}).get("restrictions") or {}
        if restrictions.get("publish") == "BLOCK" and len(self._origin_blocking) <= _MAX_BLOCKING_NOTED:
            fmt = pkg.get("format") or ""
            self._origin_blocking[(target, fmt, pkg.get("namespace") or "", pkg["package"])] = restrictions

    def origin_blocks(self, ctx: MappingContext, key: ItemKey) -> str | None:
        """Why the target package's origin controls stop a publish, or None. With ``--origin-policy
        allow-publish`` it sets publish=ALLOW, upstream=BLOCK first (and says so in the run's notes)."""
        target = ctx.mapping.target
        # Once a package is known to take publishes, its other versions need not ask again this run.
        package = (target, ctx.format, key.namespace, key.package)
        if self._origin_ok.get(package):
            return None
        if (target, ctx.format) in self._origin_listed:
            # Absent from the plan's walk: created since, if at all; a block then shows as a refused publish.
            restrictions = self._origin_blocking.get(package)
        else:
            restrictions = self.domain.origin(target, ctx.format, key.namespace, key.package)
        if not restrictions or restrictions.get("publish") != "BLOCK":
            self._origin_ok.put(package, True)
            return None
        label = f"{key.display_name} in {target}"
        if self.job.options.origin_policy == "allow-publish":
            with self._origin_lock:  # one worker lifts it; the package's other versions then find it lifted
                if self._origin_ok.get(package):
                    return None
                self.request_retry(lambda: self.domain.allow_publish(target, ctx.format, key.namespace,
                                                                      key.package))
                self._origin_blocking.pop(package, None)
                self._origin_ok.put(package, True)
            self.settings.notes.append(f"origin controls of {label} set to publish=ALLOW, upstream=BLOCK "
                                       f"(were publish=BLOCK, upstream={restrictions.get('upstream')})")
            return None
        return (f"{label}: origin controls block publishing (publish=BLOCK); rerun with "
                "--origin-policy allow-publish to set publish=ALLOW, upstream=BLOCK")

# Past this many publish-blocked packages noted from listings, transfers ask DescribePackage again
# (memory stays bounded on a target that mirrors a large upstream).
_MAX_BLOCKING_NOTED = 100_000


class _Recent:
    """A thread-safe mapping that keeps only its ``size`` most recently used entries."""

    def __init__(self, size: int):
        self.size = size
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key, value) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)


def _temporary_spool() -> Path:
    try:
        return Path(tempfile.mkdtemp(prefix=transfer.TEMP_SPOOL_PREFIX))
    except OSError as err:
        raise FatalError(f"cannot make a spool folder in {tempfile.gettempdir()} ({err.strerror}); "
                         "give a writable --spool") from None


def _unusable(entry: PlanEntry) -> PlanEntry:
    """For ``verify``: an unchanged asset in a version whose status differs from a CodeArtifact source's is a
    conflict (:func:`ferry.statuses.status_difference`); from other sources, one in an Archived target version
    is (it cannot be downloaded)."""
    if entry.action is not Action.SAME:
        return entry
    different = statuses.status_difference(entry)
    if different:
        return replace(entry, action=Action.CONFLICT, reason=different)
    if entry.target is not None and entry.target.status == VersionStatus.ARCHIVED.value \
            and (entry.source is None or entry.source.status is None):
        return replace(entry, action=Action.CONFLICT, reason="version is Archived in the target, so its assets "
                       "cannot be downloaded; set it back to Published there if it should be usable")
    return entry


def _filtered(m: RepositoryMapping, job: Job) -> bool:
    """Whether include/exclude globs (the mapping's or the job's) narrow what ``m`` moves."""
    return bool(m.include or m.exclude or job.options.include or job.options.exclude)


def _in_scope(entries: Iterator[PlanEntry], mapping: RepositoryMapping, options: Options) -> Iterator[PlanEntry]:
    """``entries`` without the target's own keys (only in the target) that the include/exclude globs leave out:
    the target's other packages are not this run's business, and would otherwise all be listed as only in the
    target. Source entries all pass (the listing applied the globs, to the source's spelling too), and so do
    target-only keys of a package the source selected: the target knows a PyPI project only by its normalized
    name, which a glob in the source's spelling (``Acme.Core``) does not match. The filter is applied after the
    plan, not to the target's listing, so each source item still finds its copy in the target."""
    # The source's spelling of each package the globs select by it alone (not every selected package: that would
    # grow with the job), so a target-only version is judged by it as well (``ACME*`` but not ``ACME@2.*``).
    spellings: dict[tuple[str, str, str], str] = {}
    for entry in entries:
        package = entry.key.version_id[:3]
        if entry.source is not None:
            spelled = entry.source.extras.get("source_name") if entry.source.extras else None
            if spelled and not mapping.selects(entry.key, options):
                spellings[package] = spelled
            yield entry
        elif mapping.selects(entry.key, options, spellings.get(package)):
            yield entry


def _nothing_listed(job: Job, ctx: MappingContext) -> str:
    """The note for a mapping whose source listed no file of its format (after the filters, if any)."""
    m = ctx.mapping
    since = job.options.since
    scope = " that include/exclude select" if _filtered(m, job) else ""
    if since is not None:
        day = since.date().isoformat() if since.time() == clock_time(0) else since.isoformat()
        # Nothing new since a date (the cut-over's last run, the source frozen) is what is expected.
        return f"{m.source} -> {m.target}: the source lists no {ctx.format} files{scope}{',' if scope else ''} " \
               f"published since {day}"
    return (f"{m.source} -> {m.target}: the source lists no {ctx.format} files{scope}; if it should, check the "
            "mapping's source repository")


def _check_keys_apply(m: RepositoryMapping, fmt: str) -> None:
    """Raise :class:`UsageError` for a mapping key its format never reads: left in place, it would be
    ignored in silence (an npm mapping's ``namespace`` names no npm scope)."""
    unused = (("namespace", m.namespace != m.source, "generic"), ("layout", m.layout != DEFAULT_LAYOUT, "generic"),
              ("snapshots", m.snapshots is not None, "maven"))
    for key, given, reader in unused:
        if given and fmt != reader:
            raise UsageError(f"source repository {m.source!r} is {fmt}, but its mapping sets {key}, which only "
                             f"{reader} mappings read; remove it from that [[repositories]] entry")


def _raise_first(done: set[Future], stop: threading.Event) -> None:
    for fut in done:
        err = fut.exception()
        if err is not None:
            stop.set()
            raise err
