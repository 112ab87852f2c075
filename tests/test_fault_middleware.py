"""The fault spec and the fault middleware on their own: parsing, and cutting bodies the stand-ins
stream (chunked, and files served through the server's file wrapper) on both server engines."""

from __future__ import annotations

import pytest
import requests
from werkzeug.wrappers import Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.faults import FaultController, FaultMiddleware, FaultSpec, FaultSpecError
from ferry.sandbox.web import start_server


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


# -- decisions -----------------------------------------------------------------------------------


def _kinds(controller: FaultController, n: int) -> list[str | None]:
    return [controller.decide().kind for _ in range(n)]


def test_decisions_follow_seed_and_service_name():
    spec = FaultSpec(throttle=0.2, error5xx=0.2, reset=0.2, truncate=0.2)
    first = _kinds(FaultController("nexus", spec, seed=5), 200)
    assert _kinds(FaultController("nexus", spec, seed=5), 200) == first
    assert _kinds(FaultController("codeartifact", spec, seed=5), 200) != first
    assert _kinds(FaultController("nexus", spec, seed=6), 200) != first


def test_each_kind_hits_about_its_rate_and_only_one_per_request():
    controller = FaultController("nexus", FaultSpec(throttle=0.1, error5xx=0.2, reset=0.3, truncate=0.15), seed=1)
    kinds = _kinds(controller, 20000)
    for kind, rate in (("throttle", 0.1), ("error5xx", 0.2), ("reset", 0.3), ("truncate", 0.15), (None, 0.25)):
        assert abs(kinds.count(kind) / len(kinds) - rate) < 0.02, kind
    status = controller.status()
    assert status["requests"] == 20000
    # Truncation is only counted when a body is actually cut, which decide() alone never does.
    assert status["injected"]["throttle"] == kinds.count("throttle") and status["injected"]["truncate"] == 0


# -- the middleware on bodies the stand-ins stream ----------------------------------------------


def _streaming_app(environ, start_response):
    # No Content-Length: the server sends it chunked.
    return Response((b"x" * 1000 for _ in range(50)), mimetype="application/octet-stream")(environ, start_response)


@pytest.mark.parametrize("engine", ["werkzeug", "waitress"])
def test_truncate_cuts_chunked_and_file_bodies(engine, tmp_path, capfd):
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
