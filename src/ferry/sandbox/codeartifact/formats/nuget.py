"""NuGet package endpoint of the CodeArtifact stand-in: the V3 protocol ``dotnet nuget``/``nuget.exe`` use.

Routes below the repository endpoint (resources as learn.microsoft.com/nuget/api documents them):

- ``GET v3/index.json``: the service index. Resources: ``PackageBaseAddress/3.0.0`` at ``v3/package/``,
  the registration hives of :mod:`.nuget_registration`, and ``PackagePublish/2.0.0``.
- ``GET v3/package/{id}/index.json``: ``{"versions": [...]}`` (lowercased normalized versions, listed
  and unlisted); ``.../{id}/{version}/{id}.{version}.nupkg``: the package; ``.../{id}.nuspec``: its manifest.
- ``GET v3/registrations*/{id}/index.json``, ``.../page/{lower}/{upper}.json``, ``.../{version}.json``.
- ``PUT`` to the ``PackagePublish/2.0.0`` ``@id`` (with or without trailing ``/``): push. The body is
  ``multipart/form-data`` whose first part is the ``.nupkg`` (its name and filename are ignored); it
  streams into the blob store. ``X-NuGet-ApiKey`` is ignored: the token authenticates. 201 when stored
  (also for an identical re-push, CodeArtifact's rule), 409 when the version holds a different
  package, 400 for anything that is not a valid package; symbol packages (``.snupkg``) are refused.

In the store the package name is the lowercased id (display name: the id as pushed), the version is
normalized (:mod:`.nuget_meta`), and the one asset is ``{id}.{version}.nupkg``, both lowercased.

Settings ([U] in the reference, read per request like :mod:`._common`'s):

- ``FERRY_CA_NUGET_PUBLISH_PATH``: where the publish ``@id`` points, relative to the endpoint
  (default ``v2/package/``; CodeArtifact's real value was not found in any source).
- ``FERRY_CA_NUGET_REPUBLISH``: ``identical-ok`` (default) or ``conflict`` (any push of an existing version is 409).
"""

from __future__ import annotations

import gzip
import json
import os
from dataclasses import replace
from urllib.parse import quote

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import (
    downloadable, origin_block_status, republish_conflicts, send_asset, text_error,
)
from ferry.sandbox.codeartifact.formats.multipart import BadForm
from ferry.sandbox.codeartifact.formats.nuget_meta import (
    BadPackage, NuGetVersion, nuspec_bytes, parse_version, read_nuspec, valid_id, version_metadata,
)
from ferry.sandbox.codeartifact.formats.nuget_registration import HIVE_TYPES, HIVES, Registrations
from ferry.sandbox.codeartifact.formats.parts import read_parts
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked, Package, Store, Version
from ferry.sandbox.web import json_response

FORMAT = "nuget"
FLAT = "v3/package/"
SYMBOLS = "symbol packages (.snupkg) are not supported by CodeArtifact"


def publish_path() -> str:
    """The push resource's path below the endpoint (``FERRY_CA_NUGET_PUBLISH_PATH``, default ``v2/package/``)."""
    raw = os.environ.get("FERRY_CA_NUGET_PUBLISH_PATH", "").strip().lstrip("/")
    return raw or "v2/package/"


def asset_name(package_id: str, version: NuGetVersion) -> str:
    """The one asset of a NuGet version: ``{id}.{version}.nupkg``, lowercased."""
    return f"{package_id.lower()}.{version.lower}.nupkg"


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one NuGet request below the repository endpoint; returns the response (never raises StoreError)."""
    path, method = ctx.path, request.method
    if path.rstrip("/") == publish_path().rstrip("/"):
        if method == "PUT":
            return _push(ctx, request)
        return text_error(f"Method {method} is not supported here", 405)
    if method not in ("GET", "HEAD"):
        return text_error(f"Method {method} is not supported here", 405)
    if path == "v3/index.json":
        return json_response(service_index(ctx.base_url))
    if path.startswith(FLAT):
        return _flat(ctx, request, path[len(FLAT):].split("/"))
    for hive in HIVES:
        if path.startswith(hive):
            return _registration(ctx, request, hive, path[len(hive):].split("/"))
    return text_error("Not found", 404)


def service_index(endpoint: str) -> dict:
    """The V3 service index for an endpoint (``version`` 3.0.0 and its resources)."""
    resources = [
        {"@id": f"{endpoint}{FLAT}", "@type": "PackageBaseAddress/3.0.0",
         "comment": "Package content: {@id}{id-lower}/{version-lower}/{id-lower}.{version-lower}.nupkg"},
        {"@id": f"{endpoint}{publish_path()}", "@type": "PackagePublish/2.0.0"},
    ]
    for hive, types in HIVE_TYPES.items():
        resources += [{"@id": f"{endpoint}{hive}", "@type": t} for t in types]
    return {"version": "3.0.0", "resources": resources}


# -- reads --------------------------------------------------------------------------------------------


def _package(ctx: EndpointContext, package_id: str) -> Package | None:
    return ctx.store.package(ctx.repo, FORMAT, None, package_id.lower())


def _visible(store: Store, pkg: Package) -> list[tuple[Version, NuGetVersion]]:
    """Downloadable versions with their parsed form, lowest precedence first."""
    found = []
    for ver in store.versions(pkg):
        parsed = parse_version(ver.version)
        if parsed is not None and downloadable(ver):
            # the stored version lost its build metadata; whether the pushed one had it was kept
            semver2 = parsed.semver2 or bool((ver.metadata.get("nuget") or {}).get("semver2"))
            found.append((ver, replace(parsed, semver2=semver2)))
    return sorted(found, key=lambda pair: pair[1].sort_key())


def _find(store: Store, pkg: Package, wanted: str) -> Version | None:
    """The stored version NuGet considers equal to ``wanted`` (normalized, case-insensitive), any status."""
    target = parse_version(wanted)
    if target is None:
        return None
    for ver in store.versions(pkg):
        parsed = parse_version(ver.version)
        if parsed is not None and parsed.lower == target.lower:
            return ver
    return None


def _flat(ctx: EndpointContext, request: Request, parts: list[str]) -> Response:
    if len(parts) == 2 and parts[1] == "index.json":
        pkg = _package(ctx, parts[0])
        versions = _visible(ctx.store, pkg) if pkg else []
        if not versions:
            return text_error("Not found", 404)
        return json_response({"versions": [n.lower for _, n in versions]})
    if len(parts) != 3:
        return text_error("Not found", 404)
    package_id, version, filename = parts
    pkg = _package(ctx, package_id)
    ver = _find(ctx.store, pkg, version) if pkg else None
    parsed = parse_version(version)
    if ver is None or parsed is None or not downloadable(ver):
        return text_error("Not found", 404)
    lower_id = package_id.lower()
    asset = ctx.store.asset(ver, asset_name(pkg.name, parsed))
    if asset is None:
        return text_error("Not found", 404)
    if filename.lower() == f"{lower_id}.{parsed.lower}.nupkg":
        return send_asset(ctx, request, asset, "application/octet-stream", filename=asset.name)
    if filename.lower() == f"{lower_id}.nuspec":
        try:
            _member, data = nuspec_bytes(ctx.store.blobs.path(asset.sha256))
        except BadPackage:
            return text_error("Not found", 404)
        return Response(data, mimetype="application/xml")
    return text_error("Not found", 404)


def _registration(ctx: EndpointContext, request: Request, hive: str, parts: list[str]) -> Response:
    pkg = _package(ctx, parts[0]) if parts and parts[0] else None
    if pkg is None:
        return text_error("Not found", 404)
    reg = Registrations(ctx.base_url, hive, pkg, _visible(ctx.store, pkg), FLAT)
    doc = None
    if parts[1:] == ["index.json"]:
        doc = reg.index()
    elif len(parts) == 4 and parts[1] == "page" and parts[3].endswith(".json"):
        doc = reg.page(parts[2], parts[3][: -len(".json")])
    elif len(parts) == 2 and parts[1].endswith(".json"):
        doc = reg.leaf(parts[1][: -len(".json")])
    if doc is None:
        return text_error("Not found", 404)
    body = json.dumps(doc).encode()
    if HIVES[hive][1] and "gzip" in request.accept_encodings:
        resp = Response(gzip.compress(body, mtime=0), mimetype="application/json")
        resp.headers["Content-Encoding"] = "gzip"
        resp.headers["Vary"] = "Accept-Encoding"
        return resp
    return Response(body, mimetype="application/json")


# -- push ---------------------------------------------------------------------------------------------


def _push(ctx: EndpointContext, request: Request) -> Response:
    store = ctx.store
    try:
        # only the first part counts; the others are read past, never held (the protocol ignores them)
        form = read_parts(request.stream, request.headers.get("Content-Type", ""), store.blobs,
                          lambda i, _n: i == 0, keep_it=lambda _i, _n: False)
    except BadForm as err:
        return text_error(str(err), 400)
    if not form.stored:
        return text_error("The request holds no package (the first multipart part must be the .nupkg)", 400)
    blob = form.stored[0][1]
    try:
        spec = read_nuspec(store.blobs.path(blob.sha256))
    except BadPackage as err:
        return text_error(f"The package is invalid: {err}", 400)
    if any(t.lower() == "symbolspackage" for t in spec.package_types):
        return text_error(f"The package is a symbol package: {SYMBOLS}", 400)
    version = parse_version(spec.version)
    if not valid_id(spec.id):
        return text_error(f"The package id {spec.id!r} is not a valid NuGet id", 400)
    if version is None:
        return text_error(f"The package version {spec.version!r} is not a valid NuGet version", 400)
    name = spec.id.lower()
    try:
        with store.tx():
            pkg = store.package(ctx.repo, FORMAT, None, name)
            existing = _find(store, pkg, version.normalized) if pkg else None
            live = existing is not None and existing.status != "Deleted"
            if live and republish_conflicts("FERRY_CA_NUGET_REPUBLISH"):
                return text_error(f"{spec.id} {version.normalized} already exists", 409)
            store.publish_asset(ctx.repo, FORMAT, None, name, existing.version if live else version.normalized,
                                asset_name(name, version), blob, single_asset=True,
                                metadata=version_metadata(spec, version), display_name=spec.id)
    except OriginBlocked as err:
        return text_error(err.message, origin_block_status())
    except Conflict as err:
        return text_error(err.message, 409)
    location = f"{ctx.base_url}{FLAT}{quote(name)}/{quote(version.lower)}/{quote(asset_name(name, version))}"
    return Response(f"Created {spec.id} {version.normalized}\n", status=201, mimetype="text/plain",
                    headers={"Location": location})
