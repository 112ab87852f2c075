"""Putting content into hosted repositories: the component upload API, PUT, twine and cargo publish.

Every body is streamed to the blob store first, then inspected on disk. Rules follow Nexus:
write policy ``ALLOW_ONCE`` refuses to replace an asset, ``DENY`` refuses all writes, maven
version policies keep SNAPSHOTs and releases apart, and the upload API refuses snapshot repositories.
Derived files (maven checksums and ``maven-metadata.xml``, npm packuments, PyPI ``simple/`` pages) are
written after each change by :mod:`ferry.sandbox.nexus.indexes`.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from werkzeug.datastructures import FileStorage, MultiDict

from ferry.sandbox.blobs import Blob, BlobTooShort
from ferry.sandbox.nexus import formats, indexes, maven
from ferry.sandbox.nexus.formats import Identity
from ferry.sandbox.nexus.store import AssetRow, BadRequest, RepoRecord, Store, ValidationFailed

_RAW_MIME = {".txt": "text/plain", ".json": "application/json", ".xml": "application/xml",
             ".zip": "application/zip", ".gz": "application/x-gzip", ".tgz": "application/x-gzip",
             ".jar": "application/java-archive", ".html": "text/html", ".sh": "text/x-sh"}


@dataclass(frozen=True)
class Who:
    """Who is writing: recorded as an asset's ``uploader`` and ``uploaderIp``."""

    user: str | None
    ip: str | None


def writable(repo: RepoRecord) -> bool:
    """Whether existing assets may be replaced. Raises :class:`BadRequest` unless ``repo`` takes writes."""
    if repo.type != "hosted":
        raise BadRequest(f"Repository does not allow deployments: {repo.name}")
    if repo.write_policy == "DENY":
        raise BadRequest(f"Repository is read only: {repo.name}")
    return repo.write_policy == "ALLOW"


def raw_group(path: str) -> str:
    """The group Nexus gives a raw file (``RawCoordinatesHelper.getGroup``): its folder with a leading ``/``."""
    folder = path.rsplit("/", 1)[0] if "/" in path else ""
    return "/" + folder


def normalize_raw_path(path: str) -> str:
    """Collapse ``//``, drop leading/trailing ``/``; raises :class:`ValidationFailed` for ``..`` or empty."""
    clean = re.sub(r"/+", "/", path).strip("/")
    if not clean or any(p in (".", "..") for p in clean.split("/")):
        raise ValidationFailed(f"Invalid path {path!r}")
    return clean


class Ingest:
    """Writes into a :class:`Store`; one per app."""

    def __init__(self, store: Store):
        self.store = store

    # -- helpers ------------------------------------------------------------------------------------

    def _blob(self, stream: BinaryIO, length: int | None = None) -> Blob:
        try:
            return self.store.blobs.put_stream(stream, length)
        except BlobTooShort as exc:
            raise BadRequest(str(exc)) from None

    def _put(self, repo: RepoRecord, ident: Identity, blob: Blob, who: Who, may_replace: bool,
             component: bool = True) -> AssetRow:
        coords = (ident.group, ident.name, ident.version) if component else None
        return self.store.put_asset(repo.name, ident.path, blob, ident.content_type, component=coords,
                                    attrs=ident.attrs, uploader=who.user, uploader_ip=who.ip, may_replace=may_replace)

    def _refuse_existing(self, repo: RepoRecord, paths: list[str], may_replace: bool) -> None:
        if not may_replace and any(self.store.asset_at(repo.name, p) for p in paths):
            raise BadRequest(f"Repository does not allow updating assets: {repo.name}")

    def _identify(self, blob: Blob, reader) -> Identity:
        try:
            return reader(self.store.blobs.path(blob.sha256))
        except Exception:
            self.store.drop_blob_if_unused(blob.sha256)
            raise

    # -- POST /service/rest/v1/components -----------------------------------------------------------

    def upload(self, repo: RepoRecord, form: MultiDict, files: MultiDict, who: Who) -> None:
        """Handle a component upload with Nexus's ``{format}.…`` multipart fields.

        Raises :class:`ValidationFailed`/:class:`BadRequest` as Nexus would (400 with a message).
        """
        may_replace = writable(repo)
        handlers = {"npm": self._upload_single, "pypi": self._upload_single, "nuget": self._upload_single,
                    "rubygems": self._upload_single, "raw": self._upload_raw, "maven2": self._upload_maven}
        handler = handlers.get(repo.format)
        if handler is None:
            raise BadRequest(f"Uploading components to '{repo.format}' repositories is unsupported")
        handler(repo, form, files, who, may_replace)

    def _upload_single(self, repo: RepoRecord, form: MultiDict, files: MultiDict, who: Who, may_replace: bool):
        part: FileStorage | None = files.get(f"{repo.format}.asset")
        if part is None:
            raise ValidationFailed("No assets found in upload")
        blob = self._blob(part.stream)
        readers = {"npm": formats.npm_identity, "nuget": formats.nuget_identity,
                   "rubygems": formats.rubygems_identity,
                   "pypi": lambda p: formats.pypi_identity(p, part.filename or "")}
        ident = self._identify(blob, readers[repo.format])
        try:
            self._refuse_existing(repo, [ident.path], may_replace)
        except BadRequest:
            self.store.drop_blob_if_unused(blob.sha256)
            raise
        self._put(repo, ident, blob, who, may_replace)
        indexes.refresh(self.store, repo, ident, who)

    def _numbered_assets(self, prefix: str, files: MultiDict) -> list[tuple[str, FileStorage]]:
        found = []
        for key in files:
            m = re.fullmatch(re.escape(prefix) + r"\.asset(\d+)", key)
            if m:
                found.append((int(m.group(1)), m.group(1), files[key]))
        return [(n, f) for _, n, f in sorted(found, key=lambda t: t[0])]

    def _upload_raw(self, repo: RepoRecord, form: MultiDict, files: MultiDict, who: Who, may_replace: bool):
        directory = (form.get("raw.directory") or "").strip()
        parts = self._numbered_assets("raw", files)
        if not parts:
            raise ValidationFailed("No assets found in upload")
        targets = []
        for n, part in parts:
            filename = (form.get(f"raw.asset{n}.filename") or "").strip()
            if not filename:
                raise ValidationFailed(f"Missing required asset field 'Filename' on '{n}'")
            targets.append((normalize_raw_path(f"{directory}/{filename}"), part))
        self._refuse_existing(repo, [p for p, _ in targets], may_replace)
        for path, part in targets:
            self.put_raw(repo, path, part.stream, None, who, may_replace, part.content_type)

    def _upload_maven(self, repo: RepoRecord, form: MultiDict, files: MultiDict, who: Who, may_replace: bool):
        if (repo.config.get("maven") or {}).get("versionPolicy") == "SNAPSHOT":
            raise ValidationFailed("Upload to snapshot repositories not supported, use the maven client.")
        parts = self._numbered_assets("maven2", files)
        if not parts:
            raise ValidationFailed("No assets found in upload")
        specs = []
        for n, part in parts:
            extension = (form.get(f"maven2.asset{n}.extension") or "").strip()
            if not extension:
                raise ValidationFailed(f"Missing required asset field 'Extension' on '{n}'")
            classifier = (form.get(f"maven2.asset{n}.classifier") or "").strip() or None
            specs.append((part, extension, classifier))
        blobs = [self._blob(part.stream) for part, _, _ in specs]
        try:
            gav = self._maven_gav(form, specs, blobs)
            paths = []
            for _, extension, classifier in specs:
                try:
                    paths.append(maven.artifact_path(*gav, classifier, extension))
                except ValueError as exc:
                    raise ValidationFailed(str(exc)) from None
            if len(set(paths)) != len(paths):
                raise ValidationFailed("The assets 1 and 2 have identical coordinates")
            for path in paths:
                self._check_version_policy(repo, path)
            self._refuse_existing(repo, paths, may_replace)
        except Exception:
            for b in blobs:
                self.store.drop_blob_if_unused(b.sha256)
            raise
        for path, blob in zip(paths, blobs):
            self._put_maven_artifact(repo, path, blob, who, may_replace)
        has_pom = any(ext == "pom" and not cls for _, ext, cls in specs)
        if not has_pom and (form.get("maven2.generate-pom") or "").strip().lower() in ("true", "on"):
            pom = maven.generate_pom(*gav, (form.get("maven2.packaging") or "").strip() or None)
            self._put_maven_artifact(repo, maven.artifact_path(*gav, None, "pom"), self.store.blobs.put_bytes(pom),
                                     who, True)
        indexes.refresh_maven_metadata(self.store, repo, gav[0], gav[1], who)

    def _maven_gav(self, form: MultiDict, specs, blobs: list[Blob]) -> tuple[str, str, str]:
        for (_, extension, classifier), blob in zip(specs, blobs):
            if extension == "pom" and not classifier:
                with self.store.blobs.open(blob.sha256) as fh:
                    data = fh.read(formats.MAX_METADATA)
                try:
                    return maven.pom_coordinates(data)
                except ValueError as exc:
                    raise ValidationFailed(str(exc)) from None
        fields = {"groupId": "Group ID", "artifactId": "Artifact ID", "version": "Version"}
        values = []
        for key, label in fields.items():
            value = (form.get(f"maven2.{key}") or "").strip()
            if not value:
                raise ValidationFailed(f"Missing required component field '{label}'")
            values.append(value)
        return values[0], values[1], values[2]

    def _check_version_policy(self, repo: RepoRecord, path: str) -> None:
        policy = (repo.config.get("maven") or {}).get("versionPolicy", "MIXED")
        coords = maven.parse_path(path)
        if coords is None or policy == "MIXED":
            return
        snap = maven.is_snapshot(coords.base_version)
        if (policy == "RELEASE" and snap) or (policy == "SNAPSHOT" and not snap):
            other = "SNAPSHOT" if policy == "RELEASE" else "RELEASE"
            raise ValidationFailed(f"Version policy mismatch, cannot upload {other} content to {policy} "
                                   f"repositories for file '{path}'")

    def _put_maven_artifact(self, repo: RepoRecord, path: str, blob: Blob, who: Who, may_replace: bool) -> None:
        coords = maven.parse_path(path)
        component = (coords.group_id, coords.artifact_id, coords.version) if coords else None
        self.store.put_asset(repo.name, path, blob, maven.content_type(path), component=component,
                             attrs=coords.attrs() if coords else {}, uploader=who.user, uploader_ip=who.ip,
                             may_replace=may_replace)
        indexes.write_maven_hashes(self.store, repo, path, blob, component, who)

    # -- PUT /repository/{repo}/{path} --------------------------------------------------------------

    def put_raw(self, repo: RepoRecord, path: str, stream: BinaryIO, length: int | None, who: Who,
                may_replace: bool, content_type: str | None = None) -> AssetRow:
        """Store one raw file; its component is the path itself, grouped by folder."""
        blob = self._blob(stream, length)
        suffix = "." + path.rsplit(".", 1)[-1] if "." in path.rsplit("/", 1)[-1] else ""
        ctype = _RAW_MIME.get(suffix) or (content_type if content_type and "/" in content_type else None)
        ident = Identity(raw_group(path), path, None, path, ctype or "application/octet-stream", {}, {})
        return self._put(repo, ident, blob, who, may_replace)

    def put(self, repo: RepoRecord, path: str, stream: BinaryIO, length: int | None, who: Who) -> None:
        """A client PUT (curl, ``mvn deploy``). Raises :class:`BadRequest` where Nexus refuses."""
        may_replace = writable(repo)
        if repo.format == "raw":
            path = normalize_raw_path(path)
            self._refuse_existing(repo, [path], may_replace)
            self.put_raw(repo, path, stream, length, who, may_replace)
        elif repo.format == "maven2":
            self._put_maven_path(repo, path.strip("/"), stream, length, who, may_replace)
        else:
            raise BadRequest(f"PUT is not supported for {repo.format} repositories")

    def _put_maven_path(self, repo: RepoRecord, path: str, stream: BinaryIO, length: int | None, who: Who,
                        may_replace: bool) -> None:
        name = path.rsplit("/", 1)[-1]
        coords = maven.parse_path(path)
        if name.startswith(maven.METADATA) or (coords and coords.hash_of):
            # Metadata and checksums are always rewritable: clients upload them after every deploy.
            blob = self._blob(stream, length)
            component = (coords.group_id, coords.artifact_id, coords.version) if coords else None
            self.store.put_asset(repo.name, path, blob, maven.content_type(path), component=component,
                                 attrs=coords.attrs() if coords else {}, uploader=who.user, uploader_ip=who.ip)
            return
        layout = (repo.config.get("maven") or {}).get("layoutPolicy", "STRICT")
        if coords is None and layout == "STRICT":
            raise BadRequest(f"Invalid maven path for a STRICT layout repository: {path}")
        self._check_version_policy(repo, path)
        self._refuse_existing(repo, [path], may_replace)
        blob = self._blob(stream, length)
        self._put_maven_artifact(repo, path, blob, who, may_replace)

    # -- twine / cargo ------------------------------------------------------------------------------

    def twine_upload(self, repo: RepoRecord, form: MultiDict, files: MultiDict, who: Who) -> None:
        """The legacy PyPI upload API (``:action=file_upload`` with a ``content`` file)."""
        if repo.format != "pypi":
            raise BadRequest(f"Not a PyPI repository: {repo.name}")
        if form.get(":action") not in (None, "file_upload"):
            raise BadRequest(f"Unsupported action {form.get(':action')!r}")
        part = files.get("content")
        if part is None:
            raise BadRequest("Missing 'content' file")
        renamed = MultiDict({"pypi.asset": part})
        self._upload_single(repo, form, renamed, who, writable(repo))

    def cargo_publish(self, repo: RepoRecord, stream: BinaryIO, who: Who) -> Identity:
        """``PUT api/v1/crates/new``: little-endian length-prefixed JSON metadata, then the ``.crate``."""
        if repo.format != "cargo":
            raise BadRequest(f"Not a Cargo repository: {repo.name}")
        may_replace = writable(repo)

        def u32() -> int:
            raw = stream.read(4)
            if len(raw) != 4:
                raise BadRequest("truncated cargo publish body")
            return struct.unpack("<I", raw)[0]

        size = u32()
        if size > formats.MAX_METADATA:
            raise BadRequest("crate metadata is too large")
        try:
            metadata = json.loads(stream.read(size))
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("crate metadata is not JSON") from None
        ident = formats.cargo_identity(metadata)
        existing = [c for c in self.store.components_named(repo.name, None, ident.name)
                    if c.version == ident.version]
        if existing and not may_replace:
            raise BadRequest(f"crate version `{ident.name}@{ident.version}` is already uploaded")
        blob = self._blob(stream, u32())
        entry = indexes.cargo_index_entry(metadata, blob.sha256)
        ident = Identity(ident.group, ident.name, ident.version, ident.path, ident.content_type,
                         {**ident.attrs, "_index": entry}, ident.metadata)
        self._put(repo, ident, blob, who, True)
        return ident
