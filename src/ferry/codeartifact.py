"""A CodeArtifact domain seen from ferry: control plane through boto3, package endpoints through requests.

One :class:`Domain` per (region, account, domain). It fetches the authorization token once, refreshes it
before it expires (and at once if an endpoint answers 401), caches repository endpoints, and walks the
list operations page by page so a large repository never sits in memory whole.

Retries are not done here: botocore's own retries are switched off, and callers wrap calls in the
policy of :mod:`ferry.retry`, so throttling is retried in exactly one layer.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Iterator

import boto3
import requests
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConfigParseError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    SSLError,
)

from ferry.credentials import LAPSED_CREDENTIALS, RENEW, one_line
from ferry.errors import FatalError, ItemError, PublishConflict, RetryableError, UsageError
from ferry.http import check_url
from ferry.lean_reads import LeanReads
from ferry.ratelimit import RateLimiter, operation_class
from ferry.redact import register
from ferry.retry import parse_retry_after

# Refresh the token when less than this is left (or a tenth of its life, for short-lived tokens), so a
# publish never starts with a token about to lapse.
TOKEN_REFRESH_MARGIN = 300.0
TOKEN_DURATION = 43200
# A token refused before any endpoint accepted it was refused as it came: after this many in a row it is not
# the token that is wrong but what it stands for (more than one, as a token may be revoked just after it came).
MAX_FRESH_TOKENS_REFUSED = 3

RETRYABLE_CODES = {"ThrottlingException", "InternalServerException", "ServiceUnavailable", "RequestTimeout"}
# A publish is answered once the service has taken (and hashed) the whole asset, which for a large one
# can take longer than botocore's 60 s read timeout: publishes wait as long as the package endpoints' do.
PUBLISH_TIMEOUT = 300


@dataclass(frozen=True)
class AssetState:
    """What the target holds for one asset: its SHA-256 and the version's status."""

    sha256: str
    size: int
    status: str


def translate(err: Exception, what: str, side: str | None = None, endpoint: str | None = None) -> Exception:
    """Map a boto3 error to ferry's error kinds (retryable, fatal); the message never holds credentials.

    ``side`` (``"source"`` or ``"target"``) and ``endpoint`` make "unreachable" say which one.
    """
    if isinstance(err, ClientError):
        code = err.response.get("Error", {}).get("Code", "")
        msg = err.response.get("Error", {}).get("Message", "")
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in RETRYABLE_CODES or status >= 500:
            retry_after = err.response.get("retryAfterSeconds")
            header = err.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
            after = retry_after if retry_after is not None else header
            try:
                after_s = float(after) if after is not None else None
            except ValueError:
                after_s = None
            return RetryableError(f"{what}: {code} {msg}".strip(), retry_after=after_s)
        if side and code == str(status):
            # botocore names an error by its HTTP status when the answer carries no AWS error type: what
            # answered is not CodeArtifact (endpoint_url pointing at another server, a proxy's page).
            return FatalError(f"{what}: the {side} endpoint {endpoint} does not answer like CodeArtifact "
                              f"(HTTP {status}); check [{side}] region and {_endpoint_key(side)}")
        if code == "AccessDeniedException" and what == "publish_package_version":
            return ItemError(f"{what}: publishing refused ({msg}); the package's origin controls may block "
                             "publishing: rerun with --origin-policy allow-publish")
        if code == "ConflictException" and what == "publish_package_version":
            return PublishConflict(f"{what}: the target already holds different content ({msg})")
        if code == "ConflictException" and what == "get_package_version_asset":
            return err  # a version whose files the source will not serve: the source says which and why
        if code == "ConflictException":
            # Something of that name exists already, or is in another state than asked for: not content.
            return ItemError(f"{what}: CodeArtifact refused it as a conflict ({msg})")
        if code in ("AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
                    "ExpiredTokenException"):
            whose = f"the {side}'s" if side else "the"
            where = f" of [{side}]" if side else ""
            return FatalError(f"{what}: CodeArtifact refused {whose} credentials ({code}); check the AWS profile/role"
                              f"{where}")
        return err
    if isinstance(err, (SSLError, requests.exceptions.SSLError)):
        return FatalError(f"{what}: TLS certificate of the CodeArtifact endpoint not trusted; "
                          "pass --ca-bundle with your CA's certificates")
    if isinstance(err, (EndpointConnectionError, requests.ConnectionError)):
        if side:
            return RetryableError(f"{what}: CodeArtifact unreachable at {side} endpoint {endpoint} "
                                  f"({type(err).__name__}); check [{side}] region and {_endpoint_key(side)}")
        return RetryableError(f"{what}: CodeArtifact unreachable ({type(err).__name__})")
    if isinstance(err, HTTPClientError):
        # Reached, but the connection broke before the whole answer (a reset, a read timeout): retried as it was,
        # and once the retries are spent, told as that rather than as a bug of ferry's.
        return RetryableError(f"{what}: CodeArtifact closed the connection before answering ({type(err).__name__})")
    if isinstance(err, (NoCredentialsError, PartialCredentialsError)):
        return FatalError(f"{what}: no usable AWS credentials found; set AWS_PROFILE or the job's [target] profile")
    if isinstance(err, LAPSED_CREDENTIALS):
        whose = f" for the {side}" if side else ""
        return FatalError(f"{what}: the AWS credentials{whose} could not be refreshed ({one_line(err)}); {RENEW}: "
                          "the run resumes where it stopped")
    return err


def _endpoint_key(side: str) -> str:
    # The job file's key for a side's endpoint: a CodeArtifact source takes it as [source] url, the target as
    # [target] endpoint_url; a message must name the one the operator can change.
    return "url" if side == "source" else "endpoint_url"


def _register_credentials(session: boto3.session.Session) -> None:
    """Tell ferry.redact the AWS secret key and session token, so no message or log can show them."""
    try:
        creds = session.get_credentials()
    except Exception:  # noqa: BLE001 - resolving credentials fails later with a proper message
        return
    if creds is not None:
        register(getattr(creds, "secret_key", None))
        register(getattr(creds, "token", None))


_signed_with: tuple[str | None, str | None] | None = None  # the (secret key, token) registered last


def _register_signing_credentials(request_signer: Any = None, **_: Any) -> None:
    """botocore hook (before-sign): register credentials refreshed during the run (assumed roles) too."""
    global _signed_with
    creds = getattr(request_signer, "_credentials", None)
    if creds is None:
        return
    frozen = creds.get_frozen_credentials() if hasattr(creds, "get_frozen_credentials") else creds
    pair = (getattr(frozen, "secret_key", None), getattr(frozen, "token", None))
    if pair != _signed_with:  # registering is idempotent, so a race between threads costs nothing
        for value in pair:
            register(value)
        _signed_with = pair


def _check_complete(response_dict: dict, operation_model, **_: Any) -> None:
    """botocore hook (before-parse): refuse a JSON reply that was cut short.

    botocore does not enforce Content-Length on JSON replies, and a body that does not parse gives
    no error, only missing keys; a dropped connection would then look like an empty answer.
    Raises :class:`RetryableError`.
    """
    if operation_model.has_streaming_output or response_dict.get("status_code", 0) >= 300:
        return
    body = response_dict.get("body") or b""
    headers = response_dict.get("headers") or {}
    length = str(headers.get("content-length", "")).strip()
    encoded = str(headers.get("content-encoding", "identity")).lower() not in ("", "identity")
    if length.isdigit() and not encoded and int(length) != len(body):
        raise RetryableError(f"{operation_model.name}: reply cut short ({len(body)} of {length} bytes)")
    if body.strip():
        try:
            json.loads(body)
        except ValueError:
            raise RetryableError(f"{operation_model.name}: reply cut short (not complete JSON)") from None


def _whole_seconds_retry_after(response_dict: dict, **_: Any) -> None:
    """botocore hook (before-parse): a ``Retry-After`` botocore can read, asking for at least the same wait.

    botocore reads ThrottlingException's ``retryAfterSeconds`` from the header as an integer, so a fraction
    (``0.5``) or an HTTP date, both valid HTTP (RFC 9110) and what a proxy in front of the service may send,
    raised ValueError out of its parser: the throttled call was not retried but ended the run. Rounded up
    to whole seconds here (a date as the seconds until it); a value that is neither is dropped (the retry then
    backs off as for no Retry-After).
    """
    headers = response_dict.get("headers")
    value = headers.get("retry-after") if headers is not None else None
    if value is None or str(value).strip().isdigit():
        return
    seconds = parse_retry_after(value)
    del headers["retry-after"]
    if seconds is not None:
        headers["retry-after"] = str(math.ceil(seconds))


class Domain:
    """A CodeArtifact domain. Thread-safe: workers share one instance.

    Construction raises :class:`UsageError` for no or incomplete AWS credentials, credentials the profile
    cannot give (an SSO session that ended), an unknown profile, an unreadable AWS config file or an unknown
    region, before anything is contacted. Credentials that cannot be refreshed later are a :class:`FatalError`
    (:func:`translate`).
    """

    def __init__(
        self,
        name: str,
        owner: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        session: boto3.session.Session | None = None,
        max_pool: int = 16,
        retry: Callable[[Callable[[], Any]], Any] | None = None,
        role_arn: str | None = None,
        limiter: RateLimiter | None = None,
        ca_bundle: str | None = None,
        side: str = "target",
        allow_http: bool | None = None,
    ):
        self.name = name
        self.side = side
        # Every control-plane call takes a slot of its operation class first (see ferry.ratelimit).
        self.limiter = limiter
        self.owner = owner
        self._account: str | None = None  # the owner DescribeDomain named, when ``owner`` is not given
        # Runs idempotent reads under the request layer's retry policy; writes are retried by callers.
        self.retry = retry or (lambda fn: fn())
        self.role_arn = role_arn
        try:
            self._boto_session = session or boto3.session.Session(profile_name=profile, region_name=region)
            if self._boto_session.get_credentials() is None:
                # Before anything is contacted: a shell set up without credentials is bad input, not a
                # refusal by the service (a role is assumed with these credentials too).
                raise UsageError(f"no AWS credentials found for the {side}; set AWS_PROFILE or [{side}] profile, "
                                 "or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
            if role_arn:
                from ferry.aws_roles import assumed_session

                self._boto_session = assumed_session(self._boto_session, role_arn, region)
            self.region = self._boto_session.region_name or region
            if not self.region:
                raise UsageError(f"{side} region unknown: set [{side}] region in the job file or AWS_REGION")
            # total_max_attempts, not max_attempts (which counts retries): ferry.retry is the only layer that retries.
            config = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=max_pool)
            self._client_args = {"region_name": self.region, "endpoint_url": endpoint_url,
                                 "verify": ca_bundle if ca_bundle else None}
            self.client = self._new_client(config)
            if allow_http is not None and not endpoint_url:
                # An endpoint the environment or the AWS config names (AWS_ENDPOINT_URL_CODEARTIFACT, a
                # profile's endpoint_url) gets the authorization tokens too: the job's rule for http holds.
                check_url(self.client.meta.endpoint_url, f"[{side}] endpoint from AWS_ENDPOINT_URL_CODEARTIFACT, "
                          "AWS_ENDPOINT_URL or the AWS config", allow_http)
        except ProfileNotFound as err:
            # err names the profile actually looked for: the job's, or AWS_PROFILE's when the job has none.
            raise UsageError(f"AWS profile {err.kwargs.get('profile', profile)!r} not found in the AWS config; "
                             f"fix [{side}] profile or AWS_PROFILE") from None
        except PartialCredentialsError as err:  # names the missing variable or key, never a value
            raise UsageError(f"AWS credentials for the {side} are incomplete ({err}); set the missing one, or use "
                             "a profile") from None
        except ConfigParseError as err:
            raise UsageError(f"AWS config file {err.kwargs.get('path', '')} cannot be read (not valid INI); fix it "
                             "or point AWS_CONFIG_FILE at another file") from None
        except LAPSED_CREDENTIALS as err:
            raise UsageError(f"AWS credentials for the {side} cannot be loaded ({one_line(err)}); {RENEW}") from None
        self._publisher: Any = None  # the client for publishes, made with the first one
        self._publisher_lock = threading.Lock()
        # The list calls a listing sends by the thousand skip boto3's per-call machinery (same wire, same answers).
        self._lean = LeanReads(self.client)
        _register_credentials(self._boto_session)
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None
        self._token_accepted = False  # an endpoint has accepted the current token
        self._fresh_tokens_refused = 0  # tokens refused in a row before any endpoint accepted them
        self._margin = TOKEN_REFRESH_MARGIN
        self.tokens_fetched = 0
        self._endpoints: dict[tuple[str, str], str] = {}
        self._endpoints_lock = threading.Lock()
        self._counts: Counter[str] = Counter()
        self._counts_lock = threading.Lock()  # not _lock: token() holds that while it calls

    # -- plumbing ---------------------------------------------------------------------------------

    def _new_client(self, config: Config) -> Any:
        client = self._boto_session.client("codeartifact", config=config, **self._client_args)
        client.meta.events.register("before-parse.codeartifact", _check_complete)
        client.meta.events.register("before-parse.codeartifact", _whole_seconds_retry_after)
        client.meta.events.register("before-sign.codeartifact", _register_signing_credentials)
        return client

    def _client_for(self, operation: str) -> Any:
        """The client to send ``operation`` with: publishes get one with the longer read timeout."""
        if operation != "publish_package_version":
            return self.client
        with self._publisher_lock:
            if self._publisher is None:
                slow = Config(read_timeout=PUBLISH_TIMEOUT)
                self._publisher = self._new_client(self.client.meta.config.merge(slow))
        return self._publisher

    def _ids(self) -> dict[str, str]:
        ids = {"domain": self.name}
        if self.owner:
            ids["domainOwner"] = self.owner
        return ids

    def count(self, operation: str) -> None:
        """Count one control-plane request of ``operation`` (snake_case), for the end-of-run cost line."""
        with self._counts_lock:
            self._counts[operation] += 1

    def request_counts(self) -> dict[str, int]:
        """Requests sent so far by API operation name (``ListPackages``: 3), every attempt counted."""
        names = self.client.meta.method_to_api_mapping
        with self._counts_lock:
            return {names.get(op, op): n for op, n in sorted(self._counts.items())}

    def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """Call a control-plane operation (snake_case name) for this domain. Returns boto3's response.

        Waits first for a slot of the operation's rate class when the domain has a limiter (and tells
        it of throttling). Errors are translated (see :func:`translate`), not retried.
        """
        cls = operation_class(operation)
        if self.limiter is not None:
            self.limiter.acquire(cls)
        self.count(operation)
        try:
            if self._lean.handles(operation):
                return self._lean.call(operation, {**self._ids(), **params})
            return getattr(self._client_for(operation), operation)(**self._ids(), **params)
        except Exception as err:  # noqa: BLE001 - translated, or re-raised as it was
            mapped = translate(err, operation, self.side, self.client.meta.endpoint_url)
            if self.limiter is not None and _is_throttle(err):
                self.limiter.throttled(cls)
            if mapped is err:
                raise
            raise mapped from err

    def read(self, operation: str, **params: Any) -> dict[str, Any]:
        """An idempotent control-plane call under the retry policy."""
        return self.retry(lambda: self.call(operation, **params))

    def pages(self, operation: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Yield the items under ``key`` from every page of a list operation, one page in memory at a time.

        Each page request is retried on its own, so a throttled page never cuts the listing short.
        """
        token = None
        while True:
            extra = {"nextToken": token} if token else {}
            page = self.read(operation, **params, **extra)
            yield from page.get(key, [])
            token = page.get("nextToken")
            if not token:
                return

    # -- token and endpoints ----------------------------------------------------------------------

    def token(self) -> str:
        """A valid authorization token, fetched or refreshed when less than the margin is left."""
        with self._lock:
            if self._token is None or self._token[1] - time.time() < self._margin:
                fetched = time.time()
                out = self.read("get_authorization_token", durationSeconds=TOKEN_DURATION)
                expiration = out["expiration"]
                expires = expiration.timestamp() if hasattr(expiration, "timestamp") else float(expiration)
                register(out["authorizationToken"])  # never to be printed or logged (ferry.redact)
                self._token = (out["authorizationToken"], expires)
                self._token_accepted = False
                self._margin = min(TOKEN_REFRESH_MARGIN, max(0.0, expires - fetched) / 10)
                self.tokens_fetched += 1
            return self._token[0]

    def token_accepted(self, token: str) -> None:
        """An endpoint took ``token`` (it answered anything but 401)."""
        if not self._token_accepted and self._token is not None and self._token[0] == token:
            self._token_accepted = True
            self._fresh_tokens_refused = 0

    def drop_token(self, token: str) -> None:
        """Forget ``token`` (an endpoint refused it) so the next :meth:`token` call fetches a new one.

        Raises :class:`FatalError` when :data:`MAX_FRESH_TOKENS_REFUSED` tokens in a row were refused
        before any endpoint had accepted them: new tokens are refused, so the identity behind them is.
        """
        with self._lock:
            if self._token and self._token[0] == token:
                self._fresh_tokens_refused = 0 if self._token_accepted else self._fresh_tokens_refused + 1
                self._token = None
                if self._fresh_tokens_refused >= MAX_FRESH_TOKENS_REFUSED:
                    raise FatalError(f"CodeArtifact's {self.side} repository endpoints refused "
                                     f"{MAX_FRESH_TOKENS_REFUSED} new authorization tokens in a row (HTTP 401); "
                                     f"check that the [{self.side}] AWS identity may read from and publish to the "
                                     "repository")

    def endpoint(self, repository: str, fmt: str) -> str:
        """The repository's endpoint URL for ``fmt``, ending in ``/`` (cached)."""
        key = (repository, fmt)
        url = self._endpoints.get(key)
        if url is None:
            # Workers starting together would each ask for the same endpoint: the first asks, the rest wait.
            with self._endpoints_lock:
                url = self._endpoints.get(key)
                if url is None:
                    out = self.read("get_repository_endpoint", repository=repository, format=fmt)
                    url = out["repositoryEndpoint"]
                    url = url if url.endswith("/") else url + "/"
                    self._endpoints[key] = url
        return url

    # -- domain and repositories ------------------------------------------------------------------

    def account(self, required: bool = True) -> str | None:
        """The account that owns the domain: ``domain_owner`` when the job gives it, else the one
        DescribeDomain names (the credentials' own account, which a changed profile or role changes).
        None for a domain that does not exist (yet) when not ``required``.

        Raises :class:`UsageError` (:meth:`missing`) when a ``required`` domain does not exist, else what the
        read raises."""
        if self.owner:
            return self.owner
        if self._account is None and not self.exists():
            if required:
                raise self.missing()
            return None
        return self._account

    def missing(self) -> UsageError:
        """The error for this domain not existing for these credentials (wrong domain, region or owner)."""
        owner = f" (owner {self.owner})" if self.owner else ""
        return UsageError(f"{self.side} domain {self.name!r}{owner} does not exist in {self.region} for these "
                          f"credentials; fix [{self.side}] domain, region or domain_owner")

    def exists(self) -> bool:
        try:
            out = self.read("describe_domain")
            self._account = self._account or (out.get("domain") or {}).get("owner")  # account() asks no more
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise

    def repository_exists(self, repository: str) -> bool:
        try:
            self.read("describe_repository", repository=repository)
            return True
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return False
            raise

    def create(self) -> None:
        """Create the domain (CreateDomain takes no domainOwner)."""
        self.count("create_domain")
        try:
            self.client.create_domain(domain=self.name)
        except Exception as err:  # noqa: BLE001
            raise translate(err, "create_domain", self.side, self.client.meta.endpoint_url) from err

    def create_repository(self, repository: str, description: str = "created by ferry") -> None:
        self.call("create_repository", repository=repository, description=description)

    # -- packages, versions, assets ---------------------------------------------------------------

    def packages(self, repository: str, fmt: str | None = None) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"repository": repository, "maxResults": 1000}
        if fmt:
            params["format"] = fmt
        return self.pages("list_packages", "packages", **params)

    def versions(self, repository: str, fmt: str, namespace: str | None, package: str) -> Iterator[dict[str, Any]]:
        params = package_params(repository, fmt, namespace, package)
        return self.pages("list_package_versions", "versions", maxResults=1000, **params)

    def assets(self, repository: str, fmt: str, namespace: str | None, package: str, version: str) -> list[dict]:
        params = package_params(repository, fmt, namespace, package)
        return list(self.pages("list_package_version_assets", "assets", packageVersion=version,
                               maxResults=1000, **params))

    def asset_state(
        self, repository: str, fmt: str, namespace: str | None, package: str, version: str, asset: str
    ) -> AssetState | None:
        """The target's SHA-256 and status for one asset, or None if the version or asset is absent."""
        try:
            params = package_params(repository, fmt, namespace, package)
            out = self.read("list_package_version_assets", packageVersion=version, maxResults=1000, **params)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        status = self._version_status(repository, fmt, namespace, package, version)
        for page_asset in _all_assets(self, out, params, version):
            if page_asset["name"] == asset:
                return AssetState(page_asset["hashes"].get("SHA-256", ""), page_asset.get("size", 0), status)
        return None

    def version_listing(self, repository: str, fmt: str, namespace: str | None, package: str,
                        version: str) -> tuple[str | None, list[dict]] | None:
        """One version's assets as the target lists them, with the version's revision:
        ``(revision, [{"name", "size", "hashes"}...])``, or None if the version is absent.

        One ListPackageVersionAssets call (more for over 1,000 assets), no DescribePackageVersion.
        """
        params = package_params(repository, fmt, namespace, package)
        try:
            out = self.read("list_package_version_assets", packageVersion=version, maxResults=1000, **params)
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return out.get("versionRevision"), list(_all_assets(self, out, params, version))

    def _version_status(self, repository: str, fmt: str, namespace: str | None, package: str, version: str) -> str:
        out = self.read("describe_package_version", packageVersion=version, **package_params(repository, fmt, namespace, package))
        return out["packageVersion"]["status"]

    def publish_generic(
        self, repository: str, namespace: str, package: str, version: str, asset: str,
        body, sha256: str, unfinished: bool,
    ) -> dict[str, Any]:
        """PublishPackageVersion for one generic asset; ``body`` is an open binary file (streamed)."""
        return self.call(
            "publish_package_version", repository=repository, format="generic", namespace=namespace,
            package=package, packageVersion=version, assetContent=body, assetName=asset,
            assetSHA256=sha256, unfinished=unfinished,
        )

    def asset_stream(self, repository: str, fmt: str, namespace: str | None, package: str, version: str,
                     asset: str, revision: str | None = None) -> tuple[Any, str | None]:
        """GetPackageVersionAsset, streamed: ``(botocore StreamingBody, revision the service served)``.

        With ``revision`` the service refuses (ResourceNotFoundException, raised as the ClientError)
        a version whose revision has changed since it was listed.
        """
        extra = {"packageVersionRevision": revision} if revision else {}
        out = self.call("get_package_version_asset", packageVersion=version, asset=asset, **extra,
                        **package_params(repository, fmt, namespace, package))
        return out["asset"], out.get("packageVersionRevision")

    def origin(self, repository: str, fmt: str, namespace: str | None, package: str) -> dict[str, str] | None:
        """The package's origin restrictions ({'publish':..,'upstream':..}) or None if it doesn't exist."""
        try:
            out = self.read("describe_package", **package_params(repository, fmt, namespace, package))
        except ClientError as err:
            if err.response["Error"]["Code"] == "ResourceNotFoundException":
                return None
            raise
        return out["package"].get("originConfiguration", {}).get("restrictions")

    def allow_publish(self, repository: str, fmt: str, namespace: str | None, package: str) -> None:
        """Set publish=ALLOW, upstream=BLOCK: what a migration needs to publish directly."""
        self.call("put_package_origin_configuration", restrictions={"publish": "ALLOW", "upstream": "BLOCK"},
                  **package_params(repository, fmt, namespace, package))


def source_limiter(job: Any, source: Domain, target: Domain) -> RateLimiter:
    """The rate limiter for the control-plane calls of ``job``'s CodeArtifact ``source``, given the ``target``
    (with its limiter, whose ``share`` of the rates a source of its own takes too).

    CodeArtifact's quotas are per account and region: a source in the target's region that signs in alike
    (same profile and role_arn, so the same account) takes its slots from the target's limiter, or the two
    together would go over the account's quotas; any other source has its own, at ``[options.source_rates]``
    (defaults: the documented quotas). Raises :class:`UsageError` for ``[options.source_rates]`` on a source
    that shares the target's limiter.
    """
    s, t, shared = job.source, job.target, target.limiter or RateLimiter(dict(job.options.rates))
    if source.region == target.region and (s.profile, s.role_arn) == (t.profile, t.role_arn):
        if job.options.source_rates:
            raise UsageError(f"{job.path}: options.source_rates: the source is in the target's region and signs in "
                             "alike (one account's quotas), so it shares [options.rates]; remove "
                             "[options.source_rates] or set the rates in [options.rates]")
        return shared
    return RateLimiter(dict(job.options.source_rates), share=shared.share)


def _is_throttle(err: Exception) -> bool:
    if not isinstance(err, ClientError):
        return False
    code = err.response.get("Error", {}).get("Code", "")
    return code == "ThrottlingException" or err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 429


def package_params(repository: str, fmt: str, namespace: str | None, package: str) -> dict[str, Any]:
    """The repository, format, package and (when there is one) namespace parameters of a package call."""
    params: dict[str, Any] = {"repository": repository, "format": fmt, "package": package}
    if namespace:
        params["namespace"] = namespace
    return params


def _all_assets(domain: Domain, first: dict, params: dict, version: str) -> Iterator[dict]:
    yield from first.get("assets", [])
    token = first.get("nextToken")
    while token:
        page = domain.read("list_package_version_assets", packageVersion=version, maxResults=1000,
                           nextToken=token, **params)
        yield from page.get("assets", [])
        token = page.get("nextToken")


def names_one_domain(known: str, label: str) -> bool:
    """Whether two names of a domain as ledgers record them (``ACCOUNT:DOMAIN@REGION``: replicate's
    :func:`ferry.replicators.run.domain_label`, the job target of :func:`ferry.commands.job_target`) are of one
    domain. A name without the account (written by a
    ferry that did not record it, or of a target not created yet) is taken as the same domain when domain
    and region agree, as that ferry did; the run then records the account with it."""
    return known == label or ((":" not in known or ":" not in label)
                              and known.rsplit(":", 1)[-1] == label.rsplit(":", 1)[-1])
