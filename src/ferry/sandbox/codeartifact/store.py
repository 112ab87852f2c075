"""State of the CodeArtifact stand-in: domains, repositories, packages, versions, assets, tokens.

Metadata lives in one SQLite file, bodies in a :class:`~ferry.sandbox.blobs.BlobStore`; both under the
stand-in's data folder, so a restart with the same folder finds everything again. The control plane and
every format's package endpoints go through this module, so the service's rules (identical re-publish
succeeds, different content conflicts, origin controls, statuses) hold the same way for all of them.

All methods are thread-safe (one connection, one lock): the stand-in is a threaded server.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ferry.sandbox.blobs import Blob, BlobStore
from ferry.sandbox.codeartifact.records import (  # noqa: F401 - re-exported: the store's public names
    DEFAULT_ACCOUNT, FORMATS, NAMESPACED_FORMATS, NAMESPACELESS_FORMATS, STATUSES, AccessDenied, Asset,
    Conflict, Domain, InternalError, NotFound, OriginBlocked, Package, QuotaExceeded, Repository, StoreError,
    Throttled, UnknownOperation, ValidationError, Version, new_revision,
)
from ferry.sandbox.codeartifact.records import label as _label
from ferry.sandbox.codeartifact.records import row_asset as _asset
from ferry.sandbox.codeartifact.records import row_domain as _domain
from ferry.sandbox.codeartifact.records import row_package as _package
from ferry.sandbox.codeartifact.records import row_repository as _repository
from ferry.sandbox.codeartifact.records import row_version as _version
from ferry.sandbox.codeartifact.store_catalog import CatalogMixin
from ferry.sandbox.codeartifact.store_groups import GroupsMixin, PackageGroup  # noqa: F401

_SCHEMA = """
CREATE TABLE IF NOT EXISTS domains (
    id INTEGER PRIMARY KEY, region TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL,
    created REAL NOT NULL, encryption_key TEXT, UNIQUE (region, owner, name));
CREATE TABLE IF NOT EXISTS repositories (
    id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    name TEXT NOT NULL, description TEXT, created REAL NOT NULL,
    upstreams TEXT NOT NULL DEFAULT '[]', external_connections TEXT NOT NULL DEFAULT '[]',
    UNIQUE (domain_id, name));
CREATE TABLE IF NOT EXISTS packages (
    id INTEGER PRIMARY KEY, repo_id INTEGER NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    format TEXT NOT NULL, namespace TEXT NOT NULL DEFAULT '', name TEXT NOT NULL, display_name TEXT,
    publish TEXT NOT NULL DEFAULT 'ALLOW', upstream TEXT NOT NULL DEFAULT 'BLOCK',
    UNIQUE (repo_id, format, namespace, name));
CREATE TABLE IF NOT EXISTS versions (
    id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE,
    version TEXT NOT NULL, revision TEXT NOT NULL, status TEXT NOT NULL, published REAL NOT NULL,
    changed REAL NOT NULL, metadata TEXT NOT NULL DEFAULT '{}', origin_type TEXT NOT NULL DEFAULT 'INTERNAL',
    entry_repo TEXT, UNIQUE (package_id, version));
CREATE TABLE IF NOT EXISTS assets (
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE, name TEXT NOT NULL,
    size INTEGER NOT NULL, md5 TEXT NOT NULL, sha1 TEXT NOT NULL, sha256 TEXT NOT NULL, sha512 TEXT NOT NULL,
    PRIMARY KEY (version_id, name));
CREATE TABLE IF NOT EXISTS dist_tags (
    package_id INTEGER NOT NULL REFERENCES packages(id) ON DELETE CASCADE, tag TEXT NOT NULL,
    version TEXT NOT NULL, PRIMARY KEY (package_id, tag));
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS package_groups (
    id INTEGER PRIMARY KEY, domain_id INTEGER NOT NULL REFERENCES domains(id) ON DELETE CASCADE,
    pattern TEXT NOT NULL, description TEXT, contact_info TEXT, created REAL NOT NULL,
    origin TEXT NOT NULL DEFAULT '{}', UNIQUE (domain_id, pattern));
CREATE TABLE IF NOT EXISTS policies (
    arn TEXT PRIMARY KEY, document TEXT NOT NULL, revision TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (arn, key));
"""


class Store(CatalogMixin, GroupsMixin):
    """The stand-in's persistent state under ``root`` (``codeartifact.db`` and ``blobs/``).

    Domain/repository lifecycle, listings, copies, policies and tags come from
    :class:`~.store_catalog.CatalogMixin`; package groups from :class:`~.store_groups.GroupsMixin`.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobStore(self.root / "blobs")
        self._db = sqlite3.connect(self.root / "codeartifact.db", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._depth = 0
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(_SCHEMA)
            columns = {r["name"] for r in self._db.execute("PRAGMA table_info(versions)")}
            if "entry_repo" not in columns:  # data folders made before the column existed
                self._db.execute("ALTER TABLE versions ADD COLUMN entry_repo TEXT")

    # -- plumbing ---------------------------------------------------------------------------------

    @contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """A transaction (nestable: inner blocks join the outer one). Holds the store's lock."""
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield self._db
            except BaseException:
                self._depth -= 1
                if outer:
                    self._db.execute("ROLLBACK")
                raise
            self._depth -= 1
            if outer:
                self._db.execute("COMMIT")

    def query(self, sql: str, params: tuple | dict = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- domains and repositories -------------------------------------------------------------------

    def create_domain(self, region: str, owner: str, name: str, encryption_key: str | None = None) -> Domain:
        """Create a domain. Raises :class:`Conflict` if it exists."""
        if encryption_key is None:
            encryption_key = f"arn:aws:kms:{region}:{owner}:key/{secrets.token_hex(16)}"
        with self.tx() as db:
            try:
                db.execute(
                    "INSERT INTO domains (region, owner, name, created, encryption_key) VALUES (?,?,?,?,?)",
                    (region, owner, name, time.time(), encryption_key),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"Domain {name} already exists", "domain", name) from None
            domain = self.domain(region, owner, name)
            self.ensure_root_group(domain)
        return domain

    def domain(self, region: str, owner: str | None, name: str) -> Domain:
        """The domain ``name`` in ``region`` (owner None: the default account). Raises :class:`NotFound`."""
        rows = self.query(
            "SELECT * FROM domains WHERE region=? AND owner=? AND name=?", (region, owner or DEFAULT_ACCOUNT, name)
        )
        if not rows:
            raise NotFound(f"Domain {name} not found", "domain", name)
        return _domain(rows[0])

    def domain_by_id(self, domain_id: int) -> Domain:
        return _domain(self.query("SELECT * FROM domains WHERE id=?", (domain_id,))[0])

    def domains(self, region: str) -> list[Domain]:
        return [_domain(r) for r in self.query("SELECT * FROM domains WHERE region=? ORDER BY name", (region,))]

    def create_repository(
        self, domain: Domain, name: str, description: str | None = None, upstreams: list[str] | None = None
    ) -> Repository:
        """Create a repository. Raises :class:`Conflict` if it exists, :class:`NotFound` for an unknown upstream."""
        upstreams = list(upstreams or [])
        with self.tx() as db:
            for up in upstreams:
                self.repository(domain, up)
            try:
                db.execute(
                    "INSERT INTO repositories (domain_id, name, description, created, upstreams) VALUES (?,?,?,?,?)",
                    (domain.id, name, description, time.time(), json.dumps(upstreams)),
                )
            except sqlite3.IntegrityError:
                raise Conflict(f"Repository {name} already exists", "repository", name) from None
        return self.repository(domain, name)

    def repository(self, domain: Domain, name: str) -> Repository:
        """The repository ``name`` of ``domain``. Raises :class:`NotFound`."""
        rows = self.query("SELECT * FROM repositories WHERE domain_id=? AND name=?", (domain.id, name))
        if not rows:
            raise NotFound(f"Repository {name} not found in domain {domain.name}", "repository", name)
        return _repository(rows[0], domain)

    def repositories(self, domain: Domain) -> list[Repository]:
        rows = self.query("SELECT * FROM repositories WHERE domain_id=? ORDER BY name", (domain.id,))
        return [_repository(r, domain) for r in rows]

    # -- tokens ------------------------------------------------------------------------------------

    def issue_token(self, domain: Domain, seconds: float) -> tuple[str, float]:
        """A new authorization token for ``domain`` valid for ``seconds``; returns (token, expiry epoch)."""
        token = "ferrysandbox." + secrets.token_urlsafe(48)
        expires = time.time() + seconds
        with self.tx() as db:
            db.execute("INSERT INTO tokens (token, domain_id, expires) VALUES (?,?,?)", (token, domain.id, expires))
        return token, expires

    def token_domain(self, token: str) -> Domain | None:
        """The domain a still-valid token was issued for, or None if unknown or expired."""
        rows = self.query("SELECT domain_id, expires FROM tokens WHERE token=?", (token,))
        if not rows or rows[0]["expires"] <= time.time():
            return None
        return self.domain_by_id(rows[0]["domain_id"])

    # -- packages, versions, assets ----------------------------------------------------------------

    def package(self, repo: Repository, fmt: str, namespace: str | None, name: str) -> Package | None:
        rows = self.query(
            "SELECT * FROM packages WHERE repo_id=? AND format=? AND namespace=? AND name=?",
            (repo.id, fmt, namespace or "", name),
        )
        return _package(rows[0]) if rows else None

    def require_package(self, repo: Repository, fmt: str, namespace: str | None, name: str) -> Package:
        """Like :meth:`package` but raises :class:`NotFound`."""
        pkg = self.package(repo, fmt, namespace, name)
        if pkg is None:
            raise NotFound(f"Package {_label(namespace, name)} not found in repository {repo.name}", "package", name)
        return pkg

    def ensure_package(
        self, repo: Repository, fmt: str, namespace: str | None, name: str, display_name: str | None = None
    ) -> Package:
        """The package, created (publish=ALLOW, upstream=BLOCK: a directly published package) if absent."""
        with self.tx() as db:
            db.execute(
                "INSERT OR IGNORE INTO packages (repo_id, format, namespace, name, display_name) VALUES (?,?,?,?,?)",
                (repo.id, fmt, namespace or "", name, display_name),
            )
            return self.package(repo, fmt, namespace, name)  # type: ignore[return-value]

    def set_origin(self, pkg: Package, publish: str, upstream: str) -> Package:
        with self.tx() as db:
            db.execute("UPDATE packages SET publish=?, upstream=? WHERE id=?", (publish, upstream, pkg.id))
            return _package(db.execute("SELECT * FROM packages WHERE id=?", (pkg.id,)).fetchone())

    def version(self, pkg: Package, version: str) -> Version | None:
        rows = self.query("SELECT * FROM versions WHERE package_id=? AND version=?", (pkg.id, version))
        return _version(rows[0]) if rows else None

    def versions(self, pkg: Package) -> list[Version]:
        rows = self.query("SELECT * FROM versions WHERE package_id=? ORDER BY published, id", (pkg.id,))
        return [_version(r) for r in rows]

    def assets(self, ver: Version) -> list[Asset]:
        rows = self.query("SELECT * FROM assets WHERE version_id=? ORDER BY name", (ver.id,))
        return [_asset(r) for r in rows]

    def asset(self, ver: Version, name: str) -> Asset | None:
        rows = self.query("SELECT * FROM assets WHERE version_id=? AND name=?", (ver.id, name))
        return _asset(rows[0]) if rows else None

    def publish_asset(
        self,
        repo: Repository,
        fmt: str,
        namespace: str | None,
        package: str,
        version: str,
        asset_name: str,
        blob: Blob,
        *,
        unfinished: bool = False,
        single_asset: bool = False,
        metadata: dict[str, Any] | None = None,
        display_name: str | None = None,
    ) -> Version:
        """Add ``asset_name`` (stored as ``blob``) to a package version, creating both if needed.

        Follows the service's rules: the same name with identical content succeeds and changes nothing;
        different content raises :class:`Conflict`; a package with ``publish=BLOCK``, or whose package
        group's PUBLISH restriction blocks ``repo``, raises :class:`OriginBlocked`; in a single-asset format (npm) a version that already holds another
        asset raises :class:`Conflict`; a Disposed/Deleted version is replaced only if it was Deleted.
        A new version is ``Unfinished`` when ``unfinished`` else ``Published``; publishing the last
        asset of an Unfinished version without ``unfinished`` makes it Published.
        """
        with self.tx() as db:
            pkg = self.package(repo, fmt, namespace, package)
            if pkg is not None and pkg.publish == "BLOCK":
                raise OriginBlocked(
                    f"Publishing {_label(namespace, package)} is blocked by its package origin configuration",
                    "package",
                    package,
                )
            self.check_publish_allowed(repo, fmt, namespace, package)
            pkg = pkg or self.ensure_package(repo, fmt, namespace, package, display_name)
            ver = self.version(pkg, version)
            now = time.time()
            if ver is not None and ver.status == "Deleted":
                db.execute("DELETE FROM versions WHERE id=?", (ver.id,))
                ver = None
            if ver is None:
                status = "Unfinished" if unfinished else "Published"
                db.execute(
                    "INSERT INTO versions (package_id, version, revision, status, published, changed, metadata,"
                    " entry_repo) VALUES (?,?,?,?,?,?,?,?)",
                    (pkg.id, version, new_revision(), status, now, now, json.dumps(metadata or {}), repo.name),
                )
                ver = self.version(pkg, version)
                assert ver is not None
            elif ver.status == "Disposed":
                raise Conflict(f"Package version {version} is Disposed", "package-version", version)
            existing = self.asset(ver, asset_name)
            if existing is not None:
                if existing.sha256 != blob.sha256:
                    raise Conflict(
                        f"Asset {asset_name} of {_label(namespace, package)} {version} already exists"
                        " with different content",
                        "asset",
                        asset_name,
                    )
            else:
                if single_asset and self.assets(ver):
                    raise Conflict(
                        f"Package version {_label(namespace, package)} {version} already exists", "package-version", version
                    )
                db.execute(
                    "INSERT INTO assets (version_id, name, size, md5, sha1, sha256, sha512) VALUES (?,?,?,?,?,?,?)",
                    (ver.id, asset_name, blob.size, blob.md5, blob.sha1, blob.sha256, blob.sha512),
                )
                merged = dict(ver.metadata)
                merged.update(metadata or {})
                db.execute(
                    "UPDATE versions SET revision=?, changed=?, metadata=? WHERE id=?",
                    (new_revision(), now, json.dumps(merged), ver.id),
                )
            if ver.status == "Unfinished" and not unfinished:
                db.execute("UPDATE versions SET status='Published', changed=? WHERE id=?", (now, ver.id))
            return self.version(pkg, version)  # type: ignore[return-value]

    def set_status(self, ver: Version, status: str) -> Version:
        """Set a version's status (no rule checks: callers enforce the operation's rules)."""
        if status not in STATUSES:
            raise ValidationError(f"Unknown status {status}")
        with self.tx() as db:
            db.execute("UPDATE versions SET status=?, changed=? WHERE id=?", (status, time.time(), ver.id))
            if status == "Disposed":
                db.execute("DELETE FROM assets WHERE version_id=?", (ver.id,))
            return _version(db.execute("SELECT * FROM versions WHERE id=?", (ver.id,)).fetchone())

    def set_metadata(self, ver: Version, metadata: dict[str, Any]) -> Version:
        """Replace a version's metadata (what ``npm deprecate`` changes); its assets and revision stay."""
        with self.tx() as db:
            db.execute("UPDATE versions SET metadata=?, changed=? WHERE id=?",
                       (json.dumps(metadata), time.time(), ver.id))
            return _version(db.execute("SELECT * FROM versions WHERE id=?", (ver.id,)).fetchone())

    def dist_tags(self, pkg: Package) -> dict[str, str]:
        rows = self.query("SELECT tag, version FROM dist_tags WHERE package_id=? ORDER BY tag", (pkg.id,))
        return {r["tag"]: r["version"] for r in rows}

    def set_dist_tag(self, pkg: Package, tag: str, version: str) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT INTO dist_tags (package_id, tag, version) VALUES (?,?,?)"
                " ON CONFLICT (package_id, tag) DO UPDATE SET version=excluded.version",
                (pkg.id, tag, version),
            )

    def delete_dist_tag(self, pkg: Package, tag: str) -> None:
        with self.tx() as db:
            db.execute("DELETE FROM dist_tags WHERE package_id=? AND tag=?", (pkg.id, tag))
