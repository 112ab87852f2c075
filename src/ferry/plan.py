"""The plan: a pure function of what the source has (*want*) and what the target has (*have*).

``plan(want, have)`` sorts every key into exactly one :class:`~ferry.model.Action`:

- ``SAME``: the target has the asset with the same content (SHA-256 when the source has one;
  otherwise the strongest digest both sides share, and the reason says which);
- ``CONFLICT``: the target has the asset with different content (or a Disposed version); with
  ``extra`` (``verify``), also a target-only asset in a version the source has too (see :func:`plan`);
- ``COPY``: the target lacks it, or holds it in a state the transfer must finish or check itself;
- ``ONLY_IN_TARGET``: listed by the target only (but a target-only file in an Unfinished version of which
  the source lists nothing is a ``CONFLICT``: see :data:`ORPHANED_UNFINISHED`);
- ``UNMAPPABLE``: the source adapter could not map it into CodeArtifact (its reason passes through);
- ``SKIPPED``: the job chose to leave it out (e.g. Maven SNAPSHOTs by default; its reason passes
  through). Not a failure, and the target is not consulted.

Memory model: call ``plan`` once per ``[[repositories]]`` mapping (one source repository → one
target repository). *have* is read completely into a :class:`~ferry.target_index.TargetIndex`
before the first entry is produced: a dict while small, a temporary SQLite file beyond 20,000
assets, so a large target costs no Python objects per asset. *want* is streamed: each source item
is compared, yielded and dropped. To guarantee that every key appears exactly once, the planner
also remembers each source key it has yielded, as a 128-bit digest with a fingerprint of its
content (about 120 bytes per asset: ~17 MB for 143,000 assets); it also remembers a digest of each
version it compared (spilled to a scratch file the same way), for verify's extra files and the target's
orphaned Unfinished versions. Entries for target-only
keys come last, sorted by key. Nothing is downloaded or called over the network.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from ferry.errors import ListedTwice
from ferry.model import Action, ItemKey, PlanEntry, SourceItem, TargetItem, VersionStatus
from ferry.target_index import SeenKeys, SeenVersions, TargetIndex

# Verdicts that mean the source's version was held against the target's (not unmappable, not skipped).
_COMPARED = (Action.COPY, Action.SAME, Action.CONFLICT)

# A version deleted in the source while it was being copied leaves the files already published in an Unfinished
# version in the target, which no later run lists from the source, finishes or mentions: it must not pass as
# the target's own content, which ferry leaves alone without a word.
ORPHANED_UNFINISHED = ("the target holds this file in an Unfinished version (clients cannot use it) that the "
                       "source does not list: deleted in the source after part of it was copied (or a publish into "
                       "the target still under way); delete the version in the target (aws codeartifact "
                       "delete-package-versions), or deploy it to the source again and rerun")


def _short(digest: str) -> str:
    return digest[:12] + "…"


def compare(source: SourceItem, target: TargetItem | None) -> tuple[Action, str]:
    """Decide what to do with one source item given the target's view of the same key.

    Returns ``(action, reason)``; the reason is ``''`` when there is nothing to add.
    The transfer step reuses this when it re-checks the target just before publishing.
    """
    if source.unmappable:
        return Action.UNMAPPABLE, source.unmappable
    if source.skipped:
        return Action.SKIPPED, source.skipped
    if target is None:
        return Action.COPY, ""
    status = target.status
    if status == VersionStatus.DELETED:
        return Action.COPY, "version was deleted in the target; publishing it again"
    if status == VersionStatus.DISPOSED:
        return Action.CONFLICT, (
            "version is Disposed in the target (its assets are gone); delete the version there to publish it again"
        )
    algo = source.checksums.common_algorithm(target.checksums)
    if algo is None:
        if source.size is not None and target.size is not None and source.size != target.size:
            return Action.CONFLICT, (
                f"size differs (source {source.size} bytes, target {target.size} bytes); no comparable checksum"
            )
        return Action.COPY, (
            "target has this asset but no checksum comparable with the source's; "
            "the transfer hashes the download and compares before publishing"
        )
    weaker = "" if algo == "sha256" else f" (source has no sha256; compared {algo})"
    want_digest, have_digest = source.checksums[algo], target.checksums[algo]
    if want_digest != have_digest:
        return Action.CONFLICT, f"{algo} differs: source {_short(want_digest)}, target {_short(have_digest)}{weaker}"
    if status == VersionStatus.UNFINISHED:
        return Action.COPY, "identical asset present but the version is Unfinished in the target; publish to finish it"
    notes = []
    if algo != "sha256":
        notes.append(f"matched by {algo} only (source has no sha256)")
    if status != VersionStatus.PUBLISHED:
        notes.append(f"version is {status} in the target")
    return Action.SAME, "; ".join(notes)


def index_target(have: Iterable[TargetItem]) -> dict[ItemKey, TargetItem]:
    """Index a target listing by key. Returns the dict.

    A key listed twice with the same content is kept once; twice with different content raises
    :class:`~ferry.errors.ListedTwice` (a target cannot hold two assets under one key, so the listing is broken).
    """
    index: dict[ItemKey, TargetItem] = {}
    for item in have:
        prior = index.get(item.key)
        if prior is not None and (prior.checksums, prior.size) != (item.checksums, item.size):
            raise ListedTwice(f"target listed {item.key} twice with different content")
        index.setdefault(item.key, item)
    return index


def content_fingerprint(item: SourceItem) -> int:
    """What tells two source files of one key apart: equal for the same content and verdicts."""
    return hash((item.size, item.checksums, item.unmappable, item.skipped))


def plan(want: Iterable[SourceItem], have: Iterable[TargetItem], check_unique: bool = True,
         extra: Callable[[ItemKey], bool] | None = None) -> Iterator[PlanEntry]:
    """Yield one :class:`PlanEntry` per key found in *want* or *have*, each key exactly once.

    Source entries come in *want* order, then target-only entries sorted by key. A source key
    repeated with identical size/checksums is yielded once. Raises :class:`~ferry.errors.ListedTwice` when *want*
    repeats a key with different content (two source assets map onto one CodeArtifact identity,
    e.g. names equal after normalization: the source adapter must report such collisions as
    unmappable) or when *have* does (see :func:`index_target`). ``check_unique=False`` leaves the
    repeat check (and its memory) to a caller whose *want* is already free of repeats. Lazy: nothing
    is read before the first ``next()``.

    ``extra`` (``verify``): a target-only key for which ``extra(key)`` is true, in a version whose
    source assets were compared with the target (not only unmappable or skipped ones), is a
    ``CONFLICT``: the target's version differs from the source's. Without ``extra``, or where it says
    false (files the target derives itself), target-only keys are ``ONLY_IN_TARGET``, and so are those
    of versions or packages the source does not have: they are the target's own. Except, with or without
    ``extra``, a target-only key in an Unfinished version of which the source compared nothing: a
    ``CONFLICT`` (:data:`ORPHANED_UNFINISHED`), as no run would otherwise finish it or say so.
    """
    targets = TargetIndex(have)
    seen = SeenKeys() if check_unique else None
    versions = SeenVersions()  # the versions compared: verify's extra files, orphaned Unfinished ones
    last_version: tuple[str, ...] | None = None  # a version's items come together: add it once
    try:
        for item in want:
            if seen is not None:
                verdict = seen.add(item.key, content_fingerprint(item))
                if verdict == "different":
                    raise ListedTwice(f"source listed {item.key} twice with different content")
                if verdict == "same":
                    continue
            target = targets.pop(item.key)
            action, reason = compare(item, target)
            if action in _COMPARED and item.key.version_id != last_version:
                last_version = item.key.version_id
                versions.add(last_version)
            yield PlanEntry(item.key, action, item, target, reason)
        if seen is not None:
            seen.close()
        for target in targets.leftovers():
            k = target.key
            compared = k.version_id in versions
            if compared and extra is not None and extra(k):
                yield PlanEntry(k, Action.CONFLICT, None, target,
                                f"the target's {k.version} holds {k.asset}, which the source's {k.version} does not")
                continue
            if not compared and target.status == VersionStatus.UNFINISHED:
                yield PlanEntry(k, Action.CONFLICT, None, target, ORPHANED_UNFINISHED)
                continue
            yield PlanEntry(k, Action.ONLY_IN_TARGET, None, target, "")
    finally:
        targets.close()
        if seen is not None:
            seen.close()
        versions.close()
