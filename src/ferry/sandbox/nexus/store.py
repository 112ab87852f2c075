"""State of the Nexus stand-in: repositories, components and assets in SQLite, bodies in a BlobStore.

Asset paths are stored without a leading ``/``; how they are shown is a rendering choice (see
:mod:`ferry.sandbox.nexus.render`). Components and assets get a random external id when created, kept
for their lifetime, so ids and continuation tokens survive a restart with the same data folder.
Listing order is creation order: stable, and not alphabetical, like the real service.

All methods are thread-safe (one connection, one lock): the stand-in is a threaded server.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferry.sandbox.blobs import Blob
from ferry.sandbox.locked_db import LockedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repositories (
    name TEXT PRIMARY KEY COLLATE NOCASE, format TEXT NOT NULL, type TEXT NOT NULL,
    config TEXT NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS components (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ext TEXT NOT NULL UNIQUE, repo TEXT NOT NULL,
    grp TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL, created REAL NOT NULL,
    UNIQUE (repo, grp, name, version));
CREATE TABLE IF NOT EXISTS assets (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, ext TEXT NOT NULL UNIQUE, repo TEXT NOT NULL,
    path TEXT NOT NULL, component INTEGER REFERENCES components(seq), size INTEGER NOT NULL,
    md5 TEXT NOT NULL, sha1 TEXT NOT NULL, sha256 TEXT NOT NULL, sha512 TEXT NOT NULL,
    content_type TEXT NOT NULL, created REAL NOT NULL, blob_created REAL NOT NULL,
    uploader TEXT, uploader_ip TEXT, attrs TEXT NOT NULL DEFAULT '{}', last_downloaded REAL,
    UNIQUE (repo, path));
CREATE INDEX IF NOT EXISTS assets_component ON assets (component);
CREATE INDEX IF NOT EXISTS assets_sha256 ON assets (sha256);
"""

# Nulls cannot take part in SQLite UNIQUE constraints, so a missing group/version is stored as this.
_NONE = "\x00"


class NexusError(Exception):
    """An error the REST API reports: ``status`` and a message; ``validation`` bodies are JSON lists."""

    status = 400
    validation = False

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class BadRequest(NexusError):
    status = 400


class ValidationFailed(NexusError):
    """Rendered as Nexus's ``[{"id": "*", "message": ...}]`` validation body."""

    status, validation = 400, True


class NotFound(NexusError):
    status = 404


class NotAcceptable(NexusError):
    status = 406


class Unprocessable(NexusError):
    status = 422


@dataclass(frozen=True)
class RepoRecord:
    name: str
    format: str
    type: str
    config: dict[str, Any]
    created: float

    @property
    def write_policy(self) -> str:
        return (self.config.get("storage") or {}).get("writePolicy", "ALLOW")

    @property
    def blob_store(self) -> str:
        return (self.config.get("storage") or {}).get("blobStoreName", "default")


@dataclass(frozen=True)
class ComponentRow:
    seq: int
    ext: str
    repo: str
    group: str | None
    name: str
    version: str | None
    created: float


@dataclass(frozen=True)
class AssetRow:
    seq: int
    ext: str
    repo: str
    path: str
    component: int | None
    size: int
    md5: str
    sha1: str
    sha256: str
    sha512: str
    content_type: str
    created: float
    blob_created: float
    uploader: str | None
    uploader_ip: str | None
    attrs: dict[str, Any]
    last_downloaded: float | None


def _opt(value: str | None) -> str:
    return _NONE if value is None else value


def _unopt(value: str) -> str | None:
    return None if value == _NONE else value


def _component(row: sqlite3.Row) -> ComponentRow:
    return ComponentRow(row["seq"], row["ext"], row["repo"], _unopt(row["grp"]), row["name"],
                        _unopt(row["version"]), row["created"])


def _asset(row: sqlite3.Row) -> AssetRow:
    return AssetRow(row["seq"], row["ext"], row["repo"], row["path"], row["component"], row["size"], row["md5"],
                    row["sha1"], row["sha256"], row["sha512"], row["content_type"], row["created"],
                    row["blob_created"], row["uploader"], row["uploader_ip"], json.loads(row["attrs"]),
                    row["last_downloaded"])


class Store(LockedStore):
    """Metadata in ``data_dir/nexus.sqlite``, bodies under ``data_dir/blobs``."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir, "nexus.sqlite", _SCHEMA)

    # -- repositories -------------------------------------------------------------------------------

    def create_repository(self, name: str, fmt: str, rtype: str, config: dict[str, Any]) -> RepoRecord:
        """Add a repository. Raises :class:`BadRequest` if the name is taken (ignoring case)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM repositories WHERE name = ?", (name,)).fetchone():
                raise BadRequest(f"Name is already used, must be unique (ignoring case): {name}")
            now = time.time()
            db.execute("INSERT INTO repositories VALUES (?, ?, ?, ?, ?)", (name, fmt, rtype, json.dumps(config), now))
        return RepoRecord(name, fmt, rtype, config, now)

    def update_repository(self, name: str, config: dict[str, Any]) -> None:
        """Replace a repository's configuration. Raises :class:`NotFound`."""
        with self._tx() as db:
            if not db.execute("UPDATE repositories SET config = ? WHERE name = ?", (json.dumps(config), name)).rowcount:
                raise NotFound(f"Repository not found: {name}")

    def repositories(self) -> list[RepoRecord]:
        """All repositories, ordered by name."""
        rows = self.query("SELECT * FROM repositories ORDER BY name COLLATE NOCASE")
        return [RepoRecord(r["name"], r["format"], r["type"], json.loads(r["config"]), r["created"]) for r in rows]

    def repository(self, name: str) -> RepoRecord:
        """The repository called ``name`` (exact case). Raises :class:`NotFound`."""
        rows = self.query("SELECT * FROM repositories WHERE name = ? COLLATE BINARY", (name,))
        if not rows:
            raise NotFound(f"Repository not found: {name}")
        r = rows[0]
        return RepoRecord(r["name"], r["format"], r["type"], json.loads(r["config"]), r["created"])

    def delete_repository(self, name: str) -> None:
        """Remove a repository with all its content. Raises :class:`NotFound`."""
        repo = self.repository(name)
        with self._tx() as db:
            shas = [r["sha256"] for r in db.execute("SELECT DISTINCT sha256 FROM assets WHERE repo = ?", (repo.name,))]
            db.execute("DELETE FROM assets WHERE repo = ?", (repo.name,))
            db.execute("DELETE FROM components WHERE repo = ?", (repo.name,))
            db.execute("DELETE FROM repositories WHERE name = ?", (repo.name,))
        self._drop_unreferenced(shas)

    # -- writing content ----------------------------------------------------------------------------

    def put_asset(self, repo: str, path: str, blob: Blob, content_type: str, *,
                  component: tuple[str | None, str, str | None] | None = None,
                  attrs: dict[str, Any] | None = None, uploader: str | None = None,
                  uploader_ip: str | None = None, may_replace: bool = True) -> AssetRow:
        """Store ``blob`` as the asset at ``path`` (no leading ``/``), in ``component`` (group, name, version).

        The component is created when missing. Replacing an existing asset keeps its id. Raises
        :class:`BadRequest` when the asset exists and ``may_replace`` is false (write policy ALLOW_ONCE).
        """
        now = time.time()
        old_sha = None
        with self._tx() as db:
            comp_seq = None
            if component is not None:
                comp_seq = self._get_or_create_component(db, repo, *component, now)
            row = db.execute("SELECT * FROM assets WHERE repo = ? AND path = ?", (repo, path)).fetchone()
            if row is not None:
                if not may_replace:
                    raise BadRequest(f"Repository does not allow updating assets: {repo}")
                old_sha = row["sha256"]
                db.execute(
                    "UPDATE assets SET component = ?, size = ?, md5 = ?, sha1 = ?, sha256 = ?, sha512 = ?, "
                    "content_type = ?, blob_created = ?, uploader = ?, uploader_ip = ?, attrs = ? WHERE seq = ?",
                    (comp_seq, blob.size, blob.md5, blob.sha1, blob.sha256, blob.sha512, content_type, now,
                     uploader, uploader_ip, json.dumps(attrs or {}), row["seq"]))
                seq = row["seq"]
                if row["component"] is not None and row["component"] != comp_seq:
                    self._drop_component_if_empty(db, row["component"])
            else:
                seq = db.execute(
                    "INSERT INTO assets (ext, repo, path, component, size, md5, sha1, sha256, sha512, content_type, "
                    "created, blob_created, uploader, uploader_ip, attrs) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (secrets.token_hex(16), repo, path, comp_seq, blob.size, blob.md5, blob.sha1, blob.sha256,
                     blob.sha512, content_type, now, now, uploader, uploader_ip, json.dumps(attrs or {}))).lastrowid
            result = _asset(db.execute("SELECT * FROM assets WHERE seq = ?", (seq,)).fetchone())
        if old_sha and old_sha != blob.sha256:
            self._drop_unreferenced([old_sha])
        return result

    def set_asset_attrs(self, seq: int, attrs: dict[str, Any]) -> None:
        """Replace the attributes of asset ``seq`` (its bytes stay as they are)."""
        with self._tx() as db:
            db.execute("UPDATE assets SET attrs = ? WHERE seq = ?", (json.dumps(attrs), seq))

    def _get_or_create_component(self, db, repo: str, group: str | None, name: str, version: str | None,
                                 now: float) -> int:
        key = (repo, _opt(group), name, _opt(version))
        row = db.execute("SELECT seq FROM components WHERE repo = ? AND grp = ? AND name = ? AND version = ?",
                         key).fetchone()
        if row:
            return row["seq"]
        return db.execute("INSERT INTO components (ext, repo, grp, name, version, created) VALUES (?,?,?,?,?,?)",
                          (secrets.token_hex(16), *key, now)).lastrowid

    def _drop_component_if_empty(self, db, comp_seq: int) -> None:
        if not db.execute("SELECT 1 FROM assets WHERE component = ?", (comp_seq,)).fetchone():
            db.execute("DELETE FROM components WHERE seq = ?", (comp_seq,))

    def delete_component(self, comp: ComponentRow) -> list[AssetRow]:
        """Remove a component and its assets; returns the removed assets."""
        with self._tx() as db:
            assets = [_asset(r) for r in db.execute("SELECT * FROM assets WHERE component = ?", (comp.seq,))]
            db.execute("DELETE FROM assets WHERE component = ?", (comp.seq,))
            db.execute("DELETE FROM components WHERE seq = ?", (comp.seq,))
        self._drop_unreferenced([a.sha256 for a in assets])
        return assets

    def delete_asset(self, asset: AssetRow) -> None:
        """Remove an asset; its component goes too when this was its last asset."""
        with self._tx() as db:
            db.execute("DELETE FROM assets WHERE seq = ?", (asset.seq,))
            if asset.component is not None:
                self._drop_component_if_empty(db, asset.component)
        self._drop_unreferenced([asset.sha256])

    def drop_blob_if_unused(self, sha256: str) -> None:
        """Delete a stored body no asset refers to (e.g. an upload that was refused after storing)."""
        self._drop_unreferenced([sha256])

    def _drop_unreferenced(self, shas: list[str]) -> None:
        with self._lock:
            for sha in set(shas):
                if not self._db.execute("SELECT 1 FROM assets WHERE sha256 = ? LIMIT 1", (sha,)).fetchone():
                    self.blobs.path(sha).unlink(missing_ok=True)

    def record_download(self, asset: AssetRow) -> None:
        with self._lock:
            self._db.execute("UPDATE assets SET last_downloaded = ? WHERE seq = ?", (time.time(), asset.seq))

    # -- reading content ----------------------------------------------------------------------------

    def asset_at(self, repo: str, path: str) -> AssetRow | None:
        rows = self.query("SELECT * FROM assets WHERE repo = ? AND path = ?", (repo, path))
        return _asset(rows[0]) if rows else None

    def assets_under(self, repo: str, prefix: str) -> list[AssetRow]:
        """Assets whose path starts with ``prefix``, in creation order."""
        like = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        return [_asset(r) for r in self.query(
            "SELECT * FROM assets WHERE repo = ? AND path LIKE ? ESCAPE '\\' ORDER BY seq", (repo, like))]

    def component(self, repo: str, group: str | None, name: str, version: str | None) -> ComponentRow | None:
        rows = self.query("SELECT * FROM components WHERE repo = ? AND grp = ? AND name = ? AND version = ?",
                           (repo, _opt(group), name, _opt(version)))
        return _component(rows[0]) if rows else None

    def component_by_ext(self, repo: str, ext: str) -> ComponentRow | None:
        rows = self.query("SELECT * FROM components WHERE repo = ? AND ext = ?", (repo, ext))
        return _component(rows[0]) if rows else None

    def component_by_seq(self, seq: int) -> ComponentRow | None:
        rows = self.query("SELECT * FROM components WHERE seq = ?", (seq,))
        return _component(rows[0]) if rows else None

    def asset_by_ext(self, repo: str, ext: str) -> AssetRow | None:
        rows = self.query("SELECT * FROM assets WHERE repo = ? AND ext = ?", (repo, ext))
        return _asset(rows[0]) if rows else None

    def components_named(self, repo: str, group: str | None, name: str) -> list[ComponentRow]:
        """Every version of one package, in creation order."""
        return [_component(r) for r in self.query(
            "SELECT * FROM components WHERE repo = ? AND grp = ? AND name = ? ORDER BY seq", (repo, _opt(group), name))]

    def _after(self, table: str, repo: str, token: str | None) -> int:
        if token is None:
            return 0
        rows = self.query(f"SELECT seq FROM {table} WHERE repo = ? AND ext = ?", (repo, token))
        if not rows:
            raise NotAcceptable(f"Unable to parse continuation token {token}")
        return rows[0]["seq"]

    def components_page(self, repo: str, token: str | None, limit: int) -> list[ComponentRow]:
        """Up to ``limit`` components after the one whose external id is ``token``.

        Raises :class:`NotAcceptable` for a token that names no component of ``repo``.
        """
        after = self._after("components", repo, token)
        return [_component(r) for r in self.query(
            "SELECT * FROM components WHERE repo = ? AND seq > ? ORDER BY seq LIMIT ?", (repo, after, limit))]

    def assets_page(self, repo: str, token: str | None, limit: int) -> list[AssetRow]:
        """Up to ``limit`` assets (component-less ones included) after the asset ``token`` names."""
        after = self._after("assets", repo, token)
        return [_asset(r) for r in self.query(
            "SELECT * FROM assets WHERE repo = ? AND seq > ? ORDER BY seq LIMIT ?", (repo, after, limit))]

    def assets_of(self, comp_seqs: list[int]) -> dict[int, list[AssetRow]]:
        """The assets of each component (by seq), each list in path order."""
        out: dict[int, list[AssetRow]] = {s: [] for s in comp_seqs}
        for i in range(0, len(comp_seqs), 500):
            chunk = comp_seqs[i:i + 500]
            marks = ",".join("?" * len(chunk))
            for r in self.query(f"SELECT * FROM assets WHERE component IN ({marks}) ORDER BY path", tuple(chunk)):
                out[r["component"]].append(_asset(r))
        return out

    def all_components(self, repos: list[str]) -> list[ComponentRow]:
        """Every component of the given repositories, in creation order (for search)."""
        if not repos:
            return []
        marks = ",".join("?" * len(repos))
        return [_component(r) for r in self.query(
            f"SELECT * FROM components WHERE repo IN ({marks}) ORDER BY seq", tuple(repos))]
