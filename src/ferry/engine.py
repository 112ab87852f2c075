"""The migration engine: plan every mapping into the ledger, then move what the plan says to copy.

Deciding is separate from doing. :meth:`Engine.plan` lists both sides of each mapping and writes
one ledger row per item. :meth:`Engine.transfer` streams the rows still to copy out of the ledger,
groups them by package version, and hands each version to a worker, which re-checks the target,
downloads to the spool while hashing, publishes through the format's migrator and confirms the
target's SHA-256. Only the ledger thread writes the ledger; workers send it events.
"""

from __future__ import annotations

import itertools
import json
import shutil
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import requests

from ferry import inventory, transfer
from ferry.codeartifact import Domain
from ferry.config import Job, RepositoryMapping
from ferry.errors import FatalError, ItemError, UsageError
from ferry.http import check_url, make_session
from ferry.migrators import MIGRATORS
from ferry.migrators.base import Migrator, PublishContext
from ferry.model import ItemKey, SourceItem
from ferry.plan import plan
from ferry.ratelimit import RateLimiter
from ferry.retry import ITEM, REQUEST, retrying
from ferry.shard import Shard
from ferry.sources.base import Source
from ferry.state.ledger import LedgerWriter
from ferry.state.reader import ItemRow, LedgerReader


@dataclass
class Settings:
    """How a run behaves, beyond the job file."""

    ledger: Path = Path("ferry.db")
    spool: Path | None = None
    allow_http: bool = False
    ca_bundle: str | None = None
    progress: Callable[[int], None] | None = None  # called with the number of items finished
    sleep: Callable[[float], None] | None = None  # injectable for tests
    notes: list[str] = field(default_factory=list)  # things the run wants to tell the user
    shard: Shard | None = None  # --shard i/N: only the packages this shard owns, at 1/N of the rate limits


@dataclass
class MappingContext:
    mapping: RepositoryMapping
    format: str
    migrator: Migrator


def open_source(job: Job, settings: Settings, session: requests.Session, retry) -> Source:
    """The source the job names. Raises UsageError for kinds this ferry cannot read yet."""
    cfg = job.source
    if cfg.kind == "nexus":
        from ferry.sources.nexus import NexusSource

        url = check_url(cfg.url or "", "[source] url", settings.allow_http)
        password = cfg.password.reveal() if cfg.password else None
        return NexusSource(url, session, cfg.username, password, retry=retry)
    if cfg.kind == "artifactory":
        from ferry.sources.artifactory import open_artifactory_source

        return open_artifactory_source(cfg, settings, session, retry)
    if cfg.kind == "codeartifact":
        from ferry.sources.codeartifact import open_codeartifact_source

        return open_codeartifact_source(cfg, session, retry)
    raise UsageError(f"[source] kind {cfg.kind!r} is not supported by this ferry yet; use \"nexus\"")


class Engine:
    """One job's run. Create, then call :meth:`prepare`, :meth:`plan`, :meth:`transfer`."""

    def __init__(self, job: Job, settings: Settings):
        self.job = job
        self.settings = settings
        kwargs = {"sleep": settings.sleep} if settings.sleep else {}
        self._request_retry = retrying(REQUEST, **kwargs)
        self._item_retry_kwargs = kwargs
        workers = job.options.workers
        self.session = make_session(pool_size=workers * 2, ca_bundle=settings.ca_bundle)
        self.source = open_source(job, settings, self.session, self._request_retry)
        t = job.target
        self.limiter = RateLimiter(dict(job.options.rates), share=settings.shard.count if settings.shard else 1)
        self.domain = Domain(t.domain, t.domain_owner, t.region, t.profile, endpoint_url=t.endpoint_url,
                             max_pool=workers * 2, retry=self._request_retry, role_arn=t.role_arn,
                             limiter=self.limiter)
        self.mappings: list[MappingContext] = []
        self.missing_targets: set[str] = set()  # planned as empty (dry runs only)
        self._facts_cache: dict[tuple[str, str, str, str], dict] = {}
        self._facts_lock = threading.Lock()

    # -- preparing ----------------------------------------------------------------------------------

    def prepare(self, create_missing: bool, dry_run: bool = False) -> None:
        """Check (or create) the target domain and repositories and resolve each mapping's format.

        Raises :class:`UsageError` for a missing domain/repository without ``create_missing``, an
        unknown source repository, or a format no migrator handles; nothing has moved by then.
        With ``dry_run`` nothing is created: missing targets are planned as empty and noted.
        """
        for m in self.job.repositories:
            repo = self.source.repository(m.source)
            fmt = m.format or repo.format
            if fmt is None:
                raise UsageError(f"source repository {m.source!r} has format {repo.native_format!r}, which ferry "
                                 "cannot migrate")
            if fmt not in MIGRATORS:
                supported = ", ".join(sorted(MIGRATORS))
                raise UsageError(f"source repository {m.source!r} is {fmt}; this ferry migrates {supported}")
            self.mappings.append(MappingContext(m, fmt, MIGRATORS[fmt]))
        targets = sorted({m.mapping.target for m in self.mappings})
        domain_exists = self.domain.exists()
        if not domain_exists:
            if not create_missing:
                raise UsageError(f"target domain {self.domain.name!r} does not exist in {self.domain.region}; "
                                 "create it or pass --create-missing")
            if dry_run:
                self.settings.notes.append(f"domain {self.domain.name} does not exist yet; migrate creates it")
            else:
                self.domain.create()
                self.settings.notes.append(f"created domain {self.domain.name}")
        for target in targets:
            if domain_exists and self.domain.repository_exists(target):
                continue
            if not create_missing:
                raise UsageError(f"target repository {target!r} does not exist in domain "
                                 f"{self.domain.name!r}; create it or pass --create-missing")
            if dry_run:
                self.missing_targets.add(target)
                self.settings.notes.append(f"repository {target} does not exist yet; migrate creates it")
            else:
                self.domain.create_repository(target)
                self.settings.notes.append(f"created repository {target}")

    # -- planning -----------------------------------------------------------------------------------

    def plan(self, writer: LedgerWriter) -> None:
        """List both sides of every mapping and write the verdict for each item into the ledger."""
        for ctx in self.mappings:
            m = ctx.mapping
            shard = self.settings.shard
            want = inventory.want(self.source, m, ctx.migrator, self.job.options, shard)
            have = [] if m.target in self.missing_targets else inventory.have(self.domain, m.target, ctx.format,
                                                                               shard)
            try:
                for entry in plan(want, have):
                    writer.planned(entry, m.source, m.target)
            except ValueError as err:
                raise UsageError(f"repository {m.source!r}: {err}; map them to different targets or exclude one") \
                    from None
        writer.flush()

    # -- transferring -------------------------------------------------------------------------------

    def transfer(self, writer: LedgerWriter, reader: LedgerReader) -> None:
        """Copy every item the ledger holds as planned for this job's mappings, version by version.

        Raises :class:`FatalError` (after stopping the workers) when the run cannot go on.
        """
        spool_parent = self.settings.spool or Path(tempfile.mkdtemp(prefix="ferry-spool-"))
        by_target = {(m.mapping.source, m.mapping.target): m for m in self.mappings}
        workers = self.job.options.workers
        stop = threading.Event()
        try:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ferry-worker") as pool:
                running: set[Future] = set()
                for ctx, rows in self._version_jobs(reader, by_target):
                    if stop.is_set():
                        break
                    running.add(pool.submit(self._move_version, ctx, rows, writer, spool_parent, stop))
                    if len(running) >= workers * 2:
                        done, running = wait(running, return_when=FIRST_COMPLETED)
                        _raise_first(done, stop)
                done, _ = wait(running)
                _raise_first(done, stop)
        finally:
            if self.settings.spool is None:
                shutil.rmtree(spool_parent, ignore_errors=True)
        writer.flush()

    def _version_jobs(self, reader: LedgerReader, by_target) -> Iterator[tuple[MappingContext, list[ItemRow]]]:
        rows = (r for r in reader.items(None, ("planned", "downloading", "published"))
                if (r.source_repo, r.target_repo) in by_target and r.locator)
        for _vid, group in itertools.groupby(rows, key=lambda r: (r.target_repo, r.format, r.namespace, r.package,
                                                                   r.version)):
            batch = list(group)
            yield by_target[(batch[0].source_repo, batch[0].target_repo)], batch

    def _package_facts(self, ctx: MappingContext, key: ItemKey) -> dict:
        """What the migrator wants to know of the whole package from the source (cached per package)."""
        cache_key = (ctx.mapping.source, ctx.format, key.namespace, key.package)
        with self._facts_lock:
            if cache_key in self._facts_cache:
                return self._facts_cache[cache_key]
        facts = dict(self._request_retry(lambda: ctx.migrator.package_facts(self.source, ctx.mapping.source, key)))
        with self._facts_lock:
            self._facts_cache[cache_key] = facts
        return facts

    def _origin_blocks(self, ctx: MappingContext, key: ItemKey) -> str | None:
        """Why the target package's origin controls stop a publish, or None. With ``--origin-policy
        allow-publish`` it sets publish=ALLOW, upstream=BLOCK first (and says so in the run's notes)."""
        target = ctx.mapping.target
        restrictions = self.domain.origin(target, ctx.format, key.namespace, key.package)
        if not restrictions or restrictions.get("publish") != "BLOCK":
            return None
        label = f"{key.display_name} in {target}"
        if self.job.options.origin_policy == "allow-publish":
            self._request_retry(lambda: self.domain.allow_publish(target, ctx.format, key.namespace, key.package))
            self.settings.notes.append(f"origin controls of {label} set to publish=ALLOW, upstream=BLOCK "
                                       f"(were publish=BLOCK, upstream={restrictions.get('upstream')})")
            return None
        return (f"{label}: origin controls block publishing (publish=BLOCK); rerun with "
                "--origin-policy allow-publish to set publish=ALLOW, upstream=BLOCK")

    def _move_version(self, ctx: MappingContext, rows: list[ItemRow], writer: LedgerWriter, spool_parent: Path,
                      stop: threading.Event) -> None:
        m = ctx.mapping
        items = [_item_of(row) for row in rows]
        publish = PublishContext(self.domain, m.target, self.session, self._package_facts(ctx, items[0].key))
        blocked = self._origin_blocks(ctx, items[0].key)
        if blocked:
            for item in items:
                writer.transition(m.target, item.key, "failed", reason=blocked)
                if self.settings.progress:
                    self.settings.progress(1)
            return
        done: list[SourceItem] = []
        failed = False
        for index, item in enumerate(items):
            if stop.is_set():
                return
            last = index == len(items) - 1 and not failed
            try:
                for attempt in retrying(ITEM, **self._item_retry_kwargs):
                    with attempt:
                        outcome = self._move_item(ctx, publish, item, last, writer, spool_parent)
                done.append(item)
                if outcome == "conflict":
                    failed = True
            except ItemError as err:
                failed = True
                writer.transition(m.target, item.key, "failed", reason=str(err), attempt=True)
            except FatalError:
                raise
            except Exception as err:  # noqa: BLE001 - retries exhausted on a transient error
                failed = True
                writer.transition(m.target, item.key, "failed", reason=f"gave up after retries: {err}",
                                  attempt=True)
            if self.settings.progress:
                self.settings.progress(1)
        if done and not failed:
            try:
                self._request_retry(lambda: ctx.migrator.finish_version(publish, done))
            except ItemError as err:
                writer.transition(m.target, done[-1].key, "failed", reason=f"finishing the version: {err}")

    def _move_item(self, ctx: MappingContext, publish: PublishContext, item: SourceItem, last: bool,
                   writer: LedgerWriter, spool_parent: Path) -> str:
        """One attempt at one asset. Returns the final ledger state it wrote."""
        key, target = item.key, ctx.mapping.target
        before = self.domain.asset_state(target, key.format, key.namespace, key.package, key.version, key.asset)
        if before is not None and before.status != "Deleted" and item.sha256:
            state = "same" if before.sha256 == item.sha256 else "conflict"
            reason = "" if state == "same" else \
                f"target holds sha256 {before.sha256}, source has {item.sha256}; left untouched"
            writer.transition(target, key, state, target_sha256=before.sha256, reason=reason or None)
            return state
        folder = transfer.spool_dir(spool_parent)
        try:
            writer.transition(target, key, "downloading", attempt=True)
            spooled = transfer.download(lambda: self._request_retry(lambda: self.source.open_locator(item.locator,
                                                                                             str(key))),
                                        item, folder)
            sha = spooled.checksums.sha256
            if before is not None and before.status != "Deleted":
                state = "same" if before.sha256 == sha else "conflict"
                reason = None if state == "same" else \
                    f"target holds sha256 {before.sha256}, source has {sha}; left untouched"
                writer.transition(target, key, state, source_sha256=sha, target_sha256=before.sha256, reason=reason)
                return state
            ctx.migrator.publish(publish, item, spooled, last)
            writer.transition(target, key, "published", source_sha256=sha)
            transfer.confirm(
                lambda: _sha(self.domain.asset_state(target, key.format, key.namespace, key.package, key.version,
                                                     key.asset)),
                sha, str(key), sleep=self.settings.sleep or __import__("time").sleep,
            )
            writer.transition(target, key, "confirmed", source_sha256=sha, target_sha256=sha)
            return "confirmed"
        finally:
            transfer.remove(folder)


def _sha(state) -> str | None:
    return state.sha256 if state is not None else None


def _item_of(row: ItemRow) -> SourceItem:
    checksums = json.loads(row.source_checksums) if row.source_checksums else {}
    return SourceItem(key=row.key, size=row.size, checksums=checksums, locator=row.locator or "",
                      repository=row.source_repo)


def _raise_first(done: set[Future], stop: threading.Event) -> None:
    for fut in done:
        err = fut.exception()
        if err is not None:
            stop.set()
            raise err
