"""The PyPI API of a repository, ``/artifactory/api/pypi/{repo}``: the legacy upload twine sends, and the
``simple/`` index pip reads.

An upload lands at ``{name}/{version}/{filename}`` (the layout Artifactory gives PyPI local
repositories) and is indexed like any deploy (``pypi.name``, ``pypi.version``, ``pypi.normalized.name``).
The index lists the files whose ``pypi.normalized.name`` matches, wherever they are in the repository,
with ``#sha256=`` fragments; file links point at the repository's download URLs.
"""

from __future__ import annotations

import html
import re
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ferry.sandbox.artifactory import indexing
from ferry.sandbox.artifactory.store import Repo, Store
from ferry.sandbox.blobs import BlobTooShort

_FILENAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+!-]*\.(whl|tar\.gz|zip|tar\.bz2|egg)$")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _text(status: int, message: str) -> Response:
    return Response(message + "\n", status=status, mimetype="text/plain")


class PypiApi:
    def __init__(self, store: Store):
        self.store = store

    def dispatch(self, request: Request, repo: Repo, rest: str, base: str, user: str) -> Response:
        """Handle ``/api/pypi/{repo}/{rest}`` (``rest`` decoded)."""
        rest = rest.strip("/")
        if request.method == "POST" and rest in ("", "legacy"):
            return self._upload(request, repo, base, user)
        if request.method != "GET":
            return _text(405, f"{request.method} is not supported here")
        if rest == "simple":
            return self._projects(repo)
        if rest.startswith("simple/"):
            return self._project(repo, rest[len("simple/"):], base)
        return _text(404, "Not Found")

    def _upload(self, request: Request, repo: Repo, base: str, user: str) -> Response:
        if repo.rclass not in ("local", "federated"):
            return _text(405, f"cannot upload to {repo.rclass} repository {repo.key}")
        form = request.form
        upload = request.files.get("content")
        if form.get(":action") != "file_upload" or upload is None:
            return _text(400, "expected :action=file_upload with a content file")
        filename = upload.filename or ""
        name, version = form.get("name", ""), form.get("version", "")
        if not _FILENAME.match(filename) or not name or not version:
            return _text(400, f"invalid upload: file {filename!r}, name {name!r}, version {version!r}")
        path = f"{normalize(name)}/{version}/{filename}"
        if self.store.node(repo.key, path) is not None:
            return _text(409, f"{filename} already exists in {repo.key}")
        try:
            blob = self.store.blobs.put_stream(upload.stream)
        except BlobTooShort as err:
            return _text(400, str(err))
        node = self.store.deploy(repo.key, path, blob, user, "application/octet-stream")
        props, _ = indexing.index("pypi", filename, self.store.blobs.path(blob.sha256))
        self.store.add_properties(node.id, props or [("pypi.name", name), ("pypi.version", version),
                                                     ("pypi.normalized.name", normalize(name))])
        return _text(200, "OK")

    def _projects(self, repo: Repo) -> Response:
        rows = self.store.query("SELECT DISTINCT p.value FROM props p JOIN nodes n ON n.id = p.node "
                                "WHERE n.repo = ? AND p.key = 'pypi.normalized.name' ORDER BY p.value",
                                (repo.storage_key,))
        links = "".join(f'<a href="{html.escape(r["value"])}/">{html.escape(r["value"])}</a>\n' for r in rows)
        return Response(f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n", mimetype="text/html")

    def _project(self, repo: Repo, project: str, base: str) -> Response:
        wanted = normalize(project)
        rows = self.store.query(
            "SELECT n.* FROM nodes n JOIN props p ON p.node = n.id WHERE n.repo = ? AND p.key = "
            "'pypi.normalized.name' AND p.value = ? ORDER BY n.name", (repo.storage_key, wanted))
        if not rows:
            return _text(404, f"No such project: {project}")
        links = []
        for row in rows:
            full = row["name"] if row["path"] == "." else f"{row['path']}/{row['name']}"
            href = f"{base}/{quote(repo.storage_key)}/{quote(full)}#sha256={row['sha256']}"
            links.append(f'<a href="{html.escape(href)}">{html.escape(row["name"])}</a><br/>\n')
        title = html.escape(wanted)
        return Response(f"<!DOCTYPE html>\n<html><head><title>Links for {title}</title></head><body>\n"
                        f"<h1>Links for {title}</h1>\n{''.join(links)}</body></html>\n", mimetype="text/html")
