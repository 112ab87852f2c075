"""HTTP sessions for sources and package endpoints: pooled, TLS-verified, and careful with credentials.

- TLS verification is on; ``ca_bundle`` names a private CA file.
- Plain ``http://`` is allowed for loopback hosts only, unless ``allow_http`` is set.
- requests drops ``Authorization`` when a redirect goes to another host, and ferry's auth objects are
  not re-applied by requests on redirects, so credentials never follow a redirect off the host.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from ferry.errors import FatalError, ItemError, NotFound, RetryableError, UsageError
from ferry.retry import parse_retry_after

USER_AGENT = "ferry/0.1"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses."""
    if host in ("localhost",) or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_url(url: str, what: str, allow_http: bool = False) -> str:
    """Return ``url`` without a trailing slash, or raise :class:`UsageError` if it is not usable.

    http is refused for non-loopback hosts unless ``allow_http``: credentials would cross the network in clear.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{what}: {url!r} is not an http(s) URL; give e.g. https://nexus.example.com")
    if parts.username or parts.password:
        raise UsageError(f"{what}: put credentials in the environment (password_env), not in the URL")
    if parts.scheme == "http" and not allow_http and not is_loopback(parts.hostname):
        raise UsageError(f"{what}: {parts.hostname} is reached over plain http; use https or pass --allow-http")
    return url.rstrip("/")


class _Session(requests.Session):
    """A session that never attaches credentials on a redirect (requests would re-read ~/.netrc there),
    and reads the proxy and CA settings of the environment once per host instead of once per request."""

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict] = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        # requests scans the whole environment (http_proxy, no_proxy, REQUESTS_CA_BUNDLE...) on every
        # request: a noticeable share of a small request's CPU. The environment does not change during a
        # run, and the answer depends on the URL only through its scheme and host.
        if proxies:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        found = self._environment.get(key)
        if found is None:
            found = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = found
        return {**found, "proxies": dict(found["proxies"])}

    def rebuild_auth(self, prepared_request, response):
        if "Authorization" in prepared_request.headers and self.should_strip_auth(
            response.request.url, prepared_request.url
        ):
            del prepared_request.headers["Authorization"]


def check_ca_bundle(ca_bundle: str | None) -> None:
    """Raise :class:`UsageError` when ``ca_bundle`` is given but is not a readable file.

    botocore reads the file only when it first connects over TLS, and an unreadable one then looks like an
    untrusted certificate ("pass --ca-bundle"), so every command checks it before it contacts anything.
    """
    if ca_bundle is None:
        return
    try:
        with open(ca_bundle, "rb") as handle:
            handle.read(1)
    except OSError as err:
        raise UsageError(f"--ca-bundle {ca_bundle}: cannot read it ({err.strerror}); give a PEM file of "
                         "CA certificates") from None


def make_session(pool_size: int = 16, ca_bundle: str | None = None) -> requests.Session:
    """A requests session whose connection pool fits ``pool_size`` concurrent workers.

    Retries are not done here (one retry policy per layer lives in :mod:`ferry.retry`).
    Raises :class:`UsageError` when ``ca_bundle`` is not a readable file.
    """
    check_ca_bundle(ca_bundle)
    session = _Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=max(pool_size, 4), max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = USER_AGENT
    session.verify = ca_bundle or True
    return session


def retry_after_seconds(response: requests.Response) -> float | None:
    """The ``Retry-After`` a response asked for, in seconds from now: given as seconds or as an HTTP date
    (both are valid, RFC 9110); None when absent or neither."""
    return parse_retry_after(response.headers.get("Retry-After"))


def raise_for_status(response: requests.Response, what: str, *, refused: tuple[str, str],
                     forbidden: tuple[str, str] | None = None, detail: str = "") -> None:
    """Turn an HTTP error status into ferry's error kinds; return quietly on success.

    Raises :class:`RetryableError` for 429/5xx (with the server's ``Retry-After``), :class:`FatalError`
    for 401 and 403 (``refused`` / ``forbidden`` are (what happened, what to do)), and
    :class:`ItemError` for anything else (404: :class:`~ferry.errors.NotFound`, naming "not found"; ``detail`` is
    appended to others).
    """
    status = response.status_code
    if status < 400:
        return
    if status == 429 or status >= 500:
        raise RetryableError(f"{what}: HTTP {status}", retry_after=retry_after_seconds(response))
    if status in (401, 403):
        happened, advice = forbidden if status == 403 and forbidden else refused
        raise FatalError(f"{what}: {happened} (HTTP {status}); {advice}")
    if status == 404:
        raise NotFound(f"{what}: not found (HTTP 404)")
    raise ItemError(f"{what}: HTTP {status}{detail}")
