"""Swift registry rules the endpoint checks: scope, name and SemVer 2.0.0 version syntax, precedence,
and the manifests inside a source archive (as ``swift package archive-source`` makes it: the package
folder at the top of the zip, ``Package.swift`` in it)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

# Registry.md 3.6.1 / 3.6.2 (both case-insensitive).
_SCOPE = re.compile(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9]|-(?=[a-zA-Z0-9])){0,38}\Z")
_NAME = re.compile(r"\A[a-zA-Z0-9](?:[a-zA-Z0-9]|[-_](?=[a-zA-Z0-9])){0,99}\Z")
# semver.org's recommended regular expression for SemVer 2.0.0.
_SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
_MANIFEST = re.compile(r"\APackage(?:@swift-(\d+)(?:\.(\d+))?(?:\.(\d+))?)?\.swift\Z")
_TOOLS = re.compile(r"^//\s*swift-tools-version\s*:\s*([0-9][0-9.]*)", re.I)
MAX_MANIFEST = 4 * 1024 ** 2


class BadArchive(ValueError):
    """The source archive is not a usable zip (the message says why)."""


def valid_scope(scope: str) -> bool:
    return bool(_SCOPE.match(scope))


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def valid_version(version: str) -> bool:
    """True for a SemVer 2.0.0 version (what CodeArtifact requires of Swift releases)."""
    return bool(_SEMVER.match(version))


def semver_key(version: str) -> tuple:
    """SemVer 2.0.0 precedence (build metadata ignored); unparsable versions sort lowest."""
    m = _SEMVER.match(version)
    if not m:
        return ((-1, -1, -1), 0, ())
    numbers = tuple(int(g) for g in m.groups()[:3])
    if not m.group(4):
        return (numbers, 1, ())
    return (numbers, 0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in m.group(4).split(".")))


def manifest_names(path: Path) -> dict[str, str]:
    """Manifest file name (``Package.swift``, ``Package@swift-5.9.swift``...) → zip member, for the
    manifests at the package root (the zip's root, or its single top folder). Raises :class:`BadArchive`."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [i.filename for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, OSError, EOFError) as err:
        raise BadArchive(f"the source archive is not a valid zip: {err}") from None
    tops = {n.split("/", 1)[0] for n in names if "/" in n}
    prefix = f"{tops.pop()}/" if len(tops) == 1 and all("/" in n for n in names) else ""
    found = {}
    for member in names:
        rest = member[len(prefix):] if member.startswith(prefix) else None
        if rest and "/" not in rest and _MANIFEST.match(rest):
            found[rest] = member
    return found


def read_member(path: Path, member: str) -> bytes:
    """The bytes of one (small) member of the archive. Raises :class:`BadArchive`."""
    try:
        with zipfile.ZipFile(path) as archive:
            info = archive.getinfo(member)
            if info.file_size > MAX_MANIFEST:
                raise BadArchive(f"{member} is too large")
            return archive.read(info)
    except (zipfile.BadZipFile, OSError, EOFError, KeyError) as err:
        raise BadArchive(f"cannot read {member}: {err}") from None


def tools_version(manifest: bytes) -> str | None:
    """The ``// swift-tools-version:X.Y`` a manifest starts with, or None."""
    first = manifest.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
    m = _TOOLS.match(first)
    return m.group(1) if m else None
