"""`ferry sandbox serve`: prints one JSON line first, stops cleanly, keeps content across restarts and
turns every start-up problem into one line and exit 2."""

from __future__ import annotations

import hashlib
import json
import signal
import socket
import subprocess
import sys
import time

import boto3
import pytest
import requests

NEXUS_PATH = "/service/rest/v1/repositories"
NEXUS_AUTH = ("admin", "admin123")


def _serve(*args):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferry", "sandbox", "serve", *args],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    start = time.monotonic()
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=10)
        pytest.fail(f"serve printed nothing; exit {proc.returncode}; stderr: {proc.stderr.read()}")
    return proc, json.loads(line), time.monotonic() - start


def _stop(proc, sig=signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    code = proc.wait(timeout=15)
    return code, proc.stderr.read()


def _fails(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry", "sandbox", "serve", *args],
                          capture_output=True, text=True, timeout=30)


def _one_line_usage_error(out: subprocess.CompletedProcess, *words: str) -> None:
    assert out.returncode == 2, out.stderr
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("engine", ["werkzeug", "waitress"])
def test_serve_prints_urls_first_and_stops_on_sigterm(tmp_path, engine):
    proc, urls, elapsed = _serve("--data", str(tmp_path / "data"), "--server", engine)
    try:
        assert set(urls) == {"codeartifact", "nexus", "artifactory"}
        assert elapsed < 5
        for name, url in urls.items():
            assert url.startswith("http://127.0.0.1:")
            status = requests.get(url + "/__sandbox/faults", timeout=5).json()
            assert status["service"] == name
    finally:
        code, err = _stop(proc)
    assert code == 0 and "Traceback" not in err


def test_serve_stops_on_sigint_with_exit_0(tmp_path):
    proc, urls, _ = _serve("--data", str(tmp_path / "data"))
    code, err = _stop(proc, signal.SIGINT)
    assert code == 0 and err == ""
    with pytest.raises(requests.ConnectionError):
        requests.get(urls["nexus"] + "/__sandbox/faults", timeout=5)


def test_serve_listens_on_the_ports_asked_for(tmp_path):
    ca, nx, ar = _free_port(), _free_port(), _free_port()
    proc, urls, _ = _serve("--data", str(tmp_path), "--codeartifact-port", str(ca), "--nexus-port", str(nx),
                           "--artifactory-port", str(ar))
    try:
        assert urls == {"codeartifact": f"http://127.0.0.1:{ca}", "nexus": f"http://127.0.0.1:{nx}",
                        "artifactory": f"http://127.0.0.1:{ar}/artifactory"}
    finally:
        assert _stop(proc)[0] == 0


def test_serve_applies_faults_reproducibly_without_tracebacks(tmp_path):
    proc, urls, _ = _serve("--data", str(tmp_path), "--faults", "reset=0.3,truncate=0.3,throttle=0.3", "--seed", "42")
    try:
        status = requests.get(urls["nexus"] + "/__sandbox/faults", timeout=5).json()
        assert status["faults"] == "throttle=0.3,reset=0.3,truncate=0.3" and status["seed"] == 42
        outcomes = []
        for _ in range(30):
            try:
                outcomes.append(requests.get(urls["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=5).status_code)
            except requests.RequestException as err:
                outcomes.append(type(err).__name__)
        injected = requests.get(urls["nexus"] + "/__sandbox/faults", timeout=5).json()["injected"]
        assert injected["reset"] and injected["truncate"] and injected["throttle"]
        assert outcomes.count("ConnectionError") == injected["reset"]
        assert outcomes.count("ChunkedEncodingError") == injected["truncate"]
        assert outcomes.count(429) == injected["throttle"]
        # The same seed replays the same sequence.
        requests.put(urls["nexus"] + "/__sandbox/faults", timeout=5,
                     json={"faults": "reset=0.3,truncate=0.3,throttle=0.3", "seed": 42})
        again = []
        for _ in range(30):
            try:
                again.append(requests.get(urls["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=5).status_code)
            except requests.RequestException as err:
                again.append(type(err).__name__)
        assert again == outcomes
    finally:
        code, err = _stop(proc)
    assert code == 0
    assert "Traceback" not in err and "Error on request" not in err


def _codeartifact(url: str):
    return boto3.client("codeartifact", region_name="eu-west-1", endpoint_url=url,
                        aws_access_key_id="AKIDSERVE", aws_secret_access_key="secret")


def test_data_survives_a_restart(tmp_path):
    data = tmp_path / "data"
    body = b"kept across restarts\n" * 1000
    proc, urls, _ = _serve("--data", str(data))
    try:
        ca = _codeartifact(urls["codeartifact"])
        ca.create_domain(domain="keep")
        ca.create_repository(domain="keep", repository="repo")
        ca.publish_package_version(domain="keep", repository="repo", format="generic", namespace="ns", package="p",
                                   packageVersion="1", assetContent=body, assetName="a.txt",
                                   assetSHA256=hashlib.sha256(body).hexdigest())
        nexus = urls["nexus"]
        requests.post(nexus + NEXUS_PATH + "/raw/hosted", auth=NEXUS_AUTH, timeout=10, json={
            "name": "keep", "online": True,
            "storage": {"blobStoreName": "default", "strictContentTypeValidation": True, "writePolicy": "ALLOW"},
        }).raise_for_status()
        requests.put(nexus + "/repository/keep/dir/a.txt", data=body, auth=NEXUS_AUTH, timeout=10).raise_for_status()
    finally:
        assert _stop(proc)[0] == 0
    assert any(p.is_file() and p.read_bytes() == body for p in data.rglob("*")), "blob not on disk"

    proc, urls, _ = _serve("--data", str(data))
    try:
        ca = _codeartifact(urls["codeartifact"])
        assert [d["name"] for d in ca.list_domains()["domains"]] == ["keep"]
        asset = ca.get_package_version_asset(domain="keep", repository="repo", format="generic", namespace="ns",
                                             package="p", packageVersion="1", asset="a.txt")
        assert asset["asset"].read() == body
        names = [r["name"] for r in requests.get(urls["nexus"] + NEXUS_PATH, auth=NEXUS_AUTH, timeout=10).json()]
        assert "keep" in names
        got = requests.get(urls["nexus"] + "/repository/keep/dir/a.txt", auth=NEXUS_AUTH, timeout=10)
        assert got.status_code == 200 and got.content == body
    finally:
        assert _stop(proc)[0] == 0


def test_bad_fault_spec_is_exit_2_with_one_line():
    _one_line_usage_error(_fails("--faults", "thrttle=0.1"), "thrttle")


def test_fault_rates_above_one_in_total_are_refused():
    _one_line_usage_error(_fails("--faults", "reset=0.7,truncate=0.7"), "add up to 1.4")


def test_port_in_use_is_exit_2_with_one_line(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        out = _fails("--data", str(tmp_path), "--nexus-port", str(port))
    _one_line_usage_error(out, "nexus", str(port), "in use")


def test_unknown_host_is_exit_2_with_one_line(tmp_path):
    _one_line_usage_error(_fails("--data", str(tmp_path), "--host", "no-such-host.invalid"), "no-such-host.invalid")


def test_unwritable_data_folder_is_exit_2_with_one_line(tmp_path):
    # A folder below a regular file cannot be created, even by root.
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    _one_line_usage_error(_fails("--data", str(blocker / "data")), str(blocker / "data"), "not writable")


def test_unknown_server_engine_is_exit_2_with_one_line():
    _one_line_usage_error(_fails("--server", "gunicorn"), "gunicorn")
