"""Maven 2 layout rules: coordinates of a repository path, checksum subordinates, generated files.

A path ``com/ex/app/1.0/app-1.0-sources.jar`` is group ``com.ex``, artifact ``app``, version ``1.0``,
classifier ``sources``, extension ``jar``. Snapshot files carry a timestamped version
(``app-1.0-20240102.030405-1.jar`` under ``1.0-SNAPSHOT/``); the component's version is that
timestamped one and ``baseVersion`` is ``1.0-SNAPSHOT``. Hash files (``.sha1 .md5 .sha256 .sha512``)
are subordinates of the file they hash and belong to the same component.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from xml.etree import ElementTree
from xml.sax.saxutils import escape

HASH_SUFFIXES = ("sha1", "md5", "sha256", "sha512")
METADATA = "maven-metadata.xml"
_TIMESTAMP = re.compile(r"^(\d{8}\.\d{6}-\d+)")
_SEGMENT = re.compile(r"^[A-Za-z0-9_.+-]+$")

CONTENT_TYPES = {
    "jar": "application/java-archive", "war": "application/java-archive", "ear": "application/java-archive",
    "pom": "application/xml", "xml": "application/xml", "zip": "application/zip",
    "tar.gz": "application/x-gzip", "asc": "text/plain", "module": "application/json",
}


@dataclass(frozen=True)
class MavenCoords:
    group_id: str
    artifact_id: str
    base_version: str
    version: str
    classifier: str | None
    extension: str  # includes a hash suffix for subordinates, e.g. "jar.sha1"
    hash_of: str | None = None  # path of the file a hash subordinate hashes

    def attrs(self) -> dict[str, str | None]:
        """The asset attributes Nexus exposes for maven2 assets."""
        out = {"groupId": self.group_id, "artifactId": self.artifact_id, "version": self.version,
               "extension": self.extension}
        if self.classifier:
            out["classifier"] = self.classifier
        return out


def is_snapshot(version: str) -> bool:
    return version.endswith("-SNAPSHOT") or bool(re.search(r"-\d{8}\.\d{6}-\d+$", version))


def base_version(version: str) -> str:
    """``1.0-SNAPSHOT`` for a timestamped ``1.0-20240102.030405-1``; other versions unchanged."""
    m = re.match(r"^(.*-)\d{8}\.\d{6}-\d+$", version)
    return m.group(1) + "SNAPSHOT" if m else version


def content_type(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(tuple("." + h for h in HASH_SUFFIXES)):
        return "text/plain"
    for ext in sorted(CONTENT_TYPES, key=len, reverse=True):
        if name.endswith("." + ext):
            return CONTENT_TYPES[ext]
    return "application/octet-stream"


def parse_path(path: str) -> MavenCoords | None:
    """Coordinates of an artifact path (no leading ``/``), or ``None`` for metadata and odd paths."""
    parts = path.split("/")
    if len(parts) < 4 or not all(parts) or parts[-1].startswith(METADATA):
        return None
    *group, artifact, base_version, filename = parts
    hash_of = None
    for suffix in HASH_SUFFIXES:
        if filename.endswith("." + suffix):
            hash_of = path[: -len(suffix) - 1]
            break
    prefix = artifact + "-"
    if not filename.startswith(prefix):
        return None
    rest = filename[len(prefix):]
    if rest.startswith(base_version):
        version = base_version
    elif base_version.endswith("-SNAPSHOT") and rest.startswith(base_version[: -len("SNAPSHOT")]):
        stamp = _TIMESTAMP.match(rest[len(base_version) - len("SNAPSHOT"):])
        if not stamp:
            return None
        version = base_version[: -len("SNAPSHOT")] + stamp.group(1)
    else:
        return None
    tail = rest[len(version):]
    classifier = None
    if tail.startswith("-"):
        classifier, dot, extension = tail[1:].partition(".")
        if not dot or not classifier:
            return None
    elif tail.startswith("."):
        extension = tail[1:]
    else:
        return None
    if not extension:
        return None
    return MavenCoords(".".join(group), artifact, base_version, version, classifier, extension, hash_of)


def artifact_path(group_id: str, artifact_id: str, version: str, classifier: str | None, extension: str) -> str:
    """``g/r/o/u/p/artifact/version/artifact-version[-classifier].ext``; raises ``ValueError`` on bad parts."""
    for part in (group_id, artifact_id, version, extension) + ((classifier,) if classifier else ()):
        if not part or not _SEGMENT.match(part) or ".." in part:
            raise ValueError(f"invalid maven coordinate part {part!r}")
    stem = f"{artifact_id}-{version}" + (f"-{classifier}" if classifier else "")
    return f"{group_id.replace('.', '/')}/{artifact_id}/{version}/{stem}.{extension}"


def pom_coordinates(pom: bytes) -> tuple[str, str, str]:
    """``(groupId, artifactId, version)`` of a POM (group/version may come from ``<parent>``).

    Raises ``ValueError`` when the POM is not XML or the coordinates are missing or unresolved.
    """
    try:
        root = ElementTree.fromstring(pom)
    except ElementTree.ParseError as exc:
        raise ValueError(f"The provided POM file is invalid. {exc}") from None

    def child(elem, tag):
        for c in elem:
            if c.tag.rsplit("}", 1)[-1] == tag:
                return c
        return None

    def text(elem, tag):
        c = child(elem, tag) if elem is not None else None
        return c.text.strip() if c is not None and c.text else None

    parent = child(root, "parent")
    group = text(root, "groupId") or text(parent, "groupId")
    artifact = text(root, "artifactId")
    version = text(root, "version") or text(parent, "version")
    if not group or not artifact or not version or any(v.startswith("${") for v in (group, artifact, version)):
        raise ValueError("The provided POM file is invalid.  Could not retrieve valid G:A:V parameters "
                         f"({group}:{artifact}:{version})")
    return group, artifact, version


def generate_pom(group_id: str, artifact_id: str, version: str, packaging: str | None) -> bytes:
    """A minimal POM for ``maven2.generate-pom``."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<project xmlns="http://maven.apache.org/POM/4.0.0" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
             'xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">',
             "  <modelVersion>4.0.0</modelVersion>",
             f"  <groupId>{escape(group_id)}</groupId>",
             f"  <artifactId>{escape(artifact_id)}</artifactId>",
             f"  <version>{escape(version)}</version>"]
    if packaging:
        lines.append(f"  <packaging>{escape(packaging)}</packaging>")
    lines.append("</project>")
    return ("\n".join(lines) + "\n").encode()


def _version_key(version: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", version)]


def artifact_metadata(group_id: str, artifact_id: str, versions: list[str]) -> bytes:
    """``{group}/{artifact}/maven-metadata.xml`` listing ``versions`` (sorted, latest/release set)."""
    ordered = sorted(set(versions), key=_version_key)
    releases = [v for v in ordered if not is_snapshot(v)]
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>",
             f"  <groupId>{escape(group_id)}</groupId>", f"  <artifactId>{escape(artifact_id)}</artifactId>",
             "  <versioning>"]
    if ordered:
        lines.append(f"    <latest>{escape(ordered[-1])}</latest>")
    if releases:
        lines.append(f"    <release>{escape(releases[-1])}</release>")
    lines.append("    <versions>")
    lines += [f"      <version>{escape(v)}</version>" for v in ordered]
    lines += ["    </versions>", f"    <lastUpdated>{time.strftime('%Y%m%d%H%M%S', time.gmtime())}</lastUpdated>",
              "  </versioning>", "</metadata>"]
    return ("\n".join(lines) + "\n").encode()
