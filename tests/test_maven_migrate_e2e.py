"""Nexus → CodeArtifact for Maven, end to end on the stand-ins, proven with real ``mvn``.

The source holds a real artifact (commons-io 2.11.0's POM and jar as Debian ships them, plus a
sources jar) and a built one in two versions, uploaded through Nexus' components API with the
``maven2.*`` fields, so Nexus lists checksum subordinates next to every file.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import requests

import maven_helpers as mh
from e2e_helpers import ferry, maven_world, write_job
from ferry.sandbox.seed import debian_maven_artifact, maven_artifact, maven_filename, maven_jar


def _artifacts() -> dict[tuple[str, str, str], dict]:
    real = debian_maven_artifact("commons-io", "commons-io", "2.11.0") or \
        maven_artifact("commons-io", "commons-io", "2.11.0", sources=False)
    real[("sources", "jar")] = maven_jar({"org/apache/commons/io/IOUtils.java": b"package org.apache.commons.io;\n"})
    return {
        ("commons-io", "commons-io", "2.11.0"): real,
        ("com.acme.ferry", "greeter", "1.0.0"): maven_artifact("com.acme.ferry", "greeter", "1.0.0", sources=False),
        ("com.acme.ferry", "greeter", "1.1.0"): maven_artifact("com.acme.ferry", "greeter", "1.1.0"),
    }


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    artifacts = _artifacts()
    return {**maven_world(sandbox, tmp_path, monkeypatch, artifacts), "artifacts": artifacts,
            "state": str(tmp_path / "ferry.db"), "tmp": tmp_path, "store": sandbox.apps["codeartifact"].store}


def expected_assets(artifact: str, version: str, files: dict) -> dict[str, str]:
    return {maven_filename(artifact, version, classifier, ext): hashlib.sha256(data).hexdigest()
            for (classifier, ext), data in files.items()}


def target_assets(ca, group, artifact, version) -> dict[str, str]:
    out = ca.list_package_version_assets(domain="acme", repository="maven-store", format="maven", namespace=group,
                                         package=artifact, packageVersion=version)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def target_status(ca, group, artifact, version) -> str:
    return ca.describe_package_version(domain="acme", repository="maven-store", format="maven", namespace=group,
                                       package=artifact, packageVersion=version)["packageVersion"]["status"]


def report(state: str) -> dict:
    from typer.testing import CliRunner

    from ferry.cli import app

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_migrate_publishes_every_version_and_a_rerun_uploads_nothing(world, sandbox):
    ca, state, artifacts = world["ca"], world["state"], world["artifacts"]
    # the source lists checksum subordinates beside every file: they are not items
    assert ferry("audit", str(world["job"]), "--state", state) == 0
    assert report(state)["states"] == {"planned": 8}

    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    for (group, artifact, version), files in artifacts.items():
        # every asset arrived with the SHA-256 of the bytes seeded into Nexus, and nothing else did
        assert target_assets(ca, group, artifact, version) == expected_assets(artifact, version, files)
        assert target_status(ca, group, artifact, version) == "Published"
    listed = ca.list_package_versions(domain="acme", repository="maven-store", format="maven",
                                      namespace="com.acme.ferry", package="greeter")["versions"]
    assert sorted(v["version"] for v in listed) == ["1.0.0", "1.1.0"]
    first = report(state)
    assert first["states"] == {"confirmed": 8}
    # writes to the publish quota: each file once (no checksum files), then one maven-metadata.xml per version
    assert sandbox.quota.status()["requests"].get("publish") == 8 + 3

    # second run: everything is "same", nothing is published, no version changes
    store = world["store"]
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last, GROUP_CONCAT(revision) AS revs FROM versions")[0]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last, GROUP_CONCAT(revision) AS revs FROM versions")[0]
    assert tuple(before) == tuple(after)
    assert sandbox.quota.status()["requests"].get("publish") == 8 + 3
    assert report(state)["states"] == {"same": 8}
    assert ferry("verify", str(world["job"]), "--state", state) == 0


def test_a_different_version_already_in_the_target_is_a_conflict_left_untouched(world, capsys):
    ca, store, state = world["ca"], world["store"], world["state"]
    domain = store.domain("us-east-1", None, "acme")
    repo = store.repository(domain, "maven-store")
    planted = maven_jar({"planted.txt": b"not the source's jar\n"})
    store.publish_asset(repo, "maven", "com.acme.ferry", "greeter", "1.1.0", "greeter-1.1.0.jar",
                        store.blobs.put_bytes(planted))
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    assert "greeter@1.1.0/greeter-1.1.0.jar" in capsys.readouterr().out
    assert target_assets(ca, "com.acme.ferry", "greeter", "1.1.0")["greeter-1.1.0.jar"] == \
        hashlib.sha256(planted).hexdigest()
    # the other versions arrived whole
    files = world["artifacts"][("com.acme.ferry", "greeter", "1.0.0")]
    assert target_assets(ca, "com.acme.ferry", "greeter", "1.0.0") == expected_assets("greeter", "1.0.0", files)
    result = report(state)
    assert result["states"]["conflict"] == 1
    (failure,) = result["failures"]
    source_jar = world["artifacts"][("com.acme.ferry", "greeter", "1.1.0")][(None, "jar")]
    assert failure["state"] == "conflict" and failure["target_sha256"] == hashlib.sha256(planted).hexdigest()
    assert failure["source_sha256"] == hashlib.sha256(source_jar).hexdigest()


def test_an_unfinished_version_in_the_target_is_finished(world):
    """A run stopped before maven-metadata.xml leaves the version Unfinished; the next run publishes it."""
    ca, store, state = world["ca"], world["store"], world["state"]
    repo = store.repository(store.domain("us-east-1", None, "acme"), "maven-store")
    files = world["artifacts"][("com.acme.ferry", "greeter", "1.0.0")]
    store.publish_asset(repo, "maven", "com.acme.ferry", "greeter", "1.0.0", "greeter-1.0.0.jar",
                        store.blobs.put_bytes(files[(None, "jar")]), unfinished=True)
    assert target_status(ca, "com.acme.ferry", "greeter", "1.0.0") == "Unfinished"
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    assert target_status(ca, "com.acme.ferry", "greeter", "1.0.0") == "Published"
    assert target_assets(ca, "com.acme.ferry", "greeter", "1.0.0") == expected_assets("greeter", "1.0.0", files)
    # The jar found there was not usable until this run finished its version: written done (confirmed) only
    # then, not "same" before the finish, which a run cut off there would have left claiming it done.
    assert report(state)["states"] == {"confirmed": 8}


def test_a_version_the_target_refuses_to_publish_is_a_failure_not_silence(world, capsys):
    """An Unfinished target version with a mismatched checksum on record can't be published by metadata:
    the run fails that version (exit 1) and says why, instead of leaving it Unfinished quietly."""
    ca, store, state = world["ca"], world["store"], world["state"]
    repo = store.repository(store.domain("us-east-1", None, "acme"), "maven-store")
    store.publish_asset(repo, "maven", "com.acme.ferry", "greeter", "1.0.0", "greeter-1.0.0-javadoc.jar",
                        store.blobs.put_bytes(b"javadoc"), unfinished=True)
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")
    bad = requests.put(f"{endpoint['repositoryEndpoint']}com/acme/ferry/greeter/1.0.0/greeter-1.0.0-javadoc.jar.sha1",
                       data=b"0" * 40, auth=("aws", token))
    assert bad.status_code == 400
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    out = capsys.readouterr().out
    assert "finishing the version" in out and "checksum mismatch" in out.lower()
    assert target_status(ca, "com.acme.ferry", "greeter", "1.0.0") == "Unfinished"
    assert target_status(ca, "com.acme.ferry", "greeter", "1.1.0") == "Published"
    result = report(state)
    # Each file of the version is in the target but unusable: each is failed with why (not only the last,
    # the others confirmed), and none is counted as a file a rerun publishes again.
    assert result["states"] == {"confirmed": 6, "failed": 2, "only_in_target": 1}  # and the planted javadoc
    files = world["artifacts"][("com.acme.ferry", "greeter", "1.0.0")]
    assert {f["key"]: f["target_sha256"] for f in result["failures"]} == {
        f"maven:com.acme.ferry/greeter@1.0.0/{name}": sha
        for name, sha in expected_assets("greeter", "1.0.0", files).items()}
    assert all(f["reason"].startswith("finishing the version: ") for f in result["failures"])
    assert result["estimate"]["retried_files"] == 0


def test_many_versions_of_one_artifact_finished_by_parallel_workers(world, sandbox):
    """Each version's finish uploads the artifact's maven-metadata.xml listing every version so far, one
    artifact at a time; the target's list is read once per artifact and run (reading it back before every
    upload made one artifact's N versions read N documents of up to N versions: 4,000 took 464 s)."""
    from ferry.sandbox.codeartifact.quota import QuotaSpec

    seeder, urls, ca = world["seeder"], world["urls"], world["ca"]
    seeder.create_repository("maven", "maven-many")
    versions = [f"3.{n}.0" for n in range(8)]
    for version in versions:
        seeder.maven("maven-many", "com.acme.many", "busy", version,
                     maven_artifact("com.acme.many", "busy", version, sources=False))
    job = write_job(world["tmp"] / "many.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "maven-many", "target": "maven-store"}], extra="\n[options]\nworkers = 6\n")
    sandbox.quota.configure(QuotaSpec())  # zero the counters: only the migration is counted
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert sandbox.quota.status()["operations"].get("endpoint GET", 0) == 1  # the metadata, once
    assert {target_status(ca, "com.acme.many", "busy", v) for v in versions} == {"Published"}
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    url = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")["repositoryEndpoint"]
    served = requests.get(f"{url}com/acme/many/busy/maven-metadata.xml", auth=("aws", token))
    assert served.status_code == 200
    assert [v.text for v in ET.fromstring(served.content).find("versioning/versions")] == versions



def test_migration_converges_through_throttling_errors_resets_and_cut_replies(world, sandbox):
    """Faults on every stand-in (seeded): retries and reruns end with every version whole and Published."""
    from ferry.commands import run
    from ferry.config import load_job
    from ferry.engine import Settings

    ca, state = world["ca"], world["state"]
    sandbox.set_faults("throttle=0.06,error5xx=0.06,reset=0.04,truncate=0.06,retry_after=0s", seed=5)
    settings = Settings(ledger=Path(state), sleep=lambda _s: None)
    outcomes = []
    for _ in range(4):  # a run may give up on an item after its retries; the next run picks it up
        outcomes.append(run("migrate", load_job(world["job"]), settings))
        if outcomes[-1].exit_code == 0:
            break
    injected = sandbox.faults["codeartifact"].status()["injected"]
    sandbox.set_faults(None)
    assert outcomes[-1].exit_code == 0
    assert sum(injected.values()) > 0
    for (group, artifact, version), files in world["artifacts"].items():
        assert target_assets(ca, group, artifact, version) == expected_assets(artifact, version, files)
        assert target_status(ca, group, artifact, version) == "Published"


@pytest.mark.clients
@pytest.mark.skipif(not mh.mvn_available(), reason="mvn or Debian's maven plugins are not installed")
def test_real_mvn_resolves_what_was_migrated_with_its_classifier_jar(world):
    ca = world["ca"]
    assert ferry("migrate", str(world["job"]), "--state", world["state"], "--no-progress") == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    url = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")["repositoryEndpoint"]
    settings = mh.write_settings(world["tmp"] / "mvn", url, token)
    commons = world["artifacts"][("commons-io", "commons-io", "2.11.0")]
    mh.get(settings, "commons-io:commons-io:2.11.0")
    mh.get(settings, "commons-io:commons-io:2.11.0:jar:sources")
    mh.get(settings, "com.acme.ferry:greeter:1.1.0:jar:sources")
    for (group, artifact, version, classifier), data in (
            (("commons-io", "commons-io", "2.11.0", None), commons[(None, "jar")]),
            (("commons-io", "commons-io", "2.11.0", "sources"), commons[("sources", "jar")]),
            (("com.acme.ferry", "greeter", "1.1.0", "sources"),
             world["artifacts"][("com.acme.ferry", "greeter", "1.1.0")][("sources", "jar")])):
        name = maven_filename(artifact, version, classifier, "jar")
        assert mh.local_file(settings, group, artifact, version, name).read_bytes() == data
        # resolved from the stand-in (not from Debian's repository, which mirrors Central here)
        assert mh.came_from(settings, group, artifact, version, name) == "standin"
