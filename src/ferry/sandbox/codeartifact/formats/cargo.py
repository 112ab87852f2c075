"""Cargo package endpoint of the CodeArtifact stand-in: a sparse registry (``index = "sparse+{endpoint}"``).

Routes below the repository endpoint:

- ``GET config.json``: ``{"dl": "{endpoint}api/v1/crates", "api": "{endpoint without /}",
  "auth-required": true}``. What the real service puts there is unverified; these values are the
  crates.io layout, and clients (cargo, ferry) read them from here rather than assuming them.
- ``GET 1/{name}``, ``2/{name}``, ``3/{c}/{name}``, ``{ab}/{cd}/{name}``: the crate's index file, one JSON
  line per version in publish order (Cargo's Registry Index format: ``name, vers, deps, cksum,
  features, yanked, links``, plus ``features2``/``v: 2`` when a feature uses ``dep:`` or ``?/``, and
  ``rust_version``). Paths are lower-case (cargo asks so); names are stored as published. Served
  with an ``ETag`` and answering ``If-None-Match`` with 304, as cargo caches by it.
- ``GET api/v1/crates/{name}/{version}/download``: the ``.crate``.
- ``PUT api/v1/crates/new``: ``cargo publish``'s body (u32 LE length + JSON metadata, u32 LE length +
  ``.crate``). The ``.crate`` must hold ``{name}-{vers}/Cargo.toml`` naming the same crate and version.
  Identical re-publish succeeds; different content is 409. Errors are ``{"errors":[{"detail":...}]}``.

Which versions appear follows CodeArtifact's statuses: ``Published`` ones are listed; ``Unlisted`` ones
stay in the index marked ``"yanked": true`` (still downloadable, like a yanked crate) [unverified];
other statuses are left out. In the store: package = crate name, no namespace, one asset
``{name}-{version}.crate``; version metadata keeps the index line under ``cargo``.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
import tarfile
import tomllib
from typing import Any

from werkzeug.wrappers import Request, Response

from ferry.sandbox.blobs import Blob, BlobTooShort
from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import downloadable, origin_block_status, send_asset
from ferry.sandbox.codeartifact.records import row_version
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked, Store

FORMAT = "cargo"
MAX_METADATA = 10 * 1024 * 1024
MAX_MANIFEST = 10 * 1024 * 1024
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
_SEMVER = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$")
_DOWNLOAD = re.compile(r"^api/v1/crates/(?P<name>[^/]+)/(?P<version>[^/]+)/download$")


def error(status: int, detail: str) -> Response:
    """An error as cargo prints it (the registry web API's ``errors`` list)."""
    return Response(json.dumps({"errors": [{"detail": detail}]}), status=status, mimetype="application/json")


def index_path(name: str) -> str:
    """The sparse-index path of a crate: by length of the lower-cased name."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one Cargo request below the repository endpoint; returns the response."""
    path, method = ctx.path, request.method
    if path == "api/v1/crates/new":
        if method != "PUT":
            return error(405, f"method {method} is not allowed here")
        return _publish(ctx, request)
    if method not in ("GET", "HEAD"):
        return error(405, f"method {method} is not allowed here")
    if path == "config.json":
        config = {"dl": f"{ctx.base_url}api/v1/crates", "api": ctx.base_url.rstrip("/"), "auth-required": True}
        return Response(json.dumps(config), mimetype="application/json")
    m = _DOWNLOAD.match(path)
    if m:
        return _download(ctx, request, m["name"], m["version"])
    name = path.rsplit("/", 1)[-1]
    if name and index_path(name) == path:
        return _index_file(ctx, request, name)
    return error(404, f"not found: {path}")


# -- reading ----------------------------------------------------------------------------------------


def _index_file(ctx: EndpointContext, request: Request, lower_name: str) -> Response:
    rows = ctx.store.query(
        "SELECT v.* FROM versions v JOIN packages p ON p.id = v.package_id"
        " WHERE p.repo_id=? AND p.format=? AND lower(p.name)=? AND v.status IN ('Published', 'Unlisted')"
        " ORDER BY v.published, v.id",
        (ctx.repo.id, FORMAT, lower_name),
    )
    lines = []
    for row in rows:
        ver = row_version(row)
        entry = (ver.metadata.get("cargo") or {}).get("index")
        if entry:
            lines.append(json.dumps({**entry, "yanked": ver.status != "Published"}, separators=(",", ":")))
    if not lines:
        return error(404, f"crate {lower_name} does not exist")
    body = ("\n".join(lines) + "\n").encode()
    etag = hashlib.sha256(body).hexdigest()[:32]
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    return Response(body, mimetype="text/plain", headers={"ETag": f'"{etag}"', "Cache-Control": "no-cache"})


def _download(ctx: EndpointContext, request: Request, name: str, version: str) -> Response:
    pkg = ctx.store.package(ctx.repo, FORMAT, None, name)
    ver = ctx.store.version(pkg, version) if pkg else None
    asset = ctx.store.asset(ver, f"{name}-{version}.crate") if ver is not None and downloadable(ver) else None
    if asset is None:
        return error(404, f"crate {name}@{version} not found")
    return send_asset(ctx, request, asset, "application/x-tar", filename=asset.name)


# -- publishing -------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


def _u32(stream) -> int:
    raw = stream.read(4)
    if len(raw) != 4:
        raise _Refused(400, "the publish body was cut short")
    return struct.unpack("<I", raw)[0]


def _publish(ctx: EndpointContext, request: Request) -> Response:
    stream = request.stream
    store = ctx.store
    try:
        size = _u32(stream)
        if size > MAX_METADATA:
            raise _Refused(400, "the crate metadata is too large")
        raw = stream.read(size)
        if len(raw) != size:
            raise _Refused(400, "the publish body was cut short")
        try:
            metadata = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise _Refused(400, "the crate metadata is not JSON") from None
        name, version = _check_metadata(metadata)
        try:
            blob = store.blobs.put_stream(stream, _u32(stream))
        except BlobTooShort:
            raise _Refused(400, "the .crate was cut short") from None
        _check_manifest(store, blob, name, version)
    except _Refused as err:
        return error(err.status, err.detail)
    entry = index_entry(metadata, blob.sha256)
    meta: dict[str, Any] = {"cargo": {"index": entry}}
    for key, field in (("description", "summary"), ("homepage", "homePage"), ("repository", "sourceCodeRepository")):
        if isinstance(metadata.get(key), str) and metadata[key]:
            meta[field] = metadata[key]
    if isinstance(metadata.get("license"), str) and metadata["license"]:
        meta["licenses"] = [{"name": metadata["license"]}]
    try:
        store.publish_asset(ctx.repo, FORMAT, None, name, version, f"{name}-{version}.crate", blob,
                            single_asset=True, metadata=meta, display_name=name)
    except OriginBlocked as err:
        return error(origin_block_status(), err.message)
    except Conflict as err:
        return error(409, err.message)
    return Response(json.dumps({"warnings": {"invalid_categories": [], "invalid_badges": [], "other": []}}),
                    mimetype="application/json")


def _check_metadata(metadata: Any) -> tuple[str, str]:
    """(name, version) of valid publish metadata. Raises _Refused (400) naming what is wrong."""
    if not isinstance(metadata, dict):
        raise _Refused(400, "the crate metadata must be a JSON object")
    name, version = metadata.get("name"), metadata.get("vers")
    if not isinstance(name, str) or not _NAME.match(name):
        raise _Refused(400, f"invalid crate name {name!r}")
    if not isinstance(version, str) or not _SEMVER.match(version):
        raise _Refused(400, f"invalid crate version {version!r}")
    deps = metadata.get("deps", [])
    if not isinstance(deps, list) or not all(isinstance(d, dict) and isinstance(d.get("name"), str)
                                             and isinstance(d.get("version_req"), str) for d in deps):
        raise _Refused(400, "deps must be a list of objects with name and version_req")
    if not isinstance(metadata.get("features", {}), dict):
        raise _Refused(400, "features must be an object")
    return name, version


def _check_manifest(store: Store, blob: Blob, name: str, version: str) -> None:
    """Refuse a .crate whose ``{name}-{version}/Cargo.toml`` is missing or names another crate."""
    wanted = f"{name}-{version}/Cargo.toml"
    try:
        with store.blobs.open(blob.sha256) as handle, tarfile.open(fileobj=handle, mode="r|gz") as tar:
            for member in tar:
                if member.name.lstrip("./") == wanted and member.isfile() and member.size <= MAX_MANIFEST:
                    data = tar.extractfile(member)
                    manifest = tomllib.loads(data.read().decode("utf-8")) if data else {}
                    break
            else:
                raise _Refused(400, f"the .crate has no {wanted}")
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise _Refused(400, f"the .crate is not a readable gzip tar with a Cargo.toml: {err}") from None
    package = manifest.get("package") or {}
    if package.get("name") != name or package.get("version") != version:
        raise _Refused(400, f"the metadata says {name}@{version} but Cargo.toml says "
                            f"{package.get('name')}@{package.get('version')}")


def index_entry(metadata: dict[str, Any], cksum: str) -> dict[str, Any]:
    """The index line for published ``metadata`` (crates.io's translation of the publish JSON)."""
    deps = []
    for dep in metadata.get("deps") or []:
        explicit = dep.get("explicit_name_in_toml")
        line = {"name": explicit or dep["name"], "req": dep["version_req"], "features": dep.get("features") or [],
                "optional": bool(dep.get("optional")), "default_features": dep.get("default_features", True),
                "target": dep.get("target"), "kind": dep.get("kind") or "normal"}
        if dep.get("registry"):
            line["registry"] = dep["registry"]
        if explicit:
            line["package"] = dep["name"]
        deps.append(line)
    features = dict(metadata.get("features") or {})
    features2 = {k: v for k, v in features.items() if any(x.startswith("dep:") or "?/" in x for x in v)}
    entry: dict[str, Any] = {"name": metadata["name"], "vers": metadata["vers"], "deps": deps, "cksum": cksum,
                             "features": {k: v for k, v in features.items() if k not in features2},
                             "yanked": False, "links": metadata.get("links")}
    if features2:
        entry["features2"] = features2
        entry["v"] = 2
    if metadata.get("rust_version"):
        entry["rust_version"] = metadata["rust_version"]
    return entry
