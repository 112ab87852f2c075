"""Repository content under ``/repository/{name}/...``: downloads, PUT, DELETE and format endpoints.

Downloads stream from the blob store. Errors on this side are plain text with the message also in
the HTTP reason phrase, as Nexus's view layer sends them (twine's ``--skip-existing`` looks there
for "updating asset"). Format endpoints: npm packuments, PyPI ``simple/`` pages and the legacy upload
API (twine), and Cargo's sparse index, downloads, ``cargo publish`` and ``cargo yank`` (``--undo``).
"""

from __future__ import annotations

import json
import re
from email.utils import formatdate

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.nexus import formats, indexes
from ferry.sandbox.nexus.ingest import Ingest, Who
from ferry.sandbox.nexus.render import repo_url
from ferry.sandbox.nexus.store import AssetRow, NexusError, NotFound, RepoRecord, Store

READ_METHODS = ("GET", "HEAD")
_YANK = re.compile(r"\Aapi/v1/crates/(?P<name>[^/]+)/(?P<version>[^/]+)/(?P<verb>yank|unyank)\Z")


def text_error(status: int, message: str) -> Response:
    """A view-layer error: the message as body and (sanitized) as the reason phrase."""
    reason = " ".join(message.split())[:200].encode("latin-1", "replace").decode("latin-1")
    return Response(message + "\n", status=f"{status} {reason}", mimetype="text/plain")


def cargo_error(status: int, message: str) -> Response:
    return Response(json.dumps({"errors": [{"detail": message}]}), status=status, mimetype="application/json")


class ContentApi:
    """Serves and accepts repository content."""

    def __init__(self, store: Store, ingest: Ingest):
        self.store = store
        self.ingest = ingest

    def dispatch(self, request: Request, repo: RepoRecord, path: str, base: str, who: Who) -> Response:
        """Handle one request for ``path`` (below the repository, without leading ``/``)."""
        try:
            if repo.format == "cargo":
                return self._cargo(request, repo, path, base, who)
            if repo.format == "npm" and path.lstrip("/").startswith("-/package/"):
                return self._dist_tags(request, repo, path.lstrip("/")[len("-/package/"):], who)
            if request.method in READ_METHODS:
                return self._read(request, repo, path, base)
            if request.method == "PUT" and repo.format == "npm" and "/-/" not in path:
                return self._deprecate(request, repo, path, who)
            if request.method == "PUT":
                self.ingest.put(repo, path, request.stream, request.content_length, who)
                return Response(status=201)
            if request.method == "POST" and repo.format == "pypi" and path.strip("/") == "":
                self.ingest.twine_upload(repo, request.form, request.files, who)
                return Response(status=200)
            if request.method == "DELETE":
                return self._delete(repo, path.strip("/"), who)
            return text_error(405, f"Method {request.method} not allowed")
        except NexusError as err:
            return text_error(err.status, err.message)

    def stream(self, request: Request, asset: AssetRow, body: bytes | None = None) -> Response:
        """The asset's bytes (or ``body`` instead) with Nexus's download headers."""
        headers = {"Last-Modified": formatdate(asset.blob_created, usegmt=True), "ETag": f'"{asset.sha1}"',
                   "X-Content-Type-Options": "nosniff"}
        if request.if_none_match and asset.sha1 in request.if_none_match:
            return Response(status=304, headers=headers)
        if body is not None:
            return Response(body, mimetype=asset.content_type, headers=headers)
        if request.method == "HEAD":
            resp = Response(status=200, mimetype=asset.content_type, headers=headers)
            resp.content_length = asset.size
            return resp
        self.store.record_download(asset)
        handle = self.store.blobs.open(asset.sha256)
        resp = Response(wrap_file(request.environ, handle), mimetype=asset.content_type, headers=headers,
                        direct_passthrough=True)
        resp.content_length = asset.size
        return resp

    def _read(self, request: Request, repo: RepoRecord, path: str, base: str) -> Response:
        clean = path.lstrip("/")
        if repo.format == "pypi" and clean in ("simple", "simple/"):
            return Response(indexes.simple_root(self.store, repo), mimetype="text/html")
        if repo.format == "pypi" and clean.startswith("simple/"):
            name = clean[len("simple/"):].strip("/")
            clean = f"simple/{formats.pypi_normalize(name)}/"
        asset = self.store.asset_at(repo.name, clean)
        if asset is None:
            raise NotFound(f"Not found: {path}")
        if repo.format == "npm" and "/-/" not in clean:
            with self.store.blobs.open(asset.sha256) as fh:
                return self.stream(request, asset, indexes.render_packument(fh.read(), repo_url(base, repo.name)))
        return self.stream(request, asset)

    def _dist_tags(self, request: Request, repo: RepoRecord, rest: str, who: Who) -> Response:
        """``-/package/{name}/dist-tags[/{tag}]``: what ``npm dist-tag ls/add/rm`` call."""
        name, sep, tail = rest.replace("%2f", "/").replace("%2F", "/").rpartition("/dist-tags")
        if not sep or not name:
            raise NotFound(f"Not found: {rest}")
        tag = tail.strip("/")
        if request.method == "GET" and not tag:
            return Response(json.dumps(indexes.dist_tags(self.store, repo, name)), mimetype="application/json")
        if request.method == "PUT" and tag:
            version = json.loads(request.get_data(as_text=True) or "null")
            if not isinstance(version, str):
                return text_error(400, "Body must be a JSON string naming the version")
            indexes.set_dist_tag(self.store, repo, name, tag, version, who)
            return Response(json.dumps({"ok": True}), status=201, mimetype="application/json")
        if request.method == "DELETE" and tag:
            indexes.set_dist_tag(self.store, repo, name, tag, None, who)
            return Response(json.dumps({"ok": True}), mimetype="application/json")
        return text_error(405, f"Method {request.method} not allowed")

    def _deprecate(self, request: Request, repo: RepoRecord, path: str, who: Who) -> Response:
        """``PUT {name}``: what ``npm deprecate`` sends, the packument with changed ``deprecated`` messages."""
        name = path.strip("/").replace("%2f", "/").replace("%2F", "/")
        try:
            doc = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return text_error(400, "Body must be a JSON packument")
        indexes.set_deprecations(self.store, repo, name, doc, who)
        return Response(json.dumps({"ok": True}), status=200, mimetype="application/json")

    def _delete(self, repo: RepoRecord, path: str, who: Who) -> Response:
        if repo.type != "hosted":
            return text_error(400, f"Repository does not allow deleting: {repo.name}")
        asset = self.store.asset_at(repo.name, path)
        if asset is None:
            raise NotFound(f"Not found: {path}")
        self.store.delete_asset(asset)
        indexes.after_delete(self.store, repo, [asset], who)
        return Response(status=204)

    # -- Cargo --------------------------------------------------------------------------------------

    def _cargo(self, request: Request, repo: RepoRecord, path: str, base: str, who: Who) -> Response:
        clean = path.strip("/")
        url = repo_url(base, repo.name)
        if clean == "api/v1/crates/new" and request.method == "PUT":
            try:
                self.ingest.cargo_publish(repo, request.stream, who)
            except NexusError as err:
                return cargo_error(err.status, err.message)
            return Response(json.dumps({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}),
                            mimetype="application/json")
        yank = _YANK.match(clean)
        if yank is not None:
            return self._cargo_yank(request, repo, yank["name"], yank["version"], yank["verb"])
        if request.method not in READ_METHODS:
            return cargo_error(405, f"Method {request.method} not allowed")
        if clean == "config.json":
            body = {"dl": f"{url}/crates", "api": url, "auth-required": True}
            return Response(json.dumps(body), mimetype="application/json")
        parts = clean.split("/")
        if len(parts) == 4 and parts[0] == "crates" and parts[3] == "download":
            asset = self.store.asset_at(repo.name, formats.cargo_crate_path(parts[1], parts[2]))
            if asset is None:
                return cargo_error(404, f"crate {parts[1]}@{parts[2]} not found")
            return self.stream(request, asset)
        asset = self.store.asset_at(repo.name, clean)
        if asset is not None:
            return self.stream(request, asset)
        index = indexes.cargo_index(self.store, repo, clean)
        if index is None:
            return cargo_error(404, f"not found: {clean}")
        return Response(index, mimetype="text/plain")

    def _cargo_yank(self, request: Request, repo: RepoRecord, name: str, version: str, verb: str) -> Response:
        """``cargo yank`` (``DELETE``) and ``cargo yank --undo`` (``PUT .../unyank``), which Nexus serves for
        hosted Cargo repositories [D: help.sonatype.com "Rust / Cargo": "Nexus Repository does support yank and
        unyank endpoints"]: the version stays downloadable, its index line says ``"yanked"``."""
        if request.method != ("DELETE" if verb == "yank" else "PUT"):
            return cargo_error(405, f"Method {request.method} not allowed")
        if repo.type != "hosted":
            return cargo_error(405, f"crates can only be yanked in a hosted repository, not {repo.name}")
        asset = self.store.asset_at(repo.name, formats.cargo_crate_path(name, version))
        if asset is None or "_index" not in asset.attrs:
            return cargo_error(404, f"crate {name}@{version} not found")
        entry = {**asset.attrs["_index"], "yanked": verb == "yank"}
        self.store.set_asset_attrs(asset.seq, {**asset.attrs, "_index": entry})
        return Response(json.dumps({"ok": True}), mimetype="application/json")
