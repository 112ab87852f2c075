"""Who a package file says it is: npm tarballs, Python distributions, NuGet, RubyGems and Cargo packages.

Each reader takes the path of the stored body (the upload is already on disk) and returns the
coordinates Nexus would file it under, plus the asset path in the repository layout. They raise
:class:`~ferry.sandbox.nexus.store.ValidationFailed` when the file is not what it claims to be.
Files are read as archives, never loaded whole into memory.
"""

from __future__ import annotations

import gzip
import json
import re
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

from ferry.sandbox.nexus.store import ValidationFailed

MAX_METADATA = 16 * 1024 * 1024  # a manifest bigger than this inside a package is refused


@dataclass(frozen=True)
class Identity:
    """Where an uploaded file goes: component coordinates, asset path (no leading ``/``), attributes."""

    group: str | None
    name: str
    version: str | None
    path: str
    content_type: str
    attrs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)  # format data for indexes (package.json, ...)


def _read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    if member.size > MAX_METADATA:
        raise ValidationFailed(f"{member.name} is too large")
    handle = archive.extractfile(member)
    if handle is None:
        raise ValidationFailed(f"{member.name} is not a file")
    return handle.read()


# -- npm ------------------------------------------------------------------------------------------

def npm_identity(blob_path: Path) -> Identity:
    """Name, scope and version from ``package/package.json`` in an npm tarball.

    Nexus files scoped packages with group = scope without ``@``; the tarball lives at
    ``@scope/name/-/name-1.0.0.tgz`` (``name/-/name-1.0.0.tgz`` unscoped).
    """
    try:
        with tarfile.open(blob_path, "r:gz") as archive:
            for member in archive:
                parts = member.name.split("/")
                if len(parts) == 2 and parts[1] == "package.json" and member.isfile():
                    manifest = json.loads(_read_member(archive, member))
                    break
            else:
                raise ValidationFailed("npm tarball has no package.json")
    except (tarfile.TarError, OSError, EOFError, json.JSONDecodeError) as exc:
        raise ValidationFailed(f"not a valid npm tarball: {exc}") from None
    full, version = manifest.get("name"), manifest.get("version")
    if not isinstance(full, str) or not isinstance(version, str) or not full or not version:
        raise ValidationFailed("package.json needs a name and a version")
    scope, name = None, full
    if full.startswith("@"):
        scope, _, name = full[1:].partition("/")
        if not scope or not name:
            raise ValidationFailed(f"invalid scoped package name {full!r}")
    return Identity(scope, name, version, npm_tarball_path(full, version), "application/x-tgz",
                    {"name": full, "version": version}, {"package.json": manifest})


def npm_tarball_path(full_name: str, version: str) -> str:
    """``@scope/pkg/-/pkg-1.0.0.tgz`` for ``@scope/pkg`` (Nexus's ``NpmContentFacet.tarballPath``)."""
    unscoped = full_name.rsplit("/", 1)[-1]
    return f"{full_name}/-/{unscoped}-{version}.tgz"


# -- PyPI -----------------------------------------------------------------------------------------

_SDIST = (".tar.gz", ".zip", ".tar.bz2", ".tgz")


def pypi_normalize(name: str) -> str:
    """PEP 503 form, as Nexus's ``PyPiPathUtils.normalizeName``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_identity(blob_path: Path, filename: str) -> Identity:
    """Name and version from a wheel's or sdist's metadata (read with pkginfo).

    Path: ``packages/{normalized name}/{version}/{filename}``.
    """
    import pkginfo

    filename = Path(filename).name
    if not filename or not (filename.endswith(".whl") or filename.endswith(_SDIST) or filename.endswith(".egg")):
        raise ValidationFailed(f"not a Python distribution file name: {filename!r}")
    # pkginfo picks its reader by file name, so give the stored body its real name through a link.
    with tempfile.TemporaryDirectory() as tmp:
        link = Path(tmp) / filename
        link.symlink_to(Path(blob_path).resolve())
        try:
            if filename.endswith(".whl"):
                dist = pkginfo.Wheel(str(link))
            elif filename.endswith(".egg"):
                dist = pkginfo.BDist(str(link))
            else:
                dist = pkginfo.SDist(str(link))
        except (ValueError, OSError, zipfile.BadZipFile, tarfile.TarError) as exc:
            raise ValidationFailed(f"cannot read Python package metadata: {exc}") from None
    if not dist.name or not dist.version:
        raise ValidationFailed("Python package metadata lacks Name or Version")
    platform = ""
    if filename.endswith(".whl"):
        platform = filename[:-4].split("-")[-1]
    ctype = "application/zip" if filename.endswith((".whl", ".zip", ".egg")) else "application/x-gzip"
    attrs = {"name": dist.name, "version": dist.version}
    if platform:
        attrs["platform"] = platform
    meta = {"summary": dist.summary, "requires_python": dist.requires_python}
    return Identity(None, dist.name, dist.version, f"packages/{pypi_normalize(dist.name)}/{dist.version}/{filename}",
                    ctype, attrs, meta)


# -- NuGet ----------------------------------------------------------------------------------------

def nuget_identity(blob_path: Path) -> Identity:
    """Id and version from the ``.nuspec`` at the root of a ``.nupkg``; path ``{id}/{version}`` [unverified]."""
    try:
        with zipfile.ZipFile(blob_path) as archive:
            specs = [i for i in archive.infolist() if "/" not in i.filename and i.filename.endswith(".nuspec")]
            if not specs:
                raise ValidationFailed("nupkg has no .nuspec at its root")
            if specs[0].file_size > MAX_METADATA:
                raise ValidationFailed("nuspec is too large")
            root = ElementTree.fromstring(archive.read(specs[0]))
    except (zipfile.BadZipFile, OSError, ElementTree.ParseError) as exc:
        raise ValidationFailed(f"not a valid nupkg: {exc}") from None
    values: dict[str, str] = {}
    for elem in root.iter():
        tag = elem.tag.rsplit("}", 1)[-1]
        if tag in ("id", "version") and tag not in values and elem.text:
            values[tag] = elem.text.strip()
    if "id" not in values or "version" not in values:
        raise ValidationFailed("nuspec needs id and version")
    return Identity(None, values["id"], values["version"], f"{values['id']}/{values['version']}",
                    "application/zip", {}, {})


# -- RubyGems -------------------------------------------------------------------------------------

_GEM_FIELD = {
    "name": re.compile(r"^name:\s*(\S+)\s*$", re.M),
    "version": re.compile(r"^version:.*?\n\s+version:\s*['\"]?([^'\"\s]+)", re.M | re.S),
    "platform": re.compile(r"^platform:\s*(\S+)\s*$", re.M),
}


def rubygems_identity(blob_path: Path) -> Identity:
    """Name, version and platform from ``metadata.gz`` (the YAML gemspec) inside a ``.gem``.

    Path: ``gems/{name}-{version}[-{platform}].gem``.
    """
    try:
        with tarfile.open(blob_path, "r:") as archive:
            member = next((m for m in archive if m.name == "metadata.gz"), None)
            if member is None:
                raise ValidationFailed("gem has no metadata.gz")
            text = gzip.decompress(_read_member(archive, member)).decode("utf-8", "replace")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise ValidationFailed(f"not a valid gem: {exc}") from None
    found = {k: (m.group(1) if (m := rx.search(text)) else None) for k, rx in _GEM_FIELD.items()}
    if not found["name"] or not found["version"]:
        raise ValidationFailed("gemspec needs name and version")
    name, version, platform = found["name"], found["version"], found["platform"] or "ruby"
    stem = f"{name}-{version}" + ("" if platform == "ruby" else f"-{platform}")
    return Identity(None, name, version, f"gems/{stem}.gem", "application/x-tar",
                    {"name": name, "version": version, "platform": platform}, {})


# -- Cargo ----------------------------------------------------------------------------------------

def cargo_crate_path(name: str, version: str) -> str:
    """Where a published crate is kept: ``crates/{name}/{version}/{name}-{version}.crate`` [unverified]."""
    return f"crates/{name}/{version}/{name}-{version}.crate"


def cargo_identity(metadata: dict[str, Any]) -> Identity:
    """Coordinates of a crate from the JSON ``cargo publish`` sends before the ``.crate`` bytes."""
    name, version = metadata.get("name"), metadata.get("vers")
    if not isinstance(name, str) or not isinstance(version, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise ValidationFailed("crate metadata needs a valid name and vers")
    return Identity(None, name, version, cargo_crate_path(name, version), "application/x-tar",
                    {"name": name, "version": version}, {"publish": metadata})


def cargo_index_path(name: str) -> str:
    """The sparse-index file of a crate (Cargo's rule: by length, lower-cased)."""
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"
