"""Injected faults as real clients see them: requests for Nexus and package endpoints, boto3 for the
CodeArtifact control plane. Every socket-level fault runs on both server engines."""

from __future__ import annotations

import http.client
import time
from urllib.parse import urlsplit

import boto3
import botocore.exceptions
import pytest
import requests
from botocore.config import Config
from werkzeug.wrappers import Response

from ferry.sandbox.faults import FaultController, FaultMiddleware, FaultSpec, FaultSpecError
from ferry.sandbox.server import Sandbox, SandboxOptions
from ferry.sandbox.web import start_server

NEXUS_PATH = "/service/rest/v1/repositories"


@pytest.fixture(scope="module", params=["werkzeug", "waitress"])
def sbx(request, tmp_path_factory):
    with Sandbox(SandboxOptions(data=tmp_path_factory.mktemp("faults"), engine=request.param)) as sandbox:
        yield sandbox


@pytest.fixture(autouse=True)
def _no_faults_after(request):
    yield
    if "sbx" in request.fixturenames:
        request.getfixturevalue("sbx").set_faults(None)


def _boto(sbx: Sandbox):
    return boto3.client(
        "codeartifact", region_name="us-west-2", endpoint_url=sbx.urls()["codeartifact"],
        aws_access_key_id="AKIDFAULTS", aws_secret_access_key="secret",
        # One attempt in all: we want to see each injected fault, not botocore's retries hiding it.
        # (retries={"max_attempts": 1} would still retry once: that key counts retries, not attempts.)
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def _package_url(sbx: Sandbox) -> str:
    return sbx.urls()["codeartifact"] + "/d/faults-111122223333/us-west-2/npm/repo/left-pad"


def _targets(sbx: Sandbox) -> dict[str, str]:
    return {"nexus": sbx.urls()["nexus"] + NEXUS_PATH, "package-endpoint": _package_url(sbx)}


def _injected(sbx: Sandbox, service: str) -> dict[str, int]:
    return requests.get(sbx.urls()[service] + "/__sandbox/faults", timeout=10).json()["injected"]


# -- spec parsing --------------------------------------------------------------------------------


def test_spec_parses_rates_and_durations_and_prints_back():
    spec = FaultSpec.parse("throttle=0.25, latency=20ms,token_ttl=2m,retry_after=3s")
    assert (spec.throttle, spec.latency, spec.token_ttl, spec.retry_after) == (0.25, 0.02, 120.0, 3.0)
    assert FaultSpec.parse(spec.text()) == spec


@pytest.mark.parametrize("text, words", [
    ("throttle=2", "between 0 and 1"),
    ("latency=fast", "not a duration"),
    ("reset", "unknown fault"),
    ("throttle=0.6,error5xx=0.6", "add up to 1.2"),
])
def test_bad_specs_name_the_problem(text, words):
    with pytest.raises(FaultSpecError, match=words):
        FaultSpec.parse(text)


# -- throttle ------------------------------------------------------------------------------------


def test_throttle_is_429_with_retry_after_for_nexus_and_package_endpoints(sbx):
    sbx.set_faults("throttle=1,retry_after=3s")
    for name, url in _targets(sbx).items():
        resp = requests.get(url, timeout=10)
        assert resp.status_code == 429, name
        assert resp.headers["Retry-After"] == "3", name
    assert _injected(sbx, "nexus")["throttle"] == 1
    assert _injected(sbx, "codeartifact")["throttle"] == 1


def test_throttle_is_throttling_exception_for_boto3(sbx):
    sbx.set_faults("throttle=1,retry_after=7s")
    client = _boto(sbx)
    with pytest.raises(client.exceptions.ThrottlingException) as caught:
        client.list_domains()
    assert caught.value.response["retryAfterSeconds"] == 7
    assert _injected(sbx, "codeartifact")["throttle"] == 1  # one request: botocore did not retry
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429


def test_fractional_retry_after_rounds_up_to_whole_seconds(sbx):
    sbx.set_faults("throttle=1,retry_after=200ms")
    assert requests.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10).headers["Retry-After"] == "1"


# -- 5xx -----------------------------------------------------------------------------------------


def test_error5xx_gives_500_502_and_503(sbx):
    sbx.set_faults("error5xx=1", seed=3)
    statuses = [requests.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10).status_code for _ in range(30)]
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
    resp = requests.get(_package_url(sbx), timeout=10)
    assert resp.status_code in (500, 502, 503)
    assert "x-amzn-ErrorType" not in resp.headers


# -- reset ---------------------------------------------------------------------------------------


def test_reset_is_connection_reset_for_requests(sbx):
    sbx.set_faults("reset=1")
    for name, url in _targets(sbx).items():
        with pytest.raises(requests.ConnectionError) as caught:
            requests.get(url, timeout=10)
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


def test_stand_in_serves_normally_after_resets(sbx):
    sbx.set_faults("reset=1")
    session = requests.Session()
    for _ in range(5):
        with pytest.raises(requests.ConnectionError):
            session.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10)
    sbx.set_faults(None)
    assert session.get(sbx.urls()["nexus"] + "/__sandbox/faults", timeout=10).status_code == 200
    assert session.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10).status_code < 500


# -- truncate ------------------------------------------------------------------------------------


def test_truncate_is_chunked_encoding_error_for_requests(sbx):
    sbx.set_faults("truncate=1", seed=1)
    for name, url in _targets(sbx).items():
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(url, timeout=10)
    assert _injected(sbx, "nexus")["truncate"] == 1


def test_truncate_is_incomplete_read_for_http_client(sbx):
    sbx.set_faults("truncate=1", seed=1)
    parts = urlsplit(sbx.urls()["nexus"])
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    conn.request("GET", NEXUS_PATH)
    resp = conn.getresponse()
    promised = int(resp.getheader("Content-Length"))
    with pytest.raises(http.client.IncompleteRead) as caught:
        resp.read()
    assert 0 < len(caught.value.partial) < promised
    conn.close()


def test_truncate_leaves_bodiless_responses_alone(sbx):
    sbx.set_faults("truncate=1")
    resp = requests.head(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10)
    assert resp.status_code < 500
    assert _injected(sbx, "nexus")["truncate"] == 0


# -- latency -------------------------------------------------------------------------------------


def test_latency_delays_every_request_at_least_as_configured(sbx):
    sbx.set_faults("latency=150ms")
    for url in _targets(sbx).values():
        start = time.monotonic()
        requests.get(url, timeout=10)
        assert time.monotonic() - start >= 0.15
    assert _injected(sbx, "nexus")["latency"] == 1


# -- reproducibility and the admin API -----------------------------------------------------------


def _throttle_pattern(sbx: Sandbox, client, n: int = 24, nexus_between: bool = False) -> list[bool]:
    pattern = []
    for _ in range(n):
        try:
            client.list_domains()
            pattern.append(False)
        except client.exceptions.ThrottlingException:
            pattern.append(True)
        except botocore.exceptions.ClientError:
            pattern.append(False)  # not throttled: whatever the control plane answered
        if nexus_between:
            requests.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10)
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
    assert requests.get(sbx.urls()["nexus"] + NEXUS_PATH, timeout=10).headers["Retry-After"] == "2"
    status = requests.get(admin, timeout=10).json()
    assert status["requests"] == 1 and status["injected"]["throttle"] == 1
    # Only that stand-in changed.
    with pytest.raises(requests.ConnectionError):
        requests.get(_package_url(sbx), timeout=10)


def test_admin_api_rejects_a_bad_spec(sbx):
    resp = requests.put(sbx.urls()["nexus"] + "/__sandbox/faults", json={"faults": "thrtle=1"}, timeout=10)
    assert resp.status_code == 400 and "thrtle" in resp.json()["message"]
    assert requests.get(sbx.urls()["nexus"] + "/__sandbox/faults", timeout=10).json()["faults"] == ""


# -- the middleware on bodies the stand-ins stream ----------------------------------------------


def _streaming_app(environ, start_response):
    # No Content-Length: the server sends it chunked.
    return Response((b"x" * 1000 for _ in range(50)), mimetype="application/octet-stream")(environ, start_response)


@pytest.mark.parametrize("engine", ["werkzeug", "waitress"])
def test_truncate_cuts_chunked_and_file_bodies(engine, tmp_path, capfd):
    from werkzeug.wsgi import wrap_file

    blob = tmp_path / "blob"
    blob.write_bytes(bytes(range(256)) * 4096)

    def app(environ, start_response):
        if environ["PATH_INFO"] == "/file":
            resp = Response(wrap_file(environ, open(blob, "rb")), mimetype="application/octet-stream",
                            direct_passthrough=True)
            resp.headers["Content-Length"] = str(blob.stat().st_size)
            return resp(environ, start_response)
        return _streaming_app(environ, start_response)

    controller = FaultController("test", FaultSpec(truncate=1.0), seed=2)
    server = start_server("test", FaultMiddleware(app, controller), engine=engine)
    try:
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            requests.get(server.url + "/chunked", timeout=10)
        got = bytearray()
        with pytest.raises(requests.exceptions.ChunkedEncodingError):
            with requests.get(server.url + "/file", stream=True, timeout=10) as resp:
                for chunk in resp.iter_content(65536):
                    got += chunk
        assert 0 < len(got) < blob.stat().st_size
        assert bytes(got) == blob.read_bytes()[: len(got)]
        controller.configure(FaultSpec())
        assert requests.get(server.url + "/file", timeout=10).content == blob.read_bytes()
        assert controller.status()["injected"]["truncate"] == 0
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err


def test_no_tracebacks_from_the_servers_when_faults_break_connections(sbx, capfd):
    sbx.set_faults("reset=0.5,truncate=0.5", seed=4)
    for _ in range(20):
        for url in _targets(sbx).values():
            try:
                requests.get(url, timeout=10)
            except requests.RequestException:
                pass
    injected = _injected(sbx, "nexus")
    assert injected["reset"] and injected["truncate"]
    err = capfd.readouterr().err
    assert "Traceback" not in err and "Error on request" not in err
