"""PyPI: each distribution file is an asset of (normalized name, version); published by legacy upload.

Metadata comes from the file itself through twine (the same code ``twine upload`` runs), and the
multipart body streams from the spool file.
"""

from __future__ import annotations

import posixpath
import tarfile
import zipfile

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, \
    parse_wheel_filename
from packaging.version import InvalidVersion, Version

from ferry.archives import check_python_distribution
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, safe_asset_name, source_item, \
    unidentified
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import SourceFile

DIST_SUFFIXES = (".whl", ".tar.gz", ".zip", ".tar.bz2", ".egg")
# What the upload takes: ferry reads a file's metadata with twine and uploads it as twine does.
UPLOADABLE = (".whl", ".tar.gz", ".zip")
# Distribution formats PyPI once took (warehouse's upload pattern) that twine cannot upload: a source lists
# them like any other file, so they are unmappable items, never passed over as if they were not files at all.
LEGACY_SUFFIXES = (".tgz", ".tar.bz2", ".bz2", ".tar.xz", ".tar", ".egg", ".exe", ".msi", ".rpm", ".deb", ".dmg")


def name_version_from_filename(filename: str) -> tuple[str, str] | None:
    """(normalized name, version) parsed from a wheel or sdist file name, or None."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return str(name), str(version)
        if filename.endswith((".tar.gz", ".zip")):
            name, version = parse_sdist_filename(filename)
            return str(name), str(version)
    except (InvalidWheelFilename, InvalidSdistFilename):
        return None
    return None


class PypiMigrator(NoPackageFacts):
    format = "pypi"
    single_asset = False

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        filename = posixpath.basename(file.path)
        if not filename.endswith(UPLOADABLE + LEGACY_SUFFIXES):
            return None  # index pages, signatures and checksum files are not items
        asset = safe_asset_name(filename)
        parsed = name_version_from_filename(filename)
        spelled = file.hints.get("pypi.name") or file.hints.get("name")
        name = spelled or (parsed[0] if parsed else "")
        version = file.hints.get("pypi.version") or file.hints.get("version") or (parsed[1] if parsed else "")
        if not name or not version or asset is None:
            return source_item(file, ("pypi", "", canonicalize_name(name or filename), version or "?",
                                      unidentified(file)),
                               unmappable=f"cannot tell the PyPI name and version of {file.path!r}")
        if not filename.endswith(UPLOADABLE):
            return source_item(file, ("pypi", "", canonicalize_name(name), version, asset),
                               unmappable=f"{filename!r} is an old distribution format: the upload ferry sends "
                                          "(twine's) takes only .whl, .tar.gz and .zip files; rebuild it as one of "
                                          "those and upload that to the source, or leave it behind")
        # source_name: the spelling the source uses, so the engine can tell two source projects that
        # normalize to one CodeArtifact name (Foo.Bar and foo-bar) apart. Only a name the source gave: one
        # parsed from the file name is already normalized, so a file of Foo.Bar that the source lists
        # without its name (Artifactory before indexing it) would pass for a second project, foo-bar.
        if not spelled:
            return source_item(file, ("pypi", "", canonicalize_name(name), version, asset))
        return source_item(file, ("pypi", "", canonicalize_name(name), version, asset), source_name=spelled)

    def extra_differs(self, key: ItemKey) -> bool:
        """For ``verify``: a distribution file the source's same version lacks makes the version differ;
        anything else (never an item, see :meth:`identify`) does not."""
        return key.asset.endswith(DIST_SUFFIXES)

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        # Imported here: twine (with the rich and rfc3986 it pulls in) takes about 0.13 s to import,
        # which every run would pay at start, publishing PyPI files or not (a rerun publishes none).
        from requests_toolbelt import MultipartEncoder
        from twine.exceptions import TwineException
        from twine.package import PackageFile
        from twine.repository import Repository

        key = item.key
        check_python_distribution(spooled.path)  # twine reads METADATA/PKG-INFO whole: bound it first
        try:
            dist = PackageFile.from_filename(str(spooled.path), None)
        except (TwineException, ValueError, OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as err:
            raise ItemError(f"cannot read the distribution's metadata: {err}") from None
        if canonicalize_name(dist.metadata["name"]) != key.package:
            raise ItemError(f"the file's metadata names {dist.metadata['name']!r}, "
                            f"but the source lists it under {key.package!r}; not publishing")
        _check_version(key.asset, str(dist.metadata["version"]), key.version)
        metadata = dist.metadata_dictionary()
        fields = Repository._convert_metadata_to_list_of_tuples(metadata)
        fields += [(":action", "file_upload"), ("protocol_version", "1")]
        with open(spooled.path, "rb") as handle:
            fields.append(("content", (key.asset, handle, "application/octet-stream")))
            encoder = MultipartEncoder(fields)
            ctx.send("POST", ctx.endpoint("pypi"), f"upload {key.asset}", data=encoder,
                     headers={"Content-Type": encoder.content_type})

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        return None


def _check_version(filename: str, metadata_version: str, listed: str) -> None:
    """Raise ItemError unless the metadata's version is the one the source lists and the file name's.

    CodeArtifact files an upload under its metadata's version: a mismatch would put it elsewhere.
    """
    if metadata_version != listed:
        raise ItemError(f"the file's metadata says version {metadata_version}, but the source lists it as "
                        f"{listed}; not publishing")
    parsed = name_version_from_filename(filename)
    try:
        same = parsed is None or Version(parsed[1]) == Version(metadata_version)
    except InvalidVersion:
        same = parsed[1] == metadata_version
    if not same:
        raise ItemError(f"the file name {filename!r} says version {parsed[1]}, but its metadata says "
                        f"{metadata_version}; not publishing")
