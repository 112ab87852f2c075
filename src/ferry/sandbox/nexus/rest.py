"""The REST API under ``/service/rest/v1``: repositories, components, assets, search, status."""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.wrappers import Request, Response

from ferry.sandbox.nexus import indexes
from ferry.sandbox.nexus.ingest import Ingest, Who
from ferry.sandbox.nexus.render import Renderer, page, parse_item_id, repository_config, repository_xo
from ferry.sandbox.nexus.search import Search
from ferry.sandbox.nexus.store import BadRequest, NexusError, NotFound, RepoRecord, Store, Unprocessable, \
    ValidationFailed

# The management API's path segment per format, and the format name Nexus reports.
API_FORMATS = {"npm": "npm", "pypi": "pypi", "raw": "raw", "maven": "maven2", "nuget": "nuget",
               "rubygems": "rubygems", "cargo": "cargo"}
_NAME = re.compile(r"^[a-zA-Z0-9\-_][a-zA-Z0-9\-_.]*$")


class FieldErrors(ValidationFailed):
    """Bean-validation failures: ``[{"id": "PARAMETER name", "message": ...}, ...]``."""

    def __init__(self, items: list[dict[str, str]]):
        super().__init__("; ".join(i["message"] for i in items))
        self.items = items


def json_body(body: Any, status: int = 200) -> Response:
    # Nexus indents its answers; clients read JSON, not whitespace, and without ``indent`` json.dumps uses
    # its C encoder: a 10,000-version listing costs the stand-in a quarter less CPU.
    return Response(json.dumps(body), status=status, mimetype="application/json")


def error_response(err: NexusError) -> Response:
    """How Nexus renders REST errors: validation lists, JSON strings for 400s, text otherwise."""
    if isinstance(err, FieldErrors):
        return json_body(err.items, err.status)
    if err.validation:
        return json_body([{"id": "*", "message": err.message}], err.status)
    if err.status == 400:
        return json_body(err.message, err.status)
    return Response(err.message, status=err.status, mimetype="text/plain")


def validate_repository(body: Any, fmt: str, rtype: str) -> None:
    """Check a create/update body the way Nexus's request beans are validated. Raises :class:`FieldErrors`."""
    errors = []

    def need(cond: bool, field: str, message: str = "must not be null") -> None:
        if not cond:
            errors.append({"id": f"PARAMETER {field}", "message": message})

    if not isinstance(body, dict):
        raise FieldErrors([{"id": "*", "message": "Request body must be a JSON object"}])
    name = body.get("name")
    need(isinstance(name, str) and bool(name), "name")
    if isinstance(name, str) and name and not _NAME.match(name):
        need(False, "name", "Only letters, digits, underscores(_), hyphens(-), and dots(.) are allowed and may "
                            "not start with underscore or dot.")
    need(isinstance(body.get("online"), bool), "online")
    storage = body.get("storage")
    need(isinstance(storage, dict), "storage")
    if isinstance(storage, dict):
        need(isinstance(storage.get("blobStoreName"), str), "storage.blobStoreName")
        need(isinstance(storage.get("strictContentTypeValidation"), bool), "storage.strictContentTypeValidation")
        if rtype == "hosted":
            need(storage.get("writePolicy") in ("ALLOW", "ALLOW_ONCE", "DENY"), "storage.writePolicy",
                 "must be one of ALLOW, ALLOW_ONCE, DENY")
    if fmt == "maven2":
        mvn = body.get("maven")
        need(isinstance(mvn, dict), "maven")
        if isinstance(mvn, dict):
            need(mvn.get("versionPolicy") in ("RELEASE", "SNAPSHOT", "MIXED"), "maven.versionPolicy")
            need(mvn.get("layoutPolicy") in ("STRICT", "PERMISSIVE"), "maven.layoutPolicy")
    if rtype == "proxy":
        proxy = body.get("proxy")
        need(isinstance(proxy, dict) and isinstance(proxy.get("remoteUrl"), str), "proxy.remoteUrl")
    if rtype == "group":
        group = body.get("group")
        need(isinstance(group, dict) and isinstance(group.get("memberNames"), list), "group.memberNames")
    if errors:
        raise FieldErrors(errors)


class RestApi:
    """Handlers for ``/service/rest/v1/...``; ``base`` is the server root URL of the request."""

    def __init__(self, store: Store, ingest: Ingest, config):
        self.store = store
        self.ingest = ingest
        self.config = config
        self.search = Search(store, config.search_page_size)

    def dispatch(self, request: Request, rest: str, base: str, who: Who) -> Response:
        """Route ``rest`` (the path after ``/service/rest/v1``). Raises :class:`NexusError`."""
        method = request.method
        parts = [p for p in rest.split("/") if p]
        repos = {r.name: r for r in self.store.repositories()}
        render = Renderer(self.config, base, repos)
        if parts[:1] == ["status"]:
            return Response(status=200)
        if parts == ["repositories"] and method == "GET":
            return json_body([repository_xo(base, r) for r in repos.values()])
        if parts == ["repositorySettings"] and method == "GET":
            return json_body([repository_config(base, r) for r in repos.values()])
        if parts[:1] == ["repositories"]:
            return self._repositories(request, parts[1:], base, repos)
        if parts[:1] in (["components"], ["assets"]):
            return self._items(request, parts, render, repos, who)
        if parts[:1] == ["search"]:
            return self._search(request, parts[1:], render, repos)
        raise NotFound("Not found")

    # -- repositories -------------------------------------------------------------------------------

    def _repositories(self, request: Request, parts: list[str], base: str, repos: dict[str, RepoRecord]) -> Response:
        method = request.method
        if len(parts) == 1:
            if parts[0] not in repos:
                raise NotFound(f"Repository not found: {parts[0]}")
            if method == "GET":
                return json_body(repository_xo(base, repos[parts[0]]))
            if method == "DELETE":
                self.store.delete_repository(parts[0])
                return Response(status=204)
        elif len(parts) in (2, 3) and parts[0] in API_FORMATS and parts[1] in ("hosted", "proxy", "group"):
            fmt, rtype = API_FORMATS[parts[0]], parts[1]
            if len(parts) == 2 and method == "POST":
                body = request.get_json(silent=True)
                validate_repository(body, fmt, rtype)
                self.store.create_repository(body["name"], fmt, rtype, _settings(body, fmt))
                return Response(status=201)
            if len(parts) == 3:
                repo = repos.get(parts[2])
                if repo is None or repo.format != fmt or repo.type != rtype:
                    raise NotFound(f"Repository not found: {parts[2]}")
                if method == "GET":
                    return json_body(repository_config(base, repo))
                if method == "PUT":
                    body = request.get_json(silent=True)
                    validate_repository(body, fmt, rtype)
                    if body["name"] != repo.name:
                        raise FieldErrors([{"id": "name", "message": "Renaming a repository is not supported"}])
                    self.store.update_repository(repo.name, _settings(body, fmt))
                    return Response(status=204)
        raise NotFound("Not found")

    # -- components and assets ----------------------------------------------------------------------

    def _repo_param(self, request: Request, repos: dict[str, RepoRecord]) -> RepoRecord:
        name = request.args.get("repository")
        if not name:
            raise Unprocessable("repositoryId is required")
        if name not in repos:
            raise NotFound(f"Unable to locate repository with id {name}")
        return repos[name]

    def _items(self, request: Request, parts: list[str], render: Renderer, repos: dict[str, RepoRecord],
               who: Who) -> Response:
        kind, method = parts[0], request.method
        if len(parts) == 1 and method == "GET":
            repo = self._repo_param(request, repos)
            token = request.args.get("continuationToken") or None
            size = self.config.page_size
            if kind == "components":
                comps = self.store.components_page(repo.name, token, size)
                assets = self.store.assets_of([c.seq for c in comps])
                items = [render.component(c, assets[c.seq]) for c in comps]
                last = comps[-1].ext if len(comps) == size else None
            else:
                rows = self.store.assets_page(repo.name, token, size)
                items = [render.asset(a) for a in rows]
                last = rows[-1].ext if len(rows) == size else None
            return json_body(page(items, last))
        if len(parts) == 1 and method == "POST" and kind == "components":
            repo = self._repo_param(request, repos)
            if not (request.mimetype or "").startswith("multipart/"):
                raise BadRequest("Expected multipart Content-Type")
            self.ingest.upload(repo, request.form, request.files, who)
            return Response(status=204)
        if len(parts) == 2 and method in ("GET", "DELETE"):
            repo_name, ext = parse_item_id(parts[1])
            repo = repos.get(repo_name)
            if repo is None:
                raise NotFound(f"Unable to locate repository with id {repo_name}")
            if kind == "components":
                comp = self.store.component_by_ext(repo.name, ext)
                if comp is None:
                    raise NotFound(f"Unable to locate component with id {parts[1]}")
                if method == "GET":
                    return json_body(render.component(comp, self.store.assets_of([comp.seq])[comp.seq]))
                removed = self.store.delete_component(comp)
            else:
                asset = self.store.asset_by_ext(repo.name, ext)
                if asset is None:
                    raise NotFound(f"Unable to locate asset with id {parts[1]}")
                if method == "GET":
                    return json_body(render.asset(asset))
                self.store.delete_asset(asset)
                removed = [asset]
            indexes.after_delete(self.store, repo, removed, who)
            return Response(status=204)
        raise NotFound("Not found")

    # -- search -------------------------------------------------------------------------------------

    def _search(self, request: Request, parts: list[str], render: Renderer, repos: dict[str, RepoRecord]) -> Response:
        if request.method != "GET":
            raise NotFound("Not found")
        if not parts:
            hits, token = self.search.components(request.args, repos)
            return json_body(page([render.component(h.component, h.assets) for h in hits], token))
        if parts == ["assets"]:
            assets, token = self.search.assets(request.args, repos)
            return json_body(page([render.asset(a) for a in assets], token))
        if parts == ["assets", "download"]:
            args = request.args.copy()
            args.pop("continuationToken", None)
            assets, _ = self.search.assets(args, repos)
            if not assets:
                raise NotFound("Asset search returned no results")
            if len(assets) > 1 and not request.args.get("sort"):
                raise BadRequest("Search returned multiple assets, please refine search criteria to find a single "
                                 "asset or use the sort query parameter to retrieve the first result.")
            return Response(status=302, headers={"Location": render.asset(assets[0])["downloadUrl"]})
        raise NotFound("Not found")


def _settings(body: dict[str, Any], fmt: str) -> dict[str, Any]:
    """What is kept of a create/update body (everything but the fields Nexus derives)."""
    settings = {k: v for k, v in body.items() if k not in ("name", "format", "type", "url")}
    settings.setdefault("cleanup", None)
    settings.setdefault("component", {"proprietaryComponents": False})
    return settings
