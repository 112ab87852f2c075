"""The Swift registry API of a repository, ``/artifactory/api/swift/{repo}`` (what ``swift package-registry
login https://HOST/artifactory/api/swift/{repo}`` points SwiftPM at), as far as ferry needs it:

- ``PUT {scope}/{name}/{version}``: the Swift publish API (multipart: ``source-archive`` as a file
  part, optional ``metadata`` JSON). The archive lands at ``{scope}/{name}/{name}-{version}.zip``, the
  Swift deployment structure Artifactory documents, and the metadata is kept as the archive's
  ``swift.metadata`` property [U: where Artifactory keeps publish metadata is not documented]. 201 with
  ``Location``; 409 when the release exists; 422 without a source archive or with metadata that is not
  a JSON object.
- ``GET {scope}/{name}/{version}[.json]``: the release document of the registry spec (``id``,
  ``version``, ``resources`` with the archive's SHA-256, ``metadata``, ``publishedAt``), for archives
  deployed either way (a plain deploy has no metadata: ``{}``). Scope and name match case-insensitively,
  as the spec asks. 404 (``application/problem+json``) when there is no such archive.

Other registry endpoints (release lists, manifests, archive downloads, identifiers) are not served.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ferry.sandbox.artifactory.store import Conflict, Node, Repo, Store
from ferry.sandbox.blobs import BlobTooShort

METADATA_PROPERTY = "swift.metadata"
_PART = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._+-]*\Z")


def _problem(status: int, detail: str) -> Response:
    return Response(json.dumps({"status": status, "detail": detail}), status=status,
                    mimetype="application/problem+json", headers={"Content-Version": "1"})


class SwiftApi:
    def __init__(self, store: Store):
        self.store = store

    def dispatch(self, request: Request, repo: Repo, rest: str, base: str, user: str) -> Response:
        """Handle ``/api/swift/{repo}/{rest}`` (``rest`` decoded)."""
        parts = rest.strip("/").split("/")
        if len(parts) != 3 or not all(_PART.match(p) for p in parts):
            return _problem(404, "not found")
        scope, name, version = parts
        if request.method == "PUT":
            return self._publish(request, repo, scope, name, version, base, user)
        if request.method not in ("GET", "HEAD"):
            return _problem(405, f"{request.method} is not supported here")
        version = version[: -len(".json")] if version.endswith(".json") else version
        node = self._archive(repo, scope, name, version)
        if node is None:
            return _problem(404, "release not found")
        raw = (self.store.properties(node.id).get(METADATA_PROPERTY) or ["{}"])[0]
        try:
            metadata = json.loads(raw)
        except ValueError:
            metadata = raw  # served as stored: a client must cope
        body = {"id": f"{scope}.{name}", "version": version,
                "resources": [{"name": "source-archive", "type": "application/zip", "checksum": node.sha256}],
                "metadata": metadata,
                "publishedAt": datetime.fromtimestamp(node.created, timezone.utc).isoformat().replace("+00:00", "Z")}
        return Response(json.dumps(body), mimetype="application/json", headers={"Content-Version": "1"})

    def _archive(self, repo: Repo, scope: str, name: str, version: str) -> Node | None:
        rows = self.store.query(
            "SELECT id FROM nodes WHERE repo = ? AND type = 'file' AND lower(path) = ? AND lower(name) = ? "
            "ORDER BY id LIMIT 1", (repo.storage_key, f"{scope}/{name}".lower(), f"{name}-{version}.zip".lower()))
        return self.store.node_by_id(rows[0]["id"]) if rows else None

    def _publish(self, request: Request, repo: Repo, scope: str, name: str, version: str, base: str,
                 user: str) -> Response:
        if repo.rclass not in ("local", "federated"):
            return _problem(405, f"cannot publish to {repo.rclass} repository {repo.key}")
        archive = request.files.get("source-archive")
        if archive is None:
            return _problem(422, "the source-archive part is required (as a file part)")
        text = request.form.get("metadata")
        if text is None and request.files.get("metadata") is not None:
            text = request.files["metadata"].read().decode("utf-8", "replace")
        try:
            metadata = json.loads(text) if text else {}
        except ValueError:
            metadata = None
        if not isinstance(metadata, dict):
            return _problem(422, "invalid JSON provided for release metadata")
        if self._archive(repo, scope, name, version) is not None:
            return _problem(409, f"a release with version {version} already exists")
        try:
            blob = self.store.blobs.put_stream(archive.stream)
        except BlobTooShort as err:
            return _problem(400, str(err))
        props = [(METADATA_PROPERTY, json.dumps(metadata))] if metadata else []
        try:
            self.store.deploy(repo.storage_key, f"{scope}/{name}/{name}-{version}.zip", blob, user, "application/zip",
                              properties=props)
        except Conflict as err:
            return _problem(409, str(err))
        location = f"{base}/api/swift/{quote(repo.key)}/{quote(scope)}/{quote(name)}/{quote(version, safe='')}"
        return Response(b"", status=201, headers={"Content-Version": "1", "Location": location})
