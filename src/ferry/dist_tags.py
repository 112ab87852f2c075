"""npm dist-tags follow the source on every ``migrate``, not only for the versions a run publishes.

A version's publish carries the tags pointing at it, and finishing the version sets them in the target.
A tag the source moves later to a version migrated before (``latest`` back to 1.0.1 after a bad 2.0.0,
``beta`` promoted) touches no file, so the plan finds nothing to copy; without this pass the target
would keep the old tag, and ``npm install`` would resolve another version there than in the source.

After the transfer, for each npm package the run planned, the source's tags that point at versions the
target holds (``same`` or ``confirmed`` in this run) are compared with the tags ferry last set for the
package, kept in the ledger (``replica_packages``, as replicate keeps them). Only a package whose tags
changed is touched: one GET of its tags in the target, a PUT per tag that differs. Tags are set, never
removed: the target may hold tags of its own. Cost per run: one source request per npm package (its
packument, which the transfer has often read already); nothing on the target while nothing changed.

``verify`` compares instead (:func:`check_source_tags`): one source and one target read per npm package
with tags, and a tag that points elsewhere in the target makes the source's tagged version differ.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ferry.errors import FatalError
from ferry.migrators.base import PublishContext
from ferry.migrators.npm import package_id, sync_dist_tags, target_dist_tags
from ferry.model import ItemKey
from ferry.redact import redact
from ferry.state.ledger import DONE, LedgerWriter, now
from ferry.state.reader import ItemRow, LedgerReader

if TYPE_CHECKING:
    from ferry.engine import Engine, MappingContext

Package = tuple[str, str]  # (namespace, package)


def follow_source_tags(engine: "Engine", writer: LedgerWriter, reader: LedgerReader) -> None:
    """Bring the target's npm dist-tags in step with the source for every npm package this run planned.

    A package whose tags cannot be set fails the item its tag points at (the reason says which tag and
    why), so the run's exit code shows it and the next run tries again. Raises nothing else but
    KeyboardInterrupt and :class:`~ferry.errors.FatalError`.
    """
    for ctx in engine.mappings:
        if ctx.format == "npm":
            _follow_mapping(engine, ctx, writer, reader)


def check_source_tags(engine: "Engine", writer: LedgerWriter, reader: LedgerReader) -> None:
    """For ``verify``: a tag that points elsewhere in the target than in the source makes the item the
    source's tag points at a conflict, with both versions in the reason. Nothing is changed."""
    for ctx in engine.mappings:
        if ctx.format != "npm":
            continue
        publish = PublishContext(engine.domain, ctx.mapping.target, engine.session, {})

        def check(package: Package, versions: dict[str, ItemRow], _prior, ctx=ctx, publish=publish) -> list:
            pid = package_id(*package)
            try:
                want = _wanted(engine, ctx, versions)
                have = engine.request_retry(lambda: target_dist_tags(publish, pid)) if want else {}
            except FatalError:
                raise
            except Exception as err:  # noqa: BLE001 - this package only
                return [(_blamed(versions), "failed", redact(f"comparing the dist-tags of {pid}: {err}"))]
            return [(versions[version].key, "conflict", f"dist-tag {tag}: the source points it at {version}, the "
                     f"target at {have.get(tag) or 'no version'}")
                    for tag, version in sorted(want.items()) if have.get(tag) != version]

        _each_package(engine, ctx, writer, reader, check, remembered=None)


def _wanted(engine: "Engine", ctx: "MappingContext", versions: dict[str, ItemRow]) -> dict[str, str]:
    """The source's tags of a package that point at versions the target holds."""
    tags = engine.package_facts_of(ctx, next(iter(versions.values())).key).get("dist_tags", {})
    return {tag: version for tag, version in tags.items() if version in versions}


def _each_package(engine: "Engine", ctx: "MappingContext", writer: LedgerWriter, reader: LedgerReader, work,
                  remembered: "_Remembered | None") -> None:
    """Run ``work(package, versions, remembered tags)`` for each npm package of the mapping on the worker
    pool, a bounded window at a time, and write the ``(item key, state, reason)`` transitions it returns."""
    pool = ThreadPoolExecutor(max_workers=engine.job.options.workers, thread_name_prefix="ferry-tags")
    target = ctx.mapping.target
    try:
        window: list = []  # packages in flight: memory does not grow with the repository
        for package, versions in _packages(reader, writer.run_id, ctx):
            prior = remembered.get(package) if remembered is not None else None
            window.append(pool.submit(work, package, versions, prior))
            if len(window) >= 256:
                _record(window, writer, target)
                window = []
        _record(window, writer, target)
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)  # Ctrl-C: packages not started are left to the next run
        raise
    pool.shutdown(wait=True)


def _record(futures: list, writer: LedgerWriter, target: str) -> None:
    for future in futures:
        for key, state, reason in future.result():
            writer.transition(target, key, state, reason=reason)


def _packages(reader: LedgerReader, run_id: int | None, ctx: "MappingContext") -> Iterator[tuple[Package, dict]]:
    """Each npm package of the mapping with the versions the target holds, as ``{version: ItemRow}``."""
    m = ctx.mapping
    current: Package | None = None
    versions: dict[str, ItemRow] = {}
    for row in reader.items(run_id, DONE, m.target):
        if row.format != "npm" or row.source_repo != m.source:
            continue
        package = (row.namespace, row.package)
        if package != current:  # rows come sorted by identity: a package's rows are together
            if current is not None:
                yield current, versions
            current, versions = package, {}
        versions[row.version] = row
    if current is not None:
        yield current, versions


def _follow_mapping(engine: "Engine", ctx: "MappingContext", writer: LedgerWriter, reader: LedgerReader) -> None:
    m = ctx.mapping
    publish = PublishContext(engine.domain, m.target, engine.session, {})
    changed: list[tuple[str, str, str, str, str, str]] = []

    def follow(package: Package, versions: dict[str, ItemRow], prior: dict[str, str]) -> list:
        pid = package_id(*package)
        try:
            want = _wanted(engine, ctx, versions)
            if want == prior:
                return []
            # Tags that point only at versions published (confirmed) in this run were set as each version
            # was finished: nothing to ask the target, only to remember.
            if any(versions[version].state != "confirmed" for version in want.values()):
                engine.request_retry(lambda: sync_dist_tags(publish, pid, want, remove=False))
        except FatalError:
            raise
        except Exception as err:  # noqa: BLE001 - this package only; the next run tries it again
            return [(_blamed(versions), "failed", redact(f"dist-tags of {pid}: {err}"))]
        changed.append((m.target, "npm", *package, json.dumps(want, sort_keys=True), now()))
        return []

    _each_package(engine, ctx, writer, reader, follow, remembered=_Remembered(reader, m.target))
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
    (a merge of two sorted streams), so none are held beyond the package at hand."""

    def __init__(self, reader: LedgerReader, target: str):
        self._rows = reader.db.execute(
            "SELECT namespace, package, dist_tags FROM replica_packages WHERE target_repo = ? AND format = 'npm' "
            "ORDER BY namespace, package", [target])
        self._next = self._rows.fetchone()

    def get(self, package: Package) -> dict[str, str]:
        """The remembered tags of ``package`` ({} if none); packages must be asked for in ascending order."""
        while self._next is not None and (self._next[0], self._next[1]) < package:
            self._next = self._rows.fetchone()
        if self._next is not None and (self._next[0], self._next[1]) == package:
            return json.loads(self._next[2] or "{}")
        return {}
