"""RubyGems package endpoint of the CodeArtifact stand-in (what ``gem push`` and ``gem install`` talk to).

CodeArtifact documents ``gem install`` only for RubyGems up to 3.5.18 because it has no Compact Index
(ruby-command-support). So this endpoint serves the older gem-source files, and answers 404 where
the Compact Index would be (the endpoint root, ``versions``, ``info/{name}``, ``names``): RubyGems
probes the root and, on 404, falls back to the files below. Routes below the repository endpoint:

- ``POST api/v1/gems``: ``gem push`` with the raw ``.gem`` as body (``Authorization: Bearer TOKEN``,
  Basic ``aws:TOKEN`` also accepted). Identity comes from the gem's own ``metadata.gz``.
  Identical re-push succeeds; different content for the same file is 409.
- ``GET specs.4.8.gz`` / ``latest_specs.4.8.gz`` / ``prerelease_specs.4.8.gz`` (and uncompressed):
  the marshalled ``[name, Gem::Version, platform]`` lists of listed (``Published``) versions: releases,
  the newest release per name and platform (as rubygems.org serves it), and prereleases.
- ``GET quick/Marshal.4.8/{full_name}.gemspec.rz``: the deflated, marshalled ``Gem::Specification``.
- ``GET gems/{full_name}.gem``: the gem (``Published`` and ``Unlisted`` versions).
- ``GET api/v1/dependencies?gems=a,b``: Bundler's dependency API (marshalled runtime dependencies).

In the store: package = gem name as published (no namespace, no normalization: none is documented),
version = gem version, asset = ``{full_name}.gem`` (so each platform of a version is one asset);
version metadata keeps the gemspec of each asset under ``gems``.
"""

from __future__ import annotations

import gzip
import zlib
from functools import cmp_to_key
from typing import Any, Iterator

from werkzeug.wrappers import Request, Response

from ferry.rubygems import marshal
from ferry.rubygems.spec import (
    GemError, GemSpec, compare_versions, full_name, is_prerelease, platform_string, read_gem, spec_from_json,
    spec_to_json,
)
from ferry.sandbox.blobs import BlobTooShort
from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import (
    downloadable, origin_block_status, send_asset, text_error,
)
from ferry.sandbox.codeartifact.records import row_version
from ferry.sandbox.codeartifact.store import Asset, Conflict, OriginBlocked, Version

FORMAT = "ruby"
_INDEXES = {"specs.4.8": "released", "latest_specs.4.8": "latest", "prerelease_specs.4.8": "prerelease"}
_MARSHAL_DIR = "quick/Marshal.4.8/"


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one RubyGems request below the repository endpoint; returns the response."""
    path, method = ctx.path, request.method
    if path == "api/v1/gems":
        if method != "POST":
            return text_error(f"Method {method} is not supported here", 405)
        return _push(ctx, request)
    if method not in ("GET", "HEAD"):
        return text_error(f"Method {method} is not supported here", 405)
    if path == "api/v1/dependencies":
        return _dependencies(ctx, request)
    for name, kind in _INDEXES.items():
        if path == name or path == name + ".gz":
            body = marshal.spec_tuples(_tuples(ctx, kind))
            if path.endswith(".gz"):
                return Response(gzip.compress(body, mtime=0), mimetype="application/x-gzip")
            return Response(body, mimetype="application/octet-stream")
    if path.startswith(_MARSHAL_DIR) and path.endswith(".gemspec.rz"):
        found = _resolve(ctx, path[len(_MARSHAL_DIR):-len(".gemspec.rz")])
        if found is None:
            return text_error("Not found", 404)
        return Response(zlib.compress(marshal.specification(found[2])), mimetype="application/octet-stream")
    if path.startswith("gems/") and path.endswith(".gem") and "/" not in path[len("gems/"):]:
        return _download(ctx, request, path[len("gems/"):])
    # The root, versions, info/{name} and names would be the Compact Index: not offered.
    return text_error("Not found", 404)


# -- push -------------------------------------------------------------------------------------------


def _push(ctx: EndpointContext, request: Request) -> Response:
    store = ctx.store
    try:
        blob = store.blobs.put_stream(request.stream, request.content_length)
    except BlobTooShort as err:
        return text_error(f"The gem was cut short: {err}", 400)
    try:
        with store.blobs.open(blob.sha256) as handle:
            spec = read_gem(handle)
    except GemError as err:
        return text_error(f"CodeArtifact cannot process this gem: {err}", 400)
    asset = spec.file_name
    try:
        with store.tx():
            pkg = store.package(ctx.repo, FORMAT, None, spec.name)
            old = store.version(pkg, spec.version) if pkg else None
            kept = old is not None and old.status != "Deleted"
            gems = dict((old.metadata.get("gems") if kept else None) or {})
            gems[asset] = spec_to_json(spec)  # if the asset exists, publish_asset conflicts or changes nothing
            store.publish_asset(ctx.repo, FORMAT, None, spec.name, spec.version, asset, blob,
                                metadata=_version_metadata(spec, gems), display_name=spec.name)
    except OriginBlocked as err:
        return text_error(err.message, origin_block_status())
    except Conflict as err:
        return text_error(err.message, 409)
    return Response(f"Successfully registered gem: {spec.name} ({spec.version})", status=200, mimetype="text/plain")


def _version_metadata(spec: GemSpec, gems: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"gems": gems}
    if spec.summary:
        meta["summary"] = spec.summary
    if spec.homepage:
        meta["homePage"] = spec.homepage
    if spec.metadata.get("source_code_uri"):
        meta["sourceCodeRepository"] = spec.metadata["source_code_uri"]
    if spec.licenses:
        meta["licenses"] = [{"name": name} for name in spec.licenses]
    return meta


# -- reading ----------------------------------------------------------------------------------------


def _specs(ctx: EndpointContext, names: list[str] | None = None) -> Iterator[tuple[str, Version, GemSpec]]:
    """(asset name, version, gemspec) of every asset of every listed version, in name order."""
    sql = ("SELECT v.*, p.name AS pkg_name FROM versions v JOIN packages p ON p.id = v.package_id"
           " WHERE p.repo_id=? AND p.format=? AND v.status='Published'")
    params: list[Any] = [ctx.repo.id, FORMAT]
    if names is not None:
        sql += f" AND p.name IN ({','.join('?' * len(names))})"
        params += names
    for row in ctx.store.query(sql + " ORDER BY p.name, v.id", tuple(params)):
        ver = row_version(row)
        gems = ver.metadata.get("gems") or {}
        for asset in ctx.store.assets(ver):
            if asset.name in gems:
                yield asset.name, ver, spec_from_json(gems[asset.name])


def _tuples(ctx: EndpointContext, kind: str) -> list[tuple[str, str, str]]:
    """The ``[name, version, platform]`` entries of one index (released, prerelease or latest)."""
    rows = [(s.name, s.version, s.platform) for _a, _v, s in _specs(ctx)]
    if kind == "prerelease":
        return [r for r in rows if is_prerelease(r[1])]
    released = [r for r in rows if not is_prerelease(r[1])]
    if kind == "released":
        return released
    latest: dict[tuple[str, str], tuple[str, str, str]] = {}
    for row in released:
        key = (row[0], platform_string(row[2]))
        if key not in latest or compare_versions(row[1], latest[key][1]) > 0:
            latest[key] = row
    order = cmp_to_key(lambda a, b: compare_versions(a[1], b[1]))
    return sorted(latest.values(), key=lambda r: (r[0], order(r)))


def _resolve(ctx: EndpointContext, stem: str) -> tuple[Version, Asset, GemSpec] | None:
    """The downloadable version, asset and gemspec that ``stem`` (``name-version[-platform]``) names.

    Names may contain ``-``, so every split is tried against the store. A platform may be spelled as
    the gem wrote it or in its canonical form.
    """
    for ver in _candidates(ctx, stem):
        if not downloadable(ver):
            continue
        for asset_name, data in (ver.metadata.get("gems") or {}).items():
            spec = spec_from_json(data)
            names = {full_name(spec.name, spec.version, spec.platform),
                     f"{spec.name}-{spec.version}" + ("" if spec.platform == "ruby" else f"-{spec.platform}")}
            asset = ctx.store.asset(ver, asset_name) if stem in names else None
            if asset is not None:
                return ver, asset, spec
    return None


def _candidates(ctx: EndpointContext, stem: str) -> Iterator[Version]:
    for i, ch in enumerate(stem):
        if ch != "-":
            continue
        pkg = ctx.store.package(ctx.repo, FORMAT, None, stem[:i])
        if pkg is None:
            continue
        rest = stem[i + 1:]
        for ver in ctx.store.versions(pkg):
            if rest == ver.version or rest.startswith(ver.version + "-"):
                yield ver


def _download(ctx: EndpointContext, request: Request, filename: str) -> Response:
    found = _resolve(ctx, filename[: -len(".gem")])
    if found is None or found[1].name != filename:
        return text_error("Not found", 404)
    return send_asset(ctx, request, found[1], "application/octet-stream", filename=filename)


def _dependencies(ctx: EndpointContext, request: Request) -> Response:
    names = [n for n in request.args.get("gems", "").split(",") if n]
    entries = []
    if names:
        for _asset, _ver, spec in _specs(ctx, names):
            deps = [(d.name, d.requirement_text()) for d in spec.runtime_dependencies()]
            entries.append((spec.name, spec.version, spec.platform, deps))
    return Response(marshal.dependency_api(entries), mimetype="application/octet-stream")
