"""Repository content under ``/artifactory/{repo}/{path}``: deploy (PUT), download (GET/HEAD), DELETE.

Deploys take ``;key=value`` matrix parameters as properties and the checksum headers
``X-Checksum-Sha1``/``-Sha256``/``-Md5`` (``X-Checksum`` by its length). Under the default
``checksumPolicyType: client-checksums`` a header that disagrees with the body is refused with 409
(what Artifactory logs as "Checksum policy 'LocalRepoChecksumPolicy: CLIENT' rejected the
artifact"); under ``server-generated-checksums`` the deploy succeeds and the client's values stay
as ``originalChecksums`` [U]. A PUT of ``X.sha1``/``X.md5``/``X.sha256`` for an existing file ``X``
records its original checksum instead of storing a file (Maven clients upload those) [U].
``X-Checksum-Deploy: true`` deploys by checksum (404 when no file has that content).

Downloads stream from the blob store; ``X.sha1`` etc. of a stored file are answered from its
checksums. A remote repository ``X`` serves what its cache ``X-cache`` holds (there is no upstream);
a virtual repository serves the first of its member repositories that has the path. With
``download_redirect`` set, file downloads answer 302 to a credential-free "CDN" URL instead.
"""

from __future__ import annotations

import html
import mimetypes
import re
from email.utils import formatdate
from urllib.parse import unquote

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.artifactory import indexing, render
from ferry.sandbox.artifactory.store import ArtifactoryError, Conflict, Node, NotFound, Repo, Store
from ferry.sandbox.blobs import Blob, BlobTooShort

CHECKSUM_EXT = {".sha1": "sha1", ".md5": "md5", ".sha256": "sha256"}
_HEX = {"md5": 32, "sha1": 40, "sha256": 64}
_HEXRE = re.compile(r"^[0-9a-fA-F]+$")


def split_matrix(raw_path: str) -> tuple[str, list[tuple[str, str]]]:
    """The decoded path and the ``;key=value`` matrix parameters of a raw (still %-encoded) path."""
    segments, props = [], []
    for segment in raw_path.split("/"):
        head, *params = segment.split(";")
        segments.append(unquote(head))
        for param in params:
            if not param:
                continue
            key, _, value = param.partition("=")
            props.append((unquote(key), unquote(value)))
    return "/".join(segments), props


def _claimed(request: Request) -> dict[str, str]:
    """Checksums the client sent in headers, by algorithm (lower-case hex)."""
    out: dict[str, str] = {}
    for algo, header in (("sha1", "X-Checksum-Sha1"), ("sha256", "X-Checksum-Sha256"), ("md5", "X-Checksum-Md5")):
        value = request.headers.get(header, "").strip()
        if value:
            out[algo] = value.lower()
    bare = request.headers.get("X-Checksum", "").strip().lower()
    for algo, length in _HEX.items():
        if len(bare) == length and algo not in out:
            out[algo] = bare
    return out


class Content:
    """Serves and accepts repository content."""

    def __init__(self, store: Store, redirect_base=lambda: ""):
        self.store = store
        self._redirect_base = redirect_base  # the live config's download_redirect

    def dispatch(self, request: Request, raw_path: str, base: str, user: str) -> Response:
        """Handle ``/artifactory/{raw_path}`` (raw_path still %-encoded, matrix parameters included)."""
        path, props = split_matrix(raw_path)
        key, _, rest = path.partition("/")
        repo = self.store.storage_repo(key)
        if repo is None:
            return render.error(404, f"Repository {key} does not exist" if request.method != "GET"
                                else "Item not found")
        try:
            if request.method in ("GET", "HEAD"):
                return self._read(request, repo, key, rest, base, user)
            if request.method == "PUT":
                return self._deploy(request, repo, key, rest, props, base, user)
            if request.method == "DELETE":
                return self._delete(repo, key, rest)
        except ArtifactoryError as err:
            return render.error(err.status, err.message)
        return render.error(405, f"Method {request.method} is not allowed here")

    # -- reading ------------------------------------------------------------------------------------

    def _members(self, repo: Repo, key: str) -> list[str]:
        """Storage keys a read of ``key`` looks in, in order."""
        if repo.rclass != "virtual":
            return [key if key != repo.key else repo.storage_key]
        out = []
        for member in repo.config.get("repositories") or []:
            found = self.store.find_repo(member)
            if found is not None and found.rclass != "virtual":
                out.append(found.storage_key)
        return out

    def _read(self, request: Request, repo: Repo, key: str, path: str, base: str, user: str) -> Response:
        path = path.strip("/")
        for storage in self._members(repo, key):
            if not path:
                return self._listing(storage, "", base)
            node = self.store.node(storage, path)
            if node is None:
                continue
            if node.is_folder:
                return self._listing(storage, path, base)
            return self._send(request, node, user)
        for ext, algo in CHECKSUM_EXT.items():
            if path.endswith(ext):
                for storage in self._members(repo, key):
                    node = self.store.node(storage, path[: -len(ext)])
                    if node is not None and not node.is_folder:
                        return Response(getattr(node, algo) or "", mimetype="application/x-checksum")
        return render.error(404, "File not found.")

    def _send(self, request: Request, node: Node, user: str) -> Response:
        headers = {
            "X-Checksum-Sha1": node.sha1 or "", "X-Checksum-Sha256": node.sha256 or "",
            "X-Checksum-Md5": node.md5 or "", "ETag": node.sha1 or "",
            "Last-Modified": formatdate(node.modified, usegmt=True),
            "X-Artifactory-Filename": node.name, "Accept-Ranges": "bytes",
        }
        mime = node.mime or "application/octet-stream"
        redirect = self._redirect_base()
        if redirect and request.method == "GET":
            return Response(status=302, headers={"Location": f"{redirect}/artifactory/__cdn/{node.sha256}"})
        if request.method == "HEAD":
            resp = Response(status=200, mimetype=mime, headers=headers)
            resp.content_length = node.size
            return resp
        self.store.record_download(node.id, user)
        return self.blob_response(request, node.sha256 or "", node.size, mime, headers)

    def blob_response(self, request: Request, sha256: str, size: int, mime: str = "application/octet-stream",
                      headers: dict[str, str] | None = None) -> Response:
        """A streamed body from the blob store."""
        handle = self.store.blobs.open(sha256)
        resp = Response(wrap_file(request.environ, handle), mimetype=mime, headers=headers or {},
                        direct_passthrough=True)
        resp.content_length = size
        return resp

    def _listing(self, storage: str, folder: str, base: str) -> Response:
        title = f"Index of {storage}/{folder}"
        rows = ['<a href="../">../</a>']
        for child in self.store.children(storage, folder):
            name = child.name + ("/" if child.is_folder else "")
            rows.append(f'<a href="{html.escape(name)}">{html.escape(name)}</a>')
        body = f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head><body><h1>" \
               f"{html.escape(title)}</h1><pre>{chr(10).join(rows)}</pre></body></html>"
        return Response(body, mimetype="text/html")

    # -- writing ------------------------------------------------------------------------------------

    def _deploy_target(self, repo: Repo, key: str) -> Repo:
        if key != repo.key:
            raise ArtifactoryError(f"Cannot deploy to the cache of remote repository {repo.key}", 400)
        if repo.rclass == "remote":
            raise ArtifactoryError(f"Cannot deploy to remote repository {repo.key}", 400)
        if repo.rclass == "virtual":
            target = repo.config.get("defaultDeploymentRepo")
            found = self.store.find_repo(target) if target else None
            if found is None or found.rclass not in ("local", "federated"):
                raise ArtifactoryError(f"Virtual repository {repo.key} has no default deployment repository", 405)
            return found
        return repo

    def _deploy(self, request: Request, repo: Repo, key: str, path: str, props: list[tuple[str, str]], base: str,
                user: str) -> Response:
        repo = self._deploy_target(repo, key)
        if path.endswith("/") or not path.strip("/"):
            if not path.strip("/"):
                raise ArtifactoryError("Cannot deploy to the repository root without a path", 400)
            node = self.store.make_folder(repo.key, path.strip("/"), user)
            return render.json_response(render.folder_info(base, self.store, repo.key, node, node.created), 201)
        path = path.strip("/")
        if ".." in path.split("/"):
            raise ArtifactoryError("Illegal path", 400)
        claimed = _claimed(request)
        for ext, algo in CHECKSUM_EXT.items():
            if path.endswith(ext):
                target = self.store.node(repo.key, path[: -len(ext)])
                if target is not None and not target.is_folder:
                    return self._deploy_checksum(request, repo, target, algo)
        if request.headers.get("X-Checksum-Deploy", "").lower() == "true":
            source = self.store.find_by_checksum(claimed.get("sha1"), claimed.get("sha256"))
            if source is None:
                raise NotFound("Checksum deploy failed: no artifact with this checksum")
            blob = Blob(source.size, source.md5 or "", source.sha1 or "", source.sha256 or "", source.sha512 or "")
        else:
            try:
                blob = self.store.blobs.put_stream(request.stream, request.content_length)
            except BlobTooShort as err:
                raise ArtifactoryError(f"Failed to read the request body: {err}", 400) from None
        actual = {"sha1": blob.sha1, "sha256": blob.sha256, "md5": blob.md5}
        wrong = {a: v for a, v in claimed.items() if v != actual[a]}
        if wrong and self._policy(repo) == "client-checksums":
            detail = ", ".join(f"{a.upper()}: original='{v}', actual='{actual[a]}'" for a, v in wrong.items())
            raise Conflict(f"Checksum policy 'LocalRepoChecksumPolicy: CLIENT' rejected the artifact "
                           f"'{repo.key}:{path}'. Checksums info: {detail}")
        mime = mimetypes.guess_type(path)[0] or "application/octet-stream"
        node = self.store.deploy(repo.key, path, blob, user, mime, props, originals=claimed)
        extra, manifest = indexing.index(repo.package_type, node.name, self.store.blobs.path(blob.sha256))
        if extra:
            self.store.add_properties(node.id, extra)
        if manifest:
            self.store.set_npm_version(node, manifest["name"], manifest["version"], manifest)
        return render.json_response(render.file_info(base, node), 201)

    @staticmethod
    def _policy(repo: Repo) -> str:
        return repo.config.get("checksumPolicyType") or "client-checksums"

    def _deploy_checksum(self, request: Request, repo: Repo, target: Node, algo: str) -> Response:
        text = request.stream.read(1024).decode("ascii", "replace").strip()
        value = text.split()[0].lower() if text else ""
        if len(value) != _HEX[algo] or not _HEXRE.match(value):
            raise ArtifactoryError(f"Invalid {algo} checksum value", 400)
        if value != getattr(target, algo) and self._policy(repo) == "client-checksums":
            raise Conflict(f"Checksum policy 'LocalRepoChecksumPolicy: CLIENT' rejected the artifact "
                           f"'{repo.key}:{target.full_path}'. Checksums info: {algo.upper()}: original='{value}', "
                           f"actual='{getattr(target, algo)}'")
        self.store.set_original(target.id, algo, value)
        return Response(status=201)

    def _delete(self, repo: Repo, key: str, path: str) -> Response:
        target = self._deploy_target(repo, key) if key == repo.key else repo
        storage = key if key != repo.key else target.storage_key
        if not path.strip("/"):
            raise ArtifactoryError("Cannot delete a repository root here; use the repositories API", 400)
        if self.store.delete(storage, path) == 0:
            raise NotFound("Could not locate artifact '%s:%s'." % (storage, path.strip("/")))
        return Response(status=204)
