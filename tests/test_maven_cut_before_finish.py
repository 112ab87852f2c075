"""A Maven run cut off after its files are confirmed but before the version is finished (``maven-metadata.xml``
not yet uploaded, the version still ``Unfinished`` in the target, hidden from Maven clients): the ledger must
not call the version's files done, and the next run finishes the version and only then does.

The cut is real: ferry runs in a child process, the CodeArtifact stand-in (in this process) holds the child's
metadata upload, and the test kills the child (SIGKILL) or interrupts it (SIGINT) while it waits.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from e2e_helpers import AWS_ENV, ferry, maven_world
from ferry.errors import EXIT_INTERRUPTED
from ferry.sandbox.codeartifact.formats import maven as maven_endpoint
from ferry.sandbox.seed import maven_artifact

GROUP, ARTIFACT, VERSION = "com.acme.ferry", "greeter", "1.0.0"
FILES = 2  # the POM and the jar


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    made = maven_world(sandbox, tmp_path, monkeypatch,
                       {(GROUP, ARTIFACT, VERSION): maven_artifact(GROUP, ARTIFACT, VERSION, sources=False)})
    return {"ca": made["ca"], "job": made["job"], "state": tmp_path / "ferry.db", "tmp": tmp_path}


class HeldMetadata:
    """Holds every ``maven-metadata.xml`` upload the stand-in receives until :meth:`answer`; from then on each is
    answered at once with that ``status``: 201 lets it through, 503 refuses it as a busy service would."""

    def __init__(self, monkeypatch):
        self.reached = threading.Event()
        self._go = threading.Event()
        self._status = 201
        real = maven_endpoint._put_metadata

        def held(ctx, request, pkg, version):
            self.reached.set()
            self._go.wait(30)
            if self._status != 201:
                request.stream.read()
                return maven_endpoint.text_error("Service Unavailable", self._status)
            return real(ctx, request, pkg, version)

        monkeypatch.setattr(maven_endpoint, "_put_metadata", held)

    def answer(self, status: int = 201) -> None:
        self._status = status
        self._go.set()


def _start(world) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "ferry", "migrate", str(world["job"]), "--state", str(world["state"]),
           "--no-progress", "--workers", "1"]
    return subprocess.Popen(cmd, env={**os.environ, **AWS_ENV, "TMPDIR": str(world["tmp"])},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _held_at_finish(proc: subprocess.Popen, held: HeldMetadata, state: Path) -> None:
    """Wait until the child sends the version's metadata and the rows it wrote for the files are committed."""
    deadline = time.monotonic() + 60
    while not held.reached.wait(0.05):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never reached the version's maven-metadata.xml"
    # Each file's row leaves planned/downloading once it is published (and, before the fix, was confirmed too
    # before the metadata upload). Waiting for that, however loaded the machine, then for the ledger thread's
    # linger (0.2 s) to pass again, leaves every row the run wrote before the upload in the file.
    while (lambda s: s.get("published", 0) + s.get("confirmed", 0))(_states(state)) < FILES:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, f"the files' rows never left planning: {_states(state)}"
        time.sleep(0.05)
    time.sleep(0.5)
    assert proc.poll() is None


def _states(state: Path) -> dict[str, int]:
    with closing(sqlite3.connect(state)) as db:
        return dict(db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall())


def _report(state: Path, capsys) -> dict:
    capsys.readouterr()
    assert ferry("report", "--state", str(state)) == 0
    return json.loads(capsys.readouterr().out)


def _status(ca) -> str:
    return ca.describe_package_version(domain="acme", repository="maven-store", format="maven", namespace=GROUP,
                                       package=ARTIFACT, packageVersion=VERSION)["packageVersion"]["status"]


@pytest.mark.timeout(120)
def test_a_run_killed_before_the_version_is_finished_leaves_its_files_not_done(world, sandbox, monkeypatch, capsys):
    held = HeldMetadata(monkeypatch)
    proc = _start(world)
    try:
        _held_at_finish(proc, held, world["state"])
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
    finally:
        held.answer(503)  # the handler waiting on the killed child's upload ends
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert _status(world["ca"]) == "Unfinished"
    report = _report(world["state"], capsys)
    # Both files are in the target, but Maven clients cannot see them: the ledger must not call them done.
    assert report["states"].get("confirmed", 0) == 0, report["states"]
    assert report["states"] == {"published": FILES}
    assert report["totals"]["pending_files"] == FILES

    publishes_before = sandbox.quota.status()["requests"].get("publish", 0)
    held.answer(201)  # from now on the stand-in takes metadata uploads at once
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    assert _status(world["ca"]) == "Published"
    assert _report(world["state"], capsys)["states"] == {"confirmed": FILES}
    # The rerun found the files in the target and uploaded only the metadata.
    assert sandbox.quota.status()["requests"].get("publish", 0) == publishes_before + 1


@pytest.mark.timeout(120)
def test_ctrl_c_before_the_version_is_finished_leaves_its_files_not_done(world, monkeypatch, capsys):
    held = HeldMetadata(monkeypatch)
    proc = _start(world)
    try:
        _held_at_finish(proc, held, world["state"])
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)  # the main thread takes the interrupt and tells the worker to stop
        held.answer(503)  # the upload fails as retryable: the worker's retry wait sees the run stopping
        _out, err = proc.communicate(timeout=60)
    finally:
        held.answer(503)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == EXIT_INTERRUPTED, err
    assert _status(world["ca"]) == "Unfinished"
    report = _report(world["state"], capsys)
    assert report["run"]["status"] == "interrupted"
    assert report["states"] == {"published": FILES}, report["states"]
