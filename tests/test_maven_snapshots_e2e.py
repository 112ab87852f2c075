"""Maven SNAPSHOTs from Nexus' maven-snapshots into the CodeArtifact stand-in, end to end.

The snapshot repository is filled the only way Nexus allows, as ``mvn deploy`` does: a PUT per file
(timestamped names, their ``.sha1``/``.md5``, the version-level and artifact-level ``maven-metadata.xml``),
two builds of ``com.acme.ferry:nightly:2.0-SNAPSHOT``. A release sits in maven-releases next to it.
Default ``skip``: exit 0 with the SNAPSHOT files counted as skipped. ``timestamped``: the newest build is
published into ``2.0-SNAPSHOT``, real ``mvn`` resolves it, and a rerun uploads nothing.
"""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET

import pytest
import requests

import maven_helpers as mh
from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.migrators.maven import OLDER_BUILD_REASON, SNAPSHOT_REASON, stranded_reason
from ferry.sandbox.seed import NexusSeeder, maven_artifact, maven_jar

GROUP, ARTIFACT, BASE = "com.acme.ferry", "nightly", "2.0-SNAPSHOT"
FOLDER = f"{GROUP.replace('.', '/')}/{ARTIFACT}"
BUILDS = {"20240102.030405-1": ("pom", "jar"), "20240103.040506-2": ("pom", "jar", "sources.jar")}
NEWEST = "20240103.040506-2"
REPOS = [{"source": "maven-snapshots", "target": "maven-store"},
         {"source": "maven-internal", "target": "maven-releases"}]


def build_files(build: str) -> dict[str, bytes]:
    """The files ``mvn deploy`` puts for one build; every build's bytes differ."""
    out = {}
    for suffix in BUILDS[build]:
        name = f"{ARTIFACT}-2.0-{build}" + (f"-{suffix}" if suffix == "sources.jar" else f".{suffix}")
        if suffix == "pom":
            data = maven_artifact(GROUP, ARTIFACT, BASE, sources=False)[(None, "pom")]
        else:
            data = maven_jar({"build.txt": f"{suffix} of build {build}\n".encode()})
        out[name] = data
    return out


def deploy(seeder: NexusSeeder, build: str) -> None:
    stamp, number = build.rsplit("-", 1)
    for name, data in build_files(build).items():
        seeder.maven_put("maven-snapshots", f"{FOLDER}/{BASE}/{name}", data)
        for algorithm in ("sha1", "md5"):
            seeder.maven_put("maven-snapshots", f"{FOLDER}/{BASE}/{name}.{algorithm}",
                             hashlib.new(algorithm, data).hexdigest().encode())
    version_meta = (f"<metadata><groupId>{GROUP}</groupId><artifactId>{ARTIFACT}</artifactId><version>{BASE}"
                    f"</version><versioning><snapshot><timestamp>{stamp}</timestamp><buildNumber>{number}"
                    "</buildNumber></snapshot></versioning></metadata>").encode()
    seeder.maven_put("maven-snapshots", f"{FOLDER}/{BASE}/maven-metadata.xml", version_meta)
    seeder.maven_put("maven-snapshots", f"{FOLDER}/maven-metadata.xml",
                     f"<metadata><versioning><versions><version>{BASE}</version></versions></versioning>"
                     "</metadata>".encode())


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    for build in BUILDS:
        deploy(seeder, build)
    seeder.create_repository("maven", "maven-internal")
    seeder.maven("maven-internal", GROUP, "greeter", "1.0.0", maven_artifact(GROUP, "greeter", "1.0.0", sources=False))
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in ("maven-store", "maven-releases"):
        ca.create_repository(domain="acme", repository=repo)
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    return {"urls": urls, "ca": ca, "job": str(job), "state": str(tmp_path / "ferry.db"), "tmp": tmp_path}


def report(state: str) -> dict:
    from typer.testing import CliRunner

    from ferry.cli import app

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def repository(data: dict, source: str) -> dict:
    return next(g for g in data["repositories"] if g["source_repo"] == source)


def snapshot_assets(ca) -> dict[str, str]:
    out = ca.list_package_version_assets(domain="acme", repository="maven-store", format="maven", namespace=GROUP,
                                         package=ARTIFACT, packageVersion=BASE)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def test_by_default_snapshots_are_skipped_counted_and_exit_0(world, sandbox, capsys):
    ca, state = world["ca"], world["state"]
    assert ferry("audit", world["job"], "--state", state) == 0
    audit = report(state)
    assert audit["states"] == {"planned": 2, "skipped": 5}  # builds 1 and 2: 2 + 3 files; greeter: 2
    snapshots = repository(audit, "maven-snapshots")
    assert (snapshots["files"], snapshots["versions"], snapshots["pending_files"]) == (5, 1, 0)
    assert snapshots["states"] == {"skipped": 5}
    assert audit["skipped"] == [{"reason": SNAPSHOT_REASON, "files": 5}] and audit["failures"] == []
    out = capsys.readouterr().out
    row = next(line for line in out.splitlines() if line.startswith("maven-snapshots -> maven-store"))
    assert row.split()[-1] == "5"  # the terminal table's skipped column

    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 0
    migrate = report(state)
    assert migrate["run"]["command"] == "migrate" and migrate["run"]["status"] == "ok"
    assert migrate["states"] == {"confirmed": 2, "skipped": 5}
    assert repository(migrate, "maven-snapshots")["states"] == {"skipped": 5}
    assert ca.list_packages(domain="acme", repository="maven-store")["packages"] == []
    assert sandbox.quota.status()["requests"].get("publish") == 2 + 1  # greeter only: two files, its metadata
    assert ferry("verify", world["job"], "--state", state) == 0


def test_timestamped_publishes_the_newest_build_and_a_rerun_uploads_nothing(world, sandbox):
    ca, state = world["ca"], world["state"]
    assert ferry("migrate", world["job"], "--state", state, "--no-progress", "--snapshots", "timestamped") == 0
    newest = build_files(NEWEST)
    assert snapshot_assets(ca) == {name: hashlib.sha256(data).hexdigest() for name, data in newest.items()}
    version = ca.describe_package_version(domain="acme", repository="maven-store", format="maven", namespace=GROUP,
                                          package=ARTIFACT, packageVersion=BASE)["packageVersion"]
    assert version["status"] == "Published"
    first = report(state)
    assert first["states"] == {"confirmed": 3 + 2, "skipped": 2}
    assert first["skipped"] == [{"reason": OLDER_BUILD_REASON, "files": 2}]
    # each file once; per version the metadata: the snapshot's version-level and artifact-level, greeter's
    writes = sandbox.quota.status()["requests"].get("publish")
    assert writes == 5 + 2 + 1

    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")
    served = requests.get(f"{endpoint['repositoryEndpoint']}{FOLDER}/{BASE}/maven-metadata.xml", auth=("aws", token))
    assert served.status_code == 200
    assert ET.fromstring(served.content).findtext("versioning/snapshot/buildNumber") == "2"

    # the rerun takes the setting from the job file instead: same identities, nothing published
    job = write_job(world["tmp"] / "job2.toml", world["urls"]["nexus"], world["urls"]["codeartifact"],
                    [{**REPOS[0], "snapshots": "timestamped"}, REPOS[1]])
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert sandbox.quota.status()["requests"].get("publish") == writes
    assert report(state)["states"] == {"same": 5, "skipped": 2}
    assert ferry("verify", str(job), "--state", state) == 0
    assert report(state)["states"] == {"same": 5, "skipped": 2}


@pytest.mark.clients
@pytest.mark.skipif(not mh.mvn_available(), reason="mvn or Debian's maven plugins are not installed")
def test_real_mvn_resolves_the_migrated_snapshot_with_its_classifier_jar(world):
    ca = world["ca"]
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress", "--snapshots",
                 "timestamped") == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    url = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")["repositoryEndpoint"]
    settings = mh.write_settings(world["tmp"] / "mvn", url, token)
    mh.get(settings, f"{GROUP}:{ARTIFACT}:{BASE}")
    mh.get(settings, f"{GROUP}:{ARTIFACT}:{BASE}:jar:sources")
    newest = build_files(NEWEST)
    for local, source in ((f"{ARTIFACT}-{BASE}.jar", f"{ARTIFACT}-2.0-{NEWEST}.jar"),
                          (f"{ARTIFACT}-{BASE}-sources.jar", f"{ARTIFACT}-2.0-{NEWEST}-sources.jar")):
        assert mh.local_file(settings, GROUP, ARTIFACT, BASE, local).read_bytes() == newest[source]


def test_a_file_only_an_older_build_holds_is_named_unmappable_not_skipped(world, sandbox):
    """A per-platform job deployed only the natives of the newest build: the SNAPSHOT's pom and jar are build 1's
    in Nexus (mvn resolves them there), and CodeArtifact serves the newest build alone. The run said exit 0 with
    them skipped as older builds; it now names them and ends as items failed, and so does verify."""
    seeder, ca, state = NexusSeeder(world["urls"]["nexus"]), world["ca"], world["state"]
    folder = f"{GROUP.replace('.', '/')}/natlib/1.0-SNAPSHOT"
    for name in ("natlib-1.0-20240102.030405-1.pom", "natlib-1.0-20240102.030405-1.jar",
                 "natlib-1.0-20240103.040506-2-natives-windows.jar"):
        data = maven_jar({"name.txt": name.encode()})
        seeder.maven_put("maven-snapshots", f"{folder}/{name}", data)
        seeder.maven_put("maven-snapshots", f"{folder}/{name}.sha1", hashlib.sha1(data).hexdigest().encode())
    assert ferry("migrate", world["job"], "--state", state, "--no-progress", "--snapshots", "timestamped") == 1
    failures = {f["key"].rpartition("/")[2]: (f["state"], f["reason"]) for f in report(state)["failures"]}
    assert failures == {name: ("unmappable", stranded_reason("", ext, "20240103.040506-2"))
                        for name, ext in (("natlib-1.0-20240102.030405-1.pom", "pom"),
                                          ("natlib-1.0-20240102.030405-1.jar", "jar"))}
    assets = ca.list_package_version_assets(domain="acme", repository="maven-store", format="maven", namespace=GROUP,
                                            package="natlib", packageVersion="1.0-SNAPSHOT")["assets"]
    assert [a["name"] for a in assets] == ["natlib-1.0-20240103.040506-2-natives-windows.jar"]
    assert ferry("verify", world["job"], "--state", state, "--snapshots", "timestamped") == 1
