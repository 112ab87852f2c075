"""The CodeArtifact stand-in's WSGI application: routes control-plane and package-endpoint requests.

Package endpoints live at ``{base}/d/{domain}-{owner}/{region}/{format}/{repository}/``, the local shape
of ``https://{domain}-{owner}.d.codeartifact.{region}.amazonaws.com/{format}/{repository}/``. Adding a
format is one module in :mod:`ferry.sandbox.codeartifact.formats` registered in ``FORMAT_HANDLERS``.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.store import DEFAULT_ACCOUNT, Domain, Repository, Store, StoreError
from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.web import json_response

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,\s]+/\d{8}/([a-z0-9-]+)/")
_ENDPOINT = re.compile(r"^/d/(?P<domain>[a-z][a-z0-9-]*)-(?P<owner>\d{12})/(?P<region>[a-z0-9-]+)/"
                       r"(?P<format>[a-z]+)/(?P<repo>[^/]+)(?P<rest>/.*)?$")


@dataclass
class EndpointContext:
    """What a format handler needs for one package-endpoint request."""

    store: Store
    domain: Domain
    repo: Repository
    format: str
    base_url: str  # the repository endpoint, ending in "/"
    path: str  # the request path below the repository endpoint, without leading "/"
    token: str | None


FormatHandler = Callable[[EndpointContext, Request], Response]


def region_of(request: Request, default: str = "us-east-1") -> str:
    """The region from the SigV4 credential scope of ``Authorization`` (or ``default``)."""
    m = _CREDENTIAL_SCOPE.search(request.headers.get("Authorization", ""))
    return m.group(1) if m else default


def token_from(request: Request) -> str | None:
    """The token as real clients send it: Basic ``aws:TOKEN``, ``Bearer TOKEN`` or a bare ``TOKEN``."""
    auth = request.headers.get("Authorization", "").strip()
    if not auth:
        return None
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            _user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return None
        return password or None
    if scheme.lower() == "bearer" and value:
        return value.strip()
    return auth if not value else None


def aws_error(err: StoreError, headers: dict[str, str] | None = None) -> Response:
    """The error shape botocore parses: ``x-amzn-ErrorType`` header plus a JSON body."""
    body = {"message": err.message}
    if err.resource_id:
        body["resourceId"] = err.resource_id
    if err.resource_type:
        body["resourceType"] = err.resource_type
    hdrs = {"x-amzn-ErrorType": err.code}
    hdrs.update(headers or {})
    return json_response(body, status=err.status, headers=hdrs)


def accounts_from(text: str) -> dict[str, str]:
    """``KEY=ACCOUNT[,KEY=ACCOUNT...]`` (``FERRY_CA_ACCOUNTS``): the account each access key id signs for, as
    real credentials belong to one account; a key not named is the default account, 111122223333. A call's
    domain owner defaults to its caller's account, as the service's does. Raises ``ValueError`` for an entry
    that is not ``KEY=`` followed by 12 digits."""
    accounts = {}
    for entry in filter(None, (e.strip() for e in text.split(","))):
        key, _, account = entry.partition("=")
        if not key.strip() or not re.fullmatch(r"\d{12}", account.strip()):
            raise ValueError(f"FERRY_CA_ACCOUNTS entry {entry!r} is not ACCESS_KEY_ID=ACCOUNT (12 digits)")
        accounts[key.strip()] = account.strip()
    return accounts


class CodeArtifactApp:
    """WSGI app for the CodeArtifact stand-in, with state under ``data_dir``."""

    def __init__(self, data_dir: Path, faults: FaultSpec | None = None, accounts: dict[str, str] | None = None):
        self.store = Store(Path(data_dir))
        self.faults = faults or FaultSpec()
        from ferry.sandbox.codeartifact import control
        from ferry.sandbox.codeartifact.formats import FORMAT_HANDLERS

        # Which account each access key signs for: changing it in place (tests) changes it for the next call.
        self.accounts = accounts_from(os.environ.get("FERRY_CA_ACCOUNTS", "")) if accounts is None else accounts
        self._control = control.ControlPlane(self.store, self.faults, self.accounts)
        self._formats: dict[str, FormatHandler] = FORMAT_HANDLERS

    def __call__(self, environ, start_response):
        request = Request(environ)
        try:
            if request.path.startswith("/v1/"):
                response = self._control.dispatch(request, region_of(request))
            elif request.path.startswith("/d/"):
                response = self._package_endpoint(request)
            else:
                response = json_response({"message": "Not found"}, status=404)
        except StoreError as err:
            response = aws_error(err)
        return response(environ, start_response)

    def _package_endpoint(self, request: Request) -> Response:
        m = _ENDPOINT.match(request.path)
        if not m or m["format"] not in self._formats:
            return Response("Not found\n", status=404, mimetype="text/plain")
        try:
            domain = self.store.domain(m["region"], m["owner"], m["domain"])
        except StoreError:
            return Response("Not found\n", status=404, mimetype="text/plain")
        token = token_from(request)
        token_domain = self.store.token_domain(token) if token else None
        if token_domain is None or token_domain.id != domain.id:
            # The real service answers 401 with a Basic challenge; clients then retry with credentials.
            return Response("Unauthorized\n", status=401, mimetype="text/plain",
                            headers={"WWW-Authenticate": 'Basic realm="codeartifact"'})
        try:
            repo = self.store.repository(domain, m["repo"])
        except StoreError:
            return Response("Not found\n", status=404, mimetype="text/plain")
        root = request.host_url.rstrip("/")
        base = f"{root}/d/{domain.name}-{domain.owner}/{domain.region}/{m['format']}/{repo.name}/"
        ctx = EndpointContext(self.store, domain, repo, m["format"], base, (m["rest"] or "/")[1:], token)
        return self._formats[m["format"]](ctx, request)


def endpoint_url(base_url: str, domain: Domain, repo_name: str, fmt: str) -> str:
    """The repository endpoint a GetRepositoryEndpoint call returns (always ends with ``/``)."""
    owner = domain.owner or DEFAULT_ACCOUNT
    return f"{base_url.rstrip('/')}/d/{domain.name}-{owner}/{domain.region}/{fmt}/{repo_name}/"
