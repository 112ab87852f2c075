"""One repository mapping's share of a ``replicate`` run: decide what changed, plan it, then settle it.

Scanning costs one ListPackages walk of the source repository and one ListPackageVersions walk per
package, whatever the number of versions. A version whose revision differs from the remembered one
(or that is new, or every version on a full reconcile) has its assets listed on both sides and planned
into the ledger like any migration; a version whose status alone changed needs no listing at all.
After the bytes have moved, :meth:`RepoPass.settle` brings statuses, deletions, npm dist-tags and npm
deprecation messages in step and remembers exactly the versions that are.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable

import requests
from botocore.exceptions import ClientError

from ferry.codeartifact import Domain
from ferry.config import Job, RepositoryMapping
from ferry.engine import MappingContext
from ferry.errors import FatalError, FerryError, ItemError, ListedTwice, UsageError
from ferry.inventory import VERSIONS_AT_ONCE
from ferry.migrators import MIGRATORS
from ferry.migrators.base import PublishContext
from ferry.migrators.npm import package_id, sync_deprecations, sync_dist_tags
from ferry.model import Checksums, ItemKey, SourceItem, TargetItem
from ferry.plan import plan
from ferry.replicators import batches
from ferry.replicators.memory import Memory, VersionId
from ferry.retry import is_retryable
from ferry.sources.codeartifact import CodeArtifactSource
from ferry.state.ledger import DONE, LedgerWriter

SETTABLE = ("Published", "Unlisted", "Archived")  # what UpdatePackageVersionsStatus can set
SETTLED = (*DONE, "only_in_target", "unmappable", "skipped")  # ledger states that need nothing more from a run


@dataclass
class Pending:
    """A version planned this run: what the source listed and what the target had before."""

    revision: str | None
    status: str
    target_status: str | None  # None: the target did not have it


@dataclass
class RepoPass:
    """The work of one ``[[repositories]]`` mapping in one run."""

    job: Job
    mapping: RepositoryMapping
    source: CodeArtifactSource
    target: Domain
    memory: Memory
    full: bool
    started: str
    propagate_deletes: bool = False
    contexts: dict[str, MappingContext] = field(default_factory=dict)
    pending: dict[VersionId, Pending] = field(default_factory=dict)
    status_only: dict[VersionId, tuple[str | None, str]] = field(default_factory=dict)
    disposed: list[VersionId] = field(default_factory=list)
    gone: list[VersionId] = field(default_factory=list)
    npm_packages: dict[tuple[str, str], bool] = field(default_factory=dict)  # (ns, name) -> versions changed
    npm_listed: set[VersionId] = field(default_factory=set)  # the npm versions the scan listed, with assets
    tally: Counter = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)

    # -- scanning and planning

    def context(self, fmt: str) -> MappingContext:
        if fmt not in self.contexts:
            self.contexts[fmt] = MappingContext(self.mapping, fmt, MIGRATORS[fmt])
        return self.contexts[fmt]

    def selects(self, fmt: str, ns: str, name: str, version: str) -> bool:
        """Whether the job's include/exclude take this version (decided from names, before any listing)."""
        return self.mapping.selects(ItemKey(fmt, ns, name, version, ""), self.job.options)

    def scan(self, writer: LedgerWriter, target_exists: bool) -> None:
        """List the source, compare with memory, and plan every new or changed version into the ledger."""
        m = self.mapping
        remembered = self.memory.versions(m.target)
        seen: set[VersionId] = set()
        formats: set[str] = set()
        for pkg in self.source.domain.packages(m.source, m.format):
            fmt, ns, name = pkg["format"], pkg.get("namespace") or "", pkg["package"]
            formats.add(fmt)
            if fmt not in MIGRATORS:
                self.tally["packages of formats this ferry cannot publish"] += 1
                continue
            content, selected = [], False
            for ver in self.source.versions(m.source, fmt, ns, name):
                vid = (fmt, ns, name, ver["version"])
                seen.add(vid)
                status, known = ver.get("status", "Published"), remembered.get(vid)
                if fmt == "npm" and status not in ("Unfinished", "Deleted", "Disposed"):
                    # A version with no assets to copy never reaches the target: a tag on it is left as the
                    # target has it, as a tag of a version published after this scan is.
                    self.npm_listed.add(vid)
                if not self.selects(fmt, ns, name, ver["version"]):
                    continue
                selected = True
                if status in ("Unfinished", "Deleted"):
                    continue
                if status == "Disposed":
                    if known is not None and known.status != "Disposed":
                        self.disposed.append(vid)
                    continue
                if self.full or known is None or known.revision != ver.get("revision"):
                    content.append(ver)
                elif known.status != status:
                    self.status_only[vid] = (ver.get("revision"), status)
            if fmt == "npm" and selected:
                self.npm_packages[(ns, name)] = bool(content) or any(v[:3] == (fmt, ns, name) for v in self.status_only)
            if content:
                self._plan_package(writer, fmt, ns, name, content, target_exists)
        scope = {m.format} if m.format else None
        self.gone = [vid for vid, known in remembered.items()
                     if vid not in seen and known.status != "Deleted" and (scope is None or vid[0] in scope)]
        for ctx in self.contexts.values():  # the listing has ended: what identify kept for it is dropped
            forget = getattr(ctx.migrator, "forget", None)
            if forget is not None:
                forget(m)

    def _plan_package(self, writer: LedgerWriter, fmt: str, ns: str, name: str, versions: list[dict],
                      target_exists: bool) -> None:
        target_versions = self._target_versions(fmt, ns, name) if target_exists else {}
        # A run of versions at a time, both sides' items of each version in the same run (the screen compares
        # builds within a version): every version's items at once cost a package of 10,000 versions 34 MB.
        for start in range(0, len(versions), VERSIONS_AT_ONCE):
            self._plan_versions(writer, fmt, ns, name, versions[start:start + VERSIONS_AT_ONCE], target_versions)
        self.tally["versions whose assets were listed"] += len(versions)

    def _plan_versions(self, writer: LedgerWriter, fmt: str, ns: str, name: str, versions: list[dict],
                       target_versions: dict[str, str]) -> None:
        m, ctx = self.mapping, self.context(fmt)
        want, have = [], []
        for ver in versions:
            for file in self.source.version_files(m.source, fmt, ns, name, ver["version"], ver.get("revision"),
                                                  ver.get("status", "Published")):
                item = ctx.migrator.identify(file, m)
                if item is None or (item.unmappable is None and not m.selects(item.key, self.job.options)):
                    continue
                want.append(item)
            if not any(i.key.version_id[1:] == (ns, name, ver["version"]) for i in want):
                continue  # nothing of this version is in the job's scope
            tstatus = target_versions.get(ver["version"])
            self.pending[(fmt, ns, name, ver["version"])] = Pending(ver.get("revision"), ver.get("status",
                                                                                               "Published"), tstatus)
            if tstatus in (None, "Deleted", "Disposed"):
                continue
            for asset in self.target.assets(m.target, fmt, ns, name, ver["version"]):
                have.append(TargetItem(key=ItemKey(fmt, ns, name, ver["version"], asset["name"]), size=asset.get("size"),
                                       checksums=Checksums.from_mapping(asset.get("hashes")), status=tstatus,
                                       repository=m.target))
        try:
            for entry in plan(screened(ctx.migrator, want), have):
                writer.planned(entry, m.source, m.target)
        except ListedTwice as err:
            raise UsageError(f"repository {m.source!r}: {err}") from None

    def _target_versions(self, fmt: str, ns: str, name: str) -> dict[str, str]:
        try:
            return {v["version"]: v.get("status", "Published")
                    for v in self.target.versions(self.mapping.target, fmt, ns, name)}
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return {}
            raise

    # -- settling

    def version_states(self, reader_db, vid: VersionId) -> list[str]:
        fmt, ns, name, version = vid
        rows = reader_db.execute("SELECT state FROM items WHERE target_repo=? AND format=? AND namespace=? "
                                 "AND package=? AND version=?", [self.mapping.target, fmt, ns, name, version])
        return [r[0] for r in rows]

    def settle(self, reader_db, session: Any) -> bool:
        """Statuses, deletions and dist-tags; remember what is in step. Returns True if nothing failed."""
        m, clean = self.mapping, True
        keep: list[tuple[VersionId, str | None, str]] = []
        to_status: dict[tuple[str, str, str, str], dict[str, tuple[VersionId, str | None, str]]] = defaultdict(dict)
        for vid, p in self.pending.items():
            states = self.version_states(reader_db, vid)
            if not states or any(s not in SETTLED for s in states):
                self.tally["versions not in step (see failures)"] += 1
                clean = False
                continue
            if "unmappable" in states:
                # Listed as unmappable in the report once; remembered so that nightly runs do not list
                # it again until the source re-publishes it (a new revision).
                self.tally["versions ferry cannot place (unmappable)"] += 1
                keep.append((vid, p.revision, p.status))
                continue
            if all(s == "skipped" for s in states):
                # Left out by the job (Maven SNAPSHOTs under snapshots = "skip"): remembered like unmappable ones.
                # A version with only some files skipped (a SNAPSHOT's older builds under "timestamped") was copied.
                self.tally["versions skipped by the job's settings"] += 1
                keep.append((vid, p.revision, p.status))
                continue
            now_status = p.target_status if p.target_status in SETTABLE else "Published"
            if p.target_status is None or p.target_status in ("Deleted",):
                self.tally["versions copied"] += 1
            if p.status in SETTABLE and p.status != now_status:
                to_status[(*vid[:3], p.status)][vid[3]] = (vid, p.revision, p.status)
            else:
                keep.append((vid, p.revision, p.status))
        for vid, (revision, status) in self.status_only.items():
            if status in SETTABLE:
                to_status[(*vid[:3], status)][vid[3]] = (vid, revision, status)
        lost: list[VersionId] = []
        for (fmt, ns, name, status), versions in sorted(to_status.items()):
            result = batches.set_status(self.target, m.target, fmt, ns, name, list(versions), status)
            for ver in result.ok:
                keep.append(versions[ver])
                self.tally[f"versions set {status}"] += 1
            for ver, why in result.failed.items():
                clean = False
                again = ""
                if why.startswith("NOT_FOUND"):
                    # The target lost the version (removed by hand): forgotten, so the next run copies it again.
                    lost.append(versions[ver][0])
                    again = "; the target no longer has it: the next run copies it again"
                self.problems.append(f"{m.target}: {fmt} {_label(ns, name)} {ver}: status {status} not set "
                                     f"({why}){again}")
        self.memory.remember(m.target, m.source, keep)
        self.memory.forget(m.target, lost)
        clean &= self._deletions()
        clean &= self._dist_tags(session)
        return clean

    def _deletions(self) -> bool:
        m, clean = self.mapping, True
        for kind, vids in (("disposed", self.disposed), ("deleted", self.gone)):
            if not vids:
                continue
            if not self.propagate_deletes:
                self.tally[f"versions {kind} in the source, kept in the target (--propagate-deletes)"] += len(vids)
                continue
            if kind == "deleted":
                vids = [vid for vid in vids if self._gone_from_source(vid)]
            by_pkg: dict[tuple[str, str, str], list[str]] = defaultdict(list)
            for vid in vids:
                by_pkg[vid[:3]].append(vid[3])
            for (fmt, ns, name), versions in sorted(by_pkg.items()):
                act = batches.dispose if kind == "disposed" else batches.delete
                result = act(self.target, m.target, fmt, ns, name, versions)
                done = result.ok + [v for v, why in result.failed.items() if why.startswith("NOT_FOUND")]
                for ver, why in result.failed.items():
                    if not why.startswith("NOT_FOUND"):
                        clean = False
                        self.problems.append(f"{m.target}: {fmt} {_label(ns, name)} {ver}: not {kind} ({why})")
                self.tally[f"versions {kind}"] += len(result.ok)
                ids = [(fmt, ns, name, v) for v in done]
                # Left confirmed, their rows would have reports count as copied files the target no longer has.
                self.memory.writer.removed(m.target, ids, kind, f"{kind} in the source, so {kind} in the target "
                                                                "(--propagate-deletes)")
                if kind == "disposed":
                    self.memory.remember(m.target, m.source, [(vid, None, "Disposed") for vid in ids])
                else:
                    self.memory.forget(m.target, ids)
                    if done and not self._drop_if_gone(fmt, ns, name):
                        clean = False
        return clean

    def _drop_if_gone(self, fmt: str, ns: str, name: str) -> bool:
        """After versions were deleted in the target: a package the source no longer has at all (DeletePackage)
        is deleted in the target too, so that no empty package stays listed there and no npm dist-tag is left
        pointing at a deleted version. A package still holding a version ferry did not delete (published in
        the target only) is kept. Returns False, with a problem, if the target refused or kept failing.
        Raises :class:`ClientError` or FerryError when a read of either side fails."""
        m, coords = self.mapping, {"format": fmt, "package": name, **({"namespace": ns} if ns else {})}
        try:
            self.source.domain.read("describe_package", repository=m.source, **coords)
            return True  # the source keeps the package (with no versions, or deleted ones): so does the target
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                raise
        if any(status != "Deleted" for status in self._target_versions(fmt, ns, name).values()):
            return True
        try:
            # Retried like a read: deleting a package that is already gone is answered "not found".
            self.target.read("delete_package", repository=m.target, **coords)
            self.tally["packages deleted (gone from the source)"] += 1
        except ClientError as err:
            if err.response["Error"]["Code"] != "ResourceNotFoundException":
                self.problems.append(f"{m.target}: {fmt} {_label(ns, name)}: package not deleted ({err})")
                return False
        except FerryError as err:
            self.problems.append(f"{m.target}: {fmt} {_label(ns, name)}: package not deleted ({err})")
            return False
        self.memory.forget_package(m.target, (fmt, ns, name))
        return True

    def _gone_from_source(self, vid: VersionId) -> bool:
        """Ask the source once more before deleting: a listing cut short must never delete anything."""
        fmt, ns, name, version = vid
        try:
            out = self.source.domain.read("describe_package_version", repository=self.mapping.source, format=fmt,
                                          package=name, packageVersion=version, **({"namespace": ns} if ns else {}))
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return True
            raise
        return out.get("packageVersion", {}).get("status") == "Deleted"

    def _dist_tags(self, session: Any) -> bool:
        """npm dist-tags and deprecation messages follow the source (a mirror: tags the source does not have
        are removed, versions it does not deprecate are un-deprecated). A package is touched only when its
        versions changed, on a full reconcile, or when the source's tags or messages differ from those
        remembered. Returns True if every package is in step; raises :class:`FatalError` (a side refuses the
        credentials or every new token) so that the run stops, as migrate's tags pass does."""
        m, clean = self.mapping, True
        if not self.npm_packages:
            return True
        remembered, messages = self.memory.dist_tags(m.target), self.memory.deprecations(m.target)
        ctx = PublishContext(self.target, m.target, session, {})
        for (ns, name), changed in sorted(self.npm_packages.items()):
            pid, key = package_id(ns, name), ("npm", ns, name)
            selected = lambda ver, ns=ns, name=name: self.selects("npm", ns, name, ver)  # noqa: E731
            where = "reading the source"
            try:
                # The source's reads are not retried on their own: the request retry is this one.
                facts = self.source.domain.retry(lambda p=pid: self.source.npm_package(m.source, p))
                where = "updating the target"
                # A version published in the source since the scan listed the package is not in the target
                # yet: its tags are neither set nor removed, and its deprecation waits, until the next run
                # copies it (what is remembered then differs from the source, so that run follows them).
                listed = lambda ver, ns=ns, name=name: ("npm", ns, name, ver) in self.npm_listed  # noqa: E731
                later = {tag for tag, ver in facts["dist_tags"].items() if not listed(ver)}
                want = {tag: ver for tag, ver in facts["dist_tags"].items() if selected(ver) and listed(ver)}
                deprecated = {ver: msg for ver, msg in facts["deprecated"].items() if selected(ver) and listed(ver)}
                # Remembered with the tags left as they are (on a version not listed: disposed, or newer than
                # the listing), so that the source dropping one of those is a change too and removes it.
                in_step = {**want, **{tag: facts["dist_tags"][tag] for tag in later}}
                if self.full or changed or remembered.get(key) != in_step:
                    try:
                        # Idempotent (a GET, then PUT/DELETE of single tags), so it runs under the request retry.
                        put, removed = self.target.retry(
                            lambda p=pid, w=want, k=later: sync_dist_tags(ctx, p, w, keep=k))
                    except ItemError:
                        if want or deprecated:
                            raise
                        # No version of it had anything to copy (disposed or unfinished before any run copied
                        # it): the target has no such package, so no tag or message to set or remove there.
                        self.memory.remember_tags(m.target, key, in_step)
                        self.memory.remember_deprecations(m.target, key, deprecated)
                        continue
                    self.tally["npm dist-tags set"] += put
                    self.tally["npm dist-tags removed"] += removed
                    self.memory.remember_tags(m.target, key, in_step)
                # A version copied in this run was deprecated as it was finished; the others change only when
                # the source's messages do, which touches no file (the revision stays).
                if self.full or messages.get(key, {}) != deprecated:
                    # Idempotent too: a GET of the packument, then one PUT if a message differs.
                    done = self.target.retry(lambda p=pid, d=deprecated: sync_deprecations(ctx, p, d, remove=selected))
                    self.tally["npm deprecation messages set"] += done
                    self.memory.remember_deprecations(m.target, key, deprecated)
            except FatalError:
                raise  # new tokens refused, credentials refused: not this package's fault, so the run stops
            except (FerryError, requests.RequestException) as err:
                clean = False
                # The error names what was asked of which package; the line adds only what was not done.
                why = str(err) if pid in str(err) else f"{pid}: {err}"
                if is_retryable(err):
                    why = f"gave up after retries: {why}"
                self.problems.append(f"{m.target}: npm dist-tags and deprecations not in step ({where}): {why}")
                continue
        return clean


def screened(migrator: Any, items: list[SourceItem]) -> Iterable[SourceItem]:
    """``items`` through the migrator's ``screen`` hook when it has one (Maven: only a SNAPSHOT's newest
    build is published, older builds become skipped items), as :func:`ferry.inventory.want` does for a
    migrate; unchanged otherwise. ``items`` must hold every listed file of the versions it holds, since
    the screen compares builds within each version."""
    screen = getattr(migrator, "screen", None)
    return screen(items) if screen is not None else items


def _label(ns: str, name: str) -> str:
    return f"{ns}/{name}" if ns else name
