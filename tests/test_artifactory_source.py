"""ArtifactorySource against the stand-in: AQL paging and the separate property queries, hard limit,
storage-API fallback, credentials, repository kinds, original-checksum reports, downloads, faults."""

from __future__ import annotations

import hashlib
import json
import os
import tracemalloc

import pytest
import requests

from ferry import transfer
from ferry.errors import FatalError, ItemError, RetryableError, UsageError
from ferry.http import make_session
from ferry.model import ItemKey, SourceItem
from ferry.retry import REQUEST, retrying
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.seed import npm_tarball, wheel
from ferry.sources.artifactory import ArtifactorySource, make_auth
from ferry.sources.artifactory_listing import FileListScanner

NPM = [("left-pad", "1.0.0", "npm"), ("left-pad", "1.1.0", "npm"), ("@acme/ui", "1.0.0", "npm"),
       ("@acme/ui", "1.1.0", "short"), ("@acme/ui", "2.0.0-beta.1", "short"), ("@b/z", "0.1.0", "npm"),
       ("zeta", "3.0.0", "npm")]


class CountingSession(requests.Session):
    """A session that keeps the AQL query texts it sent."""

    def __init__(self):
        super().__init__()
        self.queries: list[str] = []

    def request(self, method, url, *args, **kwargs):
        if url.endswith("/api/search/aql"):
            self.queries.append(kwargs["data"].decode())
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def art(sandbox):
    url = sandbox.urls()["artifactory"]
    seeder = ArtifactorySeeder(url)
    seeder.create_repository("npm-local", "npm")
    tarballs = {}
    for name, version, style in NPM:
        tarballs[(name, version)] = npm_tarball(name, version)
        seeder.npm("npm-local", name, version, tarballs[(name, version)], scoped_style=style)
    seeder.deploy("npm-local", "README.txt", b"not a package")
    return {"url": url, "seeder": seeder, "app": sandbox.apps["artifactory"], "sandbox": sandbox,
            "tarballs": tarballs}


def _source(art, session=None, auth=None, **kw) -> ArtifactorySource:
    retry = retrying(REQUEST, sleep=lambda s: None)
    return ArtifactorySource(art["url"], session or make_session(), auth or make_auth("admin", "password", None),
                             retry=retry, notes=[], **kw)


def _summary(files):
    """What both listing routes report (the storage API's list has no MD5)."""
    return sorted((f.path, f.checksums.sha256, f.checksums.sha1, f.size, tuple(sorted(f.hints.items())))
                  for f in files)


def test_pages_every_file_once_with_hints_checksums_and_separate_property_queries(art):
    session = CountingSession()
    source = _source(art, session, page_size=3)
    files = list(source.files("npm-local"))
    paths = [f.path for f in files]
    assert paths == sorted(paths, key=lambda p: (p.rpartition("/")[0] or ".", p.rpartition("/")[2]))
    assert len(paths) == len(set(paths)) == len(NPM) + 1
    by_path = {f.path: f for f in files}
    beta = by_path["@acme/ui/-/ui-2.0.0-beta.1.tgz"]  # the short path style
    data = art["tarballs"][("@acme/ui", "2.0.0-beta.1")]
    assert beta.hints == {"npm.name": "@acme/ui", "npm.version": "2.0.0-beta.1", "name": "ui", "group": "acme",
                          "version": "2.0.0-beta.1"}
    assert beta.checksums.sha256 == hashlib.sha256(data).hexdigest()
    assert beta.checksums.sha1 == hashlib.sha1(data).hexdigest()
    assert beta.checksums.md5 == hashlib.md5(data).hexdigest() and beta.size == len(data)
    assert beta.url == f"{art['url']}/npm-local/%40acme/ui/-/ui-2.0.0-beta.1.tgz"
    assert beta.published is not None
    assert by_path["@acme/ui/-/@acme/ui-1.0.0.tgz"].hints["name"] == "ui"
    assert by_path["left-pad/-/left-pad-1.1.0.tgz"].hints == {"npm.name": "left-pad", "npm.version": "1.1.0",
                                                              "name": "left-pad", "version": "1.1.0"}
    assert by_path["README.txt"].hints == {}
    item_queries = [q for q in session.queries if ".limit(" in q]
    assert len(item_queries) == 4  # 8 files in pages of 3, then an empty page
    assert all('"property"' not in q for q in item_queries)  # never properties with sort/limit
    assert all(".limit(" not in q and ".sort(" not in q for q in session.queries if '"property"' in q)
    assert len(session.queries) == 4 + 3


def test_property_queries_split_to_fit_the_query_length_limit(art):
    session = CountingSession()
    files = list(_source(art, session, page_size=100, max_query=300).files("npm-local"))
    prop_queries = [q for q in session.queries if '"property"' in q]
    assert len(prop_queries) >= 2 and all(len(q) <= 300 for q in prop_queries)
    assert sum(1 for f in files if "npm.name" in f.hints) == len(NPM)


def test_a_query_refused_in_the_middle_of_a_listing_stops_the_run_not_one_item(art):
    """A 400 to a later query (here the properties query, longer than this server takes) means the listing
    cannot go on: a FatalError (exit 3), not an ItemError, which the CLI would end as 'some items failed'."""
    art["app"].configure(aql_max_query=300)
    with pytest.raises(FatalError, match=r"AQL search: HTTP 400.*too long"):
        list(_source(art, max_query=5000).files("npm-local"))
    # the storage API's list likewise: the repository went away between the plan's look and its listing
    art["app"].configure(aql_refused=403)
    source = _source(art)
    source.repository("npm-local")
    assert art["seeder"].http.delete(f"{art['url']}/api/repositories/npm-local").status_code == 200
    with pytest.raises(FatalError, match=r"file list of npm-local: not found \(HTTP 404\)"):
        list(source.files("npm-local"))


def test_a_hard_limit_below_the_page_size_still_lists_everything(art):
    art["app"].configure(aql_hard_limit=2)
    clean = _summary(_source(art).files("npm-local"))
    session = CountingSession()
    trimmed = list(_source(art, session, page_size=5).files("npm-local"))
    assert _summary(trimmed) == clean and len(trimmed) == len(NPM) + 1
    items = [q for q in session.queries if ".limit(" in q]
    assert items[0].endswith(".limit(5)") and all(q.endswith(".limit(2)") and '"$gt"' in q for q in items[1:])


def test_files_deleted_or_added_while_the_listing_pages_cost_no_other_file(art):
    """A cleanup deleting files (or CI deploying some) between two AQL pages must not shift the pages over a
    file that stayed: each page continues after the last file listed, not at a position."""
    seeder = art["seeder"]
    seeder.create_repository("gen-local", "generic")
    paths = [f"tool/1.{i}/tool.bin" for i in range(9)]
    for path in paths:
        seeder.deploy("gen-local", path, path.encode())
    listed = []
    for file in _source(art, page_size=3).files("gen-local"):
        listed.append(file.path)
        if len(listed) == 3:  # the first page is in; the second is not asked for yet
            for gone in paths[:2]:
                assert seeder.http.delete(f"{art['url']}/gen-local/{gone}").status_code == 204
            seeder.deploy("gen-local", "tool/0.9/tool.bin", b"added before the listing's position")
            seeder.deploy("gen-local", "tool/2.0/tool.bin", b"added after it")
    assert len(listed) == len(set(listed))
    assert [p for p in listed if p != "tool/0.9/tool.bin"] == paths + ["tool/2.0/tool.bin"]


def test_a_file_list_that_breaks_off_and_changes_before_the_retry_costs_no_other_file(art):
    """The storage API's list is read again after a break, skipping what was read; a file deleted in
    between must not make it skip one that was never read (the list is read whole again then)."""
    art["app"].configure(aql_refused=403)
    seeder = art["seeder"]
    seeder.create_repository("gen-local", "generic")
    paths = [f"tool/1.{i}/tool.bin" for i in range(9)]
    for path in paths:
        seeder.deploy("gen-local", path, path.encode())
    source = _source(art)
    real, opened = source._open_list, []

    class CutShort:
        """The first answer, broken off after the entries up to tool/1.3 (a reset mid-stream)."""

        def __init__(self, body: bytes):
            self.body = body[: body.index(b"tool/1.4")]

        def iter_content(self, _size):
            yield self.body
            raise requests.exceptions.ChunkedEncodingError("connection broken")

        def close(self):
            pass

    def open_list(*args):
        resp = real(*args)
        opened.append(resp)
        return CutShort(resp.content) if len(opened) == 1 else resp

    source._open_list = open_list
    listed = []
    for file in source.files("gen-local"):
        listed.append(file.path)
        if len(listed) == 3:
            assert seeder.http.delete(f"{art['url']}/gen-local/{paths[0]}").status_code == 204
    assert len(opened) >= 2
    assert set(listed) == set(paths)  # the deleted file was read before it went; none that stayed is lost


def test_where_aql_is_refused_the_storage_api_lists_the_same(art):
    clean = _summary(_source(art).files("npm-local"))
    for status in (403, 404, 400):
        art["app"].configure(aql_refused=status)
        source = _source(art)
        assert _summary(source.files("npm-local")) == clean
        assert any("storage API" in note and f"HTTP {status}" in note for note in source.notes)


def test_listings_survive_throttling_errors_resets_and_cut_responses(art):
    clean = _summary(_source(art).files("npm-local"))
    art["sandbox"].faults["artifactory"].configure(
        FaultSpec(throttle=0.1, error5xx=0.1, reset=0.05, truncate=0.1, retry_after=0.0), seed=7)
    assert _summary(_source(art, page_size=2).files("npm-local")) == clean
    art["app"].configure(aql_refused=403)
    assert _summary(_source(art).files("npm-local")) == clean
    assert sum(art["sandbox"].faults["artifactory"].status()["injected"].values()) > 3


def test_an_answer_cut_short_on_every_attempt_is_a_retryable_error_naming_the_request(art):
    source = _source(art)
    source.repositories()
    art["sandbox"].faults["artifactory"].configure(FaultSpec(truncate=1.0))
    # Not requests' ChunkedEncodingError, which the CLI could only call unexpected ("report it").
    with pytest.raises(RetryableError, match=r"^AQL search: ChunkedEncodingError$"):
        list(source.files("npm-local"))
    assert art["sandbox"].faults["artifactory"].status()["injected"]["truncate"] == REQUEST.max_attempts


@pytest.mark.parametrize("mode", ["bearer", "basic-token", "api-key", "basic-password"])
def test_every_credential_form_lists(art, mode):
    seeder = art["seeder"]
    token = seeder.token()
    api_key = seeder.http.post(f"{art['url']}/api/security/apiKey").json()["apiKey"]
    auth = {"bearer": make_auth(None, None, token), "basic-token": make_auth("admin", None, token),
            "api-key": make_auth(None, None, api_key), "basic-password": make_auth("admin", "password", None)}[mode]
    assert token not in repr(auth) and api_key not in repr(auth) and "password" not in repr(auth).replace(
        "redacted", "")
    source = _source(art, auth=auth)
    assert source.repository("npm-local").format == "npm"
    assert len(list(source.files("npm-local"))) == len(NPM) + 1


def test_refused_credentials_and_a_base_url_without_artifactory_are_fatal(art):
    with pytest.raises(FatalError, match="token_env"):
        _source(art, auth=make_auth(None, None, "0" * 64)).repository("npm-local")
    wrong = ArtifactorySource(art["url"].rsplit("/artifactory", 1)[0], make_session(),
                              make_auth("admin", "password", None))
    with pytest.raises(FatalError, match="including /artifactory"):
        wrong.repository("npm-local")


def test_remote_virtual_and_unknown_repositories(art):
    seeder, store = art["seeder"], art["app"].store
    seeder.create_repository("npmjs", "npm", rclass="remote", url="https://registry.npmjs.org")
    seeder.create_repository("npm", "npm", rclass="virtual", repositories=["npm-local", "npmjs"])
    tgz = npm_tarball("lodash", "4.17.21")
    store.deploy("npmjs-cache", "lodash/-/lodash-4.17.21.tgz", store.blobs.put_bytes(tgz), "anonymous",
                 "application/x-tar", [("npm.name", "lodash"), ("npm.version", "4.17.21")])
    source = _source(art)
    with pytest.raises(UsageError, match="'npmjs-cache'"):
        source.repository("npmjs")
    with pytest.raises(UsageError, match=r"virtual.*npm-local, npmjs"):
        source.repository("npm")
    with pytest.raises(UsageError, match="local repositories: example-repo-local, npm-local"):
        source.repository("nope")
    cache = source.repository("npmjs-cache")
    assert (cache.kind, cache.format) == ("remote-cache", "npm")
    assert any("copies of public packages" in n for n in source.notes)
    (only,) = list(source.files("npmjs-cache"))
    assert only.hints["npm.version"] == "4.17.21"
    with source.open_locator(only.url, "lodash") as resp:
        assert resp.content == tgz


def test_original_checksum_mismatch_is_a_hint_and_a_note(art):
    seeder = art["seeder"]
    seeder.create_repository("gen-local", checksumPolicyType="server-generated-checksums")
    claimed = "1" * 40
    resp = requests.put(f"{art['url']}/gen-local/tools/1.0/tool.bin", data=b"tool", auth=("admin", "password"),
                        headers={"X-Checksum-Sha1": claimed})
    assert resp.status_code == 201
    seeder.deploy("gen-local", "tools/1.0/ok.bin", b"ok")
    source = _source(art)
    files = {f.path: f for f in source.files("gen-local")}
    bad = files["tools/1.0/tool.bin"]
    assert bad.hints == {"artifactory.original_sha1": claimed}
    assert bad.checksums.sha1 == hashlib.sha1(b"tool").hexdigest()  # verified against what Artifactory serves
    assert files["tools/1.0/ok.bin"].hints == {}
    (note,) = [n for n in source.notes if "originalChecksums" in n]
    assert "1 file(s)" in note and "tools/1.0/tool.bin" in note


def test_memory_stays_flat_however_many_files_have_original_checksum_mismatches():
    """The note names three files and counts the rest: keeping every such path until the listing ends
    grew with the repository (about 9 MB per 100,000 files, as a repository deployed by a tool that
    always sent wrong checksums has)."""
    source = ArtifactorySource("http://127.0.0.1:9/artifactory", make_session(), None, notes=[])
    source._package_types["gen-local"] = "generic"
    pages = []

    def aql(query, first):  # 100 pages of 500 files, every one with a mismatching original SHA-1
        pages.append(query)
        if len(pages) > 100:
            return {"results": []}
        return {"results": [{"path": f"tools/{len(pages)}/{i}", "name": f"tool-{i}.bin", "size": 1,
                             "sha256": "a" * 64, "actual_sha1": "b" * 40, "original_sha1": "d" * 40}
                            for i in range(500)]}

    source._aql = aql
    tracemalloc.start()
    try:
        count = sum(1 for _file in source.files("gen-local"))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 50_000
    (note,) = source.notes
    assert "50000 file(s)" in note and "tools/1/0/tool-0.bin" in note and "and 49997 more" in note
    assert peak < 2_000_000, f"{peak / 1e6:.1f} MB held while listing"  # the paths alone took 4.4 MB


def test_downloads_stream_only_from_the_configured_host(art):
    source = _source(art)
    file = next(f for f in source.files("npm-local") if f.path.endswith("zeta-3.0.0.tgz"))
    with source.open_locator(file.url, "zeta") as resp:
        assert resp.content == art["tarballs"][("zeta", "3.0.0")]
    with pytest.raises(ItemError, match="not on the source host"):
        source.open_locator("http://elsewhere.example/artifactory/npm-local/x.tgz", "x")
    with pytest.raises(ItemError, match="404"):
        source.open_locator(f"{art['url']}/npm-local/gone.tgz", "gone")


def test_a_download_is_streamed_and_one_cut_short_is_a_retryable_break(art, tmp_path):
    """open_locator hands the body over unread: the download streams it in chunks, so memory stays flat
    however large the file, and a body cut short is a break the item layer retries."""
    data = os.urandom(32 * 1024 * 1024)
    art["seeder"].create_repository("generic-local", "generic")
    art["seeder"].deploy("generic-local", "tool/1.0/tool.bin", data)
    source = _source(art)
    (file,) = source.files("generic-local")
    item = SourceItem(key=ItemKey("generic", "", "tool", "1.0", "tool.bin"), size=file.size,
                      checksums=file.checksums, locator=file.url, repository="generic-local")
    tracemalloc.start()
    try:
        spooled = transfer.download(lambda: source.open_locator(file.url, "tool"), item, tmp_path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert spooled.checksums.sha256 == hashlib.sha256(data).hexdigest()
    assert peak < len(data) // 2, f"{peak / 1e6:.0f} MB held for a 32 MiB download"
    art["sandbox"].faults["artifactory"].configure(FaultSpec(truncate=1.0))
    with pytest.raises(RetryableError, match=r"download of generic:tool@1.0/tool.bin broke off"):
        transfer.download(lambda: source.open_locator(file.url, "tool"), item, tmp_path)


def test_dist_tags_from_the_npm_api(art):
    art["seeder"].dist_tag("npm-local", "@acme/ui", "beta", "2.0.0-beta.1")
    source = _source(art)
    assert source.dist_tags("npm-local", "@acme/ui") == {"beta": "2.0.0-beta.1", "latest": "1.1.0"}
    assert source.dist_tags("npm-local", "left-pad") == {"latest": "1.1.0"}
    assert source.dist_tags("npm-local", "absent") == {}


def test_pypi_hints_from_properties(sandbox):
    seeder = ArtifactorySeeder(sandbox.urls()["artifactory"])
    seeder.create_repository("pypi-local", "pypi")
    fname, data = wheel("Acme.Utils", "1.2.3")
    seeder.deploy("pypi-local", f"flat/{fname}", data)  # indexing sets the properties wherever it lands
    source = ArtifactorySource(sandbox.urls()["artifactory"], make_session(), make_auth("admin", "password", None))
    (file,) = list(source.files("pypi-local"))
    assert file.hints["pypi.name"] == "Acme.Utils" and file.hints["version"] == "1.2.3"


def test_file_list_scanner_cuts_entries_across_any_chunking():
    doc = {"uri": "http://h/artifactory/api/storage/r", "created": "x", "files": [
        {"uri": "/a \"quoted\" {brace}.txt", "size": 1, "folder": False, "sha1": "s"},
        {"uri": "/d", "size": -1, "folder": True},
        {"uri": "/é/ü.bin", "size": 2, "folder": False, "mdTimestamps": {"properties": "t"}},
    ]}
    raw = json.dumps(doc, ensure_ascii=False).encode()
    for step in (1, 2, 7, len(raw)):
        scanner = FileListScanner()
        got = [e for i in range(0, len(raw), step) for e in scanner.feed(raw[i:i + step])]
        assert got == doc["files"] and scanner.finished
    cut = FileListScanner()
    assert [e["uri"] for e in cut.feed(raw[: len(raw) // 2])] == ['/a "quoted" {brace}.txt'] or not cut.finished
    assert not cut.finished


@pytest.mark.parametrize("mode", ["bearer", "api-key"])
def test_credentials_never_follow_a_redirect_to_another_host(art, mode):
    """Downloads redirected to a CDN (here: the same server under the name localhost) get no credentials."""
    seeder, app = art["seeder"], art["app"]
    secret = seeder.token() if mode == "bearer" else seeder.http.post(
        f"{art['url']}/api/security/apiKey").json()["apiKey"]
    port = art["url"].split(":")[2].split("/")[0]
    app.configure(download_redirect=f"http://localhost:{port}")
    source = _source(art, auth=make_auth(None, None, secret))
    file = next(f for f in source.files("npm-local") if f.path.endswith("zeta-3.0.0.tgz"))
    with source.open_locator(file.url, "zeta") as resp:
        assert resp.content == art["tarballs"][("zeta", "3.0.0")]
    (seen,) = app.cdn_requests
    assert not {k.lower() for k in seen} & {"authorization", "x-jfrog-art-api"}
    assert secret not in json.dumps(seen)


@pytest.mark.parametrize("url, same", [
    ("https://art.example.com:443/artifactory/x", True),
    ("https://ART.example.com/artifactory/x", True),
    ("http://art.example.com/artifactory/x", False),
    ("https://art.example.com:8443/artifactory/x", False),
    ("https://cdn.example.com/x", False),
])
def test_credentials_stay_on_the_host_however_its_port_is_written(url, same):
    """A download link that spells out the default port is the same host: its credentials go with it."""
    from ferry.sources.artifactory_http import same_origin

    assert same_origin(url, "https://art.example.com/artifactory") is same
