"""Swift migrator: identity from hints and registry-shaped paths, and the publish against the stand-in.

Nexus does not host Swift, so there is no Nexus end-to-end run: the publish is proven here with a
SourceItem and a spool file built by hand, the way the engine hands them over; the same bytes are then
read back through the registry API as SwiftPM would.
"""

from __future__ import annotations

import hashlib

import pytest
import requests

from e2e_helpers import target_domain
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators import MIGRATORS
from ferry.migrators.base import PublishContext, Spooled
from ferry.migrators.swift import SwiftMigrator
from ferry.model import Checksums, ItemKey, SourceItem
from ferry.sandbox.seed import swift_source_archive
from ferry.sources.base import SourceFile

MAPPING = RepositoryMapping(source="swift-local", target="swift-store", namespace="")


def source_file(path: str, data: bytes = b"zip", **hints) -> SourceFile:
    return SourceFile("swift-local", path, f"http://src/swift-local/{path}", size=len(data),
                      checksums=Checksums(sha256=hashlib.sha256(data).hexdigest()), hints=hints)


def test_migrator_is_registered():
    assert isinstance(MIGRATORS["swift"], SwiftMigrator) and MIGRATORS["swift"].single_asset


@pytest.mark.parametrize("path, hints, key", [
    ("Mona/LinkedList/1.1.1.zip", {}, ("mona", "linkedlist", "1.1.1", "linkedlist-1.1.1.zip")),
    ("mona/LinkedList/2.0.0-beta.1/LinkedList-2.0.0-beta.1.zip", {},
     ("mona", "linkedlist", "2.0.0-beta.1", "linkedlist-2.0.0-beta.1.zip")),
    ("any/where.zip", {"swift.scope": "Acme", "swift.name": "Parser_Kit", "swift.version": "1.0.0+build.5"},
     ("acme", "parser_kit", "1.0.0+build.5", "parser_kit-1.0.0+build.5.zip")),
    ("x.zip", {"group": "acme", "name": "Tools", "version": "3.0.0"}, ("acme", "tools", "3.0.0", "tools-3.0.0.zip")),
])
def test_identity_is_lowercased_scope_and_name_with_the_version_as_given(path, hints, key):
    item = SwiftMigrator().identify(source_file(path, **hints), MAPPING)
    assert item.unmappable is None
    assert item.key == ItemKey("swift", *key)


@pytest.mark.parametrize("path", ["mona/LinkedList/1.1.1/Package.swift", "mona/LinkedList/1.1.1.json",
                                  "mona/LinkedList/1.1.1.zip.sig"])
def test_files_that_are_not_source_archives_are_not_items(path):
    assert SwiftMigrator().identify(source_file(path), MAPPING) is None


@pytest.mark.parametrize("path, why", [
    ("mona/LinkedList/1.0.zip", "not a SemVer 2.0.0 version"),
    ("mona/LinkedList/v1.0.0.zip", "not a SemVer 2.0.0 version"),
    ("-mona/LinkedList/1.0.0.zip", "not a valid Swift package scope"),
    ("mona/Linked..List/1.0.0.zip", "not a valid Swift package name"),
    ("loose.zip", "cannot tell the Swift scope"),
])
def test_unusable_identities_are_unmappable_with_a_reason(path, why):
    item = SwiftMigrator().identify(source_file(path), MAPPING)
    assert item.unmappable and why in item.unmappable


def test_scope_and_name_that_differ_only_in_case_are_not_merged():
    migrator = SwiftMigrator()
    first = migrator.identify(source_file("Mona/LinkedList/1.0.0.zip", b"one"), MAPPING)
    second = migrator.identify(source_file("mona/linkedlist/1.0.0.zip", b"two"), MAPPING)
    assert first.unmappable is None
    assert second.unmappable and "'Mona/LinkedList/1.0.0.zip'" in second.unmappable and second.key != first.key
    # versions are not normalized: 1.0.0 and 1.0.0+build are two releases
    assert migrator.identify(source_file("mona/linkedlist/1.0.0+build.zip", b"three"), MAPPING).unmappable is None


def test_a_case_collision_is_found_while_another_mapping_is_listed_at_the_same_time():
    migrator = SwiftMigrator()
    other = RepositoryMapping(source="swift-other", target="swift-other-store", namespace="")
    first = migrator.identify(source_file("Mona/LinkedList/1.0.0.zip", b"one"), MAPPING)
    assert migrator.identify(source_file("acme/Other/1.0.0.zip", b"x"), other).unmappable is None
    second = migrator.identify(source_file("mona/linkedlist/1.0.0.zip", b"two"), MAPPING)
    assert first.unmappable is None and second.unmappable and "'Mona/LinkedList/1.0.0.zip'" in second.unmappable


# -- publish against the stand-in --------------------------------------------------------------------------


@pytest.fixture
def target(sandbox, tmp_path):
    url = sandbox.urls()["codeartifact"]
    ca, domain = target_domain(url, "swift-store")
    return ca, domain, PublishContext(domain, "swift-store", requests.Session(), {}), tmp_path


def spooled_item(tmp_path, scope: str, name: str, version: str, data: bytes) -> tuple[SourceItem, Spooled]:
    path = tmp_path / f"{name}-{version}.zip"
    path.write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    item = SourceItem(ItemKey("swift", scope, name, version, f"{name}-{version}.zip"), size=len(data),
                      checksums={"sha256": sha})
    return item, Spooled(path, len(data), Checksums(sha256=sha))


def test_publish_streams_the_archive_and_the_registry_serves_it_back(target):
    ca, domain, ctx, tmp = target
    archive = swift_source_archive("LinkedList", "1.1.1")
    item, spool = spooled_item(tmp, "mona", "linkedlist", "1.1.1", archive)
    SwiftMigrator().publish(ctx, item, spool, True)
    state = domain.asset_state("swift-store", "swift", "mona", "linkedlist", "1.1.1", "linkedlist-1.1.1.zip")
    assert state.sha256 == hashlib.sha256(archive).hexdigest() and state.status == "Published"
    endpoint = domain.endpoint("swift-store", "swift")
    headers = {"Authorization": f"Bearer {domain.token()}", "Accept": "application/vnd.swift.registry.v1+json"}
    release = requests.get(f"{endpoint}mona/linkedlist/1.1.1", headers=headers, timeout=30).json()
    assert release["resources"][0]["checksum"] == hashlib.sha256(archive).hexdigest()
    assert requests.get(f"{endpoint}mona/linkedlist/1.1.1.zip", headers=headers, timeout=30).content == archive
    # build metadata in the version travels in the URL intact
    archive2 = swift_source_archive("LinkedList", "1.2.0+build.7")
    item2, spool2 = spooled_item(tmp, "mona", "linkedlist", "1.2.0+build.7", archive2)
    SwiftMigrator().publish(ctx, item2, spool2, True)
    versions = ca.list_package_versions(domain="acme", repository="swift-store", format="swift", namespace="mona",
                                        package="linkedlist")["versions"]
    assert {v["version"] for v in versions} == {"1.1.1", "1.2.0+build.7"}


def test_republishing_identical_bytes_succeeds_and_different_bytes_are_an_item_error(target):
    _ca, domain, ctx, tmp = target
    archive = swift_source_archive("Repeat", "1.0.0")
    item, spool = spooled_item(tmp, "acme", "repeat", "1.0.0", archive)
    SwiftMigrator().publish(ctx, item, spool, True)
    SwiftMigrator().publish(ctx, item, spool, True)
    other = swift_source_archive("Repeat", "1.0.0", tools_version="5.10")
    (tmp / "other").mkdir()
    item3, spool3 = spooled_item(tmp / "other", "acme", "repeat", "1.0.0", other)
    with pytest.raises(ItemError, match="409"):
        SwiftMigrator().publish(ctx, item3, spool3, True)
    state = domain.asset_state("swift-store", "swift", "acme", "repeat", "1.0.0", "repeat-1.0.0.zip")
    assert state.sha256 == hashlib.sha256(archive).hexdigest()


def test_an_archive_without_a_manifest_is_refused_before_sending(target):
    _ca, domain, ctx, tmp = target
    item, spool = spooled_item(tmp, "acme", "empty", "1.0.0", b"PK\x05\x06" + b"\x00" * 18)
    with pytest.raises(ItemError, match="Package.swift"):
        SwiftMigrator().publish(ctx, item, spool, True)
    assert domain.asset_state("swift-store", "swift", "acme", "empty", "1.0.0", "empty-1.0.0.zip") is None


def test_a_large_archive_streams_in_binary_and_in_base64(target):
    """32 MiB source archives, sent as SwiftPM does (binary part) and as the spec's example does (base64
    part), are stored and served without the process holding them in memory."""
    import base64
    import os
    import tracemalloc
    import zipfile

    _ca, domain, ctx, tmp = target
    shas = {}
    for version in ("1.0.0", "2.0.0"):
        path = tmp / f"big-{version}.zip"
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("Big/Package.swift", "// swift-tools-version:5.9\n")
            with zf.open("Big/Resources/blob.bin", "w") as member:
                for _ in range(32):
                    member.write(os.urandom(1024 * 1024))
        shas[version] = hashlib.sha256(path.read_bytes()).hexdigest()
    endpoint = domain.endpoint("swift-store", "swift")
    token = domain.token()

    def base64_body(path):
        yield (b"--b\r\nContent-Disposition: form-data; name=\"source-archive\"\r\nContent-Type: application/zip\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\n")
        with open(path, "rb") as f:
            while chunk := f.read(57 * 16384):
                yield base64.encodebytes(chunk)
        yield b"\r\n--b--\r\n"

    tracemalloc.start()
    try:
        path = tmp / "big-1.0.0.zip"
        item = SourceItem(ItemKey("swift", "acme", "big", "1.0.0", "big-1.0.0.zip"),
                          checksums={"sha256": shas["1.0.0"]})
        SwiftMigrator().publish(ctx, item, Spooled(path, path.stat().st_size, Checksums(sha256=shas["1.0.0"])), True)
        resp = requests.put(f"{endpoint}acme/big/2.0.0", data=base64_body(tmp / "big-2.0.0.zip"), timeout=60,
                            headers={"Authorization": f"Bearer {token}",
                                     "Content-Type": "multipart/form-data; boundary=b"})
        assert resp.status_code == 201, resp.text
        downloads = {}
        for version in shas:
            digest = hashlib.sha256()
            with requests.get(f"{endpoint}acme/big/{version}.zip", headers={"Authorization": f"Bearer {token}"},
                              stream=True, timeout=60) as got:
                for chunk in got.iter_content(1024 * 1024):
                    digest.update(chunk)
            downloads[version] = digest.hexdigest()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert downloads == shas
    assert peak < 16 * 1024 * 1024, peak  # half of one body: a buffered body would exceed it
