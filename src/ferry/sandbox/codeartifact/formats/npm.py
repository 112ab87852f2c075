"""npm package endpoint of the CodeArtifact stand-in (what ``npm install/publish/view/dist-tag`` talk to).

Routes below the repository endpoint (the server has already percent-decoded the path, so the
scoped forms ``@scope%2fname`` and ``@scope/name`` arrive alike):

- ``GET {name}``: the packument (listed versions, dist-tags, ``time``; each ``dist`` has a
  ``tarball`` URL back to this endpoint, ``shasum`` (SHA-1) and ``integrity`` (SHA-512, base64)).
  Dist-tags that point at a version clients may not see (Unlisted, Archived, ...) are left out of
  it, so ``latest`` never names a version missing from ``versions``; the dist-tag API shows them all.
- ``GET {name}/{version-or-tag}``: one version's manifest.
- ``GET {name}/-/{file}.tgz``: the tarball, streamed from the blob store.
- ``PUT {name}``: publish; the body is read by :mod:`.npm_body` without holding it in memory. A body
  without ``_attachments`` is ``npm deprecate``'s: the packument with changed ``deprecated`` messages.
- ``GET|PUT|DELETE -/package/{name}/dist-tags[/{tag}]``: the dist-tag API ``npm dist-tag`` uses.
- ``GET -/ping``.

In the store an npm version has exactly one asset, ``package.tgz``; the namespace is the scope
without ``@``; the version metadata keeps the published package.json (``manifest``) so the packument
can be rebuilt, plus ``summary``/``homePage``/``licenses``/``sourceCodeRepository`` as
DescribePackageVersion names them. Errors are npm-style ``{"error": "..."}`` bodies, which the npm
client prints.
"""

from __future__ import annotations

import base64
import json
import re
import time
from typing import Any

from werkzeug.wrappers import Request, Response

from ferry.sandbox.blobs import Blob
from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import (
    downloadable, listed, origin_block_status, republish_conflicts, send_asset,
)
from ferry.sandbox.codeartifact.formats.npm_body import (
    MAX_BODY, BadBody, BodyTooLarge, attachment_blobs, read_publish_body,
)
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked, Package, Version
from ferry.sandbox.web import json_response

ASSET = "package.tgz"
FORMAT = "npm"
_NAME_PART = re.compile(r"^[A-Za-z0-9._~-][A-Za-z0-9._~!*'()-]*$")


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one npm request below the repository endpoint; returns the response (never raises StoreError)."""
    path, method = ctx.path, request.method
    if path == "-/ping":
        return json_response({})
    if path.startswith("-/package/"):
        return _dist_tags(ctx, request, path[len("-/package/"):])
    name, rest = split_name(path)
    if name is None:
        return npm_error("Not found", 404)
    if rest == "":
        if method in ("GET", "HEAD"):
            return _packument(ctx, name)
        if method == "PUT":
            return _publish(ctx, request, name)
        return npm_error(f"Method {method} is not supported here", 405)
    if method not in ("GET", "HEAD"):
        return npm_error(f"Method {method} is not supported here", 405)
    if rest.startswith("-/"):
        return _tarball(ctx, request, name, rest[2:].rsplit("/", 1)[-1])
    return _version_manifest(ctx, name, rest.rstrip("/"))


def npm_error(message: str, status: int) -> Response:
    """An error as npm registries send it; npm prints ``error``."""
    return json_response({"error": message}, status=status)


def split_name(path: str) -> tuple[str | None, str]:
    """``("@scope/name" or "name", rest-of-path)`` for a path below the endpoint; name None if invalid."""
    parts = path.split("/")
    count = 2 if parts[0].startswith("@") else 1
    if len(parts) < count:
        return None, ""
    head = parts[:count]
    if count == 2:
        head[0] = head[0][1:]
    if not all(_NAME_PART.match(p) for p in head):
        return None, ""
    return "/".join(parts[:count]), "/".join(parts[count:])


def scope_and_name(full: str) -> tuple[str | None, str]:
    """CodeArtifact's (namespace, package) for an npm name: the scope without ``@``, or None."""
    if full.startswith("@"):
        scope, _, name = full[1:].partition("/")
        return scope, name
    return None, full


def integrity(sha512_hex: str) -> str:
    """The Subresource Integrity string npm expects for a SHA-512 hex digest."""
    return "sha512-" + base64.b64encode(bytes.fromhex(sha512_hex)).decode()


def tarball_url(ctx: EndpointContext, full: str, version: str) -> str:
    return f"{ctx.base_url}{full}/-/{full.rsplit('/', 1)[-1]}-{version}.tgz"


def _iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def _package(ctx: EndpointContext, full: str) -> Package | None:
    scope, name = scope_and_name(full)
    return ctx.store.package(ctx.repo, FORMAT, scope, name)


# -- reads --------------------------------------------------------------------------------------------


def _manifest(ctx: EndpointContext, full: str, ver: Version) -> dict[str, Any] | None:
    asset = ctx.store.asset(ver, ASSET)
    if asset is None:
        return None
    doc = dict(ver.metadata.get("manifest") or {"name": full, "version": ver.version})
    doc.setdefault("_id", f"{full}@{ver.version}")
    dist = dict(doc.get("dist") or {})
    dist.update(tarball=tarball_url(ctx, full, ver.version), shasum=asset.sha1, integrity=integrity(asset.sha512))
    doc["dist"] = dist
    return doc


def _packument(ctx: EndpointContext, full: str) -> Response:
    pkg = _package(ctx, full)
    all_versions = ctx.store.versions(pkg) if pkg else []
    if not all_versions:
        return npm_error("Not found", 404)
    versions: dict[str, Any] = {}
    times: dict[str, str] = {}
    records: dict[str, Version] = {}
    for ver in all_versions:
        doc = _manifest(ctx, full, ver) if listed(ver) else None
        if doc is not None:
            versions[ver.version] = doc
            times[ver.version] = _iso(ver.published)
            records[ver.version] = ver
    tags = {tag: v for tag, v in ctx.store.dist_tags(pkg).items() if v in versions}
    body: dict[str, Any] = {"_id": full, "name": full, "dist-tags": tags, "versions": versions}
    if versions:
        body["time"] = {
            "created": _iso(min(v.published for v in all_versions)),
            "modified": _iso(max(v.changed for v in all_versions)),
            **times,
        }
        head = records.get(tags.get("latest", "")) or list(records.values())[-1]
        if isinstance(versions[head.version].get("description"), str):
            body["description"] = versions[head.version]["description"]
        if head.metadata.get("readme"):
            body["readme"] = head.metadata["readme"]
    return json_response(body)


def _version_manifest(ctx: EndpointContext, full: str, spec: str) -> Response:
    pkg = _package(ctx, full)
    if pkg is None:
        return npm_error("Not found", 404)
    version = ctx.store.dist_tags(pkg).get(spec, spec)
    ver = ctx.store.version(pkg, version)
    doc = _manifest(ctx, full, ver) if ver is not None and listed(ver) else None
    if doc is None:
        return npm_error(f"version not found: {spec}", 404)
    return json_response(doc)


def _tarball(ctx: EndpointContext, request: Request, full: str, filename: str) -> Response:
    prefix = full.rsplit("/", 1)[-1] + "-"
    if not (filename.startswith(prefix) and filename.endswith(".tgz")):
        return npm_error("Not found", 404)
    pkg = _package(ctx, full)
    ver = ctx.store.version(pkg, filename[len(prefix):-len(".tgz")]) if pkg else None
    asset = ctx.store.asset(ver, ASSET) if ver is not None and downloadable(ver) else None
    if asset is None:
        return npm_error("Not found", 404)
    return send_asset(ctx, request, asset, "application/octet-stream")


# -- dist-tags ------------------------------------------------------------------------------------------


def _dist_tags(ctx: EndpointContext, request: Request, rest: str) -> Response:
    full, tail = split_name(rest)
    if full is None or not (tail == "dist-tags" or tail.startswith("dist-tags/")):
        return npm_error("Not found", 404)
    tag = tail[len("dist-tags/"):] if tail != "dist-tags" else ""
    pkg = _package(ctx, full)
    if pkg is None:
        return npm_error("Not found", 404)
    method = request.method
    if not tag:
        if method in ("GET", "HEAD"):
            return json_response(ctx.store.dist_tags(pkg))
        return npm_error(f"Method {method} is not supported here", 405)
    if method in ("PUT", "POST"):
        try:
            version = json.loads(request.get_data(cache=False, as_text=True) or "null")
        except ValueError:
            version = None
        if not isinstance(version, str) or not version:
            return npm_error("the body must be a JSON string naming a version", 400)
        ver = ctx.store.version(pkg, version)
        if ver is None or ver.status in ("Deleted", "Disposed"):
            return npm_error(f"version not found: {version}", 404)
        ctx.store.set_dist_tag(pkg, tag, version)
        return json_response({"ok": True, "id": full, "dist-tags": ctx.store.dist_tags(pkg)})
    if method == "DELETE":
        if tag not in ctx.store.dist_tags(pkg):
            return npm_error(f"dist-tag not found: {tag}", 404)
        ctx.store.delete_dist_tag(pkg, tag)
        return json_response({"ok": True, "id": full, "dist-tags": ctx.store.dist_tags(pkg)})
    if method in ("GET", "HEAD"):
        version = ctx.store.dist_tags(pkg).get(tag)
        return json_response(version) if version else npm_error(f"dist-tag not found: {tag}", 404)
    return npm_error(f"Method {method} is not supported here", 405)


# -- publish --------------------------------------------------------------------------------------------


class _Refused(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message, self.status = message, status


def _publish(ctx: EndpointContext, request: Request, full: str) -> Response:
    if (request.content_length or 0) > MAX_BODY:
        return npm_error(f"publish request is larger than {MAX_BODY} bytes", 413)
    try:
        doc = read_publish_body(request.stream, ctx.store.blobs)
        if not doc.get("_attachments") and isinstance(doc.get("versions"), dict):
            return _deprecate(ctx, full, doc)
        version, manifest, blob = _validated(doc, full)
    except BodyTooLarge as err:
        return npm_error(str(err), 413)
    except BadBody as err:
        return npm_error(f"bad publish body: {err}", 400)
    except _Refused as err:
        return npm_error(err.message, err.status)
    scope, name = scope_and_name(full)
    store = ctx.store
    if republish_conflicts("FERRY_CA_NPM_REPUBLISH"):
        pkg = store.package(ctx.repo, FORMAT, scope, name)
        old = store.version(pkg, version) if pkg else None
        if old is not None and old.status != "Deleted":
            return npm_error(f"Cannot publish over existing version {full}@{version}", 409)
    try:
        store.publish_asset(ctx.repo, FORMAT, scope, name, version, ASSET, blob, single_asset=True,
                            metadata=_version_metadata(manifest, doc.get("readme")), display_name=full)
    except OriginBlocked as err:
        return npm_error(err.message, origin_block_status())
    except Conflict as err:
        return npm_error(err.message, 409)
    pkg = store.require_package(ctx.repo, FORMAT, scope, name)
    tags = doc.get("dist-tags") if isinstance(doc.get("dist-tags"), dict) else {}
    for tag, target in tags.items():
        target_ver = store.version(pkg, target) if isinstance(target, str) and tag else None
        if target_ver is not None and target_ver.status not in ("Deleted", "Disposed"):
            store.set_dist_tag(pkg, tag, target)
    return json_response({"ok": True, "id": full, "version": version})


def _deprecate(ctx: EndpointContext, full: str, doc: dict[str, Any]) -> Response:
    """``npm deprecate``: the packument PUT back with changed ``deprecated`` messages. Each version it
    lists takes its message (``""`` or none un-deprecates); nothing else in the document changes anything."""
    if doc.get("name", full) != full:
        return npm_error(f"the body names package {doc.get('name')!r} but the URL names {full!r}", 400)
    pkg = _package(ctx, full)
    changes: list[tuple[Version, dict[str, Any]]] = []
    for version, manifest in doc["versions"].items():
        ver = ctx.store.version(pkg, version) if pkg else None
        if ver is None or ver.status in ("Deleted", "Disposed"):
            return npm_error(f"version not found: {version}", 404)
        message = manifest.get("deprecated") if isinstance(manifest, dict) else None
        kept = dict(ver.metadata.get("manifest") or {})
        if isinstance(message, str) and message:
            kept["deprecated"] = message
        else:
            kept.pop("deprecated", None)
        if kept != ver.metadata.get("manifest"):
            changes.append((ver, {**ver.metadata, "manifest": kept}))
    for ver, metadata in changes:
        ctx.store.set_metadata(ver, metadata)
    return json_response({"ok": True, "id": full})


def _validated(doc: dict[str, Any], full: str) -> tuple[str, dict[str, Any], Blob]:
    """(version, manifest, tarball blob) of a publish document; raises :class:`_Refused` if it is not one."""
    if doc.get("name", full) != full:
        raise _Refused(f"the body names package {doc.get('name')!r} but the URL names {full!r}")
    blobs = attachment_blobs(doc)
    versions = doc.get("versions")
    if not blobs:
        raise _Refused("the publish body has no _attachments with tarball data")
    if not isinstance(versions, dict) or len(versions) != 1 or len(blobs) != 1:
        raise _Refused("a publish body must hold exactly one version and one attachment")
    (version, manifest), = versions.items()
    (blob, length), = blobs.values()
    if not isinstance(manifest, dict) or manifest.get("version", version) != version:
        raise _Refused(f"the manifest of {version} does not describe version {version}")
    if manifest.get("name", full) != full:
        raise _Refused(f"the manifest names {manifest.get('name')!r}, not {full!r}")
    if not version or "/" in version:
        raise _Refused(f"invalid version {version!r}")
    if length is not None and length != blob.size:
        raise _Refused(f"attachment length {length} does not match the {blob.size} bytes of data")
    dist = manifest.get("dist") if isinstance(manifest.get("dist"), dict) else {}
    if dist.get("shasum") not in (None, blob.sha1):
        raise _Refused(f"dist.shasum {dist.get('shasum')} does not match the tarball (sha1 {blob.sha1})")
    for entry in str(dist.get("integrity") or "").split():
        algo, _, digest = entry.partition("-")
        ours = {"sha512": blob.sha512, "sha1": blob.sha1, "sha256": blob.sha256}.get(algo)
        if ours is not None and _b64hex(digest) != ours:
            raise _Refused(f"dist.integrity {algo} does not match the tarball")
    return version, manifest, blob


def _b64hex(digest: str) -> str | None:
    try:
        return base64.b64decode(digest, validate=True).hex()
    except ValueError:
        return None


def _version_metadata(manifest: dict[str, Any], readme: Any) -> dict[str, Any]:
    kept = dict(manifest)
    dist = {k: v for k, v in (kept.get("dist") or {}).items() if k not in ("tarball", "shasum", "integrity")}
    kept["dist"] = dist
    readme = kept.pop("readme", None) or readme
    meta: dict[str, Any] = {"manifest": kept}
    if isinstance(readme, str) and readme:
        meta["readme"] = readme
    if isinstance(manifest.get("description"), str):
        meta["summary"] = manifest["description"]
    if isinstance(manifest.get("homepage"), str):
        meta["homePage"] = manifest["homepage"]
    lic = manifest.get("license")
    if isinstance(lic, str):
        meta["licenses"] = [{"name": lic}]
    repo = manifest.get("repository")
    url = repo.get("url") if isinstance(repo, dict) else repo
    if isinstance(url, str):
        meta["sourceCodeRepository"] = url
    return meta
