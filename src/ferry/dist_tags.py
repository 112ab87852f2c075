"""npm dist-tags follow the source on every ``migrate``, not only for the versions a run publishes.

A version's publish carries the tags pointing at it, and finishing the version sets them in the target.
A tag the source moves later to a version migrated before (``latest`` back to 1.0.1 after a bad 2.0.0,
``beta`` promoted) touches no file, so the plan finds nothing to copy; without this pass the target
would keep the old tag, and ``npm install`` would resolve another version there than in the source.

For each npm package the run planned, the source's tags that point at versions the target holds
(``same`` or ``confirmed`` in this run) are compared with the tags ferry last set for the package,
kept in the ledger (``replica_packages``, as replicate keeps them): for a package the plan sent
nothing of to the transfer, as soon as its mapping is planned (in the background, while the next
mappings are planned); for the others, after the transfer (:class:`Follower`). Only a package whose tags
changed is touched: one GET of its tags in the target, a PUT per tag that differs. Tags are set, never
removed: the target may hold tags of its own. Cost per run: one source request per npm package (its
packument, which the transfer has often read already); nothing on the target while nothing changed.

Deprecation messages (``npm deprecate``) follow the same way, for versions published in the run and
held from before alike: a package the source deprecates any of them in is compared with the target's
packument (one GET per run, not remembered) and the messages that differ are set with one PUT, as ``npm
deprecate`` does; a package deprecated in all its thousands of versions costs that too, not a packument
rewrite per version. The target's own deprecations stay. A run stopped between a version's publish and
this pass leaves the version not yet deprecated; the next run's pass finds it held and deprecates it.
A version the target holds Unlisted or Archived (its owner's choice, which ``migrate`` leaves alone) is in
no packument there, so its deprecation can be neither read nor set: it is left out, and the run's notes
count such versions per mapping (as a CodeArtifact source's own Unlisted versions cannot be read).

``verify`` compares instead (:func:`check_source_tags`): one source and one target read per npm package
with tags or deprecations, and a tag that points elsewhere in the target, or a source deprecation the
target lacks, makes that version differ.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from ferry.errors import FatalError
from ferry.migrators.base import PublishContext
from ferry.migrators.npm import package_id, sync_deprecations, sync_dist_tags, target_deprecations, \
    target_dist_tags
from ferry.model import Action, ItemKey
from ferry.redact import redact
from ferry.retry import failure_reason
from ferry.state.ledger import DONE, LedgerWriter, now
from ferry.state.reader import ItemRow, LedgerReader
from ferry.transfer import Interrupted

if TYPE_CHECKING:
    from ferry.engine import Engine, MappingContext

Package = tuple[str, str]  # (namespace, package)


class Follower:
    """The follow pass of one ``migrate`` run, in two parts, so that most of it overlaps the plan.

    A package none of whose items the plan sent to the transfer is final as soon as its mapping is
    planned: :meth:`mapping_planned` follows those packages' tags at once, on a thread of its own, while
    the next mappings are planned (a rerun that finds nothing to copy hides the whole pass there).
    :meth:`finish` waits for that, then follows the packages the transfer touched. Call :meth:`close`
    in every case, or use it as a context manager (it stops a pass still running, e.g. after Ctrl-C).

    A package whose tags cannot be set fails the item its tag points at (the reason says which tag and
    why), so the run's exit code shows it and the next run tries again.
    """

    def __init__(self, engine: "Engine", writer: LedgerWriter):
        self._engine, self._writer = engine, writer
        self._early: list[Future] = []
        self._stop = threading.Event()
        # {mapping: deprecated versions the target does not list}, from the early pass's thread and the later
        # pass's workers (list.append is atomic); noted once per mapping by finish().
        self._hidden: dict[tuple[str, str], list[str]] = {}
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferry-tags-early")

    def mapping_planned(self, ctx: "MappingContext") -> None:
        """Called once every verdict of ``ctx``'s plan is queued: follows its untouched packages, in the
        background. Raises what an earlier mapping's pass raised (FatalError), so the plan stops there."""
        self._raise_failed()
        if ctx.format != "npm":
            return
        self._writer.flush()  # the pass reads the mapping's verdicts back from the ledger
        future = self._thread.submit(self._follow_untouched, ctx)
        # A pass that fails (a fatal error) stops the run at once: the transfer must not go on for hours first.
        future.add_done_callback(lambda f: self._engine.stop() if not f.cancelled() and f.exception() else None)
        self._early.append(future)

    def _raise_failed(self) -> None:
        for future in self._early:
            if future.done() and not future.cancelled() and future.exception() is not None:
                raise future.exception()

    def _hidden_of(self, ctx: "MappingContext") -> list[str]:
        return self._hidden.setdefault((ctx.mapping.source, ctx.mapping.target), [])

    def _follow_untouched(self, ctx: "MappingContext") -> None:
        with LedgerReader(self._writer.path) as reader:
            _follow_mapping(self._engine, ctx, self._writer, reader, copied=False, stop=self._stop,
                            hidden=self._hidden_of(ctx))

    def finish(self, reader: LedgerReader) -> None:
        """After the transfer: wait for the passes under way, then follow the packages the transfer touched.
        Raises what a pass raised: :class:`~ferry.errors.FatalError` (or any error it did not expect)."""
        early, self._early = self._early, []
        for future in early:
            future.result()
        for ctx in self._engine.mappings:
            if ctx.format == "npm":
                _follow_mapping(self._engine, ctx, self._writer, reader, copied=True, stop=self._stop,
                                hidden=self._hidden_of(ctx))
        for (source, target), hidden in self._hidden.items():
            _note_hidden(self._engine, source, target, hidden)

    def close(self) -> None:
        """Stop a pass still running (packages not started are left to the next run) and wait for it."""
        self._stop.set()
        self._thread.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> "Follower":
        return self

    def __exit__(self, exc_type, *_) -> None:
        if exc_type is not None:  # Ctrl-C or a fatal error: the pass's retry waits end at once too
            self._engine.stop()
        self.close()


def check_source_tags(engine: "Engine", writer: LedgerWriter, reader: LedgerReader) -> None:
    """For ``verify``: a tag that points elsewhere in the target than in the source makes the item the
    source's tag points at a conflict, with both versions in the reason; so does a version the source
    deprecates and the target does not, or with another message. Nothing is changed."""
    for ctx in engine.mappings:
        if ctx.format != "npm":
            continue
        publish = PublishContext(engine.domain, ctx.mapping.target, engine.session, {})

        hidden: list[str] = []

        def check(package: Package, versions: dict[str, ItemRow], _prior, ctx=ctx, publish=publish,
                  hidden=hidden) -> list:
            pid = package_id(*package)
            try:
                want = _wanted(engine, ctx, versions)
                have = engine.request_retry(lambda: target_dist_tags(publish, pid)) if want else {}
                deprecated = _deprecated(engine, ctx, versions, hidden)
                held = engine.request_retry(lambda: target_deprecations(publish, pid)) if deprecated else {}
            except (FatalError, Interrupted):  # the run is failing or stopping: not this package's fault
                raise
            except Exception as err:  # noqa: BLE001 - this package only
                return [(_blamed(versions), "failed", redact(f"comparing the dist-tags and deprecations of {pid}: "
                                                             f"{err}"))]
            return [(versions[version].key, "conflict", f"dist-tag {tag}: the source points it at {version}, the "
                     f"target at {have.get(tag) or 'no version'}")
                    for tag, version in sorted(want.items()) if have.get(tag) != version] + [
                (versions[version].key, "conflict", f"the source deprecates {version} ({message!r}), the target "
                 + (f"with another message ({held[version]!r})" if version in held else "does not"))
                for version, message in sorted(deprecated.items()) if held.get(version) != message]

        _each_package(engine, ctx, writer, check, remembered=None,
                      packages=_packages(reader, writer.run_id, ctx))
        _note_hidden(engine, ctx.mapping.source, ctx.mapping.target, hidden)


def _wanted(engine: "Engine", ctx: "MappingContext", versions: dict[str, ItemRow]) -> dict[str, str]:
    """The source's tags of a package that point at versions the target holds."""
    tags = engine.package_facts_of(ctx, next(iter(versions.values())).key).get("dist_tags", {})
    return {tag: version for tag, version in tags.items() if version in versions}


# Statuses of versions npm does not list (CodeArtifact leaves them out of the packument): a deprecation of one
# can be neither read nor set through the packument, the only way npm and ferry have to it.
_NOT_LISTED = ("Unlisted", "Archived")


def _deprecated(engine: "Engine", ctx: "MappingContext", versions: dict[str, ItemRow],
                hidden: list[str]) -> dict[str, str]:
    """The source's deprecation messages of a package's versions the target holds and lists; each deprecated
    version the target holds Unlisted or Archived is added to ``hidden`` (as ``name@version``) instead.
    Raises what reading the source's package facts raises."""
    messages = engine.package_facts_of(ctx, next(iter(versions.values())).key).get("deprecated", {})
    listed = {}
    for version, message in messages.items():
        row = versions.get(version)
        if row is None:
            continue
        if row.target_status in _NOT_LISTED:
            hidden.append(f"{package_id(row.namespace, row.package)}@{version}")
        else:
            listed[version] = message
    return listed


def _note_hidden(engine: "Engine", source: str, target: str, hidden: list[str]) -> None:
    """Tell of the deprecated versions a mapping's target does not list (their deprecation was left out)."""
    if not hidden:
        return
    named = ", ".join(sorted(hidden)[:3]) + (f", {len(hidden) - 3} more" if len(hidden) > 3 else "")
    engine.settings.notes.append(f"{source} -> {target}: {len(hidden)} version(s) the source deprecates are "
                                 "Unlisted or Archived in the target, where npm lists them nowhere: their "
                                 f"deprecation is neither set nor checked there ({named})")


def _each_package(engine: "Engine", ctx: "MappingContext", writer: LedgerWriter, work,
                  remembered: "_Remembered | None", packages: Iterator[tuple[Package, dict]],
                  stop: threading.Event | None = None) -> None:
    """Run ``work(package, versions, remembered tags)`` for each of ``packages`` on the worker pool, a
    bounded window at a time, and write the ``(item key, state, reason)`` transitions it returns.
    Once ``stop`` is set, no package is started (those queued return nothing)."""
    pool = ThreadPoolExecutor(max_workers=engine.job.options.workers, thread_name_prefix="ferry-tags")
    target = ctx.mapping.target
    try:
        window: list = []  # packages in flight: memory does not grow with the repository
        for package, versions in packages:
            if stop is not None and stop.is_set():
                break
            prior = remembered.get(package) if remembered is not None else None
            window.append(pool.submit(_unless_stopped, stop, work, package, versions, prior))
            if len(window) >= 256:
                _record(window, writer, target)
                window = []
        _record(window, writer, target)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: packages not started are left to the next run
        raise
    pool.shutdown(wait=True)


def _unless_stopped(stop: threading.Event | None, work, *args) -> list:
    return [] if stop is not None and stop.is_set() else work(*args)


def _record(futures: list, writer: LedgerWriter, target: str) -> None:
    for future in futures:
        for key, state, reason in future.result():
            writer.transition(target, key, state, reason=reason)


def _packages(reader: LedgerReader, run_id: int | None, ctx: "MappingContext",
              copied: bool | None = None) -> Iterator[tuple[Package, dict]]:
    """Each npm package of the mapping with the versions the target holds, as ``{version: ItemRow}``.

    ``copied``: True, only packages the plan sent some item of to the transfer; False, only the others;
    None, all.
    """
    m = ctx.mapping
    current: Package | None = None
    versions: dict[str, ItemRow] = {}
    sent = False  # whether the plan sent an item of the current package to the transfer

    def wanted() -> bool:
        return bool(versions) and (copied is None or sent == copied)

    for row in reader.items(run_id, DONE if copied is None else None, m.target):
        if row.format != "npm" or row.source_repo != m.source:
            continue
        package = (row.namespace, row.package)
        if package != current:  # rows come sorted by identity: a package's rows are together
            if current is not None and wanted():
                yield current, versions
            current, versions, sent = package, {}, False
        sent = sent or row.action == Action.COPY
        if row.state in DONE:
            versions[row.version] = row
    if current is not None and wanted():
        yield current, versions


def _follow_mapping(engine: "Engine", ctx: "MappingContext", writer: LedgerWriter, reader: LedgerReader,
                    copied: bool, stop: threading.Event, hidden: list[str] | None = None) -> None:
    """Follow the source's deprecations and tags in the target for the mapping's npm packages (``copied``: those
    the transfer touched, or the others); deprecated versions the target does not list go into ``hidden``."""
    m = ctx.mapping
    hidden = [] if hidden is None else hidden
    publish = PublishContext(engine.domain, m.target, engine.session, {})
    changed: list[tuple[str, str, str, str, str, str]] = []

    def follow(package: Package, versions: dict[str, ItemRow], prior: dict[str, str]) -> list:
        pid = package_id(*package)
        deprecated: dict[str, str] = {}
        try:
            # Versions published (confirmed) in this run and those held from before alike, in one packument
            # read and write (not remembered: one read per run, only for a package the source deprecates
            # versions of).
            deprecated = _deprecated(engine, ctx, versions, hidden)
            if deprecated:
                engine.request_retry(lambda: sync_deprecations(publish, pid, deprecated))
        except (FatalError, Interrupted):  # the run is failing or stopping: not this package's fault
            raise
        except Exception as err:  # noqa: BLE001 - this package only; the next run tries it again
            blamed = versions[min(deprecated)].key if deprecated else _blamed(versions)
            failed = [(blamed, "failed", redact(f"npm deprecations not in step: {failure_reason(err)}"))]
        else:
            failed = []
        try:
            want = _wanted(engine, ctx, versions)
            if want == prior:
                return failed
            # Tags that point only at versions published (confirmed) in this run were set as each version
            # was finished: nothing to ask the target, only to remember.
            if any(versions[version].state != "confirmed" for version in want.values()):
                engine.request_retry(lambda: sync_dist_tags(publish, pid, want, remove=False))
        except (FatalError, Interrupted):  # the run is failing or stopping: not this package's fault
            raise
        except Exception as err:  # noqa: BLE001 - this package only; the next run tries it again
            return [*failed, (_blamed(versions), "failed",
                              redact(f"npm dist-tags not in step: {failure_reason(err)}"))]
        changed.append((m.target, "npm", *package, json.dumps(want, sort_keys=True), now()))
        return failed

    _each_package(engine, ctx, writer, follow, remembered=_Remembered(reader, m.target),
                  packages=_packages(reader, writer.run_id, ctx, copied), stop=stop)
    if changed:
        writer.call(lambda db: db.conn.executemany(
            "INSERT INTO replica_packages (target_repo, format, namespace, package, dist_tags, updated)"
            " VALUES (?,?,?,?,?,?) ON CONFLICT (target_repo, format, namespace, package) DO UPDATE SET"
            " dist_tags = excluded.dist_tags, updated = excluded.updated", changed))


def _blamed(versions: dict[str, ItemRow]) -> ItemKey:
    """The item a package's tag failure is recorded on: the held version with the greatest version string."""
    return versions[max(versions)].key


class _Remembered:
    """The tags ferry last set per package of ``target``, read in package order alongside the walk
    (a merge of two sorted streams), a page at a time, so none are held beyond a page and no read
    stays open while the walk goes on (an open read would keep the writer from checkpointing the WAL)."""

    _PAGE = 1000

    def __init__(self, reader: LedgerReader, target: str):
        self._db, self._target = reader.db, target
        self._page: list[tuple[str, str, str]] = []
        self._at = 0
        self._after: tuple[str, str] | None = None
        self._exhausted = False

    def _next(self) -> tuple[str, str, str] | None:
        if self._at >= len(self._page) and not self._exhausted:
            after = "AND (namespace, package) > (?, ?) " if self._after else ""
            self._page = self._db.execute(
                "SELECT namespace, package, dist_tags FROM replica_packages WHERE target_repo = ? AND format = 'npm' "
                f"{after}ORDER BY namespace, package LIMIT ?",
                [self._target, *(self._after or ()), self._PAGE]).fetchall()
            self._at = 0
            self._exhausted = len(self._page) < self._PAGE
            if self._page:
                self._after = (self._page[-1][0], self._page[-1][1])
        return self._page[self._at] if self._at < len(self._page) else None

    def get(self, package: Package) -> dict[str, str]:
        """The remembered tags of ``package`` ({} if none); packages must be asked for in ascending order."""
        row = self._next()
        while row is not None and (row[0], row[1]) < package:
            self._at += 1
            row = self._next()
        if row is not None and (row[0], row[1]) == package:
            return json.loads(row[2] or "{}")
        return {}
