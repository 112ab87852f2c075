"""Listing both sides of one repository mapping as plan inputs (*want* and *have*)."""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator, Mapping, TypeVar

import urllib3

from ferry.codeartifact import Domain
from ferry.config import Options, RepositoryMapping
from ferry.errors import ItemError, RetryableError
from ferry.migrators.base import Migrator
from ferry.model import Checksums, ItemKey, SourceItem, TargetItem, VersionStatus
from ferry.retry import is_retryable
from ferry.shard import Shard
from ferry.sources.base import Source, SourceFile
from ferry.state.target_memory import TargetMemory
from ferry.target_index import VERSION_MARKER

T = TypeVar("T")
# What to do about a file whose identity read kept failing (see _told): the file may be fine.
AGAIN = "it kept failing through every retry: run the same command again to resume"
# Versions in these states have no assets to list.
_NO_ASSETS = ("Disposed", "Deleted")


def want(source: Source, mapping: RepositoryMapping, migrator: Migrator, options: Options,
         shard: Shard | None = None, retry: Callable[[Callable[[], T]], T] = lambda fn: fn(),
         spool: Path | None = None) -> Iterator[SourceItem]:
    """The source items of ``mapping`` that the job selects (filters: include/exclude, ``since``,
    and with ``shard`` only the packages that shard owns).

    A migrator whose verdict on one file depends on the others of the listing (Maven: only a
    SNAPSHOT's newest build is published) has a ``screen(items)`` method; the selected items pass
    through it, in one stream. A file that only its own bytes can name (see :func:`_told`) is read, under
    ``retry`` (the request layer's policy); what that read copies to disk goes into the folder ``spool`` (the
    job's ``--spool``; None: the temporary folder).
    """
    items = _selected(source, mapping, migrator, options, shard, retry, spool)
    screen = getattr(migrator, "screen", None)
    return screen(items) if screen is not None else items


def _told(source: Source, migrator: Migrator, file: SourceFile, retry: Callable[[Callable[[], T]], T],
          spool: Path | None) -> SourceFile:
    """``file`` with the identity hints ``migrator.read_identity`` reads from its bytes (a gem's gemspec, a
    package's .nuspec), for a file whose listing does not tell it (``migrator.identity_unknown``: no hints,
    a file name that reads several ways), or else with the reason in hint ``unreadable`` (and, where the read
    kept failing through every retry rather than finding no package, what to do in ``unreadable_again``):
    identify makes that one file unmappable, saying why, and the listing goes on. Raises FatalError
    (credentials refused)."""

    def read() -> Mapping[str, str]:
        resp = source.open_locator(file.url, file.path)
        try:
            resp.raw.decode_content = True  # the file's own bytes, whatever encoding the transfer used
            return migrator.read_identity(file, resp.raw, spool)
        except urllib3.exceptions.HTTPError as err:  # the body broke off (read by hand, not through requests)
            raise RetryableError(f"reading {file.path}: {type(err).__name__}") from None
        finally:
            resp.close()  # the rest of the file is not needed

    try:
        hints = retry(read)
    except (ItemError, RetryableError) as err:
        hints = {"unreadable": str(err)}
        if is_retryable(err):
            # The connection's doing, not the file's: the reason must not send the user to change the package.
            hints["unreadable_again"] = AGAIN
    return replace(file, hints={**file.hints, **hints})


def _selected(source: Source, mapping: RepositoryMapping, migrator: Migrator, options: Options,
              shard: Shard | None, retry: Callable[[Callable[[], T]], T], spool: Path | None) -> Iterator[SourceItem]:
    # A source whose repositories hold several formats (CodeArtifact) lists only the migrator's: another
    # format's file must never be taken for one of this format (a generic package's .tgz for an npm tarball).
    if getattr(source, "lists_by_format", False):
        # Versions it lists with nothing to read are counted only where the job selects them.
        files = source.files(mapping.source, migrator.format, scope=lambda key: mapping.selects(key, options) and (
            shard is None or shard.owns_key(key)))
    else:
        files = source.files(mapping.source)
    identity_unknown = getattr(migrator, "identity_unknown", None)
    try:
        for file in files:
            if identity_unknown is not None and identity_unknown(file):
                file = _told(source, migrator, file, retry, spool)
            item = migrator.identify(file, mapping)
            if item is None:
                continue
            if shard is not None and not shard.owns_key(item.key):
                continue
            # The source's own spelling of a name CodeArtifact normalizes counts too: a job names a PyPI project
            # as its users write it, and may leave out one of two spellings that normalize together. Unmappable
            # files are in scope as the rest are (by the names their keys carry): a pilot run with --include is
            # not failed by files of packages it never meant to touch, and --exclude can leave a package's out.
            spelled = item.extras.get("source_name") if item.extras else None
            if not mapping.selects(item.key, options, spelled):
                continue
            if options.since is not None and file.published is not None and file.published < _aware(options.since):
                continue
            yield item
    finally:
        # What identify kept for this listing (the claims of NuGet, Swift, Cargo and RubyGems) is not needed
        # once it has ended.
        forget = getattr(migrator, "forget", None)
        if forget is not None:
            forget(mapping)


def have(domain: Domain, repository: str, fmt: str, shard: Shard | None = None,
         memory: TargetMemory | None = None, recall: bool = True, concurrency: int = 8,
         on_package: Callable[[dict[str, Any]], None] | None = None,
         on_abandon: Callable[[], None] | None = None) -> Iterator[TargetItem]:
    """Every asset of format ``fmt`` in the target repository, walked package by package
    (with ``shard``: only the packages that shard owns; the others' versions are never listed).

    One ListPackages walk, one ListPackageVersions walk per package, and one ListPackageVersionAssets
    per version (the only call that reports hashes), except, with ``memory`` and ``recall``, for
    versions whose revision is the one recorded with their assets on an earlier run: those assets
    come from the ledger. ``memory`` records every listing made. Up to ``concurrency`` packages are
    listed at a time (results still come in ListPackages order), each in runs of
    :data:`VERSIONS_AT_ONCE` versions, so a package of 100,000 versions is never held whole; each
    page is retried by the domain's policy. ``on_package`` sees each ListPackages entry (with its
    origin configuration) that the walk keeps. Closing the iterator before its end (Ctrl-C, a fatal
    error) stops each listing thread at its next call, and first calls ``on_abandon`` (the engine's
    stop, which ends the retry waits those threads may be in).
    """
    # Set when the consumer goes away: a thread filling a run would otherwise make the rest of its up to
    # VERSIONS_AT_ONCE calls first, and Ctrl-C would wait for them all.
    stop = threading.Event()

    def packages() -> Iterator[tuple[str, str]]:
        for pkg in domain.packages(repository, fmt):
            namespace, package = pkg.get("namespace") or "", pkg["package"]
            if shard is not None and not shard.owns(fmt, namespace, package):
                continue
            if on_package is not None:
                on_package(pkg)
            yield namespace, package

    def listing(namespace: str, package: str) -> Iterator[list[TargetItem]]:
        run: list[dict[str, Any]] = []
        for ver in domain.versions(repository, fmt, namespace, package):
            if stop.is_set():
                return
            run.append(ver)
            if len(run) == VERSIONS_AT_ONCE:
                yield items_of(namespace, package, run)
                run = []
        if run:
            yield items_of(namespace, package, run)

    def items_of(namespace: str, package: str, versions: list[dict[str, Any]]) -> list[TargetItem]:
        known = memory.recall(repository, fmt, namespace, package, [v["version"] for v in versions]) \
            if memory is not None and recall else {}
        found = []
        for ver in versions:
            if stop.is_set():
                break  # what this run holds is never taken
            if ver.get("status") == VersionStatus.DISPOSED.value:
                # Its assets are gone, yet it stands in the way: CodeArtifact refuses a publish into it and
                # allows only deleting it. One asset-less item tells the plan (a conflict for each file).
                found.append(TargetItem(key=ItemKey(fmt, namespace, package, ver["version"], VERSION_MARKER),
                                        status=VersionStatus.DISPOSED.value, repository=repository))
                continue
            if ver.get("status") in _NO_ASSETS:
                continue
            version, revision = ver["version"], ver.get("revision")
            recorded = known.get(version)
            if recorded is not None and revision and recorded[0] == revision:
                assets = recorded[1]
            else:
                assets = domain.assets(repository, fmt, namespace, package, version)
                if memory is not None:
                    memory.remember(repository, fmt, namespace, package, version, revision, assets)
            found += [TargetItem(key=ItemKey(fmt, namespace, package, version, asset["name"]), size=asset.get("size"),
                                 checksums=Checksums.from_mapping(asset.get("hashes")),
                                 status=ver.get("status", "Published"), repository=repository)
                      for asset in assets]
        return found

    for run in _ordered(listing, packages(), concurrency, stop=stop, on_abandon=on_abandon):
        yield from run


# Versions of one package listed (and recalled from the ledger) as one run: a package of any size costs
# at most this many versions' items per listing thread, plus the runs waiting for the consumer (_AHEAD).
VERSIONS_AT_ONCE = 200
_AHEAD = 2


def _ordered(fn: Callable[..., Iterable[T]], args: Iterable[tuple], concurrency: int,
             ahead: int = _AHEAD, stop: threading.Event | None = None,
             on_abandon: Callable[[], None] | None = None) -> Iterator[T]:
    """The values of ``fn(*a)`` (an iterable) for each ``a`` of ``args``, in order: up to ``concurrency``
    iterables are walked at a time, each on a thread of its own and at most ``ahead`` values ahead of the
    consumer, so memory stays bounded however many iterables there are and however long one is. The
    first error, in order, is raised to the consumer; closing the generator stops the threads, once the
    step each is in ends: ``stop`` (set then, before the threads are waited for) lets ``fn`` end a long
    step early, and ``on_abandon`` (called then, when the consumer left before the end) ends what ``fn``
    waits on besides.
    """
    if concurrency <= 1:
        for a in args:
            yield from fn(*a)
        return
    stop = stop if stop is not None else threading.Event()

    def put(box: "queue.Queue[tuple[bool, Any]]", value: tuple[bool, Any]) -> bool:
        while not stop.is_set():  # a consumer that has gone away must not leave this thread blocked
            try:
                box.put(value, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def walk(box: "queue.Queue[tuple[bool, Any]]", a: tuple) -> None:
        try:
            for value in fn(*a):  # after a stop, each thread ends its step (or, told by stop, leaves it)
                if not put(box, (True, value)):
                    return
            put(box, (False, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer, in order
            put(box, (False, err))

    def drain(box: "queue.Queue[tuple[bool, Any]]") -> Iterator[T]:
        while True:
            more, value = box.get()
            if more:
                yield value
            elif value is None:
                return
            else:
                raise value

    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="ferry-list")
    pending: deque[tuple[queue.Queue[tuple[bool, Any]], Future[None]]] = deque()
    finished = False
    try:
        for a in args:
            box: queue.Queue[tuple[bool, Any]] = queue.Queue(maxsize=ahead)
            pending.append((box, pool.submit(walk, box, a)))
            if len(pending) >= concurrency:
                yield from drain(pending.popleft()[0])
        while pending:
            yield from drain(pending.popleft()[0])
        finished = True
    finally:
        stop.set()
        if not finished and on_abandon is not None:
            # A thread in a retry wait (a Retry-After of up to 30 s) would otherwise keep Ctrl-C waiting.
            on_abandon()
        for _box, fut in pending:
            fut.cancel()  # not started yet: never started
        pool.shutdown(wait=True)


def prefetched(items: Iterable[T], limit: int = 1000) -> "_Prefetched[T]":
    """``items`` read ahead by a thread that starts at once, up to ``limit`` items: a listing that
    runs while the caller is still busy with something else (the plan indexes the target first).

    Errors of the listing are raised to the consumer; closing the generator stops the thread.
    """
    buffer: queue.Queue = queue.Queue(maxsize=limit)
    stop = threading.Event()
    done = object()

    def fill() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put((item, None), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put((done, None))
        except BaseException as err:  # noqa: BLE001 - handed to the consumer
            buffer.put((done, err))

    thread = threading.Thread(target=fill, name="ferry-prefetch", daemon=True)
    thread.start()

    def halt() -> None:
        stop.set()
        while thread.is_alive():
            try:
                buffer.get_nowait()
            except queue.Empty:
                thread.join(0.05)

    def consume() -> Iterator[T]:
        try:
            while True:
                item, err = buffer.get()
                if item is done:
                    if err is not None:
                        raise err
                    return
                yield item
        finally:
            halt()

    return _Prefetched(consume(), halt)


class _Prefetched(Iterator[T]):
    """The consumer's side of :func:`prefetched`: ``close()`` stops the read-ahead thread even if no
    item was ever taken (closing a generator that never started would not run its ``finally``)."""

    def __init__(self, items: Iterator[T], halt: Callable[[], None]):
        self._items, self._halt = items, halt

    def __iter__(self) -> "_Prefetched[T]":
        return self

    def __next__(self) -> T:
        return next(self._items)

    def close(self) -> None:
        self._items.close()
        self._halt()


def _aware(when):
    from datetime import timezone

    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
