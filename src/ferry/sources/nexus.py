"""Sonatype Nexus Repository 3 as a source, through REST v1 (``/service/rest/v1``).

Files are listed from the components API (each component's assets carry group/name/version hints),
page by page with ``continuationToken``. Downloads go to ``{url}/repository/{repo}/{path}`` on the
configured host, not to the ``downloadUrl`` Nexus reports, so credentials never travel to another host
when Nexus sits behind a proxy that rewrites its base URL.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import threading
from typing import IO, Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import quote

import requests
import urllib3

from ferry.errors import FatalError, ItemError, RetryableError, UsageError
from ferry.model import Checksums
from ferry.redact import register
from ferry.http import raise_for_status
from ferry.sources.base import NPM_PACKUMENT_ACCEPT, SourceFile, SourceRepository, UnreadIndexes, aggregating, \
    cargo_index_file, npm_facts_of, parse_time, source_gave_up, yanked_from_answer
from ferry.sources.nexus_components import NotAPage, components_assets, continuation_token
from ferry.sources.packument import packument_facts

T = TypeVar("T")
# A components page up to this size is parsed whole, at C speed: its objects cost about four times its size.
# A larger one (components of thousands of assets, such as a Maven SNAPSHOT with a year of nightly builds)
# is spooled to a temporary file and read one asset at a time, at about a sixth of the speed.
WHOLE_PAGE_BYTES = 4 << 20

# Nexus format name -> CodeArtifact format.
FORMATS = {
    "npm": "npm",
    "pypi": "pypi",
    "raw": "generic",
    "maven2": "maven",
    "nuget": "nuget",
    "rubygems": "ruby",
    "cargo": "cargo",
}


class _BasicAuth(requests.auth.AuthBase):
    """Basic auth whose repr never shows the password."""

    def __init__(self, username: str, password: str):
        # As UTF-8 (RFC 7617), how Nexus decodes Basic credentials: given text, requests would send Latin-1
        # (a password with an umlaut refused) or fail outright past it (a euro sign).
        self._header = requests.auth._basic_auth_str(username.encode(), password.encode())
        register(password, user=username)
        register(self._header.partition(" ")[2])

    def __call__(self, request):
        request.headers["Authorization"] = self._header
        return request

    def __repr__(self) -> str:
        return "<basic auth, redacted>"


def raise_for(response: requests.Response, what: str) -> None:
    """Turn an HTTP error status into ferry's error kinds; return quietly on success."""
    raise_for_status(response, what, refused=("Nexus refused the credentials", "check username and password_env"))


def transport_error(err: requests.RequestException, what: str) -> Exception:
    """A connection-level failure as ferry's error: TLS trust problems are fatal (waiting does not
    fix a certificate), everything else (refused, reset, cut short, timed out) is retryable."""
    if isinstance(err, requests.exceptions.SSLError):
        found = re.search(r"certificate verify failed: ([^(]+?)\s*\(", str(err))
        detail = found.group(1) if found else "TLS handshake failed"
        return FatalError(f"{what}: TLS certificate not trusted ({detail}); pass --ca-bundle with your CA's "
                          "certificates")
    return RetryableError(f"{what}: {type(err).__name__}")


class NexusSource:
    """A Nexus 3 server. ``retry`` runs a zero-argument call under the source layer's retry policy."""

    kind = "nexus"

    def __init__(
        self,
        url: str,
        session: requests.Session,
        username: str | None = None,
        password: str | None = None,
        retry: Callable[[Callable[[], T]], T] | None = None,
        notes: list[str] | None = None,
    ):
        self.url = url.rstrip("/")
        self.session = session
        self.auth = _BasicAuth(username, password or "") if username else None
        self._retry = retry or (lambda fn: fn())
        self.notes = notes if notes is not None else []
        self._repos: dict[str, SourceRepository] | None = None
        self._cargo_groups: dict[str, list[str]] | None = None  # cargo group -> its members, read once
        self._groups_lock = threading.Lock()
        self._unread_indexes = UnreadIndexes()

    def _get_json(self, path: str, params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None) -> Any:
        """:meth:`_get_json_once` under the source layer's retry policy."""
        return self._retry(lambda: self._get_json_once(path, params, headers))

    def _get_json_once(self, path: str, params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        """One GET of ``path``, its JSON answer. Raises RetryableError (connection, 429, 5xx, an answer that is
        not JSON), FatalError (credentials refused, TLS not trusted), ItemError (other 4xx)."""
        resp = self._get_once(path, params, headers)
        try:
            return resp.json()
        except ValueError:
            raise RetryableError(f"Nexus {path}: response is not JSON (cut short?)") from None

    def _get_once(self, path: str, params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None, stream: bool = False) -> requests.Response:
        """One GET of ``path``: the answer, if a success (its body still to be read when ``stream``; the caller
        closes it). Raises RetryableError (connection, 429, 5xx), FatalError (credentials refused, TLS not
        trusted), ItemError (other 4xx)."""
        try:
            resp = self.session.get(f"{self.url}{path}", params=params, auth=self.auth, timeout=60, headers=headers,
                                    stream=stream)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            raise transport_error(err, f"Nexus {path}") from None
        try:
            raise_for(resp, f"Nexus {path}")
        except BaseException:
            resp.close()
            raise
        return resp

    def repositories(self) -> dict[str, SourceRepository]:
        """All repositories by name (fetched once)."""
        if self._repos is None:
            try:
                listing = self._get_json("/service/rest/v1/repositories")
            except RetryableError as err:
                raise source_gave_up(err) from None
            except ItemError as err:
                raise FatalError(f"{self.url} does not answer like Nexus 3 ({err}); check [source] url") from None
            self._repos = {
                r["name"]: SourceRepository(r["name"], FORMATS.get(r.get("format", "")), r.get("type", ""),
                                            r.get("format", ""))
                for r in listing
            }
        return self._repos

    def repository(self, name: str) -> SourceRepository:
        repos = self.repositories()
        if name not in repos:
            known = ", ".join(sorted(repos)) or "none"
            raise UsageError(f"Nexus has no repository {name!r} (it has: {known}); fix [[repositories]] source")
        return repos[name]

    def cargo_indexes(self, repository: str) -> tuple[str, ...]:
        """The sparse indexes (``{url}/repository/{group}/``) of the Cargo groups that serve ``repository``,
        directly or through another group: a crate whose dependency was resolved through a group names the
        group's index as its ``registry-index``. The repository's own index is a prefix of its files' URLs,
        so it needs no listing. The groups are read once, from ``/service/rest/v1/repositorySettings``;
        where Nexus refuses that (it takes a repository-admin read privilege) or has no such endpoint, there
        are none, and the run's notes say so.

        Not retried here (the caller runs it under the request retry). Raises RetryableError (connection,
        429, 5xx, an answer that is not JSON), FatalError (TLS not trusted), ItemError (another 4xx).
        """
        with self._groups_lock:  # workers of one run ask at once: one read
            if self._cargo_groups is None:
                self._cargo_groups = self._read_cargo_groups()
            groups = self._cargo_groups
        return tuple(self._sparse_index(group) for group in aggregating(repository, groups))

    def _sparse_index(self, repository: str) -> str:
        """The sparse index of a Cargo repository or group, as cargo is configured with it (no ``sparse+``)."""
        return f"{self.url}/repository/{quote(repository)}/"

    def cargo_yanked(self, repository: str, name: str) -> frozenset[str] | None:
        """The versions of crate ``name`` yanked in ``repository`` (Nexus serves ``cargo yank`` [D: help.sonatype.com
        "Rust / Cargo"]), from the crate's file in the repository's sparse index (:meth:`_sparse_index`); None
        where Nexus will not show it (a 4xx other than 429: the run's notes say so once per repository).

        Not retried here. Raises RetryableError (connection, 429, 5xx, an answer cut short), FatalError (TLS not
        trusted)."""
        what = f"Cargo index of {name} in {repository}"
        url = f"{self._sparse_index(repository)}{cargo_index_file(name)}"
        try:
            resp = self.session.get(url, auth=self.auth, timeout=60, stream=True)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            raise transport_error(err, what) from None
        return yanked_from_answer(resp, what, raise_for,
                                  lambda why: self._unread_indexes.note(self.notes, repository, name, why))

    def _read_cargo_groups(self) -> dict[str, list[str]]:
        what = "Nexus /service/rest/v1/repositorySettings"
        try:
            resp = self.session.get(f"{self.url}/service/rest/v1/repositorySettings", auth=self.auth, timeout=60)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            raise transport_error(err, what) from None
        if resp.status_code in (401, 403, 404, 405):
            # Without the groups, a dependency named through one keeps pointing at Nexus: say which. A 401 too: the
            # listing went through with these credentials (or none), so it is this one read they may not make.
            self.notes.append(f"Nexus refused to list its repositories' settings (HTTP {resp.status_code}), so "
                              "crates whose dependencies name a Cargo group's index keep that Nexus URL in the "
                              "target; give the source's user nx-repository-admin-cargo-*-read to repoint them")
            return {}
        raise_for(resp, what)
        try:
            settings = resp.json()
        except ValueError:
            raise RetryableError(f"{what}: response is not JSON (cut short?)") from None
        return {str(r["name"]): [str(m) for m in ((r.get("group") or {}).get("memberNames") or [])]
                for r in settings if isinstance(r, dict) and r.get("format") == "cargo" and r.get("type") == "group"
                and r.get("name")} if isinstance(settings, list) else {}

    def files(self, repository: str) -> Iterator[SourceFile]:
        """Every asset of every component in ``repository``, a page of components at a time: a page of up to
        :data:`WHOLE_PAGE_BYTES` parsed whole, a larger one spooled to a temporary file and read from it one
        asset at a time (:mod:`ferry.sources.nexus_components`)."""
        token: str | None = None
        while True:
            params = {"repository": repository}
            if token:
                params["continuationToken"] = token
            page, token = self._retry(lambda: self._components_page(params))
            if isinstance(page, dict):
                for component in page.get("items", []):
                    for asset in component.get("assets", []):
                        yield self._file(repository, component, asset)
            else:
                with page:
                    for component, asset in components_assets(page):
                        yield self._file(repository, component, asset)
            if not token:
                return

    def _components_page(self, params: Mapping[str, str]) -> tuple[Any, Any]:
        """One GET of a components page: ``(page, continuationToken)``, the page parsed whole if it is no larger
        than :data:`WHOLE_PAGE_BYTES`, else a temporary file holding it (positioned at its start; the caller
        closes it). Raises RetryableError (as :meth:`_get_json_once`: connection, 429, 5xx, an answer cut short
        or not JSON), FatalError, ItemError."""
        path = "/service/rest/v1/components"
        resp = self._get_once(path, params, stream=True)
        spooled = None
        with resp:
            resp.raw.decode_content = True
            try:
                head = _read_up_to(resp.raw, WHOLE_PAGE_BYTES + 1)
                if len(head) > WHOLE_PAGE_BYTES:
                    spooled = tempfile.TemporaryFile()
                    spooled.write(head)
                    del head
                    shutil.copyfileobj(resp.raw, spooled, 1 << 16)
            except (urllib3.exceptions.HTTPError, OSError) as err:  # the connection broke off mid-body
                if spooled is not None:
                    spooled.close()
                raise RetryableError(f"Nexus {path}: {type(err).__name__} while reading") from None
        if spooled is None:
            try:
                page = json.loads(head)
            except ValueError:
                raise RetryableError(f"Nexus {path}: response is not JSON (cut short?)") from None
            if not isinstance(page, dict):
                raise RetryableError(f"Nexus {path}: the answer is not a page of components")
            return page, page.get("continuationToken")
        spooled.seek(0)
        try:
            token = continuation_token(spooled)
        except NotAPage:
            spooled.close()
            raise RetryableError(f"Nexus {path}: response is not JSON (cut short?)") from None
        spooled.seek(0)
        return spooled, token

    def _file(self, repository: str, component: Mapping[str, Any], asset: Mapping[str, Any]) -> SourceFile:
        path = str(asset.get("path", "")).lstrip("/")
        hints: dict[str, str] = {}
        for key in ("group", "name", "version"):
            if component.get(key):
                hints[key] = str(component[key])
        fmt = component.get("format") or asset.get("format")
        attrs = asset.get(fmt) if fmt else None
        if isinstance(attrs, Mapping):
            hints.update({k: str(v) for k, v in attrs.items() if v is not None and not isinstance(v, (dict, list))})
        checksums = Checksums.from_listing(asset.get("checksum"))
        return SourceFile(
            repository=repository,
            path=path,
            url=f"{self.url}/repository/{quote(repository)}/{quote(path)}",
            size=asset.get("fileSize"),
            checksums=checksums,
            hints=hints,
            published=parse_time(asset.get("blobCreated") or asset.get("lastModified")),
        )

    def open_locator(self, locator: str, label: str) -> requests.Response:
        """A streaming GET of the file at ``locator`` (a URL this source listed).

        Raises RetryableError (transient), FatalError (credentials refused), ItemError (gone).
        """
        if not locator.startswith(self.url + "/"):
            raise ItemError(f"download {label}: {locator!r} is not on the source host; not sending credentials there")
        try:
            resp = self.session.get(locator, auth=self.auth, stream=True, timeout=60)
        except (requests.ConnectionError, requests.Timeout) as err:
            raise transport_error(err, f"download {label}") from None
        try:
            raise_for(resp, f"download {label}")
        except Exception:
            resp.close()
            raise
        return resp

    def dist_tags(self, repository: str, package_id: str) -> Mapping[str, str]:
        """npm dist-tags from the package's packument (``/repository/{repo}/{id}``); not retried here, as
        :meth:`npm_package`."""
        return self.npm_package(repository, package_id)["dist_tags"]

    def npm_package(self, repository: str, package_id: str) -> Mapping[str, Mapping[str, str]]:
        """npm dist-tags and deprecation messages from the package's packument (``/repository/{repo}/{id}``);
        both empty when Nexus has no such package.

        Not retried here: callers run it under the request retry (retrying here too would multiply the
        attempts). Raises RetryableError (connection, 429, 5xx, an answer that is not JSON), FatalError
        (credentials refused).
        """
        escaped = package_id.replace("/", "%2f")
        path = f"/repository/{quote(repository)}/{escaped}"
        try:
            resp = self._get_once(path, headers={"Accept": NPM_PACKUMENT_ACCEPT}, stream=True)
        except ItemError:
            return npm_facts_of(None)
        with resp:  # read as a stream: a package of thousands of versions has a packument of tens of MB
            resp.raw.decode_content = True
            return packument_facts(resp.raw, f"Nexus {path}")


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    """Up to ``size`` bytes of ``stream``, fewer only at its end."""
    parts, have = [], 0
    while have < size:
        chunk = stream.read(size - have)
        if not chunk:
            break
        parts.append(chunk)
        have += len(chunk)
    return b"".join(parts)
