"""The one retry policy ferry uses, built by one factory: :func:`retrying`.

Each layer builds its policy here once and retries only what is its own to retry, so a failure is
never retried at several levels at once:

- the *request* layer (:data:`REQUEST`) wraps idempotent calls: listings, metadata reads, the
  start of a download, CodeArtifact control-plane reads;
- the *item* layer (:data:`ITEM`) wraps one whole transfer (re-check, download, publish, confirm).
  Uploads are retried here, deliberately, because the transfer re-checks the target first and an
  identical re-publish is accepted by CodeArtifact.

botocore's own retries must be off (``Config(retries={"total_max_attempts": 1})``) and requests'
adapters built with ``max_retries=0``, so that this module is the only place that waits.

Retried: :class:`ferry.errors.RetryableError`; requests ``ConnectionError`` (not TLS failures),
``ChunkedEncodingError`` and timeouts; ``requests.HTTPError`` with status 429 or 5xx (not 501);
botocore ``ClientError`` with ``ThrottlingException``/``InternalServerException`` (or 429/5xx);
botocore connection errors. The wait is what the server asked for (``Retry-After`` in seconds or as
an HTTP date, botocore's ``retryAfterSeconds``, ``RetryableError.retry_after``), capped; otherwise
(and for an answer asking for no wait: 0, or a date past) exponential backoff with full jitter, capped. ``sleep``, ``rng`` and ``clock`` are injectable so
tests never wait.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import tenacity
from botocore import exceptions as boto_errors

from ferry.errors import ItemError, RetryableError

RETRYABLE_AWS_CODES = frozenset({
    "ThrottlingException", "InternalServerException", "ServiceUnavailable", "RequestTimeout",
    "TooManyRequestsException", "Throttling",
})
# 501 Not Implemented will not start working by waiting.
_PERMANENT_5XX = frozenset({501, 505})


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to try and how long to wait at most (seconds)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ValueError("delays must not be negative")


REQUEST = RetryPolicy(max_attempts=5, base_delay=0.5, max_delay=30.0)
ITEM = RetryPolicy(max_attempts=3, base_delay=2.0, max_delay=60.0)


def _status_retryable(status: int | None) -> bool:
    return status is not None and (status == 429 or (500 <= status <= 599 and status not in _PERMANENT_5XX))


def failure_reason(err: Exception) -> str:
    """Why an item failed, from what was raised once its retries were spent: an :class:`ItemError`'s own
    words, ``gave up after retries: ...`` for what waiting might have cured, else the error's kind."""
    if isinstance(err, ItemError):
        return str(err)
    return f"gave up after retries: {err}" if is_retryable(err) else f"{type(err).__name__}: {err}"


def cause_of(err: BaseException) -> str:
    """A short name for why a retry happened: the HTTP status or error kind, never the message."""
    text = f"{type(err).__name__}: {err}"
    for marker, cause in (("HTTP 429", "429"), ("Throttling", "429"), ("HTTP 401", "401"), ("cut short", "truncated"),
                          ("broke off", "truncated"), ("ChunkedEncoding", "truncated"), ("IncompleteRead", "truncated"),
                          ("ResponseStreaming", "truncated"), ("InternalServer", "5xx"), ("HTTP 5", "5xx"),
                          ("Timeout", "timeout"), ("Connection", "connection"),
                          ("does not show it yet", "not visible yet")):
        if marker in text:
            return cause
    return type(err).__name__


def is_retryable(exc: BaseException) -> bool:
    """True when waiting and trying again may succeed."""
    if isinstance(exc, RetryableError):
        return True
    if isinstance(exc, (requests.exceptions.SSLError, boto_errors.SSLError)):
        return False  # a certificate problem does not heal by waiting
    if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.Timeout)):
        return True
    if isinstance(exc, requests.exceptions.HTTPError):
        return _status_retryable(getattr(exc.response, "status_code", None))
    if isinstance(exc, boto_errors.ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return code in RETRYABLE_AWS_CODES or _status_retryable(status)
    return isinstance(exc, (boto_errors.ConnectionError, boto_errors.HTTPClientError))


def parse_retry_after(value: Any, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (delta seconds or HTTP date), or ``None``.

    *now* is epoch seconds for HTTP dates (default ``time.time()``). Past dates give ``0.0``.
    """
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return max(0.0, float(value))
    text = str(value).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def retry_after(exc: BaseException, now: float | None = None) -> float | None:
    """Seconds the server asked us to wait before trying again, if it said; else ``None``."""
    if isinstance(exc, RetryableError):
        return parse_retry_after(exc.retry_after, now)
    if isinstance(exc, requests.exceptions.HTTPError) and exc.response is not None:
        return parse_retry_after(exc.response.headers.get("Retry-After"), now)
    if isinstance(exc, boto_errors.ClientError):
        asked = exc.response.get("retryAfterSeconds")
        if asked is None:
            asked = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("retry-after")
        return parse_retry_after(asked, now)
    return None


def backoff(attempt: int, policy: RetryPolicy, rng: Callable[[], float] = random.random) -> float:
    """Full-jitter exponential backoff after failed attempt number *attempt* (1-based): ``U(0, min(cap, base·2^(n-1)))``."""
    ceiling = min(policy.max_delay, policy.base_delay * (2 ** (attempt - 1)))
    return rng() * ceiling


def delay_for(exc: BaseException, attempt: int, policy: RetryPolicy,
              rng: Callable[[], float] = random.random, clock: Callable[[], float] = time.time) -> float:
    """The wait before the next attempt: the server's ``Retry-After`` (capped) or :func:`backoff`.

    A ``Retry-After`` of 0, or a date already past, asks for no wait at all: it gets the backoff instead, or
    a server (or proxy) in trouble that keeps saying so would have every attempt spent within a second."""
    asked = retry_after(exc, now=clock())
    if asked is not None and asked > 0:
        return min(asked, policy.max_retry_after)
    return backoff(attempt, policy, rng)


def retrying(
    policy: RetryPolicy = REQUEST,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: Callable[[], float] = random.random,
    clock: Callable[[], float] = time.time,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
) -> tenacity.Retrying:
    """Build the tenacity policy for one layer. Returns a ``tenacity.Retrying``.

    Use as ``retrying(REQUEST)(fn, *args)`` or ``for attempt in retrying(): with attempt: ...``.
    After the last attempt the last exception is re-raised as it was (not ``RetryError``);
    non-retryable exceptions propagate at once. ``on_retry(attempt, exc, delay)`` is called before
    each wait (for logs and counters).
    """

    def wait(state: tenacity.RetryCallState) -> float:
        return delay_for(state.outcome.exception(), state.attempt_number, policy, rng, clock)

    def before_sleep(state: tenacity.RetryCallState) -> None:
        if on_retry is not None:
            on_retry(state.attempt_number, state.outcome.exception(), state.upcoming_sleep)

    return tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_retryable),
        stop=tenacity.stop_after_attempt(policy.max_attempts),
        wait=wait,
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
