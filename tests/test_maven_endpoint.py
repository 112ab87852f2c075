"""CodeArtifact stand-in Maven endpoint over HTTP: publish, checksums, metadata, statuses, snapshots.

(Real ``mvn`` deploying to and resolving from it is in test_maven_clients.py.)
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pytest
import requests

from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.codeartifact.formats.maven import version_key

GROUP = "com/acme/deep"


@pytest.fixture(scope="module")
def ca(module_sandbox):
    store = module_sandbox.apps["codeartifact"].store
    domain = store.create_domain("us-east-1", "111122223333", "mvn")
    token, _ = store.issue_token(domain, 3600)

    class CA:
        pass

    ca = CA()
    ca.store, ca.domain, ca.token = store, domain, token
    ca.base_url = module_sandbox.urls()["codeartifact"]
    ca.http = requests.Session()
    ca.http.auth = ("aws", token)  # what curl --user aws:TOKEN and mvn's <server> send
    return ca


@pytest.fixture
def repo(ca, request):
    name = request.node.name.replace("[", "-").replace("]", "")[:60]
    ca.store.create_repository(ca.domain, name)
    ca.repo = ca.store.repository(ca.domain, name)
    ca.url = endpoint_url(ca.base_url, ca.domain, name, "maven")
    return ca


def put(ca, path, data, **kw):
    return ca.http.put(ca.url + path, data=data, headers={"Content-Type": "application/octet-stream"}, **kw)


def status(ca, artifact, version, group="com.acme.deep"):
    pkg = ca.store.package(ca.repo, "maven", group, artifact)
    ver = ca.store.version(pkg, version) if pkg else None
    return ver.status if ver else None


def metadata(group, artifact, *versions):
    body = "".join(f"<version>{v}</version>" for v in versions)
    return (f'<metadata modelVersion="1.1.0"><groupId>{group}</groupId><artifactId>{artifact}</artifactId>'
            f"<versioning><latest>{versions[-1]}</latest><release>{versions[-1]}</release>"
            f"<versions>{body}</versions><lastUpdated>20240101000000</lastUpdated></versioning></metadata>").encode()


def test_publish_sequence_unfinished_until_metadata_then_served(repo):
    ca = repo
    jar, pom = b"PK\x03\x04 jar bytes", b"<project><artifactId>app</artifactId></project>"
    base = f"{GROUP}/app/1.0/app-1.0"
    assert put(ca, f"{base}.jar", jar).status_code == 201
    assert put(ca, f"{base}.jar.sha1", hashlib.sha1(jar).hexdigest()).status_code == 201
    assert put(ca, f"{base}.pom", pom).status_code == 201
    assert put(ca, f"{base}.pom.md5", hashlib.md5(pom).hexdigest()).status_code == 201
    assert status(ca, "app", "1.0") == "Unfinished"
    # Unfinished: not downloadable, not in the metadata
    assert ca.http.get(ca.url + f"{base}.jar").status_code == 404
    assert ca.http.get(ca.url + f"{GROUP}/app/maven-metadata.xml").status_code == 404
    # checksums are validated, not stored as assets
    assets = {a.name for a in ca.store.assets(ca.store.version(
        ca.store.package(ca.repo, "maven", "com.acme.deep", "app"), "1.0"))}
    assert assets == {"app-1.0.jar", "app-1.0.pom"}

    assert put(ca, f"{GROUP}/app/maven-metadata.xml", metadata("com.acme.deep", "app", "1.0")).status_code == 201
    assert put(ca, f"{GROUP}/app/maven-metadata.xml.sha1", "0" * 40).status_code == 201
    assert status(ca, "app", "1.0") == "Published"
    got = ca.http.get(ca.url + f"{base}.jar")
    assert got.status_code == 200 and got.content == jar
    assert got.headers["X-Checksum-Sha256"] == hashlib.sha256(jar).hexdigest()
    head = ca.http.head(ca.url + f"{base}.jar")
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(jar) and head.content == b""
    for algo in ("md5", "sha1", "sha256", "sha512"):
        text = ca.http.get(ca.url + f"{base}.jar.{algo}")
        assert text.status_code == 200 and text.text == hashlib.new(algo, jar).hexdigest()


def test_metadata_lists_published_versions_in_maven_order(repo):
    ca = repo
    for version in ("1.10", "1.9", "2.0-rc1", "1.0"):
        assert put(ca, f"{GROUP}/lib/{version}/lib-{version}.jar", version.encode()).status_code == 201
    put(ca, f"{GROUP}/lib/maven-metadata.xml", metadata("com.acme.deep", "lib", "1.10", "1.9", "2.0-rc1"))
    put(ca, f"{GROUP}/lib/2.1/lib-2.1.jar", b"unfinished")  # never listed: stays Unfinished
    resp = ca.http.get(ca.url + f"{GROUP}/lib/maven-metadata.xml")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("application/xml")
    doc = ET.fromstring(resp.content)
    assert doc.findtext("groupId") == "com.acme.deep" and doc.findtext("artifactId") == "lib"
    assert [v.text for v in doc.find("versioning/versions")] == ["1.9", "1.10", "2.0-rc1"]
    assert doc.findtext("versioning/latest") == "2.0-rc1" and doc.findtext("versioning/release") == "2.0-rc1"
    assert len(doc.findtext("versioning/lastUpdated")) == 14
    assert status(ca, "lib", "1.0") == "Unfinished" and status(ca, "lib", "2.1") == "Unfinished"
    sha1 = ca.http.get(ca.url + f"{GROUP}/lib/maven-metadata.xml.sha1").text
    assert sha1 == hashlib.sha1(resp.content).hexdigest()


def test_checksum_rules_before_asset_mismatch_case_and_metadata_refusal(repo):
    ca = repo
    jar = b"jar for checksum rules"
    base = f"{GROUP}/sums/1.0/sums-1.0"
    assert put(ca, f"{base}.jar.sha1", hashlib.sha1(jar).hexdigest()).status_code == 404
    assert put(ca, f"{base}.jar", jar).status_code == 201
    upper = put(ca, f"{base}.jar.md5", hashlib.md5(jar).hexdigest().upper())
    assert upper.status_code == 400 and "mismatch" in upper.text.lower()
    # a version with a mismatched checksum refuses to be published by metadata
    refused = put(ca, f"{GROUP}/sums/maven-metadata.xml", metadata("com.acme.deep", "sums", "1.0"))
    assert refused.status_code == 400 and "sums-1.0.jar.md5" in refused.text
    assert status(ca, "sums", "1.0") == "Unfinished"
    # re-uploading the right checksum clears it; "digest  filename" form is accepted too
    assert put(ca, f"{base}.jar.md5", f"{hashlib.md5(jar).hexdigest()}  sums-1.0.jar\n").status_code == 201
    assert put(ca, f"{GROUP}/sums/maven-metadata.xml", metadata("com.acme.deep", "sums", "1.0")).status_code == 201
    assert status(ca, "sums", "1.0") == "Published"
    # after Published, assets may still be added; a wrong checksum is still 400 but the version stays
    assert put(ca, f"{base}-sources.jar", b"sources").status_code == 201
    assert put(ca, f"{base}-sources.jar.sha256", "ab" * 32).status_code == 400
    assert status(ca, "sums", "1.0") == "Published"
    assert ca.http.get(ca.url + f"{base}-sources.jar.sha256").text == hashlib.sha256(b"sources").hexdigest()


def test_identical_republish_ok_different_content_409_and_auth(repo):
    ca = repo
    path = f"{GROUP}/dup/1.0/dup-1.0.jar"
    assert put(ca, path, b"one").status_code == 201
    assert put(ca, path, b"one").status_code == 201
    conflict = put(ca, path, b"two")
    assert conflict.status_code == 409
    pkg = ca.store.package(ca.repo, "maven", "com.acme.deep", "dup")
    assert ca.store.asset(ca.store.version(pkg, "1.0"), "dup-1.0.jar").sha256 == hashlib.sha256(b"one").hexdigest()
    anonymous = requests.put(ca.url + path, data=b"one")
    assert anonymous.status_code == 401 and "Basic" in anonymous.headers["WWW-Authenticate"]
    bearer = requests.get(ca.url + f"{GROUP}/dup/maven-metadata.xml", headers={"Authorization": f"Bearer {ca.token}"})
    assert bearer.status_code == 404  # authenticated, but nothing Published yet
    assert ca.http.delete(ca.url + path).status_code == 405
    assert put(ca, "com/bad seg/1/y-1.jar", b"x").status_code == 400
    raw = requests.Request("PUT", ca.url + "com/x/../1/x-1.jar", data=b"x", auth=("aws", ca.token)).prepare()
    raw.url = ca.url + "com/x/../1/x-1.jar"  # as sent, without the client's dot-segment clean-up
    assert ca.http.send(raw).status_code == 400


def test_origin_block_and_pom_metadata(repo):
    ca = repo
    pom = (b'<project xmlns="http://maven.apache.org/POM/4.0.0"><groupId>com.acme.deep</groupId>'
           b"<artifactId>described</artifactId><version>3.0</version><description>A  described\n library"
           b"</description><url>https://acme.example/described</url><licenses><license><name>Apache-2.0</name>"
           b"<url>https://www.apache.org/licenses/LICENSE-2.0</url></license></licenses></project>")
    assert put(ca, f"{GROUP}/described/3.0/described-3.0.pom", pom).status_code == 201
    pkg = ca.store.package(ca.repo, "maven", "com.acme.deep", "described")
    meta = ca.store.version(pkg, "3.0").metadata
    assert meta["summary"] == "A described library" and meta["homePage"] == "https://acme.example/described"
    assert meta["licenses"] == [{"name": "Apache-2.0", "url": "https://www.apache.org/licenses/LICENSE-2.0"}]
    ca.store.set_origin(pkg, "BLOCK", "ALLOW")
    blocked = put(ca, f"{GROUP}/described/3.1/described-3.1.jar", b"x")
    assert blocked.status_code == 403 and status(ca, "described", "3.1") is None


def test_snapshot_publishing_and_version_level_metadata(repo):
    ca = repo
    folder = f"{GROUP}/snap/1.0-SNAPSHOT"
    for stamp, build, data in (("20240102.030405", 1, b"build one"), ("20240103.040506", 2, b"build two")):
        for suffix, body in ((".jar", data), (".pom", b"<project/>"), ("-sources.jar", data + b" src")):
            name = f"snap-1.0-{stamp}-{build}{suffix}"
            assert put(ca, f"{folder}/{name}", body).status_code == 201
            assert put(ca, f"{folder}/{name}.sha1", hashlib.sha1(body).hexdigest()).status_code == 201
        assert status(ca, "snap", "1.0-SNAPSHOT") in ("Unfinished", "Published")
        assert put(ca, f"{folder}/maven-metadata.xml", b"<metadata/>").status_code == 201
        assert put(ca, f"{GROUP}/snap/maven-metadata.xml",
                   metadata("com.acme.deep", "snap", "1.0-SNAPSHOT")).status_code == 201
    assert status(ca, "snap", "1.0-SNAPSHOT") == "Published"
    doc = ET.fromstring(ca.http.get(ca.url + f"{folder}/maven-metadata.xml").content)
    assert doc.findtext("version") == "1.0-SNAPSHOT"
    assert doc.findtext("versioning/snapshot/timestamp") == "20240103.040506"
    assert doc.findtext("versioning/snapshot/buildNumber") == "2"
    values = {(e.findtext("classifier") or "", e.findtext("extension")): e.findtext("value")
              for e in doc.find("versioning/snapshotVersions")}
    assert values == {("", "jar"): "1.0-20240103.040506-2", ("", "pom"): "1.0-20240103.040506-2",
                      ("sources", "jar"): "1.0-20240103.040506-2"}
    old = ca.http.get(ca.url + f"{folder}/snap-1.0-20240102.030405-1.jar")
    assert old.status_code == 200 and old.content == b"build one"
    artifact = ET.fromstring(ca.http.get(ca.url + f"{GROUP}/snap/maven-metadata.xml").content)
    assert [v.text for v in artifact.find("versioning/versions")] == ["1.0-SNAPSHOT"]
    assert artifact.find("versioning/release") is None


@pytest.mark.parametrize("lower, higher", [
    ("1.0", "1.0.1"), ("1.9", "1.10"), ("1.0-alpha-1", "1.0-beta-1"), ("1.0-rc1", "1.0"),
    ("1.0-SNAPSHOT", "1.0"), ("1.0", "1.0-sp1"), ("1.0-M1", "1.0-RC1"), ("2.0-rc1", "2.0.0.1"),
])
def test_version_order_follows_maven(lower, higher):
    assert version_key(lower) < version_key(higher)


def test_version_order_ignores_trailing_zeros():
    assert version_key("1.0") == version_key("1") == version_key("1.0.0") == version_key("1-ga")


def test_an_upload_cut_short_stores_nothing(repo):
    import base64
    import socket
    from urllib.parse import urlsplit

    ca = repo
    url = urlsplit(ca.url + f"{GROUP}/cut/1.0/cut-1.0.jar")
    auth = base64.b64encode(f"aws:{ca.token}".encode()).decode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(f"PUT {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Basic {auth}\r\n"
                     "Content-Length: 1000\r\n\r\n".encode() + b"only forty bytes of the promised thousand")
        sock.shutdown(socket.SHUT_WR)
        reply = sock.makefile("rb").readline()
    assert reply.split()[1] == b"400"
    assert status(ca, "cut", "1.0") is None
