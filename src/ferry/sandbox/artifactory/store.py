"""State of the Artifactory stand-in: repositories, items (files and folders) and properties in SQLite,
file bodies in a :class:`~ferry.sandbox.blobs.BlobStore`.

Items follow Artifactory's own model, which AQL exposes: each has ``repo``, ``path`` (the parent
folder, ``"."`` at the repository root) and ``name``; folders are items too, created on deploy for
every parent path. A remote repository ``X`` keeps its cached files in the repository key
``X-cache``, as Artifactory's storage API and AQL show them. Times are epoch seconds.

All methods are thread-safe (one connection, one lock): the stand-in is a threaded server.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ferry.sandbox.artifactory.store_meta import MetaMixin
from ferry.sandbox.blobs import Blob
from ferry.sandbox.locked_db import LockedStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    key TEXT PRIMARY KEY, rclass TEXT NOT NULL, package_type TEXT NOT NULL, config TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT, repo TEXT NOT NULL, path TEXT NOT NULL, name TEXT NOT NULL,
    type TEXT NOT NULL, depth INTEGER NOT NULL, size INTEGER NOT NULL DEFAULT 0,
    md5 TEXT, sha1 TEXT, sha256 TEXT, sha512 TEXT, original_md5 TEXT, original_sha1 TEXT, original_sha256 TEXT,
    mime TEXT, created REAL NOT NULL, created_by TEXT NOT NULL, modified REAL NOT NULL,
    modified_by TEXT NOT NULL, updated REAL NOT NULL, downloads INTEGER NOT NULL DEFAULT 0,
    last_downloaded REAL, last_downloaded_by TEXT, UNIQUE (repo, path, name));
CREATE INDEX IF NOT EXISTS nodes_sha1 ON nodes (sha1);
CREATE INDEX IF NOT EXISTS nodes_path_name ON nodes (path, name);
CREATE INDEX IF NOT EXISTS nodes_sha256 ON nodes (sha256);
CREATE TABLE IF NOT EXISTS props (
    node INTEGER NOT NULL REFERENCES nodes(id) ON DELETE CASCADE, key TEXT NOT NULL, value TEXT NOT NULL,
    UNIQUE (node, key, value));
CREATE INDEX IF NOT EXISTS props_key ON props (key, value);
CREATE TABLE IF NOT EXISTS npm_versions (
    node INTEGER PRIMARY KEY REFERENCES nodes(id) ON DELETE CASCADE, repo TEXT NOT NULL, name TEXT NOT NULL,
    version TEXT NOT NULL, manifest TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS npm_versions_name ON npm_versions (repo, name);
CREATE TABLE IF NOT EXISTS dist_tags (
    repo TEXT NOT NULL, name TEXT NOT NULL, tag TEXT NOT NULL, version TEXT NOT NULL,
    PRIMARY KEY (repo, name, tag));
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY, username TEXT NOT NULL, scope TEXT NOT NULL, created REAL NOT NULL,
    expires REAL);
CREATE TABLE IF NOT EXISTS api_keys (username TEXT PRIMARY KEY, api_key TEXT NOT NULL UNIQUE);
"""

RCLASSES = ("local", "remote", "virtual", "federated")
CACHE_SUFFIX = "-cache"


class ArtifactoryError(Exception):
    """An error the REST API reports as ``{"errors":[{"status":..,"message":..}]}``."""

    status = 400

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NotFound(ArtifactoryError):
    status = 404


class Conflict(ArtifactoryError):
    status = 409


@dataclass(frozen=True)
class Repo:
    key: str
    rclass: str
    package_type: str  # lower case, as in the repository configuration JSON
    config: dict[str, Any]
    created: float

    @property
    def storage_key(self) -> str:
        """The key its files are stored under: ``X-cache`` for a remote repository ``X``."""
        return self.key + CACHE_SUFFIX if self.rclass == "remote" else self.key


@dataclass(frozen=True)
class Node:
    id: int
    repo: str
    path: str
    name: str
    type: str
    depth: int
    size: int
    md5: str | None
    sha1: str | None
    sha256: str | None
    sha512: str | None
    original_md5: str | None
    original_sha1: str | None
    original_sha256: str | None
    mime: str | None
    created: float
    created_by: str
    modified: float
    modified_by: str
    updated: float
    downloads: int
    last_downloaded: float | None
    last_downloaded_by: str | None

    @property
    def full_path(self) -> str:
        """Path within the repository, no leading slash."""
        return self.name if self.path == "." else f"{self.path}/{self.name}"

    @property
    def is_folder(self) -> bool:
        return self.type == "folder"


def split_path(full_path: str) -> tuple[str, str]:
    """``("a/b", "c.txt")`` for ``a/b/c.txt``; ``(".", "c.txt")`` at the root."""
    parent, _, name = full_path.strip("/").rpartition("/")
    return parent or ".", name


def _node(row: sqlite3.Row) -> Node:
    return Node(**{k: row[k] for k in row.keys()})


class Store(MetaMixin, LockedStore):
    """SQLite + blobs under ``data_dir``; npm metadata and credentials come from :class:`MetaMixin`."""

    def __init__(self, data_dir: Path):
        super().__init__(data_dir, "artifactory.db", _SCHEMA)

    # -- repositories -------------------------------------------------------------------------------

    def create_repo(self, key: str, rclass: str, package_type: str, config: dict[str, Any]) -> Repo:
        """Create a repository. Raises ArtifactoryError when the key is taken (also as a cache key)."""
        with self._tx() as db:
            if db.execute("SELECT 1 FROM repos WHERE key = ?", (key,)).fetchone():
                raise ArtifactoryError(f"Case insensitive repository key already exists: {key}")
            db.execute("INSERT INTO repos VALUES (?, ?, ?, ?, ?)",
                       (key, rclass, package_type, json.dumps(config), time.time()))
        return self.repo(key)

    def update_repo(self, key: str, config: dict[str, Any]) -> Repo:
        with self._tx() as db:
            if not db.execute("UPDATE repos SET config = ? WHERE key = ?", (json.dumps(config), key)).rowcount:
                raise NotFound(f"Repository {key} does not exist")
        return self.repo(key)

    def repos(self) -> list[Repo]:
        """Every repository in creation order."""
        return [self._repo(r) for r in self.query("SELECT * FROM repos ORDER BY created, key")]

    def find_repo(self, key: str) -> Repo | None:
        rows = self.query("SELECT * FROM repos WHERE key = ?", (key,))
        return self._repo(rows[0]) if rows else None

    def repo(self, key: str) -> Repo:
        """The repository ``key``. Raises NotFound."""
        found = self.find_repo(key)
        if found is None:
            raise NotFound(f"Repository {key} does not exist")
        return found

    def storage_repo(self, key: str) -> Repo | None:
        """The repository whose files live under ``key`` (a local repository, or ``X-cache`` of remote ``X``)."""
        found = self.find_repo(key)
        if found is not None:
            return found
        if key.endswith(CACHE_SUFFIX):
            remote = self.find_repo(key[: -len(CACHE_SUFFIX)])
            if remote is not None and remote.rclass == "remote":
                return remote
        return None

    def delete_repo(self, key: str) -> None:
        repo = self.repo(key)
        with self._tx() as db:
            db.execute("DELETE FROM nodes WHERE repo = ?", (repo.storage_key,))
            db.execute("DELETE FROM dist_tags WHERE repo = ?", (repo.storage_key,))
            db.execute("DELETE FROM repos WHERE key = ?", (key,))

    @staticmethod
    def _repo(row: sqlite3.Row) -> Repo:
        return Repo(row["key"], row["rclass"], row["package_type"], json.loads(row["config"]), row["created"])

    # -- items --------------------------------------------------------------------------------------

    def node(self, repo: str, full_path: str) -> Node | None:
        """The file or folder at ``full_path`` of storage key ``repo`` (``""`` is the root: None)."""
        full_path = full_path.strip("/")
        if not full_path:
            return None
        path, name = split_path(full_path)
        rows = self.query("SELECT * FROM nodes WHERE repo = ? AND path = ? AND name = ?", (repo, path, name))
        return _node(rows[0]) if rows else None

    def node_by_id(self, node_id: int) -> Node | None:
        rows = self.query("SELECT * FROM nodes WHERE id = ?", (node_id,))
        return _node(rows[0]) if rows else None

    def children(self, repo: str, folder: str) -> list[Node]:
        """Direct children of ``folder`` (``""`` for the root), folders first, then by name."""
        path = folder.strip("/") or "."
        rows = self.query("SELECT * FROM nodes WHERE repo = ? AND path = ? ORDER BY type = 'file', name",
                          (repo, path))
        return [_node(r) for r in rows]

    def descendants(self, repo: str, folder: str) -> Iterator[Node]:
        """Every item below ``folder`` (``""`` for the whole repository), ordered by full path, streamed."""
        folder = folder.strip("/")
        if folder:
            sql = "SELECT * FROM nodes WHERE repo = ? AND (path = ? OR path LIKE ? ESCAPE '\\') ORDER BY path, name"
            args: tuple = (repo, folder, _like_prefix(folder) + "/%")
        else:
            sql, args = "SELECT * FROM nodes WHERE repo = ? ORDER BY path, name", (repo,)
        offset = 0
        while True:  # in pages, so a huge repository is never one list in memory
            rows = self.query(f"{sql} LIMIT 1000 OFFSET {offset}", args)
            for row in rows:
                yield _node(row)
            if len(rows) < 1000:
                return
            offset += len(rows)

    def deploy(self, repo: str, full_path: str, blob: Blob, user: str, mime: str,
               properties: Iterable[tuple[str, str]] = (), originals: dict[str, str] | None = None) -> Node:
        """Store a file at ``full_path`` of storage key ``repo`` (creating parent folders), replacing any
        file there with its properties. Raises Conflict when a folder is in the way."""
        full_path = full_path.strip("/")
        path, name = split_path(full_path)
        now = time.time()
        originals = originals or {}
        with self._tx() as db:
            self._make_folders(db, repo, path, user, now)
            row = db.execute("SELECT id, type, created, created_by FROM nodes WHERE repo = ? AND path = ? AND name = ?",
                             (repo, path, name)).fetchone()
            if row is not None and row["type"] == "folder":
                raise Conflict(f"Failed to deploy file: {full_path} is a folder")
            if row is not None:
                db.execute("DELETE FROM nodes WHERE id = ?", (row["id"],))
            node_id = db.execute(
                "INSERT INTO nodes (repo, path, name, type, depth, size, md5, sha1, sha256, sha512, original_md5, "
                "original_sha1, original_sha256, mime, created, created_by, modified, modified_by, updated) "
                "VALUES (?, ?, ?, 'file', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (repo, path, name, full_path.count("/") + 1, blob.size, blob.md5, blob.sha1, blob.sha256,
                 blob.sha512 or None,
                 originals.get("md5"), originals.get("sha1"), originals.get("sha256"), mime, now, user, now, user,
                 now)).lastrowid
            for key, value in properties:
                db.execute("INSERT OR IGNORE INTO props VALUES (?, ?, ?)", (node_id, key, value))
        return self.node_by_id(node_id)  # type: ignore[return-value]

    def _make_folders(self, db: sqlite3.Connection, repo: str, path: str, user: str, now: float) -> None:
        if path == ".":
            return
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            parent, name = ("/".join(parts[: depth - 1]) or "."), parts[depth - 1]
            row = db.execute("SELECT type FROM nodes WHERE repo = ? AND path = ? AND name = ?",
                             (repo, parent, name)).fetchone()
            if row is None:
                db.execute("INSERT INTO nodes (repo, path, name, type, depth, created, created_by, modified, "
                           "modified_by, updated) VALUES (?, ?, ?, 'folder', ?, ?, ?, ?, ?, ?)",
                           (repo, parent, name, depth, now, user, now, user, now))
            elif row["type"] != "folder":
                raise Conflict(f"Failed to deploy file: {'/'.join(parts[:depth])} is a file, not a folder")

    def make_folder(self, repo: str, full_path: str, user: str) -> Node:
        """Create a folder (and its parents). Raises Conflict when a file is in the way."""
        with self._tx() as db:
            self._make_folders(db, repo, full_path.strip("/"), user, time.time())
        return self.node(repo, full_path)  # type: ignore[return-value]

    def delete(self, repo: str, full_path: str) -> int:
        """Delete a file, or a folder with everything below it. Returns how many items went."""
        full_path = full_path.strip("/")
        path, name = split_path(full_path)
        with self._tx() as db:
            gone = db.execute("DELETE FROM nodes WHERE repo = ? AND path = ? AND name = ?", (repo, path, name)).rowcount
            gone += db.execute("DELETE FROM nodes WHERE repo = ? AND (path = ? OR path LIKE ? ESCAPE '\\')",
                               (repo, full_path, _like_prefix(full_path) + "/%")).rowcount
        return gone

    def set_original(self, node_id: int, algorithm: str, value: str | None) -> None:
        """Record the checksum a client published for a file (``md5``, ``sha1`` or ``sha256``)."""
        if algorithm not in ("md5", "sha1", "sha256"):
            raise ValueError(algorithm)
        with self._tx() as db:
            db.execute(f"UPDATE nodes SET original_{algorithm} = ? WHERE id = ?", (value, node_id))

    def record_download(self, node_id: int, user: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE nodes SET downloads = downloads + 1, last_downloaded = ?, last_downloaded_by = ? "
                       "WHERE id = ?", (time.time(), user, node_id))

    def find_by_checksum(self, sha1: str | None = None, sha256: str | None = None) -> Node | None:
        """Any file with this content (for deploy by checksum)."""
        if sha256:
            rows = self.query("SELECT * FROM nodes WHERE sha256 = ? AND type = 'file' LIMIT 1", (sha256.lower(),))
        elif sha1:
            rows = self.query("SELECT * FROM nodes WHERE sha1 = ? AND type = 'file' LIMIT 1", (sha1.lower(),))
        else:
            return None
        return _node(rows[0]) if rows else None

    # -- properties ---------------------------------------------------------------------------------

    def properties(self, node_id: int) -> dict[str, list[str]]:
        """``{key: [values]}`` of one item, keys and values in insertion order."""
        out: dict[str, list[str]] = {}
        for row in self.query("SELECT key, value FROM props WHERE node = ? ORDER BY rowid", (node_id,)):
            out.setdefault(row["key"], []).append(row["value"])
        return out

    def properties_of(self, node_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
        """Properties of many items at once: ``{node id: [(key, value), ...]}``."""
        out: dict[int, list[tuple[str, str]]] = {i: [] for i in node_ids}
        for start in range(0, len(node_ids), 500):
            chunk = node_ids[start:start + 500]
            marks = ",".join("?" * len(chunk))
            for row in self.query(f"SELECT node, key, value FROM props WHERE node IN ({marks}) ORDER BY rowid", chunk):
                out[row["node"]].append((row["key"], row["value"]))
        return out

    def set_properties(self, node_ids: Iterable[int], values: dict[str, list[str]]) -> None:
        """Replace the values of each named key on each item."""
        with self._tx() as db:
            for node_id in node_ids:
                for key, vals in values.items():
                    db.execute("DELETE FROM props WHERE node = ? AND key = ?", (node_id, key))
                    for value in vals:
                        db.execute("INSERT OR IGNORE INTO props VALUES (?, ?, ?)", (node_id, key, value))

    def add_properties(self, node_id: int, pairs: Iterable[tuple[str, str]]) -> None:
        """Add properties whose keys the item does not have yet (package indexing never overrides a user's)."""
        with self._tx() as db:
            have = {r["key"] for r in db.execute("SELECT key FROM props WHERE node = ?", (node_id,))}
            for key, value in pairs:
                if key not in have:
                    db.execute("INSERT OR IGNORE INTO props VALUES (?, ?, ?)", (node_id, key, value))

    def delete_properties(self, node_ids: Iterable[int], keys: Iterable[str]) -> None:
        keys = list(keys)
        with self._tx() as db:
            for node_id in node_ids:
                for key in keys:
                    db.execute("DELETE FROM props WHERE node = ? AND key = ?", (node_id, key))

def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
