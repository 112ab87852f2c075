"""Swift release metadata travels with the source archive: CodeArtifact (another region) or Artifactory
→ CodeArtifact.

The source releases are published the way a client publishes them, through the source region's Swift
registry endpoint with a ``metadata`` part; after ``ferry migrate`` (and ``ferry replicate``) the
target's release documents, read through the registry API as SwiftPM reads them, carry the same
metadata. Releases without metadata, with a ``metadata`` that is not a JSON object, or whose release
document the source answers 404 for, still migrate their archives, without the part. From Artifactory,
releases are published through its Swift registry API (``/api/swift/{repo}``) or deployed as plain files
in its Swift structure (no metadata).
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests

from artifactory_helpers import write_job
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import swift_source_archive
from replicate_helpers import SOURCE_REGION, TARGET_REGION, Seeder, write_replica_job

ACCEPT = "application/vnd.swift.registry.v1+json"
METADATA = {
    "author": {"name": "Mona Lisa", "email": "mona@example.com", "organization": {"name": "Example"}},
    "description": "One thing links to another.",
    "licenseURL": "https://github.com/mona/LinkedList/blob/main/LICENSE",
    "readmeURL": "https://github.com/mona/LinkedList/blob/main/README.md",
    "repositoryURLs": ["https://github.com/mona/LinkedList", "git@github.com:mona/LinkedList.git"],
    "originalPublicationTime": "2023-02-16T04:00:00.000Z",
}


class Registry:
    """One region's repository (``libs``), spoken to through its Swift registry endpoint (token as Bearer)."""

    def __init__(self, sandbox, region: str, repo: str = "libs"):
        self.client = codeartifact(sandbox.urls()["codeartifact"], region)
        self.repo = repo

    def _base(self) -> tuple[str, dict[str, str]]:
        url = self.client.get_repository_endpoint(domain="acme", repository=self.repo, format="swift")["repositoryEndpoint"]
        token = self.client.get_authorization_token(domain="acme")["authorizationToken"]
        return url.rstrip("/") + "/", {"Authorization": f"Bearer {token}", "Accept": ACCEPT}

    def publish(self, scope: str, name: str, version: str, archive: bytes, metadata: dict | None = None) -> None:
        base, headers = self._base()
        parts = {"source-archive": (f"{name}-{version}.zip", archive, "application/zip")}
        if metadata is not None:
            parts["metadata"] = (None, json.dumps(metadata).encode(), "application/json")
        resp = requests.put(f"{base}{scope}/{name}/{version}", files=parts, headers=headers, timeout=30)
        assert resp.status_code == 201, resp.text

    def release(self, scope: str, name: str, version: str) -> requests.Response:
        base, headers = self._base()
        return requests.get(f"{base}{scope}/{name}/{version}", headers=headers, timeout=30)

    def archive(self, scope: str, name: str, version: str) -> bytes:
        base, headers = self._base()
        resp = requests.get(f"{base}{scope}/{name}/{version}.zip", headers=headers, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.content

    def identifiers(self, url: str) -> requests.Response:
        base, headers = self._base()
        return requests.get(f"{base}identifiers", params={"url": url}, headers=headers, timeout=30)


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    seeder = Seeder(sandbox, SOURCE_REGION)
    seeder.create("libs")
    source = Registry(sandbox, SOURCE_REGION)
    archives = {v: swift_source_archive("LinkedList", v) for v in ("1.1.1", "1.2.0")}
    source.publish("mona", "LinkedList", "1.1.1", archives["1.1.1"], METADATA)
    source.publish("mona", "LinkedList", "1.2.0", archives["1.2.0"])  # no metadata part
    # A release whose stored metadata is not a JSON object: the source serves it as it is.
    odd = swift_source_archive("Odd", "0.1.0")
    store = sandbox.apps["codeartifact"].store
    store.publish_asset(seeder._repo("libs"), "swift", "mona", "odd", "0.1.0", "odd-0.1.0.zip",
                        store.blobs.put_bytes(odd), single_asset=True, metadata={"swift": ["not", "an", "object"]})
    # An asset not named {name}-{version}.zip: the archive migrates (hints give its identity) but the
    # source's registry API answers 404 for the release document, so there is no metadata to read.
    stray = swift_source_archive("Stray", "2.0.0")
    seeder.assets("libs", "swift", "mona", "stray", "2.0.0", {"source.zip": stray})
    assert source.release("mona", "stray", "2.0.0").status_code == 404
    assert source.release("mona", "odd", "0.1.0").json()["metadata"] == ["not", "an", "object"]
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("libs", "libs")],
                            options="create_missing = true")
    archives.update({"odd": odd, "stray": stray})
    return {"job": job, "state": tmp_path / "ferry.db", "source": source, "archives": archives,
            "target": Registry(sandbox, TARGET_REGION)}


def _check_target(world) -> None:
    target, archives = world["target"], world["archives"]
    with_metadata = target.release("mona", "LinkedList", "1.1.1")
    assert with_metadata.status_code == 200
    assert with_metadata.json()["metadata"] == METADATA == world["source"].release(
        "mona", "linkedlist", "1.1.1").json()["metadata"]
    assert with_metadata.json()["resources"][0]["checksum"] == hashlib.sha256(archives["1.1.1"]).hexdigest()
    # what SwiftPM asks to map a repository URL to a registry identity answers from the copied metadata
    assert target.identifiers("https://github.com/mona/LinkedList").json() == {"identifiers": ["mona.linkedlist"]}
    for scope, name, version, archive in (("mona", "linkedlist", "1.2.0", archives["1.2.0"]),
                                          ("mona", "odd", "0.1.0", archives["odd"]),
                                          ("mona", "stray", "2.0.0", archives["stray"])):
        release = target.release(scope, name, version)
        assert release.status_code == 200, (name, release.text)
        assert release.json()["metadata"] == {}  # published without a metadata part
        assert target.archive(scope, name, version) == archive


def test_migrate_copies_release_metadata_and_publishes_releases_without_it(world):
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    _check_target(world)


def test_replicate_copies_release_metadata_reading_it_once_per_version(world, capsys):
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"])) == 0
    out = capsys.readouterr().out
    _check_target(world)
    source_line = next(line for line in out.splitlines() if line.strip().startswith("source "))
    assert re.search(r"swift release read 4\b", source_line)  # four versions, one release document read each
    # a rerun finds every version in place: nothing published, no release document read
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"])) == 0
    assert "swift release read" not in capsys.readouterr().out


def test_artifactory_release_metadata_migrates_from_its_swift_api(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = ArtifactorySeeder(urls["artifactory"])
    seeder.create_repository("swift-local", "swift")
    monkeypatch.setenv("ARTIFACTORY_TOKEN", seeder.token())
    archives = {v: swift_source_archive("Greeter", v) for v in ("1.0.0", "1.1.0", "1.2.0", "2.0.0")}
    api = f"{urls['artifactory']}/api/swift/swift-local"
    published = seeder.http.put(f"{api}/acme/Greeter/1.0.0", headers={"Accept": ACCEPT}, timeout=30, files={
        "source-archive": ("Greeter-1.0.0.zip", archives["1.0.0"], "application/zip"),
        "metadata": (None, json.dumps(METADATA).encode(), "application/json")})
    assert published.status_code == 201, published.text
    seeder.deploy("swift-local", "acme/Greeter/Greeter-1.1.0.zip", archives["1.1.0"])  # a plain deploy: no metadata
    seeder.deploy("swift-local", "acme/Greeter/Greeter-1.2.0.zip", archives["1.2.0"])
    # outside Artifactory's Swift structure: migrated by its registry-shaped path, but its API answers 404
    seeder.deploy("swift-local", "acme/Greeter/2.0.0.zip", archives["2.0.0"])
    store = sandbox.apps["artifactory"].store
    odd = store.node("swift-local", "acme/Greeter/Greeter-1.2.0.zip")
    store.set_properties([odd.id], {"swift.metadata": ['"just a string"']})
    # the source serves them as the registry spec says, whatever the case of scope and name
    assert seeder.http.get(f"{api}/acme/greeter/1.0.0", headers={"Accept": ACCEPT}, timeout=30).json()[
        "metadata"] == METADATA
    assert seeder.http.get(f"{api}/acme/greeter/1.2.0", timeout=30).json()["metadata"] == "just a string"
    assert seeder.http.get(f"{api}/acme/greeter/2.0.0", timeout=30).status_code == 404
    codeartifact(urls["codeartifact"]).create_domain(domain="acme")
    job = write_job(tmp_path / "job.toml", urls["artifactory"], urls["codeartifact"],
                    [{"source": "swift-local", "target": "swift-store"}])
    assert ferry("migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress",
                 "--create-missing") == 0
    target = Registry(sandbox, "us-east-1", "swift-store")
    assert target.release("acme", "Greeter", "1.0.0").json()["metadata"] == METADATA
    for version, archive in archives.items():
        release = target.release("acme", "greeter", version)
        assert release.json()["resources"][0]["checksum"] == hashlib.sha256(archive).hexdigest()
        assert target.archive("acme", "greeter", version) == archive
        if version != "1.0.0":
            assert release.json()["metadata"] == {}
