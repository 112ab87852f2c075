"""ferry's HTTP session reads proxy settings from the environment once per host, with requests' own rules."""

from __future__ import annotations

import requests.sessions

from ferry.http import make_session


def test_environment_proxies_still_apply_and_are_read_once_per_host(monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    calls = []
    real = requests.sessions.get_environ_proxies

    def counting(url, no_proxy=None):
        calls.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    session = make_session()
    for path in ("a", "b", "c"):
        settings = session.merge_environment_settings(f"http://nexus.example/{path}", {}, None, True, None)
        assert settings["proxies"]["http"] == "http://proxy.example:3128"
    bypass = session.merge_environment_settings("http://127.0.0.1:8081/x", {}, None, True, None)
    assert "http" not in bypass["proxies"]  # NO_PROXY honoured as requests honours it
    assert len(calls) == 2  # once per host, not once per request
    # callers may change what they get back without changing what later requests see
    settings["proxies"]["http"] = "http://elsewhere:1"
    again = session.merge_environment_settings("http://nexus.example/d", {}, None, True, None)
    assert again["proxies"]["http"] == "http://proxy.example:3128"


def test_explicit_proxies_are_not_cached(monkeypatch):
    monkeypatch.delenv("HTTP_PROXY", raising=False)
    monkeypatch.delenv("http_proxy", raising=False)
    session = make_session()
    given = session.merge_environment_settings("http://h.example/", {"http": "http://p:1"}, None, True, None)
    assert given["proxies"]["http"] == "http://p:1"
    plain = session.merge_environment_settings("http://h.example/", {}, None, True, None)
    assert "http" not in plain["proxies"]
