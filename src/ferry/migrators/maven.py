"""Maven: every file of a version folder ``g/r/o/u/p/{artifactId}/{version}/`` is one asset of package
``artifactId`` in namespace ``groupId`` (CodeArtifact does not normalize either); published the way
``mvn deploy`` does it.

Per asset: one ``PUT`` of the file. A new version stays ``Unfinished`` until ``maven-metadata.xml``
lists it, so :meth:`MavenMigrator.finish_version` uploads the artifact's metadata last (the versions
the target served when the run first finished one of the artifact's versions, those the run has
finished since, and this one: the target's metadata is read once per artifact, not per version) and
then asks DescribePackageVersion whether the version really became ``Published``; one still
``Unfinished`` is reported as a failed item, never left so silently.

Why no checksum files (``mvn deploy`` sends ``.sha1`` and ``.md5`` after each file): every
package-endpoint write takes a slot of the publish quota (10/s, :mod:`ferry.ratelimit`), and they
would buy nothing: CodeArtifact only checks them (it serves every checksum file from the hashes it
computes itself), and the engine confirms each asset's SHA-256 through ListPackageVersionAssets
before the metadata is uploaded, so a bad upload never gets its version published. Uploading three
checksums and the metadata's two took 4.7 publish slots per asset in bench/maven_migrate.py; one
``.sha256`` took 2.3; none takes 1 plus the metadata.

Checksum files and ``maven-metadata.xml`` in the source are not items (CodeArtifact derives both);
the source's checksums are still checked, by the transfer, against the downloaded bytes. Nor is the
search index a Maven indexer keeps in the repository (``.index/``).

SNAPSHOT versions follow the mapping's ``snapshots`` setting (``[[repositories]] snapshots``, else
``[options] snapshots`` / ``--snapshots``). ``skip`` (the default) reports every SNAPSHOT file as
*skipped*: counted per repository in audit and migrate reports, never a failure. ``timestamped``
publishes them as ``mvn deploy`` does: the timestamped files (``app-1.0-20240101.120000-3.jar``) go
into version ``1.0-SNAPSHOT``, then the version-level ``1.0-SNAPSHOT/maven-metadata.xml`` (snapshot
timestamp and build number, one ``snapshotVersion`` per classifier and extension), then the
artifact's metadata. Only the newest build of each SNAPSHOT is published; older builds the source
still holds are reported as skipped, except an older file of a classifier and extension the newest build
lacks, which the source resolves the SNAPSHOT's file of that kind to: that one is unmappable
(:func:`stranded_reason`), as the target will not serve it. Why: CodeArtifact serves a SNAPSHOT as its newest build, and
every publish of a new build turns the previous one into a separate ``Unlisted`` version (user guide,
"Use Maven snapshots"); replaying a source's history build by build would need the builds published in
order, one version at a time, and each rerun would look different from what the target then lists,
so it could never come out "same". What a Maven client resolves for ``1.0-SNAPSHOT`` is what moves.
Choosing the newest build needs the whole listing: :meth:`MavenMigrator.screen` holds back the files of
the newest build seen so far of each SNAPSHOT (older ones pass on as skipped at once) and releases
them when the listing ends. Non-unique snapshot files (``app-1.0-SNAPSHOT.jar``, Maven 2 style) are
unmappable under ``timestamped``: CodeArtifact only takes timestamped snapshots.
"""

from __future__ import annotations

import posixpath
import re
import threading
import time
from dataclasses import dataclass, replace
from typing import Iterable, Iterator
from urllib.parse import quote
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, safe_asset_name, source_item
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import SourceFile

FORMAT = "maven"
METADATA = "maven-metadata.xml"
CHECKSUM_SUFFIXES = (".md5", ".sha1", ".sha256", ".sha512")
# The repository's search index, which Artifactory's and Nexus' Maven indexers write into the repository
# (``.index/nexus-maven-repository-index.gz`` and its chunks): derived from the repository, part of no
# artifact, and with no place in CodeArtifact (which keeps no such index).
INDEX_FOLDER = ".index/"
SNAPSHOT_REASON = "SNAPSHOT version (snapshots = \"skip\"; --snapshots timestamped publishes its newest build)"
OLDER_BUILD_REASON = ("older build of a SNAPSHOT (CodeArtifact serves a SNAPSHOT as its newest build, "
                      "which is the one migrated)")


def stranded_reason(classifier: str, extension: str, newest_build: str) -> str:
    """Why the newest older file of a SNAPSHOT's ``classifier`` and ``extension`` is not migrated when the newest
    build (``newest_build``, ``20240103.040506-2``) has none: the source resolves the SNAPSHOT's file of that kind
    to it (its metadata names the newest file per classifier and extension, as a per-platform deploy leaves it),
    but CodeArtifact serves a SNAPSHOT as its newest build alone, so from the target it would not resolve."""
    what = f"{classifier} {extension}" if classifier else extension
    return (f"the source resolves the SNAPSHOT's {what} to this build, but its newest build ({newest_build}) has "
            "none, and CodeArtifact serves a SNAPSHOT as its newest build alone: it would not resolve from the "
            "target; deploy the SNAPSHOT again with all its files in one build, or leave it out with --snapshots skip")


NON_UNIQUE_REASON = ("non-unique SNAPSHOT file (no timestamp-buildNumber in its name); CodeArtifact takes only "
                     "timestamped snapshots: redeploy it with Maven 3 or leave it out with --snapshots skip")
# DescribePackageVersion reads after the metadata upload before calling a version stuck (docs: retry reads).
STATUS_CHECKS = 3
STATUS_DELAY = 0.5
_LOCKS = tuple(threading.Lock() for _ in range(64))
_TIMESTAMPED = re.compile(r"-\d{8}\.\d{6}-\d+$")
_BUILD = re.compile(r"(\d{8}\.\d{6})-(\d+)(?=[.-])")
_SEGMENT = re.compile(r"^(?!\.{1,2}$)[A-Za-z0-9_.+~-]{1,255}$")


@dataclass(frozen=True)
class Coordinates:
    """Where a file sits in a Maven repository: ``group``, ``artifact``, ``version`` (the folder's,
    so ``1.0-SNAPSHOT`` for a timestamped snapshot file) and ``filename``."""

    group: str
    artifact: str
    version: str
    filename: str


def is_snapshot(version: str) -> bool:
    """True for ``1.0-SNAPSHOT`` and for a timestamped snapshot build ``1.0-20240102.030405-1``."""
    return version.endswith("-SNAPSHOT") or bool(_TIMESTAMPED.search(version))


def base_version(version: str) -> str:
    """``1.0-SNAPSHOT`` for a timestamped ``1.0-20240102.030405-1``; any other version unchanged."""
    return _TIMESTAMPED.sub("-SNAPSHOT", version)


def parse_m2_path(path: str) -> Coordinates | None:
    """The coordinates of an artifact file in the standard layout, or None if ``path`` is not one.

    ``com/ex/app/1.0/app-1.0-sources.jar`` → (``com.ex``, ``app``, ``1.0``, ``app-1.0-sources.jar``).
    The file name must be ``{artifact}-{version}`` (for snapshots, the timestamped version) followed
    by ``.`` or ``-``.
    """
    parts = path.strip("/").split("/")
    if len(parts) < 4 or not all(_SEGMENT.match(p) for p in parts[:-1]):
        return None
    *group, artifact, version, filename = parts
    if not filename.startswith(f"{artifact}-"):
        return None
    rest = filename[len(artifact) + 1:]
    stems = [version]
    if version.endswith("-SNAPSHOT"):
        m = re.match(re.escape(version[: -len("SNAPSHOT")]) + r"\d{8}\.\d{6}-\d+", rest)
        if m:
            stems.insert(0, m.group(0))
    for stem in stems:
        if rest.startswith(stem) and rest[len(stem):len(stem) + 1] in (".", "-") and len(rest) > len(stem) + 1:
            return Coordinates(".".join(group), artifact, version, filename)
    return None


@dataclass(frozen=True)
class SnapshotFile:
    """What a timestamped snapshot file name says: ``app-1.0-20240101.120000-3-sources.jar`` is build
    ``(20240101.120000, 3)`` of ``1.0-SNAPSHOT``, classifier ``sources``, extension ``jar``."""

    timestamp: str
    build_number: int
    classifier: str
    extension: str

    @property
    def build(self) -> tuple[str, int]:
        """Sorts builds oldest first."""
        return (self.timestamp, self.build_number)

    def value(self, version: str) -> str:
        """The timestamped version: ``1.0-20240101.120000-3`` for ``1.0-SNAPSHOT``."""
        return f"{version[: -len('SNAPSHOT')]}{self.timestamp}-{self.build_number}"


def snapshot_file(artifact: str, version: str, filename: str) -> SnapshotFile | None:
    """Parse a file name of SNAPSHOT ``version`` (``1.0-SNAPSHOT``); None if it carries no timestamped build."""
    stem = f"{artifact}-{version[: -len('SNAPSHOT')]}"
    if not version.endswith("-SNAPSHOT") or not filename.startswith(stem):
        return None
    found = _BUILD.match(filename, len(stem))
    if found is None:
        return None
    tail = filename[found.end():]
    classifier, extension = "", tail[1:]
    if tail.startswith("-"):
        classifier, _, extension = tail[1:].partition(".")
    if not extension or (tail.startswith("-") and not classifier):
        return None
    return SnapshotFile(found.group(1), int(found.group(2)), classifier, extension)


def render_snapshot_metadata(group: str, artifact: str, version: str, filenames: Iterable[str]) -> bytes | None:
    """The version-level ``maven-metadata.xml`` ``mvn deploy`` writes for SNAPSHOT ``version``: the newest
    build's timestamp and build number, and per classifier and extension the newest file's timestamped
    version. None when no name is a timestamped file of ``version``."""
    newest: dict[tuple[str, str], SnapshotFile] = {}
    for name in filenames:
        parsed = snapshot_file(artifact, version, name)
        if parsed is None:
            continue
        slot = (parsed.classifier, parsed.extension)
        if slot not in newest or parsed.build > newest[slot].build:
            newest[slot] = parsed
    if not newest:
        return None
    last = max(newest.values(), key=lambda f: f.build)
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<metadata modelVersion="1.1.0">',
             f"  <groupId>{escape(group)}</groupId>", f"  <artifactId>{escape(artifact)}</artifactId>",
             f"  <version>{escape(version)}</version>", "  <versioning>", "    <snapshot>",
             f"      <timestamp>{last.timestamp}</timestamp>", f"      <buildNumber>{last.build_number}</buildNumber>",
             "    </snapshot>", f"    <lastUpdated>{last.timestamp.replace('.', '')}</lastUpdated>",
             "    <snapshotVersions>"]
    for (classifier, extension), parsed in sorted(newest.items()):
        lines.append("      <snapshotVersion>")
        if classifier:
            lines.append(f"        <classifier>{escape(classifier)}</classifier>")
        lines += [f"        <extension>{escape(extension)}</extension>",
                  f"        <value>{escape(parsed.value(version))}</value>",
                  f"        <updated>{parsed.timestamp.replace('.', '')}</updated>", "      </snapshotVersion>"]
    lines += ["    </snapshotVersions>", "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


def file_url(endpoint: str, key: ItemKey, name: str | None = None) -> str:
    """``{endpoint}{group/path}/{artifactId}/{version}/{name or asset}``."""
    return f"{endpoint}{_artifact_folder(key)}/{quote(key.version)}/{quote(name or key.asset)}"


def metadata_url(endpoint: str, key: ItemKey) -> str:
    """The artifact-level ``maven-metadata.xml`` of ``key``'s package."""
    return f"{endpoint}{_artifact_folder(key)}/{METADATA}"


def _artifact_folder(key: ItemKey) -> str:
    return "/".join(quote(p) for p in key.namespace.split(".")) + "/" + quote(key.package)


def listed_versions(document: bytes) -> list[str]:
    """The ``versioning/versions/version`` entries of an artifact's metadata, in document order
    (``[]`` if it is not readable XML: CodeArtifact publishes what a metadata upload lists, and
    unpublishes nothing it leaves out, so starting afresh loses nothing)."""
    try:
        root = ElementTree.fromstring(document)
    except ElementTree.ParseError:
        return []
    local = lambda tag: tag.rsplit("}", 1)[-1]  # noqa: E731 - namespaced or not
    return [v.text.strip() for versions in root.iter() if local(versions.tag) == "versions"
            for v in versions if local(v.tag) == "version" and v.text and v.text.strip()]


def render_metadata(group: str, artifact: str, versions: Iterable[str], newest: str) -> bytes:
    """An artifact-level ``maven-metadata.xml`` as ``mvn deploy`` writes it after deploying ``newest``:
    the versions in the given order with ``newest`` appended if absent, and ``latest``/``release``
    naming ``newest``."""
    ordered = list(dict.fromkeys([*versions, newest]))
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', "<metadata>",
             f"  <groupId>{escape(group)}</groupId>", f"  <artifactId>{escape(artifact)}</artifactId>",
             "  <versioning>", f"    <latest>{escape(newest)}</latest>"]
    if not is_snapshot(newest):
        lines.append(f"    <release>{escape(newest)}</release>")
    lines += ["    <versions>", *(f"      <version>{escape(v)}</version>" for v in ordered), "    </versions>",
              f"    <lastUpdated>{time.strftime('%Y%m%d%H%M%S', time.gmtime())}</lastUpdated>",
              "  </versioning>", "</metadata>", ""]
    return "\n".join(lines).encode()


class MavenMigrator(NoPackageFacts):
    format = FORMAT
    single_asset = False
    # A new version is Unfinished, hidden from Maven clients, until finish_version has uploaded its metadata.
    finishes_versions = True

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        """The item ``file`` is; None for checksum and metadata files and the repository's index (``.index/``);
        unmappable for files whose coordinates can't be told or disagree between hints and path. A SNAPSHOT
        file (keyed under its ``X-SNAPSHOT`` version) is skipped unless the mapping's snapshots setting is
        ``timestamped``; then it is an item carrying its build in ``extras["snapshot_build"]``
        (unmappable if its name has no timestamped build)."""
        filename = posixpath.basename(file.path)
        if filename.endswith(CHECKSUM_SUFFIXES) or filename.startswith(METADATA) or \
                file.path.lstrip("/").startswith(INDEX_FOLDER):
            return None
        hints = file.hints
        parsed = parse_m2_path(file.path)
        group = hints.get("groupId") or hints.get("group") or (parsed.group if parsed else "")
        artifact = hints.get("artifactId") or hints.get("name") or (parsed.artifact if parsed else "")
        version = hints.get("baseVersion") or hints.get("version") or (parsed.version if parsed else "")
        version = base_version(version)

        def unmappable(reason: str, asset: str = filename) -> SourceItem:
            return source_item(file, (FORMAT, group or "?", artifact or "?", version or "?", asset or "?"),
                               unmappable=reason)

        if not group or not artifact or not version:
            # Keyed by the whole path: stray files of one name in several folders (README.md) are several items.
            return unmappable(f"{file.path!r} is not in the Maven repository layout "
                              "(group/artifact/version/artifact-version.ext) and the source gives no coordinates",
                              asset=file.path)
        if parsed is not None and (parsed.group, parsed.artifact, parsed.version) != (group, artifact, version):
            return unmappable(f"the source lists {file.path!r} as {group}:{artifact}:{version}, "
                              f"but its path says {parsed.group}:{parsed.artifact}:{parsed.version}")
        snapshot = None
        if is_snapshot(version):
            if mapping.effective_snapshots != "timestamped":
                return replace(source_item(file, (FORMAT, group, artifact, version, filename)),
                               skipped=SNAPSHOT_REASON)
            snapshot = snapshot_file(artifact, version, filename)
            if snapshot is None:
                return unmappable(NON_UNIQUE_REASON)
        bad = [p for p in (*group.split("."), artifact, version) if not _SEGMENT.match(p)]
        if bad or safe_asset_name(filename) is None:
            return unmappable(f"{file.path!r} has a coordinate CodeArtifact can't take: {(bad or [filename])[0]!r}")
        if snapshot is not None:
            return source_item(file, (FORMAT, group, artifact, version, filename), snapshot_build=snapshot.build)
        return source_item(file, (FORMAT, group, artifact, version, filename))

    def extra_differs(self, key: ItemKey) -> bool:
        """For ``verify``: whether target asset ``key``, absent from the source's same version, makes that
        version differ. Not for checksum and metadata files (never items: the target derives them) nor
        in a SNAPSHOT version, whose files depend on which builds reached the target (CodeArtifact moves
        older builds to versions of their own, the stand-in keeps them) and which the source cleaned up."""
        return not (key.asset.endswith(CHECKSUM_SUFFIXES) or key.asset.startswith(METADATA)
                    or is_snapshot(key.version))

    def screen(self, items: Iterable[SourceItem]) -> Iterator[SourceItem]:
        """``items`` with every SNAPSHOT build but the newest of its version turned into skipped items, except
        the files of a classifier and extension the newest build lacks (see :func:`stranded_reason`): the
        newest older file of each such is unmappable, since the source resolves the SNAPSHOT's file to it and
        the target will not.

        Files of the newest build seen so far are held back and yielded when ``items`` ends, and so is the
        newest older file of each classifier and extension (a newer one releases it as skipped at once);
        every other item passes straight through. Memory: per SNAPSHOT version in the listing, the newest
        build's files and one older file per classifier and extension.
        """
        newest: dict[tuple[str, tuple[str, str, str, str]], tuple[tuple[str, int], list[SourceItem]]] = {}
        # version -> (classifier, extension) -> (build, item): the newest file of each slot outside the newest build
        older: dict[tuple[str, tuple[str, str, str, str]], dict[tuple[str, str], tuple[tuple[str, int], SourceItem]]] \
            = {}

        def set_aside(version: tuple, build: tuple[str, int], item: SourceItem) -> Iterator[SourceItem]:
            parsed = snapshot_file(item.key.package, item.key.version, item.key.asset)
            slot = (parsed.classifier, parsed.extension) if parsed else ("", item.key.asset)
            slots = older.setdefault(version, {})
            held = slots.get(slot)
            if held is not None and held[0] >= build:
                yield replace(item, skipped=OLDER_BUILD_REASON)
                return
            slots[slot] = (build, item)
            if held is not None:
                yield replace(held[1], skipped=OLDER_BUILD_REASON)

        for item in items:
            build = item.extras.get("snapshot_build") if item.extras else None
            if build is None or item.unmappable or item.skipped:
                yield item
                continue
            version = (item.repository, item.key.version_id)
            held = newest.get(version)
            if held is None or build > held[0]:
                newest[version] = (build, [item])
                for old in held[1] if held is not None else ():
                    yield from set_aside(version, held[0], old)
            elif build == held[0]:
                held[1].append(item)
            else:
                yield from set_aside(version, build, item)
        for version, (build, kept) in newest.items():
            yield from kept
            present = set()
            for item in kept:
                parsed = snapshot_file(item.key.package, item.key.version, item.key.asset)
                present.add((parsed.classifier, parsed.extension) if parsed else ("", item.key.asset))
            for (classifier, extension), (_build, item) in older.get(version, {}).items():
                if (classifier, extension) in present:
                    yield replace(item, skipped=OLDER_BUILD_REASON)
                else:
                    yield replace(item, unmappable=stranded_reason(classifier, extension, f"{build[0]}-{build[1]}"))

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        """PUT the file.

        No checksum files follow it, unlike ``mvn deploy``: the target would only check them (they are
        not stored), each would cost a request of the publish quota, and the engine confirms every
        asset's SHA-256 from the target's own listing anyway.
        """
        key = item.key
        url = file_url(ctx.endpoint(FORMAT), key)
        with open(spooled.path, "rb") as body:
            ctx.send("PUT", url, f"upload {key.asset}", data=body,
                     headers={"Content-Type": "application/octet-stream"})

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        """Upload the artifact's ``maven-metadata.xml`` listing this version, then make sure it is Published.

        Raises :class:`ItemError` if the target still shows the version ``Unfinished``.
        """
        if not items:
            return
        key = items[0].key
        label = f"{key.namespace}:{key.package}:{key.version}"
        if is_snapshot(key.version):
            self._snapshot_metadata(ctx, items, label)
        url = metadata_url(ctx.endpoint(FORMAT), key)
        memory = ctx.run_memory
        # Workers finishing two versions of one artifact at once would each merge into the same document
        # and the later upload could drop the other's version: one artifact's metadata at a time.
        with _LOCKS[hash((ctx.repository, key.namespace, key.package)) % len(_LOCKS)]:
            # The target's list is read once per artifact and run, then kept with the versions this run
            # added: reading it back before every version made an artifact of N versions cost N reads of
            # a document of up to N versions (quadratic).
            known = memory.get(url) if memory is not None else None
            if known is None:
                current = ctx.send("GET", url, f"maven-metadata.xml of {key.namespace}:{key.package}",
                                   accept=(404,))
                known = tuple(listed_versions(current.content)) if current.status_code == 200 else ()
            document = render_metadata(key.namespace, key.package, known, key.version)
            ctx.send("PUT", url, f"maven-metadata.xml for {label}", data=document,
                     headers={"Content-Type": "application/xml"})
            if memory is not None:
                memory.put(url, known if key.version in known else (*known, key.version))
        for attempt in range(STATUS_CHECKS):
            out = ctx.domain.read("describe_package_version", repository=ctx.repository, format=FORMAT,
                                  namespace=key.namespace, package=key.package, packageVersion=key.version)
            if out["packageVersion"]["status"] != "Unfinished":
                return
            if attempt + 1 < STATUS_CHECKS:
                time.sleep(STATUS_DELAY * (attempt + 1))  # the service documents that reads may lag a publish
        raise ItemError(f"{label} is still Unfinished in {ctx.repository} after maven-metadata.xml listed it; "
                        "its assets are there but Maven clients can't use them: check the version with "
                        "describe-package-version, then publish it with update-package-versions-status")

    def _snapshot_metadata(self, ctx: PublishContext, items: list[SourceItem], label: str) -> None:
        """Upload a SNAPSHOT's version-level ``maven-metadata.xml``, as ``mvn deploy`` does before the
        artifact's, naming the newest file per classifier and extension among those just published and
        those the target version already holds."""
        key = items[0].key
        held = ctx.domain.assets(ctx.repository, FORMAT, key.namespace, key.package, key.version)
        names = [item.key.asset for item in items] + [asset["name"] for asset in held]
        document = render_snapshot_metadata(key.namespace, key.package, key.version, names)
        if document is None:
            raise ItemError(f"{label}: none of its files has a timestamped build name, so no snapshot metadata "
                            "can name them")
        ctx.send("PUT", file_url(ctx.endpoint(FORMAT), key, METADATA), f"{label}/maven-metadata.xml",
                 data=document, headers={"Content-Type": "application/xml"})
