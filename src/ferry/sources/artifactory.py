"""JFrog Artifactory as a source: repositories from ``/api/repositories``, files from AQL, downloads
from ``{url}/{repo}/{path}``.

Listing (never one unbounded answer): AQL ``items.find`` sorted by path and name, page by page with
``limit``, each page the files after the last one listed (not an ``offset``: files deleted or deployed
while the listing runs would shift positions); then, per page, the items' properties in separate
queries by repo + path + name (properties cannot share a query with sort/limit). Where AQL is refused (403/404/405/501, or
400 on the first query), the storage API's ``?list&deep=1`` is read as a stream instead, with each
file's properties from ``?properties`` where the package type needs them.

Identity hints come from the properties Artifactory's indexing sets (``npm.name``/``npm.version``,
``pypi.*``, ``nuget.*``, ``crate.*``); Maven and generic files get none (their migrators read the
path). Checksums (``sha256``, ``actual_sha1``, ``actual_md5``) go with each file and are verified
while it streams. A file whose ``originalChecksums`` (what the deploying client claimed) differ from
the actual ones is listed and copied as Artifactory serves it, with the original values in its hints
(``artifactory.original_sha1``/``_md5``) and a note naming the files.

Swift release metadata (author, description, license and repository URLs...) is read, per version, from
the release document of the Swift registry API Artifactory serves at ``/api/swift/{repo}``.

Repositories: local (and federated) ones by default. A remote repository ``X`` is refused with a
pointer to its cache ``X-cache``: naming ``X-cache`` explicitly migrates the cached copies of public
packages (and says so in the run's notes). Virtual repositories are refused (they only aggregate).

Credentials: ``token_env`` alone sends ``Authorization: Bearer`` (or ``X-JFrog-Art-Api`` for a
legacy API key, recognizable by its ``AKC`` prefix); ``username`` with ``password_env`` (a password
or an access token) or with ``token_env`` sends Basic. Credentials go only to the configured host:
redirects are followed by hand, and a hop to another host (a CDN) is made without them.
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Iterator, Mapping, TypeVar
from urllib.parse import quote, urljoin

import requests

from ferry.errors import FatalError, ItemError, RetryableError, UsageError
from ferry.sources.artifactory_http import make_auth, message, raise_for, same_origin
from ferry.sources.artifactory_listing import checksums_of, hints_from, items_query, layout_hints, \
    properties_queries, storage_entries
from ferry.sources.base import (NPM_PACKUMENT_ACCEPT, SWIFT_ACCEPT, SourceFile, SourceRepository, UnreadIndexes,
                               aggregating, cargo_index_file, npm_facts_of, parse_time, source_gave_up,
                               swift_metadata_of, yanked_from_answer)
from ferry.sources.packument import packument_facts

T = TypeVar("T")

# Artifactory package type -> CodeArtifact format.
FORMATS = {"npm": "npm", "pypi": "pypi", "maven": "maven", "gradle": "maven", "nuget": "nuget",
           "generic": "generic", "gems": "ruby", "cargo": "cargo", "swift": "swift"}
# Package types whose identity comes from properties (others: path only, no property queries).
PROPERTY_TYPES = ("npm", "pypi", "nuget", "cargo", "gems")
AQL_REFUSED = (403, 404, 405, 501)
NO_ORIGINAL = ("", "NO_ORIG", None)
PAGE_SIZE = 500
MAX_QUERY = 5000  # Artifactory refuses query texts over 6000 characters [3P]
_EXAMPLES = 3
MAX_REDIRECTS = 5


class _Mismatches:
    """The files of one listing whose original checksums differ from the actual ones: how many, and the
    first few by name (what the note shows). Memory stays the same however many there are."""

    def __init__(self) -> None:
        self.count = 0
        self.examples: list[str] = []

    def add(self, path: str) -> None:
        self.count += 1
        if len(self.examples) < _EXAMPLES:
            self.examples.append(path)


class _AqlRefused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class ArtifactorySource:
    """An Artifactory server at ``url`` (the base including ``/artifactory``).

    ``retry`` runs a zero-argument call under the source layer's retry policy; ``notes`` collects what
    the run should tell the user (remote caches, AQL fallback, original-checksum mismatches).
    """

    kind = "artifactory"

    def __init__(self, url: str, session: requests.Session, auth: requests.auth.AuthBase | None = None,
                 retry: Callable[[Callable[[], T]], T] | None = None, notes: list[str] | None = None,
                 page_size: int = PAGE_SIZE, max_query: int = MAX_QUERY):
        self.url = url.rstrip("/")
        self.session = session
        self.auth = auth
        self._retry = retry or (lambda fn: fn())
        self.notes = notes if notes is not None else []
        self.page_size = page_size
        self.max_query = max_query
        self._repos: dict[str, SourceRepository] | None = None
        self._package_types: dict[str, str] = {}
        self._cargo_virtuals: dict[str, list[str]] = {}  # Cargo virtual repository -> its members, as read
        self._virtuals_read = False  # all of them
        self._virtuals_lock = threading.Lock()
        self._unread_indexes = UnreadIndexes()

    # -- HTTP ---------------------------------------------------------------------------------------

    def _send(self, method: str, url: str, what: str, **kw) -> requests.Response:
        """One request, redirects followed by hand: credentials go only to the configured host, so a
        redirect to a CDN or another host gets none (whatever header the credentials travel in).

        Raises RetryableError when the connection fails, times out or the answer is cut short (an answer
        not streamed is read whole here), ItemError after too many redirects.
        """
        for _hop in range(MAX_REDIRECTS + 1):
            auth = self.auth if same_origin(url, self.url) else None
            try:
                resp = self.session.request(method, url, auth=auth, timeout=60, allow_redirects=False, **kw)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
                raise RetryableError(f"{what}: {type(err).__name__}") from None
            if not resp.is_redirect:
                return resp
            url = urljoin(url, resp.headers["Location"])
            resp.close()
            if resp.status_code in (301, 302, 303) and method != "HEAD":
                method = "GET"
                kw.pop("data", None)
            kw.pop("params", None)  # the Location carries its own query
        raise ItemError(f"{what}: more than {MAX_REDIRECTS} redirects")

    def _request(self, method: str, path: str, what: str, **kw) -> requests.Response:
        return self._send(method, f"{self.url}{path}", what, **kw)

    def _json(self, resp: requests.Response, what: str) -> Any:
        try:
            return resp.json()
        except ValueError:
            raise RetryableError(f"{what}: response is not JSON (cut short?)") from None

    def _get_json(self, path: str, what: str, params: Mapping[str, str] | None = None,
                  headers: Mapping[str, str] | None = None) -> Any:
        """:meth:`_get_json_once` under the source layer's retry policy."""
        return self._retry(lambda: self._get_json_once(path, what, params, headers))

    def _get_json_once(self, path: str, what: str, params: Mapping[str, str] | None = None,
                       headers: Mapping[str, str] | None = None) -> Any:
        """One GET of ``path``, its JSON answer. Raises RetryableError (connection, 429, 5xx, an answer that is
        not JSON), FatalError (401/403), ItemError (other 4xx, too many redirects)."""
        resp = self._request("GET", path, what, params=params, headers=headers)
        raise_for(resp, what)
        return self._json(resp, what)

    def _aql(self, query: str, first: bool) -> dict[str, Any]:
        """Run one AQL query. Raises _AqlRefused when the server will not run AQL (first query only),
        RetryableError (after the retries), FatalError for any other refusal: without this query's answer
        the listing cannot go on, which is not one item's failure."""

        def call() -> dict[str, Any]:
            resp = self._request("POST", "/api/search/aql", "AQL search", data=query.encode(),
                                 headers={"Content-Type": "text/plain"})
            if resp.status_code in AQL_REFUSED or (first and resp.status_code == 400):
                raise _AqlRefused(resp.status_code, message(resp))
            try:
                raise_for(resp, "AQL search")
            except ItemError as err:
                raise FatalError(f"{err}; the listing cannot go on without it") from None
            body = self._json(resp, "AQL search")
            if not isinstance(body, dict) or not isinstance(body.get("results"), list):
                raise FatalError("AQL search: the answer has no results list; is the url the Artifactory base "
                                 "(ending in /artifactory)?")
            return body

        try:
            return self._retry(call)
        except _AqlRefused as refused:
            if not first:
                raise FatalError(f"AQL search: refused in the middle of a listing (HTTP {refused.status})"
                                 f"{refused}") from None
            raise

    # -- repositories -------------------------------------------------------------------------------

    def repositories(self) -> dict[str, SourceRepository]:
        """All repositories by key (fetched once); kinds are ``local``, ``remote``, ``virtual``, ``federated``."""
        if self._repos is None:
            try:
                listing = self._get_json("/api/repositories", "Artifactory /api/repositories")
            except RetryableError as err:
                raise source_gave_up(err) from None
            except ItemError as err:
                raise FatalError(f"{self.url} does not answer like Artifactory ({err}); [source] url must be the "
                                 "base including /artifactory") from None
            if not isinstance(listing, list):
                raise FatalError(f"{self.url} does not answer like Artifactory; [source] url must be the base "
                                 "including /artifactory")
            self._repos = {}
            for entry in listing:
                native = str(entry.get("packageType", "")).lower()
                kind = str(entry.get("type", "")).lower()
                self._repos[entry["key"]] = SourceRepository(entry["key"], FORMATS.get(native), kind, native)
                self._package_types[entry["key"]] = native
        return self._repos

    def repository(self, name: str) -> SourceRepository:
        """The repository to list for ``name``. Raises UsageError for unknown, remote and virtual repositories."""
        repos = self.repositories()
        if name.endswith("-cache") and name not in repos and repos.get(name[: -len("-cache")], None) is not None \
                and repos[name[: -len("-cache")]].kind == "remote":
            remote = repos[name[: -len("-cache")]]
            self._package_types[name] = remote.native_format
            note = (f"{name} is the cache of remote repository {remote.name}: copies of public packages, "
                    "migrated because the job names the cache explicitly")
            if note not in self.notes:
                self.notes.append(note)
            return SourceRepository(name, remote.format, "remote-cache", remote.native_format)
        if name not in repos:
            known = ", ".join(sorted(k for k, r in repos.items() if r.kind in ("local", "federated"))) or "none"
            raise UsageError(f"Artifactory has no repository {name!r} (local repositories: {known}); "
                             "fix [[repositories]] source")
        repo = repos[name]
        if repo.kind == "remote":
            raise UsageError(f"{name!r} is a remote repository (a cache of public packages); to migrate what it "
                             f"has cached, name its cache {name + '-cache'!r} as the source")
        if repo.kind == "virtual":
            members = self._virtual_members(name)
            raise UsageError(f"{name!r} is a virtual repository; map the repositories it aggregates instead"
                             + (f" ({', '.join(members)})" if members else ""))
        return repo

    def _virtual_members(self, name: str) -> list[str]:
        try:
            config = self._get_json(f"/api/repositories/{quote(name)}", f"repository {name}")
        except (ItemError, RetryableError, FatalError):
            return []
        members = config.get("repositories") if isinstance(config, dict) else None
        return [str(m) for m in members or []]

    # -- listing ------------------------------------------------------------------------------------

    def files(self, repository: str) -> Iterator[SourceFile]:
        """Every file of ``repository``: AQL pages (or the storage API where AQL is refused)."""
        package_type = self._package_types.get(repository) or self.repository(repository).native_format
        mismatches = _Mismatches()
        try:
            yield from self._aql_files(repository, package_type, mismatches)
        except _AqlRefused as refused:
            self.notes.append(f"AQL is not available to these credentials (HTTP {refused.status}); listed "
                              f"{repository} through the storage API instead (slower: one request per file for "
                              "properties)")
            yield from self._storage_files(repository, package_type, mismatches)
        if mismatches.count:
            shown = "; ".join(mismatches.examples) + (f"; and {mismatches.count - _EXAMPLES} more"
                                                      if mismatches.count > _EXAMPLES else "")
            self.notes.append(f"{repository}: {mismatches.count} file(s) whose originalChecksums (what the "
                              f"deploying client claimed) differ from the actual checksums; ferry copies the bytes "
                              f"Artifactory serves and checks them against the actual checksums: {shown}")

    def _aql_files(self, repository: str, package_type: str, mismatches: _Mismatches) -> Iterator[SourceFile]:
        # Each page continues after the last file listed (see items_query), so a page with fewer files than
        # asked for (permission filtering drops rows after the limit was applied) costs nothing.
        after: tuple[str, str] | None = None
        page_size, first = self.page_size, True
        while True:
            answer = self._aql(items_query(repository, after, page_size), first)
            first = False
            results = [r for r in answer["results"] if isinstance(r, dict)]
            if not results:
                return
            if (answer.get("range") or {}).get("notification"):
                # The server's hard limit is below our page size: continue in pages of what it gives.
                page_size = len(results)
            props: dict[tuple[str, str], dict[str, list[str]]] = {}
            if package_type in PROPERTY_TYPES:
                props = self._page_properties(repository, [(str(r["path"]), str(r["name"])) for r in results])
            for row in results:
                key = (str(row["path"]), str(row["name"]))
                yield self._file(repository, row, props.get(key, {}), mismatches, package_type)
            after = (str(results[-1]["path"]), str(results[-1]["name"]))

    def _page_properties(self, repository: str, items: list[tuple[str, str]]) -> dict[tuple[str, str],
                                                                                        dict[str, list[str]]]:
        out: dict[tuple[str, str], dict[str, list[str]]] = {}
        for query in properties_queries(repository, items, self.max_query):
            answer = self._aql(query, first=False)
            for row in answer["results"]:
                found: dict[str, list[str]] = {}
                for prop in row.get("properties") or []:
                    found.setdefault(str(prop.get("key")), []).append(str(prop.get("value", "")))
                out[(str(row.get("path")), str(row.get("name")))] = found
        return out

    def _storage_files(self, repository: str, package_type: str, mismatches: _Mismatches) -> Iterator[SourceFile]:
        path = f"/api/storage/{quote(repository)}"
        params = {"list": "", "deep": "1", "listFolders": "0", "mdTimestamps": "0"}
        opener = lambda: self._retry(lambda: self._open_list(path, params, repository))  # noqa: E731
        for entry in storage_entries(opener, f"file list of {repository}"):
            rel = str(entry.get("uri", "")).lstrip("/")
            parent, _, name = rel.rpartition("/")
            props = self._file_properties(repository, rel) if package_type in PROPERTY_TYPES else {}
            row = {"path": parent or ".", "name": name, "size": entry.get("size"),
                   "modified": entry.get("lastModified"), "actual_sha1": entry.get("sha1"), "sha256": entry.get("sha2")}
            yield self._file(repository, row, props, mismatches, package_type)

    def _open_list(self, path: str, params: Mapping[str, str], repository: str) -> requests.Response:
        """The storage API's file list of ``repository``, unread. Raises RetryableError, FatalError (any
        refusal: without the list there is no listing, which is not one item's failure)."""
        what = f"file list of {repository}"
        resp = self._request("GET", path, what, params=params, stream=True)
        try:
            raise_for(resp, what)
        except ItemError as err:
            resp.close()
            raise FatalError(f"{err}; the listing cannot go on without it") from None
        except Exception:
            resp.close()
            raise
        return resp

    def _file_properties(self, repository: str, rel: str) -> dict[str, list[str]]:
        try:
            body = self._get_json(f"/api/storage/{quote(repository)}/{quote(rel)}", f"properties of {rel}",
                                  params={"properties": ""})
        except ItemError:
            return {}  # 404: the file has no properties
        props = body.get("properties") if isinstance(body, dict) else None
        return {str(k): [str(v) for v in (vals if isinstance(vals, list) else [vals])]
                for k, vals in (props or {}).items()}

    def _file(self, repository: str, row: Mapping[str, Any], props: Mapping[str, list[str]],
              mismatches: _Mismatches, package_type: str) -> SourceFile:
        folder, name = str(row.get("path") or "."), str(row["name"])
        path = name if folder in (".", "") else f"{folder}/{name}"
        checksums = checksums_of(row.get("sha256"), row.get("actual_sha1"), row.get("actual_md5"))
        hints = {**layout_hints(package_type, path), **hints_from(props)}
        for algo, actual in (("sha1", checksums.sha1), ("md5", checksums.md5)):
            original = row.get(f"original_{algo}")
            if original not in NO_ORIGINAL and actual and str(original).lower() != actual:
                hints[f"artifactory.original_{algo}"] = str(original)
        if any(k.startswith("artifactory.original_") for k in hints):
            mismatches.add(path)
        size = row.get("size")
        return SourceFile(
            repository=repository, path=path, url=f"{self.url}/{quote(repository)}/{quote(path)}",
            size=int(size) if isinstance(size, (int, str)) and str(size).lstrip("-").isdigit() and int(size) >= 0
            else None,
            checksums=checksums, hints=hints, published=parse_time(row.get("created") or row.get("modified")),
        )

    # -- downloads ----------------------------------------------------------------------------------

    def open_locator(self, locator: str, label: str) -> requests.Response:
        """A streaming GET of the file at ``locator`` (a URL this source listed).

        Raises RetryableError (transient), FatalError (credentials refused: 401), ItemError (gone, or this
        one file refused: 403).
        """
        if not locator.startswith(self.url + "/"):
            raise ItemError(f"download {label}: {locator!r} is not on the source host; not sending credentials there")
        resp = self._send("GET", locator, f"download {label}", stream=True)
        try:
            if resp.status_code == 403:
                # The listing went through, so this is about the one file: Artifactory refuses single files it
                # will not hand out (Xray's download blocking, a permission on a path). That file fails with
                # the reason Artifactory gives; the others still move.
                raise ItemError(f"download {label}: Artifactory refused this file (HTTP 403){message(resp)}")
            raise_for(resp, f"download {label}")
        except Exception:
            resp.close()
            raise
        return resp

    def dist_tags(self, repository: str, package_id: str) -> Mapping[str, str]:
        """npm dist-tags from the packument Artifactory serves at ``/api/npm/{repo}/{name}``; not retried
        here, as :meth:`npm_package`."""
        return self.npm_package(repository, package_id)["dist_tags"]

    def npm_package(self, repository: str, package_id: str) -> Mapping[str, Mapping[str, str]]:
        """npm dist-tags and deprecation messages from the packument Artifactory serves at
        ``/api/npm/{repo}/{name}``; both empty when it has no such package.

        Not retried here: callers run it under the request retry (retrying here too would multiply the
        attempts). Raises RetryableError (429, 5xx, connection, an answer that is not JSON), FatalError (401/403).
        """
        escaped = quote(package_id, safe="@").replace("/", "%2f")
        what = f"packument of {package_id}"
        resp = self._request("GET", f"/api/npm/{quote(repository)}/{escaped}", what,
                             headers={"Accept": NPM_PACKUMENT_ACCEPT}, stream=True)
        with resp:  # read as a stream: a package of thousands of versions has a packument of tens of MB
            try:
                raise_for(resp, what)
            except ItemError:
                return npm_facts_of(None)
            resp.raw.decode_content = True
            return packument_facts(resp.raw, what)

    def cargo_indexes(self, repository: str) -> tuple[str, ...]:
        """The index URLs of a Cargo repository, as its "Set Me Up" gives them to cargo: the sparse index
        ``{url}/api/cargo/{repo}/index`` and the git index ``{url}/git/{repo}.git`` [3P: JFrog's Cargo docs];
        then the sparse index of each Cargo virtual repository that aggregates it (directly or through
        another virtual one), which is what cargo users of a virtual repository name its crates by.

        The virtual repositories' members are read once per run (one request per Cargo virtual repository);
        one whose configuration Artifactory will not show is passed over, and the run's notes say so. Not
        retried here (the caller runs it under the request retry). Raises RetryableError, ItemError (another
        refusal of a configuration read)."""
        own = self._sparse_index(repository), f"{self.url}/git/{quote(repository)}.git"
        with self._virtuals_lock:  # workers of one run ask at once: one read
            if not self._virtuals_read:
                # A retried read goes on from the one that failed: those read already (and noted) are kept.
                for key, repo in self.repositories().items():
                    if repo.kind == "virtual" and repo.native_format == "cargo" and key not in self._cargo_virtuals:
                        self._cargo_virtuals[key] = self._members_once(key)
                self._virtuals_read = True
            virtuals = self._cargo_virtuals
        return own + tuple(self._sparse_index(key) for key in aggregating(repository, virtuals))

    def _sparse_index(self, repository: str) -> str:
        """The sparse index of a Cargo repository, as its "Set Me Up" gives it to cargo (no ``sparse+``)."""
        return f"{self.url}/api/cargo/{quote(repository)}/index"

    def cargo_yanked(self, repository: str, name: str) -> frozenset[str] | None:
        """The versions of crate ``name`` yanked in ``repository`` (``cargo yank``, which Artifactory takes in
        local Cargo repositories [D: JFrog's Cargo docs]), from the crate's file in the sparse index
        (:meth:`_sparse_index`); None where Artifactory will not show it (a 4xx other than 429: the
        run's notes say so once per repository), which is no reason to hold the crate back. Not retried here.
        Raises RetryableError (connection, 429, 5xx, an answer cut short), ItemError (too many redirects)."""
        what = f"Cargo index of {name} in {repository}"
        resp = self._send("GET", f"{self._sparse_index(repository)}/{cargo_index_file(name)}", what, stream=True)
        return yanked_from_answer(resp, what, raise_for,
                                  lambda why: self._unread_indexes.note(self.notes, repository, name, why))

    def _members_once(self, name: str) -> list[str]:
        """The repositories virtual repository ``name`` aggregates; none where Artifactory will not show its
        configuration to these credentials (it may take an admin), and the run's notes then say so. Raises
        RetryableError (connection, 429, 5xx, an answer that is not JSON)."""
        what = f"configuration of repository {name}"
        resp = self._request("GET", f"/api/repositories/{quote(name)}", what)
        if resp.status_code in (401, 403, 404):
            # Its members unknown, a dependency named through it keeps pointing at Artifactory: say which.
            self.notes.append(f"Artifactory would not show the configuration of Cargo virtual repository {name} "
                              f"(HTTP {resp.status_code}), so crates whose dependencies name its index keep that "
                              "Artifactory URL in the target; let the source's user read that repository's "
                              "configuration (Artifactory shows it to an admin) to repoint them")
            return []
        raise_for(resp, what)
        config = self._json(resp, what)
        members = config.get("repositories") if isinstance(config, dict) else None
        return [str(m) for m in members or []]

    def swift_release_metadata(self, repository: str, scope: str, name: str, version: str) -> dict | None:
        """The ``metadata`` of a Swift release, from the release document of the Swift registry API Artifactory
        serves at ``/api/swift/{repo}/{scope}/{name}/{version}``; None when the release or its metadata is
        absent (404), or the answer is not a JSON object. Not retried here (the caller runs it under the
        request retry). Raises RetryableError (429, 5xx, connection), FatalError (401/403), ItemError (other 4xx).
        """
        what = f"release metadata of {scope}.{name} {version}"
        path = "/".join(quote(p, safe="") for p in (repository, scope, name, version))
        resp = self._request("GET", f"/api/swift/{path}", what, headers={"Accept": SWIFT_ACCEPT})
        if resp.status_code == 404:
            return None
        raise_for(resp, what)
        return swift_metadata_of(resp)


def open_artifactory_source(cfg, settings, session: requests.Session, retry) -> ArtifactorySource:
    """The source for a ``[source] kind = "artifactory"`` job section (``cfg``: :class:`ferry.config.SourceConfig`).

    Raises UsageError for an unusable url, an unset credential variable, or a token that is not ASCII.
    """
    from ferry.http import check_url

    url = check_url(cfg.url or "", "[source] url", settings.allow_http)
    password = cfg.password.reveal() if cfg.password else None
    token = cfg.token.reveal() if cfg.token else None
    if token is not None and not token.isascii():
        # Access tokens and API keys are ASCII; anything else is a wrong value (it could not travel in a header).
        where = f" ({cfg.token.origin})" if cfg.token.origin else ""
        raise UsageError(f"environment variable {cfg.token.env}{where} holds characters no Artifactory token or API "
                         "key has; set it to the token alone (a password goes in password_env, with username)")
    return ArtifactorySource(url, session, make_auth(cfg.username, password, token), retry=retry,
                             notes=settings.notes)
