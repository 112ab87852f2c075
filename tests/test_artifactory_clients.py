"""The Artifactory stand-in proven with real clients: pyartifactory and dohq-artifactory list, stat,
download, deploy and read properties from it (and dohq runs AQL), without errors; npm publishes to and
installs from its npm API; twine uploads to and pip downloads from its PyPI API."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys

import pytest
import requests

import clients

from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import npm_tarball, sdist, wheel

pytestmark = pytest.mark.clients
pyartifactory = pytest.importorskip("pyartifactory")
dohq = pytest.importorskip("artifactory")


@pytest.fixture(scope="module")
def art(module_sandbox):
    url = module_sandbox.urls()["artifactory"]
    seeder = ArtifactorySeeder(url)
    seeder.create_repository("npm-local", "npm")
    seeder.create_repository("pypi-local", "pypi")
    tgz = npm_tarball("@acme/ui-kit", "2.0.0")
    path = seeder.npm("npm-local", "@acme/ui-kit", "2.0.0", tgz)
    fname, whl = wheel("acme-utils", "1.2.3")
    seeder.pypi("pypi-local", "acme-utils", "1.2.3", fname, whl)
    return {"url": url, "token": seeder.token(), "npm_path": path, "tgz": tgz, "whl": whl, "whl_name": fname}


def _pyart(art, token: bool):
    from pydantic import SecretStr

    if token:
        return pyartifactory.Artifactory(url=art["url"], access_token=art["token"])
    return pyartifactory.Artifactory(url=art["url"], auth=("admin", SecretStr("password")))


@pytest.mark.parametrize("token", [False, True], ids=["basic", "bearer"])
def test_pyartifactory_lists_stats_downloads(art, tmp_path, token):
    client = _pyart(art, token)
    repos = {r.key: r for r in client.repositories.list()}
    assert repos["npm-local"].packageType == "Npm" and repos["npm-local"].type == "LOCAL"
    assert client.repositories.get_repo("pypi-local").packageType.value == "pypi"
    listing = client.artifacts.list("npm-local")
    files = [f.uri for f in listing.files if not f.folder]
    assert files == ["/" + art["npm_path"]]
    info = client.artifacts.info(f"npm-local/{art['npm_path']}")
    assert info.size == len(art["tgz"]) and info.checksums.sha256 == hashlib.sha256(art["tgz"]).hexdigest()
    folder = client.artifacts.info("npm-local/@acme/ui-kit")
    assert [c.uri for c in folder.children] == ["/-"]
    props = client.artifacts.properties(f"npm-local/{art['npm_path']}")
    assert props.properties == {"npm.name": ["@acme/ui-kit"], "npm.version": ["2.0.0"]}
    got = client.artifacts.download(f"pypi-local/acme-utils/1.2.3/{art['whl_name']}", str(tmp_path))
    assert got.read_bytes() == art["whl"]
    # and a whole folder, through its folder/file info walk
    (tmp_path / "tree").mkdir()  # the client creates folders below it, not the folder itself
    tree = client.artifacts.download("npm-local/@acme", str(tmp_path / "tree"))
    assert (tree / "ui-kit" / "-" / "@acme" / "ui-kit-2.0.0.tgz").read_bytes() == art["tgz"]


def test_pyartifactory_deploys_with_properties_and_by_checksum(art, tmp_path):
    client = _pyart(art, token=False)
    local = tmp_path / "report.txt"
    local.write_bytes(b"release report")
    info = client.artifacts.deploy(local, "pypi-local/reports/report.txt", properties={"build": ["41", "42"]})
    assert info.checksums.sha1 == hashlib.sha1(b"release report").hexdigest()
    again = client.artifacts.deploy(local, "pypi-local/reports/copy.txt", checksum_enabled=True)
    assert again.size == len(b"release report")
    client.artifacts.set_properties("pypi-local/reports/report.txt", {"qa": ["ok"]})
    props = client.artifacts.properties("pypi-local/reports/report.txt").properties
    assert props == {"build": ["41", "42"], "qa": ["ok"]}


def test_dohq_artifactory_lists_stats_downloads_and_runs_aql(art, tmp_path):
    root = dohq.ArtifactoryPath(f"{art['url']}/npm-local", auth=("admin", "password"))
    assert [p.name for p in root.iterdir()] == ["@acme"]
    found = list(root.glob("**/*.tgz"))
    assert [str(p) for p in found] == [f"{art['url']}/npm-local/{art['npm_path']}"]
    stat = found[0].stat()
    assert stat.size == len(art["tgz"]) and stat.sha256 == hashlib.sha256(art["tgz"]).hexdigest()
    assert not stat.is_dir and found[0].is_file()
    assert found[0].properties == {"npm.name": ["@acme/ui-kit"], "npm.version": ["2.0.0"]}
    with found[0].open() as fd:
        assert fd.read() == art["tgz"]
    found[0].writeto(str(tmp_path / "copy.tgz"))
    assert (tmp_path / "copy.tgz").read_bytes() == art["tgz"]
    results = root.aql("items.find", {"repo": "pypi-local", "name": {"$match": "*.whl"}})
    assert [(r["path"], r["name"]) for r in results] == [("acme-utils/1.2.3", art["whl_name"])]
    assert str(root.from_aql(results[0])).endswith(f"/pypi-local/acme-utils/1.2.3/{art['whl_name']}")
    assert {r.name for r in root.get_repositories()} >= {"npm-local", "pypi-local", "example-repo-local"}


def test_dohq_artifactory_deploys_with_properties_and_the_api_key_header(art, tmp_path):
    key = requests.post(f"{art['url']}/api/security/apiKey", auth=("admin", "password")).json().get("apiKey") \
        or requests.get(f"{art['url']}/api/security/apiKey", auth=("admin", "password")).json()["apiKey"]
    local = tmp_path / "tool.bin"
    local.write_bytes(b"\x00tool")
    target = dohq.ArtifactoryPath(f"{art['url']}/pypi-local/tools/tool.bin", apikey=key)
    target.deploy_file(str(local), parameters={"os": "linux", "arch": ["x64", "arm64"]})
    assert target.properties == {"arch": ["x64", "arm64"], "os": ["linux"]}
    assert target.stat().sha256 == hashlib.sha256(b"\x00tool").hexdigest()
    assert target.read_bytes() == b"\x00tool"


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_publishes_to_and_installs_from_the_npm_api(art, tmp_path):
    registry = f"{art['url']}/api/npm/npm-local/"
    home = tmp_path / "home"
    clients.npm_login(home, registry, art["token"])  # npm then sends Bearer <token>
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": "@acme/published", "version": "0.3.0",
                                                      "main": "index.js"}))
    (package / "index.js").write_text("module.exports = 'published';\n")
    clients.npm(home, registry, "publish", "--tag", "next", cwd=package)
    again = clients.npm(home, registry, "publish", "--tag", "next", cwd=package, check=False)
    assert again.returncode != 0  # no publishing over an existing version
    project = tmp_path / "project"
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    clients.npm(home, registry, "install", "@acme/published@next", "@acme/ui-kit@2.0.0", cwd=project)
    assert (project / "node_modules/@acme/published/index.js").read_text() == "module.exports = 'published';\n"
    assert json.loads((project / "node_modules/@acme/ui-kit/package.json").read_text())["version"] == "2.0.0"
    props = requests.get(f"{art['url']}/api/storage/npm-local/@acme/published/-/@acme/published-0.3.0.tgz"
                         "?properties", auth=("admin", "password")).json()["properties"]
    assert props == {"npm.name": ["@acme/published"], "npm.version": ["0.3.0"]}


def test_twine_uploads_to_and_pip_installs_from_the_pypi_api(art, tmp_path):
    dist = tmp_path / "dist"
    dist.mkdir()
    files = [wheel("Twine.Probe", "0.4.2"), sdist("Twine.Probe", "0.4.2")]
    for filename, data in files:
        (dist / filename).write_bytes(data)
    env = {**clients.clean_pip_env(), "TWINE_USERNAME": "admin", "TWINE_PASSWORD": art["token"],
           "TWINE_NON_INTERACTIVE": "1"}
    twine = [sys.executable, "-m", "twine", "upload", "--disable-progress-bar",
             "--repository-url", f"{art['url']}/api/pypi/pypi-local"]
    done = subprocess.run(twine + [str(dist / f) for f, _ in files], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    again = subprocess.run(twine + [str(dist / files[0][0])], env=env, capture_output=True, text=True)
    assert again.returncode != 0 and "409" in again.stdout + again.stderr
    # where Artifactory keeps PyPI uploads, indexed
    props = requests.get(f"{art['url']}/api/storage/pypi-local/twine-probe/0.4.2/{files[0][0]}?properties",
                         auth=("admin", "password")).json()["properties"]
    assert props == {"pypi.name": ["Twine.Probe"], "pypi.version": ["0.4.2"],
                     "pypi.normalized.name": ["twine-probe"]}
    scheme, rest = art["url"].split("://", 1)
    index = f"{scheme}://admin:password@{rest}/api/pypi/pypi-local/simple/"
    clients.pip(index, "download", "--dest", str(tmp_path / "dl"), "twine.probe==0.4.2",
                "acme-utils==1.2.3", "--only-binary=:all:")
    assert (tmp_path / "dl" / files[0][0]).read_bytes() == files[0][1]
    assert (tmp_path / "dl" / art["whl_name"]).read_bytes() == art["whl"]
