"""The npm packument read as a stream (ferry.sources.packument): what it gives, and that it never holds the document."""

from __future__ import annotations

import io
import json
import random
import tempfile
import tracemalloc

import pytest
import urllib3

from ferry.errors import RetryableError
from body_server import BodyHandler, serving
from ferry.http import make_session
from ferry.migrators.base import PublishContext
from ferry.migrators.npm import sync_deprecations, target_deprecations
from ferry.sources.artifactory import ArtifactorySource, make_auth
from ferry.sources.base import npm_facts_of
from ferry.sources.nexus import NexusSource
from ferry.sources.packument import packument_facts, packument_versions, rewrite_deprecations


def _facts(text: str) -> dict:
    return packument_facts(io.BytesIO(text.encode()), "packument of p")


# Documents where a walk of the events could go wrong: a repeated key (json.loads keeps the last),
# "versions" or "deprecated" nested where they mean nothing, values of the wrong type.
AWKWARD = [
    '{"dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {"deprecated": "old"}}}',
    '{"versions": {"1.0.0": {"deprecated": "a"}}, "versions": {"2.0.0": {}}}',
    '{"versions": {"1.0.0": {"deprecated": "a"}, "1.0.0": {"name": "x"}}}',
    '{"versions": {"1.0.0": {"deprecated": "a", "deprecated": ""}}}',
    '{"versions": {"1.0.0": {"deprecated": "", "deprecated": "b"}}}',
    '{"dist-tags": {"latest": "1"}, "dist-tags": {"next": "2"}}',
    '{"dist-tags": ["latest"], "versions": ["1.0.0"]}',
    '{"dist-tags": "latest", "versions": "1.0.0"}',
    '{"dist-tags": {"latest": 1, "beta": true, "rc": null, "x": {"y": 1}}}',
    '{"versions": {"1.0.0": {"dist": {"deprecated": "no", "versions": {"2": {"deprecated": "no"}}}}}}',
    '{"name": {"dist-tags": {"latest": "9"}, "versions": {"9": {"deprecated": "no"}}}}',
    '{"versions": {"1.0.0": ["deprecated", "x"], "2.0.0": "deprecated", "3.0.0": null}}',
    '{"versions": {"1.0.0": {"deprecated": ["x"]}, "2.0.0": {"deprecated": {"m": "y"}}, "3.0.0": {"deprecated": 5}}}',
    '{"versions": {"1.0.0": {"deprecated": "d\\u00e9pr\\u00e9ci\\u00e9 \\u2603 \\"quoted\\""}}}',
    '{"versions": {}, "dist-tags": {}}',
    '{}', '[]', '"a packument?"', '5', 'null',
]


@pytest.mark.parametrize("text", AWKWARD)
def test_the_facts_are_those_of_the_whole_document(text):
    assert _facts(text) == npm_facts_of(json.loads(text))


def _deprecated_whole(text: str, messages: dict[str, str]) -> object:
    """What sync_deprecations wrote back before it streamed: the document parsed whole, each message set."""
    doc = json.loads(text)
    versions = doc.get("versions") if isinstance(doc, dict) else None
    for version, message in messages.items():
        if isinstance(versions, dict) and isinstance(versions.get(version), dict):
            versions[version]["deprecated"] = message
    return doc


def _versions_whole(text: str, among) -> tuple[set, dict] | None:
    doc = json.loads(text)
    if not isinstance(doc, dict):
        return None
    versions = doc.get("versions") if isinstance(doc.get("versions"), dict) else {}
    deprecated = {v: m["deprecated"] for v, m in versions.items() if isinstance(m, dict) and "deprecated" in m}
    return set(versions) & set(among), deprecated


def _rewritten(text: str, messages: dict[str, str]) -> object:
    out = io.BytesIO()
    rewrite_deprecations(io.BytesIO(text.encode()), out, messages, "packument of p")
    return json.loads(out.getvalue())


_MESSAGES = {"1.0.0": "use 2.x", "2.0.0": "", "2.0.0-rc.1": "d\u00e9pr\u00e9ci\u00e9 \u2603 \"q\"", "9": "x"}


@pytest.mark.parametrize("text", AWKWARD)
def test_the_rewritten_packument_is_the_whole_document_with_the_messages_set(text):
    assert _rewritten(text, _MESSAGES) == _deprecated_whole(text, _MESSAGES)
    listed = packument_versions(io.BytesIO(text.encode()), "packument of p", _MESSAGES)
    assert listed == _versions_whole(text, _MESSAGES)


def _random_document(rnd: random.Random) -> str:
    """A packument-like JSON text with repeated keys, nested look-alikes and values of any type."""

    def scalar():
        return rnd.choice(["", "deprecated", "use 2.x", 0, 1.5, True, False, None])

    def value(depth=0):
        pick = rnd.random()
        if depth > 2 or pick < 0.5:
            return scalar()
        if pick < 0.7:
            return [value(depth + 1) for _ in range(rnd.randint(0, 3))]
        return {rnd.choice(["deprecated", "versions", "dist-tags", "a"]): value(depth + 1) for _ in range(3)}

    def obj(pairs):
        return "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in pairs) + "}"

    def manifest():
        return obj([(rnd.choice(["deprecated", "name", "dist"]), json.dumps(value(1))) for _ in range(rnd.randint(0, 4))])

    pairs = []
    for _ in range(rnd.randint(0, 5)):
        key = rnd.choice(["dist-tags", "versions", "name", "time"])
        if key == "versions" and rnd.random() < 0.85:
            pairs.append((key, obj([(rnd.choice(["1.0.0", "1.0.1", "2.0.0-rc.1"]), manifest())
                                    for _ in range(rnd.randint(0, 5))])))
        elif key == "dist-tags" and rnd.random() < 0.85:
            pairs.append((key, json.dumps({rnd.choice(["latest", "next"]): scalar() for _ in range(2)})))
        else:
            pairs.append((key, json.dumps(value(1))))
    return obj(pairs)


def test_random_documents_give_the_facts_of_the_whole_document():
    rnd = random.Random(20261127)
    documents = [_random_document(rnd) for _ in range(3000)]
    found = 0
    for text in documents:
        want = npm_facts_of(json.loads(text))
        assert _facts(text) == want, text
        found += bool(want["deprecated"])
    assert found > 100  # the documents did exercise deprecations (131 of them)


def test_random_documents_are_rewritten_as_the_whole_document_would_be():
    rnd = random.Random(20261128)
    for _ in range(3000):
        text = _random_document(rnd)
        assert _rewritten(text, _MESSAGES) == _deprecated_whole(text, _MESSAGES), text
        listed = packument_versions(io.BytesIO(text.encode()), "packument of p", _MESSAGES)
    assert listed == _versions_whole(text, _MESSAGES), text


def test_a_body_cut_short_is_retried():
    text = json.dumps({"dist-tags": {"latest": "1.0.0"}, "versions": {"1.0.0": {"deprecated": "old"}}})
    for end in range(len(text)):
        with pytest.raises(RetryableError, match="packument of p: the answer is not JSON"):
            _facts(text[:end])


class _BreaksOff:
    """A body whose connection breaks off after ``after`` bytes."""

    def __init__(self, data: bytes, after: int):
        self._data, self._after, self._at = data, after, 0

    def read(self, size=-1):
        if self._at >= self._after:
            raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")
        size = len(self._data) if size is None or size < 0 else size
        chunk = self._data[self._at:min(self._at + size, self._after)]
        self._at += len(chunk)
        return chunk


def test_a_connection_broken_mid_body_is_retried():
    data = json.dumps({"versions": {f"1.0.{i}": {"deprecated": "x"} for i in range(2000)}}).encode()
    with pytest.raises(RetryableError, match="packument of p: ProtocolError while reading"):
        packument_facts(_BreaksOff(data, len(data) // 2), "packument of p")


def _large_packument(versions: int) -> bytes:
    manifests = {}
    for i in range(versions):
        version = f"1.{i // 100}.{i % 100}"
        manifests[version] = {
            "name": "@acme/nightly", "version": version, "description": "nightly build " * 4,
            "dependencies": {f"@acme/dep-{j}": f"^{j}.0.0" for j in range(10)},
            "dist": {"tarball": f"http://nexus.example/repository/npm/@acme/nightly/-/nightly-{version}.tgz",
                     "shasum": f"{i:040x}"},
            **({"deprecated": f"{version} is broken"} if i % 10 == 0 else {}),
        }
    return json.dumps({"name": "@acme/nightly", "dist-tags": {"latest": version}, "versions": manifests}).encode()


_WRITTEN_BACK: list = []  # the bodies the packument server was sent by PUT, as files


class _KeepsWritesBack(BodyHandler):
    def do_PUT(self):  # noqa: N802 - http.server's naming
        # Kept on disk, read in small pieces: the test measures the client's memory in this same process.
        left, kept = int(self.headers["Content-Length"]), tempfile.TemporaryFile()
        while left:
            chunk = self.rfile.read(min(left, 1 << 16))
            kept.write(chunk)
            left -= len(chunk)
        _WRITTEN_BACK.append(kept)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")


@pytest.fixture(scope="module")
def packument_server():
    body = _large_packument(3000)
    with serving(body, _KeepsWritesBack) as (url, paths):
        yield url, body, paths


@pytest.mark.parametrize("kind", ["nexus", "artifactory"])
def test_a_large_packument_is_read_without_holding_it(packument_server, kind):
    """3,000 versions (a 1.7 MB packument): parsed whole it took over five times its size in Python objects;
    read as a stream, a small fraction of it."""
    url, body, paths = packument_server
    if kind == "nexus":
        source = NexusSource(url, make_session(), "reader", "secret")
        expected_path = "/repository/npm-hosted/@acme%2fnightly"
    else:
        source = ArtifactorySource(f"{url}/artifactory", make_session(), make_auth("reader", "secret", None), notes=[])
        expected_path = "/artifactory/api/npm/npm-hosted/@acme%2fnightly"
    tracemalloc.start()
    try:
        facts = source.npm_package("npm-hosted", "@acme/nightly")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert paths[-1].lower() == expected_path.lower()  # requests writes %2f as %2F
    assert facts == npm_facts_of(json.loads(body))
    assert len(facts["deprecated"]) == 300 and facts["dist_tags"] == {"latest": "1.29.99"}
    assert peak < len(body) / 4, f"peak {peak} bytes for a packument of {len(body)}"


class _Domain:
    """What PublishContext.send needs of a domain, for a target npm endpoint served by the test server."""

    limiter = None

    def __init__(self, url: str):
        self.url = url

    def token(self) -> str:
        return "test-token-0123456789abcdef"

    def token_accepted(self, token: str) -> None:
        pass

    def endpoint(self, repository: str, fmt: str) -> str:
        return f"{self.url}/{repository}/{fmt}/"


def test_the_target_s_deprecations_are_read_without_holding_its_packument(packument_server):
    """verify's read of the target's deprecations, and the read sync_deprecations makes on every run to find
    the messages already in step, stream the packument; only a difference costs the whole document (to be
    written back)."""
    url, body, paths = packument_server
    ctx = PublishContext(_Domain(url), "npm-store", make_session(), {})
    whole = npm_facts_of(json.loads(body))["deprecated"]
    tracemalloc.start()
    try:
        held = target_deprecations(ctx, "@acme/nightly")
        changed = sync_deprecations(ctx, "@acme/nightly", dict(list(whole.items())[:50]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert held == whole and len(held) == 300
    assert changed == 0
    assert [p.lower() for p in paths[-2:]] == ["/npm-store/npm/@acme%2fnightly?write=true"] * 2  # two reads, no write
    assert peak < len(body) / 4, f"peak {peak} bytes for a packument of {len(body)}"


def test_a_difference_is_written_back_without_holding_the_packument(packument_server):
    """When messages differ the packument must be written back whole, as npm deprecate does: it was parsed
    whole for that (over five times its size in Python objects); now it is spooled and rewritten as a stream,
    and the document written is what the whole one with the messages set was."""
    url, body, paths = packument_server
    ctx = PublishContext(_Domain(url), "npm-store", make_session(), {})
    whole = npm_facts_of(json.loads(body))["deprecated"]
    want = {version: "superseded by 2.x" for version in list(whole)[:40]}  # 40 messages changed
    want.update({"1.0.1": "also broken", "1.0.2": whole.get("1.0.2", "also broken")})  # 2 versions deprecated anew
    _WRITTEN_BACK.clear()
    tracemalloc.start()
    try:
        changed = sync_deprecations(ctx, "@acme/nightly", want)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert changed == 42
    assert len(_WRITTEN_BACK) == 1
    _WRITTEN_BACK[0].seek(0)
    assert json.loads(_WRITTEN_BACK[0].read()) == _deprecated_whole(body.decode(), want)
    assert peak < len(body) / 4, f"peak {peak} bytes for a packument of {len(body)}"
