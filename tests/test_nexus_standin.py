"""The Nexus 3 stand-in over plain HTTP: repositories, per-format uploads, layouts, paging, search, auth,
persistence. Client-library proofs (nexus-api-client, twine, ...) are in test_nexus_clients.py."""

from __future__ import annotations

import base64
import hashlib

import pytest
import requests

import nexus_packages as pkgs
from ferry.sandbox.nexus import NexusApp
from ferry.sandbox.nexus.config import NexusConfig
from ferry.sandbox.web import start_server

AUTH = ("admin", "admin123")
V1 = "/service/rest/v1"


class Nexus:
    """A running stand-in plus an authenticated session."""

    def __init__(self, url: str, app: NexusApp):
        self.url, self.app = url, app
        self.http = requests.Session()
        self.http.auth = AUTH

    def v1(self, method: str, path: str, **kw) -> requests.Response:
        return self.http.request(method, f"{self.url}{V1}{path}", **kw)

    def create(self, fmt: str, name: str, write_policy: str = "ALLOW_ONCE", **extra) -> None:
        body = {"name": name, "online": True, "storage": {"blobStoreName": "default",
                "strictContentTypeValidation": True, "writePolicy": write_policy}, **extra}
        if fmt == "maven" and "maven" not in extra:
            body["maven"] = {"versionPolicy": "RELEASE", "layoutPolicy": "STRICT"}
        r = self.v1("POST", f"/repositories/{fmt}/hosted", json=body)
        assert r.status_code == 201, r.text

    def upload(self, repo: str, files: dict, data: dict | None = None) -> requests.Response:
        return self.v1("POST", "/components", params={"repository": repo}, files=files, data=data or {})

    def all(self, kind: str, repo: str) -> list[dict]:
        items, token = [], None
        while True:
            params = {"repository": repo, **({"continuationToken": token} if token else {})}
            body = self.v1("GET", f"/{kind}", params=params).json()
            items += body["items"]
            token = body["continuationToken"]
            if token is None:
                return items

    def component(self, repo: str, name: str, version: str | None = None) -> dict:
        found = [c for c in self.all("components", repo) if c["name"] == name
                 and (version is None or c["version"] == version)]
        assert len(found) == 1, found
        return found[0]


@pytest.fixture
def nexus(sandbox) -> Nexus:
    return Nexus(sandbox.urls()["nexus"], sandbox.apps["nexus"])


@pytest.fixture
def make_nexus(tmp_path):
    """Start stand-ins with a chosen config (and data folder); all stopped at the end."""
    running = []

    def make(config: NexusConfig | None = None, data=None) -> Nexus:
        app = NexusApp(data or tmp_path / "nexus", config=config or NexusConfig())
        server = start_server("nexus", app)
        running.append((server, app))
        nx = Nexus(server.url, app)
        nx.stop = lambda: (server.stop(), app.close())
        return nx

    yield make
    for server, app in running:
        server.stop()
        app.close()


def sums(data: bytes) -> dict[str, str]:
    return {n: hashlib.new(n, data).hexdigest() for n in ("sha1", "md5", "sha256", "sha512")}


# -- auth ---------------------------------------------------------------------------------------------

def test_requests_without_valid_credentials_are_refused(nexus):
    for auth in (None, ("admin", "wrong"), ("nobody", "admin123")):
        r = requests.get(f"{nexus.url}{V1}/repositories", auth=auth)
        assert r.status_code == 401
        assert r.headers["WWW-Authenticate"].upper().startswith("BASIC")
        r = requests.get(f"{nexus.url}/repository/maven-releases/a/b/1/b-1.jar", auth=auth)
        assert r.status_code == 401
    assert requests.get(f"{nexus.url}{V1}/status").status_code == 200
    assert nexus.v1("GET", "/repositories").status_code == 200


def test_anonymous_read_when_enabled_but_never_anonymous_writes(make_nexus):
    nx = make_nexus(NexusConfig(anonymous_read=True))
    nx.create("raw", "files")
    assert nx.http.put(f"{nx.url}/repository/files/a.txt", data=b"hello").status_code == 201
    assert requests.get(f"{nx.url}/repository/files/a.txt").content == b"hello"
    assert requests.get(f"{nx.url}{V1}/components", params={"repository": "files"}).status_code == 200
    assert requests.put(f"{nx.url}/repository/files/b.txt", data=b"x").status_code == 401


# -- repositories -------------------------------------------------------------------------------------

def test_repository_management(nexus):
    for fmt in ("npm", "pypi", "raw", "maven", "nuget", "rubygems", "cargo"):
        nexus.create(fmt, f"{fmt}-h")
    listed = {r["name"]: r for r in nexus.v1("GET", "/repositories").json()}
    assert listed["maven-h"] == {"name": "maven-h", "format": "maven2", "type": "hosted",
                                      "url": f"{nexus.url}/repository/maven-h", "attributes": {}}
    assert listed["maven-central"]["attributes"] == {"proxy": {"remoteUrl": "https://repo1.maven.org/maven2/"}}
    assert nexus.v1("GET", "/repositories/npm-h").json()["format"] == "npm"
    detail = nexus.v1("GET", "/repositories/maven/hosted/maven-h").json()
    assert detail["storage"]["writePolicy"] == "ALLOW_ONCE" and detail["maven"]["versionPolicy"] == "RELEASE"

    again = {"name": "NPM-H", "online": True, "storage": {"blobStoreName": "default",
             "strictContentTypeValidation": True, "writePolicy": "ALLOW"}}
    assert nexus.v1("POST", "/repositories/npm/hosted", json=again).status_code == 400
    bad = nexus.v1("POST", "/repositories/maven/hosted", json={"name": "m2", "online": True})
    assert bad.status_code == 400
    assert {e["id"] for e in bad.json()} >= {"PARAMETER storage", "PARAMETER maven"}

    assert nexus.v1("DELETE", "/repositories/npm-h").status_code == 204
    assert nexus.v1("GET", "/repositories/npm-h").status_code == 404
    assert nexus.v1("DELETE", "/repositories/npm-h").status_code == 404


# -- per-format uploads -------------------------------------------------------------------------------

def test_npm_upload_identity_and_packument(nexus):
    nexus.create("npm", "npm-h")
    tgz = pkgs.npm_tarball("@acme/widget", "1.2.3")
    assert nexus.upload("npm-h", {"npm.asset": ("w.tgz", tgz)}).status_code == 204
    assert nexus.upload("npm-h", {"npm.asset": ("p.tgz", pkgs.npm_tarball("plain", "0.1.0"))}).status_code == 204
    comp = nexus.component("npm-h", "widget")
    assert (comp["group"], comp["version"], comp["format"]) == ("acme", "1.2.3", "npm")
    [asset] = comp["assets"]
    assert asset["path"] == "/@acme/widget/-/widget-1.2.3.tgz"
    assert asset["checksum"] == sums(tgz) and asset["fileSize"] == len(tgz)
    assert asset["npm"] == {"name": "@acme/widget", "version": "1.2.3"}
    assert nexus.component("npm-h", "plain")["group"] is None
    assert nexus.http.get(asset["downloadUrl"]).content == tgz
    packument = nexus.http.get(f"{nexus.url}/repository/npm-h/@acme%2fwidget").json()
    assert packument["versions"]["1.2.3"]["dist"]["tarball"] == asset["downloadUrl"]
    paths = {a["path"] for a in nexus.all("assets", "npm-h")}
    assert {"/@acme/widget", "/plain"} <= paths  # component-less packuments are listed as assets
    again = nexus.upload("npm-h", {"npm.asset": ("w.tgz", tgz)})
    assert again.status_code == 400 and "does not allow updating assets" in again.text


def test_pypi_upload_wheel_and_sdist(nexus):
    nexus.create("pypi", "py")
    whl_name, whl = pkgs.wheel("Foo.Bar_baz", "2.0.1")
    sd_name, sd = pkgs.sdist("Foo.Bar_baz", "2.0.1")
    for filename, data in ((whl_name, whl), (sd_name, sd)):
        assert nexus.upload("py", {"pypi.asset": (filename, data)}).status_code == 204
    comp = nexus.component("py", "Foo.Bar_baz")
    assert comp["version"] == "2.0.1" and comp["group"] is None
    paths = sorted(a["path"] for a in comp["assets"])
    assert paths == sorted(f"/packages/foo-bar-baz/2.0.1/{n}" for n in (whl_name, sd_name))
    page = nexus.http.get(f"{nexus.url}/repository/py/simple/foo-bar-baz/").text
    assert f"#sha256={hashlib.sha256(whl).hexdigest()}" in page
    bad = nexus.upload("py", {"pypi.asset": ("junk-1.0.tar.gz", b"not a tarball")})
    assert bad.status_code == 400


def test_raw_upload_directory_and_filenames(nexus):
    nexus.create("raw", "files")
    r = nexus.upload("files", {"raw.asset1": ("ignored", b"one"), "raw.asset2": ("ignored", b"two")},
                     {"raw.directory": "/docs//v1/", "raw.asset1.filename": "a.txt",
                      "raw.asset2.filename": "sub/b.bin"})
    assert r.status_code == 204
    comps = {c["name"]: c for c in nexus.all("components", "files")}
    assert set(comps) == {"/docs/v1/a.txt", "/docs/v1/sub/b.bin"}
    assert comps["/docs/v1/a.txt"]["group"] == "/docs/v1" and comps["/docs/v1/a.txt"]["version"] == ""
    assert comps["/docs/v1/sub/b.bin"]["group"] == "/docs/v1/sub"
    assert nexus.http.get(f"{nexus.url}/repository/files/docs/v1/sub/b.bin").content == b"two"
    missing = nexus.upload("files", {"raw.asset1": ("x", b"x")}, {"raw.directory": "d"})
    assert missing.status_code == 400 and "Filename" in missing.json()[0]["message"]


def test_maven_upload_fields_subordinates_and_metadata(nexus):
    nexus.create("maven", "releases")
    jar, sources = b"PK jar bytes", b"PK sources"
    r = nexus.upload("releases", {"maven2.asset1": ("x.jar", jar), "maven2.asset2": ("y.jar", sources)},
                     {"maven2.groupId": "com.example.deep", "maven2.artifactId": "app", "maven2.version": "1.4.0",
                      "maven2.generate-pom": "true", "maven2.packaging": "jar", "maven2.asset1.extension": "jar",
                      "maven2.asset2.extension": "jar", "maven2.asset2.classifier": "sources"})
    assert r.status_code == 204, r.text
    comp = nexus.component("releases", "app")
    assert (comp["group"], comp["version"]) == ("com.example.deep", "1.4.0")
    by_path = {a["path"]: a for a in comp["assets"]}
    base = "/com/example/deep/app/1.4.0/app-1.4.0"
    for main, data in ((f"{base}.jar", jar), (f"{base}-sources.jar", sources)):
        assert by_path[main]["checksum"] == sums(data)
        for name, digest in sums(data).items():
            sub = by_path[f"{main}.{name}"]
            assert nexus.http.get(sub["downloadUrl"]).text == digest
    assert by_path[f"{base}-sources.jar"]["maven2"] == {"groupId": "com.example.deep", "artifactId": "app",
                                                        "version": "1.4.0", "extension": "jar",
                                                        "classifier": "sources"}
    pom = nexus.http.get(by_path[f"{base}.pom"]["downloadUrl"]).text
    assert "<artifactId>app</artifactId>" in pom and "<packaging>jar</packaging>" in pom
    metadata = nexus.http.get(f"{nexus.url}/repository/releases/com/example/deep/app/maven-metadata.xml").text
    assert "<version>1.4.0</version>" in metadata
    component_less = [a["path"] for a in nexus.all("assets", "releases") if "maven-metadata" in a["path"]]
    assert len(component_less) == 5  # the file and its four checksums

    # the POM's own coordinates win when a POM is uploaded; ALLOW_ONCE refuses a second upload
    pom2 = b"<project><groupId>org.x</groupId><artifactId>lib</artifactId><version>2.0</version></project>"
    pom_only = nexus.upload("releases", {"maven2.asset1": ("p", pom2)}, {"maven2.asset1.extension": "pom"})
    assert pom_only.status_code == 204
    assert nexus.component("releases", "lib")["group"] == "org.x"
    again = nexus.upload("releases", {"maven2.asset1": ("p", pom2)}, {"maven2.asset1.extension": "pom"})
    assert again.status_code == 400 and "does not allow updating assets" in again.text
    snap = nexus.upload("releases", {"maven2.asset1": ("j", jar)},
                        {"maven2.groupId": "g", "maven2.artifactId": "a", "maven2.version": "1.0-SNAPSHOT",
                         "maven2.asset1.extension": "jar"})
    assert snap.status_code == 400 and "Version policy mismatch" in snap.json()[0]["message"]
    to_snapshots = nexus.upload("maven-snapshots", {"maven2.asset1": ("j", jar)},
                                {"maven2.groupId": "g", "maven2.artifactId": "a", "maven2.version": "1.0-SNAPSHOT",
                                 "maven2.asset1.extension": "jar"})
    assert to_snapshots.status_code == 400 and "snapshot repositories not supported" in to_snapshots.text


def test_nuget_and_rubygems_uploads(nexus):
    nexus.create("nuget", "nu")
    nexus.create("rubygems", "gems")
    assert nexus.upload("nu", {"nuget.asset": ("x.nupkg", pkgs.nupkg("Acme.Tools", "3.1.0"))}).status_code == 204
    comp = nexus.component("nu", "Acme.Tools")
    assert comp["version"] == "3.1.0" and comp["assets"][0]["path"] == "/Acme.Tools/3.1.0"
    gem = pkgs.gem("shiny", "0.9.2")
    assert nexus.upload("gems", {"rubygems.asset": ("s.gem", gem)}).status_code == 204
    comp = nexus.component("gems", "shiny")
    assert comp["version"] == "0.9.2" and comp["assets"][0]["path"] == "/gems/shiny-0.9.2.gem"
    assert nexus.http.get(comp["assets"][0]["downloadUrl"]).content == gem


def test_put_raw_and_maven_like_curl_and_mvn_deploy(nexus):
    nexus.create("raw", "files", write_policy="ALLOW")
    body = bytes(range(256)) * 4096
    chunks = (body[i:i + 65536] for i in range(0, len(body), 65536))  # a generator: chunked, no length
    assert nexus.http.put(f"{nexus.url}/repository/files/bin/blob.dat", data=chunks).status_code == 201
    assert nexus.http.get(f"{nexus.url}/repository/files/bin/blob.dat").content == body
    head = nexus.http.head(f"{nexus.url}/repository/files/bin/blob.dat")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(body) and not head.content
    assert head.headers["ETag"] == f'"{hashlib.sha1(body).hexdigest()}"'

    # what mvn deploy sends to a snapshot repository: file, its checksums, then metadata
    snap = "com/ex/tool/1.0-SNAPSHOT"
    jar = b"timestamped snapshot jar"
    for path, data in ((f"{snap}/tool-1.0-20240102.030405-1.jar", jar),
                       (f"{snap}/tool-1.0-20240102.030405-1.jar.sha1", hashlib.sha1(jar).hexdigest().encode()),
                       (f"{snap}/maven-metadata.xml", b"<metadata/>"), ("com/ex/tool/maven-metadata.xml", b"<m/>")):
        assert nexus.http.put(f"{nexus.url}/repository/maven-snapshots/{path}", data=data).status_code == 201
    comp = nexus.component("maven-snapshots", "tool")
    assert comp["version"] == "1.0-20240102.030405-1" and comp["group"] == "com.ex"
    release = nexus.http.put(f"{nexus.url}/repository/maven-snapshots/com/ex/tool/1.0/tool-1.0.jar", data=jar)
    assert release.status_code == 400 and "Version policy mismatch" in release.reason
    first = nexus.http.put(f"{nexus.url}/repository/maven-releases/com/ex/tool/1.0/tool-1.0.jar", data=jar)
    again = nexus.http.put(f"{nexus.url}/repository/maven-releases/com/ex/tool/1.0/tool-1.0.jar", data=jar)
    assert first.status_code == 201 and again.status_code == 400 and "updating assets" in again.reason


def test_write_policies_and_settings_from_environment(nexus):
    nexus.create("raw", "frozen", write_policy="DENY")
    refused = nexus.http.put(f"{nexus.url}/repository/frozen/a.txt", data=b"a")
    assert refused.status_code == 400 and "read only" in refused.reason
    assert nexus.http.put(f"{nexus.url}/repository/maven-central/a/b/1/b-1.jar", data=b"a").status_code == 400
    config = NexusConfig.from_env({"FERRY_NEXUS_PAGE_SIZE": "10", "FERRY_NEXUS_LEADING_SLASH": "0",
                                   "FERRY_NEXUS_ANONYMOUS": "yes", "FERRY_NEXUS_CHECKSUMS": "sha1,md5"})
    assert (config.page_size, config.leading_slash, config.anonymous_read) == (10, False, True)
    assert config.checksums == ("sha1", "md5")
    with pytest.raises(ValueError):
        NexusConfig.from_env({"FERRY_NEXUS_CHECKSUMS": "crc32"})


# -- layouts, paging, ids -----------------------------------------------------------------------------

def test_asset_paths_with_or_without_leading_slash(make_nexus, tmp_path):
    for leading, expected in ((True, "/d/f.txt"), (False, "d/f.txt")):
        # the OrientDB-era setup also shows only the two checksums older releases listed
        checksums = ("sha1", "md5", "sha256", "sha512") if leading else ("sha1", "md5")
        nx = make_nexus(NexusConfig(leading_slash=leading, checksums=checksums), tmp_path / str(leading))
        nx.create("raw", "files")
        nx.http.put(f"{nx.url}/repository/files/d/f.txt", data=b"x")
        [asset] = nx.all("assets", "files")
        assert asset["path"] == expected
        assert asset["downloadUrl"] == f"{nx.url}/repository/files/d/f.txt"
        assert asset["checksum"] == {k: v for k, v in sums(b"x").items() if k in checksums}
        [comp] = nx.all("components", "files")
        assert comp["name"] == expected and comp["version"] == ("" if leading else None)


def test_paging_with_continuation_tokens(make_nexus):
    nx = make_nexus(NexusConfig(page_size=10))
    nx.create("raw", "files")
    for i in range(23):
        nx.http.put(f"{nx.url}/repository/files/f{i:02d}.txt", data=str(i).encode())
    first = nx.v1("GET", "/components", params={"repository": "files"}).json()
    assert len(first["items"]) == 10 and first["continuationToken"]
    names = [c["name"] for c in nx.all("components", "files")]
    assert names == [f"/f{i:02d}.txt" for i in range(23)]  # creation order, every item once
    assert len(nx.all("assets", "files")) == 23
    bad = nx.v1("GET", "/components", params={"repository": "files", "continuationToken": "nope"})
    assert bad.status_code == 406
    assert nx.v1("GET", "/components", params={"repository": "missing"}).status_code == 404


def test_ids_and_item_endpoints(nexus):
    nexus.create("raw", "files")
    nexus.http.put(f"{nexus.url}/repository/files/a.txt", data=b"a")
    [comp] = nexus.all("components", "files")
    repo, _, ext = base64.urlsafe_b64decode(comp["id"] + "==").decode().partition(":")
    assert repo == "files" and len(ext) == 32
    assert nexus.v1("GET", f"/components/{comp['id']}").json() == comp
    asset = comp["assets"][0]
    assert nexus.v1("GET", f"/assets/{asset['id']}").json() == asset
    assert nexus.v1("GET", "/components/bm90LWEtdmFsaWQtaWQ").status_code == 422  # "not-a-valid-id"
    assert nexus.v1("GET", "/assets/" + base64.urlsafe_b64encode(b"files:0000").decode()).status_code == 404
    assert nexus.v1("DELETE", f"/assets/{asset['id']}").status_code == 204
    assert nexus.all("components", "files") == []  # a component goes with its last asset
    assert nexus.http.get(asset["downloadUrl"]).status_code == 404


def test_deleting_components_updates_derived_files(nexus):
    nexus.create("npm", "npm-h")
    for v in ("1.0.0", "2.0.0"):
        nexus.upload("npm-h", {"npm.asset": ("t.tgz", pkgs.npm_tarball("lib", v))})
    doomed = nexus.component("npm-h", "lib", "2.0.0")
    assert nexus.v1("DELETE", f"/components/{doomed['id']}").status_code == 204
    assert nexus.v1("GET", f"/components/{doomed['id']}").status_code == 404
    packument = nexus.http.get(f"{nexus.url}/repository/npm-h/lib").json()
    assert set(packument["versions"]) == {"1.0.0"} and packument["dist-tags"]["latest"] == "1.0.0"


# -- search -------------------------------------------------------------------------------------------

def test_search_filters_paging_and_download(make_nexus):
    nx = make_nexus(NexusConfig(search_page_size=5))
    nx.create("maven", "rel")
    jars = {}
    for i in range(7):
        jars[i] = f"jar {i}".encode()
        nx.upload("rel", {"maven2.asset1": ("a.jar", jars[i])},
                  {"maven2.groupId": "org.acme", "maven2.artifactId": f"mod{i}", "maven2.version": f"1.{i}.0",
                   "maven2.asset1.extension": "jar", "maven2.generate-pom": "true"})

    def search(path="", **params):
        return nx.v1("GET", f"/search{path}", params=params, allow_redirects=False)

    first = search(repository="rel").json()
    assert len(first["items"]) == 5 and first["continuationToken"]
    rest = search(repository="rel", continuationToken=first["continuationToken"]).json()
    assert len(rest["items"]) == 2 and rest["continuationToken"] is None
    assert search(repository="other", continuationToken=first["continuationToken"]).status_code == 406
    assert [c["name"] for c in search(name="mod3").json()["items"]] == ["mod3"]
    assert len(search(group="org.ac*", version="1.*").json()["items"]) == 5  # one full page of 7
    assert [c["version"] for c in search(group="ORG.ACME", version="*.2.*").json()["items"]] == ["1.2.0"]
    assert [c["name"] for c in search(q="mod6").json()["items"]] == ["mod6"]
    assert [c["name"] for c in search(sha1=hashlib.sha1(jars[4]).hexdigest()).json()["items"]] == ["mod4"]
    assert len(search(q="mod", format="npm").json()["items"]) == 0
    assets = search("/assets", name="mod2", **{"maven.extension": "jar", "maven.classifier": ""}).json()["items"]
    assert [a["path"] for a in assets] == ["/org/acme/mod2/1.2.0/mod2-1.2.0.jar"]
    hit = search("/assets/download", name="mod5", **{"maven.extension": "jar"})
    assert hit.status_code == 302 and hit.headers["Location"].endswith("/mod5/1.5.0/mod5-1.5.0.jar")
    assert nx.http.get(hit.headers["Location"]).content == jars[5]
    assert search("/assets/download", name="mod5").status_code == 400  # jar, pom and checksums match
    assert search("/assets/download", name="nothing").status_code == 404


# -- persistence --------------------------------------------------------------------------------------

def test_content_survives_restart(make_nexus, tmp_path):
    data = tmp_path / "persist"
    first = make_nexus(data=data)
    first.create("npm", "npm-h")
    tgz = pkgs.npm_tarball("keep", "1.0.0")
    first.upload("npm-h", {"npm.asset": ("k.tgz", tgz)})
    before = first.component("npm-h", "keep")
    first.stop()
    second = make_nexus(data=data)  # a second process over the same folder, as after a restart
    after = second.component("npm-h", "keep")
    assert after["id"] == before["id"]
    assert after["assets"][0]["checksum"] == before["assets"][0]["checksum"]
    assert second.http.get(after["assets"][0]["downloadUrl"]).content == tgz
