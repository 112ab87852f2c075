"""Injected faults as real clients see them: requests for Nexus, Artifactory and package endpoints, boto3
for the CodeArtifact control plane. Every socket-level fault runs on both server engines."""

from __future__ import annotations

import hashlib
import http.client
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.config import Config

from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.server import Sandbox, SandboxOptions

NEXUS_PATH = "/service/rest/v1/repositories"
NEXUS_AUTH = ("admin", "admin123")
ARTIFACTORY_AUTH = ("admin", "password")


ASSET = bytes(range(256)) * 1024  # big enough that a cut body is visibly partial


@dataclass
class Env:
    sandbox: Sandbox
    package_url: str  # a generic asset download from the CodeArtifact package endpoint
    auth: tuple[str, str]  # Basic aws:TOKEN for it

    def urls(self) -> dict[str, str]:
        return self.sandbox.urls()

    def set_faults(self, spec, seed=None) -> None:
        self.sandbox.set_faults(spec, seed)


@pytest.fixture(scope="module", params=["werkzeug", "waitress"])
def sbx(request, tmp_path_factory):
    with Sandbox(SandboxOptions(data=tmp_path_factory.mktemp("faults"), engine=request.param)) as sandbox:
        client = _boto(sandbox)
        client.create_domain(domain="faults")
        client.create_repository(domain="faults", repository="repo")
        client.publish_package_version(
            domain="faults", repository="repo", format="generic", namespace="ns", package="pkg",
            packageVersion="1.0.0", assetContent=ASSET, assetName="blob.bin",
            assetSHA256=hashlib.sha256(ASSET).hexdigest())
        token = client.get_authorization_token(domain="faults")["authorizationToken"]
        endpoint = client.get_repository_endpoint(domain="faults", repository="repo", format="generic")
        yield Env(sandbox, endpoint["repositoryEndpoint"] + "ns/pkg/1.0.0/blob.bin", ("aws", token))


@pytest.fixture(autouse=True)
def _no_faults_after(request):
    yield
    if "sbx" in request.fixturenames:
        request.getfixturevalue("sbx").set_faults(None)


def _boto(sbx):
    return boto3.client(
        "codeartifact", region_name="us-west-2", endpoint_url=sbx.urls()["codeartifact"],
        aws_access_key_id="AKIDFAULTS", aws_secret_access_key="secret",
        # One attempt in all: we want to see each injected fault, not botocore's retries hiding it.
        # (retries={"max_attempts": 1} would still retry once: that key counts retries, not attempts.)
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _get(sbx: Env, name: str, **kw) -> requests.Response:
    """GET a plain-HTTP target: the Nexus or Artifactory REST API, or a CodeArtifact package download."""
    if name == "nexus":
        return requests.get(sbx.urls()["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=10, **kw)
    if name == "artifactory":
        return requests.get(sbx.urls()["artifactory"] + "/api/repositories", auth=ARTIFACTORY_AUTH, timeout=10, **kw)
    return requests.get(sbx.package_url, auth=sbx.auth, timeout=10, **kw)


TARGETS = ("nexus", "artifactory", "package-endpoint")


def _injected(sbx, service: str) -> dict[str, int]:
    return requests.get(sbx.urls()[service] + "/__sandbox/faults", timeout=10).json()["injected"]


def test_targets_answer_normally_without_faults(sbx):
    assert _get(sbx, "nexus").json()
    assert _get(sbx, "artifactory").status_code == 200
    assert _get(sbx, "package-endpoint").content == ASSET


# -- throttle ------------------------------------------------------------------------------------


def test_throttle_is_429_with_retry_after_for_nexus_and_package_endpoints(sbx):
    sbx.set_faults("throttle=1,retry_after=3s")
    for name in TARGETS:
        resp = _get(sbx, name)
        assert resp.status_code == 429, name
        assert resp.headers["Retry-After"] == "3", name
        assert "x-amzn-ErrorType" not in resp.headers, name
    assert _injected(sbx, "nexus")["throttle"] == 1
    assert _injected(sbx, "codeartifact")["throttle"] == 1


def test_throttle_is_throttling_exception_for_boto3(sbx):
    sbx.set_faults("throttle=1,retry_after=7s")
    client = _boto(sbx)
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        client.list_domains()
    assert caught.value.response["retryAfterSeconds"] == 7
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert _injected(sbx, "codeartifact")["throttle"] == 1  # one request: botocore did not retry


def test_fractional_retry_after_rounds_up_to_whole_seconds(sbx):
    sbx.set_faults("throttle=1,retry_after=200ms")
    assert _get(sbx, "nexus").headers["Retry-After"] == "1"


# -- 5xx -----------------------------------------------------------------------------------------


def test_error5xx_gives_500_502_and_503(sbx):
    sbx.set_faults("error5xx=1", seed=3)
    statuses = [_get(sbx, "nexus").status_code for _ in range(30)]
    assert set(statuses) == {500, 502, 503}
    assert _injected(sbx, "nexus")["error5xx"] == 30


def test_error5xx_is_internal_server_exception_for_boto3(sbx):
    sbx.set_faults("error5xx=1", seed=3)
    client = _boto(sbx)
    seen = set()
    for _ in range(10):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            client.list_domains()
        assert caught.value.response["Error"]["Code"] == "InternalServerException"
        seen.add(caught.value.response["ResponseMetadata"]["HTTPStatusCode"])
    assert seen <= {500, 502, 503} and 500 in seen


def test_package_endpoint_5xx_is_plain_not_aws_shaped(sbx):
    sbx.set_faults("error5xx=1")
    resp = _get(sbx, "package-endpoint")
    assert resp.status_code in (500, 502, 503)
    assert "x-amzn-ErrorType" not in resp.headers


# -- reset ---------------------------------------------------------------------------------------


def test_reset_is_connection_reset_for_requests(sbx):
    sbx.set_faults("reset=1")
    for name in TARGETS:
        with pytest.raises(requests.ConnectionError) as caught:
            _get(sbx, name)
        assert "reset" in str(caught.value).lower(), name
    assert _injected(sbx, "nexus")["reset"] == 1


def test_reset_is_a_socket_reset_not_a_clean_close(sbx):
    sbx.set_faults("reset=1")
    parts = urlsplit(sbx.urls()["nexus"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", NEXUS_PATH)
    with pytest.raises(ConnectionResetError):
        conn.getresponse()
    conn.close()


def test_reset_is_connection_closed_for_boto3(sbx):
    sbx.set_faults("reset=1")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        _boto(sbx).list_domains()


def test_reset_happens_before_the_request_takes_effect(sbx):
    client = _boto(sbx)
    sbx.set_faults("reset=1")
    with pytest.raises(botocore.exceptions.ConnectionClosedError):
        client.create_repository(domain="faults", repository="never-made")
    sbx.set_faults(None)
    names = [r["name"] for r in client.list_repositories_in_domain(domain="faults")["repositories"]]
    assert "repo" in names and "never-made" not in names


def test_stand_in_serves_normally_after_resets(sbx):
    sbx.set_faults("reset=1")
    session = requests.Session()
    for _ in range(5):
        with pytest.raises(requests.ConnectionError):
            session.get(sbx.urls()["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=10)
    sbx.set_faults(None)
    assert session.get(sbx.urls()["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=10).status_code == 200


# -- truncate ------------------------------------------------------------------------------------


def test_truncate_is_chunked_encoding_error_for_requests(sbx):
    sbx.set_faults("truncate=1", seed=1)
    for name in TARGETS:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            _get(sbx, name)
    got = bytearray()
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        with _get(sbx, "package-endpoint", stream=True) as resp:
            for chunk in resp.iter_content(8192):
                got += chunk
    assert 0 < len(got) < len(ASSET) and bytes(got) == ASSET[: len(got)]
    assert _injected(sbx, "nexus")["truncate"] == 1
    assert _injected(sbx, "codeartifact")["truncate"] == 2


def test_truncate_is_incomplete_read_for_http_client(sbx):
    sbx.set_faults("truncate=1", seed=1)
    parts = urlsplit(sbx.urls()["nexus"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", NEXUS_PATH, headers={"Authorization": "Basic YWRtaW46YWRtaW4xMjM="})
    resp = conn.getresponse()
    promised = int(resp.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as caught:
        resp.read()
    assert 0 < len(caught.value.partial) < promised
    conn.close()


def test_truncate_is_a_streaming_error_for_boto3_asset_downloads(sbx):
    sbx.set_faults("truncate=1", seed=1)
    client = _boto(sbx)
    resp = client.get_package_version_asset(domain="faults", repository="repo", format="generic", namespace="ns",
                                            package="pkg", packageVersion="1.0.0", asset="blob.bin")
    with pytest.raises(botocore.exceptions.ResponseStreamingError):
        resp["asset"].read()


def test_truncated_control_plane_json_is_silently_incomplete_for_boto3(sbx):
    # A fact about botocore for ferry's own code: it does not enforce Content-Length on JSON replies
    # (enforce_content_length=False) and a body that does not parse gives no error, just missing keys.
    sbx.set_faults("truncate=1", seed=1)
    result = _boto(sbx).list_domains()
    assert "domains" not in result
    sbx.set_faults(None)
    assert [d["name"] for d in _boto(sbx).list_domains()["domains"]] == ["faults"]


def test_truncate_takes_effect_after_the_request_did(sbx):
    client = _boto(sbx)
    sbx.set_faults("truncate=1", seed=1)
    client.create_repository(domain="faults", repository="made-but-unheard")
    sbx.set_faults(None)
    names = [r["name"] for r in client.list_repositories_in_domain(domain="faults")["repositories"]]
    assert "made-but-unheard" in names


def test_truncate_leaves_bodiless_responses_alone(sbx):
    sbx.set_faults("truncate=1")
    resp = requests.head(sbx.package_url, auth=sbx.auth, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Length"] == str(len(ASSET))
    assert _injected(sbx, "codeartifact")["truncate"] == 0


# -- latency -------------------------------------------------------------------------------------


def test_latency_delays_every_request_at_least_as_configured(sbx):
    sbx.set_faults("latency=150ms")
    for name in TARGETS:
        start = time.monotonic()
        assert _get(sbx, name).status_code == 200
        assert time.monotonic() - start >= 0.15
    assert _injected(sbx, "nexus")["latency"] == 1


# -- token_ttl -----------------------------------------------------------------------------------


def test_token_ttl_caps_authorization_tokens(sbx):
    client = _boto(sbx)
    sbx.set_faults("token_ttl=1s")
    before = time.time()
    result = client.get_authorization_token(domain="faults", durationSeconds=43200)
    # Expiration is what the caller plans with: it must show the short life, not the 12 h asked for.
    assert result["expiration"].timestamp() - before < 60
    auth = ("aws", result["authorizationToken"])
    assert requests.get(sbx.package_url, auth=auth, timeout=10).status_code == 200
    while time.time() <= result["expiration"].timestamp():
        time.sleep(0.2)
    assert requests.get(sbx.package_url, auth=auth, timeout=10).status_code == 401
    # The fixture's long-lived token is unaffected.
    assert requests.get(sbx.package_url, auth=sbx.auth, timeout=10).status_code == 200


def test_token_ttl_changed_at_run_time_applies_to_new_tokens(sbx):
    client = _boto(sbx)
    admin = sbx.urls()["codeartifact"] + "/__sandbox/faults"
    requests.put(admin, json={"faults": "token_ttl=1m"}, timeout=10).raise_for_status()
    first = client.get_authorization_token(domain="faults")["expiration"].timestamp() - time.time()
    requests.put(admin, json={"faults": "token_ttl=2m"}, timeout=10).raise_for_status()
    second = client.get_authorization_token(domain="faults")["expiration"].timestamp() - time.time()
    assert 50 < first < 61 and 110 < second < 121


# -- reproducibility and the admin API -----------------------------------------------------------


def _throttle_pattern(sbx, client, n: int = 24, nexus_between: bool = False) -> list[bool]:
    pattern = []
    for _ in range(n):
        try:
            client.list_domains()
            pattern.append(False)
        except client.exceptions.ThrottlingException:
            pattern.append(True)
        if nexus_between:
            _get(sbx, "nexus")
    return pattern


def test_same_seed_gives_same_fault_sequence_per_service(sbx):
    client = _boto(sbx)
    sbx.set_faults("throttle=0.5", seed=7)
    first = _throttle_pattern(sbx, client)
    assert True in first and False in first
    sbx.set_faults("throttle=0.5", seed=7)
    # Traffic to another stand-in does not shift this one's sequence.
    assert _throttle_pattern(sbx, client, nexus_between=True) == first
    sbx.set_faults("throttle=0.5", seed=8)
    assert _throttle_pattern(sbx, client) != first


def test_same_seed_gives_same_sequence_in_a_new_sandbox(sbx, tmp_path):
    sbx.set_faults("throttle=0.5", seed=11)
    first = _throttle_pattern(sbx, _boto(sbx), n=16)
    with Sandbox(SandboxOptions(data=tmp_path, faults=FaultSpec(throttle=0.5), seed=11)) as other:
        assert _throttle_pattern(other, _boto(other), n=16) == first


def test_admin_api_is_never_faulted_and_changes_faults_at_run_time(sbx):
    admin = sbx.urls()["nexus"] + "/__sandbox/faults"
    sbx.set_faults("reset=1")
    resp = requests.put(admin, json={"faults": "throttle=1,retry_after=2s", "seed": 5}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["faults"] == "throttle=1,retry_after=2s" and resp.json()["seed"] == 5
    assert _get(sbx, "nexus").headers["Retry-After"] == "2"
    status = requests.get(admin, timeout=10).json()
    assert status["requests"] == 1 and status["injected"]["throttle"] == 1
    # Without "seed" the seed stays; counters restart.
    again = requests.put(admin, json={"faults": "throttle=1,retry_after=2s"}, timeout=10).json()
    assert again["seed"] == 5 and again["requests"] == 0
    # Only that stand-in changed.
    with pytest.raises(requests.ConnectionError):
        _get(sbx, "package-endpoint")


def test_admin_api_rejects_a_bad_spec(sbx):
    resp = requests.put(sbx.urls()["nexus"] + "/__sandbox/faults", json={"faults": "thrtle=1"}, timeout=10)
    assert resp.status_code == 400 and "thrtle" in resp.json()["message"]
    assert requests.get(sbx.urls()["nexus"] + "/__sandbox/faults", timeout=10).json()["faults"] == ""


def test_admin_api_refuses_a_body_without_the_faults_key_rather_than_clearing_them(sbx):
    """A PUT naming the spec under another key ("spec", a typo) left no faults at all, answered 200, and
    the rehearsal ran fault-free while the engineer thought otherwise."""
    admin = sbx.urls()["nexus"] + "/__sandbox/faults"
    sbx.set_faults("throttle=0.5")
    for body in ({"spec": "throttle=1"}, {"fault": "throttle=1"}, ["throttle=1"]):
        resp = requests.put(admin, json=body, timeout=10)
        assert resp.status_code == 400, body
        assert '{"faults": "throttle=0.1", "seed": 7}' in resp.json()["message"]
    assert requests.get(admin, timeout=10).json()["faults"] == "throttle=0.5"


def test_no_tracebacks_from_the_servers_when_faults_break_connections(sbx, capfd):
    sbx.set_faults("reset=0.5,truncate=0.5", seed=4)
    for _ in range(20):
        for name in TARGETS:
            try:
                _get(sbx, name)
            except requests.RequestException:
                pass
    injected = _injected(sbx, "nexus")
    assert injected["reset"] and injected["truncate"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error on request" not in err
