"""What the NuGet endpoint knows of package files: versions, ids and the ``.nuspec`` inside a ``.nupkg``.

Version rules follow NuGet's documented normalization (learn.microsoft.com/nuget/concepts/package-versioning,
"Normalized version numbers"), which CodeArtifact applies too (nuget-name-normalization): leading
zeros go (``1.01.1`` → ``1.1.1``), a zero fourth part goes (``1.0.0.0`` → ``1.0.0``), build metadata
goes (``1.0.7+r3456`` → ``1.0.7``). Like NuGet's own ``ToNormalizedString`` the result always has
at least three parts (``1.0`` → ``1.0.0``); CodeArtifact's page writes ``1.00`` "is treated as
``1.0``", which reads as the leading-zero rule alone [U]. Release labels keep their case; NuGet
compares them case-insensitively.

This is the stand-in's own implementation, kept apart from ferry's migrator on purpose: tests check
both against the documented examples, so a slip in one is not hidden by the other.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

MAX_NUSPEC = 4 * 1024 ** 2
_VERSION = re.compile(
    r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
# NuGet's PackageIdValidator: word characters separated by single dots, dashes or underscores; 100 max.
_ID = re.compile(r"^\w+(?:[_.-]\w+)*$")
MAX_ID = 100


@dataclass(frozen=True)
class NuGetVersion:
    """A parsed version: ``normalized`` (no build metadata) and whether it needs SemVer 2.0.0 clients."""

    normalized: str
    numbers: tuple[int, int, int, int]
    release: str
    semver2: bool

    @property
    def lower(self) -> str:
        return self.normalized.lower()

    def sort_key(self) -> tuple:
        """Precedence as NuGet orders versions: numbers, then no label above any label, labels by
        identifier (numeric below alphanumeric, numbers by value, text case-insensitively)."""
        if not self.release:
            return (self.numbers, 1, ())
        idents = tuple((0, int(p), "") if p.isdigit() else (1, 0, p.lower()) for p in self.release.split("."))
        return (self.numbers, 0, idents)


def parse_version(text: str) -> NuGetVersion | None:
    """The :class:`NuGetVersion` of ``text``, or None if NuGet would not accept it."""
    m = _VERSION.match((text or "").strip())
    if not m:
        return None
    major, minor, patch, revision = (int(g) if g else 0 for g in m.groups()[:4])
    release, metadata = m.group(5) or "", m.group(6)
    text = f"{major}.{minor}.{patch}" + (f".{revision}" if revision else "") + (f"-{release}" if release else "")
    return NuGetVersion(text, (major, minor, patch, revision), release, "." in release or metadata is not None)


def valid_id(package_id: str) -> bool:
    """True if ``package_id`` is a valid NuGet package id."""
    return 0 < len(package_id) <= MAX_ID and bool(_ID.match(package_id))


class BadPackage(ValueError):
    """The file is not a usable ``.nupkg`` (the message says why)."""


@dataclass(frozen=True)
class Nuspec:
    """The parts of a ``.nuspec`` the endpoints use."""

    id: str
    version: str
    fields: dict[str, Any]  # nuspec metadata by element name (authors, description, ...)
    dependency_groups: list[dict[str, Any]]
    package_types: tuple[str, ...]
    filename: str  # the .nuspec's name in the package


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _nuspec_member(archive: zipfile.ZipFile) -> zipfile.ZipInfo:
    specs = [i for i in archive.infolist() if "/" not in i.filename and i.filename.lower().endswith(".nuspec")]
    if len(specs) != 1:
        raise BadPackage("a .nupkg must have exactly one .nuspec at its root")
    if specs[0].file_size > MAX_NUSPEC:
        raise BadPackage("the .nuspec is too large")
    return specs[0]


def nuspec_bytes(path: Path) -> tuple[str, bytes]:
    """(member name, bytes) of the ``.nuspec`` in the package at ``path``. Raises :class:`BadPackage`."""
    try:
        with zipfile.ZipFile(path) as archive:
            member = _nuspec_member(archive)
            return member.filename, archive.read(member)
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise BadPackage(f"not a valid .nupkg (zip): {err}") from None


def read_nuspec(path: Path) -> Nuspec:
    """The :class:`Nuspec` of the package at ``path``. Raises :class:`BadPackage`."""
    filename, data = nuspec_bytes(path)
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as err:
        raise BadPackage(f"the .nuspec is not well-formed XML: {err}") from None
    metadata = next((e for e in root if _local(e.tag) == "metadata"), None)
    if _local(root.tag) != "package" or metadata is None:
        raise BadPackage("the .nuspec has no <package><metadata>")
    fields: dict[str, Any] = {}
    groups: list[dict[str, Any]] = []
    types: list[str] = []
    for elem in metadata:
        tag = _local(elem.tag)
        if tag == "dependencies":
            groups = _dependency_groups(elem)
        elif tag == "packageTypes":
            types = [t.get("name", "") for t in elem if _local(t.tag) == "packageType"]
        elif tag == "license":
            fields["license"] = (elem.get("type", ""), (elem.text or "").strip())
        elif tag == "repository":
            fields["repository"] = elem.get("url", "")
        elif len(elem) == 0:
            fields[tag] = (elem.text or "").strip()
    package_id, version = fields.get("id", ""), fields.get("version", "")
    if not package_id or not version:
        raise BadPackage("the .nuspec needs <id> and <version>")
    return Nuspec(package_id, version, fields, groups, tuple(types), filename)


def _dependency_groups(elem: ElementTree.Element) -> list[dict[str, Any]]:
    def dep(e: ElementTree.Element) -> dict[str, Any]:
        return {"id": e.get("id", ""), "range": e.get("version", "")}

    loose = [dep(e) for e in elem if _local(e.tag) == "dependency"]
    groups = [{"dependencies": loose}] if loose else []
    for group in (e for e in elem if _local(e.tag) == "group"):
        entry: dict[str, Any] = {"dependencies": [dep(e) for e in group if _local(e.tag) == "dependency"]}
        if group.get("targetFramework"):
            entry["targetFramework"] = group.get("targetFramework")
        groups.append(entry)
    return groups


def catalog_fields(spec: Nuspec) -> dict[str, Any]:
    """Registration ``catalogEntry`` properties taken from the nuspec (Microsoft's documented names)."""
    f = spec.fields
    out: dict[str, Any] = {}
    for key in ("authors", "description", "iconUrl", "language", "licenseUrl", "minClientVersion", "projectUrl",
                "summary", "title"):
        if f.get(key):
            out[key] = f[key]
    license_type, license_text = f.get("license") or ("", "")
    if license_type == "expression" and license_text:
        out["licenseExpression"] = license_text
    if f.get("tags"):
        out["tags"] = f["tags"].split()
    out["requireLicenseAcceptance"] = f.get("requireLicenseAcceptance", "").lower() == "true"
    if spec.dependency_groups:
        out["dependencyGroups"] = spec.dependency_groups
    return out


def version_metadata(spec: Nuspec, version: NuGetVersion) -> dict[str, Any]:
    """What the store keeps with a version: the catalog fields plus DescribePackageVersion's names."""
    catalog = catalog_fields(spec)
    meta: dict[str, Any] = {"nuget": {"catalog": catalog, "semver2": version.semver2, "version": spec.version}}
    summary = spec.fields.get("summary") or spec.fields.get("description")
    if summary:
        meta["summary"] = summary
    if spec.fields.get("projectUrl"):
        meta["homePage"] = spec.fields["projectUrl"]
    if catalog.get("licenseExpression") or spec.fields.get("licenseUrl"):
        lic = {k: v for k, v in (("name", catalog.get("licenseExpression")), ("url", spec.fields.get("licenseUrl")))
               if v}
        meta["licenses"] = [lic]
    if spec.fields.get("repository"):
        meta["sourceCodeRepository"] = spec.fields["repository"]
    return meta
