"""The Nexus stand-in proven with real clients: nexus-api-client (generated from Nexus's OpenAPI
spec, so its pydantic models reject wrong shapes), twine + pip, npm, and cargo."""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nexus_api_client as nac
import pytest
import requests

import nexus_packages as pkgs
from ferry.sandbox.nexus import NexusApp
from ferry.sandbox.nexus.config import NexusConfig
from ferry.sandbox.web import start_server

pytestmark = pytest.mark.clients
AUTH = ("admin", "admin123")


@pytest.fixture(scope="module")
def nexus(tmp_path_factory):
    """A stand-in with pre-3.74 paging (10 per page) and 10 search hits per page, so paging is exercised."""
    app = NexusApp(tmp_path_factory.mktemp("nexus"), config=NexusConfig(page_size=10, search_page_size=10))
    server = start_server("nexus", app)
    yield server.url
    server.stop()
    app.close()


@pytest.fixture(scope="module")
def api(nexus):
    config = nac.Configuration(host=f"{nexus}/service/rest", username=AUTH[0], password=AUTH[1])
    with nac.ApiClient(config) as client:
        yield client


def storage(policy="ALLOW_ONCE"):
    return nac.HostedStorageAttributes(blob_store_name="default", strict_content_type_validation=True,
                                       write_policy=policy)


def drain(call, **kw) -> list:
    """Every item of a paged client call, following continuation tokens."""
    items, token, pages = [], None, 0
    while True:
        page = call(continuation_token=token, **kw)
        items += page.items
        pages += 1
        token = page.continuation_token
        if token is None:
            return items, pages


def test_nexus_api_client_reads_everything_and_uploads(nexus, api):
    repos = nac.RepositoryManagementApi(api)
    repos.create_maven_hosted_repository(nac.MavenHostedRepositoryApiRequest(
        name="rel", online=True, storage=storage(),
        maven=nac.MavenAttributes(version_policy="RELEASE", layout_policy="STRICT")))
    repos.create_npm_hosted_repository(nac.NpmHostedRepositoryApiRequest(name="npm-h", online=True, storage=storage()))
    repos.create_raw_hosted_repository(nac.RawHostedRepositoryApiRequest(name="raw-h", online=True,
                                                                         storage=storage("ALLOW")))
    repos.create_pypi_hosted_repository(nac.PypiHostedRepositoryApiRequest(name="py-h", online=True,
                                                                           storage=storage()))
    names = {r.name: r for r in repos.get_all_repositories()}
    assert {"rel", "npm-h", "raw-h", "py-h", "maven-releases"} <= set(names)
    assert names["rel"].format == "maven2" and names["rel"].url == f"{nexus}/repository/rel"
    assert repos.get_maven_hosted_repository("rel").maven.version_policy == "RELEASE"
    assert repos.get_npm_hosted_repository("npm-h").storage.write_policy == "ALLOW_ONCE"
    assert repos.get_repositories("py-h").format == "pypi"
    assert {s.name for s in repos.list_repository_settings()} >= {"rel", "npm-h"}

    components = nac.ComponentsApi(api)
    jar = os.urandom(300_000)
    components.create_components("rel", maven2_group_id="org.acme", maven2_artifact_id="engine",
                                 maven2_version="2.0.0", maven2_generate_pom=True, maven2_packaging="jar",
                                 maven2_asset1=("engine.jar", jar), maven2_asset1_extension="jar",
                                 maven2_asset2=("engine-src.jar", b"sources"), maven2_asset2_extension="jar",
                                 maven2_asset2_classifier="sources")
    tgz = pkgs.npm_tarball("@acme/ui", "0.3.0")
    components.create_components("npm-h", npm_asset=("ui.tgz", tgz))
    whl_name, whl = pkgs.wheel("acme-core", "1.0")
    components.create_components("py-h", pypi_asset=(whl_name, whl))
    raw_files = {f"f{i:02d}.bin": os.urandom(64) for i in range(23)}
    for i in range(0, 23, 3):  # the client's raw fields stop at asset3
        batch = list(raw_files.items())[i:i + 3]
        kw = {}
        for n, (filename, data) in enumerate(batch, 1):
            kw[f"raw_asset{n}"] = (filename, data)
            kw[f"raw_asset{n}_filename"] = filename
        components.create_components("raw-h", raw_directory="/drop", **kw)

    # components and assets, paged at 10
    comps, pages = drain(components.list_components, repository="raw-h")
    assert len(comps) == 23 and pages == 3
    assert sorted(c.name for c in comps) == sorted(f"/drop/{n}" for n in raw_files)
    assets, pages = drain(nac.AssetsApi(api).list_assets, repository="raw-h")
    assert len(assets) == 23 and pages == 3
    for a in assets:
        assert a.checksum["sha256"] and a.file_size == 64 and a.last_modified.tzinfo is not None
        assert requests.get(a.download_url, auth=AUTH).content == raw_files[a.path.rsplit("/", 1)[-1]]

    [engine] = [c for c in drain(components.list_components, repository="rel")[0] if c.name == "engine"]
    assert (engine.group, engine.version) == ("org.acme", "2.0.0")
    main = next(a for a in engine.assets if a.path == "/org/acme/engine/2.0.0/engine-2.0.0.jar")
    assert requests.get(main.download_url, auth=AUTH).content == jar  # byte for byte
    assert components.get_components(engine.id).id == engine.id
    assert nac.AssetsApi(api).get_assets(main.id).checksum == main.checksum

    # search and asset search, paged at 10 here
    search = nac.SearchApi(api)
    hits, pages = drain(search.list_search, repository="raw-h")
    assert len(hits) == 23 and pages == 3
    [ui] = search.list_search(format="npm", name="ui").items
    assert ui.group == "acme" and ui.assets[0].path == "/@acme/ui/-/ui-0.3.0.tgz"
    found = search.list_search_assets(repository="rel", maven_extension="jar", maven_classifier="sources").items
    assert [a.path for a in found] == ["/org/acme/engine/2.0.0/engine-2.0.0-sources.jar"]
    assert search.list_search(sha1=main.checksum["sha1"]).items[0].name == "engine"

    # deletes through the client
    components.delete_components(ui.id)
    assert search.list_search(format="npm", name="ui").items == []
    repos.delete_repositories("py-h")
    assert "py-h" not in {r.name for r in repos.get_all_repositories()}


def test_twine_upload_and_pip_download(nexus, tmp_path):
    session = requests.Session()
    session.auth = AUTH
    body = {"name": "pypi-twine", "online": True, "storage": {"blobStoreName": "default",
            "strictContentTypeValidation": True, "writePolicy": "ALLOW_ONCE"}}
    assert session.post(f"{nexus}/service/rest/v1/repositories/pypi/hosted", json=body).status_code == 201
    dist = tmp_path / "dist"
    dist.mkdir()
    filename, data = pkgs.wheel("twine-probe", "0.4.2")
    (dist / filename).write_bytes(data)
    env = {**os.environ, "TWINE_USERNAME": AUTH[0], "TWINE_PASSWORD": AUTH[1], "TWINE_NON_INTERACTIVE": "1"}
    twine = [sys.executable, "-m", "twine", "upload", "--disable-progress-bar",
             "--repository-url", f"{nexus}/repository/pypi-twine/"]
    done = subprocess.run(twine + [str(dist / filename)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    # a second upload is refused the way Nexus refuses it: 400 with the reason in the status line
    again = subprocess.run(twine + [str(dist / filename)], env=env, capture_output=True, text=True)
    assert again.returncode != 0 and "does not allow updating assets" in again.stdout + again.stderr

    host = nexus.split("://", 1)[1]
    index = f"http://{AUTH[0]}:{AUTH[1]}@{host}/repository/pypi-twine/simple/"
    out = tmp_path / "out"
    got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-cache-dir", "-q",
                          "--disable-pip-version-check", "--index-url", index, "-d", str(out), "twine-probe==0.4.2"],
                         capture_output=True, text=True)
    assert got.returncode == 0, got.stdout + got.stderr
    assert (out / filename).read_bytes() == data


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm not installed")
def test_npm_reads_packument_and_tarball(nexus, tmp_path):
    session = requests.Session()
    session.auth = AUTH
    body = {"name": "npm-read", "online": True, "storage": {"blobStoreName": "default",
            "strictContentTypeValidation": True, "writePolicy": "ALLOW_ONCE"}}
    assert session.post(f"{nexus}/service/rest/v1/repositories/npm/hosted", json=body).status_code == 201
    tgz = pkgs.npm_tarball("@acme/probe", "1.0.1")
    r = session.post(f"{nexus}/service/rest/v1/components", params={"repository": "npm-read"},
                     files={"npm.asset": ("p.tgz", tgz)})
    assert r.status_code == 204
    registry = f"{nexus}/repository/npm-read/"
    npmrc = tmp_path / ".npmrc"
    token = base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    npmrc.write_text(f"registry={registry}\n//{registry.split('://', 1)[1]}:_auth={token}\n")
    env = {**os.environ, "npm_config_userconfig": str(npmrc), "npm_config_cache": str(tmp_path / "cache"),
           "npm_config_update_notifier": "false", "npm_config_audit": "false", "npm_config_fund": "false"}
    done = subprocess.run(["npm", "pack", "@acme/probe@1.0.1", "--pack-destination", str(tmp_path)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (tmp_path / "acme-probe-1.0.1.tgz").read_bytes() == tgz


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo not installed")
def test_cargo_publish_and_fetch(nexus, tmp_path):
    session = requests.Session()
    session.auth = AUTH
    body = {"name": "crates", "online": True, "storage": {"blobStoreName": "default",
            "strictContentTypeValidation": True, "writePolicy": "ALLOW_ONCE"}}
    assert session.post(f"{nexus}/service/rest/v1/repositories/cargo/hosted", json=body).status_code == 201
    config = (f'[registries.nexus]\nindex = "sparse+{nexus}/repository/crates/"\n'
              'credential-provider = "cargo:token"\n')
    token = "Basic " + base64.b64encode(f"{AUTH[0]}:{AUTH[1]}".encode()).decode()
    env = {**os.environ, "CARGO_HOME": str(tmp_path / "cargo-home"), "CARGO_REGISTRIES_NEXUS_TOKEN": token,
           "CARGO_TERM_COLOR": "never"}
    lib = _crate(tmp_path / "probe_lib", "[lib]\npath = \"lib.rs\"\n", config)
    (lib / "lib.rs").write_text("pub fn answer() -> u32 { 42 }\n")
    done = subprocess.run(["cargo", "publish", "--registry", "nexus", "--allow-dirty", "--no-verify"], cwd=lib,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    user = _crate(tmp_path / "probe_user", '[dependencies]\nprobe_lib = { version = "0.1.0", registry = "nexus" }\n'
                  '[[bin]]\nname = "probe_user"\npath = "main.rs"\n', config)
    (user / "main.rs").write_text("fn main() { println!(\"{}\", probe_lib::answer()); }\n")
    fetched = subprocess.run(["cargo", "fetch"], cwd=user, env=env, capture_output=True, text=True, timeout=300)
    assert fetched.returncode == 0, fetched.stderr
    [cached] = list((tmp_path / "cargo-home" / "registry" / "cache").glob("*/probe_lib-0.1.0.crate"))
    [comp] = session.get(f"{nexus}/service/rest/v1/search", params={"repository": "crates"}).json()["items"]
    assert (comp["name"], comp["version"]) == ("probe_lib", "0.1.0")
    assert session.get(comp["assets"][0]["downloadUrl"]).content == cached.read_bytes()


def _crate(folder: Path, manifest_tail: str, cargo_config: str) -> Path:
    folder.mkdir()
    (folder / ".cargo").mkdir()
    (folder / ".cargo" / "config.toml").write_text(cargo_config)
    (folder / "Cargo.toml").write_text(f'[package]\nname = "{folder.name}"\nversion = "0.1.0"\nedition = "2021"\n'
                                       f'description = "probe"\nlicense = "MIT"\n{manifest_tail}')
    return folder


_MAVEN_REPO = Path("/usr/share/maven-repo")
_PLUGINS = _MAVEN_REPO / "org/apache/maven/plugins"
_JAR = _MAVEN_REPO / "commons-io/commons-io/2.11.0/commons-io-2.11.0.jar"


@pytest.mark.skipif(shutil.which("mvn") is None or not (_PLUGINS / "maven-deploy-plugin/3.0.0").is_dir()
                    or not (_PLUGINS / "maven-dependency-plugin/3.5.0").is_dir() or not _JAR.is_file(),
                    reason="needs mvn and Debian's maven-deploy/dependency plugins (see maven-offline notes)")
def test_mvn_deploy_file_and_dependency_get(nexus, tmp_path):
    repo_url = f"{nexus}/repository/maven-releases/"

    def settings(local: str) -> Path:
        path = tmp_path / f"settings-{local}.xml"
        path.write_text(f"""<settings><localRepository>{tmp_path / local}</localRepository>
  <servers><server><id>standin</id><username>{AUTH[0]}</username><password>{AUTH[1]}</password></server></servers>
  <profiles><profile><id>p</id>
    <repositories><repository><id>standin</id><url>{repo_url}</url></repository></repositories>
    <pluginRepositories><pluginRepository><id>debian</id><url>file://{_MAVEN_REPO}</url></pluginRepository>
    </pluginRepositories></profile></profiles>
  <activeProfiles><activeProfile>p</activeProfile></activeProfiles>
  <mirrors><mirror><id>nocentral</id><mirrorOf>central</mirrorOf><url>file://{_MAVEN_REPO}</url></mirror></mirrors>
</settings>""")
        return path

    deploy = ["mvn", "-B", "-q", "-s", str(settings("m2-deploy")),
              "org.apache.maven.plugins:maven-deploy-plugin:3.0.0:deploy-file", f"-Durl={repo_url}",
              "-DrepositoryId=standin", f"-Dfile={_JAR}", "-DgroupId=org.probe", "-DartifactId=probe-io",
              "-Dversion=2.11.0", "-Dpackaging=jar", "-DgeneratePom=true"]
    done = subprocess.run(deploy, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    get = ["mvn", "-B", "-q", "-s", str(settings("m2-get")),
           "org.apache.maven.plugins:maven-dependency-plugin:3.5.0:get", "-Dartifact=org.probe:probe-io:2.11.0",
           "-Dtransitive=false"]
    done = subprocess.run(get, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    fetched = tmp_path / "m2-get/org/probe/probe-io/2.11.0/probe-io-2.11.0.jar"
    assert fetched.read_bytes() == _JAR.read_bytes()
    [comp] = requests.get(f"{nexus}/service/rest/v1/search", auth=AUTH,
                          params={"repository": "maven-releases", "name": "probe-io"}).json()["items"]
    paths = {a["path"] for a in comp["assets"]}
    assert "/org/probe/probe-io/2.11.0/probe-io-2.11.0.pom" in paths
    assert "/org/probe/probe-io/2.11.0/probe-io-2.11.0.jar.sha1" in paths
