"""The Cargo registry of a repository, ``/artifactory/api/cargo/{repo}`` (what JFrog's "Set Me Up" gives cargo
as ``index = "sparse+https://HOST/artifactory/api/cargo/{repo}/index/"``), as far as ferry and its tests need it:

- ``GET index/config.json``: ``dl`` and ``api`` of the registry, and ``auth-required`` (cargo then sends its
  token for every read, as it must where anonymous access is off).
- ``GET index/{prefix}/{name}``: the crate's sparse-index file (the Registry Index format), one JSON line per
  ``.crate`` of that name in the repository, built from the ``Cargo.toml`` inside it (``cksum`` is its
  SHA-256); ``"yanked": true`` for a yanked version.
- ``DELETE api/v1/crates/{name}/{version}/yank`` and ``PUT .../unyank``: ``cargo yank`` and ``cargo yank
  --undo`` (the registry web API), which JFrog documents for local Cargo repositories [D: jfrog.com help,
  "local cargo repositories"]. The state is kept as the ``.crate``'s property ``cargo.yanked`` [U: the
  property's name is not documented; JFrog says yanks are properties, synced like them]. 200 ``{"ok":
  true}``; 404 with cargo's ``{"errors": [{"detail": ...}]}`` for a version the repository does not hold.
- ``GET v1/crates/{name}/{version}/download``: the ``.crate`` (``dl``), so cargo can build from it.

Crates are found by their ``crate.name``/``crate.version`` properties (Artifactory's indexing sets them on
deploy), wherever they sit in the repository. Publishing (``api/v1/crates/new``) is not served.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ferry.errors import ItemError
from ferry.migrators.cargo_manifest import publish_metadata, read_crate
from ferry.sandbox.artifactory import render
from ferry.sandbox.artifactory.store import Node, Repo, Store
from ferry.sandbox.nexus.formats import cargo_index_path
from ferry.sandbox.nexus.indexes import cargo_index_entry

YANKED_PROPERTY = "cargo.yanked"
_YANK = re.compile(r"\Aapi/v1/crates/(?P<name>[^/]+)/(?P<version>[^/]+)/(?P<verb>yank|unyank)\Z")
_DOWNLOAD = re.compile(r"\Av1/crates/(?P<name>[^/]+)/(?P<version>[^/]+)/download\Z")


def _cargo_error(status: int, detail: str) -> Response:
    """An error as the registry web API words it, which cargo prints."""
    return Response(json.dumps({"errors": [{"detail": detail}]}), status=status, mimetype="application/json")


class CargoApi:
    def __init__(self, store: Store):
        self.store = store

    def dispatch(self, request: Request, repo: Repo, rest: str, base: str, user: str) -> Response:
        """Handle ``/api/cargo/{repo}/{rest}`` (``rest`` decoded)."""
        rest = rest.strip("/")
        root = f"{base}/api/cargo/{quote(repo.key)}"
        if (m := _YANK.match(rest)) is not None:
            want = ("DELETE", "yank") if m["verb"] == "yank" else ("PUT", "unyank")
            if request.method != want[0]:
                return _cargo_error(405, f"{m['verb']} takes {want[0]}")
            return self._yank(repo, m["name"], m["version"], yanked=m["verb"] == "yank")
        if request.method not in ("GET", "HEAD"):
            return _cargo_error(405, f"{request.method} is not supported here")
        if rest == "index/config.json":
            return render.json_response({"dl": f"{root}/v1/crates", "api": root, "auth-required": True})
        if (m := _DOWNLOAD.match(rest)) is not None:
            node = self._crate(repo, m["name"], m["version"])
            if node is None or not node.sha256:
                return _cargo_error(404, f"crate {m['name']}@{m['version']} does not exist")
            return Response(self.store.blobs.path(node.sha256).read_bytes(), mimetype="application/x-tar")
        if rest.startswith("index/"):
            name = rest.rsplit("/", 1)[-1]
            if rest[len("index/"):] != cargo_index_path(name):
                return render.error(404, "Not Found")
            lines = [json.dumps(entry, separators=(",", ":")) for entry in self._entries(repo, name, f"{root}/index")]
            if not lines:
                return render.error(404, "Not Found")
            return Response(("\n".join(lines) + "\n").encode(), mimetype="text/plain")
        return render.error(404, f"This stand-in does not implement /api/cargo/{repo.key}/{rest}")

    def _crates(self, repo: Repo, name: str) -> list[tuple[str, Node]]:
        """``(version, node)`` of each ``.crate`` named ``name`` (case-insensitively, as the index is), oldest first."""
        rows = self.store.query(
            "SELECT n.id AS id, v.value AS version FROM nodes n JOIN props p ON p.node = n.id AND p.key = 'crate.name' "
            "JOIN props v ON v.node = n.id AND v.key = 'crate.version' WHERE n.repo = ? AND n.type = 'file' "
            "AND lower(p.value) = ? ORDER BY n.id", (repo.storage_key, name.lower()))
        return [(row["version"], node) for row in rows if (node := self.store.node_by_id(row["id"])) is not None]

    def _crate(self, repo: Repo, name: str, version: str) -> Node | None:
        return next((node for vers, node in self._crates(repo, name) if vers == version), None)

    def _entries(self, repo: Repo, name: str, index: str) -> list[dict]:
        entries = []
        for version, node in self._crates(repo, name):
            if not node.sha256:
                continue
            stored_name = node.name[: -len(f"-{version}.crate")] if node.name.endswith(f"-{version}.crate") else name
            try:
                manifest, readmes = read_crate(self.store.blobs.path(node.sha256), stored_name, version)
                metadata = publish_metadata(manifest, readmes, lambda dep_index: _same(dep_index, index))
            except ItemError:
                continue  # a crate Artifactory could not index: not in the index
            yanked = (self.store.properties(node.id).get(YANKED_PROPERTY) or ["false"])[0] == "true"
            entries.append({**cargo_index_entry(metadata, node.sha256), "yanked": yanked})
        return entries

    def _yank(self, repo: Repo, name: str, version: str, yanked: bool) -> Response:
        if repo.rclass not in ("local", "federated"):
            return _cargo_error(405, f"crates cannot be yanked in {repo.rclass} repository {repo.key}")
        node = self._crate(repo, name, version)
        if node is None:
            return _cargo_error(404, f"crate {name}@{version} does not exist in {repo.key}")
        self.store.set_properties([node.id], {YANKED_PROPERTY: ["true" if yanked else "false"]})
        return render.json_response({"ok": True})


def _same(dep_index: str, index: str) -> bool:
    return dep_index.removeprefix("sparse+").rstrip("/") == index.rstrip("/")
