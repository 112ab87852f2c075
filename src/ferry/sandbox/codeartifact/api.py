"""Shared pieces of the control-plane operations: the call context, the handler registry, pagination
tokens and the JSON renderings of store records that several operations return."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Callable

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact import names
from ferry.sandbox.codeartifact.records import (
    DEFAULT_ACCOUNT, NAMESPACED_FORMATS, NAMESPACELESS_FORMATS, Domain, NotFound, Package, Repository, ValidationError, Version,
)
from ferry.sandbox.codeartifact.store import Store
from ferry.sandbox.faults import FaultSpec

Handler = Callable[["Call"], "dict[str, Any] | Response"]
HANDLERS: dict[str, Handler] = {}


def operation(name: str) -> Callable[[Handler], Handler]:
    """Register the decorated function as the handler of the operation ``name``."""

    def register(fn: Handler) -> Handler:
        HANDLERS[name] = fn
        return fn

    return register


@dataclass
class Call:
    """One control-plane request: validated ``params`` (model member names) plus where it came from."""

    store: Store
    faults: FaultSpec
    region: str
    request: Request
    op: str
    params: dict[str, Any]
    account: str = DEFAULT_ACCOUNT  # the caller's: the owner of what it creates, and of domains it names alone

    def get(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def domain(self) -> Domain:
        """The domain named by ``domain`` and ``domainOwner`` (the caller's account when not given), in this
        call's region. Raises :class:`NotFound`."""
        return self.store.domain(self.region, self.get("domainOwner") or self.account, self.params["domain"])

    def repo(self, member: str = "repository", domain: Domain | None = None) -> Repository:
        """The repository named by ``member``. Raises :class:`NotFound`."""
        return self.store.repository(domain or self.domain(), self.params[member])

    def coordinates(self, *, require_namespace: bool = True) -> tuple[str, str | None, str]:
        """(format, namespace or None, package) as stored: NuGet and Swift names normalized (:mod:`.names`).

        Raises :class:`ValidationError` when a namespaced format (maven, swift, generic) has no namespace
        and ``require_namespace``, or a namespace-less format (pypi, nuget, ruby, cargo) was given one.
        """
        fmt, ns, name = self.params["format"], self.get("namespace"), self.params["package"]
        if ns and fmt in NAMESPACELESS_FORMATS:
            raise ValidationError(f"Packages of format {fmt} do not have a namespace")
        if not ns and require_namespace and fmt in NAMESPACED_FORMATS:
            raise ValidationError(f"A namespace is required for packages of format {fmt}")
        ns, name = names.coordinates(fmt, ns or None, name)
        return fmt, ns, name

    def package(self, repo: Repository | None = None, *, require_namespace: bool = True) -> Package:
        """The package named by the call's coordinates. Raises :class:`NotFound`."""
        fmt, ns, name = self.coordinates(require_namespace=require_namespace)
        return self.store.require_package(repo or self.repo(), fmt, ns, name)

    def find_version(self, pkg: Package, text: str) -> Version | None:
        """The stored version ``text`` names, any status, or None. NuGet inputs are normalized first and,
        failing an exact match, compared case-insensitively as NuGet does (release labels keep their
        case in the store; whether the service matches them case-insensitively is [U])."""
        wanted = names.version(pkg.format, text)
        ver = self.store.version(pkg, wanted)
        if ver is None and pkg.format == "nuget":
            ver = next((v for v in self.store.versions(pkg) if v.version.lower() == wanted.lower()), None)
        return ver

    def version(self, pkg: Package, member: str = "packageVersion") -> Version:
        """A version that has not been deleted. Raises :class:`NotFound`."""
        wanted = self.params[member]
        ver = self.find_version(pkg, wanted)
        if ver is None or ver.status == "Deleted":
            raise NotFound(f"Package version {wanted} of {pkg.name} not found", "package-version", wanted)
        return ver


# -- pagination ------------------------------------------------------------------------------------


def encode_token(key: Any) -> str:
    """An opaque next-token carrying the sort key of the last item returned."""
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_token(token: str | None) -> Any:
    """The sort key carried by ``token`` as plain JSON (lists, not tuples), or None for no token.

    Raises :class:`ValidationError` if the token is malformed.
    """
    if not token:
        return None
    try:
        return json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, binascii.Error):
        raise ValidationError("Invalid pagination token") from None


def plain(key: Any) -> Any:
    """``key`` as it comes back from a token (tuples become lists), so the two compare."""
    return json.loads(json.dumps(key))


def page(
    call: Call, items: list, key: Callable[[Any], Any], default_size: int, *, descending: bool = False
) -> tuple[list, str | None]:
    """One page of ``items`` after the call's ``nextToken``, and the token for the next page.

    ``items`` must already be sorted by ``key`` (descending when ``descending``); the token carries the
    key of the last item returned, so items added or removed between calls do not shift the pages.
    """
    after = decode_token(call.get("nextToken"))
    size = call.get("maxResults") or default_size
    if after is not None:
        items = [x for x in items if (plain(key(x)) < after if descending else plain(key(x)) > after)]
    chosen = items[:size]
    token = encode_token(key(chosen[-1])) if len(items) > size else None
    return chosen, token


def with_token(body: dict[str, Any], token: str | None) -> dict[str, Any]:
    if token:
        body["nextToken"] = token
    return body


# -- renderings ------------------------------------------------------------------------------------


def repository_summary(repo: Repository) -> dict[str, Any]:
    d = repo.domain
    out = {"name": repo.name, "administratorAccount": d.owner, "domainName": d.name, "domainOwner": d.owner,
           "arn": repo.arn, "createdTime": repo.created}
    if repo.description is not None:
        out["description"] = repo.description
    return out


def origin_configuration(pkg: Package) -> dict[str, Any]:
    return {"restrictions": {"publish": pkg.publish, "upstream": pkg.upstream}}


def package_summary(pkg: Package) -> dict[str, Any]:
    out: dict[str, Any] = {"format": pkg.format, "package": pkg.name, "originConfiguration": origin_configuration(pkg)}
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    return out


def version_origin(ver: Version) -> dict[str, Any]:
    """``origin`` of a version: the repository it entered the domain through, or for an EXTERNAL one the
    external connection (kept in ``entry_repo`` too: the stand-in never ingests, tests mark versions so)."""
    out: dict[str, Any] = {"originType": ver.origin_type}
    if ver.entry_repo:
        field = "externalConnectionName" if ver.origin_type == "EXTERNAL" else "repositoryName"
        out["domainEntryPoint"] = {field: ver.entry_repo}
    return out


def coordinates_body(pkg: Package) -> dict[str, Any]:
    """``format``, ``namespace`` (when set) and ``package``, as several outputs start."""
    out: dict[str, Any] = {"format": pkg.format}
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    out["package"] = pkg.name
    return out
