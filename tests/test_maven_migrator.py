"""Maven migrator without a network: identity from hints and m2 paths, what is skipped, metadata documents."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest

from ferry.config import RepositoryMapping
from ferry.migrators import MIGRATORS
from ferry.migrators.maven import (
    SNAPSHOT_REASON, Coordinates, base_version, file_url, is_snapshot, listed_versions, metadata_url, parse_m2_path,
    render_metadata,
)
from ferry.model import Checksums, ItemKey
from ferry.sources.base import SourceFile

MAPPING = RepositoryMapping(source="maven-releases", target="maven-store", namespace="")
MIGRATOR = MIGRATORS["maven"]


def nexus_file(path: str, group: str, artifact: str, version: str, extension: str, classifier: str | None = None,
               **extra) -> SourceFile:
    """A file as NexusSource lists it: component group/name/version plus the asset's maven2 attributes."""
    hints = {"group": group, "name": artifact, "version": version, "groupId": group, "artifactId": artifact,
             "extension": extension, **extra}
    if classifier:
        hints["classifier"] = classifier
    data = f"bytes of {path}".encode()
    sums = Checksums(sha256=hashlib.sha256(data).hexdigest(), sha1=hashlib.sha1(data).hexdigest())
    return SourceFile("maven-releases", path.lstrip("/"), f"http://nexus/repository/maven-releases/{path}",
                      size=len(data), checksums=sums, hints=hints)


def plain_file(path: str) -> SourceFile:
    """A file as a path-only source (Artifactory storage listing) gives it: no coordinates."""
    return SourceFile("libs-release", path, f"http://af/libs-release/{path}", size=10)


def key_of(item) -> tuple[str, str, str, str]:
    return (item.key.namespace, item.key.package, item.key.version, item.key.asset)


def test_nexus_hints_give_the_identity_and_keep_source_checksums():
    f = nexus_file("/com/acme/deep/app/1.4.0/app-1.4.0-sources.jar", "com.acme.deep", "app", "1.4.0", "jar",
                   "sources")
    item = MIGRATOR.identify(f, MAPPING)
    assert item.unmappable is None
    assert item.key == ItemKey("maven", "com.acme.deep", "app", "1.4.0", "app-1.4.0-sources.jar")
    assert item.checksums == f.checksums and item.size == f.size and item.locator == f.url


@pytest.mark.parametrize("path, expected", [
    ("org/apache/commons/commons-lang3/3.12.0/commons-lang3-3.12.0.jar",
     ("org.apache.commons", "commons-lang3", "3.12.0", "commons-lang3-3.12.0.jar")),
    ("/junit/junit/4.13.2/junit-4.13.2.pom", ("junit", "junit", "4.13.2", "junit-4.13.2.pom")),
    ("com/ex/app/1.0/app-1.0-tests.jar.asc", ("com.ex", "app", "1.0", "app-1.0-tests.jar.asc")),
    ("com/ex/app/1.0/app-1.0.tar.gz", ("com.ex", "app", "1.0", "app-1.0.tar.gz")),
])
def test_identity_from_the_m2_path_alone(path, expected):
    item = MIGRATOR.identify(plain_file(path), MAPPING)
    assert item.unmappable is None and key_of(item) == expected


@pytest.mark.parametrize("name", ["app-1.0.jar.md5", "app-1.0.jar.sha1", "app-1.0.jar.sha256", "app-1.0.jar.sha512",
                                  "app-1.0.pom.asc.sha1"])
def test_checksum_files_are_not_items(name):
    assert MIGRATOR.identify(plain_file(f"com/ex/app/1.0/{name}"), MAPPING) is None
    assert MIGRATOR.identify(nexus_file(f"com/ex/app/1.0/{name}", "com.ex", "app", "1.0", "jar.sha1"),
                             MAPPING) is None


@pytest.mark.parametrize("path", ["com/ex/app/maven-metadata.xml", "com/ex/app/maven-metadata.xml.sha1",
                                  "com/ex/app/1.0-SNAPSHOT/maven-metadata.xml"])
def test_metadata_files_are_not_items(path):
    assert MIGRATOR.identify(plain_file(path), MAPPING) is None


def test_snapshots_are_skipped_under_their_base_version_by_default():
    path = "com/ex/tool/1.0-SNAPSHOT/tool-1.0-20240102.030405-1.jar"
    item = MIGRATOR.identify(nexus_file(path, "com.ex", "tool", "1.0-20240102.030405-1", "jar",
                                        baseVersion="1.0-SNAPSHOT"), MAPPING)
    assert item.skipped == SNAPSHOT_REASON and item.unmappable is None
    assert key_of(item) == ("com.ex", "tool", "1.0-SNAPSHOT", "tool-1.0-20240102.030405-1.jar")
    plain = MIGRATOR.identify(plain_file(path), MAPPING)
    assert plain.skipped == SNAPSHOT_REASON and plain.key.version == "1.0-SNAPSHOT"
    # no baseVersion attribute: the timestamped component version still maps to the snapshot
    bare = MIGRATOR.identify(nexus_file(path, "com.ex", "tool", "1.0-20240102.030405-1", "jar"), MAPPING)
    assert bare.skipped == SNAPSHOT_REASON and bare.key.version == "1.0-SNAPSHOT"


@pytest.mark.parametrize("path", ["archetype-catalog.xml", "com/ex/app/1.0/other-1.0.jar", "app/1.0/app-1.0.jar",
                                  "com/ex/app/1.0/app-1.0", "com/ex/app/1.0/app-1.0x.jar"])
def test_paths_outside_the_layout_without_hints_are_unmappable(path):
    item = MIGRATOR.identify(plain_file(path), MAPPING)
    assert item is not None and "not in the Maven repository layout" in item.unmappable


def test_hints_that_disagree_with_the_path_are_unmappable():
    f = nexus_file("com/ex/app/1.0/app-1.0.jar", "com.ex", "app", "2.0", "jar")
    item = MIGRATOR.identify(f, MAPPING)
    assert "path says com.ex:app:1.0" in item.unmappable and "com.ex:app:2.0" in item.unmappable


def test_hints_carry_files_a_permissive_layout_named_freely():
    f = nexus_file("com/ex/app/1.0/renamed.jar", "com.ex", "app", "1.0", "jar")
    item = MIGRATOR.identify(f, MAPPING)
    assert item.unmappable is None and key_of(item) == ("com.ex", "app", "1.0", "renamed.jar")


def test_coordinates_codeartifact_cannot_take_are_unmappable():
    f = nexus_file("com/ex/my app/1.0/my app-1.0.jar", "com.ex", "my app", "1.0", "jar")
    assert "can't take" in MIGRATOR.identify(f, MAPPING).unmappable


def test_parse_m2_path_and_versions():
    assert parse_m2_path("a/b/c/1.0/c-1.0-x.zip") == Coordinates("a.b", "c", "1.0", "c-1.0-x.zip")
    assert parse_m2_path("a/c/1.0-SNAPSHOT/c-1.0-SNAPSHOT.jar").version == "1.0-SNAPSHOT"
    assert parse_m2_path("a/c/1.0-SNAPSHOT/c-1.0-20240102.030405-7-sources.jar").filename.endswith("-7-sources.jar")
    assert parse_m2_path("a/../c/1.0/c-1.0.jar") is None and parse_m2_path("a/c/1.0/c-1.0.") is None
    assert is_snapshot("1.0-SNAPSHOT") and is_snapshot("1.0-20240102.030405-1") and not is_snapshot("1.0-rc1")
    assert base_version("2.1-20240102.030405-12") == "2.1-SNAPSHOT" and base_version("2.1") == "2.1"


def test_urls_follow_the_repository_layout():
    key = ItemKey("maven", "org.apache.commons", "commons-io", "2.11.0", "commons-io-2.11.0.jar")
    base = "https://acme-111122223333.d.codeartifact.us-east-1.amazonaws.com/maven/store/"
    assert file_url(base, key) == base + "org/apache/commons/commons-io/2.11.0/commons-io-2.11.0.jar"
    assert file_url(base, key, "x.jar.sha1") == base + "org/apache/commons/commons-io/2.11.0/x.jar.sha1"
    assert metadata_url(base, key) == base + "org/apache/commons/commons-io/maven-metadata.xml"


def test_metadata_merges_known_versions_and_names_the_new_one_release():
    doc = render_metadata("com.ex", "app", ["1.0", "1.1"], "0.9")
    root = ET.fromstring(doc)
    assert [v.text for v in root.find("versioning/versions")] == ["1.0", "1.1", "0.9"]
    assert root.findtext("versioning/latest") == "0.9" and root.findtext("versioning/release") == "0.9"
    assert root.findtext("groupId") == "com.ex" and len(root.findtext("versioning/lastUpdated")) == 14
    again = render_metadata("com.ex", "app", listed_versions(doc), "1.1")
    assert listed_versions(again) == ["1.0", "1.1", "0.9"]
    namespaced = (b'<metadata xmlns="http://maven.apache.org/METADATA/1.1.0"><versioning><versions>'
                  b"<version>3.0</version><version> 3.1 </version></versions></versioning></metadata>")
    assert listed_versions(namespaced) == ["3.0", "3.1"]
    assert listed_versions(b"<not xml") == []
    snapshot = ET.fromstring(render_metadata("com.ex", "app", [], "2.0-SNAPSHOT"))
    assert snapshot.find("versioning/release") is None


def test_files_outside_the_layout_stay_apart_by_path():
    """Two stray files of one name in two folders are two unmappable items (the ledger holds one row per key):
    keyed by the file name alone, the second would be taken for a second copy of the first."""
    first, second = (MIGRATOR.identify(plain_file(f"com/ex/app/{v}/README.md"), MAPPING) for v in ("1.0", "2.0"))
    assert first.unmappable and second.unmappable
    assert (first.key.asset, second.key.asset) == ("com/ex/app/1.0/README.md", "com/ex/app/2.0/README.md")
