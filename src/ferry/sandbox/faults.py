"""Injectable faults for the stand-ins: ``--faults throttle=0.1,error5xx=0.05,reset=0.02,...``.

:class:`FaultSpec` is the parsed setting; :class:`FaultController` is one stand-in's live copy of it
(with its own seeded random generator and counters); :class:`FaultMiddleware` is the WSGI layer
that injects the faults in front of a stand-in app.

What is never faulted: the sandbox's own admin paths under ``/__sandbox/`` (tests must be able to
read counters and change the spec at any time). ``truncate`` only applies to responses that have a
body (not HEAD, 204, 304 or empty bodies). Throttle, 5xx and reset happen *before* the app sees
the request, so nothing was done; truncate happens *after*, so the request took effect but the
client never got the whole answer -- the case an exactly-once migrator must survive.
"""

from __future__ import annotations

import json
import math
import random
import re
import socket
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, fields
from typing import Iterable, Iterator

ADMIN_PREFIX = "/__sandbox/"
RATE_KINDS = ("throttle", "error5xx", "reset", "truncate")
_5XX = (500, 502, 503)


class FaultSpecError(ValueError):
    """The ``--faults`` text could not be parsed; the message names the bad part."""


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(ms|s|m)?$")


def _seconds(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise FaultSpecError(f"not a duration: {text!r} (use e.g. 20ms, 2s, 1m)")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value / 1000 if unit == "ms" else value * 60 if unit == "m" else value


def _duration_text(seconds: float) -> str:
    return f"{seconds * 1000:g}ms" if seconds < 1 else f"{seconds:g}s"


@dataclass(frozen=True)
class FaultSpec:
    """Rates are probabilities per request (0..1); durations are seconds.

    - ``throttle``: HTTP 429 with ``Retry-After`` (``retry_after`` seconds)
    - ``error5xx``: HTTP 500/502/503
    - ``reset``: the connection is reset before a response is sent
    - ``truncate``: a response body is cut short (Content-Length promises more)
    - ``latency``: added to every request
    - ``token_ttl``: CodeArtifact authorization tokens expire after this, whatever was asked

    At most one of throttle/error5xx/reset/truncate hits a request, so their rates add up to at most 1.
    """

    throttle: float = 0.0
    error5xx: float = 0.0
    reset: float = 0.0
    truncate: float = 0.0
    latency: float = 0.0
    token_ttl: float | None = None
    retry_after: float = 1.0

    def __post_init__(self) -> None:
        total = sum(getattr(self, kind) for kind in RATE_KINDS)
        if total > 1.0 + 1e-9:
            raise FaultSpecError(f"fault rates add up to {total:g}; one request gets at most one fault, "
                                 "so throttle+error5xx+reset+truncate must be at most 1")

    @classmethod
    def parse(cls, text: str | None) -> "FaultSpec":
        """Parse ``key=value,key=value``. Raises :class:`FaultSpecError` on unknown keys or bad values."""
        if not text:
            return cls()
        names = {f.name for f in fields(cls)}
        values: dict[str, float] = {}
        for part in text.split(","):
            if not part.strip():
                continue
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise FaultSpecError(f"unknown fault {key!r}; known: {', '.join(sorted(names))}")
            if key in ("latency", "token_ttl", "retry_after"):
                values[key] = _seconds(raw)
            else:
                try:
                    rate = float(raw)
                except ValueError:
                    raise FaultSpecError(f"{key} takes a rate between 0 and 1, not {raw!r}") from None
                if not 0.0 <= rate <= 1.0:
                    raise FaultSpecError(f"{key} takes a rate between 0 and 1, not {raw!r}")
                values[key] = rate
        return cls(**values)

    def text(self) -> str:
        """The spec in ``--faults`` syntax (only settings that differ from the defaults)."""
        parts = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if f.name in ("latency", "token_ttl", "retry_after"):
                parts.append(f"{f.name}={_duration_text(value)}")
            else:
                parts.append(f"{f.name}={value:g}")
        return ",".join(parts)

    @property
    def any_request_faults(self) -> bool:
        return bool(self.throttle or self.error5xx or self.reset or self.truncate or self.latency)


@dataclass(frozen=True)
class Decision:
    """What happens to one request. ``kind`` is one of :data:`RATE_KINDS` or None."""

    kind: str | None
    latency: float
    retry_after: float
    status: int = 0  # error5xx: which status
    keep: float = 0.0  # truncate: the fraction of the body that is sent


class FaultController:
    """The live fault settings of one stand-in, reproducible per ``seed``.

    Each stand-in draws from its own ``random.Random`` seeded with ``f"{seed}:{service}"``, so a
    service's fault sequence depends only on the seed and the order its requests arrive in.
    Attributes of the current :class:`FaultSpec` (e.g. ``token_ttl``) read through, so a stand-in app
    may hold the controller where it expects a spec and see changes made at run time.
    """

    def __init__(self, service: str, spec: FaultSpec | None = None, seed: int | None = None):
        self.service = service
        self._lock = threading.Lock()
        self.configure(spec or FaultSpec(), seed)

    def configure(self, spec: FaultSpec, seed: int | None = None) -> None:
        """Replace the spec, restart the random sequence from ``seed`` and zero the counters."""
        with self._lock:
            self._spec = spec
            self.seed = seed
            self._rng = random.Random(f"{seed}:{self.service}") if seed is not None else random.Random()
            self._requests = 0
            self._injected: Counter[str] = Counter()

    @property
    def spec(self) -> FaultSpec:
        return self._spec

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._spec, name)

    def decide(self) -> Decision:
        """Draw the fate of one request (always two draws, so sequences stay aligned)."""
        with self._lock:
            spec = self._spec
            u, v = self._rng.random(), self._rng.random()
            self._requests += 1
            kind = None
            edge = 0.0
            for name in RATE_KINDS:
                edge += getattr(spec, name)
                if u < edge:
                    kind = name
                    break
            if kind and kind != "truncate":  # truncate is counted when a body is actually cut
                self._injected[kind] += 1
            if spec.latency:
                self._injected["latency"] += 1
        return Decision(kind, spec.latency, spec.retry_after, status=_5XX[int(v * len(_5XX))], keep=v)

    def count(self, kind: str) -> None:
        with self._lock:
            self._injected[kind] += 1

    def status(self) -> dict:
        """Spec, seed and counters as JSON-ready data (what ``GET /__sandbox/faults`` returns)."""
        with self._lock:
            return {
                "service": self.service,
                "faults": self._spec.text(),
                "spec": asdict(self._spec),
                "seed": self.seed,
                "requests": self._requests,
                "injected": {k: self._injected.get(k, 0) for k in (*RATE_KINDS, "latency")},
            }


class FaultMiddleware:
    """WSGI middleware injecting the faults of ``controller`` in front of ``app``.

    ``aws_prefix``: requests under this path get AWS-shaped errors (``x-amzn-ErrorType`` + JSON, as
    botocore parses them: ThrottlingException with ``retryAfterSeconds``, InternalServerException);
    all others get plain 429/5xx answers. Also serves the admin API under :data:`ADMIN_PREFIX`:
    ``GET /__sandbox/faults`` (status and counters) and ``PUT /__sandbox/faults`` with JSON
    ``{"faults": "throttle=1", "seed": 7}`` (new spec; restarts the sequence from ``seed``, or from the
    current seed if the key is absent, ``null`` for an unseeded one; zeroes the counters).
    """

    def __init__(self, app, controller: FaultController, aws_prefix: str | None = None):
        self.app = app
        self.controller = controller
        self.aws_prefix = aws_prefix

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path.startswith(ADMIN_PREFIX):
            return self._admin(environ, start_response, path)
        decision = self.controller.decide()
        if decision.latency:
            time.sleep(decision.latency)
        kind = decision.kind
        if kind is None:
            return self.app(environ, start_response)
        aws = bool(self.aws_prefix) and path.startswith(self.aws_prefix)
        if kind == "throttle":
            return _throttle(start_response, decision.retry_after, aws)
        if kind == "error5xx":
            return _server_error(start_response, decision.status, aws)
        if kind == "reset":
            raise _abort(environ, reset=True)
        return self._truncated(environ, start_response, decision.keep)

    def _truncated(self, environ, start_response, keep: float):
        seen: dict = {}

        def capture(status, headers, exc_info=None):
            seen["status"], seen["headers"] = status, headers
            return start_response(status, headers, exc_info)

        body = self.app(environ, capture)
        return _CutBody(body, _cut(body, environ, seen, keep, self.controller))

    def _admin(self, environ, start_response, path: str):
        method = environ.get("REQUEST_METHOD", "GET")
        if path.rstrip("/") != ADMIN_PREFIX + "faults":
            return _json(start_response, 404, {"message": f"no such admin path {path}"})
        if method == "GET":
            return _json(start_response, 200, self.controller.status())
        if method != "PUT":
            return _json(start_response, 405, {"message": "use GET or PUT"})
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            payload = json.loads(environ["wsgi.input"].read(length) or b"{}")
            # Without "faults" (a typo, or the spec under another key) the faults would silently go off.
            if not isinstance(payload, dict) or "faults" not in payload or set(payload) - {"faults", "seed"}:
                raise FaultSpecError('send a JSON object {"faults": "throttle=0.1", "seed": 7} ("seed" optional, '
                                     '"faults": "" for none)')
            spec = FaultSpec.parse(payload["faults"] or "")
            seed = payload.get("seed", self.controller.seed)
            if seed is not None and not isinstance(seed, int):
                raise FaultSpecError(f"seed must be an integer, not {seed!r}")
        except (ValueError, AttributeError) as err:
            return _json(start_response, 400, {"message": str(err)})
        self.controller.configure(spec, seed)
        return _json(start_response, 200, self.controller.status())


def _json(start_response, status: int, body, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed", 429: "Too Many Requests",
              500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    start_response(f"{status} {reason}", [("Content-Type", "application/json"),
                                          ("Content-Length", str(len(data))), *headers])
    return [data]


def _plain(start_response, status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> list[bytes]:
    data = f"{text}\n".encode()
    start_response(f"{status} {text}", [("Content-Type", "text/plain; charset=utf-8"),
                                        ("Content-Length", str(len(data))), *headers])
    return [data]


def _throttle(start_response, retry_after: float, aws: bool) -> list[bytes]:
    # Retry-After carries whole seconds (RFC 9110 delay-seconds; botocore reads it as an integer).
    retry = ("Retry-After", str(max(0, math.ceil(retry_after))))
    if aws:
        return _json(start_response, 429, {"message": "Rate exceeded"},
                     [("x-amzn-ErrorType", "ThrottlingException"), retry])
    return _plain(start_response, 429, "Too Many Requests", [retry])


def _server_error(start_response, status: int, aws: bool) -> list[bytes]:
    if aws:
        return _json(start_response, status, {"message": "An internal error occurred (injected fault)"},
                     [("x-amzn-ErrorType", "InternalServerException")])
    text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}[status]
    return _plain(start_response, status, text)


def _abort(environ, reset: bool) -> BaseException:
    """The exception that makes the server drop this connection (see :mod:`ferry.sandbox.web`)."""
    abort = environ.get("ferry.abort")
    if abort is not None:
        return abort(reset)
    # Some other server: the best we can do is shut the socket down under it.
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        try:
            if reset:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    return ConnectionResetError("connection dropped (injected fault)")


class _CutBody:
    """The WSGI body of a truncated response: closes the app's body even if the server never iterates."""

    def __init__(self, body, chunks: Iterator[bytes]):
        self._body, self._chunks = body, chunks

    def __iter__(self) -> Iterator[bytes]:
        return self._chunks

    def close(self) -> None:
        self._chunks.close()
        close = getattr(self._body, "close", None)
        if close:
            close()


def _cut(body, environ, seen: dict, keep: float, controller: FaultController) -> Iterator[bytes]:
    """Yield only part of ``body``, then break the connection; pass bodiless responses through whole."""
    chunks = iter(body)
    first = next(chunks, None)
    status = int(seen["status"].split()[0])
    headers = {k.lower(): v for k, v in seen["headers"]}
    length = headers.get("content-length")
    if environ.get("REQUEST_METHOD") == "HEAD" or status in (204, 304) or length == "0" or first is None:
        if first is not None:
            yield first
        yield from chunks
        return
    if length is not None:
        total = int(length)
        budget = 1 + int((total - 1) * keep) if total > 1 else 0
    else:
        while first == b"":
            first = next(chunks, None)
        if first is None:
            return
        budget = int(len(first) * keep)
    controller.count("truncate")
    chunk: bytes | None = first
    while chunk is not None and budget > 0:
        part = chunk[:budget]
        budget -= len(part)
        if part:
            yield part
        chunk = next(chunks, None) if budget > 0 else None
    raise _abort(environ, reset=False)
