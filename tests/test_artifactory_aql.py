"""AQL on the Artifactory stand-in: the language subset, paging, the hard limit, properties breaking
sort/offset/limit, and the refused mode. Runs the evaluator on a store directly, and over HTTP."""

from __future__ import annotations

import pytest
import requests

from ferry.sandbox.artifactory import aql
from ferry.sandbox.artifactory.config import ArtifactoryConfig
from ferry.sandbox.artifactory.store import Store

ADMIN = ("admin", "password")


@pytest.fixture
def store(tmp_path):
    st = Store(tmp_path / "art")
    paths = ["a/x-1.tgz", "a/x-2.tgz", "a/y-1.tgz", "b/[odd]?.txt", "b/c/deep.jar", "root.txt"]
    for i, path in enumerate(paths):
        blob = st.blobs.put_bytes(path.encode() * (i + 1))
        node = st.deploy("repo-a", path, blob, "ci", "application/octet-stream")
        st.add_properties(node.id, [("idx", str(i)), ("kind", path.rsplit(".", 1)[-1])])
    st.deploy("repo-b", "a/x-1.tgz", st.blobs.put_bytes(b"other"), "ci", "application/octet-stream")
    yield st
    st.close()


def _run(store, text, **config):
    return aql.run(store, text, ArtifactoryConfig(**config))


def _names(answer):
    return [f"{r.get('path')}/{r.get('name')}" for r in answer["results"]]


def test_criteria_operators_and_default_fields(store):
    out = _run(store, 'items.find({"repo":"repo-a","name":{"$match":"x-*.tgz"}})')
    assert sorted(_names(out)) == ["a/x-1.tgz", "a/x-2.tgz"]
    assert set(out["results"][0]) == {"repo", "path", "name", "type", "size", "created", "created_by", "modified",
                                      "modified_by", "updated"}
    assert out["results"][0]["created"].endswith("Z") and out["results"][0]["type"] == "file"
    assert out["range"] == {"start_pos": 0, "end_pos": 2, "total": 2}
    assert sorted(_names(_run(store, 'items.find({"repo":"repo-a","name":{"$nmatch":"*.tgz"}})'))) == [
        "./root.txt", "b/[odd]?.txt", "b/c/deep.jar"]
    # wildcards are * and ? only; brackets are literal
    assert _names(_run(store, 'items.find({"name":{"$match":"[odd]?.txt"}})')) == ["b/[odd]?.txt"]
    # sizes: 9, 18, 27, 48, 60, 48
    assert sorted(_names(_run(store, 'items.find({"repo":"repo-a","size":{"$gte":48}})'))) == [
        "./root.txt", "b/[odd]?.txt", "b/c/deep.jar"]
    assert _names(_run(store, 'items.find({"repo":"repo-a","size":{"$gt":48,"$lt":61}})')) == ["b/c/deep.jar"]
    assert len(_run(store, 'items.find({"repo":{"$ne":"repo-a"}})')["results"]) == 1
    ors = _run(store, 'items.find({"$or":[{"repo":"repo-b"},{"name":"root.txt"}]})')
    assert sorted((r["repo"], r["name"]) for r in ors["results"]) == [("repo-a", "root.txt"), ("repo-b", "x-1.tgz")]
    ands = _run(store, 'items.find({"$and":[{"repo":"repo-a"},{"path":{"$match":"a*"}},{"name":{"$match":"*-1*"}}]})')
    assert _names(ands) == ["a/x-1.tgz", "a/y-1.tgz"]


def test_folders_only_when_asked_for(store):
    assert all(r["type"] == "file" for r in _run(store, 'items.find({"repo":"repo-a"})')["results"])
    folders = _run(store, 'items.find({"repo":"repo-a","type":"folder"})')
    assert sorted(_names(folders)) == ["./a", "./b", "b/c"]
    assert len(_run(store, 'items.find({"repo":"repo-a","type":"any"})')["results"]) == 9


def test_property_criteria_include_and_checksum_fields(store):
    out = _run(store, 'items.find({"repo":"repo-a","@kind":"tgz","@idx":{"$match":"?"}})'
                      '.include("name","actual_sha1","sha256","original_sha1","@kind")')
    assert sorted(r["name"] for r in out["results"]) == ["x-1.tgz", "x-2.tgz", "y-1.tgz"]
    row = out["results"][0]
    assert set(row) == {"name", "actual_sha1", "sha256", "original_sha1", "properties"}
    assert row["properties"] == [{"key": "kind", "value": "tgz"}]
    assert row["original_sha1"] == aql.NO_ORIGINAL  # deployed without a client checksum
    everything = _run(store, 'items.find({"repo":"repo-b"}).include("*","property")')["results"][0]
    assert {"sha256", "actual_md5", "depth", "original_md5"} <= set(everything)
    assert "properties" not in everything  # no properties: no key


def test_sort_offset_limit_page_through_everything_once(store):
    seen = []
    for offset in range(0, 8, 2):
        page = _run(store, 'items.find({"repo":"repo-a"}).include("path","name")'
                           f'.sort({{"$asc":["path","name"]}}).offset({offset}).limit(2)')
        assert page["range"]["start_pos"] == offset and page["range"]["limit"] == 2
        seen += _names(page)
    assert seen == sorted(seen, key=lambda p: tuple(p.split("/", 1))) and len(seen) == 6 and len(set(seen)) == 6
    desc = _run(store, 'items.find({"repo":"repo-a"}).include("name","size").sort({"$desc":["size"]}).limit(1)')
    assert desc["results"][0]["name"] == "deep.jar"


def test_sort_field_must_be_in_the_output(store):
    with pytest.raises(aql.AqlError, match="must be included"):
        _run(store, 'items.find({"repo":"repo-a"}).include("name").sort({"$asc":["path"]})')


def test_hard_limit_trims_with_a_notification(store):
    out = _run(store, 'items.find({"repo":"repo-a"}).include("name")', aql_hard_limit=4)
    assert len(out["results"]) == 4
    assert out["range"]["notification"] == aql.TRIMMED and out["range"]["limit"] == 4
    under = _run(store, 'items.find({"repo":"repo-a"}).include("name").limit(3)', aql_hard_limit=4)
    assert len(under["results"]) == 3 and "notification" not in under["range"]


def test_properties_with_limit_give_partial_items_in_rows_mode(store):
    # Each item has two properties: limit(3) counts item-property rows, so the second item loses one,
    # and the sort is not applied -- why ferry asks for properties in a separate query.
    out = _run(store, 'items.find({"repo":"repo-a"}).include("name","property").sort({"$desc":["name"]}).limit(3)')
    assert [r["name"] for r in out["results"]] == ["x-1.tgz", "x-2.tgz"]
    assert [len(r["properties"]) for r in out["results"]] == [2, 1]


def test_properties_with_paging_ignored_or_refused_by_configuration(store):
    text = 'items.find({"repo":"repo-a"}).include("name","property").sort({"$desc":["name"]}).limit(3)'
    ignored = _run(store, text, property_paging="ignore")
    assert len(ignored["results"]) == 6 and all(len(r["properties"]) == 2 for r in ignored["results"])
    with pytest.raises(aql.AqlError, match="cannot be used"):
        _run(store, text, property_paging="error")


@pytest.mark.parametrize("text, needle", [
    ('items.find({"repo":"a"}', "unbalanced"),
    ('builds.find({})', "domain"),
    ('items.find({"repo":"a"}).include("nope")', "nope"),
    ('items.find({"colour":"red"})', "colour"),
    ('items.find({"repo":{"$like":"a"}})', "$like"),
    ('items.find({"repo":"a"}).limit(x)', "whole number"),
    ('items.find({"repo":"a"}).frobnicate()', "frobnicate"),
    ('items.find({repo:"a"})', "JSON"),
])
def test_malformed_queries_are_errors(store, text, needle):
    with pytest.raises(aql.AqlError, match=needle.replace("$", r"\$")):
        _run(store, text)


def test_query_text_length_limit(store):
    text = 'items.find({"$or":[' + ",".join('{"name":"n%d"}' % i for i in range(600)) + ']})'
    with pytest.raises(aql.AqlError, match="too long"):
        _run(store, text)
    assert _run(store, text, aql_max_query=20000)["results"] == []


def test_aql_over_http_and_the_refused_mode(sandbox):
    url, app = sandbox.urls()["artifactory"], sandbox.apps["artifactory"]
    requests.put(f"{url}/example-repo-local/f.txt", data=b"f", auth=ADMIN)
    post = lambda text: requests.post(f"{url}/api/search/aql", data=text, auth=ADMIN,  # noqa: E731
                                      headers={"Content-Type": "text/plain"})
    ok = post('items.find({"repo":"example-repo-local"}).include("name","sha256")')
    assert ok.status_code == 200 and ok.json()["results"][0]["name"] == "f.txt"
    bad = post("items.find(")
    assert bad.status_code == 400 and "Failed to parse query" in bad.json()["errors"][0]["message"]
    app.configure(aql_refused=403)
    assert post('items.find({})').status_code == 403
    app.configure(aql_refused=0)
    assert post('items.find({})').status_code == 200
