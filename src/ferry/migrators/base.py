"""What every format migrator provides, and the context a publish runs in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Protocol

import requests

from ferry.codeartifact import Domain
from ferry.config import RepositoryMapping
from ferry.errors import FatalError, ItemError, PublishConflict, RetryableError
from ferry.http import retry_after_seconds
from ferry.model import Checksums, ItemKey, SourceItem
from ferry.ratelimit import endpoint_class
from ferry.redact import redact
from ferry.sources.base import Source, SourceFile

# Asset names ferry will accept: no path separators, no "." or "..", no control characters.
_SAFE_ASSET = re.compile(r"^(?!\.{1,2}$)[^/\\\x00-\x1f\x7f]{1,255}$")


def safe_asset_name(name: str) -> str | None:
    """``name`` if it is usable as one asset name (and never escapes a folder), else None."""
    return name if _SAFE_ASSET.match(name) else None


@dataclass(frozen=True)
class Spooled:
    """A downloaded asset on local disk, with the digests computed while it streamed in."""

    path: Path
    size: int
    checksums: Checksums


@dataclass
class PublishContext:
    """Where and how one item is published: the target domain and repository, and an HTTP session."""

    domain: Domain
    repository: str
    session: requests.Session
    package_facts: Mapping[str, Any]  # what the migrator's package_facts() read from the source
    # What the migrator's optional version_facts() read from the source for this version ({} without one).
    version_facts: Mapping[str, Any] = field(default_factory=dict)
    # What a migrator's publish learnt that its finish_version can use (one context per version).
    notes: dict[str, Any] = field(default_factory=dict)
    # Assets as the target described them in its answer to the publish ({"name", "size", "hashes"}),
    # by name, with the version's revision after the last of them: for formats whose publish answers
    # with what was stored (generic), the engine confirms from this without listing the version.
    shown: dict[str, dict[str, Any]] = field(default_factory=dict)
    shown_revision: str | None = None
    # What a migrator learns of a package that the run's later versions of it can use (``get(key)``,
    # ``put(key, value)``; bounded by the engine, shared by its workers); None outside a transfer.
    run_memory: Any = None

    def endpoint(self, fmt: str) -> str:
        return self.domain.endpoint(self.repository, fmt)

    def send(self, method: str, url: str, what: str, accept: tuple[int, ...] = (),
             **kwargs: Any) -> requests.Response:
        """An authenticated request to a package endpoint, with errors mapped to ferry's kinds.

        Writes (PUT/POST/DELETE) first wait for a slot of the domain limiter's publish class.
        A connection that fails or an answer cut short is retryable, named by ``what``.
        401 drops the token (the next try fetches a new one) and is retryable, unless new tokens keep being
        refused (:class:`FatalError`, see :meth:`Domain.drop_token`); 429/5xx are retryable;
        409 is a conflict (:class:`PublishConflict`, an ItemError); 403 is an :class:`ItemError` naming the
        permission a read lacks, or, for a write, origin controls and the permission.
        Statuses in ``accept`` (e.g. 404 for a file that may be absent) are returned like successes.
        """
        limited = endpoint_class(method)  # writes count against the publish quota
        limiter = getattr(self.domain, "limiter", None)
        if limiter is not None:
            limiter.acquire(limited)
        # The token is taken after the wait for a slot: one taken before it may have lapsed by the time it is sent.
        token = self.domain.token()
        headers = dict(kwargs.pop("headers", {}) or {})
        # How the token travels, as the format's own client sends it: Basic aws:TOKEN (default),
        # "bearer" (gem push) or "raw" (cargo's bare token).
        scheme = kwargs.pop("scheme", "basic")
        headers["Authorization"] = (f"Bearer {token}" if scheme == "bearer" else token if scheme == "raw"
                                    else requests.auth._basic_auth_str("aws", token))
        try:
            resp = self.session.request(method, url, headers=headers, timeout=kwargs.pop("timeout", 300), **kwargs)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            # ChunkedEncodingError: the answer was cut short (the request may have taken effect)
            raise RetryableError(f"{what}: {type(err).__name__}") from None
        status = resp.status_code
        if status != 401:
            self.domain.token_accepted(token)
        if status < 400 or status in accept:
            return resp
        if status == 429 and limiter is not None:
            limiter.throttled(limited)
        detail = _detail(resp)
        if status == 401:
            self.domain.drop_token(token)
            raise RetryableError(f"{what}: token refused (HTTP 401); fetching a new one")
        if status == 429 or status >= 500:
            raise RetryableError(f"{what}: HTTP {status}", retry_after=retry_after_seconds(resp))
        if status == 409:
            raise PublishConflict(f"{what}: the target already holds different content (HTTP 409){detail}")
        if status == 403 and method in ("GET", "HEAD"):
            # A read: origin controls never refuse one; the credentials' policy does.
            raise ItemError(f"{what}: reading refused (HTTP 403){detail}; give the target's credentials "
                            "codeartifact:ReadFromRepository on the repository")
        if status == 403:
            raise ItemError(f"{what}: publishing refused (HTTP 403){detail}; the package's origin controls may "
                            "block publishing (rerun with --origin-policy allow-publish), or the target's "
                            "credentials lack codeartifact:PublishPackageVersion on the package")
        if status in (400, 422):
            raise ItemError(f"{what}: the target rejected it (HTTP {status}){detail}")
        raise FatalError(f"{what}: unexpected HTTP {status} from the target{detail}")


# How much of a target's error answer is quoted in a reason, and how much of it is read to find secrets first.
_DETAIL_SHOWN = 200
_DETAIL_SCANNED = 64 * 1024  # a secret quoted past this is past the part shown too; an error page may be large


def _detail(resp: requests.Response) -> str:
    # Redacted before it is cut: a secret the server echoed (a token, a Basic header) that the cut falls
    # inside is no longer the value ferry.redact knows, and its first part would reach the ledger as is.
    text = redact(resp.text[:_DETAIL_SCANNED])[:_DETAIL_SHOWN].strip().replace("\n", " ") if resp.content else ""
    return f": {text}" if text else ""


class NoPackageFacts:
    """Mixin for formats that need nothing package-wide from the source."""

    def package_facts(self, source: Source, repository: str, key: ItemKey) -> Mapping[str, Any]:
        return {}


class Migrator(Protocol):
    """A format's rules. Implementations are stateless and shared by all workers."""

    format: str
    single_asset: bool  # a version holds exactly one asset (npm)
    # Optional: digests its publish needs besides SHA-256 (e.g. npm's SHA-1 and SHA-512), read by the
    # engine as ``getattr(migrator, "digests", ())`` so the download computes them while streaming.
    # Optional: ``version_facts(source, repository, item) -> Mapping[str, Any]``, read by the engine as
    # ``getattr(migrator, "version_facts", None)``: what the publish needs from the source about one
    # version besides its files (Swift: the release metadata). Called once per version, under the request
    # retry, with the version's first item; the result is ``PublishContext.version_facts``. If it raises
    # (after the retries), the version's items fail with the reason and nothing of it is published.
    # Optional: ``extra_differs(key) -> bool``, read by the engine as ``getattr(migrator, "extra_differs",
    # None)`` when verifying: whether the target asset ``key``, which the source's same version lacks, makes
    # that version differ from the source's (False for files the target derives itself, such as checksums).
    # Formats without it never fail verify for such an asset: it is listed as only in the target.
    # Optional: ``remark(ctx, key) -> str | None``, read by the engine as ``getattr(migrator, "remark", None)``
    # when it confirms a published asset: what that ledger row should say though nothing failed (Cargo: the
    # source has the version yanked), kept as the row's reason; ``ferry report`` lists such rows as remarks.
    # Optional: ``finishes_versions``, read by the engine as ``getattr(migrator, "finishes_versions", False)``:
    # True where a version is not usable in the target until ``finish_version`` has run (Maven: Unfinished
    # until its maven-metadata.xml lists it). The engine then writes the version's files ``confirmed`` only
    # once ``finish_version`` has returned (or the version is left unfinished because another file failed),
    # so a run killed or interrupted before that leaves them not done in the ledger.
    # Formats without it (npm: a version is whole once its one publish is) have theirs confirmed at once.
    # Optional: ``forget(mapping)``, called by ``inventory.want`` when a listing of ``mapping`` ends: drop what
    # identify kept for that listing (NuGet, Swift, Cargo and RubyGems claims), so the next listing of it starts afresh.
    # Optional, as a pair: ``identity_unknown(file) -> bool`` and ``read_identity(file, stream, spool) ->
    # Mapping[str, str]``. Where the first says only the file's own bytes can tell what it is (no identity hints, a
    # file name that reads several ways), ``inventory.want`` opens the file and the second reads the identity hints
    # from the stream (forward only, as little as it needs; what it must copy to disk goes into the folder
    # ``spool``, the job's ``--spool``, or the temporary folder where that is None); identify then sees them among
    # ``file.hints``, or, where the read failed (ItemError, or a RetryableError after the retries), the reason in
    # hint ``unreadable``.

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        """The item a source file is, None if it is not an item at all (checksum files, index pages),
        or an item with ``unmappable`` set when it can't be placed in CodeArtifact."""

    def package_facts(self, source: Source, repository: str, key: ItemKey) -> Mapping[str, Any]:
        """Package-wide facts the publish needs from the source (npm: dist-tags), read once per package."""

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        """Publish one asset through the format's native protocol. Raises ItemError/RetryableError/FatalError."""

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        """Called once the target shows every asset of a version with the expected SHA-256 (Maven metadata,
        dist-tags, status). May do nothing. Raises ItemError/RetryableError/FatalError."""


def unidentified(file: SourceFile) -> str:
    """The asset of an unmappable item whose identity ``file`` does not tell (or tells wrongly): its path, which
    no other file of the listing has. Keyed by the file name, two such files in different folders were one
    item: one ledger row, reported as a clash of the two instead of each with its reason, or the second
    dropped from every count when their bytes were the same."""
    return file.path


def source_item(file: SourceFile, key_parts: tuple[str, str, str, str, str], unmappable: str | None = None,
                **extras: Any) -> SourceItem:
    """A :class:`SourceItem` for ``file`` with key ``(format, namespace, package, version, asset)``."""
    from ferry.model import ItemKey

    return SourceItem(
        key=ItemKey(*key_parts), size=file.size, checksums=file.checksums, locator=file.url,
        repository=file.repository, published=file.published, unmappable=unmappable, extras=extras,
        status=file.hints.get("status"), origin=file.hints.get("origin"),
    )
