"""Nexus' components listing read a page at a time from a spooled copy, one asset at a time (ferry.sources.nexus_components)."""

from __future__ import annotations

import io
import json
import tracemalloc

import pytest

from body_server import serving
from ferry.http import make_session
from ferry.sources import nexus
from ferry.sources.nexus import NexusSource
from ferry.sources.nexus_components import HEADER, NotAPage, components_assets, continuation_token


def _whole(text: str) -> list[tuple[tuple, dict]]:
    """What the listing gave when it parsed the page whole."""
    return [(tuple(c.get(k) for k in HEADER), a) for c in json.loads(text).get("items", []) for a in c.get("assets", [])]


def _streamed(text: str) -> list[tuple[tuple, dict]]:
    page = io.BytesIO(text.encode())
    continuation_token(page)
    page.seek(0)
    return [(tuple(c.get(k) for k in HEADER), a) for c, a in components_assets(page)]


def _asset(path: str, **extra) -> dict:
    return {"downloadUrl": f"http://nexus/{path}", "path": path, "id": "x", "repository": "r", "format": "maven2",
            "checksum": {"sha1": "a" * 40, "md5": "b" * 32}, "contentType": "application/java-archive",
            "lastModified": "2024-01-01T00:00:00.000+00:00", "fileSize": 12,
            "maven2": {"extension": "jar", "groupId": "g", "artifactId": "a", "version": "1", "classifier": None},
            **extra}


PAGES = [
    {"items": [{"id": "c1", "repository": "r", "format": "maven2", "group": "g", "name": "a", "version": "1",
                "assets": [_asset("g/a/1/a-1.jar"), _asset("g/a/1/a-1.pom", nested={"x": [1, {"y": None}]})]},
               {"id": "c2", "repository": "r", "format": "npm", "group": None, "name": "left-pad", "version": "1.0.0",
                "assets": []}],
     "continuationToken": "abc"},
    # fields after the assets: held to the component's end
    {"items": [{"assets": [_asset("p/1/x.whl")], "format": "pypi", "group": None, "name": "p", "version": "1"}],
     "continuationToken": None},
    {"continuationToken": None, "items": []},
    {"items": [{"id": "c", "format": "raw", "group": "/t", "name": "t/f", "version": None, "assets": [_asset("t/f"), 5]}]},
    {},
]


@pytest.mark.parametrize("page", PAGES)
def test_the_assets_are_those_of_the_page_parsed_whole(page):
    text = json.dumps(page)
    # (an asset that is not an object, the 5 above, could not be listed either way: whole, it failed the run)
    assert _streamed(text) == [(c, a) for c, a in _whole(text) if isinstance(a, dict)]
    assert continuation_token(io.BytesIO(text.encode())) == page.get("continuationToken")


def test_a_page_cut_short_is_not_a_page():
    text = json.dumps(PAGES[0])
    for end in range(0, len(text), 7):
        with pytest.raises(NotAPage):
            continuation_token(io.BytesIO(text[:end].encode()))


def _one_component_page(files: int) -> bytes:
    assets = [_asset(f"org/big/wide/1.0.0/wide-1.0.0-c{i}.jar{suffix}")
              for i in range(files) for suffix in ("", ".md5", ".sha1", ".sha256", ".sha512")]
    return json.dumps({"items": [{"id": "c", "repository": "maven-releases", "format": "maven2", "group": "org.big",
                                  "name": "wide", "version": "1.0.0", "assets": assets}],
                       "continuationToken": None}).encode()


@pytest.fixture(scope="module")
def components_server():
    body = _one_component_page(1000)
    with serving(body) as (url, _paths):
        yield url, body


def test_a_page_over_the_size_parsed_whole_gives_the_files_a_small_one_does(components_server, monkeypatch):
    url, _body = components_server
    source = NexusSource(url, make_session(), "reader", "secret")
    whole = list(source.files("maven-releases"))  # 2.5 MB: under WHOLE_PAGE_BYTES
    monkeypatch.setattr(nexus, "WHOLE_PAGE_BYTES", 1 << 18)
    assert list(source.files("maven-releases")) == whole and len(whole) == 5000


def test_a_component_of_thousands_of_assets_is_listed_without_holding_its_page(components_server, monkeypatch):
    """One Maven version of 1,000 files (5,000 assets with their checksum files, a page of 2.5 MB): parsed
    whole, the page cost 11.4 MB traced; read from its spooled copy an asset at a time, 0.2 MB. (Pages up to
    WHOLE_PAGE_BYTES, 4 MB, are parsed whole, six times faster: lowered here so a small page shows it.)"""
    monkeypatch.setattr(nexus, "WHOLE_PAGE_BYTES", 1 << 18)
    url, body = components_server
    source = NexusSource(url, make_session(), "reader", "secret")
    tracemalloc.start()
    try:
        listed = 0
        for file in source.files("maven-releases"):
            listed += 1
            last = file
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    page = json.loads(body)
    component = page["items"][0]
    assert listed == len(component["assets"]) == 5000
    assert last == source._file("maven-releases", component, component["assets"][-1])
    assert peak < len(body) / 4, f"peak {peak} bytes for a page of {len(body)}"
