"""The Artifactory stand-in at the HTTP level: auth, repositories, deploy (properties, checksums), downloads,
storage API, package indexing, npm API. AQL has its own module (test_artifactory_aql.py)."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests

from artifactory_packages import crate, nupkg
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import npm_tarball, sdist, wheel

ADMIN = ("admin", "password")


@pytest.fixture
def art(sandbox):
    url = sandbox.urls()["artifactory"]
    seeder = ArtifactorySeeder(url)
    return {"url": url, "seeder": seeder, "http": seeder.http, "app": sandbox.apps["artifactory"],
            "sandbox": sandbox}


def _errors(resp) -> str:
    return resp.json()["errors"][0]["message"]


# -- auth --------------------------------------------------------------------------------------------------


def test_default_admin_password_and_bad_or_missing_credentials(art):
    url = art["url"]
    assert requests.get(f"{url}/api/repositories", auth=ADMIN).status_code == 200
    bad = requests.get(f"{url}/api/repositories", auth=("admin", "admin123"))
    assert bad.status_code == 401 and bad.headers["WWW-Authenticate"].startswith("Basic")
    assert bad.json() == {"errors": [{"status": 401, "message": "Bad credentials"}]}
    assert requests.get(f"{url}/api/repositories").status_code == 401
    assert requests.get(f"{url}/api/system/ping").text == "OK"  # ping needs no credentials


def test_access_token_as_bearer_as_basic_password_and_in_the_api_header(art):
    url, seeder = art["url"], art["seeder"]
    token = seeder.token()
    assert len(token) == 64
    assert requests.get(f"{url}/api/repositories", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert requests.get(f"{url}/api/repositories", auth=("admin", token)).status_code == 200
    assert requests.get(f"{url}/api/repositories", headers={"X-JFrog-Art-Api": token}).status_code == 200
    # a token only stands for the user it was made for
    assert requests.get(f"{url}/api/repositories", auth=("someone", token)).status_code == 401
    assert requests.get(f"{url}/api/repositories", headers={"Authorization": "Bearer " + "0" * 64}).status_code == 401
    # the platform's token endpoint gives tokens that work the same
    platform = art["http"].post(url.rsplit("/artifactory", 1)[0] + "/access/api/v1/tokens",
                                json={"username": "admin", "expires_in": 60})
    assert platform.status_code == 200 and platform.json()["token_type"] == "Bearer"
    assert requests.get(f"{url}/api/repositories",
                        headers={"Authorization": f"Bearer {platform.json()['access_token']}"}).status_code == 200


def test_expired_token_is_refused(art):
    token = art["seeder"].token(expires_in=1)
    art["app"].store._db.execute("UPDATE tokens SET expires = 0 WHERE token = ?", (token,))
    assert requests.get(f"{art['url']}/api/repositories", headers={"Authorization": f"Bearer {token}"}).status_code \
        == 401


def test_api_key_in_header_and_as_basic_password(art):
    url, http = art["url"], art["http"]
    created = http.post(f"{url}/api/security/apiKey")
    assert created.status_code == 201
    key = created.json()["apiKey"]
    assert key.startswith("AKC")
    assert http.get(f"{url}/api/security/apiKey").json() == {"apiKey": key}
    assert requests.get(f"{url}/api/repositories", headers={"X-JFrog-Art-Api": key}).status_code == 200
    assert requests.get(f"{url}/api/repositories", auth=("admin", key)).status_code == 200
    http.delete(f"{url}/api/security/apiKey")
    assert requests.get(f"{url}/api/repositories", headers={"X-JFrog-Art-Api": key}).status_code == 401


# -- repositories ------------------------------------------------------------------------------------------


def test_repositories_created_through_the_api_and_listed_with_filters(art):
    url, http, seeder = art["url"], art["http"], art["seeder"]
    seeder.create_repository("npm-local", "npm")
    seeder.create_repository("libs-release-local", "maven")
    seeder.create_repository("npmjs", "npm", rclass="remote", url="https://registry.npmjs.org")
    seeder.create_repository("npm", "npm", rclass="virtual", repositories=["npm-local", "npmjs"])
    listing = {r["key"]: r for r in http.get(f"{url}/api/repositories").json()}
    assert listing["example-repo-local"]["packageType"] == "Generic"  # what a fresh instance has
    assert listing["npm-local"] == {"key": "npm-local", "type": "LOCAL", "url": f"{url}/npm-local",
                                    "packageType": "Npm"}
    assert listing["npmjs"]["type"] == "REMOTE" and listing["npmjs"]["url"] == "https://registry.npmjs.org"
    assert listing["npm"]["type"] == "VIRTUAL"
    local_npm = http.get(f"{url}/api/repositories", params={"type": "local", "packageType": "npm"}).json()
    assert [r["key"] for r in local_npm] == ["npm-local"]
    config = http.get(f"{url}/api/repositories/npm").json()
    assert config["rclass"] == "virtual" and config["repositories"] == ["npm-local", "npmjs"]
    assert http.get(f"{url}/api/repositories/libs-release-local").json()["repoLayoutRef"] == "maven-2-default"


@pytest.mark.parametrize("body, needle", [
    ({"rclass": "lokal", "packageType": "npm"}, "rclass"),
    ({"rclass": "local", "packageType": "npmx"}, "npmx"),
    ({"rclass": "remote", "packageType": "npm"}, "URL"),
])
def test_bad_repository_configurations_are_400(art, body, needle):
    resp = art["http"].put(f"{art['url']}/api/repositories/x-local", json=body)
    assert resp.status_code == 400 and needle in _errors(resp)


def test_duplicate_key_is_400_and_update_keeps_rclass(art):
    url, http = art["url"], art["http"]
    art["seeder"].create_repository("gen-local")
    again = http.put(f"{url}/api/repositories/gen-local", json={"rclass": "local"})
    assert again.status_code == 400 and "already exists" in _errors(again)
    assert http.post(f"{url}/api/repositories/gen-local", json={"description": "files"}).status_code == 200
    assert http.get(f"{url}/api/repositories/gen-local").json()["description"] == "files"
    assert http.post(f"{url}/api/repositories/gen-local", json={"rclass": "remote"}).status_code == 400


# -- deploy and download ------------------------------------------------------------------------------------


def test_deploy_with_matrix_properties_and_checksums_then_download(art):
    url, seeder = art["url"], art["seeder"]
    seeder.create_repository("gen-local")
    data = b"binary \x00 content" * 100
    info = seeder.deploy("gen-local", "tools/1.0/tool bin.tar.gz", data, {"build.number": ["7", "8"], "team": "a;b"})
    assert info["path"] == "/tools/1.0/tool bin.tar.gz" and info["size"] == str(len(data))
    assert info["checksums"]["sha256"] == hashlib.sha256(data).hexdigest()
    assert info["originalChecksums"]["sha1"] == hashlib.sha1(data).hexdigest()
    got = requests.get(f"{url}/gen-local/tools/1.0/tool%20bin.tar.gz", auth=ADMIN)
    assert got.content == data
    assert got.headers["X-Checksum-Sha256"] == hashlib.sha256(data).hexdigest()
    assert got.headers["X-Checksum-Md5"] == hashlib.md5(data).hexdigest()
    props = requests.get(f"{url}/api/storage/gen-local/tools/1.0/tool%20bin.tar.gz?properties", auth=ADMIN).json()
    assert props["properties"] == {"build.number": ["7", "8"], "team": ["a;b"]}
    sha1 = requests.get(f"{url}/gen-local/tools/1.0/tool%20bin.tar.gz.sha1", auth=ADMIN)
    assert sha1.text == hashlib.sha1(data).hexdigest()
    head = requests.head(f"{url}/gen-local/tools/1.0/tool%20bin.tar.gz", auth=ADMIN)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(data)
    missing = requests.get(f"{url}/gen-local/tools/1.0/nothing", auth=ADMIN)
    assert missing.status_code == 404 and missing.json()["errors"][0]["status"] == 404


def test_checksum_header_mismatch_is_refused_under_client_checksums(art):
    url = art["url"]
    art["seeder"].create_repository("gen-local")
    resp = requests.put(f"{url}/gen-local/a/file.bin", data=b"abc", auth=ADMIN,
                        headers={"X-Checksum-Sha256": hashlib.sha256(b"abd").hexdigest()})
    assert resp.status_code == 409 and "LocalRepoChecksumPolicy: CLIENT" in _errors(resp)
    assert requests.get(f"{url}/gen-local/a/file.bin", auth=ADMIN).status_code == 404
    # X-Checksum (pyartifactory's header) is read by its length
    ok = requests.put(f"{url}/gen-local/a/file.bin", data=b"abc", auth=ADMIN,
                      headers={"X-Checksum": hashlib.md5(b"abc").hexdigest()})
    assert ok.status_code == 201 and ok.json()["originalChecksums"] == {"md5": hashlib.md5(b"abc").hexdigest()}


def test_server_generated_policy_keeps_the_clients_wrong_checksum_as_original(art):
    url = art["url"]
    art["seeder"].create_repository("trusting-local", checksumPolicyType="server-generated-checksums")
    wrong = "1" * 40
    resp = requests.put(f"{url}/trusting-local/f.bin", data=b"abc", auth=ADMIN, headers={"X-Checksum-Sha1": wrong})
    assert resp.status_code == 201
    assert resp.json()["originalChecksums"] == {"sha1": wrong}
    assert resp.json()["checksums"]["sha1"] == hashlib.sha1(b"abc").hexdigest()


def test_checksum_file_upload_sets_the_original_checksum(art):
    url = art["url"]
    art["seeder"].create_repository("libs-local", "maven")
    requests.put(f"{url}/libs-local/g/a/1/a-1.jar", data=b"jar", auth=ADMIN)
    assert requests.put(f"{url}/libs-local/g/a/1/a-1.jar.sha1", data=b"0" * 40, auth=ADMIN).status_code == 409
    good = hashlib.sha1(b"jar").hexdigest()
    assert requests.put(f"{url}/libs-local/g/a/1/a-1.jar.sha1", data=good.encode(), auth=ADMIN).status_code == 201
    info = requests.get(f"{url}/api/storage/libs-local/g/a/1/a-1.jar", auth=ADMIN).json()
    assert info["originalChecksums"] == {"sha1": good}
    # no separate file was stored; the checksum is served from the artifact
    listing = requests.get(f"{url}/api/storage/libs-local?list&deep=1", auth=ADMIN).json()
    assert [f["uri"] for f in listing["files"]] == ["/g/a/1/a-1.jar"]


def test_deploy_by_checksum_copies_known_content_or_is_404(art):
    url = art["url"]
    art["seeder"].create_repository("gen-local")
    requests.put(f"{url}/gen-local/first.bin", data=b"content", auth=ADMIN)
    headers = {"X-Checksum-Deploy": "true", "X-Checksum-Sha1": hashlib.sha1(b"content").hexdigest()}
    assert requests.put(f"{url}/gen-local/copy.bin", headers=headers, auth=ADMIN).status_code == 201
    assert requests.get(f"{url}/gen-local/copy.bin", auth=ADMIN).content == b"content"
    headers["X-Checksum-Sha1"] = hashlib.sha1(b"other").hexdigest()
    assert requests.put(f"{url}/gen-local/none.bin", headers=headers, auth=ADMIN).status_code == 404


def test_remote_and_virtual_repositories(art):
    url, seeder, store = art["url"], art["seeder"], art["app"].store
    seeder.create_repository("npm-local", "npm")
    seeder.create_repository("npmjs", "npm", rclass="remote", url="https://registry.npmjs.org")
    seeder.create_repository("npm", "npm", rclass="virtual", repositories=["npm-local", "npmjs"],
                             defaultDeploymentRepo="npm-local")
    refused = requests.put(f"{url}/npmjs/x/-/x-1.0.0.tgz", data=b"x", auth=ADMIN)
    assert refused.status_code == 400 and "remote" in _errors(refused)
    # the cache holds what the remote fetched; the stand-in has no upstream, so tests plant it
    blob = store.blobs.put_bytes(b"cached tarball")
    store.deploy("npmjs-cache", "lodash/-/lodash-4.17.21.tgz", blob, "anonymous", "application/x-tar")
    for path in ("npmjs-cache", "npmjs", "npm"):
        assert requests.get(f"{url}/{path}/lodash/-/lodash-4.17.21.tgz", auth=ADMIN).content == b"cached tarball"
    listing = requests.get(f"{url}/api/storage/npmjs-cache?list&deep=1", auth=ADMIN).json()
    assert [f["uri"] for f in listing["files"]] == ["/lodash/-/lodash-4.17.21.tgz"]
    # a virtual repository deploys to its default deployment repository
    assert requests.put(f"{url}/npm/own/file.txt", data=b"mine", auth=ADMIN).status_code == 201
    assert requests.get(f"{url}/npm-local/own/file.txt", auth=ADMIN).content == b"mine"


def test_delete_file_and_folder(art):
    url, seeder = art["url"], art["seeder"]
    seeder.create_repository("gen-local")
    for name in ("a/1.txt", "a/b/2.txt", "c.txt"):
        seeder.deploy("gen-local", name, name.encode())
    assert requests.delete(f"{url}/gen-local/a", auth=ADMIN).status_code == 204
    listing = requests.get(f"{url}/api/storage/gen-local?list&deep=1&listFolders=1", auth=ADMIN).json()
    assert [f["uri"] for f in listing["files"]] == ["/c.txt"]
    assert requests.delete(f"{url}/gen-local/a", auth=ADMIN).status_code == 404


# -- storage API -------------------------------------------------------------------------------------------


def test_storage_file_list_deep_shallow_depth_and_folders(art):
    url, seeder = art["url"], art["seeder"]
    seeder.create_repository("gen-local")
    for name in ("root.txt", "a/1.txt", "a/b/2.txt", "a/b/c/3.txt"):
        seeder.deploy("gen-local", name, name.encode())
    get = lambda q: requests.get(f"{url}/api/storage/gen-local{q}", auth=ADMIN).json()  # noqa: E731
    deep = get("?list&deep=1")
    assert sorted(f["uri"] for f in deep["files"]) == ["/a/1.txt", "/a/b/2.txt", "/a/b/c/3.txt", "/root.txt"]
    entry = next(f for f in deep["files"] if f["uri"] == "/a/1.txt")
    assert entry["size"] == 7 and entry["folder"] is False
    assert entry["sha1"] == hashlib.sha1(b"a/1.txt").hexdigest() and entry["sha2"] == hashlib.sha256(
        b"a/1.txt").hexdigest()
    assert sorted(f["uri"] for f in get("?list&deep=0")["files"]) == ["/root.txt"]
    shallow = get("?list&deep=0&listFolders=1")["files"]
    assert {(f["uri"], f["folder"], f["size"]) for f in shallow} == {("/root.txt", False, 8), ("/a", True, -1)}
    assert sorted(f["uri"] for f in get("/a?list&deep=1&depth=2")["files"]) == ["/1.txt", "/b/2.txt"]
    folder = get("/a")
    assert folder["path"] == "/a" and {(c["uri"], c["folder"]) for c in folder["children"]} == {
        ("/b", True), ("/1.txt", False)}
    root = get("")
    assert root["path"] == "/" and {c["uri"] for c in root["children"]} == {"/a", "/root.txt"}
    assert requests.get(f"{url}/api/storage/gen-local/nope", auth=ADMIN).status_code == 404


def test_storage_properties_set_read_and_delete(art):
    url, seeder = art["url"], art["seeder"]
    seeder.create_repository("gen-local")
    seeder.deploy("gen-local", "f.txt", b"f")
    path = f"{url}/api/storage/gen-local/f.txt"
    none = requests.get(path + "?properties", auth=ADMIN)
    assert none.status_code == 404 and "No properties could be found" in none.text
    assert requests.put(path + "?properties=os=linux,mac|qa=passed\\,really", auth=ADMIN).status_code == 204
    got = requests.get(path + "?properties", auth=ADMIN).json()["properties"]
    assert got == {"os": ["linux", "mac"], "qa": ["passed,really"]}
    assert requests.get(path + "?properties=qa", auth=ADMIN).json()["properties"] == {"qa": ["passed,really"]}
    assert requests.delete(path + "?properties=os", auth=ADMIN).status_code == 204
    assert requests.get(path + "?properties", auth=ADMIN).json()["properties"] == {"qa": ["passed,really"]}


# -- package indexing and the npm API --------------------------------------------------------------------


def test_indexing_sets_package_properties_per_type(art):
    url, seeder = art["url"], art["seeder"]
    for key, ptype in (("npm-local", "npm"), ("pypi-local", "pypi"), ("nuget-local", "nuget"),
                       ("cargo-local", "cargo"), ("gen-local", "generic")):
        seeder.create_repository(key, ptype)
    seeder.deploy("npm-local", "whatever/x.tgz", npm_tarball("@acme/ui", "1.0.0"))
    fname, data = wheel("Acme.Utils", "1.2.3")
    seeder.deploy("pypi-local", f"a/{fname}", data)
    sname, sdata = sdist("acme-utils", "1.2.3")
    seeder.deploy("pypi-local", f"a/{sname}", sdata)
    seeder.deploy("nuget-local", "Acme.Lib.2.0.0.nupkg", nupkg("Acme.Lib", "2.0.0"))
    seeder.deploy("cargo-local", "crates/acme-rs/acme-rs-0.3.0.crate", crate("acme-rs", "0.3.0"))
    seeder.deploy("gen-local", "x.tgz", npm_tarball("@acme/ui", "1.0.0"))
    seeder.deploy("npm-local", "broken.tgz", b"not a tarball")
    props = lambda repo, path: requests.get(  # noqa: E731
        f"{url}/api/storage/{repo}/{path}?properties", auth=ADMIN).json().get("properties")
    assert props("npm-local", "whatever/x.tgz") == {"npm.name": ["@acme/ui"], "npm.version": ["1.0.0"]}
    assert props("pypi-local", f"a/{fname}") == {"pypi.name": ["Acme.Utils"], "pypi.version": ["1.2.3"],
                                                 "pypi.normalized.name": ["acme-utils"]}
    assert props("pypi-local", f"a/{sname}")["pypi.version"] == ["1.2.3"]
    assert props("nuget-local", "Acme.Lib.2.0.0.nupkg") == {"nuget.id": ["Acme.Lib"], "nuget.version": ["2.0.0"]}
    assert props("cargo-local", "crates/acme-rs/acme-rs-0.3.0.crate") == {"crate.name": ["acme-rs"],
                                                                          "crate.version": ["0.3.0"]}
    assert props("gen-local", "x.tgz") is None  # generic repositories are not indexed
    assert props("npm-local", "broken.tgz") is None


def test_user_properties_win_over_indexing(art):
    seeder = art["seeder"]
    seeder.create_repository("npm-local", "npm")
    seeder.deploy("npm-local", "x/-/x-1.0.0.tgz", npm_tarball("x", "1.0.0"), {"npm.version": "9.9.9"})
    got = requests.get(f"{art['url']}/api/storage/npm-local/x/-/x-1.0.0.tgz?properties", auth=ADMIN).json()
    assert got["properties"] == {"npm.version": ["9.9.9"], "npm.name": ["x"]}


def test_npm_packument_tarballs_and_dist_tags(art):
    url, seeder = art["url"], art["seeder"]
    seeder.create_repository("npm-local", "npm")
    tarballs = {}
    for version, style in (("1.0.0", "npm"), ("1.1.0", "short"), ("2.0.0-rc.1", "npm")):
        tarballs[version] = npm_tarball("@acme/ui", version)
        seeder.npm("npm-local", "@acme/ui", version, tarballs[version], scoped_style=style)
    doc = requests.get(f"{url}/api/npm/npm-local/@acme%2fui", auth=ADMIN).json()
    assert doc["name"] == "@acme/ui" and set(doc["versions"]) == {"1.0.0", "1.1.0", "2.0.0-rc.1"}
    assert doc["dist-tags"] == {"latest": "1.1.0"}  # highest release, not the newest upload
    dist = doc["versions"]["1.1.0"]["dist"]
    assert dist["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(tarballs["1.1.0"]).digest()).decode()
    assert requests.get(dist["tarball"], auth=ADMIN).content == tarballs["1.1.0"]
    seeder.dist_tag("npm-local", "@acme/ui", "next", "2.0.0-rc.1")
    tags_url = f"{url}/api/npm/npm-local/-/package/@acme%2fui/dist-tags"
    assert requests.get(tags_url, auth=ADMIN).json() == {"latest": "1.1.0", "next": "2.0.0-rc.1"}
    assert requests.put(f"{tags_url}/latest", data=json.dumps("1.0.0"), auth=ADMIN).status_code == 201
    assert requests.put(f"{tags_url}/x", data=json.dumps("9.0.0"), auth=ADMIN).status_code == 404
    assert requests.delete(f"{tags_url}/next", auth=ADMIN).status_code == 200
    assert requests.get(f"{url}/api/npm/npm-local/@acme/ui", auth=ADMIN).json()["dist-tags"] == {"latest": "1.0.0"}
    assert requests.get(f"{url}/api/npm/npm-local/nothing", auth=ADMIN).status_code == 404


def test_content_and_properties_survive_a_restart(tmp_path):
    from ferry.sandbox.server import Sandbox, SandboxOptions

    with Sandbox(SandboxOptions(data=tmp_path / "data")) as sbx:
        seeder = ArtifactorySeeder(sbx.urls()["artifactory"])
        seeder.create_repository("npm-local", "npm")
        seeder.npm("npm-local", "kept", "1.0.0", npm_tarball("kept", "1.0.0"))
        token = seeder.token()
    with Sandbox(SandboxOptions(data=tmp_path / "data")) as sbx:
        url = sbx.urls()["artifactory"]
        got = requests.get(f"{url}/api/storage/npm-local/kept/-/kept-1.0.0.tgz?properties",
                           headers={"Authorization": f"Bearer {token}"})
        assert got.json()["properties"]["npm.version"] == ["1.0.0"]
        assert [r["key"] for r in requests.get(f"{url}/api/repositories", auth=ADMIN).json()] == [
            "example-repo-local", "npm-local"]
