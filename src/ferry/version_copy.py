"""Copying one package version into the target: the transfer's unit of work, run by its workers.

:meth:`VersionCopier.copy` takes the ledger rows of one version still to copy. For each asset it re-checks the
target (where the plan saw it there), downloads to the spool while hashing, checks the source's checksums
and publishes through the format's migrator; then it confirms the version's SHA-256s from the target (the
publish answers where they carry them, else one listing of the version) and finishes the version (Maven
metadata, status, dist-tags). Every verdict goes to the ledger as an event for its one writer thread.

Retries: the download and the publish are each retried on their own under the request layer's policy (the
spool file is reused, and CodeArtifact accepts an identical re-publish), so a throttled upload does not cost
a new download; the item layer retries a whole attempt, re-checking the target first.
"""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from ferry import transfer
from ferry.errors import FatalError, ItemError, PublishConflict
from ferry.migrators.base import PublishContext
from ferry.model import ItemKey, SourceItem, VersionStatus
from ferry.redact import redact
from ferry.retry import ITEM, failure_reason, retrying
from ferry.state.ledger import LedgerWriter, Transition
from ferry.state.reader import ItemRow
from ferry.state.target_memory import TargetMemory

if TYPE_CHECKING:
    from ferry.engine import Engine, MappingContext


class VersionCopier:
    """Copies versions for one transfer of ``engine``'s run, recording target listings in ``memory``.

    Uses the engine's target domain, source, HTTP session, settings and retry policies, and asks it for a
    package's facts (:meth:`Engine.package_facts_of`) and origin controls (:meth:`Engine.origin_blocks`).
    """

    def __init__(self, engine: "Engine", memory: TargetMemory | None):
        self.engine = engine
        self.domain = engine.domain
        self.source = engine.source
        self.session = engine.session
        self.settings = engine.settings
        self.request_retry = engine.request_retry
        self._memory = memory

    def copy(self, ctx: MappingContext, rows: list[ItemRow], writer: LedgerWriter, spool: transfer.Spool,
             stop: threading.Event, held: bool = False) -> None:
        """Copy one version's planned assets, confirm them, then finish the version (publish it, Maven
        metadata, dist-tags) when every asset is there. ``held``: the target holds a conflicting asset
        in this version; what is missing is still copied, but the version is never finished, so a
        conflict left Unfinished does not become visible to clients.

        For a format whose versions are usable only once finished (``finishes_versions``: Maven, generic),
        the assets the target shows as expected are written done only when the version's loop ends, all in
        one commit: ``confirmed`` once the finish has succeeded, or, in a version left unfinished because
        another asset failed or conflicts (whose row says so), as they would be otherwise. Until then they
        stay ``published`` (or as planned, when the target already held them), which counts as not done, so
        a run killed or interrupted before the finish does not report an Unfinished version as copied. A
        finish that fails writes each of them ``failed`` with the reason (the target holds their bytes, so
        a rerun publishes none of them again, but the version is unusable).

        Every verdict goes to ``writer``; what fails one asset or version is written, not raised. Returns early,
        leaving the rest as it is, once ``stop`` is set. Raises :class:`FatalError` when the run cannot go on
        (credentials refused, the spool's disk full, a side that stopped answering: :mod:`ferry.outage`)."""
        m = ctx.mapping
        finishing = bool(getattr(ctx.migrator, "finishes_versions", False))
        items = [_item_of(row) for row in rows]
        # The plan has just listed the target: only items it saw there need a fresh look before
        # publishing (an absent one that appeared since is caught by the publish itself: 409 or identical).
        seen = {row.key for row in rows if row.target_sha256 is not None}
        facts, blocked = self._package_facts(ctx, items[0].key)
        publish = PublishContext(self.domain, m.target, self.session, facts, run_memory=self.engine.run_memory)
        try:
            blocked = (blocked or self.engine.origin_blocks(ctx, items[0].key)
                       or self._version_facts(ctx, publish, items[0]))
        except transfer.Interrupted:
            return  # the run is stopping: the version's items stay as they are
        except FatalError:
            raise
        except Exception as err:  # noqa: BLE001 - what one package's reads ran into fails its versions, not the run
            self.engine.outage.failed(err)  # unless a side is down: then the run stops here
            blocked = redact(f"{items[0].key.display_name} {items[0].key.version}: {failure_reason(err)}")
        if blocked:
            for item in items:
                writer.transition(m.target, item.key, "failed", reason=blocked)
                if self.settings.progress:
                    self.settings.progress(1)
            return
        done: set[ItemKey] = set()  # same, conflict or confirmed: handled, whatever the verdict
        awaiting: dict[str, tuple[SourceItem, str]] = {}  # asset -> (item, sha256): published, not yet confirmed
        # With ``finishing``, the rows written once the version's loop ends (the target showed each asset's
        # SHA-256, but clients cannot use the version before it is finished): "confirmed" for the assets this
        # run published, and for those it found there in the Unfinished version ("same" when it is left so).
        ready: list[Transition] = []
        found: list[Transition] = []
        failed = held
        for index, item in enumerate(items):
            if stop.is_set():
                return
            last = index == len(items) - 1 and not failed
            try:
                for attempt in retrying(ITEM, **self.engine.item_retry_kwargs):
                    with attempt:
                        outcome, sha = self._move_item(ctx, publish, item, last, writer, spool, stop,
                                                       check_target=item.key in seen, finishing=finishing)
                self.engine.outage.done()
                if outcome == "published":
                    awaiting[item.key.asset] = (item, sha)
                elif outcome == "unfinished":
                    found.append(self._confirmed_row(ctx, publish, item, sha))
                    done.add(item.key)
                else:
                    done.add(item.key)
                    failed = failed or outcome == "conflict"
            except ItemError as err:
                failed = True
                writer.transition(m.target, item.key, "failed", reason=redact(err), attempt=True)
            except transfer.Interrupted:
                return  # the row stays "downloading": re-planned on resume
            except FatalError:
                raise
            except Exception as err:  # noqa: BLE001 - retries exhausted, or something unforeseen: this item only
                failed = True
                writer.transition(m.target, item.key, "failed", reason=redact(failure_reason(err)), attempt=True)
                self.engine.outage.failed(err)  # unless a side is down: then the run stops here
            if self.settings.progress and item.key.asset not in awaiting:
                self.settings.progress(1)
        if awaiting:
            # Remembering the target's answers as the version's listing is safe only for a version that
            # holds nothing else: every asset published just now, none listed by the plan.
            whole = len(awaiting) == len(items) and not seen
            confirmed = self._confirm_version(ctx, items[0].key, awaiting, writer, publish, whole,
                                              defer=finishing)
            done |= {row.key for row in confirmed}
            if finishing:
                ready += confirmed
            failed = failed or len(confirmed) < len(awaiting)
            if self.settings.progress:
                self.settings.progress(len(awaiting))
        if not done or failed:
            if (ready or found) and not stop.is_set():
                # Left unfinished on purpose: another asset of it failed or conflicts, and that row says so (the
                # run is not done). These are in the target as expected. (Stopping: they stay not done.)
                writer.put_many([*ready, *(replace(row, state="same", reason=None) for row in found)])
            return
        finished = [item for item in items if item.key in done]
        try:
            self.request_retry(lambda: ctx.migrator.finish_version(publish, finished))
        except transfer.Interrupted:
            return  # the run is stopping; the next run's plan finds the version as the target shows it
        except FatalError:
            raise
        except Exception as err:  # noqa: BLE001 - this version is not finished; the run goes on
            reason = redact(f"finishing the version: {failure_reason(err)}")
            if ready or found:  # every one of them is unusable while the version is not finished
                writer.put_many([replace(row, state="failed", reason=reason) for row in (*ready, *found)])
            else:
                writer.transition(m.target, finished[-1].key, "failed", reason=reason)
            return
        if ready or found:
            writer.put_many([*ready, *found])  # the whole version done in one commit

    def _package_facts(self, ctx: MappingContext, key: ItemKey) -> tuple[dict, str | None]:
        """The package's facts (:meth:`Engine.package_facts_of`) and None; or ``{}`` and why the version cannot
        be moved when the read failed after the request retries (a packument the source keeps refusing is
        this version's failure, not the run's). Raises :class:`FatalError`."""
        try:
            return self.engine.package_facts_of(ctx, key), None
        except transfer.Interrupted:
            return {}, None  # the run is stopping: the version's loop leaves every item as it is
        except FatalError:
            raise
        except Exception as err:  # noqa: BLE001 - this version only: the next run tries it again
            self.engine.outage.failed(err)  # unless the source is down: then the run stops here
            return {}, redact(f"{key.display_name} {key.version}: reading its package from the source: "
                              f"{failure_reason(err)}")

    def _version_facts(self, ctx: MappingContext, publish: PublishContext, item: SourceItem) -> str | None:
        """Put what the migrator's optional ``version_facts`` hook reads from the source on ``publish``.
        Returns why the version cannot be moved when the read failed after the request retries, else None."""
        hook = getattr(ctx.migrator, "version_facts", None)
        if hook is None:
            return None
        try:
            publish.version_facts = dict(self.request_retry(lambda: hook(self.source, ctx.mapping.source, item)))
        except transfer.Interrupted:
            return None  # the run is stopping: the version's loop leaves every item as it is
        except FatalError:
            raise
        except Exception as err:  # noqa: BLE001 - this version only: the next run tries it again
            self.engine.outage.failed(err)  # unless the source is down: then the run stops here
            return redact(f"{item.key.display_name} {item.key.version}: reading it from the source: {err}")
        return None

    def _move_item(self, ctx: MappingContext, publish: PublishContext, item: SourceItem, last: bool,
                   writer: LedgerWriter, spool: transfer.Spool, stop: threading.Event,
                   check_target: bool = True, finishing: bool = False) -> tuple[str, str | None]:
        """One attempt at one asset. Returns the ledger state it wrote (``same``, ``conflict`` or
        ``published``: confirming is the version's job) and the source's SHA-256 if it was downloaded.

        With ``finishing`` (the format's versions are usable only once finished), an asset the target
        already holds with the source's SHA-256 in an Unfinished version is ``unfinished`` instead, with
        that SHA-256, and nothing is written: the version's finish writes it ``confirmed`` (or ``failed``).
        """
        key, target = item.key, ctx.mapping.target
        before = self.domain.asset_state(target, key.format, key.namespace, key.package, key.version,
                                         key.asset) if check_target else None
        waits_for_finish = finishing and before is not None and before.status == VersionStatus.UNFINISHED.value
        if before is not None and before.status != "Deleted" and item.sha256:
            if waits_for_finish and before.sha256 == item.sha256:
                return "unfinished", item.sha256
            state = "same" if before.sha256 == item.sha256 else "conflict"
            reason = "" if state == "same" else \
                f"target holds sha256 {before.sha256}, source has {item.sha256}; left untouched"
            writer.transition(target, key, state, target_sha256=before.sha256, reason=reason or None)
            return state, None
        folder = spool.folder()
        try:
            writer.transition(target, key, "downloading", attempt=True)
            digests = transfer.digests_for(item, getattr(ctx.migrator, "digests", ()))
            spooled = self.request_retry(lambda: transfer.download(
                lambda: self.source.open_locator(item.locator, str(key)), item, folder, stop.is_set, digests))
            sha = spooled.checksums.sha256
            if before is not None and before.status != "Deleted":
                if waits_for_finish and before.sha256 == sha:
                    return "unfinished", sha
                state = "same" if before.sha256 == sha else "conflict"
                reason = None if state == "same" else \
                    f"target holds sha256 {before.sha256}, source has {sha}; left untouched"
                writer.transition(target, key, state, source_sha256=sha, target_sha256=before.sha256, reason=reason)
                return state, sha
            try:
                self.request_retry(lambda: ctx.migrator.publish(publish, item, spooled, last))
            except PublishConflict:
                # The target already holds the version: the same bytes when a publish whose answer was lost
                # was sent again (targets that refuse any re-publish answer 409), or a copy that arrived since
                # the plan. Only what the target holds tells a conflict from that.
                after = self.domain.asset_state(target, key.format, key.namespace, key.package, key.version,
                                                key.asset)
                if after is None or after.status == "Deleted":
                    raise
                if after.sha256 != sha:
                    writer.transition(target, key, "conflict", source_sha256=sha, target_sha256=after.sha256,
                                      reason=f"target holds sha256 {after.sha256}, source has {sha}; left untouched")
                    return "conflict", sha
            writer.transition(target, key, "published", source_sha256=sha)
            return "published", sha  # confirmed with the version's other assets, in one listing
        finally:
            spool.discard(folder, key.asset)

    def _confirm_version(self, ctx: MappingContext, key: ItemKey, awaiting: dict[str, tuple[SourceItem, str]],
                         writer: LedgerWriter, publish: PublishContext, whole: bool,
                         defer: bool = False) -> list[Transition]:
        """Confirm every asset published in this version: from the target's answers to the publishes
        where the format's publish answers with the stored asset's SHA-256 (generic), else with one
        listing of the version (a few if the target lags).

        Writes ``confirmed`` or ``failed`` (with why) for each; returns the ``confirmed`` rows. With
        ``defer`` the ``confirmed`` rows are only returned, for the caller to write once the version is
        finished. A listing that keeps failing after the request retries fails the items it would have
        confirmed. ``whole``: the published assets are all the version holds (so the answers can stand for a
        listing).
        """
        target = ctx.mapping.target
        confirmed: list[Transition] = []

        def confirm(item: SourceItem, sha: str) -> None:
            row = self._confirmed_row(ctx, publish, item, sha)
            confirmed.append(row)
            if not defer:
                writer.put(row)

        answered = [asset for asset, (_item, sha) in awaiting.items()
                    if ((publish.shown.get(asset) or {}).get("hashes") or {}).get("SHA-256") == sha]
        for asset in answered:
            confirm(*awaiting[asset])
        if len(answered) == len(awaiting):
            if whole:
                self._remember_answers(target, key, publish)
            return confirmed
        # Not answered, or answered with another hash: the listing decides (and says why).
        awaiting = {asset: pair for asset, pair in awaiting.items() if asset not in answered}
        expected = {asset: sha for asset, (_item, sha) in awaiting.items()}
        try:
            # The item layer's retries, as when each item confirmed itself: a throttled listing is
            # tried again with fresh request retries before anything is called failed.
            for attempt in retrying(ITEM, **self.engine.item_retry_kwargs):
                with attempt:
                    problems = transfer.confirm_all(lambda: self._target_hashes(target, key), expected,
                                                    sleep=self.settings.sleep or self.engine.pause)
        except transfer.Interrupted:
            return confirmed  # the rest stay "published": the next run's plan checks them against the target
        except (FatalError, KeyboardInterrupt):
            raise
        except Exception as err:  # noqa: BLE001 - the listing gave up: these items are not known to be there
            problems = {asset: f"confirming it: {type(err).__name__}: {err}" for asset in awaiting}
            gave_up = err
        else:
            gave_up = None
        for asset, (item, sha) in awaiting.items():
            if asset in problems:
                writer.transition(target, item.key, "failed", source_sha256=sha,
                                  reason=redact(f"{item.key}: {problems[asset]}"))
            else:
                confirm(item, sha)
        if gave_up is not None:
            self.engine.outage.failed(gave_up)  # unless the target is down: then the run stops here
        return confirmed

    @staticmethod
    def _confirmed_row(ctx: MappingContext, publish: PublishContext, item: SourceItem, sha: str) -> Transition:
        """The ``confirmed`` row of an asset the target shows with SHA-256 ``sha``, with the migrator's remark."""
        hook = getattr(ctx.migrator, "remark", None)
        return Transition(ctx.mapping.target, item.key, "confirmed", source_sha256=sha, target_sha256=sha,
                          reason=hook(publish, item.key) if hook else None)

    def _remember_answers(self, target: str, key: ItemKey, publish: PublishContext) -> None:
        """Record the publish answers as the version's listing, so the next run need not list it, if
        the plan found the version absent (no listing of it recorded): otherwise the target may hold
        assets the answers do not name, and the next run lists the version instead."""
        memory = self._memory
        if memory is None or not publish.shown_revision:
            return
        if memory.recorded(target, key.format.value, key.namespace, key.package, key.version):
            return
        memory.remember(target, key.format.value, key.namespace, key.package, key.version,
                        publish.shown_revision, list(publish.shown.values()))

    def _target_hashes(self, target: str, key: ItemKey) -> dict[str, str | None]:
        """The SHA-256 the target lists for each asset of ``key``'s version (empty if it is absent),
        from one listing of the version, which is also recorded (revision and assets) so the next run
        need not list the version again."""
        listing = self.domain.version_listing(target, key.format, key.namespace, key.package, key.version)
        if listing is None:
            return {}
        revision, assets = listing
        if self._memory is not None:
            self._memory.remember(target, key.format.value, key.namespace, key.package, key.version, revision,
                                  assets)
        return {a["name"]: (a.get("hashes") or {}).get("SHA-256") for a in assets}


def _item_of(row: ItemRow) -> SourceItem:
    checksums = json.loads(row.source_checksums) if row.source_checksums else {}
    return SourceItem(key=row.key, size=row.size, checksums=checksums, locator=row.locator or "",
                      repository=row.source_repo)
