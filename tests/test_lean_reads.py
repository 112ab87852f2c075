"""The list calls a listing sends by the thousand (ferry.lean_reads): same request, same answer, same
errors as through the boto3 client, one request each."""

from __future__ import annotations

import hashlib

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from e2e_helpers import target_domain
from ferry.errors import RetryableError
from ferry.lean_reads import LEAN_OPERATIONS, LeanReads

REPO = "generic-store"


def _publish(ca, package: str, version: str, name: str, body: bytes) -> None:
    ca.publish_package_version(domain="acme", repository=REPO, format="generic", namespace="tools", package=package,
                               packageVersion=version, assetName=name, assetContent=body,
                               assetSHA256=hashlib.sha256(body).hexdigest())


def _calls():
    pkg = {"repository": REPO, "format": "generic", "namespace": "tools"}
    return [("list_packages", {"repository": REPO, "maxResults": 1000}),
            ("list_package_versions", {**pkg, "package": "cli", "maxResults": 1000}),
            ("list_package_version_assets", {**pkg, "package": "cli", "packageVersion": "1.0", "maxResults": 1000})]


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _answer(out: dict) -> dict:
    return {k: v for k, v in out.items() if k != "ResponseMetadata"}


@pytest.fixture
def listed(sandbox):
    url = sandbox.urls()["codeartifact"]
    ca, domain = target_domain(url, REPO)
    _publish(ca, "cli", "1.0", "cli-linux.tgz", b"linux build")
    _publish(ca, "cli", "1.0", "cli-mac.tgz", b"mac build")
    _publish(ca, "cli", "2.0", "cli-linux.tgz", b"linux build 2")
    _publish(ca, "lib", "0.1", "lib.tgz", b"lib")
    return url, ca, domain


def test_every_list_operation_takes_the_lean_path_and_answers_as_boto3_does(listed, monkeypatch):
    _url, ca, domain = listed
    boto3_answers = {op: _answer(getattr(domain.client, op)(domain="acme", **params)) for op, params in _calls()}
    # From here on the boto3 client's own methods fail: an answer can only come from the lean path.
    for op in LEAN_OPERATIONS:
        monkeypatch.setattr(domain.client, op, lambda **_: pytest.fail("went through the boto3 method"))
    before = dict(domain.request_counts())
    for op, params in _calls():
        assert _answer(domain.call(op, **params)) == boto3_answers[op]
    after = domain.request_counts()
    assert {k: after[k] - before.get(k, 0) for k in after} == {
        "ListPackages": 1, "ListPackageVersions": 1, "ListPackageVersionAssets": 1}
    # and the answers are the real listing, not empty ones that happen to agree
    assert sorted(a["name"] for a in boto3_answers["list_package_version_assets"]["assets"]) == [
        "cli-linux.tgz", "cli-mac.tgz"]
    assert sorted(v["version"] for v in boto3_answers["list_package_versions"]["versions"]) == ["1.0", "2.0"]


def test_the_lean_request_is_the_clients_request_and_its_signature_covers_what_is_sent(listed):
    _url, _ca, domain = listed
    sent: list = []
    http = domain.client._endpoint.http_session
    real_send = http.send

    def recording(request):
        sent.append(request)
        return real_send(request)

    http.send = recording
    try:
        op, params = _calls()[1]
        getattr(domain.client, op)(domain="acme", **params)
        domain.call(op, **params)
    finally:
        http.send = real_send
    plain, lean = sent
    assert (lean.method, lean.url, lean.body or b"") == (plain.method, plain.url, plain.body or b"")
    assert "Credential=AKIAFERRYTEST/" in _text(lean.headers["Authorization"])
    # Headers the client adds for its own retry bookkeeping (amz-sdk-*) and the clock aside, the same headers.
    def comparable(headers):
        return {k.lower() for k in headers if not k.lower().startswith(("amz-sdk-", "x-amz-date", "authorization"))}
    assert comparable(lean.headers) == comparable(plain.headers)
    # The same headers signed (the client's retry headers aside), and re-signing those headers as sent,
    # with the same key and time, gives the same signature: the signature covers what went on the wire.
    def signed(headers):
        return _text(headers["Authorization"]).split("SignedHeaders=")[1].split(",")[0].split(";")

    assert signed(lean.headers) == [h for h in signed(plain.headers) if not h.startswith("amz-sdk-")]
    names = signed(lean.headers)
    check = AWSRequest(method=lean.method, url=lean.url, data=lean.body,
                       headers={k: _text(v) for k, v in lean.headers.items() if k.lower() in names and k.lower() != "host"})
    check.context["timestamp"] = _text(lean.headers["X-Amz-Date"])
    SigV4Auth(Credentials("AKIAFERRYTEST", "secret"), "codeartifact", "us-east-1").add_auth(check)
    assert check.headers["Authorization"] == _text(lean.headers["Authorization"])


def test_an_error_answer_raises_what_the_client_raises(listed):
    _url, _ca, domain = listed
    params = {"repository": REPO, "format": "generic", "namespace": "tools", "package": "ghost", "maxResults": 1000}
    with pytest.raises(ClientError) as plain:
        domain.client.list_package_versions(domain="acme", **params)
    with pytest.raises(ClientError) as lean:
        domain.call("list_package_versions", **params)
    assert type(lean.value) is type(plain.value)
    assert lean.value.response["Error"] == plain.value.response["Error"]
    assert lean.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert lean.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_throttled_list_is_retryable_with_the_servers_wait_and_slows_the_limiter(listed):
    url, _ca, domain = listed
    from ferry.ratelimit import RateLimiter

    domain.limiter = RateLimiter({"list": 1000.0})
    requests.put(url + "/__sandbox/quota", json={"quota": "list=1,burst=1s,retry_after=7s"}, timeout=10).raise_for_status()
    op, params = _calls()[1]
    domain.call(op, **params)  # the one the quota lets through
    with pytest.raises(RetryableError) as caught:
        domain.call(op, **params)
    assert "ThrottlingException" in str(caught.value)
    assert caught.value.retry_after == 7.0
    assert domain.limiter.stats()["list"]["throttles"] == 1
    assert domain.limiter.stats()["list"]["current"] < 1000.0


def test_a_client_without_the_internals_it_needs_is_left_to_boto3():
    class Bare:
        class meta:
            method_to_api_mapping = {"list_packages": "ListPackages"}

    reads = LeanReads(Bare())
    assert not reads.usable
    assert not reads.handles("list_packages")


def test_the_clients_event_handlers_see_lean_calls(listed):
    """before-send (moto answers there; audits of what is signed listen there), before-call (botocore's
    Stubber answers there) and after-call handlers registered on the client still see every list call."""
    from botocore.stub import Stubber

    _url, _ca, domain = listed
    seen: list[str] = []
    domain.client.meta.events.register("before-send.codeartifact", lambda request, **_: seen.append(request.url))
    domain.client.meta.events.register("after-call.codeartifact",
                                       lambda model, **_: seen.append(f"after {model.name}"))
    domain.call("describe_repository", repository=REPO)  # through the client
    domain.call("list_packages", repository=REPO, maxResults=1000)  # the lean path
    assert len(seen) == 4 and seen[3] == "after ListPackages" and "/v1/packages" in seen[2], seen
    with Stubber(domain.client) as stub:
        stub.add_response("list_packages", {"packages": [{"format": "npm", "package": "stubbed"}]})
        answer = domain.call("list_packages", repository=REPO, maxResults=1000)
    assert [p["package"] for p in answer["packages"]] == ["stubbed"]


def test_an_operation_botocore_cannot_prepare_this_way_goes_through_the_client(listed, monkeypatch):
    _url, _ca, domain = listed

    def broken(*_a, **_k):
        raise TypeError("a botocore whose internals differ")

    monkeypatch.setattr(domain.client, "_resolve_endpoint_ruleset", broken)
    fresh = LeanReads(domain.client)
    assert fresh.usable and not fresh.handles("list_packages")
    monkeypatch.undo()
    domain._lean = fresh
    out = domain.call("list_packages", repository=REPO, maxResults=1000)
    assert sorted(p["package"] for p in out["packages"]) == ["cli", "lib"]


def test_a_list_reply_cut_short_is_retryable_not_an_empty_listing(listed):
    url, _ca, domain = listed
    op, params = _calls()[1]
    requests.put(url + "/__sandbox/faults", json={"faults": "truncate=1"}, timeout=10).raise_for_status()
    try:
        with pytest.raises(RetryableError) as caught:
            domain.call(op, **params)
    finally:
        requests.put(url + "/__sandbox/faults", json={"faults": ""}, timeout=10).raise_for_status()
    assert "ListPackageVersions: reply cut short" in str(caught.value)
    assert sorted(v["version"] for v in domain.call(op, **params)["versions"]) == ["1.0", "2.0"]
