"""A CodeArtifact domain (another region or account) as a source, read through the control plane.

Listing: ListPackages → ListPackageVersions → ListPackageVersionAssets, page by page. Each asset becomes a
:class:`SourceFile` whose hints carry the CodeArtifact identity generically (``format``, ``namespace``,
``name``, ``version``, ``asset``, plus ``group`` = namespace for the migrators that read Nexus-style hints)
and whose path is laid out the way the format's own repositories lay it out, so every migrator's
``identify`` maps it unchanged. Checksums come from the asset hashes (all four).

Downloading: GetPackageVersionAsset with the revision the listing saw, so a version re-published since
is refused instead of mixing two revisions' assets. The locator is a ``codeartifact:`` URI naming the
asset and that revision.

What the control plane does not carry is read from the repository's package endpoints with a token
(Basic ``aws:TOKEN``): npm dist-tags and deprecation messages, and the ``metadata`` of a Swift release
document.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping
from urllib.parse import parse_qs, quote, unquote, urlsplit

import requests
from botocore.exceptions import BotoCoreError, ClientError
from urllib3.exceptions import HTTPError as Urllib3Error

from ferry.codeartifact import Domain, package_params
from ferry.errors import FatalError, ItemError, RetryableError, UsageError
from ferry.http import check_url, retry_after_seconds
from ferry.model import Checksums, ItemKey
from ferry.sources.base import NPM_PACKUMENT_ACCEPT, SWIFT_ACCEPT, SourceFile, SourceRepository, aggregating, \
    swift_metadata_of
from ferry.sources.packument import packument_facts

SCHEME = "codeartifact"
# Versions in these states have no assets to read (Unfinished: not complete yet; Disposed: assets gone).
SKIPPED_STATUSES = ("Unfinished", "Disposed", "Deleted")
CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Locator:
    """Where one asset is in the source: repository, coordinates, asset name and the revision listed."""

    repository: str
    format: str
    namespace: str
    package: str
    version: str
    asset: str
    revision: str | None = None

    def uri(self) -> str:
        parts = [self.repository, self.format, self.namespace, self.package, self.version, self.asset]
        tail = f"?revision={quote(self.revision, safe='')}" if self.revision else ""
        return f"{SCHEME}:///" + "/".join(quote(p, safe="") for p in parts) + tail

    @classmethod
    def parse(cls, uri: str) -> "Locator":
        """The locator in ``uri``. Raises :class:`ItemError` if it is not one this source wrote."""
        split = urlsplit(uri)
        parts = split.path.lstrip("/").split("/")
        if split.scheme != SCHEME or len(parts) != 6:
            raise ItemError(f"{uri!r} is not a CodeArtifact asset locator")
        revision = parse_qs(split.query).get("revision", [None])[0]
        return cls(*(unquote(p) for p in parts), revision=revision)


def origin_of(version: Mapping[str, Any], repository: str) -> str | None:
    """How a listed version came into ``repository`` when it was not published there (ListPackageVersions'
    ``origin``): ``external:NAME`` when the domain ingested it from external connection NAME (npmjs, PyPI...),
    ``upstream:REPO`` when it entered the domain through another repository (an upstream of this one, or a
    repository it was copied from); None when it was published to ``repository`` itself, or the service
    does not say (originType UNKNOWN, no origin)."""
    origin = version.get("origin") or {}
    entry = origin.get("domainEntryPoint") or {}
    if origin.get("originType") == "EXTERNAL" or entry.get("externalConnectionName"):
        return f"external:{entry.get('externalConnectionName') or 'unknown'}"
    through = entry.get("repositoryName")
    return f"upstream:{through}" if through and through != repository else None


def native_path(fmt: str, namespace: str, package: str, version: str, asset: str) -> str:
    """The path the asset would have in the format's own repository layout (what migrators parse)."""
    if fmt == "npm":
        scope = f"@{namespace}/" if namespace else ""
        return f"{scope}{package}/-/{package}-{version}.tgz"
    if fmt == "maven":
        return f"{namespace.replace('.', '/')}/{package}/{version}/{asset}"
    head = f"{namespace}/" if namespace else ""
    return f"{head}{package}/{version}/{asset}"


class StreamingAsset:
    """A botocore StreamingBody dressed as the part of a ``requests.Response`` the transfer uses.

    A stream that breaks off raises :class:`RetryableError`, so the item layer tries again.
    """

    def __init__(self, body: Any, label: str):
        self._body = body
        self._label = label

    def iter_content(self, chunk_size: int = CHUNK) -> Iterator[bytes]:
        try:
            while True:
                chunk = self._body.read(chunk_size)
                if not chunk:
                    return
                yield chunk
        except (BotoCoreError, Urllib3Error, OSError) as err:
            raise RetryableError(f"download {self._label} broke off: {type(err).__name__}") from None

    def close(self) -> None:
        self._body.close()


class CodeArtifactSource:
    """One CodeArtifact domain read as a source. ``domain`` is a :class:`ferry.codeartifact.Domain`."""

    kind = "codeartifact"
    # A repository holds packages of several formats: files() takes the one a mapping migrates.
    lists_by_format = True

    def __init__(self, domain: Domain, session: requests.Session | None = None):
        self.domain = domain
        self.session = session or requests.Session()
        self.notes: list[str] = []  # what the run should tell the user (open_codeartifact_source gives the run's)
        self._formats: dict[str, set[str]] = {}
        self._upstreams: dict[str, list[str]] | None = None  # repository -> its upstreams, read once
        self._upstreams_lock = threading.Lock()
        # Versions listed with nothing to read, by (repository, format, status): the run's notes say so.
        self.left_out: Counter[tuple[str, str, str]] = Counter()
        # Versions (repository, format, namespace, package, version, revision) whose files GetPackageVersionAsset
        # refused, with the reason: their other files fail with it unasked.
        self._refused: dict[tuple[str, ...], str] = {}

    # -- repositories

    def formats(self, repository: str) -> set[str]:
        """The formats of the packages ``repository`` holds (one ListPackages walk, cached)."""
        if repository not in self._formats:
            self._formats[repository] = {p["format"] for p in self.domain.packages(repository)}
        return self._formats[repository]

    def repository(self, name: str) -> SourceRepository:
        """The named repository; its ``format`` is set when it holds packages of one format only.

        Raises :class:`UsageError` if the source domain or its repository does not exist (:meth:`check_repository`).
        """
        self.check_repository(name)
        found = self.formats(name)
        fmt = next(iter(found)) if len(found) == 1 else None
        native = fmt or ("+".join(sorted(found)) if found else "empty")
        return SourceRepository(name, fmt, "hosted", native)

    def check_repository(self, name: str) -> None:
        """One DescribeRepository. Raises :class:`UsageError` naming what to fix when the source domain does not
        exist (wrong domain, region or owner) or has no repository ``name``."""
        try:
            self.domain.read("describe_repository", repository=name)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            if err.response.get("resourceType") == "domain":
                raise self.domain.missing() from None
            raise UsageError(f"source domain {self.domain.name!r} in {self.domain.region} has no repository "
                             f"{name!r}; fix [[repositories]] source") from None

    # -- listing

    def versions(self, repository: str, fmt: str, namespace: str, package: str) -> Iterator[dict[str, Any]]:
        """The package's versions (ListPackageVersions, page by page); none once the package is gone: deleted
        since ListPackages named it, as happens to a domain in use while ferry lists it."""
        try:
            yield from self.domain.versions(repository, fmt, namespace, package)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise

    def files(self, repository: str, fmt: str | None = None,
              scope: Callable[[ItemKey], bool] | None = None) -> Iterator[SourceFile]:
        """Every asset of every readable version in ``repository`` (of ``fmt``, when given).

        Versions with nothing to read (Unfinished, Disposed) are counted in :attr:`left_out` by
        ``(repository, format, status)``, and so are versions gone by the time their assets are listed
        (status ``gone``): those ``scope`` selects (a key with an empty asset name) when given.
        """
        for pkg in self.domain.packages(repository, fmt):
            namespace = pkg.get("namespace") or ""
            for ver in self.versions(repository, pkg["format"], namespace, pkg["package"]):
                status = ver.get("status")
                key = ItemKey(pkg["format"], namespace, pkg["package"], ver["version"], "")
                if status in SKIPPED_STATUSES:
                    if status != "Deleted" and (scope is None or scope(key)):
                        self.left_out[(repository, pkg["format"], status)] += 1
                    continue
                assets = self._assets(repository, pkg["format"], namespace, pkg["package"], ver["version"])
                if assets is None:
                    if scope is None or scope(key):
                        self.left_out[(repository, pkg["format"], "gone")] += 1
                    continue
                for asset in assets:
                    yield self.file(repository, pkg["format"], namespace, pkg["package"], ver["version"], asset,
                                    ver.get("revision"), status or "Published", origin_of(ver, repository))

    def version_files(self, repository: str, fmt: str, namespace: str, package: str, version: str,
                      revision: str | None, status: str = "Published",
                      origin: str | None = None) -> Iterator[SourceFile]:
        """The assets of one version as source files (one ListPackageVersionAssets walk); none once the
        version is gone (:meth:`_assets`)."""
        for asset in self._assets(repository, fmt, namespace, package, version) or ():
            yield self.file(repository, fmt, namespace, package, version, asset, revision, status, origin)

    def _assets(self, repository: str, fmt: str, namespace: str, package: str, version: str) -> list[dict] | None:
        """The version's assets; None once the version (or its package) is gone: deleted since
        ListPackageVersions named it, as happens to a domain in use while ferry lists it."""
        try:
            return self.domain.assets(repository, fmt, namespace, package, version)
        except ClientError as err:
            if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                raise
            return None

    def file(self, repository: str, fmt: str, namespace: str, package: str, version: str, asset: Mapping[str, Any],
             revision: str | None, status: str, origin: str | None = None) -> SourceFile:
        name = asset["name"]
        hints = {"format": fmt, "namespace": namespace, "name": package, "version": version, "asset": name,
                 "status": status}
        if origin:
            hints["origin"] = origin
        if namespace:
            hints["group"] = namespace
        if revision:
            hints["revision"] = revision
        checksums = Checksums.from_listing(asset.get("hashes"))
        locator = Locator(repository, fmt, namespace, package, version, name, revision)
        return SourceFile(repository=repository, path=native_path(fmt, namespace, package, version, name),
                          url=locator.uri(), size=asset.get("size"), checksums=checksums, hints=hints)

    # -- reading

    def open_locator(self, locator: str, label: str) -> StreamingAsset:
        """A stream of the asset at ``locator``, from the revision it was listed at.

        Raises :class:`ItemError` when the version or asset is gone or its revision changed, or the source will
        not serve the version's files (:meth:`_refusal`), :class:`RetryableError` / :class:`FatalError` as the
        control plane's errors map.
        """
        where = Locator.parse(locator)
        version = (where.repository, where.format, where.namespace, where.package, where.version,
                   where.revision or "")
        if version in self._refused:
            raise ItemError(f"download {label}: {self._refused[version]}")
        try:
            body, served = self.domain.asset_stream(where.repository, where.format, where.namespace or None,
                                                    where.package, where.version, where.asset, where.revision)
        except ClientError as err:
            code = err.response.get("Error", {}).get("Code", "")
            if code == "ResourceNotFoundException":
                raise ItemError(f"download {label}: the source no longer has it at revision {where.revision} "
                                "(re-published or removed since it was listed); the next run picks it up") from None
            if code == "ConflictException":
                self._refused[version] = self._refusal(where, err.response.get("Error", {}).get("Message", ""))
                raise ItemError(f"download {label}: {self._refused[version]}") from None
            raise ItemError(f"download {label}: {code}") from None
        if where.revision and served and served != where.revision:
            body.close()
            raise ItemError(f"download {label}: the source served revision {served}, listed {where.revision}")
        return StreamingAsset(body, label)

    def _refusal(self, where: Locator, message: str) -> str:
        """Why GetPackageVersionAsset refused the files of ``where``'s version (ConflictException), and what to do.

        Whether the service serves an Archived version's files through the API is not documented: where it does
        not, the version's status says so (one DescribePackageVersion; any error there leaves the refusal as the
        service worded it).
        """
        try:
            described = self.domain.read("describe_package_version", packageVersion=where.version,
                                         **package_params(where.repository, where.format, where.namespace or None,
                                                          where.package))
            status = described["packageVersion"].get("status")
        except (ClientError, ItemError, RetryableError, FatalError):
            status = None
        if status == "Archived":
            return ("the source will not serve the files of a version Archived there (ConflictException); set it "
                    "Unlisted in the source, run again, then set it Archived there again (the next run archives it "
                    "in the target too), or exclude it")
        return f"the source refused to serve it (ConflictException: {message}); the next run tries again"

    def _endpoint_get(self, url: str, what: str, counted: str, **kw: Any) -> requests.Response | None:
        """One authenticated GET of a package endpoint of the source: the response, or None for 404.

        Raises RetryableError (connection, an answer cut short, 401 after dropping the token, 429 and 5xx
        with the server's ``Retry-After``), ItemError (other 4xx), FatalError when new tokens keep being refused.
        """
        token = self.domain.token()
        self.domain.count(counted)  # a package-endpoint request, shown with the API counts
        try:
            resp = self.session.get(url, auth=("aws", token), timeout=60, **kw)
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as err:
            raise RetryableError(f"{what}: {type(err).__name__}") from None
        if resp.status_code == 401:
            resp.close()
            self.domain.drop_token(token)
            raise RetryableError(f"{what}: token refused (HTTP 401)")
        self.domain.token_accepted(token)
        if resp.status_code < 400:
            return resp
        resp.close()  # an answer asked for as a stream holds its connection until closed
        if resp.status_code == 429 or resp.status_code >= 500:
            raise RetryableError(f"{what}: HTTP {resp.status_code}", retry_after=retry_after_seconds(resp))
        if resp.status_code == 404:
            return None
        raise ItemError(f"{what}: HTTP {resp.status_code}")

    def dist_tags(self, repository: str, package_id: str) -> Mapping[str, str]:
        """npm dist-tags of a package, from the repository's npm endpoint (``{}`` when it has none). Not
        retried here: callers run it under the request retry (retrying here too would multiply the attempts).

        Raises RetryableError (connection, 401, 429, 5xx, an answer that is not JSON) and ItemError (a 4xx
        other than 404).
        """
        url = f"{self.domain.endpoint(repository, 'npm')}-/package/{quote(package_id, safe='@')}/dist-tags"
        resp = self._endpoint_get(url, f"dist-tags of {package_id}", "npm dist-tags read")
        if resp is None:
            return {}
        try:
            tags = resp.json()
        except ValueError:
            raise RetryableError(f"dist-tags of {package_id}: the answer is not JSON (cut short?)") from None
        return {str(k): str(v) for k, v in (tags or {}).items()}

    def npm_package(self, repository: str, package_id: str) -> Mapping[str, Mapping[str, str]]:
        """npm dist-tags and deprecation messages of a package (``{"dist_tags": {tag: version},
        "deprecated": {version: message}}``), both empty when the repository has no such package.

        Two reads: the tags from the dist-tag API, which also names tags pointing at versions the packument
        leaves out (Unlisted, Archived), so a tag ferry copies is the same as from :meth:`dist_tags`; the
        messages from the packument the npm endpoint serves, asked for as npm asks. A version the packument
        leaves out shows no deprecation (npm cannot see one either).

        Not retried here: callers run it under the request retry. Raises RetryableError (connection, 401,
        429, 5xx, an answer that is not JSON) and ItemError (a 4xx other than 404).
        """
        tags = self.dist_tags(repository, package_id)
        url = f"{self.domain.endpoint(repository, 'npm')}{quote(package_id, safe='@')}"
        resp = self._endpoint_get(url, f"packument of {package_id}", "npm packument read",
                                  headers={"Accept": NPM_PACKUMENT_ACCEPT}, stream=True)
        if resp is None:
            return {"dist_tags": dict(tags), "deprecated": {}}
        with resp:  # read as a stream: a package of thousands of versions has a packument of tens of MB
            resp.raw.decode_content = True
            facts = packument_facts(resp.raw, f"packument of {package_id}")
        return {"dist_tags": dict(tags), "deprecated": facts["deprecated"]}

    def swift_release_metadata(self, repository: str, scope: str, name: str, version: str) -> dict | None:
        """The ``metadata`` of a Swift release, from the release document the repository's swift endpoint
        serves (``GET {scope}/{name}/{version}``); None when the release or its metadata is absent, or the
        answer is not a JSON object. Not retried here (the caller runs it under the request retry).

        Raises RetryableError (connection, 401, 429, 5xx) and ItemError (a 4xx other than 404).
        """
        url = (f"{self.domain.endpoint(repository, 'swift')}{quote(scope, safe='')}/{quote(name, safe='')}/"
               f"{quote(version, safe='')}")
        resp = self._endpoint_get(url, f"release metadata of {scope}.{name} {version}", "swift release read",
                                  headers={"Accept": SWIFT_ACCEPT})
        return None if resp is None else swift_metadata_of(resp)

    def cargo_indexes(self, repository: str) -> tuple[str, ...]:
        """The cargo endpoints a crate published to ``repository`` names its dependencies from there by: the
        repository's own, then those of the domain's repositories that reach it through their upstreams
        (directly or through another), which is where cargo users often read it.

        The upstreams are read once per run (ListRepositoriesInDomain, then a DescribeRepository per
        repository); where the source's identity may not read them, only the repository's own endpoint
        (and the run's notes say so). Each endpoint is asked for once (GetRepositoryEndpoint, cached).
        Raises RetryableError (after the control plane's retries), FatalError (credentials refused).
        """
        with self._upstreams_lock:  # workers of one run ask at once: one read
            if self._upstreams is None:
                self._upstreams = self._read_upstreams()
            upstreams = self._upstreams
        return tuple(self.domain.endpoint(name, "cargo") for name in (repository, *aggregating(repository, upstreams)))

    def _read_upstreams(self) -> dict[str, list[str]]:
        try:
            names = [str(r["name"]) for r in self.domain.pages("list_repositories_in_domain", "repositories")]
            return {name: [str(u["repositoryName"]) for u in
                           self.domain.read("describe_repository", repository=name)["repository"].get("upstreams")
                           or []] for name in names}
        except FatalError as err:
            # The identity may list packages but not the domain's repositories: a dependency named through a
            # repository that has this one as an upstream then keeps the source's URL. Say so.
            self.notes.append(f"could not read the source domain's repositories and their upstreams ({err}), so "
                              "crates whose dependencies name another repository's cargo endpoint keep that source "
                              "URL in the target; allow codeartifact:ListRepositoriesInDomain and "
                              "codeartifact:DescribeRepository to repoint them")
            return {}



def open_codeartifact_source(cfg: Any, session: requests.Session,
                             retry: Callable[[Callable[[], Any]], Any] | None = None, allow_http: bool = False,
                             ca_bundle: str | None = None, notes: list[str] | None = None) -> CodeArtifactSource:
    """The source a job's ``[source] kind = "codeartifact"`` names (``url`` is an endpoint override); ``notes``
    collects what the run should tell the user.

    The endpoint gets the authorization tokens ferry then sends to the source's package endpoints, so
    plain http is refused for a host that is not loopback unless ``allow_http`` (:func:`ferry.http.check_url`,
    which raises :class:`UsageError`); ``ca_bundle`` is a private CA for its TLS, as for the target.
    """
    url = check_url(cfg.url, "[source] url", allow_http) if cfg.url else None
    domain = Domain(cfg.domain, cfg.domain_owner, cfg.region, cfg.profile, endpoint_url=url, retry=retry,
                    role_arn=getattr(cfg, "role_arn", None), side="source", ca_bundle=ca_bundle, allow_http=allow_http)
    source = CodeArtifactSource(domain, session)
    if notes is not None:
        source.notes = notes
    return source
