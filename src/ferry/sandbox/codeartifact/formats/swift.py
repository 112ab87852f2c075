"""Swift package endpoint of the CodeArtifact stand-in: the Swift Package Registry API (SE-0292,
swiftlang/swift-package-manager ``Documentation/PackageRegistry/Registry.md``) that SwiftPM speaks.

Routes below the repository endpoint:

- ``GET {scope}/{name}[.json]``: releases, highest precedence first, with a ``latest-version`` link.
- ``GET {scope}/{name}/{version}[.json]``: release metadata; ``resources`` holds the
  ``source-archive`` (``application/zip``, SHA-256 ``checksum``, ``signing`` when signed).
- ``GET {scope}/{name}/{version}.zip``: the source archive (``Digest: sha-256=``, ``Content-Disposition``).
- ``GET {scope}/{name}/{version}/Package.swift[?swift-version=]``: the manifest from the archive
  (``Link`` alternates for ``Package@swift-*.swift``; 303 to the plain manifest when the asked-for one is absent).
- ``GET identifiers?url=``: the ``scope.name`` identifiers whose metadata lists that repository URL.
- ``PUT {scope}/{name}/{version}``: publish; multipart parts ``source-archive`` (required, streamed,
  may be base64 per the spec's example), ``source-archive-signature``, ``metadata`` (JSON),
  ``metadata-signature``. 201 with ``Location``.
- ``POST login``: what ``swift package-registry login`` calls; 200 once the token was accepted.

Every response carries ``Content-Version: 1``; errors are ``application/problem+json``. An ``Accept``
naming another API version is 415, a malformed registry media type 400; no ``Accept`` means v1.

In the store the namespace is the scope and the package the name, both lowercased (CodeArtifact's
swift-name-normalization); versions must be SemVer 2.0.0 and are stored as given. The one asset is
``{name}-{version}.zip`` with the lowercased name [U: CodeArtifact's asset name is not documented].

Re-publishing an existing release: the registry spec says 409, CodeArtifact's general rule says an
identical asset succeeds. Default: CodeArtifact's rule (identical archive → 201, different → 409);
``FERRY_CA_SWIFT_REPUBLISH=conflict`` gives the spec's 409 for any existing release.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import quote

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import (
    downloadable, listed, origin_block_status, republish_conflicts, send_asset,
)
from ferry.sandbox.codeartifact.formats.multipart import BadForm
from ferry.sandbox.codeartifact.formats.nuget_registration import iso
from ferry.sandbox.codeartifact.formats.parts import read_parts
from ferry.sandbox.codeartifact.formats.swift_archive import (
    BadArchive, manifest_names, read_member, semver_key, tools_version, valid_name, valid_scope, valid_version,
)
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked, Package, Version

FORMAT = "swift"
_ACCEPT = re.compile(r"^application/vnd\.swift\.registry(?:\.v(?P<v>[^+]*))?(?:\+(?P<media>[a-z]+))?$")


def asset_name(name: str, version: str) -> str:
    """The one asset of a Swift release: ``{name}-{version}.zip`` with the lowercased name."""
    return f"{name.lower()}-{version}.zip"


def problem(detail: str, status: int, headers: dict[str, str] | None = None) -> Response:
    """An RFC 7807 problem details response, as the registry spec requires for every error."""
    body = json.dumps({"status": status, "detail": detail})
    hdrs = {"Content-Version": "1", "Content-Language": "en", **(headers or {})}
    return Response(body, status=status, mimetype="application/problem+json", headers=hdrs)


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json",
                    headers={"Content-Version": "1", **(headers or {})})


def _api_version_problem(request: Request) -> Response | None:
    accept = request.headers.get("Accept", "")
    for item in (a.split(";")[0].strip().lower() for a in accept.split(",")):
        if not item.startswith("application/vnd.swift.registry"):
            continue
        m = _ACCEPT.match(item)
        if m is None or (m["media"] or "json") not in ("json", "zip", "swift"):
            return problem("invalid API version", 400)
        if m["v"] is not None and m["v"] != "1":
            return problem("unsupported API version", 415) if m["v"].isdigit() else problem("invalid API version", 400)
    return None


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one Swift registry request below the repository endpoint (never raises StoreError)."""
    bad = _api_version_problem(request)
    if bad is not None:
        return bad
    path, method = ctx.path, request.method
    parts = path.split("/")
    if path == "login":
        return _json({}) if method == "POST" else problem("use POST", 405)
    if path == "identifiers":
        return _identifiers(ctx, request) if method in ("GET", "HEAD") else problem("not allowed", 405)
    if len(parts) == 3 and method == "PUT":
        return _publish(ctx, request, *parts)
    if method not in ("GET", "HEAD"):
        return problem(f"method {method} is not supported here", 405)
    if len(parts) == 2:
        return _releases(ctx, parts[0], _strip(parts[1], ".json"))
    if len(parts) == 3 and parts[2].endswith(".zip"):
        return _archive(ctx, request, parts[0], parts[1], parts[2][: -len(".zip")])
    if len(parts) == 3:
        return _release(ctx, parts[0], parts[1], _strip(parts[2], ".json"))
    if len(parts) == 4 and parts[3] == "Package.swift":
        return _manifest(ctx, request, *parts[:3])
    return problem("not found", 404)


def _strip(text: str, suffix: str) -> str:
    return text[: -len(suffix)] if text.endswith(suffix) else text


# -- reads --------------------------------------------------------------------------------------------


def _package(ctx: EndpointContext, scope: str, name: str) -> Package | None:
    return ctx.store.package(ctx.repo, FORMAT, scope.lower(), name.lower())


def _listed(ctx: EndpointContext, pkg: Package) -> list[Version]:
    """Versions clients see, highest precedence first."""
    return sorted((v for v in ctx.store.versions(pkg) if listed(v)), key=lambda v: semver_key(v.version),
                  reverse=True)


def _release_url(ctx: EndpointContext, pkg: Package, version: str) -> str:
    return f"{ctx.base_url}{quote(pkg.namespace)}/{quote(pkg.name)}/{quote(version)}"


def _releases(ctx: EndpointContext, scope: str, name: str) -> Response:
    pkg = _package(ctx, scope, name)
    versions = _listed(ctx, pkg) if pkg else []
    if not versions:
        return problem("package not found", 404)
    body = {"releases": {v.version: {"url": _release_url(ctx, pkg, v.version)} for v in versions}}
    links = [f'<{_release_url(ctx, pkg, versions[0].version)}>; rel="latest-version"']
    repo_urls = (versions[0].metadata.get("swift") or {}).get("repositoryURLs") or []
    if repo_urls and isinstance(repo_urls[0], str):
        links.append(f'<{repo_urls[0]}>; rel="canonical"')
    return _json(body, headers={"Link": ", ".join(links)})


def _live(ctx: EndpointContext, scope: str, name: str, version: str) -> tuple[Package, Version] | None:
    pkg = _package(ctx, scope, name)
    ver = ctx.store.version(pkg, version) if pkg else None
    return (pkg, ver) if ver is not None and downloadable(ver) else None


def _release(ctx: EndpointContext, scope: str, name: str, version: str) -> Response:
    found = _live(ctx, scope, name, version)
    asset = ctx.store.asset(found[1], asset_name(found[0].name, version)) if found else None
    if asset is None:
        return problem("release not found", 404)
    pkg, ver = found
    resource: dict[str, Any] = {"name": "source-archive", "type": "application/zip", "checksum": asset.sha256}
    signing = (ver.metadata.get("swiftSigning") or {})
    if signing.get("signatureBase64Encoded"):
        resource["signing"] = signing
    body = {"id": f"{pkg.namespace}.{pkg.name}", "version": ver.version, "resources": [resource],
            "metadata": ver.metadata.get("swift") or {}, "publishedAt": iso(ver.published).replace("+00:00", "Z")}
    order = [v.version for v in _listed(ctx, pkg)]
    links = [f'<{_release_url(ctx, pkg, order[0])}>; rel="latest-version"'] if order else []
    if ver.version in order:
        at = order.index(ver.version)
        if at > 0:
            links.append(f'<{_release_url(ctx, pkg, order[at - 1])}>; rel="successor-version"')
        if at + 1 < len(order):
            links.append(f'<{_release_url(ctx, pkg, order[at + 1])}>; rel="predecessor-version"')
    return _json(body, headers={"Link": ", ".join(links)} if links else None)


def _archive(ctx: EndpointContext, request: Request, scope: str, name: str, version: str) -> Response:
    found = _live(ctx, scope, name, version)
    asset = ctx.store.asset(found[1], asset_name(found[0].name, version)) if found else None
    if asset is None:
        return problem("release not found", 404)
    resp = send_asset(ctx, request, asset, "application/zip", filename=f"{found[0].display_name or name}-{version}.zip")
    resp.headers["Content-Version"] = "1"
    resp.headers["Cache-Control"] = "public, immutable"
    resp.headers["Digest"] = "sha-256=" + base64.b64encode(bytes.fromhex(asset.sha256)).decode()
    signing = found[1].metadata.get("swiftSigning") or {}
    if signing.get("signatureBase64Encoded"):
        resp.headers["X-Swift-Package-Signature-Format"] = signing.get("signatureFormat", "")
        resp.headers["X-Swift-Package-Signature"] = signing["signatureBase64Encoded"]
    return resp


def _manifest(ctx: EndpointContext, request: Request, scope: str, name: str, version: str) -> Response:
    found = _live(ctx, scope, name, version)
    asset = ctx.store.asset(found[1], asset_name(found[0].name, version)) if found else None
    if asset is None:
        return problem("release not found", 404)
    path = ctx.store.blobs.path(asset.sha256)
    try:
        names = manifest_names(path)
        wanted = request.args.get("swift-version")
        filename = f"Package@swift-{wanted}.swift" if wanted else "Package.swift"
        if filename not in names:
            if wanted:
                return redirect(f"{_release_url(ctx, found[0], version)}/Package.swift", 303)
            return problem("the release has no Package.swift", 404)
        data = read_member(path, names[filename])
        links = []
        if not wanted:
            for alt, member in sorted(names.items()):
                if alt == "Package.swift":
                    continue
                tools = tools_version(read_member(path, member))
                swift = alt[len("Package@swift-"):-len(".swift")]
                link = f'<{_release_url(ctx, found[0], version)}/Package.swift?swift-version={swift}>; ' \
                       f'rel="alternate"; filename="{alt}"'
                links.append(link + (f'; swift-tools-version="{tools}"' if tools else ""))
    except BadArchive as err:
        return problem(str(err), 404)
    headers = {"Content-Version": "1", "Cache-Control": "public, immutable",
               "Content-Disposition": f'attachment; filename="{filename}"'}
    if links:
        headers["Link"] = ", ".join(links)
    return Response(data, mimetype="text/x-swift", headers=headers)


def _identifiers(ctx: EndpointContext, request: Request) -> Response:
    url = request.args.get("url")
    if not url:
        return problem("the url query parameter is required", 400)
    want = _url_key(url)
    rows = ctx.store.query(
        "SELECT DISTINCT p.namespace, p.name, v.metadata FROM packages p JOIN versions v ON v.package_id=p.id"
        " WHERE p.repo_id=? AND p.format=? AND v.status='Published'", (ctx.repo.id, FORMAT))
    found = set()
    for row in rows:
        urls = (json.loads(row["metadata"] or "{}").get("swift") or {}).get("repositoryURLs") or []
        if any(isinstance(u, str) and _url_key(u) == want for u in urls):
            found.add(f"{row['namespace']}.{row['name']}")
    if not found:
        return problem(f"no package identifiers are registered for {url}", 404)
    return _json({"identifiers": sorted(found)})


def _url_key(url: str) -> str:
    """URLs that name the same repository compare equal: case, scheme, ``.git`` and trailing ``/`` aside."""
    text = url.strip().lower().rstrip("/")
    text = re.sub(r"^[a-z+]+://(?:[^@/]+@)?", "", text)
    text = re.sub(r"^git@([^:]+):", r"\1/", text)
    return _strip(text, ".git")


# -- publish ------------------------------------------------------------------------------------------


def _publish(ctx: EndpointContext, request: Request, scope: str, name: str, version: str) -> Response:
    if not valid_scope(scope):
        return problem(f"invalid package scope {scope!r}", 400)
    if not valid_name(name):
        return problem(f"invalid package name {name!r}", 400)
    if not valid_version(version):
        return problem(f"invalid version {version!r}: releases must use SemVer 2.0.0 versions", 400)
    store = ctx.store
    try:
        form = read_parts(request.stream, request.headers.get("Content-Type", ""), store.blobs,
                          lambda _i, part: part == "source-archive",
                          keep_it=lambda _i, part: part in ("metadata", "source-archive-signature",
                                                           "metadata-signature"))
    except BadForm as err:
        return problem(str(err), 400)
    blob = form.blob("source-archive")
    if blob is None:
        return problem("the source-archive part is required", 422)
    try:
        if "Package.swift" not in manifest_names(store.blobs.path(blob.sha256)):
            return problem("package doesn't contain a valid manifest (Package.swift) file", 422)
    except BadArchive as err:
        return problem(str(err), 422)
    try:
        metadata = json.loads(form.small.get("metadata") or b"{}")
    except ValueError:
        return problem("invalid JSON provided for release metadata", 422)
    if not isinstance(metadata, dict):
        return problem("invalid JSON provided for release metadata", 422)
    meta = _version_metadata(metadata, form.small.get("source-archive-signature"),
                             request.headers.get("X-Swift-Package-Signature-Format"))
    ns, pkg_name = scope.lower(), name.lower()
    try:
        with store.tx():
            pkg = store.package(ctx.repo, FORMAT, ns, pkg_name)
            old = store.version(pkg, version) if pkg else None
            if old is not None and old.status != "Deleted" and republish_conflicts("FERRY_CA_SWIFT_REPUBLISH"):
                return problem(f"a release with version {version} already exists", 409)
            store.publish_asset(ctx.repo, FORMAT, ns, pkg_name, version, asset_name(pkg_name, version), blob,
                                single_asset=True, metadata=meta, display_name=name)
    except OriginBlocked as err:
        return problem(err.message, origin_block_status())
    except Conflict:
        return problem(f"a release with version {version} already exists", 409)
    location = f"{ctx.base_url}{quote(ns)}/{quote(pkg_name)}/{quote(version)}"
    return Response(b"", status=201, headers={"Content-Version": "1", "Location": location})


def _version_metadata(metadata: dict[str, Any], signature: bytes | None, signature_format: str | None) -> dict:
    meta: dict[str, Any] = {"swift": metadata}
    if isinstance(metadata.get("description"), str):
        meta["summary"] = metadata["description"]
    if isinstance(metadata.get("licenseURL"), str):
        meta["licenses"] = [{"url": metadata["licenseURL"]}]
    urls = metadata.get("repositoryURLs")
    if isinstance(urls, list) and urls and isinstance(urls[0], str):
        meta["sourceCodeRepository"] = urls[0]
    if signature:
        meta["swiftSigning"] = {"signatureBase64Encoded": base64.b64encode(signature).decode(),
                                "signatureFormat": signature_format or "cms-1.0.0"}
    return meta

