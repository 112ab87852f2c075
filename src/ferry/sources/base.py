"""The small interface every source implements, and the file record it lists."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator, Mapping, Protocol

import requests

from ferry.errors import FatalError, RetryableError
from ferry.model import Checksums
from ferry.retry import cause_of


@dataclass(frozen=True)
class SourceFile:
    """One file in a source repository, as the source lists it.

    ``path`` has no leading slash. ``hints`` carries what the source knows of the file's identity in
    its own terms (``name``, ``version``, ``group``, ``classifier``, ``extension``...); the format's
    migrator decides the CodeArtifact identity from hints and path together.
    """

    repository: str
    path: str
    url: str
    size: int | None = None
    checksums: Checksums = field(default_factory=Checksums)
    hints: Mapping[str, str] = field(default_factory=dict)
    published: datetime | None = None


@dataclass(frozen=True)
class SourceRepository:
    """A repository of the source: its name, CodeArtifact format (None if ferry can't move it) and kind."""

    name: str
    format: str | None
    kind: str  # hosted | proxy | group (Nexus), local | remote | virtual (Artifactory)
    native_format: str


class Source(Protocol):
    """What the engine needs from any source."""

    kind: str

    def repository(self, name: str) -> SourceRepository:
        """The named repository. Raises :class:`ferry.errors.UsageError` if it does not exist."""

    def files(self, repository: str) -> Iterator[SourceFile]:
        """Every file of ``repository``, page by page (never the whole listing in memory).

        A source whose repositories hold several formats sets ``lists_by_format = True`` and takes a
        second argument, the format to list (``files(repository, "npm")``), and ``scope``, which of the versions
        it lists with nothing to read the job selects (they are counted, not listed); callers ask with
        ``getattr(source, "lists_by_format", False)``.
        """

    def open_locator(self, locator: str, label: str) -> requests.Response:
        """A streaming response for the bytes at ``locator`` (the ``url`` of a file this source listed).

        Raises RetryableError / FatalError / ItemError. ``label`` names the item in messages.
        """

    def dist_tags(self, repository: str, package_id: str) -> Mapping[str, str]:
        """npm dist-tags of a package (``{"latest": "1.2.0"}``), or ``{}`` when the source has none."""

    def npm_package(self, repository: str, package_id: str) -> Mapping[str, Mapping[str, str]]:
        """What the package's packument says beyond its files, from one read (two for a CodeArtifact
        source, whose dist-tag API also names tags its packument leaves out): ``{"dist_tags": {tag:
        version}, "deprecated": {version: message}}`` (see :func:`npm_facts_of`), both empty when the
        source has no such package.

        Optional: callers read it as ``getattr(source, "npm_package", None)`` and fall back to
        :meth:`dist_tags` (no deprecations). Raises as :meth:`dist_tags` does.
        """

    def swift_release_metadata(self, repository: str, scope: str, name: str, version: str) -> dict | None:
        """The ``metadata`` object of a Swift release as the source's registry API serves it
        (``GET {scope}/{name}/{version}``: author, description, licenseURL, repositoryURLs...), or None when
        the source has no such release, no metadata, or serves something that is not a JSON object.

        Optional: sources that cannot tell (Nexus has no Swift) leave it out, and callers read it as
        ``getattr(source, "swift_release_metadata", None)``. Scope and name may be given lowercased (the
        registry spec makes them case-insensitive). Not retried inside: callers run it under the request
        retry. Raises as the source's other reads do: RetryableError (transient), ItemError, FatalError.
        """

    def cargo_indexes(self, repository: str) -> tuple[str, ...]:
        """The index URLs cargo is configured with for ``repository`` where they are not a prefix of its files'
        URLs (Artifactory: ``{url}/api/cargo/{repo}/index`` and its virtual repositories'; CodeArtifact: the
        cargo endpoints of the repository and of those reaching it through upstreams; Nexus: the Cargo groups
        serving it), as a ``Cargo.toml``'s ``registry-index`` names them (without ``sparse+``).

        Optional, read as ``getattr(source, "cargo_indexes", None)``, under the request retry. Raises as the
        source's other reads do.
        """

    def cargo_yanked(self, repository: str, name: str) -> frozenset[str] | None:
        """The versions of crate ``name`` that the sparse index of ``repository`` marks ``"yanked": true``,
        from one streamed read of the crate's index file (:func:`yanked_in_index`); None where the source
        will not show that file, and the run's notes then say so (:class:`UnreadIndexes`).

        Optional, read as ``getattr(source, "cargo_yanked", None)``, under the request retry. Raises
        RetryableError (transient, or an answer cut short), FatalError, ItemError as the source's other reads.
        """


def source_gave_up(err: RetryableError) -> FatalError:
    """The error that ends a run whose first request to the source (its repository list) kept failing through
    every retry. With no answer at all (refused, timed out), or one that is not JSON (a sign-in page), the
    ``[source] url`` may be wrong; an answer that was an error (429, a 5xx from the source or from a proxy in
    front of it, a body that broke off) came from the right url, and the run is to be made again once the
    source serves again."""
    cause = cause_of(err)
    if cause in ("429", "5xx") or (cause == "truncated" and "not JSON" not in str(err)):
        return FatalError(f"source not serving: {err}; it kept failing through every retry: run the same command "
                          "again once the source serves again")
    return FatalError(f"source unreachable: {err}; check [source] url")


def aggregating(repository: str, members: Mapping[str, Iterable[str]]) -> list[str]:
    """The repositories of ``members`` (repository -> the repositories it reads from: a Nexus group's members,
    an Artifactory virtual repository's, a CodeArtifact repository's upstreams) that reach ``repository``,
    directly or through another of them, sorted; ``repository`` itself is never one."""
    found: set[str] = set()
    todo = [repository]
    while todo:  # an aggregate may itself be a member of another
        member = todo.pop()
        for name, reads in members.items():
            if member in reads and name not in found and name != repository:
                found.add(name)
                todo.append(name)
    return sorted(found)


def cargo_index_file(name: str) -> str:
    """Where crate ``name``'s file is in a sparse index: Cargo's rule, by the lower-cased name's length."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def yanked_in_index(resp: requests.Response, what: str) -> frozenset[str] | None:
    """The versions whose line in a crate's sparse-index file (the answer ``resp``, streamed and closed here)
    says ``"yanked": true``; absent means not yanked, as cargo reads it. None when the answer is no index file
    at all (its first line is not a JSON object: a proxy's or login page): asking again would not change it,
    and the crate is no less worth copying. Raises RetryableError when the answer is cut short (a later line is
    not a JSON object, or the connection broke off)."""
    yanked = set()
    first = True
    try:
        for line in resp.iter_lines():
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                entry = None
            if not isinstance(entry, dict):
                if first:
                    return None
                raise RetryableError(f"{what}: a line is not a JSON object (cut short?)")
            first = False
            if entry.get("yanked") is True:
                yanked.add(str(entry.get("vers")))
    except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
        raise RetryableError(f"{what}: {type(err).__name__}") from None
    finally:
        resp.close()
    return frozenset(yanked)


def yanked_from_answer(resp: requests.Response, what: str, raise_for: Callable[[requests.Response, str], None],
                       unread: Callable[[str], None]) -> frozenset[str] | None:
    """The yanked versions a source's answer ``resp`` to a crate's index file gives (:func:`yanked_in_index`);
    None, after telling ``unread`` why, where the source will not show the file (a 4xx other than 429) or the
    answer is no index file. ``raise_for`` is the source's check of any other answer. Raises what it raises
    (RetryableError for 429 and 5xx), RetryableError for an answer cut short."""
    if 400 <= resp.status_code < 500 and resp.status_code != 429:
        resp.close()
        unread(f"HTTP {resp.status_code}")
        return None
    try:
        raise_for(resp, what)
    except Exception:
        resp.close()
        raise
    yanked = yanked_in_index(resp, what)
    if yanked is None:
        unread("the answer is not a Cargo index file")
    return yanked


class UnreadIndexes:
    """The repositories whose Cargo index a source would not show: each is said once in the run's notes (by
    whichever worker meets it first), however many of its crates could not be read."""

    def __init__(self) -> None:
        self._noted: set[str] = set()
        self._lock = threading.Lock()

    def note(self, notes: list[str], repository: str, crate: str, why: str) -> None:
        with self._lock:
            if repository in self._noted:
                return
            self._noted.add(repository)
        notes.append(f"{repository}: could not read the Cargo index file of {crate} ({why}), so which of the "
                     "repository's crate versions are yanked is not known: any that are yanked are copied without "
                     "saying so; let the source's user read the repository's Cargo index to have them named")


SWIFT_ACCEPT = "application/vnd.swift.registry.v1+json"  # the Swift registry API's release document
# What npm itself sends for a packument: the abbreviated ("corgi") document where the registry has one
# (dist-tags and per version only what an install needs: a large package's is a small fraction of the
# full one), the full document otherwise. Both carry dist-tags and each version's deprecation, all ferry
# reads from a packument.
NPM_PACKUMENT_ACCEPT = "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*"


def npm_deprecations_of(packument: object) -> dict[str, str]:
    """``{version: message}`` for each version a packument marks ``deprecated`` (an empty message means
    not deprecated, as npm reads it)."""
    versions = packument.get("versions") if isinstance(packument, Mapping) else None
    if not isinstance(versions, Mapping):
        return {}
    return {str(version): manifest["deprecated"] for version, manifest in versions.items()
            if isinstance(manifest, Mapping) and isinstance(manifest.get("deprecated"), str) and manifest["deprecated"]}


def npm_facts_of(packument: object) -> dict[str, dict[str, str]]:
    """What ferry reads from a source's packument: ``{"dist_tags": {tag: version}, "deprecated":
    {version: message}}`` (both empty for something that is not a packument)."""
    tags = packument.get("dist-tags") if isinstance(packument, Mapping) else None
    return {"dist_tags": {str(k): str(v) for k, v in (tags if isinstance(tags, Mapping) else {}).items()},
            "deprecated": npm_deprecations_of(packument)}


def swift_metadata_of(resp: requests.Response) -> dict | None:
    """The non-empty ``metadata`` object of a Swift release document, else None (not JSON, not an object)."""
    try:
        doc = resp.json()
    except ValueError:
        return None
    metadata = doc.get("metadata") if isinstance(doc, dict) else None
    return metadata if isinstance(metadata, dict) and metadata else None


def parse_time(text: object) -> datetime | None:
    """An ISO 8601 timestamp as sources report them (``Z`` or ``+00:00``), or None if absent or unreadable."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
