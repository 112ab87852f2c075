"""The Artifactory stand-in's WSGI application, serving everything under ``/artifactory``.

- ``/artifactory/api/repositories``, ``/api/search/aql``, ``/api/security/{token,apiKey}``,
  ``/api/system/{ping,version}`` → :mod:`~ferry.sandbox.artifactory.rest`;
- ``/artifactory/api/storage/...`` and ``PATCH /api/metadata/...`` → :mod:`~ferry.sandbox.artifactory.storage`;
- ``/artifactory/api/npm/{repo}/...`` → :mod:`~ferry.sandbox.artifactory.npm`;
- ``/artifactory/api/pypi/{repo}/...`` → :mod:`~ferry.sandbox.artifactory.pypi` (twine upload, ``simple/``);
- ``/artifactory/api/swift/{repo}/...`` → :mod:`~ferry.sandbox.artifactory.swift` (publish, release documents);
- ``/artifactory/api/cargo/{repo}/...`` → :mod:`~ferry.sandbox.artifactory.cargo` (sparse index, yank, download);
- ``/artifactory/{repo}/{path}`` → :mod:`~ferry.sandbox.artifactory.content` (deploy, download, delete);
- ``POST /access/api/v1/tokens`` (the platform's token endpoint) creates access tokens too.

Authentication, as Artifactory takes it: ``Authorization: Bearer <access token>``, Basic
``user:password``, ``user:<access token>`` or ``user:<API key>``, or ``X-JFrog-Art-Api: <API key or
token>``. The default user is ``admin``/``password``. Bad credentials get 401 with a JSON error and
Artifactory's Basic challenge; anonymous requests may read when ``config.anonymous_read`` is set.
Settings: :mod:`~ferry.sandbox.artifactory.config`. Faults come from the sandbox's middleware.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import replace
from pathlib import Path
from urllib.parse import unquote, urlsplit

from werkzeug.wrappers import Request, Response

from ferry.sandbox.artifactory import render
from ferry.sandbox.artifactory.cargo import CargoApi
from ferry.sandbox.artifactory.config import ArtifactoryConfig
from ferry.sandbox.artifactory.content import Content
from ferry.sandbox.artifactory.npm import NpmApi
from ferry.sandbox.artifactory.pypi import PypiApi
from ferry.sandbox.artifactory.rest import RestApi
from ferry.sandbox.artifactory.storage import StorageApi
from ferry.sandbox.artifactory.swift import SwiftApi
from ferry.sandbox.artifactory.store import Store
from ferry.sandbox.faults import FaultSpec

PREFIX = "/artifactory"
REALM = 'Basic realm="Artifactory Realm"'
READ_METHODS = ("GET", "HEAD")
# What a fresh Artifactory offers.
_DEFAULT_REPOS = [("example-repo-local", "local", "generic", {"description": "Example artifactory repository"})]


class ArtifactoryApp:
    """WSGI app for the Artifactory stand-in, with state under ``data_dir``.

    ``config`` defaults to :meth:`ArtifactoryConfig.from_env`. ``faults`` is kept for symmetry with the
    other stand-ins; injection happens in the sandbox's middleware.
    """

    def __init__(self, data_dir: Path, faults: FaultSpec | None = None, config: ArtifactoryConfig | None = None):
        self.data_dir = Path(data_dir)
        self.config = config or ArtifactoryConfig.from_env()
        self.faults = faults or FaultSpec()
        self.store = Store(self.data_dir)
        self.rest = RestApi(self.store, self.config)
        self.storage = StorageApi(self.store)
        self.content = Content(self.store, lambda: self.config.download_redirect)
        self.cdn_requests: list[dict[str, str]] = []  # headers seen at the "CDN" (tests check no credentials)
        self.npm = NpmApi(self.store)
        self.pypi = PypiApi(self.store)
        self.swift = SwiftApi(self.store)
        self.cargo = CargoApi(self.store)
        if self.config.seed_defaults and not self.store.repos():
            for key, rclass, package_type, config in _DEFAULT_REPOS:
                self.store.create_repo(key, rclass, package_type, config)

    def configure(self, **changes) -> ArtifactoryConfig:
        """Change settings at run time (e.g. ``aql_refused=403``). Returns the new config; ValueError if invalid."""
        self.config = replace(self.config, **changes)
        self.rest.config = self.config
        return self.config

    def close(self) -> None:
        """Release the database (the sandbox calls this on stop)."""
        self.store.close()

    # -- authentication -----------------------------------------------------------------------------

    def _check_secret(self, user: str, secret: str) -> bool:
        expected = self.config.users.get(user)
        if expected is not None and hmac.compare_digest(expected.encode(), secret.encode()):
            return True
        return self.store.token_user(secret) == user or self.store.api_key_user(secret) == user

    def user(self, request: Request) -> str | None:
        """The authenticated user, ``""`` for anonymous, ``None`` for bad credentials."""
        art_api = request.headers.get("X-JFrog-Art-Api")
        if art_api:
            return self.store.api_key_user(art_api.strip()) or self.store.token_user(art_api.strip())
        header = request.headers.get("Authorization", "")
        if not header:
            return ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer":
            return self.store.token_user(value.strip())
        if scheme.lower() != "basic":
            return None
        try:
            name, sep, secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return name if sep and self._check_secret(name, secret) else None

    # -- dispatch -----------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            return self._handle(request, _raw_path(environ))(environ, start_response)
        finally:
            request.close()

    def _handle(self, request: Request, raw: str) -> Response:
        path = request.path
        if path.rstrip("/") == f"{PREFIX}/api/system/ping":
            return Response("OK", mimetype="text/plain")
        if path.startswith(f"{PREFIX}/__cdn/") and request.method == "GET":
            return self._cdn(request, path[len(f"{PREFIX}/__cdn/"):])
        user = self.user(request)
        if user is None:
            return render.error(401, "Bad credentials", {"WWW-Authenticate": REALM})
        if user == "" and not (self.config.anonymous_read and request.method in READ_METHODS):
            return render.error(401, "Authentication is required", {"WWW-Authenticate": REALM})
        user = user or "anonymous"
        base = request.host_url.rstrip("/") + PREFIX
        if path.rstrip("/") == "/access/api/v1/tokens" and request.method == "POST":
            return self.rest.create_token(request, user, access_api=True)
        if not (path == PREFIX or path.startswith(PREFIX + "/")):
            return render.error(404, "Not Found")
        rest = path[len(PREFIX):].lstrip("/")
        raw_rest = raw[len(PREFIX):].lstrip("/") if raw.startswith(PREFIX) else rest
        if not rest:
            return Response("<html><body>Artifactory (ferry sandbox)</body></html>", mimetype="text/html")
        if rest.startswith("api/"):
            return self._api(request, rest[len("api/"):], raw_rest[len("api/"):], base, user)
        return self.content.dispatch(request, raw_rest, base, user)

    def _cdn(self, request: Request, sha256: str) -> Response:
        """Where ``download_redirect`` sends downloads: content by SHA-256, no credentials needed."""
        self.cdn_requests.append(dict(request.headers))
        if not (len(sha256) == 64 and self.store.blobs.exists(sha256)):
            return render.error(404, "Not Found")
        return self.content.blob_response(request, sha256, self.store.blobs.path(sha256).stat().st_size)

    def _api(self, request: Request, api: str, raw_api: str, base: str, user: str) -> Response:
        head, _, tail = api.partition("/")
        if head == "repositories":
            return self.rest.repositories(request, tail.strip("/"), base, user)
        if head == "storage":
            return self.storage.dispatch(request, tail, base)
        if head == "metadata" and request.method == "PATCH":
            return self.storage.patch_metadata(request, tail)
        if api.rstrip("/") == "search/aql":
            return self.rest.aql(request)
        if head in ("pypi", "swift", "cargo"):  # /api/{format}/{repo}/...: the format's own API over a repository
            key, _, format_rest = tail.partition("/")
            repo = self.store.storage_repo(key)
            if repo is None:
                return render.error(404, f"Repository {key} does not exist")
            api_of_format = {"pypi": self.pypi, "swift": self.swift, "cargo": self.cargo}[head]
            return api_of_format.dispatch(request, repo, format_rest, base, user)
        if head == "npm":
            key, _, npm_rest = raw_api.partition("/")[2].partition("/")
            repo = self.store.storage_repo(unquote(key))
            if repo is None:
                return render.error(404, f"Repository {unquote(key)} does not exist")
            return self.npm.dispatch(request, repo, npm_rest, base, user)
        if api.rstrip("/") == "security/token" and request.method == "POST":
            return self.rest.create_token(request, user, access_api=False)
        if api.rstrip("/") == "security/apiKey":
            return self.rest.api_key(request, user)
        if api.rstrip("/") == "system/version":
            return self.rest.version()
        return render.error(404, f"This stand-in does not implement /api/{api}")


def _raw_path(environ) -> str:
    """The request path as the client sent it (%-escapes and ``;`` matrix parameters intact)."""
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
    if raw.startswith(("http://", "https://")):
        raw = urlsplit(raw).path
    return raw.partition("?")[0] or environ.get("PATH_INFO", "")


class AdminAlias:
    """WSGI wrapper that lets ``{prefix}/__sandbox/...`` reach the sandbox's admin API at ``/__sandbox/...``,
    so the fault admin API also answers below the base URL ``ferry sandbox serve`` prints (``.../artifactory``)."""

    def __init__(self, app, prefix: str):
        self.app = app
        self.alias = prefix.rstrip("/") + "/__sandbox/"

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(self.alias):
            environ = dict(environ, PATH_INFO=path[len(self.alias) - len("/__sandbox/"):])
        return self.app(environ, start_response)
