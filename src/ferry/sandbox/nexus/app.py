"""The Nexus Repository 3 stand-in's WSGI application.

- ``/service/rest/v1/...`` → :class:`~ferry.sandbox.nexus.rest.RestApi` (repositories, components,
  assets, search); ``/service/rest/v1/status`` answers without credentials.
- ``/repository/{name}/...`` → :class:`~ferry.sandbox.nexus.content.ContentApi` (downloads, PUT, ...).

Authentication is HTTP Basic against ``config.users`` (``admin``/``admin123`` by default); anonymous
requests may read when ``config.anonymous_read`` is set. Refusals are 401 with Nexus's Basic
challenge. Settings: :mod:`ferry.sandbox.nexus.config`. Request faults (throttle, 5xx, reset, ...)
are not this module's business: the sandbox wraps every stand-in in ``faults.FaultMiddleware``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from pathlib import Path

from werkzeug.wrappers import Request, Response

from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.nexus.config import NexusConfig
from ferry.sandbox.nexus.content import READ_METHODS, ContentApi, text_error
from ferry.sandbox.nexus.ingest import Ingest, Who
from ferry.sandbox.nexus.rest import RestApi, error_response
from ferry.sandbox.nexus.store import NexusError, NotFound, Store

REALM = 'BASIC realm="Sonatype Nexus Repository Manager"'
REST_PREFIX = "/service/rest/v1"


def _proxy(remote: str) -> dict:
    """The settings every proxy repository shows (the client's models require them)."""
    return {"proxy": {"remoteUrl": remote, "contentMaxAge": -1, "metadataMaxAge": 1440},
            "negativeCache": {"enabled": True, "timeToLive": 1440},
            "httpClient": {"blocked": False, "autoBlock": True, "connection": None, "authentication": None},
            "routingRuleName": None}


# What a fresh Nexus 3 installation has (name, format, type, settings).
_DEFAULT_REPOS = [
    ("maven-releases", "maven2", "hosted", {"maven": {"versionPolicy": "RELEASE", "layoutPolicy": "STRICT"},
                                            "storage": {"writePolicy": "ALLOW_ONCE"}}),
    ("maven-snapshots", "maven2", "hosted", {"maven": {"versionPolicy": "SNAPSHOT", "layoutPolicy": "STRICT"},
                                             "storage": {"writePolicy": "ALLOW"}}),
    ("maven-central", "maven2", "proxy", {"maven": {"versionPolicy": "RELEASE", "layoutPolicy": "PERMISSIVE"},
                                          **_proxy("https://repo1.maven.org/maven2/")}),
    ("maven-public", "maven2", "group", {"group": {"memberNames": ["maven-releases", "maven-snapshots",
                                                                   "maven-central"]}}),
    ("nuget-hosted", "nuget", "hosted", {"storage": {"writePolicy": "ALLOW"}}),
    ("nuget.org-proxy", "nuget", "proxy", {"nugetProxy": {"queryCacheItemMaxAge": 3600, "nugetVersion": "V3"},
                                           **_proxy("https://api.nuget.org/v3/index.json")}),
    ("nuget-group", "nuget", "group", {"group": {"memberNames": ["nuget-hosted", "nuget.org-proxy"]}}),
]


def _with_storage(settings: dict) -> dict:
    storage = {"blobStoreName": "default", "strictContentTypeValidation": True}
    storage.update(settings.get("storage") or {})
    return {"online": True, **settings, "storage": storage, "cleanup": None,
            "component": {"proprietaryComponents": False}}


class NexusApp:
    """WSGI app for the Nexus stand-in, with state under ``data_dir``.

    ``config`` defaults to :meth:`NexusConfig.from_env`. ``faults`` (a ``FaultSpec`` or the sandbox's live
    controller) is kept for symmetry with the other stand-ins; injection happens in the middleware.
    """

    def __init__(self, data_dir: Path, faults: FaultSpec | None = None, config: NexusConfig | None = None):
        self.data_dir = Path(data_dir)
        self.config = config or NexusConfig.from_env()
        self.faults = faults or FaultSpec()
        self.store = Store(self.data_dir)
        self.ingest = Ingest(self.store)
        self.rest = RestApi(self.store, self.ingest, self.config)
        self.content = ContentApi(self.store, self.ingest)
        if self.config.seed_defaults and not self.store.repositories():
            for name, fmt, rtype, settings in _DEFAULT_REPOS:
                self.store.create_repository(name, fmt, rtype, _with_storage(settings))

    def close(self) -> None:
        """Release the database (the sandbox calls this on stop)."""
        self.store.close()

    # -- request handling ---------------------------------------------------------------------------

    def _user(self, request: Request) -> str | None:
        """The authenticated user, ``""`` for anonymous, ``None`` for bad credentials."""
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if not header:
            return ""
        if scheme.lower() != "basic":
            return None
        try:
            user, sep, password = base64.b64decode(value.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        expected = self.config.users.get(user)
        if not sep or expected is None or not hmac.compare_digest(expected.encode(), password.encode()):
            return None
        return user

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            return self._handle(request)(environ, start_response)
        finally:
            request.close()

    def _handle(self, request: Request) -> Response:
        path = request.path
        base = request.host_url.rstrip("/")
        if path.rstrip("/") in (f"{REST_PREFIX}/status", f"{REST_PREFIX}/status/writable"):
            return Response(status=200)
        user = self._user(request)
        if user is None or (user == "" and not (self.config.anonymous_read and request.method in READ_METHODS)):
            return Response("Unauthorized\n", status=401, mimetype="text/plain", headers={"WWW-Authenticate": REALM})
        who = Who(user or "anonymous", request.remote_addr)
        if path.startswith(REST_PREFIX + "/"):
            try:
                return self.rest.dispatch(request, path[len(REST_PREFIX):], base, who)
            except NexusError as err:
                return error_response(err)
        if path.startswith("/repository/"):
            name, _, rest = path[len("/repository/"):].partition("/")
            try:
                repo = self.store.repository(name)
            except NotFound:
                return text_error(404, f"Repository not found: {name}")
            return self.content.dispatch(request, repo, rest, base, who)
        return text_error(404, "Not found")
