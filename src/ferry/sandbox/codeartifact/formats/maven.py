"""Maven package endpoint of the CodeArtifact stand-in (what ``mvn``, Gradle and ``curl`` talk to).

Routes below the repository endpoint (user guide: maven-curl, maven-checksums, maven-snapshots):

- ``PUT {group/path}/{artifactId}/{version}/{file}``: adds ``file`` as an asset of package
  ``artifactId`` in namespace ``groupId``, version ``version``. A new version starts ``Unfinished``
  (not listed, not downloadable); assets may be added to a Published version at any time. Identical
  content again succeeds, different content is 409.
- ``PUT .../{file}.md5|.sha1|.sha256|.sha512``: a checksum upload is checked against the stored asset,
  never stored: 404 before its asset exists, 400 on a mismatch (compared case-sensitively with the
  lower-case hex the service computes). A mismatch is remembered on the version until a matching
  checksum of the same asset is uploaded.
- ``PUT {group/path}/{artifactId}/maven-metadata.xml``: every ``Unfinished`` version it lists becomes
  ``Published`` (400, and nothing changes, while a listed version has a mismatched checksum). The
  body is not stored: the metadata served is generated. ``PUT {...}/{X-SNAPSHOT}/maven-metadata.xml``
  does the same for that snapshot version. Checksums of metadata files are accepted unchecked.
- ``GET``/``HEAD`` of an asset (Published or Unlisted versions only), of its checksum files (from the
  stored hashes), of ``maven-metadata.xml`` (generated from the Published versions: ``latest``,
  ``release``, ``versions``, ``lastUpdated``) and of a snapshot's version-level metadata (generated from
  the timestamped asset names).

Simplifications (see the reference, section 1.4): a snapshot's builds all stay assets of one version
``X-SNAPSHOT`` (the service keeps older builds as separate Unlisted versions); the uploaded
``maven-metadata.xml`` is never listed as an asset.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from typing import Any
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from ferry.sandbox.blobs import BlobTooShort
from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import downloadable, listed, origin_block_status, send_asset, \
    text_error
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked, Package, Version
from ferry.sandbox.nexus.maven import content_type, parse_path

FORMAT = "maven"
METADATA = "maven-metadata.xml"
CHECKSUMS = {"md5": "md5", "sha1": "sha1", "sha256": "sha256", "sha512": "sha512"}
MAX_CHECKSUM_BODY = 1024
MAX_METADATA_BODY = 4 * 1024 * 1024
_SEGMENT = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.+~-]+$")
_FILE = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,255}$")


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one Maven request below the repository endpoint; returns the response (never raises StoreError)."""
    try:
        return _route(ctx, request)
    except (BlobTooShort, ClientDisconnected) as err:
        return text_error(f"The request body ended early: {err}", 400)


def _route(ctx: EndpointContext, request: Request) -> Response:
    parts = ctx.path.split("/")
    method = request.method
    if len(parts) < 3 or not all(parts):
        return text_error("Not found", 404)
    if method not in ("GET", "HEAD", "PUT"):
        return text_error(f"Method {method} is not supported here", 405)
    filename, algorithm = _split_checksum(parts[-1])
    if filename == METADATA:
        return _metadata(ctx, request, parts[:-1], algorithm)
    if len(parts) < 4:
        return text_error("Not found", 404)
    *group, artifact, version = parts[:-1]
    if not all(_SEGMENT.match(p) for p in (*group, artifact, version)) or not _FILE.match(filename) \
            or filename in (".", ".."):
        return text_error(f"Invalid Maven path {ctx.path}", 400)
    coords = (".".join(group), artifact, version)
    if method == "PUT":
        if algorithm:
            return _put_checksum(ctx, request, coords, filename, algorithm)
        return _put_asset(ctx, request, coords, filename)
    return _get_asset(ctx, request, coords, filename, algorithm)


def _split_checksum(name: str) -> tuple[str, str | None]:
    stem, dot, suffix = name.rpartition(".")
    if dot and stem and suffix in CHECKSUMS:
        return stem, CHECKSUMS[suffix]
    return name, None


# -- assets -----------------------------------------------------------------------------------------------


def _lookup(ctx: EndpointContext, coords: tuple[str, str, str]) -> tuple[Package | None, Version | None]:
    pkg = ctx.store.package(ctx.repo, FORMAT, coords[0], coords[1])
    ver = ctx.store.version(pkg, coords[2]) if pkg else None
    return pkg, ver


def _get_asset(ctx: EndpointContext, request: Request, coords, filename: str, algorithm: str | None) -> Response:
    _pkg, ver = _lookup(ctx, coords)
    asset = ctx.store.asset(ver, filename) if ver is not None and downloadable(ver) else None
    if asset is None:
        return text_error("Not found", 404)
    if algorithm:
        return _text(request, getattr(asset, algorithm), "text/plain")
    return send_asset(ctx, request, asset, content_type(filename))


def _put_asset(ctx: EndpointContext, request: Request, coords, filename: str) -> Response:
    namespace, artifact, version = coords
    blob = ctx.store.blobs.put_stream(request.stream, request.content_length)
    metadata = _pom_metadata(ctx, blob.sha256) if filename == f"{artifact}-{version}.pom" else None
    try:
        ctx.store.publish_asset(ctx.repo, FORMAT, namespace, artifact, version, filename, blob, unfinished=True,
                                metadata=metadata)
    except OriginBlocked as err:
        return text_error(err.message, origin_block_status())
    except Conflict as err:
        return text_error(err.message, 409)
    return Response(b"", status=201)


def _put_checksum(ctx: EndpointContext, request: Request, coords, filename: str, algorithm: str) -> Response:
    _pkg, ver = _lookup(ctx, coords)
    asset = ctx.store.asset(ver, filename) if ver is not None and ver.status not in ("Deleted", "Disposed") else None
    if asset is None:
        return text_error(f"Asset {filename} not found; upload it before its checksum", 404)
    sent = request.stream.read(MAX_CHECKSUM_BODY + 1).decode("ascii", "replace").strip()
    # Clients write either the bare digest or "digest  filename"; the comparison is case-sensitive.
    value = sent.split()[0] if sent else ""
    ok = value == getattr(asset, algorithm)
    _record_mismatch(ctx, ver, f"{filename}.{algorithm}", bad=not ok)
    if not ok:
        return text_error(f"Checksum mismatch for {filename}: the {algorithm} sent does not match the asset", 400)
    return Response(b"", status=201)


def _record_mismatch(ctx: EndpointContext, ver: Version, name: str, bad: bool) -> None:
    with ctx.store.tx() as db:
        row = db.execute("SELECT metadata FROM versions WHERE id=?", (ver.id,)).fetchone()
        meta = json.loads(row["metadata"] or "{}")
        maven = dict(meta.get("maven") or {})
        bad_sums = set(maven.get("checksumMismatches") or [])
        if (name in bad_sums) == bad:
            return
        bad_sums = bad_sums | {name} if bad else bad_sums - {name}
        maven["checksumMismatches"] = sorted(bad_sums)
        meta["maven"] = maven
        db.execute("UPDATE versions SET metadata=? WHERE id=?", (json.dumps(meta), ver.id))


def _mismatches(ver: Version) -> list[str]:
    return list((ver.metadata.get("maven") or {}).get("checksumMismatches") or [])


def _pom_metadata(ctx: EndpointContext, sha256: str) -> dict[str, Any] | None:
    """DescribePackageVersion fields from a POM (description, url, licenses); None if it isn't readable."""
    with ctx.store.blobs.open(sha256) as fh:
        data = fh.read(MAX_METADATA_BODY + 1)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError:
        return None

    def text(elem, tag):
        for child in elem:
            if child.tag.rsplit("}", 1)[-1] == tag and child.text and child.text.strip():
                return " ".join(child.text.split())
        return None

    meta: dict[str, Any] = {}
    if text(root, "description"):
        meta["summary"] = text(root, "description")
    if text(root, "url"):
        meta["homePage"] = text(root, "url")
    licenses = []
    for block in (c for c in root if c.tag.rsplit("}", 1)[-1] == "licenses"):
        for lic in block:
            entry = {k: v for k, v in (("name", text(lic, "name")), ("url", text(lic, "url"))) if v}
            if entry:
                licenses.append(entry)
    if licenses:
        meta["licenses"] = licenses
    return meta


# -- maven-metadata.xml -------------------------------------------------------------------------------


def _metadata(ctx: EndpointContext, request: Request, folder: list[str], algorithm: str | None) -> Response:
    """Artifact-level (``g/a/maven-metadata.xml``) or snapshot-level (``g/a/X-SNAPSHOT/...``) metadata."""
    snapshot = len(folder) >= 3 and folder[-1].endswith("-SNAPSHOT")
    if snapshot:
        *group, artifact, version = folder
    else:
        *group, artifact = folder
        version = None
    if not group or not all(_SEGMENT.match(p) for p in folder):
        return text_error(f"Invalid Maven path {ctx.path}", 400)
    namespace = ".".join(group)
    pkg = ctx.store.package(ctx.repo, FORMAT, namespace, artifact)
    if request.method == "PUT":
        if algorithm:
            return Response(b"", status=201)  # the uploaded metadata is not kept, so there is nothing to check
        return _put_metadata(ctx, request, pkg, version)
    body = None
    if pkg is not None:
        body = _snapshot_xml(ctx, pkg, version) if version else _artifact_xml(ctx, pkg)
    if body is None:
        return text_error("Not found", 404)
    if algorithm:
        return _text(request, hashlib.new(algorithm, body).hexdigest(), "text/plain")
    return _text(request, body, "application/xml")


def _put_metadata(ctx: EndpointContext, request: Request, pkg: Package | None, version: str | None) -> Response:
    data = request.stream.read(MAX_METADATA_BODY + 1)
    if len(data) > MAX_METADATA_BODY:
        return text_error("maven-metadata.xml is too large", 413)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        return text_error(f"maven-metadata.xml is not valid XML: {err}", 400)
    if pkg is None:
        return Response(b"", status=201)  # group-level (plugin prefix) metadata or an unknown artifact
    names = [version] if version else _listed_versions(root)
    versions = [v for v in (ctx.store.version(pkg, n) for n in names) if v is not None]
    for ver in versions:
        bad = _mismatches(ver)
        if ver.status == "Unfinished" and bad:
            return text_error(f"Version {ver.version} has checksum mismatches ({', '.join(bad)}); "
                              "upload matching checksums or delete the version", 400)
    for ver in versions:
        if ver.status == "Unfinished":
            ctx.store.set_status(ver, "Published")
    return Response(b"", status=201)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _listed_versions(root) -> list[str]:
    """The ``versioning/versions/version`` texts of an artifact-level metadata document."""
    return [child.text.strip() for parent in root.iter() if _local(parent.tag) == "versions"
            for child in parent if _local(child.tag) == "version" and child.text and child.text.strip()]


def _artifact_xml(ctx: EndpointContext, pkg: Package) -> bytes | None:
    versions = [v for v in ctx.store.versions(pkg) if listed(v)]
    if not versions:
        return None
    ordered = sorted((v.version for v in versions), key=version_key)
    releases = [v for v in ordered if not v.endswith("-SNAPSHOT")]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>",
             f"  <groupId>{escape(pkg.namespace)}</groupId>", f"  <artifactId>{escape(pkg.name)}</artifactId>",
             "  <versioning>", f"    <latest>{escape(ordered[-1])}</latest>"]
    if releases:
        lines.append(f"    <release>{escape(releases[-1])}</release>")
    lines += ["    <versions>", *(f"      <version>{escape(v)}</version>" for v in ordered), "    </versions>",
              f"    <lastUpdated>{_stamp(max(v.changed for v in versions))}</lastUpdated>",
              "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


def _snapshot_xml(ctx: EndpointContext, pkg: Package, version: str) -> bytes | None:
    ver = ctx.store.version(pkg, version)
    if ver is None or not listed(ver):
        return None
    latest: dict[tuple[str, str], str] = {}
    for asset in ctx.store.assets(ver):
        coords = parse_path(f"{pkg.namespace.replace('.', '/')}/{pkg.name}/{version}/{asset.name}")
        if coords is None or coords.version == version:
            continue
        key = (coords.classifier or "", coords.extension)
        if key not in latest or _build_key(coords.version) > _build_key(latest[key]):
            latest[key] = coords.version
    if not latest:
        return None
    newest = max(latest.values(), key=_build_key)
    stamp, _, build = newest[len(version) - len("SNAPSHOT"):].partition("-")
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<metadata modelVersion="1.1.0">',
             f"  <groupId>{escape(pkg.namespace)}</groupId>", f"  <artifactId>{escape(pkg.name)}</artifactId>",
             f"  <version>{escape(version)}</version>", "  <versioning>", "    <snapshot>",
             f"      <timestamp>{stamp}</timestamp>", f"      <buildNumber>{build}</buildNumber>", "    </snapshot>",
             f"    <lastUpdated>{_stamp(ver.changed)}</lastUpdated>", "    <snapshotVersions>"]
    for (classifier, extension), value in sorted(latest.items()):
        lines.append("      <snapshotVersion>")
        if classifier:
            lines.append(f"        <classifier>{escape(classifier)}</classifier>")
        lines += [f"        <extension>{escape(extension)}</extension>", f"        <value>{escape(value)}</value>",
                  f"        <updated>{stamp.replace('.', '')}</updated>", "      </snapshotVersion>"]
    lines += ["    </snapshotVersions>", "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


def _build_key(timestamped: str) -> tuple[str, int]:
    m = re.search(r"(\d{8}\.\d{6})-(\d+)$", timestamped)
    return (m.group(1), int(m.group(2))) if m else ("", 0)


def _stamp(epoch: float) -> str:
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(epoch))


def _text(request: Request, body: str | bytes, mimetype: str) -> Response:
    data = body.encode() if isinstance(body, str) else body
    resp = Response(b"" if request.method == "HEAD" else data, mimetype=mimetype)
    resp.content_length = len(data)
    return resp


# -- version order ------------------------------------------------------------------------------------------

_QUALIFIERS = {"alpha": 1, "a": 1, "beta": 2, "b": 2, "milestone": 3, "m": 3, "rc": 4, "cr": 4, "snapshot": 5,
               "": 6, "ga": 6, "final": 6, "release": 6, "sp": 7}


def version_key(version: str) -> list[tuple[int, int, str]]:
    """A sort key close to Maven's ComparableVersion: numbers numerically, then known qualifiers in
    Maven's order (alpha < beta < milestone < rc < snapshot < release < sp), then other words
    alphabetically; trailing zeros and release words don't count (``1.0`` == ``1``)."""
    items: list[tuple[int, int, str]] = []
    for token in re.findall(r"\d+|[A-Za-z]+", version):
        if token.isdigit():
            items.append((1, int(token), ""))
        else:
            word = token.lower()
            rank = _QUALIFIERS.get(word)
            items.append((0, rank, "") if rank is not None else (0, 8, word))
    zero, release = (1, 0, ""), (0, 6, "")
    kept = []
    for i, item in enumerate(items):
        if item == zero:  # zeros before a qualifier or the end don't count: 1.0-rc1 is 1-rc1
            j = i
            while j < len(items) and items[j] == zero:
                j += 1
            if j == len(items) or items[j][0] == 0:
                continue
        kept.append(item)
    while kept and kept[-1] == release:
        kept.pop()
    # A missing part sorts like the release marker: below "sp"/other words and numbers, above "rc".
    return kept + [release]
