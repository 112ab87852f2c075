"""``/v1/search``, ``/v1/search/assets`` and ``/v1/search/assets/download``.

Search pages over matching *components* (``search_page_size`` per page, 50 in Nexus); the asset
search flattens each page's assets and keeps those passing the asset filters (checksums,
``maven.extension``, ``maven.classifier``; an empty value means "must not have one"), exactly how
``SearchResource`` does it. Component-less assets never show up in search. The continuation token
is hex of ``{offset}:{md5 of the query}``; a token from another query is refused with 406.
Values of ``group``, ``name``, ``version`` and friends accept ``*`` wildcards.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from packaging.version import InvalidVersion, Version
from werkzeug.datastructures import MultiDict

from ferry.sandbox.nexus import maven
from ferry.sandbox.nexus.store import AssetRow, ComponentRow, NotAcceptable, RepoRecord, Store

_CONTROL = {"continuationToken", "sort", "direction", "timeout"}
_ASSET_PARAMS = {"md5", "sha1", "sha256", "sha512", "maven.extension", "maven.classifier"}


@dataclass
class Hit:
    component: ComponentRow
    assets: list[AssetRow]


def _wildcard(pattern: str) -> re.Pattern:
    """Nexus search values: ``*`` matches anything, everything else literally, case-insensitive."""
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")), re.I | re.S)


def _match(pattern: str, value: str | None) -> bool:
    if value is None:
        return pattern == ""
    return bool(_wildcard(pattern).fullmatch(value))


def is_prerelease(fmt: str, version: str | None) -> bool:
    """Whether a version counts as a pre-release in its format."""
    if not version:
        return False
    if fmt == "maven2":
        return maven.is_snapshot(version) or bool(re.search(r"(?i)(alpha|beta|rc|cr|m\d|milestone)", version))
    if fmt == "pypi":
        try:
            return Version(version).is_prerelease
        except InvalidVersion:
            return False
    return "-" in version


def _maven_value(key: str, hit: Hit) -> list[str | None]:
    out = []
    for a in hit.assets:
        coords = maven.parse_path(a.path)
        if coords and not coords.hash_of:
            out.append({"maven.groupId": coords.group_id, "maven.artifactId": coords.artifact_id,
                        "maven.baseVersion": coords.base_version, "maven.extension": coords.extension,
                        "maven.classifier": coords.classifier}[key])
    return out


def _asset_value(key: str, asset: AssetRow) -> str | None:
    if key in ("md5", "sha1", "sha256", "sha512"):
        return getattr(asset, key)
    coords = maven.parse_path(asset.path)
    if coords is None:
        return None
    return coords.extension if key == "maven.extension" else coords.classifier


def _component_filter(key: str, value: str, repos: dict[str, RepoRecord]) -> Callable[[Hit], bool] | None:
    c = lambda h: h.component  # noqa: E731
    if key in ("repository", "repositoryName"):
        return lambda h: _match(value, c(h).repo)
    if key == "format":
        return lambda h: repos[c(h).repo].format == value
    if key in ("group", "npm.scope"):
        return lambda h: _match(value.lstrip("@") if key == "npm.scope" else value, c(h).group)
    if key in ("name", "nuget.id", "raw.name"):
        return lambda h: _match(value, c(h).name)
    if key == "version":
        return lambda h: _match(value, c(h).version)
    if key == "prerelease":
        want = value.lower() == "true"
        return lambda h: is_prerelease(repos[c(h).repo].format, c(h).version) == want
    if key in ("md5", "sha1", "sha256", "sha512"):
        return lambda h: any(getattr(a, key) == value.lower() for a in h.assets)
    if key.startswith("maven.") and key in ("maven.groupId", "maven.artifactId", "maven.baseVersion",
                                            "maven.extension", "maven.classifier"):
        if value == "":
            return None  # only narrows assets (see asset filters)
        return lambda h: any(v is not None and _match(value, v) for v in _maven_value(key, h))
    if key == "q":
        terms = [t.strip('"') for t in value.split() if t.strip('"')]

        patterns = [_wildcard(t if "*" in t else f"*{t}*") for t in terms]

        def keyword(h: Hit) -> bool:
            fields = [f for f in (c(h).group, c(h).name, c(h).version) if f]
            return all(any(p.fullmatch(f) for f in fields) for p in patterns)
        return keyword
    return None  # unknown filters (other formats' fields) are ignored


def _sort_key(field: str):
    def version_key(v: str | None):
        parts = re.split(r"[.\-+]", v or "")
        return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in parts]
    if field == "version":
        return lambda h: version_key(h.component.version)
    attr = {"group": "group", "name": "name", "repository": "repo"}.get(field)
    if attr is None:
        return None
    return lambda h: (getattr(h.component, attr) or "").lower()


class Search:
    """Runs searches over a :class:`Store`."""

    def __init__(self, store: Store, page_size: int):
        self.store = store
        self.page_size = page_size

    def _token_hash(self, args: MultiDict) -> str:
        items = sorted((k, v) for k, vs in args.lists() if k not in _CONTROL for v in vs)
        return hashlib.md5(repr(items).encode()).hexdigest()

    def _offset(self, token: str | None, args: MultiDict) -> int:
        if not token:
            return 0
        try:
            offset, _, digest = bytes.fromhex(token).decode().partition(":")
            value = int(offset)
        except ValueError:
            raise NotAcceptable(f"Unable to parse token {token}") from None
        if digest != self._token_hash(args):
            raise NotAcceptable(f"Continuation token {token} does not match this query")
        return value

    def components(self, args: MultiDict, repos: dict[str, RepoRecord]) -> tuple[list[Hit], str | None]:
        """One page of matching components and the next token (``None`` on the last page).

        Raises :class:`NotAcceptable` for a bad or foreign continuation token.
        """
        offset = self._offset(args.get("continuationToken"), args)
        filters = [f for k, vs in args.lists() if k not in _CONTROL for v in vs
                   if (f := _component_filter(k, v, repos)) is not None]
        comps = self.store.all_components(sorted(r for r, rec in repos.items() if rec.type == "hosted"))
        assets = self.store.assets_of([c.seq for c in comps])
        hits = [h for h in (Hit(c, assets[c.seq]) for c in comps) if all(f(h) for f in filters)]
        key = _sort_key(args.get("sort") or "")
        if key is not None:
            direction = (args.get("direction") or ("desc" if args.get("sort") == "version" else "asc")).lower()
            hits.sort(key=key, reverse=direction == "desc")
        chunk = hits[offset:offset + self.page_size]
        token = None
        if offset + self.page_size < len(hits):
            token = f"{offset + self.page_size}:{self._token_hash(args)}".encode().hex()
        return chunk, token

    def assets(self, args: MultiDict, repos: dict[str, RepoRecord]) -> tuple[list[AssetRow], str | None]:
        """One page of the asset search: the assets of a component page that pass the asset filters."""
        hits, token = self.components(args, repos)
        wanted = {k: args.get(k) for k in args if k in _ASSET_PARAMS}
        out = []
        for h in hits:
            for a in h.assets:
                ok = True
                for k, v in wanted.items():
                    actual = _asset_value(k, a)
                    ok = ok and (actual is None if v == "" else actual is not None and actual.lower() == v.lower())
                if ok:
                    out.append(a)
        return out, token
