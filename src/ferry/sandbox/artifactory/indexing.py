"""Package indexing: the properties Artifactory sets on a deployed package file, per package type.

- npm: ``npm.name``, ``npm.version`` (and the tarball's ``package.json`` kept for the packument);
- PyPI: ``pypi.name``, ``pypi.version``, ``pypi.normalized.name`` from METADATA / PKG-INFO;
- NuGet: ``nuget.id``, ``nuget.version`` from the ``.nuspec``;
- Cargo: ``crate.name``, ``crate.version`` from ``Cargo.toml``.

Artifactory indexes PyPI files after a quiet period; the stand-in does it at once. Properties a
user deployed with are never overridden. Files that cannot be read get no properties (a broken
package deploys fine, as in Artifactory). Reading is bounded: metadata members over 5 MB are skipped.
"""

from __future__ import annotations

import json
import re
import tarfile
import tomllib
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MAX_MEMBER = 5 * 1024 * 1024


def _read_member(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes | None:
    if not member.isfile() or member.size > MAX_MEMBER:
        return None
    handle = tar.extractfile(member)
    return handle.read() if handle else None


def npm_manifest(path: Path) -> dict[str, Any] | None:
    """The ``package/package.json`` of an npm tarball, or None."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[1] == "package.json":
                    data = _read_member(tar, member)
                    return json.loads(data) if data else None
    except (tarfile.TarError, OSError, EOFError, ValueError):
        return None
    return None


def _metadata(text: bytes) -> tuple[str, str] | None:
    headers = HeaderParser().parsestr(text.decode("utf-8", "replace"))
    name, version = headers.get("Name"), headers.get("Version")
    return (name.strip(), version.strip()) if name and version else None


def pypi_metadata(path: Path, filename: str) -> tuple[str, str] | None:
    """(name, version) from a wheel's METADATA or an sdist's PKG-INFO, or None."""
    try:
        if filename.endswith((".whl", ".egg", ".zip")):
            with zipfile.ZipFile(path) as zf:
                for info in zf.infolist():
                    parts = info.filename.split("/")
                    if (len(parts) == 2 and ((parts[0].endswith(".dist-info") and parts[1] == "METADATA")
                                             or parts[1] == "PKG-INFO")) and info.file_size <= MAX_MEMBER:
                        return _metadata(zf.read(info))
        elif filename.endswith((".tar.gz", ".tgz", ".tar.bz2")):
            with tarfile.open(path, "r:*") as tar:
                for member in tar:
                    parts = member.name.lstrip("./").split("/")
                    if len(parts) == 2 and parts[1] == "PKG-INFO":
                        data = _read_member(tar, member)
                        return _metadata(data) if data else None
    except (zipfile.BadZipFile, tarfile.TarError, OSError, EOFError, ValueError):
        return None
    return None


def nuget_metadata(path: Path) -> tuple[str, str] | None:
    """(id, version) from the ``.nuspec`` at the root of a ``.nupkg``, or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                if "/" not in info.filename and info.filename.endswith(".nuspec") and info.file_size <= MAX_MEMBER:
                    root = ElementTree.fromstring(zf.read(info))
                    meta = next((el for el in root if el.tag.endswith("metadata")), None)
                    if meta is None:
                        return None
                    found = {el.tag.rpartition("}")[2]: (el.text or "").strip() for el in meta}
                    if found.get("id") and found.get("version"):
                        return found["id"], found["version"]
    except (zipfile.BadZipFile, ElementTree.ParseError, OSError, ValueError):
        return None
    return None


def crate_metadata(path: Path) -> tuple[str, str] | None:
    """(name, version) from the ``Cargo.toml`` inside a ``.crate``, or None."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in tar:
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[1] == "Cargo.toml":
                    data = _read_member(tar, member)
                    package = tomllib.loads(data.decode()).get("package", {}) if data else {}
                    if package.get("name") and isinstance(package.get("version"), str):
                        return package["name"], package["version"]
    except (tarfile.TarError, OSError, EOFError, ValueError, tomllib.TOMLDecodeError):
        return None
    return None


def _normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def index(package_type: str, filename: str, path: Path) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
    """Properties for a file deployed to a repository of ``package_type``, and the npm manifest if any."""
    if package_type == "npm" and filename.endswith(".tgz"):
        manifest = npm_manifest(path)
        if manifest and isinstance(manifest.get("name"), str) and isinstance(manifest.get("version"), str):
            return [("npm.name", manifest["name"]), ("npm.version", manifest["version"])], manifest
        return [], None
    if package_type == "pypi":
        found = pypi_metadata(path, filename)
        if found:
            return [("pypi.name", found[0]), ("pypi.version", found[1]),
                    ("pypi.normalized.name", _normalize(found[0]))], None
    if package_type == "nuget" and filename.endswith(".nupkg"):
        found = nuget_metadata(path)
        if found:
            return [("nuget.id", found[0]), ("nuget.version", found[1])], None
    if package_type == "cargo" and filename.endswith(".crate"):
        found = crate_metadata(path)
        if found:
            return [("crate.name", found[0]), ("crate.version", found[1])], None
    return [], None


__all__ = ["index", "npm_manifest", "pypi_metadata", "nuget_metadata", "crate_metadata"]
