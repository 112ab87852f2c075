"""The retry policy, driven by real requests/botocore errors from a scripted local server. Nothing sleeps."""

from __future__ import annotations

import json
import socket
import threading
import time
from email.utils import formatdate
from types import SimpleNamespace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from botocore.config import Config

from ferry.errors import ItemError, RetryableError
from ferry.migrators.base import PublishContext
from ferry.retry import (
    ITEM,
    REQUEST,
    RetryPolicy,
    backoff,
    is_retryable,
    parse_retry_after,
    retry_after,
    retrying,
)
from ferry.sources.artifactory import ArtifactorySource
from ferry.sources.codeartifact import CodeArtifactSource
from ferry.sources.nexus import NexusSource


class Script:
    """A local HTTP server answering each request with the next scripted reply."""

    def __init__(self):
        self.replies: list[tuple] = []
        self.requests: list[str] = []
        self.authorizations: list[str | None] = []
        script = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _reply(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                script.requests.append(f"{self.command} {self.path}")
                script.authorizations.append(self.headers.get("Authorization"))
                status, headers, body = script.replies.pop(0)
                if status == "truncate":
                    self.send_response(200)
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    self.wfile.write(b"100\r\n" + b"x" * 10)
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = _reply

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    script = Script()
    yield script
    script.close()


class Recorder:
    def __init__(self):
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def get_ok(url):
    response = requests.get(url, timeout=5)
    response.raise_for_status()
    return response.content


def test_http_429_with_retry_after_seconds_waits_what_the_server_asked(server):
    server.replies = [(429, {"Retry-After": "7"}, b""), (503, {"Retry-After": "2"}, b""), (200, {}, b"done")]
    sleep = Recorder()
    assert retrying(REQUEST, sleep=sleep)(get_ok, server.url + "/x") == b"done"
    assert sleep.sleeps == [7.0, 2.0]
    assert len(server.requests) == 3


def test_http_date_retry_after_uses_the_injected_clock(server):
    now = 1_700_000_000.0
    server.replies = [(503, {"Retry-After": formatdate(now + 42, usegmt=True)}, b""), (200, {}, b"ok")]
    sleep = Recorder()
    assert retrying(REQUEST, sleep=sleep, clock=lambda: now)(get_ok, server.url) == b"ok"
    assert sleep.sleeps == [42.0]


# Every place ferry turns an HTTP answer into a RetryableError: source downloads, the target's package
# endpoints, and a CodeArtifact source's package endpoints. Each GETs ``url`` and returns the body.
_DOMAIN = SimpleNamespace(token=lambda: "token", drop_token=lambda token: None, token_accepted=lambda token: None,
                          count=lambda what: None, limiter=None)
CALLERS = {
    "nexus": lambda url: NexusSource(url, requests.Session()).open_locator(f"{url}/repository/r/x.tgz", "x").content,
    "artifactory": lambda url: ArtifactorySource(url, requests.Session()).open_locator(f"{url}/r/x.tgz", "x").content,
    "target endpoint": lambda url: PublishContext(_DOMAIN, "repo", requests.Session(), {}).send(
        "GET", f"{url}/x", "x").content,
    "codeartifact source endpoint": lambda url: CodeArtifactSource(_DOMAIN, requests.Session())._endpoint_get(
        f"{url}/x", "x", "read").content,
}


def test_a_write_held_back_by_the_rate_limiter_goes_with_the_token_current_when_it_is_sent(server):
    """A write waits for its publish slot before it is sent; the token is the one in force after the wait.

    Taken before the wait, a token the domain renewed meanwhile (it had less than the margin left) reached
    the endpoint after it had expired: HTTP 401, and the whole transfer retried (21 of 291 files in a soak with
    2 s tokens and the default publish rate of 10/s)."""
    from ferry.ratelimit import RateLimiter

    now = [0.0]
    limiter = RateLimiter({"publish": 0.1}, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limiter.acquire("publish")  # another worker's publish took the slot: the next one waits 10 s
    domain = SimpleNamespace(token=lambda: "expiring" if now[0] < 5 else "renewed", drop_token=lambda token: None,
                             token_accepted=lambda token: None, count=lambda what: None, limiter=limiter)
    server.replies = [(201, {}, b"")]
    PublishContext(domain, "repo", requests.Session(), {}).send("PUT", f"{server.url}/x", "x")
    assert now[0] == 10.0
    assert server.authorizations == [requests.auth._basic_auth_str("aws", "renewed")]


@pytest.mark.parametrize("method, needle", [
    ("GET", "reading refused (HTTP 403): denied; give the target's credentials codeartifact:ReadFromRepository"),
    ("PUT", "publishing refused (HTTP 403): denied; the package's origin controls may block publishing"),
])
def test_a_refusal_by_the_target_endpoint_names_what_a_read_or_a_write_lacks(server, method, needle):
    """Origin controls refuse publishes only: a refused read points at the credentials' policy instead."""
    server.replies = [(403, {}, b"denied")]
    with pytest.raises(ItemError) as caught:
        PublishContext(_DOMAIN, "repo", requests.Session(), {}).send(method, f"{server.url}/x", "x")
    assert needle in str(caught.value)
    assert ("origin" in str(caught.value)) == (method == "PUT")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_every_http_answer_asking_to_wait_is_waited_for(server, caller, form):
    asked = "42" if form == "seconds" else formatdate(time.time() + 42, usegmt=True)
    server.replies = [(429, {"Retry-After": asked}, b""), (503, {"Retry-After": asked}, b""), (200, {}, b"done")]
    sleep = Recorder()
    assert retrying(REQUEST, sleep=sleep)(CALLERS[caller], server.url) == b"done"
    assert len(sleep.sleeps) == 2
    assert all(40 < waited <= 42 for waited in sleep.sleeps), sleep.sleeps  # an HTTP date has whole seconds


@pytest.mark.parametrize("caller", ["target endpoint", "codeartifact source endpoint"])
def test_an_answer_cut_short_is_a_retryable_error_naming_the_request(server, caller):
    server.replies = [("truncate", {}, b"")]
    with pytest.raises(RetryableError, match=r"^x: ChunkedEncodingError$"):
        CALLERS[caller](server.url)


@pytest.mark.parametrize("asked", ["0", "past-date"])
def test_an_answer_asking_for_no_wait_backs_off_all_the_same(server, asked):
    """Retry-After: 0 (a stand-in's retry_after=0s, a proxy) or a date already past: retried at once, five
    attempts were spent within a second against a server that kept failing."""
    now = 1_700_000_000.0
    value = "0" if asked == "0" else formatdate(now - 30, usegmt=True)
    server.replies = [(503, {"Retry-After": value}, b"")] * 3 + [(200, {}, b"ok")]
    sleep = Recorder()
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=3.0)
    assert retrying(policy, sleep=sleep, rng=lambda: 0.5, clock=lambda: now)(get_ok, server.url) == b"ok"
    assert sleep.sleeps == [0.5, 1.0, 1.5]  # the backoff, as without a Retry-After


def test_5xx_without_retry_after_backs_off_with_full_jitter(server):
    server.replies = [(500, {}, b"")] * 4 + [(200, {}, b"ok")]
    sleep = Recorder()
    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=3.0)
    assert retrying(policy, sleep=sleep, rng=lambda: 0.5)(get_ok, server.url) == b"ok"
    assert sleep.sleeps == [0.5, 1.0, 1.5, 1.5]  # 0.5 x min(3, 1, 2, 4, 8)


def test_gives_up_after_max_attempts_and_reraises_the_last_error(server):
    server.replies = [(502, {}, b"")] * 3
    sleep = Recorder()
    with pytest.raises(requests.HTTPError) as caught:
        retrying(RetryPolicy(max_attempts=3), sleep=sleep, rng=lambda: 0.0)(get_ok, server.url)
    assert caught.value.response.status_code == 502
    assert len(server.requests) == 3 and len(sleep.sleeps) == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 501])
def test_client_errors_and_501_are_not_retried(server, status):
    server.replies = [(status, {"Retry-After": "1"}, b"")]
    sleep = Recorder()
    with pytest.raises(requests.HTTPError):
        retrying(REQUEST, sleep=sleep)(get_ok, server.url)
    assert sleep.sleeps == [] and len(server.requests) == 1


def test_broken_chunked_body_is_retried(server):
    server.replies = [("truncate", {}, b""), (200, {}, b"whole")]
    sleep = Recorder()
    errors = []
    result = retrying(REQUEST, sleep=sleep, rng=lambda: 0.0,
                      on_retry=lambda n, exc, delay: errors.append((n, type(exc), delay)))(get_ok, server.url)
    assert result == b"whole"
    assert errors == [(1, requests.exceptions.ChunkedEncodingError, 0.0)]


def test_refused_connection_is_retried_then_raised():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    sleep = Recorder()
    with pytest.raises(requests.ConnectionError):
        retrying(RetryPolicy(max_attempts=2), sleep=sleep, rng=lambda: 0.0)(get_ok, f"http://127.0.0.1:{port}/")
    assert len(sleep.sleeps) == 1


def codeartifact(url):
    return boto3.client(
        "codeartifact", region_name="us-east-1", endpoint_url=url,
        aws_access_key_id="AKIDTEST", aws_secret_access_key="test-secret",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_botocore_throttling_honours_retry_after_seconds(server):
    throttled = {"x-amzn-ErrorType": "ThrottlingException", "Retry-After": "9", "Content-Type": "application/json"}
    server.replies = [(429, throttled, {"message": "Rate exceeded"}), (200, {"Content-Type": "application/json"},
                                                                       {"domains": []})]
    client = codeartifact(server.url)
    sleep = Recorder()
    seen = []
    result = retrying(REQUEST, sleep=sleep, on_retry=lambda n, exc, d: seen.append(exc))(client.list_domains)
    assert result["domains"] == []
    assert sleep.sleeps == [9.0]
    assert seen[0].response["Error"]["Code"] == "ThrottlingException"
    assert seen[0].response["retryAfterSeconds"] == 9  # botocore parses the modeled member from the header


@pytest.mark.parametrize("operation", ["get_authorization_token", "list_packages"])  # client and lean path
@pytest.mark.parametrize("asked, waited", [("0.4", 1.0), ("2.5", 3.0), ("date", 41.5), ("soon", 0.5 * 0.5)])
def test_a_throttled_control_plane_call_with_a_retry_after_that_is_not_whole_seconds_is_retried(
        server, operation, asked, waited):
    """A fraction or an HTTP date (valid HTTP; a proxy's answer) once raised ValueError out of botocore's parser,
    which reads retryAfterSeconds as an integer: the run ended ('unexpected ValueError'). Now it waits at least
    what was asked (whole seconds, rounded up); a Retry-After that is no wait at all backs off as for none."""
    from ferry.codeartifact import Domain

    now = time.time()
    value = formatdate(now + 41.9, usegmt=True) if asked == "date" else asked
    throttled = {"x-amzn-ErrorType": "ThrottlingException", "Retry-After": value, "Content-Type": "application/json"}
    answer = {"authorizationToken": "t", "expiration": now + 900} if operation == "get_authorization_token" else {
        "packages": []}
    server.replies = [(429, throttled, {"message": "Rate exceeded"}), (200, {"Content-Type": "application/json"},
                                                                       answer)]
    sleep = Recorder()
    session = boto3.session.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="test-secret",
                                    region_name="us-east-1")
    domain = Domain("acme", endpoint_url=server.url, session=session,
                    retry=retrying(REQUEST, sleep=sleep, rng=lambda: 0.5, clock=lambda: now))
    params = {"repository": "r"} if operation == "list_packages" else {}
    out = domain.read(operation, **params)
    assert out.get("authorizationToken", out.get("packages")) == answer.get("authorizationToken", answer.get("packages"))
    assert len(server.requests) == 2
    assert sleep.sleeps == [pytest.approx(waited, abs=1.0 if asked == "date" else 1e-9)]


def test_botocore_internal_server_error_is_retried_and_access_denied_is_not(server):
    json_type = {"Content-Type": "application/json"}
    server.replies = [
        (500, {"x-amzn-ErrorType": "InternalServerException", **json_type}, {"message": "oops"}),
        (200, json_type, {"domains": []}),
        (403, {"x-amzn-ErrorType": "AccessDeniedException", **json_type}, {"message": "no"}),
    ]
    client = codeartifact(server.url)
    sleep = Recorder()
    assert retrying(REQUEST, sleep=sleep, rng=lambda: 0.25)(client.list_domains)["domains"] == []
    assert sleep.sleeps == [0.25 * REQUEST.base_delay]
    with pytest.raises(client.exceptions.AccessDeniedException):
        retrying(REQUEST, sleep=sleep)(client.list_domains)
    assert len(sleep.sleeps) == 1


def test_ferry_error_kinds():
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise RetryableError("throttled", retry_after=1.5)
        return "ok"

    sleep = Recorder()
    assert retrying(ITEM, sleep=sleep)(flaky) == "ok"
    assert sleep.sleeps == [1.5, 1.5]

    def broken():
        calls.append(1)
        raise ItemError("corrupt source")

    before = len(calls)
    with pytest.raises(ItemError):
        retrying(ITEM, sleep=sleep)(broken)
    assert len(calls) == before + 1 and len(sleep.sleeps) == 2
    assert not is_retryable(ValueError("bug"))
    assert not is_retryable(requests.exceptions.SSLError("bad certificate"))


def test_server_asked_wait_is_capped():
    sleep = Recorder()
    attempts = []

    def slow_down():
        attempts.append(1)
        if len(attempts) == 1:
            raise RetryableError("throttled", retry_after=3600)
        return "ok"

    retrying(RetryPolicy(max_retry_after=120), sleep=sleep)(slow_down)
    assert sleep.sleeps == [120]


def test_parse_retry_after():
    now = 1_000_000.0
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(4) == 4.0
    assert parse_retry_after("-2") == 0.0
    assert parse_retry_after(formatdate(now + 30, usegmt=True), now=now) == 30.0
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None
    assert retry_after(ValueError("x")) is None


def test_backoff_is_capped_exponential_times_jitter():
    policy = RetryPolicy(base_delay=0.5, max_delay=4.0)
    assert [backoff(n, policy, rng=lambda: 1.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff(5, policy, rng=lambda: 0.0) == 0.0
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)
