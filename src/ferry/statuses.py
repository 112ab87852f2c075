"""Version statuses follow a CodeArtifact source on every ``migrate``; ``verify`` reports where they differ.

A CodeArtifact source's versions may be Published, Unlisted or Archived; a publish makes a version
Published in the target. The plan keeps both statuses in the ledger (``source_status``, and the
``target_status`` the target listed), so :class:`StatusPass` knows without a listing of its own which
versions differ: every version of the run whose files are all in the target (``same`` or ``confirmed``)
and whose target status is not the source's gets the source's (UpdatePackageVersionsStatus, up to 100
versions of a package per call, under the request retry and the rate limiter), before the npm tags and
deprecations are followed (:mod:`ferry.dist_tags`): those see only the versions the target lists, so a
version the source published again and deprecated would fail to be deprecated on every run while still
Unlisted in the target. The source's status is read on every run, so a status the source changed since an
earlier run is followed too, and so is one a run did not get to set (stopped, or refused), or one changed
by hand in the target: the plan finds the two differ. A version with a file missing, failed or in conflict
is left as it is until its files are there. ``Disposed`` and ``Unfinished`` source versions have no files
to copy: the source leaves them out and the run's notes count them. ``audit`` counts the statuses
``migrate`` would set (:func:`would_set`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from ferry.errors import FatalError
from ferry.model import ItemKey, PlanEntry
from ferry.redact import redact
from ferry.replicators import batches
from ferry.retry import failure_reason
from ferry.state.ledger import Call, LedgerWriter
from ferry.state.reader import LedgerReader
from ferry.transfer import Interrupted

if TYPE_CHECKING:
    from ferry.config import RepositoryMapping
    from ferry.engine import Engine, MappingContext

SETTABLE = ("Published", "Unlisted", "Archived")  # what UpdatePackageVersionsStatus can set
# What the target's version is once ferry has published into it: a new version, an Unfinished one it
# finished and a Deleted one it published again are Published.
_PUBLISHED_BY_FERRY = (None, "Published", "Unfinished", "Deleted")

# One row per version of the run from a source with statuses: the source's status, whether ferry published
# any of its files in this run (state {now}: 'confirmed'; for audit, 'planned': would publish), the target
# status the plan listed, whether every file is in the target (or would be), and the last asset (the row a
# failure is recorded on).
_VERSIONS = """
    SELECT format, namespace, package, version, MAX(source_status), MAX(state = '{now}'),
           MAX(target_status), MIN(state IN ('same', '{now}', 'skipped')) AND MAX(state IN ('same', '{now}')),
           MAX(asset)
    FROM items WHERE run_id = ? AND target_repo = ? AND source_repo = ? AND source_status IS NOT NULL
    {format}GROUP BY format, namespace, package, version ORDER BY format, namespace, package, version"""


def differs(source_status: str | None, target_status: str | None, published_now: bool) -> bool:
    """Whether a version whose files are all in the target needs the source's status set there."""
    if source_status not in SETTABLE:
        return False
    if published_now:
        return source_status != "Published" or target_status not in _PUBLISHED_BY_FERRY
    return target_status != source_status


class StatusPass:
    """The status pass of one ``migrate`` run: :meth:`mapping_planned` for the versions the plan found whole
    in the target, :meth:`finish` after the transfer for the rest. Each sets every version of this run whose
    files are all in the target to the source's status where the target's differs. A version whose status
    cannot be set fails its last file (the reason says which status and why), so the run's exit code shows
    it and the next run tries again; the run's notes count the statuses set. Both raise :class:`FatalError`
    (the run cannot go on) and :class:`ferry.transfer.Interrupted` (it is stopping)."""

    def __init__(self, engine: "Engine", writer: LedgerWriter):
        self._engine, self._writer = engine, writer
        # No other source has statuses: no need to read the run's rows back.
        self._wanted = getattr(engine.source, "kind", None) == "codeartifact"
        self._tally: Counter[str] = Counter()

    def mapping_planned(self, ctx: "MappingContext") -> None:
        """Called once every verdict of ``ctx``'s plan is queued, before its npm tags pass starts."""
        if not self._wanted:
            return
        self._writer.flush()  # the pass reads the mapping's verdicts back from the ledger
        with LedgerReader(self._writer.path) as reader:
            self._follow(reader, ctx.mapping, ctx.format)

    def finish(self, reader: LedgerReader) -> None:
        """After the transfer (before the npm tags pass's second part): every mapping's versions; the note."""
        if not self._wanted:
            return
        for m in self._engine.repository_pairs():  # a mixed repository's formats are one query
            self._follow(reader, m, None)
        if self._tally:
            counts = ", ".join(f"{status} {n}" for status, n in sorted(self._tally.items()))
            self._engine.settings.notes.append(f"set {sum(self._tally.values())} version status(es) as in the "
                                               f"source ({counts})")

    def _follow(self, reader: LedgerReader, m: "RepositoryMapping", fmt: str | None) -> None:
        # {(format, namespace, package, status): {version: the row a failure is recorded on}}
        wanted: dict[tuple[str, str, str, str], dict[str, ItemKey]] = defaultdict(dict)
        sql = _VERSIONS.format(now="confirmed", format="AND format = ? " if fmt else "")
        rows = reader.db.execute(sql, [self._writer.run_id, m.target, m.source, *([fmt] if fmt else [])])
        for row_fmt, ns, name, version, status, published_now, target_status, complete, asset in rows:
            if complete and differs(status, target_status, bool(published_now)):
                wanted[(row_fmt, ns, name, status)][version] = ItemKey(row_fmt, ns, name, version, asset)
            if len(wanted) >= 256:
                _set(self._engine, self._writer, m.target, wanted, self._tally)
                wanted.clear()
        _set(self._engine, self._writer, m.target, wanted, self._tally)


def _set(engine: "Engine", writer: LedgerWriter, target: str,
         wanted: dict[tuple[str, str, str, str], dict[str, ItemKey]], tally: Counter[str]) -> None:
    for (fmt, ns, name, status), versions in sorted(wanted.items()):
        try:
            result = batches.set_status(engine.domain, target, fmt, ns, name, list(versions), status)
        except (FatalError, Interrupted):
            raise
        except Exception as err:  # noqa: BLE001 - this package's versions only; the next run tries again
            result = batches.BatchResult(failed={v: failure_reason(err) for v in versions})
        tally[status] += len(result.ok)
        if result.ok:
            # The ledger says what the target now holds, as a listing would.
            done = [(status, target, fmt, ns, name, version) for version in result.ok]
            writer.put(Call(lambda db, done=done: db.conn.executemany(
                "UPDATE items SET target_status = ? WHERE target_repo = ? AND format = ? AND namespace = ? AND "
                "package = ? AND version = ?", done)))
        for version, why in result.failed.items():
            writer.transition(target, versions[version], "failed",
                              reason=redact(f"status {status} as in the source not set: {why}; the next run tries "
                                            "again"))


def would_set(engine: "Engine", reader: LedgerReader, run_id: int | None, command: str) -> None:
    """For ``audit``: a note counting the versions whose status ``migrate`` would set as in the source (those
    it would copy whose source status is not Published, and those the target holds whole with another
    status). Nothing for other commands or sources without statuses."""
    if command != "audit" or getattr(engine.source, "kind", None) != "codeartifact":
        return
    tally: Counter[str] = Counter()
    for m in engine.repository_pairs():
        rows = reader.db.execute(_VERSIONS.format(now="planned", format=""), [run_id, m.target, m.source])
        for _fmt, _ns, _name, _version, status, published_now, target_status, complete, _asset in rows:
            if complete and differs(status, target_status, bool(published_now)):
                tally[status] += 1
    if tally:
        counts = ", ".join(f"{status} {n}" for status, n in sorted(tally.items()))
        engine.settings.notes.append(f"migrate would set {sum(tally.values())} version status(es) as in the "
                                     f"source ({counts})")


def status_difference(entry: PlanEntry) -> str | None:
    """For ``verify``: why an asset the target holds unchanged is in a version whose status is not the
    source's (a CodeArtifact source), or None."""
    source, target = entry.source, entry.target
    if source is None or target is None or source.status not in SETTABLE or target.status == source.status:
        return None
    return (f"version is {target.status} in the target, {source.status} in the source; ferry migrate (or replicate) "
            "sets the source's")
