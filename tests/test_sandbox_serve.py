"""`ferry sandbox serve` prints one JSON line first and keeps content across restarts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import requests


def _serve(data_dir, *extra):
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferry", "sandbox", "serve", "--data", str(data_dir), *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    start = time.monotonic()
    line = proc.stdout.readline()
    return proc, json.loads(line), time.monotonic() - start


def test_serve_prints_urls_first_and_stops_on_sigterm(tmp_path):
    proc, urls, elapsed = _serve(tmp_path / "data")
    try:
        assert set(urls) >= {"codeartifact", "nexus"}
        assert elapsed < 5
        for url in urls.values():
            assert url.startswith("http://127.0.0.1:")
            requests.get(url + "/", timeout=5)  # answers at all
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0


def test_bad_fault_spec_is_exit_2_with_one_line(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "ferry", "sandbox", "serve", "--faults", "thrttle=0.1"],
        capture_output=True, text=True, timeout=30,
    )
    assert out.returncode == 2
    assert out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "thrttle" in lines[0] and "Traceback" not in out.stderr
