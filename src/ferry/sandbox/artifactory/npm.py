"""The npm registry API of a repository, ``/artifactory/api/npm/{repo}/...``: packuments, tarballs, dist-tags,
and ``npm publish`` (the body is read as a stream; the tarball lands at ``{name}/-/{name}-{version}.tgz``,
where Artifactory's npm publish puts it, and is indexed like any deploy).

The packument is built from the tarballs Artifactory indexed (``npm.name``/``npm.version`` and the
tarball's ``package.json``), wherever in the repository they were deployed. ``dist-tags`` are the
tags set through ``npm dist-tag`` (``PUT /-/package/{name}/dist-tags/{tag}``); without an explicit
``latest``, it is the highest release version (semver order), else the highest version [U].
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.artifactory import indexing
from ferry.sandbox.artifactory.aql import iso
from ferry.sandbox.artifactory.store import Node, Repo, Store
from ferry.sandbox.codeartifact.formats.npm_body import BadBody, attachment_blobs, read_publish_body

_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+.*)?$")


def semver_key(version: str) -> tuple:
    """Sort key in semver precedence; versions that are not semver sort first, by text."""
    m = _SEMVER.match(version)
    if not m:
        return (0, version)
    pre = m.group(4)
    pre_key: tuple = (1,) if pre is None else (0, *[(0, int(p), "") if p.isdigit() else (1, 0, p)
                                                   for p in pre.split(".")])
    return (1, int(m.group(1)), int(m.group(2)), int(m.group(3)), pre_key)


def _error(status: int, message: str) -> Response:
    return Response(json.dumps({"error": message}), status=status, mimetype="application/json")


class NpmApi:
    def __init__(self, store: Store):
        self.store = store

    def dispatch(self, request: Request, repo: Repo, rest: str, base: str, user: str) -> Response:
        """Handle ``/api/npm/{repo}/{rest}``; ``rest`` is still %-encoded (``@scope%2fname``)."""
        storage = repo.storage_key
        rest = rest.strip("/")
        if rest.startswith("-/package/"):
            return self._dist_tags(request, storage, rest[len("-/package/"):])
        if "/-/" in rest:
            name, _, file = unquote(rest).partition("/-/")
            return self._tarball(request, storage, name, file, user)
        name = unquote(rest)
        if request.method == "PUT":
            return self._publish(request, repo, name, user)
        if request.method != "GET":
            return _error(405, f"{request.method} is not supported by this stand-in's npm API")
        doc = self.packument(storage, name, f"{base}/api/npm/{repo.key}")
        if doc is None:
            return _error(404, "not_found")
        return Response(json.dumps(doc), mimetype="application/json")

    def tags(self, storage: str, name: str, versions: list[str]) -> dict[str, str]:
        tags = self.store.dist_tags(storage, name)
        if "latest" not in tags and versions:
            releases = [v for v in versions if _SEMVER.match(v) and not _SEMVER.match(v).group(4)]
            tags["latest"] = max(releases or versions, key=semver_key)
        return tags

    def packument(self, storage: str, name: str, registry: str) -> dict[str, Any] | None:
        found = self.store.npm_versions(storage, name)
        if not found:
            return None
        unscoped = name.rpartition("/")[2]
        versions: dict[str, Any] = {}
        times: dict[str, str] = {}
        for node, version, manifest in found:
            doc = dict(manifest)
            doc["_id"] = f"{name}@{version}"
            dist = {"tarball": f"{registry}/{name}/-/{unscoped}-{version}.tgz", "shasum": node.sha1}
            if node.sha512:
                dist["integrity"] = "sha512-" + base64.b64encode(bytes.fromhex(node.sha512)).decode()
            doc["dist"] = dist
            versions[version] = doc
            times[version] = iso(node.created) or ""
        return {"_id": name, "name": name, "dist-tags": self.tags(storage, name, list(versions)),
                "versions": versions, "time": times}

    def _version_node(self, storage: str, name: str, file: str) -> Node | None:
        unscoped = name.rpartition("/")[2]
        stem = file.rpartition("/")[2]
        for node, version, _manifest in self.store.npm_versions(storage, name):
            if stem in (f"{unscoped}-{version}.tgz", node.name):
                return node
        return None

    def _tarball(self, request: Request, storage: str, name: str, file: str, user: str) -> Response:
        if request.method not in ("GET", "HEAD"):
            return _error(405, "tarballs are read-only here")
        node = self._version_node(storage, name, file)
        if node is None:
            return _error(404, "not_found")
        handle = self.store.blobs.open(node.sha256 or "")
        if request.method == "HEAD":
            handle.close()
            resp = Response(status=200, mimetype="application/octet-stream")
        else:
            self.store.record_download(node.id, user)
            resp = Response(wrap_file(request.environ, handle), mimetype="application/octet-stream",
                            direct_passthrough=True)
        resp.content_length = node.size
        return resp

    def _publish(self, request: Request, repo: Repo, name: str, user: str) -> Response:
        """``npm publish``: one version with its tarball attachment, and its dist-tags."""
        if repo.rclass not in ("local", "federated"):
            return _error(405, f"cannot publish to {repo.rclass} repository {repo.key}")
        try:
            doc = read_publish_body(request.stream, self.store.blobs)
        except BadBody as err:
            return _error(400, f"bad publish body: {err}")
        versions = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
        blobs = attachment_blobs(doc)
        if doc.get("name") != name or len(versions) != 1 or len(blobs) != 1:
            return _error(400, "a publish body names this package and holds one version and one attachment")
        (version, _manifest), = versions.items()
        (blob, _length), = blobs.values()
        existing = [v for _n, v, _m in self.store.npm_versions(repo.key, name)]
        if version in existing:
            return _error(403, f"cannot modify pre-existing version: {version}")
        node = self.store.deploy(repo.key, f"{name}/-/{name}-{version}.tgz", blob, user, "application/x-tar")
        props, manifest = indexing.index("npm", node.name, self.store.blobs.path(blob.sha256))
        if not manifest or manifest.get("name") != name or manifest.get("version") != version:
            self.store.delete(repo.key, node.full_path)
            return _error(400, "the tarball's package.json does not match the published name and version")
        self.store.add_properties(node.id, props)
        self.store.set_npm_version(node, name, version, manifest)
        for tag, target in (doc.get("dist-tags") or {}).items():
            if isinstance(target, str) and target in (*existing, version):
                self.store.set_dist_tag(repo.key, name, str(tag), target)
        return Response(json.dumps({"ok": True, "id": name}), status=201, mimetype="application/json")

    def _dist_tags(self, request: Request, storage: str, rest: str) -> Response:
        # rest: "{name}/dist-tags[/{tag}]" with name possibly "@scope%2fname" or "@scope/name"
        text = unquote(rest)
        name, sep, tail = text.partition("/dist-tags")
        if not sep:
            return _error(404, "not_found")
        tag = tail.strip("/")
        versions = [v for _n, v, _m in self.store.npm_versions(storage, name)]
        if not versions:
            return _error(404, "not_found")
        if request.method == "GET" and not tag:
            return Response(json.dumps(self.tags(storage, name, versions)), mimetype="application/json")
        if request.method == "PUT" and tag:
            try:
                version = json.loads(request.get_data(as_text=True))
            except ValueError:
                return _error(400, "expected a JSON string")
            if version not in versions:
                return _error(404, f"version {version} not found")
            self.store.set_dist_tag(storage, name, tag, version)
            return Response(json.dumps({"ok": True}), status=201, mimetype="application/json")
        if request.method == "DELETE" and tag:
            self.store.set_dist_tag(storage, name, tag, None)
            return Response(json.dumps({"ok": True}), mimetype="application/json")
        return _error(405, "not supported")


__all__ = ["NpmApi", "semver_key"]
