"""The parts of the Artifactory stand-in's store beside items: npm version manifests and dist-tags,
access tokens and API keys. Mixed into :class:`~ferry.sandbox.artifactory.store.Store`, whose connection,
lock and transactions (``_tx``, ``query``) they use."""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ferry.sandbox.artifactory.store import Node


class MetaMixin:
    # -- npm metadata -------------------------------------------------------------------------------

    def set_npm_version(self, node: Node, name: str, version: str, manifest: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM npm_versions WHERE repo = ? AND name = ? AND version = ?",
                       (node.repo, name, version))
            db.execute("INSERT OR REPLACE INTO npm_versions VALUES (?, ?, ?, ?, ?)",
                       (node.id, node.repo, name, version, json.dumps(manifest)))

    def npm_versions(self, repo: str, name: str) -> list[tuple[Node, str, dict[str, Any]]]:
        """``[(tarball node, version, package.json)]`` of one npm package, oldest first."""
        from ferry.sandbox.artifactory.store import Node as node_class

        rows = self.query("SELECT v.version, v.manifest, n.* FROM npm_versions v JOIN nodes n ON n.id = v.node "
                          "WHERE v.repo = ? AND v.name = ? ORDER BY n.created, n.id", (repo, name))
        out = []
        for row in rows:
            fields = {k: row[k] for k in row.keys() if k not in ("version", "manifest")}
            out.append((node_class(**fields), row["version"], json.loads(row["manifest"])))
        return out

    def dist_tags(self, repo: str, name: str) -> dict[str, str]:
        return {r["tag"]: r["version"] for r in self.query(
            "SELECT tag, version FROM dist_tags WHERE repo = ? AND name = ? ORDER BY tag", (repo, name))}

    def set_dist_tag(self, repo: str, name: str, tag: str, version: str | None) -> None:
        """Point ``tag`` at ``version``; ``None`` removes the tag."""
        with self._tx() as db:
            db.execute("DELETE FROM dist_tags WHERE repo = ? AND name = ? AND tag = ?", (repo, name, tag))
            if version is not None:
                db.execute("INSERT INTO dist_tags VALUES (?, ?, ?, ?)", (repo, name, tag, version))

    # -- credentials --------------------------------------------------------------------------------

    def create_token(self, username: str, scope: str, expires_in: int | None) -> str:
        """A new access token for ``username`` (64 characters, like a reference token)."""
        token = secrets.token_hex(32)
        now = time.time()
        with self._tx() as db:
            db.execute("INSERT INTO tokens VALUES (?, ?, ?, ?, ?)",
                       (token, username, scope, now, now + expires_in if expires_in else None))
        return token

    def token_user(self, token: str) -> str | None:
        """The user a live token belongs to, or None."""
        rows = self.query("SELECT username, expires FROM tokens WHERE token = ?", (token,))
        if not rows or (rows[0]["expires"] is not None and rows[0]["expires"] < time.time()):
            return None
        return rows[0]["username"]

    def revoke_token(self, token: str) -> bool:
        with self._tx() as db:
            return db.execute("DELETE FROM tokens WHERE token = ?", (token,)).rowcount > 0

    def api_key(self, username: str, create: bool = False) -> str | None:
        """The user's API key; with ``create``, a new one replacing any old one."""
        if create:
            key = "AKC" + secrets.token_urlsafe(54)[:70]
            with self._tx() as db:
                db.execute("INSERT OR REPLACE INTO api_keys VALUES (?, ?)", (username, key))
            return key
        rows = self.query("SELECT api_key FROM api_keys WHERE username = ?", (username,))
        return rows[0]["api_key"] if rows else None

    def api_key_user(self, key: str) -> str | None:
        rows = self.query("SELECT username FROM api_keys WHERE api_key = ?", (key,))
        return rows[0]["username"] if rows else None

    def revoke_api_key(self, username: str) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM api_keys WHERE username = ?", (username,))
