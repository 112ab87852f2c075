"""The nouns every part of ferry shares: item identity, what a side lists, and what the plan decides.

An *item* is one asset of one package version. Its identity is :class:`ItemKey`
``(format, namespace, package, version, asset)`` in CodeArtifact's terms (npm scope without ``@``,
Maven groupId as namespace, normalized PyPI/NuGet/Swift names). "No namespace" is always the empty
string ``''`` — never ``None`` — so keys sort, hash and store in SQLite (``NOT NULL`` unique
indexes) the same way everywhere; ``ItemKey`` turns a ``None`` it is given into ``''``.

Everything here is an immutable value; nothing here does I/O.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Format(StrEnum):
    """The eight CodeArtifact package formats ferry knows. Values are CodeArtifact's ``format`` strings."""

    NPM = "npm"
    PYPI = "pypi"
    MAVEN = "maven"
    NUGET = "nuget"
    GENERIC = "generic"
    RUBY = "ruby"
    SWIFT = "swift"
    CARGO = "cargo"


FORMATS: tuple[Format, ...] = tuple(Format)
# CodeArtifact requires a namespace for these in Copy/Delete/ListVersions...; npm's is optional (the scope).
NAMESPACE_REQUIRED: frozenset[Format] = frozenset({Format.MAVEN, Format.GENERIC, Format.SWIFT})
NAMESPACE_NEVER: frozenset[Format] = frozenset({Format.PYPI, Format.NUGET, Format.RUBY, Format.CARGO})


class VersionStatus(StrEnum):
    """CodeArtifact ``PackageVersionStatus`` values."""

    PUBLISHED = "Published"
    UNFINISHED = "Unfinished"
    UNLISTED = "Unlisted"
    ARCHIVED = "Archived"
    DISPOSED = "Disposed"
    DELETED = "Deleted"


@dataclass(frozen=True, order=True)
class ItemKey:
    """Identity of one asset: ``(format, namespace, package, version, asset)``.

    ``namespace`` is ``''`` when the item has none (``None`` is accepted and stored as ``''``).
    Raises ``ValueError`` for an unknown format and ``TypeError`` for non-string parts.
    """

    format: Format
    namespace: str
    package: str
    version: str
    asset: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "format", Format(self.format))
        if self.namespace is None:
            object.__setattr__(self, "namespace", "")
        for name in ("namespace", "package", "version", "asset"):
            value = getattr(self, name)
            if not isinstance(value, str):
                raise TypeError(f"ItemKey.{name} must be a string, not {type(value).__name__}")

    @property
    def display_name(self) -> str:
        """The package name as people write it: ``@types/node`` (npm), ``ns/pkg`` or just ``pkg``."""
        if not self.namespace:
            return self.package
        if self.format is Format.NPM:
            return f"@{self.namespace}/{self.package}"
        return f"{self.namespace}/{self.package}"

    @property
    def version_id(self) -> tuple[str, str, str, str]:
        """``(format, namespace, package, version)``: the package version this asset belongs to."""
        return (self.format.value, self.namespace, self.package, self.version)

    def __str__(self) -> str:
        return f"{self.format.value}:{self.display_name}@{self.version}/{self.asset}"


_HEX = re.compile(r"[0-9a-f]+")
_HEX_LENGTHS = {"sha256": 64, "sha512": 128, "sha1": 40, "md5": 32}
# Strongest first: comparisons use the first algorithm both sides have.
ALGORITHMS: tuple[str, ...] = ("sha256", "sha512", "sha1", "md5")


@functools.lru_cache(maxsize=256)  # a listing spells the same few keys for every asset
def _algorithm_name(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "")


@dataclass(frozen=True)
class Checksums(Mapping[str, str]):
    """Known digests of one asset, lower-case hex; any may be missing.

    Behaves as a read-only mapping of the algorithms present (``"sha256"``, ``"sha512"``, ``"sha1"``,
    ``"md5"``), so ``item.checksums.get("sha1")`` and ``item.checksums.sha1`` both work.
    Raises ``ValueError`` when a value is not hex of the algorithm's length.
    """

    sha256: str | None = None
    sha512: str | None = None
    sha1: str | None = None
    md5: str | None = None

    def __post_init__(self) -> None:
        for name in ALGORITHMS:
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ValueError(f"{name} checksum must be a hex string, not {type(value).__name__}")
            if len(value) == _HEX_LENGTHS[name] and _HEX.fullmatch(value):
                continue  # already lower-case hex, as listings give it: nothing to normalize
            norm = value.strip().lower()
            if len(norm) != _HEX_LENGTHS[name] or not _HEX.fullmatch(norm):
                raise ValueError(f"{name} checksum {value!r} is not {_HEX_LENGTHS[name]} hex digits")
            object.__setattr__(self, name, norm)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "Checksums":
        """Build from any spelling of the keys (``SHA-256``, ``sha_256``, ``sha256``, ``SHA1``...).

        CodeArtifact's ``hashes`` (``{"SHA-256": ...}``) and Nexus' ``checksum`` dicts both fit.
        Unknown algorithms and empty values are ignored; returns a :class:`Checksums`.
        Raises ``ValueError`` for malformed hex.
        """
        if values is None:
            return cls()
        if isinstance(values, Checksums):
            return values
        found: dict[str, str] = {}
        for name, value in values.items():
            algo = _algorithm_name(str(name))
            if algo in _HEX_LENGTHS and value:
                found[algo] = value
        return cls(**found)

    @classmethod
    def from_listing(cls, values: Mapping[str, Any] | None) -> "Checksums":
        """Like :meth:`from_mapping`, for a source's listing: a malformed digest is left out, the rest kept.

        One bad value (``"sha256": "N/A"``) must not cost the others: they are what checks the download.
        """
        try:
            return cls.from_mapping(values)
        except ValueError:
            pass
        found: dict[str, str] = {}
        for name, value in (values or {}).items():
            try:
                found.update(cls.from_mapping({name: value}).as_dict())
            except ValueError:
                continue
        return cls(**found)

    def __getitem__(self, name: str) -> str:
        algo = _algorithm_name(name)
        value = getattr(self, algo, None) if algo in _HEX_LENGTHS else None
        if value is None:
            raise KeyError(name)
        return value

    def __iter__(self) -> Iterator[str]:
        return (name for name in ALGORITHMS if getattr(self, name) is not None)

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def common_algorithm(self, other: "Checksums") -> str | None:
        """The strongest algorithm both have, or ``None`` when they share none."""
        for name in ALGORITHMS:
            if getattr(self, name) is not None and getattr(other, name) is not None:
                return name
        return None

    def as_dict(self) -> dict[str, str]:
        """The present digests as a plain dict."""
        return {name: value for name in ALGORITHMS if (value := getattr(self, name)) is not None}


def _checksums(value: Any) -> Checksums:
    return value if isinstance(value, Checksums) else Checksums.from_mapping(value)


@dataclass(frozen=True)
class SourceItem:
    """One asset as the source lists it (the *want* side).

    ``locator`` is whatever the source adapter needs to download it again (a URL or an opaque id).
    ``unmappable`` holds the reason when the item cannot be placed in CodeArtifact (the plan passes
    it through as UNMAPPABLE); ``skipped`` the reason when the job chose to leave it out (a Maven
    SNAPSHOT under ``snapshots = "skip"``: passed through as SKIPPED, not a failure). ``checksums``
    may be given as a dict; it is normalized to :class:`Checksums`. ``extras`` carries format-specific
    data the publisher needs (e.g. npm package.json fields) and takes no part in hashing. ``status`` is
    the source version's status where the source has statuses (a CodeArtifact source), else None;
    ``origin`` how such a source got the version when it was not published there
    (:func:`ferry.sources.codeartifact.origin_of`: ``external:public:npmjs``, ``upstream:REPO``), else None.
    """

    key: ItemKey
    size: int | None = None
    checksums: Checksums = field(default_factory=Checksums)
    locator: str = ""
    repository: str = ""
    published: datetime | None = None
    dist_tags: tuple[str, ...] = ()
    unmappable: str | None = None
    skipped: str | None = None
    extras: Mapping[str, Any] = field(default_factory=dict, hash=False)
    status: str | None = None
    origin: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "checksums", _checksums(self.checksums))
        object.__setattr__(self, "dist_tags", tuple(self.dist_tags))

    @property
    def sha256(self) -> str | None:
        """The source's SHA-256, if it publishes one."""
        return self.checksums.sha256


@dataclass(frozen=True)
class TargetItem:
    """One asset as the target CodeArtifact repository lists it (the *have* side).

    ``status`` is the package version's :class:`VersionStatus` value. CodeArtifact reports all
    four digests; ``sha256`` and ``checksums.sha256`` are kept in step whichever one is given.
    """

    key: ItemKey
    size: int | None = None
    sha256: str | None = None
    status: str = VersionStatus.PUBLISHED.value
    checksums: Checksums = field(default_factory=Checksums)
    repository: str = ""

    def __post_init__(self) -> None:
        sums = _checksums(self.checksums)
        if self.sha256 is not None:
            given = Checksums(sha256=self.sha256).sha256
            if sums.sha256 is not None and sums.sha256 != given:
                raise ValueError(f"{self.key}: sha256 and checksums['sha256'] disagree")
            sums = Checksums(**{**sums.as_dict(), "sha256": given})
        object.__setattr__(self, "checksums", sums)
        object.__setattr__(self, "sha256", sums.sha256)


class Action(StrEnum):
    """What the plan decided for one key."""

    COPY = "copy"
    SAME = "same"
    CONFLICT = "conflict"
    ONLY_IN_TARGET = "only-in-target"
    UNMAPPABLE = "unmappable"
    SKIPPED = "skipped"

    @property
    def sigil(self) -> str:
        """One character for dry-run listings: ``+`` copy, ``=`` same, ``*`` conflict, ``-`` only in target,
        ``?`` unmappable, ``~`` skipped."""
        return _SIGILS[self]


_SIGILS = {
    Action.COPY: "+",
    Action.SAME: "=",
    Action.CONFLICT: "*",
    Action.ONLY_IN_TARGET: "-",
    Action.UNMAPPABLE: "?",
    Action.SKIPPED: "~",
}


@dataclass(frozen=True)
class PlanEntry:
    """The plan's verdict for one key, with both sides as listed (either may be ``None``)."""

    key: ItemKey
    action: Action
    source: SourceItem | None = None
    target: TargetItem | None = None
    reason: str = ""

    def __str__(self) -> str:
        tail = f"  ({self.reason})" if self.reason else ""
        return f"{self.action.sigil} {self.key}{tail}"
