"""Value types and service errors of the CodeArtifact stand-in's store.

Kept apart from :mod:`ferry.sandbox.codeartifact.store` so the store's mixins (catalog, package groups)
can use them without importing the store itself; ``store`` re-exports every name defined here.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
from dataclasses import dataclass
from typing import Any

DEFAULT_ACCOUNT = "111122223333"
STATUSES = ("Published", "Unfinished", "Unlisted", "Archived", "Disposed", "Deleted")
FORMATS = ("npm", "pypi", "maven", "nuget", "generic", "ruby", "swift", "cargo")
# Formats whose packages always have a namespace (API calls on their versions must name it).
NAMESPACED_FORMATS = ("maven", "swift", "generic")
# Formats that have no namespace component at all.
NAMESPACELESS_FORMATS = ("pypi", "nuget", "ruby", "cargo")


class StoreError(Exception):
    """A service error: ``code`` is the AWS exception name, ``status`` its HTTP status."""

    code = "ValidationException"
    status = 400

    def __init__(self, message: str, resource_type: str | None = None, resource_id: str | None = None):
        super().__init__(message)
        self.message = message
        self.resource_type = resource_type
        self.resource_id = resource_id


class ValidationError(StoreError):
    code, status = "ValidationException", 400


class AccessDenied(StoreError):
    code, status = "AccessDeniedException", 403


class NotFound(StoreError):
    code, status = "ResourceNotFoundException", 404


class Conflict(StoreError):
    code, status = "ConflictException", 409


class QuotaExceeded(StoreError):
    code, status = "ServiceQuotaExceededException", 402


class Throttled(StoreError):
    """HTTP 429; render with a ``Retry-After`` header (botocore maps it to ``retryAfterSeconds``)."""

    code, status = "ThrottlingException", 429

    def __init__(self, message: str = "Rate exceeded", retry_after: float = 1.0):
        super().__init__(message)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        """The ``Retry-After`` header (whole seconds, at least 1)."""
        return {"Retry-After": str(max(1, int(round(self.retry_after))))}


class InternalError(StoreError):
    code, status = "InternalServerException", 500


class UnknownOperation(StoreError):
    code, status = "UnknownOperationException", 404


class OriginBlocked(AccessDenied):
    """Publishing is blocked by the package's (or its package group's) origin configuration."""


@dataclass(frozen=True)
class Domain:
    id: int
    region: str
    owner: str
    name: str
    created: float
    encryption_key: str | None

    @property
    def arn(self) -> str:
        return f"arn:aws:codeartifact:{self.region}:{self.owner}:domain/{self.name}"


@dataclass(frozen=True)
class Repository:
    id: int
    domain: Domain
    name: str
    description: str | None
    created: float
    upstreams: list[str]
    external_connections: list[str]

    @property
    def arn(self) -> str:
        d = self.domain
        return f"arn:aws:codeartifact:{d.region}:{d.owner}:repository/{d.name}/{self.name}"


@dataclass(frozen=True)
class Package:
    id: int
    repo_id: int
    format: str
    namespace: str  # '' when the package has none
    name: str
    display_name: str | None
    publish: str
    upstream: str


@dataclass(frozen=True)
class Version:
    """A package version. ``metadata`` keys the control plane reports (all optional): ``summary``,
    ``homePage``, ``sourceCodeRepository``, ``licenses`` ([{name, url}]), ``readme``,
    ``dependencies`` ([{namespace, package, dependencyType, versionRequirement}])."""

    id: int
    package_id: int
    version: str
    revision: str
    status: str
    published: float
    changed: float
    metadata: dict[str, Any]
    origin_type: str
    entry_repo: str | None = None  # repository through which the version entered the domain


@dataclass(frozen=True)
class Asset:
    name: str
    size: int
    md5: str
    sha1: str
    sha256: str
    sha512: str

    def hashes(self) -> dict[str, str]:
        return {"MD5": self.md5, "SHA-1": self.sha1, "SHA-256": self.sha256, "SHA-512": self.sha512}


def new_revision() -> str:
    """An opaque revision string, changed whenever a version's assets or metadata change."""
    return secrets.token_urlsafe(32)[:44]


def label(namespace: str | None, name: str) -> str:
    """``namespace/name``, or ``name`` when there is no namespace (for messages)."""
    return f"{namespace}/{name}" if namespace else name


def row_domain(r: sqlite3.Row) -> Domain:
    return Domain(r["id"], r["region"], r["owner"], r["name"], r["created"], r["encryption_key"])


def row_repository(r: sqlite3.Row, domain: Domain) -> Repository:
    return Repository(
        r["id"], domain, r["name"], r["description"], r["created"],
        json.loads(r["upstreams"]), json.loads(r["external_connections"]),
    )


def row_package(r: sqlite3.Row) -> Package:
    return Package(r["id"], r["repo_id"], r["format"], r["namespace"], r["name"], r["display_name"],
                   r["publish"], r["upstream"])


def row_version(r: sqlite3.Row) -> Version:
    return Version(r["id"], r["package_id"], r["version"], r["revision"], r["status"], r["published"],
                   r["changed"], json.loads(r["metadata"]), r["origin_type"], r["entry_repo"])


def row_asset(r: sqlite3.Row) -> Asset:
    return Asset(r["name"], r["size"], r["md5"], r["sha1"], r["sha256"], r["sha512"])
