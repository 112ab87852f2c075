"""Artifactory → CodeArtifact for Maven, NuGet and Swift, end to end on the stand-ins.

Maven artifacts are deployed as ``mvn deploy`` does (files, then ``.sha1``/``.md5``, then
``maven-metadata.xml``) and, where mvn is installed, by real ``mvn deploy:deploy-file``; NuGet packages
are deployed where Artifactory keeps them (at the repository root or in folders) and identified by
the ``nuget.id``/``nuget.version`` properties its indexing sets; Swift source archives sit in
Artifactory's ``<SCOPE>/<NAME>/<NAME>-<VERSION>.zip`` structure.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import pytest

import maven_helpers as mh
from artifactory_helpers import report, write_job
from artifactory_packages import unseekable_zip
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import maven_artifact, maven_filename, nupkg, swift_source_archive
from ferry.state.reader import LedgerReader


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = ArtifactorySeeder(urls["artifactory"])
    seeder.create_repository("libs-release-local", "maven")
    seeder.create_repository("nuget-local", "nuget")
    monkeypatch.setenv("ARTIFACTORY_TOKEN", seeder.token())
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    return {"urls": urls, "ca": ca, "seeder": seeder, "tmp": tmp_path, "state": str(tmp_path / "ferry.db")}


def _job(world, source: str, target: str):
    world["ca"].create_repository(domain="acme", repository=target)
    return write_job(world["tmp"] / f"{target}.toml", world["urls"]["artifactory"], world["urls"]["codeartifact"],
                     [{"source": source, "target": target}])


def _maven_assets(ca, group, artifact, version) -> dict[str, str]:
    out = ca.list_package_version_assets(domain="acme", repository="maven-store", format="maven", namespace=group,
                                         package=artifact, packageVersion=version)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def test_maven_artifacts_deployed_like_mvn_migrate_and_verify(world):
    ca, seeder, state = world["ca"], world["seeder"], world["state"]
    artifacts = {("com.acme.ferry", "greeter", v): maven_artifact("com.acme.ferry", "greeter", v) for v in
                 ("1.0.0", "1.1.0")}
    for (group, artifact, version), files in artifacts.items():
        seeder.maven("libs-release-local", group, artifact, version, files)
    job = _job(world, "libs-release-local", "maven-store")
    assert ferry("audit", str(job), "--state", state) == 0
    assert report(state)["states"] == {"planned": 6}  # pom, jar, sources jar x 2; no checksums, no metadata
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    for (group, artifact, version), files in artifacts.items():
        assert _maven_assets(ca, group, artifact, version) == {
            maven_filename(artifact, version, classifier, ext): hashlib.sha256(data).hexdigest()
            for (classifier, ext), data in files.items()}
        status = ca.describe_package_version(domain="acme", repository="maven-store", format="maven",
                                             namespace=group, package=artifact, packageVersion=version)
        assert status["packageVersion"]["status"] == "Published"
    assert ferry("verify", str(job), "--state", state) == 0
    assert report(state)["states"] == {"same": 6}


def test_the_maven_index_artifactory_keeps_in_the_repository_is_not_an_item(world):
    """Artifactory's Maven indexer writes the repository's search index into ``.index/``: derived from the
    repository, in no artifact's folder and with no place in CodeArtifact. Reported as unmappable, it made
    every audit, migrate and verify of an indexed repository end in exit 1, and no exclude could help."""
    seeder, state = world["seeder"], world["state"]
    seeder.maven("libs-release-local", "com.acme.ferry", "greeter", "1.0.0",
                 maven_artifact("com.acme.ferry", "greeter", "1.0.0"))
    for name in ("nexus-maven-repository-index.gz", "nexus-maven-repository-index.1.gz",
                 "nexus-maven-repository-index.properties"):
        seeder.deploy("libs-release-local", f".index/{name}", b"index")
    job = _job(world, "libs-release-local", "maven-store")
    assert ferry("audit", str(job), "--state", state) == 0
    assert report(state)["states"] == {"planned": 3}
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert ferry("verify", str(job), "--state", state) == 0
    assert report(state)["states"] == {"same": 3}


def test_nuget_packages_at_the_root_and_in_folders_migrate_by_their_properties(world):
    ca, seeder, state = world["ca"], world["seeder"], world["state"]
    packages = {("Acme.Logging", "1.0.0"): "Acme.Logging.1.0.0.nupkg",
                ("Acme.Logging", "1.1.0-beta"): "Acme.Logging/Acme.Logging.1.1.0-beta.nupkg",
                ("Acme.Http", "2.0.0"): "feeds/http/acme-http-build-77.nupkg"}  # a name that says nothing
    data = {}
    for (package_id, version), path in packages.items():
        data[(package_id, version)] = nupkg(package_id, version)
        seeder.deploy("nuget-local", path, data[(package_id, version)])
    job = _job(world, "nuget-local", "nuget-store")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    for (package_id, version), body in data.items():
        out = ca.list_package_version_assets(domain="acme", repository="nuget-store", format="nuget",
                                             package=package_id.lower(), packageVersion=version.lower())
        assert [(a["name"], a["hashes"]["SHA-256"]) for a in out["assets"]] == [
            (f"{package_id.lower()}.{version.lower()}.nupkg", hashlib.sha256(body).hexdigest())]
    assert ferry("verify", str(job), "--state", state) == 0
    assert report(state)["states"] == {"same": 3}


def _nupkg_nuspec_last(package_id: str, version: str) -> bytes:
    """A .nupkg whose .nuspec is its last zip entry, each entry stored with its sizes after its data (as a zip
    tool writing to a pipe does): ferry cannot read it forward from its start, so it reads it whole."""
    entries = zipfile.ZipFile(io.BytesIO(nupkg(package_id, version)))
    return unseekable_zip({info.filename: entries.read(info) for info in
                           sorted(entries.infolist(), key=lambda i: i.filename.endswith(".nuspec"))})


# NuGet packages deployed without the nuget.id/nuget.version properties Artifactory's indexing sets; path ->
# (id, version, nuspec read?). A file name that reads as more than one id and version is told by its .nuspec.
UNHINTED_NUPKGS = {
    "Acme.2.1.0.0.nupkg": ("Acme.2", "1.0.0", True),  # or Acme 2.1.0.0
    "Acme.Core.2.1.0.0.nupkg": ("Acme.Core", "2.1.0.0", True),  # or Acme.Core.2 1.0.0
    "Acme.Core.1.0.0-beta.2.nupkg": ("Acme.Core", "1.0.0-beta.2", False),  # one reading as NuGet names files
    "drops/Acme.Tools.4.1.0.0.nupkg": ("Acme.Tools.4", "1.0.0", True),  # read whole: see _nupkg_nuspec_last
}


def test_nuget_packages_without_properties_migrate_by_their_nuspec_where_the_file_name_reads_several_ways(world):
    """Without properties a package was named by the shortest id its file name allows: Acme.2.1.0.0.nupkg was
    Acme 2.1.0 and failed on every run (its .nuspec says Acme.2 1.0.0). Now a file name that reads as more than
    one id and version is told by the package's .nuspec, read from the start of the file."""
    ca, seeder, state = world["ca"], world["seeder"], world["state"]
    data = {}
    for path, (package_id, version, _) in UNHINTED_NUPKGS.items():
        build = _nupkg_nuspec_last if path.startswith("drops/") else nupkg
        data[path] = build(package_id, version)
        seeder.deploy("nuget-local", path, data[path])
        seeder.delete_properties("nuget-local", path, ["nuget.id", "nuget.version"])
    job = _job(world, "nuget-local", "nuget-store")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    for path, (package_id, version, _) in UNHINTED_NUPKGS.items():
        normalized = {"2.1.0.0": "2.1.0"}.get(version, version).lower()
        out = ca.list_package_version_assets(domain="acme", repository="nuget-store", format="nuget",
                                             package=package_id.lower(), packageVersion=normalized)
        assert [(a["name"], a["hashes"]["SHA-256"]) for a in out["assets"]] == [
            (f"{package_id.lower()}.{normalized}.nupkg", hashlib.sha256(data[path]).hexdigest())]
    reads = {path: int(read) for path, (_, _, read) in UNHINTED_NUPKGS.items()}
    assert _downloads(seeder, "nuget-local", data) == {path: 1 + reads[path] for path in data}
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0  # the rerun: nothing to publish
    assert report(state)["states"] == {"same": len(data)}
    assert _downloads(seeder, "nuget-local", data) == {path: 1 + 2 * reads[path] for path in data}


def test_a_nuget_package_whose_file_name_and_nuspec_both_fail_to_tell_it_fails_alone_saying_what_to_do(world):
    seeder, state = world["seeder"], world["state"]
    seeder.deploy("nuget-local", "Acme.Core.1.0.0.nupkg", nupkg("Acme.Core", "1.0.0"))
    seeder.deploy("nuget-local", "Acme.2.1.0.0.nupkg", b"PK\x03\x04 but not a zip" * 10)
    job = _job(world, "nuget-local", "nuget-store")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 1
    assert report(state)["states"] == {"confirmed": 1, "unmappable": 1}
    with LedgerReader(state) as reader:
        (broken,) = [r for r in reader.items() if r.state == "unmappable"]
    assert broken.asset == "Acme.2.1.0.0.nupkg"
    assert "'Acme.2.1.0.0.nupkg'" in broken.reason and "corrupt NuGet package" in broken.reason, broken.reason
    assert broken.reason.endswith("set its nuget.id and nuget.version properties in Artifactory, or replace it with "
                                  "a good package"), broken.reason


def _downloads(seeder: ArtifactorySeeder, repo: str, paths) -> dict[str, int]:
    """How many times the Artifactory stand-in served each file (its download statistics)."""
    return {p: seeder.http.get(f"{seeder.url}/api/storage/{repo}/{p}", params={"stats": ""},
                               timeout=10).json()["downloadCount"] for p in paths}


def test_swift_archives_in_artifactorys_layout_migrate(world):
    ca, seeder, state = world["ca"], world["seeder"], world["state"]
    seeder.create_repository("swift-local", "swift")
    archives = {version: swift_source_archive("Greeter", version) for version in ("1.0.0", "1.1.0-beta.1")}
    for version, data in archives.items():
        seeder.deploy("swift-local", f"acme/Greeter/Greeter-{version}.zip", data)  # <SCOPE>/<NAME>/<NAME>-<VERSION>.zip
    job = _job(world, "swift-local", "swift-store")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    for version, data in archives.items():
        out = ca.list_package_version_assets(domain="acme", repository="swift-store", format="swift",
                                             namespace="acme", package="greeter", packageVersion=version)
        assert [(a["name"], a["hashes"]["SHA-256"]) for a in out["assets"]] == [
            (f"greeter-{version}.zip", hashlib.sha256(data).hexdigest())]
    assert ferry("verify", str(job), "--state", state) == 0
    assert report(state)["states"] == {"same": 2}


@pytest.mark.clients
@pytest.mark.skipif(not mh.mvn_available(), reason="mvn or Debian's maven plugins are not installed")
def test_real_mvn_deploys_to_artifactory_and_resolves_from_codeartifact(world):
    ca, seeder, tmp = world["ca"], world["seeder"], world["tmp"]
    files = maven_artifact("com.acme.ci", "widget", "3.1.0")
    # mvn signs in as "aws" (what write_settings writes); an admin may make a token for any user name
    url = f"{world['urls']['artifactory']}/libs-release-local"
    publisher = mh.write_settings(tmp / "publisher", url, seeder.token(username="aws"))
    paths = {}
    for (classifier, ext), body in files.items():
        paths[(classifier, ext)] = tmp / f"widget-{classifier or 'main'}.{ext}"
        paths[(classifier, ext)].write_bytes(body)
    plugin = f"org.apache.maven.plugins:maven-deploy-plugin:{mh.plugin_version('maven-deploy-plugin', '3.0.0')}"
    mh.mvn(publisher, plugin + ":deploy-file", f"-Durl={url}", "-DrepositoryId=standin",
           f"-Dfile={paths[(None, 'jar')]}", f"-DpomFile={paths[(None, 'pom')]}", f"-Dsources={paths[('sources', 'jar')]}")
    job = _job(world, "libs-release-local", "maven-store")
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert ferry("verify", str(job), "--state", world["state"]) == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="maven-store", format="maven")["repositoryEndpoint"]
    consumer = mh.write_settings(tmp / "consumer", endpoint, token)
    mh.get(consumer, "com.acme.ci:widget:3.1.0")
    mh.get(consumer, "com.acme.ci:widget:3.1.0:jar:sources")
    for name, key in (("widget-3.1.0.jar", (None, "jar")), ("widget-3.1.0-sources.jar", ("sources", "jar"))):
        assert mh.local_file(consumer, "com.acme.ci", "widget", "3.1.0", name).read_bytes() == files[key]
        assert mh.came_from(consumer, "com.acme.ci", "widget", "3.1.0", name) == "standin"


def _nupkg_named_only_by_its_nuspec(world, package_id: str):
    """Deploy version 1.0.0 of ``package_id`` to ``nuget-local`` as a package only its own bytes name (no id or
    version properties, its ``.nuspec`` after a 2 MiB entry: read whole to be named); returns the job file."""
    entries = zipfile.ZipFile(io.BytesIO(nupkg(package_id, "1.0.0", body=os.urandom(2 * 1024 ** 2))))
    data = unseekable_zip({info.filename: entries.read(info) for info in
                           sorted(entries.infolist(), key=lambda i: i.filename.endswith(".nuspec"))})
    world["seeder"].deploy("nuget-local", f"{package_id}.1.0.0.nupkg", data)
    world["seeder"].delete_properties("nuget-local", f"{package_id}.1.0.0.nupkg", ["nuget.id", "nuget.version"])
    return _job(world, "nuget-local", "nuget-store")


def test_a_nuget_package_read_whole_to_learn_its_name_is_copied_into_the_spool_folder_not_tmp(world, monkeypatch):
    """Users point --spool at a big volume because the temporary folder is small; a package whose .nuspec comes
    after megabytes of other entries is copied whole while the source is listed, and that copy was made in the
    temporary folder whatever --spool said. It is made in the spool folder now, by audit and verify too."""
    import tempfile
    import traceback

    made_in = []
    temporary_file = tempfile.TemporaryFile

    def recording(*args, **kwargs):
        # Only the copies NuGet's identity read makes: the stand-ins in this process make temporary files too.
        if any(frame.filename.endswith("migrators/nuget.py") for frame in traceback.extract_stack()):
            made_in.append(kwargs.get("dir"))
        return temporary_file(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", recording)
    state, spool = world["state"], world["tmp"] / "big-volume"
    spool.mkdir()
    job = _nupkg_named_only_by_its_nuspec(world, "Acme.2")
    # audit and verify read the package to name it as migrate does, and take --spool for that copy too
    assert ferry("audit", str(job), "--state", state, "--spool", str(spool)) == 0
    assert made_in == [spool]
    assert ferry("migrate", str(job), "--state", state, "--spool", str(spool), "--no-progress") == 0
    assert report(state)["states"] == {"confirmed": 1}
    assert ferry("verify", str(job), "--state", state, "--spool", str(spool)) == 0
    assert made_in == [spool] * 3


def test_a_spool_disk_that_cannot_take_the_copy_made_to_name_a_nuget_package_stops_the_run_clearly(
        world, monkeypatch, capsys):
    """The copy a package without properties needs (its .nuspec after a 2 MiB entry) lands on a full disk: the run
    stops with the one line a full spool gives a download (exit 3), nothing is failed or published, and with
    space again the same command completes. Before, the OSError went up through the listing unexplained."""
    import tempfile
    import traceback

    temporary_file = tempfile.TemporaryFile

    def full_disk(*args, **kwargs):  # the copy NuGet's identity read makes lands on a disk with no space left
        if any(frame.filename.endswith("migrators/nuget.py") for frame in traceback.extract_stack()):
            return open("/dev/full", "w+b")
        return temporary_file(*args, **kwargs)

    state, spool = world["state"], world["tmp"] / "small-volume"
    spool.mkdir()
    job = _nupkg_named_only_by_its_nuspec(world, "Acme.3")
    monkeypatch.setattr(tempfile, "TemporaryFile", full_disk)
    assert ferry("migrate", str(job), "--state", state, "--spool", str(spool), "--no-progress") == 3
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        f"ferry: error: spool folder {spool} cannot take more (No space left on device); free space or give "
        "another --spool")
    assert "failed" not in report(state)["states"]
    monkeypatch.setattr(tempfile, "TemporaryFile", temporary_file)  # space again
    assert ferry("migrate", str(job), "--state", state, "--spool", str(spool), "--no-progress") == 0
    assert report(state)["states"] == {"confirmed": 1}
