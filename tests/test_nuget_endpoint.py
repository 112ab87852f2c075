"""The stand-in's NuGet V3 endpoint, field by field against Microsoft's documented resources.

No NuGet client exists on this machine, so each test reads a resource the way ``dotnet nuget`` does
(service index first, then the ``@id`` of the resource it needs) and checks what learn.microsoft.com/nuget/api
documents: service-index, package-base-address-resource, registration-base-url-resource,
package-publish-resource. What CodeArtifact adds (normalization, identical re-push, origin controls)
is checked through boto3, as a migration would see it.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import zipfile

import pytest
import requests

from _codeartifact_helpers import ca_client, new_domain, new_repo, seed
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import nupkg


class Feed:
    """One NuGet repository of the stand-in, read as a client does."""

    def __init__(self, sandbox, client, domain: str, repo: str):
        self.sandbox, self.client, self.domain, self.repo = sandbox, client, domain, repo
        store = sandbox.apps["codeartifact"].store
        self.store = store
        d = store.domain("us-east-1", None, domain)
        self.token, _ = store.issue_token(d, 3600)
        self.url = endpoint_url(sandbox.urls()["codeartifact"], d, repo, "nuget")
        self.auth = ("aws", self.token)

    def get(self, url: str, **kw) -> requests.Response:
        return requests.get(url, auth=self.auth, timeout=30, **kw)

    def index(self) -> dict:
        return self.get(f"{self.url}v3/index.json").json()

    def resource(self, rtype: str) -> str:
        return next(r["@id"] for r in self.index()["resources"] if r["@type"] == rtype)

    def push(self, data: bytes, name: str = "package", filename: str | None = "package.nupkg",
             **kw) -> requests.Response:
        """What NuGet's PushCommand sends: PUT to the PackagePublish @id, multipart, X-NuGet-ApiKey."""
        headers = {"X-NuGet-ApiKey": "whatever-the-user-typed", **kw.pop("headers", {})}
        return requests.put(self.resource("PackagePublish/2.0.0"), files=[(name, (filename, data))],
                            auth=kw.pop("auth", self.auth), headers=headers, timeout=30, **kw)

    def versions(self, package: str) -> list[dict]:
        return self.client.list_package_versions(domain=self.domain, repository=self.repo, format="nuget",
                                                 package=package)["versions"]

    def assets(self, package: str, version: str) -> dict[str, dict]:
        out = self.client.list_package_version_assets(domain=self.domain, repository=self.repo, format="nuget",
                                                      package=package, packageVersion=version)
        return {a["name"]: a for a in out["assets"]}


@pytest.fixture
def feed(module_sandbox):
    client = ca_client(module_sandbox)
    domain = new_domain(client, "nuget")
    return Feed(module_sandbox, client, domain, new_repo(client, domain))


def test_service_index_lists_the_resources_clients_need(feed):
    resp = feed.get(f"{feed.url}v3/index.json")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/json")
    doc = resp.json()
    assert doc["version"] == "3.0.0"
    types = {r["@type"]: r["@id"] for r in doc["resources"]}
    for needed in ("PackageBaseAddress/3.0.0", "PackagePublish/2.0.0", "RegistrationsBaseUrl",
                   "RegistrationsBaseUrl/3.0.0-rc", "RegistrationsBaseUrl/3.0.0-beta", "RegistrationsBaseUrl/3.4.0",
                   "RegistrationsBaseUrl/3.6.0"):
        assert needed in types
    for res in doc["resources"]:
        assert res["@id"].startswith(feed.url) and res["@id"].startswith("http")
    assert types["PackagePublish/2.0.0"] == f"{feed.url}v2/package/"
    assert feed.get(f"{feed.url}v3/index.json").json() == doc
    assert requests.head(f"{feed.url}v3/index.json", auth=feed.auth, timeout=30).status_code == 200


def test_the_publish_resource_path_is_configurable(feed, monkeypatch):
    monkeypatch.setenv("FERRY_CA_NUGET_PUBLISH_PATH", "/api/v2/package")
    assert feed.resource("PackagePublish/2.0.0") == f"{feed.url}api/v2/package"
    assert feed.push(nupkg("Conf.Path", "1.0.0")).status_code == 201
    # the NuGet client adds a trailing slash to the @id; both spellings take a push
    resp = requests.put(f"{feed.url}api/v2/package/", files={"package": ("p.nupkg", nupkg("Conf.Path", "1.1.0"))},
                        auth=feed.auth, timeout=30)
    assert resp.status_code == 201
    assert requests.put(f"{feed.url}v2/package/", files={"package": ("p", nupkg("Conf.Path", "2.0.0"))},
                        auth=feed.auth, timeout=30).status_code in (404, 405)
    assert {v["version"] for v in feed.versions("conf.path")} == {"1.0.0", "1.1.0"}


def test_push_stores_one_normalized_version_with_a_lowercase_asset(feed):
    data = nupkg("Acme.Tools", "01.2.0.0+build.7")
    resp = feed.push(data)
    assert resp.status_code == 201
    (ver,) = feed.versions("acme.tools")
    assert ver["version"] == "1.2.0" and ver["status"] == "Published"
    desc = feed.client.describe_package_version(domain=feed.domain, repository=feed.repo, format="nuget",
                                                package="acme.tools", packageVersion="1.2.0")["packageVersion"]
    assert desc["packageName"] == "acme.tools" and desc["displayName"] == "Acme.Tools"
    assert desc["homePage"] == "https://example.com/acme" and desc["licenses"] == [{"name": "MIT"}]
    assert desc["sourceCodeRepository"] == "https://example.com/acme/repo.git"
    assets = feed.assets("acme.tools", "1.2.0")
    assert list(assets) == ["acme.tools.1.2.0.nupkg"]
    assert assets["acme.tools.1.2.0.nupkg"]["hashes"]["SHA-256"] == hashlib.sha256(data).hexdigest()


def test_identical_push_succeeds_and_different_content_is_409(feed):
    data = nupkg("Twice", "1.0.0")
    assert feed.push(data).status_code == 201
    revision = feed.versions("twice")[0]["revision"]
    assert feed.push(data).status_code == 201
    assert feed.versions("twice")[0]["revision"] == revision
    # a different package for the same identity, even spelled differently, conflicts
    other = nupkg("TWICE", "1.0.0.0", body=b"changed")
    resp = feed.push(other)
    assert resp.status_code == 409
    assert feed.assets("twice", "1.0.0")["twice.1.0.0.nupkg"]["hashes"]["SHA-256"] == hashlib.sha256(data).hexdigest()


def test_republish_conflict_setting_makes_any_existing_version_409(feed, monkeypatch):
    data = nupkg("Strict", "1.0.0")
    assert feed.push(data).status_code == 201
    monkeypatch.setenv("FERRY_CA_NUGET_REPUBLISH", "conflict")
    assert feed.push(data).status_code == 409


def test_the_first_part_is_the_package_whatever_its_name(feed):
    data = nupkg("First.Part", "3.0.0")
    # later parts are ignored, even one larger than any part the endpoint would hold in memory
    body = [("anything", ("ignored.bin", data)), ("package", ("second.nupkg", b"not a package" * 700_000))]
    resp = requests.put(feed.resource("PackagePublish/2.0.0"), files=body, auth=feed.auth, timeout=30)
    assert resp.status_code == 201
    assert set(feed.assets("first.part", "3.0.0")) == {"first.part.3.0.0.nupkg"}
    # no filename at all (a plain form field) is still the package
    resp = requests.put(feed.resource("PackagePublish/2.0.0"), auth=feed.auth, timeout=30,
                        files=[("package", (None, nupkg("First.Part", "3.1.0")))])
    assert resp.status_code == 201


def test_a_base64_transfer_encoded_part_is_decoded(feed):
    data = nupkg("B64.Part", "1.0.0")
    encoded = base64.encodebytes(data)  # with line breaks every 76 characters
    body = (b"--xx\r\nContent-Disposition: form-data; name=\"package\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + encoded + b"\r\n--xx--\r\n")
    resp = requests.put(feed.resource("PackagePublish/2.0.0"), data=body, auth=feed.auth, timeout=30,
                        headers={"Content-Type": "multipart/form-data; boundary=xx"})
    assert resp.status_code == 201
    stored = feed.assets("b64.part", "1.0.0")["b64.part.1.0.0.nupkg"]
    assert stored["hashes"]["SHA-256"] == hashlib.sha256(data).hexdigest() and stored["size"] == len(data)


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.mark.parametrize("body, why", [
    (b"plain bytes", "zip"),
    (_zip({"lib/a.dll": b"x"}), "nuspec"),
    (_zip({"a.nuspec": b"<package><metadata><id>a</id></metadata></package>"}), "version"),
    (_zip({"a.nuspec": b"<package><metadata><id>a</id><version>one</version></metadata></package>"}), "version"),
    (_zip({"a.nuspec": b"<package><metadata><id>a b</id><version>1.0.0</version></metadata></package>"}), "id"),
    (_zip({"a.nuspec": b"<package><metadata>"}), "XML"),
])
def test_invalid_packages_are_400(feed, body, why):
    resp = feed.push(body)
    assert resp.status_code == 400 and why in resp.text


def test_symbol_packages_are_refused(feed):
    resp = feed.push(nupkg("Has.Symbols", "1.0.0", symbols=True), filename="has.symbols.1.0.0.snupkg")
    assert resp.status_code == 400 and "symbol packages (.snupkg) are not supported" in resp.text
    assert feed.client.list_packages(domain=feed.domain, repository=feed.repo)["packages"] == []


def test_push_needs_multipart_and_a_token(feed):
    url = feed.resource("PackagePublish/2.0.0")
    resp = requests.put(url, data=nupkg("Raw.Body", "1.0.0"), auth=feed.auth, timeout=30,
                        headers={"Content-Type": "application/octet-stream"})
    assert resp.status_code == 400
    unauth = requests.put(url, files={"package": ("p", nupkg("No.Token", "1.0.0"))}, timeout=30,
                          headers={"X-NuGet-ApiKey": feed.token})  # the API key header is not a credential
    assert unauth.status_code == 401
    assert requests.delete(f"{url}no.token/1.0.0", auth=feed.auth, timeout=30).status_code in (404, 405)


def test_push_is_refused_when_origin_controls_block_publishing(feed):
    feed.client.put_package_origin_configuration(domain=feed.domain, repository=feed.repo, format="nuget",
                                                 package="blocked.pkg",
                                                 restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    assert feed.push(nupkg("Blocked.Pkg", "1.0.0")).status_code == 403


def test_flat_container_lists_and_serves_packages(feed):
    base = feed.resource("PackageBaseAddress/3.0.0")
    packages = {v: nupkg("Flat.Pkg", v) for v in ("1.0.0", "1.10.0", "2.0.0-RC.1", "1.2.0.5")}
    for data in packages.values():
        assert feed.push(data).status_code == 201
    resp = feed.get(f"{base}flat.pkg/index.json")
    assert resp.status_code == 200
    assert resp.json() == {"versions": ["1.0.0", "1.2.0.5", "1.10.0", "2.0.0-rc.1"]}
    assert feed.get(f"{base}Flat.Pkg/index.json").json() == resp.json()
    for version, data in packages.items():
        lower = version.lower()
        got = feed.get(f"{base}flat.pkg/{lower}/flat.pkg.{lower}.nupkg")
        assert got.status_code == 200 and got.content == data
        assert got.headers["Content-Length"] == str(len(data))
        spec = feed.get(f"{base}flat.pkg/{lower}/flat.pkg.nuspec")
        assert spec.status_code == 200 and f"<version>{version}</version>" in spec.text
    assert feed.get(f"{base}flat.pkg/9.9.9/flat.pkg.9.9.9.nupkg").status_code == 404
    assert feed.get(f"{base}no.such.pkg/index.json").status_code == 404
    assert feed.get(f"{base}flat.pkg/1.0.0/other.1.0.0.nupkg").status_code == 404


def test_unlisted_versions_stay_downloadable_and_archived_ones_do_not(feed):
    base = feed.resource("PackageBaseAddress/3.0.0")
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        feed.push(nupkg("Status.Pkg", version))
    for version, status in (("1.1.0", "Unlisted"), ("1.2.0", "Archived")):
        feed.client.update_package_versions_status(domain=feed.domain, repository=feed.repo, format="nuget",
                                                   package="status.pkg", versions=[version], targetStatus=status)
    assert feed.get(f"{base}status.pkg/index.json").json() == {"versions": ["1.0.0", "1.1.0"]}
    assert feed.get(f"{base}status.pkg/1.2.0/status.pkg.1.2.0.nupkg").status_code == 404
    reg = feed.get(f"{feed.resource('RegistrationsBaseUrl/3.6.0')}status.pkg/index.json").json()
    leaves = {leaf["catalogEntry"]["version"]: leaf["catalogEntry"]["listed"] for leaf in reg["items"][0]["items"]}
    assert leaves == {"1.0.0": True, "1.1.0": False}


def test_registration_index_pages_and_leaves_follow_the_documented_schema(feed):
    feed.push(nupkg("Reg.Pkg", "1.0.0", description="Registration test",
                    dependencies={"Newtonsoft.Json": "[13.0.1, )"}))
    feed.push(nupkg("Reg.Pkg", "2.0.0-beta.1"))
    feed.push(nupkg("Reg.Pkg", "1.5.0+meta"))
    hive = feed.resource("RegistrationsBaseUrl/3.6.0")
    resp = feed.get(f"{hive}reg.pkg/index.json", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200 and resp.headers.get("Content-Encoding") == "gzip"
    raw = requests.get(f"{hive}reg.pkg/index.json", auth=feed.auth, timeout=30, stream=True,
                       headers={"Accept-Encoding": "gzip"}).raw.read()
    assert gzip.decompress(raw)  # really gzip on the wire
    index = resp.json()
    assert index["count"] == len(index["items"]) == 1
    (page,) = index["items"]
    assert page["count"] == 3 and page["lower"] == "1.0.0" and page["upper"] == "2.0.0-beta.1"
    assert page["parent"] == f"{hive}reg.pkg/index.json"
    versions = [leaf["catalogEntry"]["version"] for leaf in page["items"]]
    assert versions == ["1.0.0", "1.5.0", "2.0.0-beta.1"]
    leaf = page["items"][0]
    entry = leaf["catalogEntry"]
    assert entry["id"] == "Reg.Pkg" and entry["description"] == "Registration test"
    assert entry["authors"] == "Acme" and entry["licenseExpression"] == "MIT" and entry["listed"] is True
    assert entry["dependencyGroups"] == [{"targetFramework": ".NETStandard2.0", "dependencies": [
        {"id": "Newtonsoft.Json", "range": "[13.0.1, )"}]}]
    content = feed.get(leaf["packageContent"])
    assert content.status_code == 200 and content.content == nupkg("Reg.Pkg", "1.0.0", description="Registration test",
                                                                   dependencies={"Newtonsoft.Json": "[13.0.1, )"})
    assert entry["packageContent"] == leaf["packageContent"] and leaf["registration"] == index["@id"]
    doc = feed.get(leaf["@id"]).json()
    assert doc["@id"] == leaf["@id"] and doc["packageContent"] == leaf["packageContent"]
    assert doc["registration"] == index["@id"] and doc["listed"] is True and "T" in doc["published"]
    # the hives for older clients leave SemVer 2.0.0 versions out (dotted label, build metadata)
    old = feed.get(f"{feed.resource('RegistrationsBaseUrl')}reg.pkg/index.json")
    assert "Content-Encoding" not in old.headers
    assert [leaf["catalogEntry"]["version"] for leaf in old.json()["items"][0]["items"]] == ["1.0.0"]
    assert feed.get(f"{hive}no.such/index.json").status_code == 404


def test_registration_pages_are_fetched_by_id_from_128_versions_on(feed):
    sandbox = feed.sandbox
    for minor in range(130):
        version = f"1.{minor}.0"
        seed(sandbox, feed.domain, feed.repo, "nuget", None, "many", version, f"many.{version}.nupkg",
             nupkg("Many", version), display_name="Many", single_asset=True)
    hive = feed.resource("RegistrationsBaseUrl/3.6.0")
    index = feed.get(f"{hive}many/index.json").json()
    assert index["count"] == 3 and [p["count"] for p in index["items"]] == [64, 64, 2]
    assert all("items" not in p and "parent" not in p for p in index["items"])
    assert [(p["lower"], p["upper"]) for p in index["items"]] == [("1.0.0", "1.63.0"), ("1.64.0", "1.127.0"),
                                                                   ("1.128.0", "1.129.0")]
    page = feed.get(index["items"][2]["@id"]).json()
    assert page["@id"] == index["items"][2]["@id"] and page["parent"] == index["@id"]
    assert [leaf["catalogEntry"]["version"] for leaf in page["items"]] == ["1.128.0", "1.129.0"]


@pytest.mark.clients
@pytest.mark.skipif(__import__("shutil").which("curl") is None, reason="curl is not installed")
def test_curl_push_to_the_discovered_publish_resource(feed, tmp_path):
    """A push with curl's own multipart encoder (file part with filename, Expect: 100-continue) to the
    PackagePublish @id, Basic aws:TOKEN as ``nuget sources add -username aws -password TOKEN`` sends it."""
    import subprocess

    package = tmp_path / "Curl.Pushed.1.0.0.nupkg"
    package.write_bytes(nupkg("Curl.Pushed", "1.0.0"))
    cmd = ["curl", "-sS", "-X", "PUT", "--user", f"aws:{feed.token}", "-H", "X-NuGet-ApiKey: az",
           "-H", "Expect: 100-continue", "-F", f"package=@{package}", "-o", "/dev/null", "-w", "%{http_code}",
           feed.resource("PackagePublish/2.0.0")]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout == "201"
    got = feed.get(f"{feed.resource('PackageBaseAddress/3.0.0')}curl.pushed/1.0.0/curl.pushed.1.0.0.nupkg")
    assert got.content == package.read_bytes()
