"""REST endpoints under ``/artifactory/api`` other than storage and npm: repositories, AQL, security
(access tokens, API keys) and system (ping, version)."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from ferry.sandbox.artifactory import aql, render
from ferry.sandbox.artifactory.config import ArtifactoryConfig
from ferry.sandbox.artifactory.store import RCLASSES, ArtifactoryError, Store

VERSION = {"version": "7.77.5", "revision": "77705900", "addons": ["aql", "npm", "pypi", "nuget", "maven", "cargo"],
           "license": "ferry-sandbox"}
PACKAGE_TYPES = ("alpine", "ansible", "bower", "cargo", "chef", "cocoapods", "composer", "conan", "conda", "cran",
                 "debian", "docker", "gems", "generic", "gitlfs", "go", "gradle", "helm", "helmoci", "huggingfaceml",
                 "ivy", "maven", "npm", "nuget", "oci", "opkg", "p2", "pub", "puppet", "pypi", "rpm", "sbt", "swift",
                 "terraform", "vagrant", "vcs", "yum")


def _text(message: str, status: int = 200) -> Response:
    return Response(message, status=status, mimetype="text/plain")


class RestApi:
    def __init__(self, store: Store, config: ArtifactoryConfig):
        self.store = store
        self.config = config

    # -- repositories -------------------------------------------------------------------------------

    def repositories(self, request: Request, key: str, base: str, user: str) -> Response:
        """``/api/repositories[/{key}]``."""
        try:
            if not key:
                if request.method != "GET":
                    return render.error(405, "Method not allowed")
                wanted_type = request.args.get("type", "").lower()
                wanted_pkg = request.args.get("packageType", "").lower()
                repos = [r for r in self.store.repos()
                         if (not wanted_type or r.rclass == wanted_type)
                         and (not wanted_pkg or r.package_type == wanted_pkg)]
                return render.json_response([render.repo_entry(r, base) for r in repos])
            if request.method == "GET":
                return render.json_response(render.repo_config(self.store.repo(key)))
            if user != "admin":
                return render.error(403, "Only an administrator can change repositories")
            if request.method == "PUT":
                body = self._body(request)
                rclass = str(body.get("rclass", "")).lower()
                if rclass not in RCLASSES:
                    raise ArtifactoryError("Repository rclass must be one of local, remote, virtual, federated", 400)
                package_type = str(body.get("packageType") or "generic").lower()
                if package_type not in PACKAGE_TYPES:
                    raise ArtifactoryError(f"Unsupported package type: {package_type}", 400)
                if rclass == "remote" and not body.get("url"):
                    raise ArtifactoryError("Remote repository URL is required", 400)
                if self.store.storage_repo(key) is not None:
                    raise ArtifactoryError(f"Case insensitive repository key already exists: {key}", 400)
                config = {k: v for k, v in body.items() if k not in ("key", "rclass", "packageType")}
                self.store.create_repo(key, rclass, package_type, config)
                return _text(f"Successfully created repository '{key}' ")
            if request.method == "POST":
                repo = self.store.repo(key)
                body = self._body(request)
                for fixed in ("rclass", "packageType"):
                    if fixed in body and str(body[fixed]).lower() != getattr(repo, "rclass" if fixed == "rclass"
                                                                             else "package_type"):
                        raise ArtifactoryError(f"{fixed} of an existing repository cannot be changed", 400)
                config = dict(repo.config)
                config.update({k: v for k, v in body.items() if k not in ("key", "rclass", "packageType")})
                self.store.update_repo(key, config)
                return _text(f"Repository {key} update successfully.\n")
            if request.method == "DELETE":
                self.store.delete_repo(key)
                return _text(f"Repository '{key}' and all its content have been removed successfully.")
            return render.error(405, "Method not allowed")
        except ArtifactoryError as err:
            return render.error(err.status, err.message)

    @staticmethod
    def _body(request: Request) -> dict:
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise ArtifactoryError("Repository configuration is not valid JSON", 400) from None
        if not isinstance(body, dict):
            raise ArtifactoryError("Repository configuration must be a JSON object", 400)
        return body

    # -- AQL ----------------------------------------------------------------------------------------

    def aql(self, request: Request) -> Response:
        """``POST /api/search/aql`` with the query as text/plain."""
        if request.method != "POST":
            return render.error(405, "Method not allowed")
        if self.config.aql_refused:
            status = self.config.aql_refused
            return render.error(status, "AQL is not available to this user" if status == 403
                                else "AQL search is not available")
        text = request.get_data(as_text=True)
        try:
            return render.json_response(aql.run(self.store, text, self.config))
        except aql.AqlError as err:
            return render.error(400, str(err))

    # -- security -----------------------------------------------------------------------------------

    def create_token(self, request: Request, user: str, access_api: bool) -> Response:
        """``POST /api/security/token`` (form) or ``POST /access/api/v1/tokens`` (JSON or form)."""
        fields = dict(request.form)
        if not fields and request.is_json:
            fields = {k: str(v) for k, v in (request.get_json(silent=True) or {}).items()}
        username = fields.get("username") or user
        if username != user and user != "admin":
            return render.error(403, "Only an administrator can create tokens for other users")
        if username not in self.config.users and user != "admin":
            return render.error(400, f"Unknown user {username}")
        try:
            expires_in = int(fields.get("expires_in") or fields.get("expiresIn") or 3600)
        except ValueError:
            return render.error(400, "expires_in must be a number of seconds")
        scope = fields.get("scope") or "applied-permissions/user"
        token = self.store.create_token(username, scope, expires_in or None)
        body = {"scope": scope, "access_token": token, "expires_in": expires_in, "token_type": "Bearer"}
        if access_api:
            body["token_id"] = token[:16]
        return render.json_response(body)

    def api_key(self, request: Request, user: str) -> Response:
        """``/api/security/apiKey``: GET, POST (create), PUT (regenerate), DELETE (revoke) the caller's key."""
        if request.method == "GET":
            key = self.store.api_key(user)
            return render.json_response({"apiKey": key} if key else {})
        if request.method in ("POST", "PUT"):
            if request.method == "POST" and self.store.api_key(user):
                return render.error(400, "Api key already exists for user: " + user)
            return render.json_response({"apiKey": self.store.api_key(user, create=True)}, 201)
        if request.method == "DELETE":
            self.store.revoke_api_key(user)
            return render.json_response({"info": "Api key deleted"})
        return render.error(405, "Method not allowed")

    @staticmethod
    def version() -> Response:
        return render.json_response(VERSION)
