"""kill -9 at seeded random moments, then the same command again: the job finishes, exactly once.

``kill_and_resume`` is the scenario itself; bench/reliability.py runs it for the figures in docs/reliability.md.

The stand-ins run in this test's process, so every publish the CodeArtifact stand-in accepts is counted
here, per item, across all the killed and resumed runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from e2e_helpers import AWS_ENV, aws_env, codeartifact, write_job
from ferry.sandbox.seed import NexusSeeder, wheel

REPOS = [
    {"source": "npm-internal", "target": "npm-store"},
    {"source": "pypi-internal", "target": "pypi-store"},
    {"source": "raw-files", "target": "generic-store", "namespace": "tools"},
]
KILLS = 10


def _seed(url: str) -> dict[tuple, str]:
    """Seed Nexus; returns expected target content {(format, namespace, package, version, asset): sha256}."""
    s = NexusSeeder(url)
    for fmt, name in (("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")):
        s.create_repository(fmt, name)
    expected = {}
    for i in range(12):
        tgz = s.npm("npm-internal", f"@acme/pkg{i % 4}", f"1.{i}.0")
        expected[("npm", "acme", f"pkg{i % 4}", f"1.{i}.0", "package.tgz")] = hashlib.sha256(tgz).hexdigest()
    for i in range(8):
        fname, data = wheel(f"acme-lib{i % 3}", f"0.{i}.0")
        s.pypi("pypi-internal", fname, data)
        expected[("pypi", "", f"acme-lib{i % 3}", f"0.{i}.0", fname)] = hashlib.sha256(data).hexdigest()
    for i in range(5):
        files = {f"part{j}.bin": f"tool {i} part {j}".encode() * 50 for j in range(3)}
        s.raw("raw-files", f"tool/{i}.0", files)
        for fname, data in files.items():
            expected[("generic", "tools", "tool", f"{i}.0", fname)] = hashlib.sha256(data).hexdigest()
    return expected


def _acme(sandbox, tmp_path):
    """The stand-ins seeded with this file's packages, domain ``acme`` holding every target repository, and
    a job file: ``(urls, expected, codeartifact client, job path)``."""
    urls = sandbox.urls()
    expected = _seed(urls["nexus"])
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    return urls, expected, ca, write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)


def _target(store) -> dict[tuple, str]:
    rows = store.query(
        "SELECT p.format, p.namespace, p.name, v.version, a.name AS asset, a.sha256, v.status FROM assets a "
        "JOIN versions v ON v.id = a.version_id JOIN packages p ON p.id = v.package_id")
    return {(r["format"], r["namespace"], r["name"], r["version"], r["asset"]): (r["sha256"], r["status"])
            for r in rows}


def _confirmed(ledger, states: tuple[str, ...] = ("confirmed",)) -> dict[tuple, str]:
    if not ledger.exists():
        return {}
    db = sqlite3.connect(ledger, timeout=10)
    try:
        rows = db.execute("SELECT format, namespace, package, version, asset, target_sha256 FROM items "
                          f"WHERE state IN ({','.join('?' * len(states))})", states).fetchall()
    except sqlite3.OperationalError:  # the run has not created its tables yet
        return {}
    finally:
        db.close()
    return {tuple(r[:5]): r[5] for r in rows}


def kill_and_resume(sandbox, tmp_path) -> dict:
    """kill -9 a migration at KILLS seeded moments, then run it to the end and verify it.

    Asserts, as it goes, that the ledger never claims what the target lacks, that the final target equals
    the source, every version ``Published``, that nothing confirmed was published again and that ``ferry
    verify`` exits 0. AWS credentials must be in ``os.environ`` (fake ones, see ``aws_env``). Returns the
    figures: ``kills``, ``kill_points`` (distinct confirmed counts the kills landed at), ``items``,
    ``final_exit``, ``verify_exit``, ``republished_confirmed`` (always 0 once the assertions pass),
    ``confirmed_before_final`` and ``seconds``. Raises AssertionError when a promise is broken.
    """
    started = time.monotonic()
    urls, expected, ca, job = _acme(sandbox, tmp_path)
    ledger = tmp_path / "ferry.db"

    store = sandbox.apps["codeartifact"].store
    publishes: Counter = Counter()
    real_publish = store.publish_asset

    def counting_publish(repo, fmt, namespace, package, version, asset_name, blob, **kw):
        publishes[(fmt, namespace or "", package, version, asset_name)] += 1
        return real_publish(repo, fmt, namespace, package, version, asset_name, blob, **kw)

    store.publish_asset = counting_publish
    try:
        figures = _kill_and_resume(sandbox, store, publishes, expected, job, ledger)
    finally:
        store.publish_asset = real_publish
    figures["seconds"] = time.monotonic() - started
    return figures


def _kill_and_resume(sandbox, store, publishes, expected, job, ledger) -> dict:
    sandbox.set_faults("latency=15ms", seed=7)

    # A temporary folder of the scenario's own: the spools the killed runs leave land there.
    tmp = Path(ledger).parent / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {**os.environ, **AWS_ENV, "TMPDIR": str(tmp)}
    cmd = [sys.executable, "-X", "faulthandler", "-m", "ferry", "migrate", str(job), "--state", str(ledger), "--no-progress",
           "--workers", "4"]
    rng = random.Random(20261125)
    # Kill points are drawn as "after k items are confirmed" (k from 0 to all but one), not as wall-clock
    # delays, so they spread over the run however fast or loaded the machine is.
    points = sorted(rng.sample(range(0, len(expected) - 1), KILLS))
    confirmed_publishes: dict[tuple, int] = {}
    kills = 0
    landed: set[int] = set()
    for point in points:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        # Done items, this run's or (as "same") earlier runs': the count grows across the killed runs.
        while proc.poll() is None and len(_confirmed(ledger, ("confirmed", "same"))) < point \
                and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.005, 0.03))
        if proc.poll() is not None:
            continue  # finished before the kill point: this draw is not a kill
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        target = _target(store)
        confirmed_now = _confirmed(ledger)
        landed.add(len(_confirmed(ledger, ("confirmed", "same"))))
        for key, sha in confirmed_now.items():
            # The ledger never claims what the target lacks.
            assert target.get(key, (None,))[0] == sha, key
            confirmed_publishes.setdefault(key, publishes[key])
    assert kills >= KILLS - 2, f"only {kills} of {KILLS} kill points were reached before the run finished"

    final = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _out, err = final.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        final.send_signal(signal.SIGABRT)  # faulthandler prints every thread's stack
        _out, err = final.communicate()
        raise AssertionError(f"the resumed run hung; its threads:\n{err[-8000:]}") from None
    assert final.returncode == 0, err
    # The last kill came after items were confirmed, so it left a spool behind; the final run removed it
    # (and said so), and its own on the way out.
    assert "left by earlier runs that stopped without cleaning up" in err, err
    assert not list(tmp.glob("ferry-spool-*")), sorted(p.name for p in tmp.rglob("*"))
    target = _target(store)
    assert {k: v[0] for k, v in target.items()} == expected
    assert {status for _sha, status in target.values()} == {"Published"}
    # Nothing confirmed was published again by a later run.
    republished = [key for key, count in confirmed_publishes.items() if publishes[key] != count]
    assert not republished, republished
    assert confirmed_publishes, "no kill landed after a confirmation"
    sandbox.set_faults(None)
    verify = subprocess.run([sys.executable, "-m", "ferry", "verify", str(job), "--state", str(ledger)],
                            env=env, capture_output=True, text=True, timeout=180)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    return {"kills": kills, "kill_points": len(landed), "items": len(expected), "final_exit": final.returncode,
            "verify_exit": verify.returncode, "republished_confirmed": len(republished),
            "confirmed_before_final": len(confirmed_publishes)}


@pytest.mark.timeout(600)
def test_kill_9_at_ten_random_moments_then_rerun_finishes_exactly_once(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    figures = kill_and_resume(sandbox, tmp_path)
    assert figures["final_exit"] == 0 and figures["verify_exit"] == 0
    assert figures["republished_confirmed"] == 0


@pytest.mark.timeout(300)
def test_a_second_run_on_a_ledger_in_use_is_refused_and_the_first_reports_all_it_did(sandbox, tmp_path, monkeypatch,
                                                                                       capsys):
    """Two runs writing one ledger would each re-plan the other's rows into their own run: refused, exit 2,
    before the second contacts anything (its --create-missing creates no domain)."""
    from e2e_helpers import ferry

    aws_env(monkeypatch, tmp_path)
    urls, expected, ca, job = _acme(sandbox, tmp_path)
    other = write_job(tmp_path / "other.toml", urls["nexus"], urls["codeartifact"], REPOS, domain="second")
    ledger = tmp_path / "ferry.db"
    sandbox.set_faults("latency=40ms", seed=7)  # the first run is still busy when the second starts
    cmd = [sys.executable, "-m", "ferry", "migrate", str(job), "--state", str(ledger), "--no-progress", "--workers", "2"]
    first = subprocess.Popen(cmd, env={**os.environ, **AWS_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 60
    while not _confirmed(ledger) and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert first.poll() is None, "the first run ended before the second started: give it more work"
    capsys.readouterr()
    for argv in (["migrate", str(other), "--create-missing"], ["verify", str(job)]):
        assert ferry(*argv, "--state", str(ledger)) == 2
        line = capsys.readouterr().err.strip()
        assert line.startswith(f"ferry: error: {ledger}: another ferry run is writing this ledger (process "
                               f"{first.pid}); wait for it to end"), line
    assert first.poll() is None, "the first run ended while the second was refused: give it more work"
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    assert "second" not in [d["name"] for d in ca.list_domains()["domains"]]
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        runs = db.execute("SELECT id, status, counts FROM runs").fetchall()
    assert runs == [(1, "ok", json.dumps({"confirmed": len(expected)}))]
    # The lock goes with the process that held it: the next run on the ledger goes ahead.
    sandbox.set_faults(None)
    assert ferry("verify", str(job), "--state", str(ledger)) == 0


@pytest.mark.timeout(300)
def test_status_and_report_call_a_killed_run_crashed_not_running(sandbox, tmp_path, monkeypatch, capsys):
    """A run killed mid-way is left ``running`` in the ledger: status and report must not tell the user to
    wait for a process that has gone."""
    from e2e_helpers import ferry

    aws_env(monkeypatch, tmp_path)
    urls, _expected, ca, job = _acme(sandbox, tmp_path)
    ledger = tmp_path / "ferry.db"
    sandbox.set_faults("latency=40ms", seed=7)
    cmd = [sys.executable, "-m", "ferry", "migrate", str(job), "--state", str(ledger), "--no-progress", "--workers", "2"]
    proc = subprocess.Popen(cmd, env={**os.environ, **AWS_ENV, "TMPDIR": str(tmp_path)}, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not _confirmed(ledger) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before the kill: give it more work"
    # While it lives, it is running.
    capsys.readouterr()
    assert ferry("status", "--state", str(ledger)) == 0
    assert "Run 1 (migrate, running)" in capsys.readouterr().out
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    assert ferry("status", "--state", str(ledger)) == 0
    out = capsys.readouterr().out
    assert out.startswith("Run 1 (migrate, crashed), started ") and "ended not recorded: its process stopped; run " \
        "the same command again to resume" in out, out
    assert ferry("report", "--state", str(ledger)) == 0
    assert json.loads(capsys.readouterr().out)["run"]["status"] == "crashed"
    sandbox.set_faults(None)
    assert ferry("migrate", str(job), "--state", str(ledger), "--no-progress") == 0
    capsys.readouterr()
    assert ferry("status", "--state", str(ledger), "--run", "1") == 0
    assert capsys.readouterr().out.startswith("Run 1 (migrate, crashed)")
    with contextlib.closing(sqlite3.connect(ledger)) as db:  # the ledger keeps what was recorded
        assert db.execute("SELECT status FROM runs ORDER BY id").fetchall() == [("running",), ("ok",)]
