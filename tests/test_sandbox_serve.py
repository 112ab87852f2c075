"""`ferry sandbox serve`: prints one JSON line first, stops cleanly, keeps content across restarts and
turns every start-up problem into one line and exit 2."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

NEXUS_PATH = "/service/rest/v1/repositories"


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
        assert set(urls) == {"codeartifact", "nexus"}
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
    ca, nx = _free_port(), _free_port()
    proc, urls, _ = _serve("--data", str(tmp_path), "--codeartifact-port", str(ca), "--nexus-port", str(nx))
    try:
        assert urls == {"codeartifact": f"http://127.0.0.1:{ca}", "nexus": f"http://127.0.0.1:{nx}"}
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
                outcomes.append(requests.get(urls["nexus"] + NEXUS_PATH, timeout=5).status_code)
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
                again.append(requests.get(urls["nexus"] + NEXUS_PATH, timeout=5).status_code)
            except requests.RequestException as err:
                again.append(type(err).__name__)
        assert again == outcomes
    finally:
        code, err = _stop(proc)
    assert code == 0
    assert "Traceback" not in err and "Error on request" not in err


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
