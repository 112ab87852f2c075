"""Control-plane operations on packages, their versions and assets (reads, origin configuration,
generic publishing). Batch changes to versions live in :mod:`.ops_versions`.

Whether GetPackageVersionAsset serves the assets of an ``Archived`` version is not documented [U] (the user
guide says only that package managers cannot download them). ``FERRY_CA_ARCHIVED_ASSETS``, read per request,
chooses: ``serve`` (default: served like any other) or ``refuse``: ``ConflictException`` (409, resourceType
``package-version``), the one error botocore's model gives GetPackageVersionAsset beyond not-found, access,
validation and throttling ("prerequisites are not met"), and one that ListPackageVersionAssets, which does
list them, does not have.

Every handler takes a :class:`~ferry.sandbox.codeartifact.api.Call` and returns the operation's output
members as botocore's model names them; it raises :class:`~ferry.sandbox.codeartifact.records.StoreError`
subclasses (``NotFound``, ``Conflict``, ``ValidationError``, ...) for the modeled service errors.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.blobs import BlobTooShort
from ferry.sandbox.codeartifact.api import (
    Call, coordinates_body, decode_token, encode_token, origin_configuration, package_summary, page,
    version_origin, with_token,
)
from ferry.sandbox.codeartifact import names
from ferry.sandbox.codeartifact.api import operation as op
from ferry.sandbox.codeartifact.records import Conflict, NotFound, Package, ValidationError, Version

LIST_PACKAGES_DEFAULT = 100
LIST_VERSIONS_DEFAULT = 50
LIST_ASSETS_DEFAULT = 50  # [U] not documented
_GENERIC_ASSET_SPECIALS = set("~!@^&()-`_+[]{};,. ")


# -- packages --------------------------------------------------------------------------------------


@op("ListPackages")
def list_packages(call: Call) -> dict:
    repo = call.repo()
    size = call.get("maxResults") or LIST_PACKAGES_DEFAULT
    after = decode_token(call.get("nextToken"))
    if after is not None and not (isinstance(after, list) and len(after) == 3):
        raise ValidationError("Invalid pagination token")
    rows = call.store.list_packages(
        repo, fmt=call.get("format"), namespace_prefix=names.prefix(call.get("format"), call.get("namespace")),
        name_prefix=names.prefix(call.get("format"), call.get("packagePrefix")),
        publish=call.get("publish"), upstream=call.get("upstream"),
        after=tuple(after) if after else None, limit=size + 1,
    )
    chosen = rows[:size]
    token = encode_token([chosen[-1].format, chosen[-1].namespace, chosen[-1].name]) if len(rows) > size else None
    return with_token({"packages": [package_summary(p) for p in chosen]}, token)


@op("DescribePackage")
def describe_package(call: Call) -> dict:
    pkg = call.package()
    out: dict[str, Any] = {"format": pkg.format, "name": pkg.name, "originConfiguration": origin_configuration(pkg)}
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    return {"package": out}


@op("DeletePackage")
def delete_package(call: Call) -> dict:
    pkg = call.package()
    call.store.delete_package(pkg)
    return {"deletedPackage": package_summary(pkg)}


@op("PutPackageOriginConfiguration")
def put_package_origin_configuration(call: Call) -> dict:
    repo = call.repo()
    fmt, ns, name = call.coordinates()
    r = call.params["restrictions"]
    # The service creates a version-less package when it does not exist yet (to block ahead of time).
    pkg = call.store.ensure_package(repo, fmt, ns, name)
    pkg = call.store.set_origin(pkg, r["publish"], r["upstream"])
    return {"originConfiguration": origin_configuration(pkg)}


# -- versions --------------------------------------------------------------------------------------


def _natural(version: str) -> list:
    """A sort key ordering ``1.10`` after ``1.9`` (numbers by value, text by characters)."""
    return [[1, int(part), ""] if part.isdigit() else [0, 0, part] for part in re.split(r"(\d+)", version) if part]


def display_name(pkg: Package) -> str:
    if pkg.display_name:
        return pkg.display_name
    if pkg.format == "npm" and pkg.namespace:
        return f"@{pkg.namespace}/{pkg.name}"
    return pkg.name


def default_display_version(call: Call, pkg: Package, versions: list[Version]) -> str | None:
    """npm: the ``latest`` dist-tag when it names a live version; otherwise (and for every other format)
    the most recently published version with status Published."""
    live = {v.version: v for v in versions if v.status == "Published"}
    if pkg.format == "npm":
        latest = call.store.dist_tags(pkg).get("latest")
        if latest in live:
            return latest
    if not live:
        return None
    return max(live.values(), key=lambda v: (v.published, v.id)).version


@op("ListPackageVersions")
def list_package_versions(call: Call) -> dict:
    pkg = call.package()
    all_versions = call.store.versions(pkg)
    status, origin_type = call.get("status"), call.get("originType")
    if status == "Deleted":
        versions = [v for v in all_versions if v.status == "Deleted"]
    else:
        versions = [v for v in all_versions if v.status != "Deleted" and (status is None or v.status == status)]
    if origin_type:
        versions = [v for v in versions if v.origin_type == origin_type]
    # Newest first in both orders: by publish time when asked, else by version number.
    if call.get("sortBy") == "PUBLISHED_TIME":
        key = lambda v: [v.published, v.id]  # noqa: E731
    else:
        key = lambda v: [_natural(v.version), v.version]  # noqa: E731
    versions.sort(key=key, reverse=True)
    chosen, token = page(call, versions, key, LIST_VERSIONS_DEFAULT, descending=True)
    body = coordinates_body(pkg)
    shown = default_display_version(call, pkg, all_versions)
    if shown:
        body["defaultDisplayVersion"] = shown
    body["versions"] = [
        {"version": v.version, "revision": v.revision, "status": v.status, "origin": version_origin(v)} for v in chosen
    ]
    return with_token(body, token)


@op("DescribePackageVersion")
def describe_package_version(call: Call) -> dict:
    pkg = call.package()
    ver = call.version(pkg)
    out: dict[str, Any] = {"format": pkg.format}
    if pkg.namespace:
        out["namespace"] = pkg.namespace
    out.update(packageName=pkg.name, displayName=display_name(pkg), version=ver.version)
    for key in ("summary", "homePage", "sourceCodeRepository"):
        if ver.metadata.get(key):
            out[key] = ver.metadata[key]
    out["publishedTime"] = ver.published
    if ver.metadata.get("licenses"):
        out["licenses"] = ver.metadata["licenses"]
    out.update(revision=ver.revision, status=ver.status, origin=version_origin(ver))
    return {"packageVersion": out}


def _version_body(pkg: Package, ver: Version) -> dict[str, Any]:
    body = coordinates_body(pkg)
    body.update(version=ver.version, versionRevision=ver.revision)
    return body


@op("GetPackageVersionReadme")
def get_package_version_readme(call: Call) -> dict:
    pkg = call.package()
    ver = call.version(pkg)
    body = _version_body(pkg, ver)
    if ver.metadata.get("readme"):
        body["readme"] = ver.metadata["readme"]
    return body


@op("ListPackageVersionDependencies")
def list_package_version_dependencies(call: Call) -> dict:
    pkg = call.package()
    ver = call.version(pkg)
    body = _version_body(pkg, ver)
    body["dependencies"] = list(ver.metadata.get("dependencies") or [])
    return body


# -- assets ----------------------------------------------------------------------------------------


@op("ListPackageVersionAssets")
def list_package_version_assets(call: Call) -> dict:
    pkg = call.package()
    ver = call.version(pkg)
    chosen, token = page(call, call.store.assets(ver), lambda a: a.name, LIST_ASSETS_DEFAULT)
    body = _version_body(pkg, ver)
    body["assets"] = [{"name": a.name, "size": a.size, "hashes": a.hashes()} for a in chosen]
    return with_token(body, token)


@op("GetPackageVersionAsset")
def get_package_version_asset(call: Call) -> Response:
    pkg = call.package()
    ver = call.version(pkg)
    wanted = call.get("packageVersionRevision")
    if wanted and wanted != ver.revision:
        raise NotFound(f"Package version {ver.version} has no revision {wanted}", "package-version", ver.version)
    if ver.status == "Archived" and archived_assets_refused():
        raise Conflict(f"Package version {ver.version} is Archived; its assets cannot be downloaded",
                       "package-version", ver.version)
    asset = call.store.asset(ver, call.params["asset"])
    if asset is None:
        raise NotFound(f"Asset {call.params['asset']} not found in {pkg.name} {ver.version}", "asset",
                       call.params["asset"])
    stream = call.store.blobs.open(asset.sha256)
    headers = {"X-AssetName": _header_value(asset.name), "X-PackageVersion": _header_value(ver.version),
               "X-PackageVersionRevision": ver.revision, "Content-Length": str(asset.size)}
    return Response(wrap_file(call.request.environ, stream), headers=headers,
                    mimetype="application/octet-stream", direct_passthrough=True)


def archived_assets_refused() -> bool:
    """True if GetPackageVersionAsset refuses an Archived version's assets (``FERRY_CA_ARCHIVED_ASSETS=refuse``)."""
    return os.environ.get("FERRY_CA_ARCHIVED_ASSETS", "serve").strip().lower() == "refuse"


def _header_value(text: str) -> str:
    """``text`` as UTF-8 bytes in a WSGI (latin-1) header string. [U] How the service encodes non-ASCII
    asset names in headers is not documented; clients should rely on the name they asked for."""
    return text.encode("utf-8").decode("latin-1")


def _check_generic_asset_name(name: str) -> None:
    """Generic asset names: Unicode letters and numbers, a few specials, spaces; never ``.`` or ``..``."""
    if name in (".", ".."):
        raise ValidationError(f"Asset name {name!r} is not allowed")
    for ch in name:
        if ch in _GENERIC_ASSET_SPECIALS:
            continue
        if unicodedata.category(ch) not in ("Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd"):
            raise ValidationError(f"Asset name {name!r} contains the character {ch!r}, which is not allowed")


@op("PublishPackageVersion")
def publish_package_version(call: Call) -> dict:
    if call.params["format"] != "generic":
        raise ValidationError("PublishPackageVersion only supports the generic format")
    fmt, ns, name = call.coordinates()
    asset_name = call.params["assetName"]
    _check_generic_asset_name(asset_name)
    repo = call.repo()
    try:
        blob = call.store.blobs.put_stream(call.request.stream, call.request.content_length)
    except BlobTooShort as err:
        raise ValidationError(f"The asset content ended early: {err}") from None
    if blob.sha256 != call.params["assetSHA256"]:
        raise ValidationError("The SHA256 hash of the asset content does not match x-amz-content-sha256")
    ver = call.store.publish_asset(repo, fmt, ns, name, call.params["packageVersion"], asset_name, blob,
                                   unfinished=bool(call.get("unfinished")))
    body = coordinates_body(call.store.require_package(repo, fmt, ns, name))
    body.update(version=ver.version, versionRevision=ver.revision, status=ver.status,
                asset={"name": asset_name, "size": blob.size, "hashes": blob.hashes()})
    return body
