"""The stand-in's Swift package registry endpoint, checked against SE-0292's Registry.md field by field.

No Swift toolchain exists on this machine, so the requests are the ones the specification (and
SwiftPM's RegistryClient) sends: ``Accept: application/vnd.swift.registry.v1+json``, multipart
publish with a ``source-archive`` part (SwiftPM sends it without a filename), and the reads a
package resolution does. CodeArtifact's own rules (lowercased scope/name, SemVer 2.0.0 versions,
identical re-publish) are checked through boto3.
"""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
import requests

from _codeartifact_helpers import ca_client, new_domain, new_repo
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import swift_source_archive

V1 = "application/vnd.swift.registry.v1+json"


class Registry:
    def __init__(self, sandbox, client, domain: str, repo: str):
        self.client, self.domain, self.repo = client, domain, repo
        store = sandbox.apps["codeartifact"].store
        d = store.domain("us-east-1", None, domain)
        self.token, _ = store.issue_token(d, 3600)
        self.url = endpoint_url(sandbox.urls()["codeartifact"], d, repo, "swift")
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, accept: str = V1, **kw) -> requests.Response:
        headers = {**self.headers, **({"Accept": accept} if accept else {})}
        return requests.get(self.url + path, headers=headers, timeout=30, allow_redirects=False, **kw)

    def publish(self, scope: str, name: str, version: str, archive: bytes, metadata: dict | None = None,
                signature: bytes | None = None) -> requests.Response:
        """A publish as SwiftPM's RegistryClient builds it: parts without filenames, binary transfer."""
        boundary = "ferry-boundary"
        parts = [("source-archive", "application/zip", archive)]
        if signature is not None:
            parts.append(("source-archive-signature", "application/octet-stream", signature))
        if metadata is not None:
            parts.append(("metadata", "application/json", json.dumps(metadata).encode()))
        body = b""
        for part, ctype, data in parts:
            body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{part}\"\r\nContent-Type: {ctype}\r\n"
                     f"Content-Transfer-Encoding: binary\r\n\r\n").encode() + data + b"\r\n"
        body += f"--{boundary}--\r\n".encode()
        headers = {**self.headers, "Accept": V1, "Content-Type": f"multipart/form-data;boundary=\"{boundary}\""}
        if signature is not None:
            headers["X-Swift-Package-Signature-Format"] = "cms-1.0.0"
        return requests.put(f"{self.url}{scope}/{name}/{version}", data=body, headers=headers, timeout=30)


@pytest.fixture
def registry(module_sandbox):
    client = ca_client(module_sandbox)
    domain = new_domain(client, "swift")
    return Registry(module_sandbox, client, domain, new_repo(client, domain))


def test_publish_then_read_the_release_as_a_client_resolves_it(registry):
    archive = swift_source_archive("LinkedList", "1.1.1")
    meta = {"description": "One thing links to another.", "licenseURL": "https://www.apache.org/licenses/LICENSE-2.0",
            "repositoryURLs": ["https://github.com/mona/LinkedList"], "author": {"name": "Mona Lisa Octocat"}}
    resp = registry.publish("Mona", "LinkedList", "1.1.1", archive, meta)
    assert resp.status_code == 201
    assert resp.headers["Content-Version"] == "1"
    assert resp.headers["Location"] == f"{registry.url}mona/linkedlist/1.1.1"

    info = registry.get("mona/LinkedList/1.1.1")
    assert info.status_code == 200 and info.headers["Content-Type"].startswith("application/json")
    assert info.headers["Content-Version"] == "1"
    doc = info.json()
    assert doc["id"] == "mona.linkedlist" and doc["version"] == "1.1.1"
    assert doc["resources"] == [{"name": "source-archive", "type": "application/zip",
                                 "checksum": hashlib.sha256(archive).hexdigest()}]
    assert doc["metadata"] == meta and doc["publishedAt"].endswith("Z")
    assert registry.get("mona/linkedlist/1.1.1.json").json() == doc

    zipped = registry.get("MONA/linkedlist/1.1.1.zip", accept="application/vnd.swift.registry.v1+zip")
    assert zipped.status_code == 200 and zipped.content == archive
    assert zipped.headers["Content-Type"] == "application/zip"
    assert zipped.headers["Content-Length"] == str(len(archive))
    assert zipped.headers["Content-Disposition"] == 'attachment; filename="LinkedList-1.1.1.zip"'
    assert zipped.headers["Digest"] == "sha-256=" + base64.b64encode(hashlib.sha256(archive).digest()).decode()

    desc = registry.client.describe_package_version(domain=registry.domain, repository=registry.repo, format="swift",
                                                    namespace="mona", package="linkedlist",
                                                    packageVersion="1.1.1")["packageVersion"]
    assert desc["displayName"] == "LinkedList" and desc["summary"] == meta["description"]
    assert desc["sourceCodeRepository"] == "https://github.com/mona/LinkedList"
    assets = registry.client.list_package_version_assets(domain=registry.domain, repository=registry.repo,
                                                         format="swift", namespace="mona", package="linkedlist",
                                                         packageVersion="1.1.1")["assets"]
    assert [(a["name"], a["hashes"]["SHA-256"]) for a in assets] == [("linkedlist-1.1.1.zip",
                                                                       hashlib.sha256(archive).hexdigest())]


def test_release_list_is_ordered_by_precedence_with_links(registry):
    for version in ("1.0.0", "1.10.0", "1.2.0", "2.0.0-beta.2", "2.0.0-beta.11"):
        assert registry.publish("acme", "Parser", version, swift_source_archive("Parser", version)).status_code == 201
    resp = registry.get("acme/parser")
    assert resp.status_code == 200 and resp.headers["Content-Version"] == "1"
    releases = resp.json()["releases"]
    assert list(releases) == ["2.0.0-beta.11", "2.0.0-beta.2", "1.10.0", "1.2.0", "1.0.0"]
    assert releases["1.2.0"] == {"url": f"{registry.url}acme/parser/1.2.0"}
    assert f'<{registry.url}acme/parser/2.0.0-beta.11>; rel="latest-version"' in resp.headers["Link"]
    assert registry.get("acme/parser.json").json()["releases"] == releases
    links = registry.get("acme/parser/1.2.0").headers["Link"]
    assert f'<{registry.url}acme/parser/1.10.0>; rel="successor-version"' in links
    assert f'<{registry.url}acme/parser/1.0.0>; rel="predecessor-version"' in links


def test_manifest_and_version_specific_manifests(registry):
    archive = swift_source_archive("Tools", "1.0.0", extra_manifests={"Package@swift-5.8.swift": "5.8"})
    registry.publish("acme", "tools", "1.0.0", archive)
    resp = registry.get("acme/tools/1.0.0/Package.swift", accept="application/vnd.swift.registry.v1+swift")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/x-swift")
    assert resp.text.startswith("// swift-tools-version:5.9")
    assert resp.headers["Content-Disposition"] == 'attachment; filename="Package.swift"'
    assert resp.headers["Link"] == (f'<{registry.url}acme/tools/1.0.0/Package.swift?swift-version=5.8>; '
                                    'rel="alternate"; filename="Package@swift-5.8.swift"; swift-tools-version="5.8"')
    specific = registry.get("acme/tools/1.0.0/Package.swift", params={"swift-version": "5.8"})
    assert specific.status_code == 200 and specific.text.startswith("// swift-tools-version:5.8")
    missing = registry.get("acme/tools/1.0.0/Package.swift", params={"swift-version": "4.2"})
    assert missing.status_code == 303 and missing.headers["Location"].endswith("acme/tools/1.0.0/Package.swift")


def test_identifiers_lookup_by_repository_url(registry):
    registry.publish("mona", "LinkedList", "1.0.0", swift_source_archive("LinkedList", "1.0.0"),
                     {"repositoryURLs": ["https://github.com/mona/LinkedList", "git@github.com:mona/LinkedList.git"]})
    for url in ("https://github.com/mona/LinkedList", "https://github.com/mona/linkedlist.git",
                "ssh://git@github.com/mona/LinkedList"):
        resp = registry.get("identifiers", params={"url": url})
        assert resp.status_code == 200 and resp.json() == {"identifiers": ["mona.linkedlist"]}
    assert registry.get("identifiers", params={"url": "https://github.com/other/x"}).status_code == 404
    bad = registry.get("identifiers")
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"


def test_identical_republish_succeeds_and_different_content_is_409(registry, monkeypatch):
    archive = swift_source_archive("Repeat", "1.0.0")
    assert registry.publish("acme", "Repeat", "1.0.0", archive).status_code == 201
    assert registry.publish("ACME", "repeat", "1.0.0", archive).status_code == 201
    clash = registry.publish("acme", "repeat", "1.0.0", swift_source_archive("Repeat", "1.0.0", tools_version="5.10"))
    assert clash.status_code == 409
    assert clash.headers["Content-Type"] == "application/problem+json" and "already exists" in clash.json()["detail"]
    monkeypatch.setenv("FERRY_CA_SWIFT_REPUBLISH", "conflict")
    assert registry.publish("acme", "Repeat", "1.0.0", archive).status_code == 409


def test_signature_is_kept_and_served(registry):
    archive, signature = swift_source_archive("Signed", "1.0.0"), b"\x30\x82signature-bytes"
    assert registry.publish("acme", "signed", "1.0.0", archive, signature=signature).status_code == 201
    signing = registry.get("acme/signed/1.0.0").json()["resources"][0]["signing"]
    assert signing == {"signatureBase64Encoded": base64.b64encode(signature).decode(), "signatureFormat": "cms-1.0.0"}
    zipped = registry.get("acme/signed/1.0.0.zip")
    assert zipped.headers["X-Swift-Package-Signature"] == signing["signatureBase64Encoded"]
    assert zipped.headers["X-Swift-Package-Signature-Format"] == "cms-1.0.0"


@pytest.mark.parametrize("scope, name, version, status", [
    ("-bad", "pkg", "1.0.0", 400), ("acme", "bad__name", "1.0.0", 400), ("acme", "pkg", "1.0", 400),
    ("acme", "pkg", "01.0.0", 400), ("a" * 40, "pkg", "1.0.0", 400),
])
def test_invalid_coordinates_are_refused(registry, scope, name, version, status):
    resp = registry.publish(scope, name, version, swift_source_archive("pkg", "1.0.0"))
    assert resp.status_code == status and resp.headers["Content-Type"] == "application/problem+json"
    assert resp.json()["detail"]


def test_invalid_archives_and_metadata_are_422(registry):
    assert registry.publish("acme", "nozip", "1.0.0", b"not a zip").status_code == 422
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("pkg/Sources/a.swift", "let a = 1\n")
    assert registry.publish("acme", "nomanifest", "1.0.0", buf.getvalue()).json()["detail"].startswith(
        "package doesn't contain a valid manifest")
    bad_meta = requests.put(f"{registry.url}acme/badmeta/1.0.0", headers={**registry.headers, "Accept": V1},
                            files={"source-archive": (None, swift_source_archive("badmeta", "1.0.0"),
                                                      "application/zip"),
                                   "metadata": (None, b"{not json", "application/json")}, timeout=30)
    assert bad_meta.status_code == 422
    missing = requests.put(f"{registry.url}acme/nopart/1.0.0", headers={**registry.headers, "Accept": V1},
                           files={"metadata": (None, b"{}")}, timeout=30)
    assert missing.status_code == 422
    listed = registry.client.list_packages(domain=registry.domain, repository=registry.repo)["packages"]
    assert listed == []


def test_api_version_negotiation_and_problem_details(registry):
    registry.publish("acme", "neg", "1.0.0", swift_source_archive("neg", "1.0.0"))
    assert registry.get("acme/neg", accept="").status_code == 200  # no Accept: the server picks v1
    assert registry.get("acme/neg", accept="application/json").status_code == 200
    unsupported = registry.get("acme/neg", accept="application/vnd.swift.registry.v2+json")
    assert unsupported.status_code == 415
    assert unsupported.headers["Content-Type"] == "application/problem+json"
    assert unsupported.headers["Content-Version"] == "1" and unsupported.json()["detail"] == "unsupported API version"
    assert registry.get("acme/neg", accept="application/vnd.swift.registry.vx+json").status_code == 400
    missing = registry.get("acme/neg/9.9.9")
    assert missing.status_code == 404 and missing.json()["detail"] == "release not found"
    assert registry.get("acme/none").status_code == 404
    no_token = requests.get(f"{registry.url}acme/neg", headers={"Accept": V1}, timeout=30)
    assert no_token.status_code == 401


def test_login_endpoint_accepts_the_token(registry):
    resp = requests.post(f"{registry.url}login", headers=registry.headers, timeout=30)
    assert resp.status_code == 200
    assert requests.post(f"{registry.url}login", timeout=30).status_code == 401


def test_archived_releases_leave_the_list_and_downloads(registry):
    for version in ("1.0.0", "1.1.0"):
        registry.publish("acme", "gone", version, swift_source_archive("gone", version))
    registry.client.update_package_versions_status(domain=registry.domain, repository=registry.repo, format="swift",
                                                   namespace="acme", package="gone", versions=["1.1.0"],
                                                   targetStatus="Archived")
    assert list(registry.get("acme/gone").json()["releases"]) == ["1.0.0"]
    assert registry.get("acme/gone/1.1.0.zip").status_code == 404


@pytest.mark.clients
@pytest.mark.skipif(__import__("shutil").which("curl") is None, reason="curl is not installed")
def test_curl_publish_as_registry_docs_show_it(registry, tmp_path):
    """The publish command registry docs give for curl (Gitea/Forgejo's Swift pages), with Basic auth
    as ``swift package-registry login`` stores it in ~/.netrc (login ``token``), and curl's own
    ``Expect: 100-continue``; then the archive downloaded by curl, byte for byte."""
    import subprocess

    archive = tmp_path / "package.zip"
    archive.write_bytes(swift_source_archive("Curled", "0.1.0"))
    meta = json.dumps({"description": "from curl", "repositoryURLs": ["https://example.com/acme/curled"]})
    cmd = ["curl", "-sS", "-X", "PUT", "--user", f"token:{registry.token}", "-H", f"Accept: {V1}",
           "-H", "Expect: 100-continue", "-F", f"source-archive=@{archive};type=application/zip",
           "-F", f"metadata={meta};type=application/json", "-o", "/dev/null", "-w", "%{http_code}",
           f"{registry.url}acme/Curled/0.1.0"]
    assert subprocess.run(cmd, capture_output=True, text=True, check=True).stdout == "201"
    out = tmp_path / "down.zip"
    subprocess.run(["curl", "-sS", "-f", "--user", f"token:{registry.token}", "-H",
                    "Accept: application/vnd.swift.registry.v1+zip", "-o", str(out),
                    f"{registry.url}acme/curled/0.1.0.zip"], check=True)
    assert out.read_bytes() == archive.read_bytes()
    assert registry.get("acme/curled/0.1.0").json()["metadata"]["description"] == "from curl"
