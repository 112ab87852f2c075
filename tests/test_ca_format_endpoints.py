"""CodeArtifact stand-in package endpoints at the HTTP level: rules and edge cases clients do not reach.

(The real-client proofs are in test_ca_npm_clients.py and test_ca_pypi_clients.py.)
"""

from __future__ import annotations

import base64
import hashlib
import io
import json

import pytest
import requests

from ferry.sandbox.blobs import BlobStore
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.codeartifact.formats import multipart, npm_body


@pytest.fixture(scope="module")
def ca(module_sandbox):
    store = module_sandbox.apps["codeartifact"].store
    domain = store.create_domain("us-east-1", "111122223333", "endpoints")
    repo = store.create_repository(domain, "repo")
    token, _ = store.issue_token(domain, 3600)
    base = module_sandbox.urls()["codeartifact"]

    class CA:
        pass

    ca = CA()
    ca.store, ca.repo, ca.token = store, repo, token
    ca.npm, ca.pypi, ca.generic = (endpoint_url(base, domain, repo.name, f) for f in ("npm", "pypi", "generic"))
    ca.auth = {"Authorization": f"Bearer {token}"}
    return ca


def _tarball(text: str) -> bytes:
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo("package/index.js")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def publish_doc(name: str, version: str, tgz: bytes, tag: str = "latest", **dist) -> dict:
    """A publish body shaped like libnpmpublish's."""
    base = name.rsplit("/", 1)[-1]
    dist = {"shasum": hashlib.sha1(tgz).hexdigest(),
            "integrity": "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode(), **dist}
    return {
        "_id": name, "name": name, "dist-tags": {tag: version},
        "versions": {version: {"name": name, "version": version, "description": "d", "dist": dist}},
        "_attachments": {f"{base}-{version}.tgz": {"content_type": "application/octet-stream",
                                                   "data": base64.b64encode(tgz).decode(), "length": len(tgz)}},
    }


def _put(ca, name: str, doc: dict) -> requests.Response:
    return requests.put(ca.npm + name.replace("/", "%2f"), data=json.dumps(doc), headers=ca.auth, timeout=10)


# -- the streaming npm body reader -------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024 * 1024])
def test_publish_body_reader_streams_data_at_any_chunk_size(tmp_path, monkeypatch, chunk):
    monkeypatch.setattr(npm_body, "CHUNK", chunk)
    tgz = bytes(range(256)) * 40 + b"x"
    data = base64.b64encode(tgz).decode()
    escaped = data.replace("/", "\\/")  # some JSON encoders escape '/'; the decoder must undo it
    raw = ('{"_attachments": {"a.tgz": {"data": "%s", "length": %d}}, "name": "n\\"q\\u00e9",'
           ' "versions": {"1.0.0": {"n": [1, -2.5e3, true, false, null, {}, []]}}}  \n' % (escaped, len(tgz)))
    blobs = BlobStore(tmp_path / "blobs")
    doc = npm_body.read_publish_body(io.BytesIO(raw.encode()), blobs)
    blob, length = npm_body.attachment_blobs(doc)["a.tgz"]
    assert length == len(tgz) and blob.sha256 == hashlib.sha256(tgz).hexdigest()
    assert blobs.open(blob.sha256).read() == tgz
    assert doc["name"] == 'n"qé'
    assert doc["versions"]["1.0.0"]["n"] == [1, -2500.0, True, False, None, {}, []]


@pytest.mark.parametrize("raw, message", [
    ('{"_attachments": {"a": {"data": "QUJD!"}}}', "not base64"),
    ('{"_attachments": {"a": {"data": "QUJDR"}}}', "multiple of 4"),
    ('{"_attachments": {"a": {"data": "QUJD', "unterminated"),
    ('{"name": "x"} trailing', "after the JSON"),
    ('{"name": tru}', "expected a JSON value"),
    ('["not", "an", "object"]', "must be a JSON object"),
])
def test_publish_body_reader_rejects_malformed_bodies(tmp_path, raw, message):
    with pytest.raises(npm_body.BadBody, match=message):
        npm_body.read_publish_body(io.BytesIO(raw.encode()), BlobStore(tmp_path / "blobs"))


def test_publish_body_reader_enforces_the_size_limit(tmp_path):
    raw = b'{"_attachments": {"a": {"data": "' + b"QUJD" * 1000 + b'"}}}'
    with pytest.raises(npm_body.BodyTooLarge):
        npm_body.read_publish_body(io.BytesIO(raw), BlobStore(tmp_path / "blobs"), max_body=2000)


# -- npm rules -------------------------------------------------------------------------------------------


def test_npm_identical_republish_succeeds_and_different_is_409(ca):
    tgz = _tarball("one")
    assert _put(ca, "@ep/same", publish_doc("@ep/same", "1.0.0", tgz)).status_code == 200
    pkg = ca.store.require_package(ca.repo, "npm", "ep", "same")
    revision = ca.store.version(pkg, "1.0.0").revision
    assert _put(ca, "@ep/same", publish_doc("@ep/same", "1.0.0", tgz)).status_code == 200
    assert ca.store.version(pkg, "1.0.0").revision == revision

    resp = _put(ca, "@ep/same", publish_doc("@ep/same", "1.0.0", _tarball("two")))
    assert resp.status_code == 409 and resp.json()["error"]
    assert ca.store.version(pkg, "1.0.0").revision == revision


def test_npm_republish_can_be_configured_to_conflict(ca, monkeypatch):
    tgz = _tarball("conflict-mode")
    assert _put(ca, "ep-strict", publish_doc("ep-strict", "1.0.0", tgz)).status_code == 200
    monkeypatch.setenv("FERRY_CA_NPM_REPUBLISH", "conflict")
    assert _put(ca, "ep-strict", publish_doc("ep-strict", "1.0.0", tgz)).status_code == 409
    assert _put(ca, "ep-strict", publish_doc("ep-strict", "1.0.1", tgz)).status_code == 200


@pytest.mark.parametrize("dist, problem", [
    ({"shasum": "0" * 40}, "shasum"),
    ({"integrity": "sha512-" + base64.b64encode(b"\0" * 64).decode()}, "integrity"),
])
def test_npm_publish_checks_declared_hashes(ca, dist, problem):
    resp = _put(ca, "ep-hash", publish_doc("ep-hash", "1.0.0", _tarball("h"), **dist))
    assert resp.status_code == 400 and problem in resp.json()["error"]
    assert ca.store.package(ca.repo, "npm", None, "ep-hash") is None


def test_npm_publish_refuses_a_name_that_differs_from_the_url(ca):
    resp = _put(ca, "ep-url", publish_doc("ep-other", "1.0.0", _tarball("u")))
    assert resp.status_code == 400


def test_npm_origin_block_is_403_or_configured_status(ca, monkeypatch):
    assert _put(ca, "ep-blocked", publish_doc("ep-blocked", "1.0.0", _tarball("b1"))).status_code == 200
    pkg = ca.store.require_package(ca.repo, "npm", None, "ep-blocked")
    ca.store.set_origin(pkg, "BLOCK", "ALLOW")
    assert _put(ca, "ep-blocked", publish_doc("ep-blocked", "1.0.1", _tarball("b2"))).status_code == 403
    monkeypatch.setenv("FERRY_CA_ORIGIN_BLOCK_STATUS", "409")
    assert _put(ca, "ep-blocked", publish_doc("ep-blocked", "1.0.1", _tarball("b2"))).status_code == 409
    assert [v.version for v in ca.store.versions(pkg)] == ["1.0.0"]


def test_npm_status_controls_listing_and_download(ca):
    tgzs = {v: _tarball(v) for v in ("1.0.0", "1.1.0", "1.2.0")}
    for version, tgz in tgzs.items():
        assert _put(ca, "ep-status", publish_doc("ep-status", version, tgz)).status_code == 200
    pkg = ca.store.require_package(ca.repo, "npm", None, "ep-status")
    ca.store.set_status(ca.store.version(pkg, "1.1.0"), "Unlisted")
    ca.store.set_status(ca.store.version(pkg, "1.2.0"), "Archived")

    packument = requests.get(ca.npm + "ep-status", headers=ca.auth, timeout=10).json()
    assert list(packument["versions"]) == ["1.0.0"]
    assert packument["dist-tags"] == {}  # "latest" pointed at 1.2.0, which clients may not see
    dist = packument["versions"]["1.0.0"]["dist"]
    assert dist["shasum"] == hashlib.sha1(tgzs["1.0.0"]).hexdigest()
    assert dist["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(tgzs["1.0.0"]).digest()).decode()

    def tarball(version):
        return requests.get(f"{ca.npm}ep-status/-/ep-status-{version}.tgz", headers=ca.auth, timeout=10)

    assert tarball("1.0.0").content == tgzs["1.0.0"]
    assert tarball("1.1.0").content == tgzs["1.1.0"]  # Unlisted: still downloadable
    assert tarball("1.2.0").status_code == 404  # Archived: not
    assert tarball("9.9.9").status_code == 404


def test_npm_dist_tag_api_and_version_manifest(ca):
    assert _put(ca, "@ep/tags", publish_doc("@ep/tags", "1.0.0", _tarball("t"))).status_code == 200
    url = ca.npm + "-/package/@ep%2ftags/dist-tags"
    put = requests.put(url + "/stable", data=json.dumps("1.0.0"), headers=ca.auth, timeout=10)
    assert put.status_code == 200
    assert requests.get(url, headers=ca.auth, timeout=10).json() == {"latest": "1.0.0", "stable": "1.0.0"}
    assert requests.put(url + "/x", data=json.dumps("7.0.0"), headers=ca.auth, timeout=10).status_code == 404
    assert requests.delete(url + "/stable", headers=ca.auth, timeout=10).status_code == 200
    assert requests.delete(url + "/stable", headers=ca.auth, timeout=10).status_code == 404
    manifest = requests.get(ca.npm + "@ep/tags/latest", headers=ca.auth, timeout=10).json()
    assert manifest["version"] == "1.0.0" and manifest["dist"]["tarball"].endswith("/@ep/tags/-/tags-1.0.0.tgz")


def test_npm_endpoint_requires_the_token(ca):
    assert requests.get(ca.npm + "ep-status", timeout=10).status_code == 401
    assert requests.get(ca.npm + "ep-status", headers={"Authorization": "Bearer nope"}, timeout=10).status_code == 401
    basic = requests.get(ca.npm + "nothing-here", auth=("aws", ca.token), timeout=10)
    assert basic.status_code == 404 and basic.json() == {"error": "Not found"}


# -- PyPI upload rules -------------------------------------------------------------------------------------


def _upload(ca, name: str, version: str, filename: str, data: bytes, **extra) -> requests.Response:
    fields = {":action": "file_upload", "protocol_version": "1", "name": name, "version": version,
              "filetype": "bdist_wheel", "pyversion": "py3", "metadata_version": "2.1", **extra}
    fields = {k: v for k, v in fields.items() if v is not None}
    return requests.post(ca.pypi, data=fields, files={"content": (filename, data, "application/octet-stream")},
                         auth=("aws", ca.token), timeout=10)


def test_pypi_upload_checks_digests_and_fields(ca):
    data = b"not really a wheel"
    filename = "ep_digest-1.0-py3-none-any.whl"
    assert _upload(ca, "ep-digest", "1.0", filename, data, sha256_digest="0" * 64).status_code == 400
    assert _upload(ca, "ep-digest", "1.0", filename, data, md5_digest="0" * 32).status_code == 400
    assert _upload(ca, "ep-digest", "1.0", filename, data, **{":action": "submit"}).status_code == 400
    assert _upload(ca, "ep-digest", "1.0", "other-1.0-py3-none-any.whl", data).status_code == 400
    assert _upload(ca, "ep-digest", "2.0", filename, data).status_code == 400
    assert ca.store.package(ca.repo, "pypi", None, "ep-digest") is None
    ok = _upload(ca, "EP.Digest", "1.0", filename, data, sha256_digest=hashlib.sha256(data).hexdigest(),
                 blake2_256_digest=hashlib.blake2b(data, digest_size=32).hexdigest())
    assert ok.status_code == 200
    assert ca.store.package(ca.repo, "pypi", None, "ep-digest").display_name == "EP.Digest"


def test_pypi_reupload_can_be_configured_to_conflict(ca, monkeypatch):
    data, filename = b"wheel bytes", "ep_strict-1.0-py3-none-any.whl"
    assert _upload(ca, "ep-strict", "1.0", filename, data).status_code == 200
    assert _upload(ca, "ep-strict", "1.0", filename, data).status_code == 200
    monkeypatch.setenv("FERRY_CA_PYPI_REUPLOAD", "conflict")
    assert _upload(ca, "ep-strict", "1.0", filename, data).status_code == 409


def test_pypi_unlisted_files_leave_the_index_but_stay_downloadable(ca):
    for version in ("1.0", "2.0"):
        filename = f"ep_hidden-{version}.tar.gz"
        assert _upload(ca, "ep-hidden", version, filename, version.encode(), filetype="sdist",
                       requires_python=">=3.9").status_code == 200
    pkg = ca.store.require_package(ca.repo, "pypi", None, "ep-hidden")
    ca.store.set_status(ca.store.version(pkg, "2.0"), "Unlisted")
    page = requests.get(ca.pypi + "simple/EP_Hidden/", auth=("aws", ca.token), timeout=10)
    assert "ep_hidden-1.0.tar.gz" in page.text and "ep_hidden-2.0.tar.gz" not in page.text
    assert 'data-requires-python="&gt;=3.9"' in page.text
    hidden = requests.get(ca.pypi + "simple/ep-hidden/2.0/ep_hidden-2.0.tar.gz", auth=("aws", ca.token), timeout=10)
    assert hidden.status_code == 200 and hidden.content == b"2.0"
    redirect = requests.get(ca.pypi + "simple/ep-hidden", auth=("aws", ca.token), timeout=10, allow_redirects=False)
    assert redirect.status_code == 301 and redirect.headers["Location"].endswith("/simple/ep-hidden/")


def test_multipart_reader_streams_the_file_part_at_any_chunk_size(tmp_path, monkeypatch):
    monkeypatch.setattr(multipart, "CHUNK", 5)
    payload = b"\r\n--not-the-boundary\r\n" + bytes(range(256)) * 3
    body = (b"--XyZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"f.whl\"\r\n\r\n" + payload
            + b"\r\n--XyZ\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nep\r\n--XyZ--\r\n")
    form = multipart.read_form(io.BytesIO(body), "multipart/form-data; boundary=XyZ", BlobStore(tmp_path), "content")
    assert form.first("name") == "ep"
    assert form.upload.filename == "f.whl"
    assert form.upload.blob.sha256 == hashlib.sha256(payload).hexdigest()
    assert form.upload.blake2_256 == hashlib.blake2b(payload, digest_size=32).hexdigest()


# -- generic -------------------------------------------------------------------------------------------------


def test_generic_asset_download_convenience(ca):
    blob = ca.store.blobs.put_bytes(b"generic bytes")
    ca.store.publish_asset(ca.repo, "generic", "tools", "thing", "1.0", "thing v1.zip", blob)
    ca.store.publish_asset(ca.repo, "generic", "tools", "thing", "2.0", "thing.zip", blob, unfinished=True)
    url = ca.generic + "tools/thing/1.0/thing%20v1.zip"
    got = requests.get(url, headers=ca.auth, timeout=10)
    assert got.status_code == 200 and got.content == b"generic bytes"
    assert got.headers["X-Checksum-Sha256"] == blob.sha256
    head = requests.head(url, headers=ca.auth, timeout=10)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == len(b"generic bytes")
    for missing in ("tools/thing/2.0/thing.zip", "tools/thing/1.0/nope", "thing/1.0/thing%20v1.zip"):
        assert requests.get(ca.generic + missing, headers=ca.auth, timeout=10).status_code == 404
    assert requests.put(url, data=b"x", headers=ca.auth, timeout=10).status_code == 405
