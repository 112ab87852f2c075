"""Request quotas for the CodeArtifact stand-in: ``--quota publish=10`` answers what goes over with 429.

The real service limits requests per account and region per operation (service-limits page; see
``shared/reference/service-apis.md`` §1.7) and answers the excess with HTTP 429
``ThrottlingException`` and a ``Retry-After`` header. :class:`QuotaMiddleware` does the same in front
of the stand-in with one token bucket per limited operation: it holds ``burst`` seconds' worth of
requests and refills at the rate. With no quota set nothing is refused, but every request is still
counted by operation and class (and request bytes by class), which ``GET /__sandbox/quota`` reports:
the benchmarks read the CodeArtifact side's request counts there.

Classes (as in :mod:`ferry.ratelimit`): ``publish`` (PublishPackageVersion and every write to a
package endpoint: npm PUT, twine POST, mvn PUT, NuGet push... whether AWS counts those against the
same quota is not documented [U], the stand-in assumes it does), ``copy``, ``asset_read``
(GetPackageVersionAsset), ``list`` (ListPackages, ListPackageVersions and ListPackageVersionAssets
each have their own bucket at this rate, as documented), ``token`` (GetAuthorizationToken),
``write`` and ``read`` (all other control-plane writes and reads, one bucket each: the per-account
totals), and ``endpoint_read`` (package-endpoint reads, per-token quota 1,200/s).

``PUT /__sandbox/quota`` with JSON ``{"quota": "publish=10,burst=1s"}`` replaces the setting and
zeroes the counters.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

ADMIN_PATH = "/__sandbox/quota"
CLASSES = ("publish", "copy", "asset_read", "list", "token", "write", "read", "endpoint_read")
_EXACT = {"PublishPackageVersion": "publish", "CopyPackageVersions": "copy",
          "GetPackageVersionAsset": "asset_read", "GetAuthorizationToken": "token"}
_WRITE = re.compile(r"^(Create|Delete|Put|Update|Associate|Disassociate|Dispose|Tag|Untag)")


class QuotaSpecError(ValueError):
    """The ``--quota`` text could not be parsed; the message names the bad part."""


def _seconds(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)(ms|s)?\s*", text)
    if not m:
        raise QuotaSpecError(f"not a duration: {text!r} (use e.g. 500ms, 1s)")
    return float(m.group(1)) / (1000 if m.group(2) == "ms" else 1)


@dataclass(frozen=True)
class QuotaSpec:
    """Requests per second per class (absent: not limited); ``burst`` in seconds of the rate."""

    rates: tuple[tuple[str, float], ...] = ()
    burst: float = 1.0
    retry_after: float | None = None  # fixed Retry-After seconds; None: until the next token, rounded up

    @classmethod
    def parse(cls, text: str | None) -> "QuotaSpec":
        """``"publish=10,list=200,burst=1s,retry_after=1s"``. Raises :class:`QuotaSpecError`."""
        rates: dict[str, float] = {}
        extra: dict[str, float] = {}
        for part in (text or "").split(","):
            if not part.strip():
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep:
                raise QuotaSpecError(f"{part.strip()!r}: write CLASS=RATE, e.g. publish=10")
            if key in ("burst", "retry_after"):
                extra[key] = _seconds(raw)
                continue
            if key not in CLASSES:
                raise QuotaSpecError(f"unknown quota class {key!r}; known: {', '.join(CLASSES)}, burst, retry_after")
            try:
                rate = float(raw)
            except ValueError:
                raise QuotaSpecError(f"{key} takes requests per second, not {raw!r}") from None
            if rate <= 0:
                raise QuotaSpecError(f"{key}: the rate must be above 0 (leave the class out for no limit)")
            rates[key] = rate
        return cls(tuple(sorted(rates.items())), **extra)

    def text(self) -> str:
        """The spec in ``--quota`` syntax."""
        parts = [f"{k}={v:g}" for k, v in self.rates]
        if self.rates and self.burst != 1.0:
            parts.append(f"burst={self.burst:g}s")
        if self.retry_after is not None:
            parts.append(f"retry_after={self.retry_after:g}s")
        return ",".join(parts)


def control_class(operation: str) -> str:
    """The quota class of a control-plane operation (CamelCase name)."""
    if operation in _EXACT:
        return _EXACT[operation]
    if operation.startswith("List"):
        return "list"
    return "write" if _WRITE.match(operation) else "read"


@dataclass
class _Bucket:
    rate: float
    capacity: float
    tokens: float
    stamp: float

    def take(self, now: float) -> float:
        """0 if a token was taken, else the seconds until one is there."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


@dataclass
class _Counts:
    requests: Counter = field(default_factory=Counter)  # by class
    throttled: Counter = field(default_factory=Counter)  # by class
    operations: Counter = field(default_factory=Counter)  # by operation (control plane) or "endpoint METHOD"
    bytes_in: Counter = field(default_factory=Counter)  # request bodies by class (Content-Length)
    first: dict = field(default_factory=dict)  # class -> time of the first request let through
    last: dict = field(default_factory=dict)  # class -> time of the last request let through


class QuotaController:
    """The live quota setting and counters of the CodeArtifact stand-in. Thread-safe."""

    def __init__(self, spec: QuotaSpec | None = None, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._lock = threading.Lock()
        self.configure(spec or QuotaSpec())

    def configure(self, spec: QuotaSpec) -> None:
        """Replace the spec; buckets start full and counters at zero."""
        with self._lock:
            self.spec = spec
            self._rates = dict(spec.rates)
            self._buckets: dict[str, _Bucket] = {}
            self._counts = _Counts()

    def _bucket(self, name: str, rate: float, now: float) -> _Bucket:
        bucket = self._buckets.get(name)
        if bucket is None:
            capacity = max(1.0, rate * self.spec.burst)
            bucket = self._buckets[name] = _Bucket(rate, capacity, capacity, now)
        return bucket

    def admit(self, cls: str, operation: str, size: int) -> float | None:
        """Count one request; None to let it through, else the Retry-After seconds to refuse it with."""
        with self._lock:
            now = self._clock()
            c = self._counts
            c.requests[cls] += 1
            c.operations[operation] += 1
            rate = self._rates.get(cls)
            if rate is not None:
                # lists: one bucket per operation, as the quotas are documented ("200 each")
                wait = self._bucket(operation if cls == "list" else cls, rate, now).take(now)
                if wait > 0:
                    c.throttled[cls] += 1
                    fixed = self.spec.retry_after
                    return fixed if fixed is not None else wait
            c.bytes_in[cls] += size
            c.first.setdefault(cls, now)
            c.last[cls] = now
            return None

    def status(self) -> dict:
        """Spec and counters as JSON-ready data (what ``GET /__sandbox/quota`` returns)."""
        with self._lock:
            c = self._counts
            return {"quota": self.spec.text(), "requests": dict(c.requests), "throttled": dict(c.throttled),
                    "operations": dict(c.operations), "bytes_in": dict(c.bytes_in),
                    "span": {k: round(c.last[k] - c.first[k], 6) for k in c.first}}


class QuotaMiddleware:
    """WSGI middleware enforcing ``controller``'s quotas in front of the CodeArtifact stand-in."""

    def __init__(self, app, controller: QuotaController):
        from ferry.sandbox.codeartifact import validate

        self.app = app
        self.controller = controller
        self._routes = validate.routes()

    def classify(self, method: str, path: str) -> tuple[str | None, str]:
        """``(class, operation label)`` of a request; class None for paths the quotas don't cover."""
        if path.startswith("/v1/"):
            op = self._routes.get((method, path), "Unknown")
            return control_class(op), op
        if path.startswith("/d/"):
            write = method in ("PUT", "POST", "DELETE", "PATCH")
            return ("publish" if write else "endpoint_read"), f"endpoint {method}"
        return None, path

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.rstrip("/") == ADMIN_PATH:
            return self._admin(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET")
        cls, op = self.classify(method, path)
        if cls is None:
            return self.app(environ, start_response)
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            size = 0
        wait = self.controller.admit(cls, op, size)
        if wait is None:
            return self.app(environ, start_response)
        retry = ("Retry-After", str(max(1, math.ceil(wait))))
        if path.startswith("/v1/"):
            return _respond(start_response, "429 Too Many Requests", b'{"message": "Rate exceeded"}',
                            [("Content-Type", "application/json"), ("x-amzn-ErrorType", "ThrottlingException"),
                             retry])
        return _respond(start_response, "429 Too Many Requests", b"Too Many Requests\n",
                        [("Content-Type", "text/plain; charset=utf-8"), retry])

    def _admin(self, environ, start_response):
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "PUT":
            try:
                length = int(environ.get("CONTENT_LENGTH") or 0)
                payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
                # Without "quota" (a typo, or the spec under another key) the quota would silently go off.
                if not isinstance(payload, dict) or set(payload) != {"quota"}:
                    raise ValueError('send a JSON object {"quota": "publish=10,burst=1s"} ("quota": "" for none)')
                spec = QuotaSpec.parse(payload["quota"] or "")
            except (ValueError, AttributeError) as err:
                return _respond(start_response, "400 Bad Request", json.dumps({"message": str(err)}).encode(),
                                [("Content-Type", "application/json")])
            self.controller.configure(spec)
        elif method != "GET":
            return _respond(start_response, "405 Method Not Allowed", b'{"message": "use GET or PUT"}',
                            [("Content-Type", "application/json")])
        body = json.dumps(self.controller.status()).encode()
        return _respond(start_response, "200 OK", body, [("Content-Type", "application/json")])


def _respond(start_response, status: str, body: bytes, headers: list[tuple[str, str]]) -> list[bytes]:
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]
