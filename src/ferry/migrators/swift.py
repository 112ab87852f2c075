"""Swift: one source archive per release, published with the Swift Package Registry's ``PUT {scope}/{name}/{version}``.

Identity follows CodeArtifact's swift-name-normalization: namespace = scope and package = name, both
lowercased; versions are not normalized but must be SemVer 2.0.0. The one asset is
``{name}-{version}.zip`` (lowercased name) [U: CodeArtifact's asset name is not documented; the
registry spec names the download ``{name}-{version}.zip``]. Sources give scope/name/version as hints
(``swift.scope``/``group``, ``swift.name``/``name``, ``swift.version``/``version``) or by the path:
``{scope}/{name}/{version}.zip`` (the registry's own URL shape) or ``{scope}/{name}/{version}/{name}-{version}.zip``.

The body is ``multipart/form-data`` with the ``source-archive`` part streamed from the spool file and,
when the source has any, a ``metadata`` part (``application/json``): the release metadata (author,
description, licenseURL, readmeURL, repositoryURLs, originalPublicationTime...) read once per version by
:meth:`SwiftMigrator.version_facts` from the ``metadata`` of the source's release document
(``GET {scope}/{name}/{version}``, ``Source.swift_release_metadata``). A source that cannot tell (no such
method), answers 404, or serves no metadata or something that is not a JSON object gets the release
published without the part (the spec makes it optional). A read that fails otherwise (after the request
retries) fails the version, so a release is never published without metadata the source has: a release
cannot be changed once published. Signatures (``source-archive-signature``, ``metadata-signature``) are
not copied.
"""

from __future__ import annotations

import json
import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import quote

from requests_toolbelt import MultipartEncoder

from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, source_item, unidentified
from ferry.migrators.claims import Claims
from ferry.model import SourceItem
from ferry.sources.base import Source, SourceFile

ACCEPT = "application/vnd.swift.registry.v1+json"
_SCOPE = re.compile(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9]|-(?=[a-zA-Z0-9])){0,38}\Z")
_NAME = re.compile(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9]|[-_](?=[a-zA-Z0-9])){0,99}\Z")
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_PATHS = (
    re.compile(r"^(?P<scope>[^/]+)/(?P<name>[^/]+)/(?P<version>[^/]+)\.zip$"),
    re.compile(r"^(?P<scope>[^/]+)/(?P<name>[^/]+)/(?P<version>[^/]+)/(?P=name)-(?P=version)\.zip$", re.I),
)


def asset_name(name: str, version: str) -> str:
    """The asset of a Swift release in CodeArtifact: ``{name}-{version}.zip`` with the lowercased name."""
    return f"{name.lower()}-{version}.zip"


def has_manifest(path: Path) -> bool:
    """True if the zip at ``path`` holds ``Package.swift`` at its root or in its single top folder."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError):
        return False
    tops = {n.split("/", 1)[0] for n in names}
    return "Package.swift" in names or (len(tops) == 1 and f"{tops.pop()}/Package.swift" in names)


class SwiftMigrator(NoPackageFacts):
    format = "swift"
    single_asset = True

    def __init__(self) -> None:
        self._claims = Claims()

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        if not file.path.lower().endswith(".zip"):
            return None  # manifests, metadata documents, signatures
        h = file.hints
        m = next((p.match(file.path) for p in _PATHS if p.match(file.path)), None)
        scope = h.get("swift.scope") or h.get("group") or h.get("namespace") or (m["scope"] if m else "")
        name = h.get("swift.name") or h.get("name") or (m["name"] if m else "")
        version = h.get("swift.version") or h.get("version") or (m["version"] if m else "")
        filename = posixpath.basename(file.path)
        problem = None
        if not scope or not name or not version:
            problem = f"cannot tell the Swift scope, name and version of {file.path!r}"
        elif not _SCOPE.match(scope):
            problem = f"{scope!r} is not a valid Swift package scope"
        elif not _NAME.match(name):
            problem = f"{name!r} is not a valid Swift package name"
        elif not _SEMVER.match(version):
            problem = f"{version!r} is not a SemVer 2.0.0 version, which CodeArtifact requires for Swift"
        if problem:
            return source_item(file, ("swift", scope.lower() or "?", name.lower() or filename, version or "?",
                                      unidentified(file)), unmappable=problem)
        ns, pkg = scope.lower(), name.lower()
        holder = self._claims.claim(mapping, (ns, pkg, version), file)
        if holder is not None:
            return source_item(file, ("swift", scope, name, version, f"(collision) {file.path}"),
                               unmappable=f"{scope}.{name} {version} is {ns}.{pkg} {version} in CodeArtifact, which "
                                          f"{holder!r} in this source already is (scopes and names are lowercased); "
                                          "not migrated")
        return source_item(file, ("swift", ns, pkg, version, asset_name(pkg, version)))

    def forget(self, mapping: RepositoryMapping) -> None:
        """The listing of ``mapping`` has ended: its claims (see :mod:`ferry.migrators.claims`) are dropped."""
        self._claims.forget(mapping)

    def version_facts(self, source: Source, repository: str, item: SourceItem) -> Mapping[str, Any]:
        """``{"metadata": {...}}``: the source's release metadata for the item's version, or ``{}`` when the
        source cannot tell or has none. Raises what the source's read raises (RetryableError, ItemError)."""
        read = getattr(source, "swift_release_metadata", None)
        if read is None:
            return {}
        key = item.key
        metadata = read(repository, key.namespace, key.package, key.version)
        return {"metadata": metadata} if isinstance(metadata, dict) and metadata else {}

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        if not has_manifest(spooled.path):
            raise ItemError("the source archive has no Package.swift at its root; the registry would refuse it")
        url = f"{ctx.endpoint('swift')}{quote(key.namespace)}/{quote(key.package)}/{quote(key.version, safe='')}"
        metadata = ctx.version_facts.get("metadata")
        with open(spooled.path, "rb") as handle:
            parts: list[tuple[str, tuple[Any, ...]]] = [("source-archive", (key.asset, handle, "application/zip"))]
            if isinstance(metadata, dict) and metadata:
                parts.append(("metadata", (None, json.dumps(metadata).encode(), "application/json")))
            encoder = MultipartEncoder(parts)
            ctx.send("PUT", url, f"swift publish {key.namespace}.{key.package} {key.version}", data=encoder,
                     headers={"Content-Type": encoder.content_type, "Accept": ACCEPT})

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        return None
