"""The CodeArtifact stand-in's Maven endpoint proven with real ``mvn``: deploy-file publishes (files,
checksums, metadata), dependency:get resolves (with checksum checks on), snapshots, Unfinished hidden."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
import requests

import maven_helpers as mh
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import maven_artifact, maven_jar, maven_pom

pytestmark = [pytest.mark.clients,
              pytest.mark.skipif(not mh.mvn_available("maven-deploy-plugin"),
                                 reason="mvn or Debian's maven plugins are not installed")]


@pytest.fixture(scope="module")
def ca(module_sandbox):
    store = module_sandbox.apps["codeartifact"].store
    domain = store.create_domain("us-east-1", "111122223333", "mvnclients")
    repo = store.create_repository(domain, "releases")
    token, _ = store.issue_token(domain, 3600)
    return {"store": store, "repo": repo, "token": token,
            "url": endpoint_url(module_sandbox.urls()["codeartifact"], domain, repo.name, "maven")}


def deploy(settings, url, group, artifact, version, files, tmp_path):
    """``mvn deploy:deploy-file`` of a POM + jar (+ sources jar) to the stand-in."""
    paths = {}
    for (classifier, ext), data in files.items():
        path = tmp_path / f"{artifact}-{classifier or 'main'}.{ext}"
        path.write_bytes(data)
        paths[(classifier, ext)] = path
    args = [f"org.apache.maven.plugins:maven-deploy-plugin:{mh.plugin_version('maven-deploy-plugin', '3.0.0')}"
            ":deploy-file", f"-Durl={url}", "-DrepositoryId=standin", f"-Dfile={paths[(None, 'jar')]}",
            f"-DpomFile={paths[(None, 'pom')]}"]
    if ("sources", "jar") in paths:
        args.append(f"-Dsources={paths[('sources', 'jar')]}")
    return mh.mvn(settings, *args)


def version_of(ca, group, artifact, version):
    pkg = ca["store"].package(ca["repo"], "maven", group, artifact)
    return ca["store"].version(pkg, version) if pkg else None


def test_mvn_deploy_file_then_dependency_get(ca, tmp_path):
    files = maven_artifact("com.acme.clients", "widget", "1.0.0")
    publisher = mh.write_settings(tmp_path / "publisher", ca["url"], ca["token"])
    out = deploy(publisher, ca["url"], "com.acme.clients", "widget", "1.0.0", files, tmp_path)
    assert "widget/maven-metadata.xml" in out.stdout  # mvn uploaded the metadata last
    ver = version_of(ca, "com.acme.clients", "widget", "1.0.0")
    assert ver.status == "Published"
    assets = {a.name: a.sha256 for a in ca["store"].assets(ver)}
    assert assets == {f"widget-1.0.0{suffix}": hashlib.sha256(files[key]).hexdigest()
                      for suffix, key in ((".jar", (None, "jar")), (".pom", (None, "pom")),
                                          ("-sources.jar", ("sources", "jar")))}

    consumer = mh.write_settings(tmp_path / "consumer", ca["url"], ca["token"])
    mh.get(consumer, "com.acme.clients:widget:1.0.0")
    mh.get(consumer, "com.acme.clients:widget:1.0.0:jar:sources")
    for name, key in (("widget-1.0.0.jar", (None, "jar")), ("widget-1.0.0-sources.jar", ("sources", "jar"))):
        assert mh.local_file(consumer, "com.acme.clients", "widget", "1.0.0", name).read_bytes() == files[key]
        assert mh.came_from(consumer, "com.acme.clients", "widget", "1.0.0", name) == "standin"


def test_mvn_snapshot_deploys_resolve_to_the_newest_build(ca, tmp_path):
    publisher = mh.write_settings(tmp_path / "publisher", ca["url"], ca["token"])
    builds = []
    for n in (1, 2):
        files = maven_artifact("com.acme.clients", "nightly", "2.0-SNAPSHOT", sources=False)
        files[(None, "jar")] = maven_jar({"build.txt": f"build {n}\n".encode()})  # each build differs
        deploy(publisher, ca["url"], "com.acme.clients", "nightly", "2.0-SNAPSHOT", files, tmp_path)
        builds.append(files[(None, "jar")])
    ver = version_of(ca, "com.acme.clients", "nightly", "2.0-SNAPSHOT")
    assert ver.status == "Published"
    jars = [a.name for a in ca["store"].assets(ver) if a.name.endswith(".jar")]
    assert len(jars) == 2 and all(name.startswith("nightly-2.0-") and "SNAPSHOT" not in name for name in jars)

    consumer = mh.write_settings(tmp_path / "consumer", ca["url"], ca["token"])
    mh.get(consumer, "com.acme.clients:nightly:2.0-SNAPSHOT")
    got = mh.local_file(consumer, "com.acme.clients", "nightly", "2.0-SNAPSHOT", "nightly-2.0-SNAPSHOT.jar")
    assert got.read_bytes() == builds[-1]


def test_mvn_cannot_resolve_an_unfinished_version(ca, tmp_path):
    http = requests.Session()
    http.auth = ("aws", ca["token"])
    base = f"{ca['url']}com/acme/clients/halfway/1.0/halfway-1.0"
    jar = maven_artifact("com.acme.clients", "halfway", "1.0", sources=False)[(None, "jar")]
    assert http.put(f"{base}.jar", data=jar).status_code == 201
    assert http.put(f"{base}.pom", data=maven_pom("com.acme.clients", "halfway", "1.0")).status_code == 201
    consumer = mh.write_settings(tmp_path / "consumer", ca["url"], ca["token"])
    with pytest.raises(AssertionError, match="Could not (find|resolve) artifact"):
        mh.get(consumer, "com.acme.clients:halfway:1.0")
    assert version_of(ca, "com.acme.clients", "halfway", "1.0").status == "Unfinished"


def test_plugin_version_is_the_one_debian_ships():
    assert (mh.PLUGINS / "maven-dependency-plugin" / mh.plugin_version("maven-dependency-plugin", "3.5.0")).is_dir()
    assert subprocess.run(["mvn", "-v"], capture_output=True).returncode == 0
