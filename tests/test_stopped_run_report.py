"""--report after a run that stopped (Ctrl-C, exit 130; a fatal error, exit 3): the file describes that run, not
the earlier one a rerun of the runbook's command left there."""

from __future__ import annotations

import json

import pytest

from e2e_helpers import ferry, npm_job
from ferry.errors import FatalError
from ferry.sandbox.seed import NexusSeeder


@pytest.fixture
def job(sandbox, tmp_path, monkeypatch):
    return npm_job(sandbox, tmp_path, monkeypatch, "left-pad-acme")


@pytest.mark.parametrize("stop, code, status", [(KeyboardInterrupt, 130, "interrupted"),
                                                (lambda: FatalError("the target went away"), 3, "fatal")],
                         ids=["ctrl-c", "fatal"])
def test_a_stopped_migrate_writes_its_own_report_over_the_last_ones(job, tmp_path, monkeypatch, capsys,
                                                                   stop, code, status):
    from ferry import engine as ferry_engine

    state, report = str(tmp_path / "acme.db"), tmp_path / "migrate.json"
    assert ferry("audit", str(job), "--state", state, "--create-missing", "--report", str(report)) == 0
    assert json.loads(report.read_text())["run"]["status"] == "ok"

    def stopped(*_args, **_kwargs):
        raise stop()

    monkeypatch.setattr(ferry_engine.Engine, "transfer", stopped)
    assert ferry("migrate", str(job), "--state", state, "--create-missing", "--no-progress",
                 "--report", str(report)) == code
    written = json.loads(report.read_text())["run"]
    assert (written["id"], written["command"], written["status"]) == (2, "migrate", status)
    assert f"report written to {report}" in capsys.readouterr().out


def test_a_run_refused_before_it_is_recorded_writes_no_report(job, tmp_path):
    """Bad input (here: the target missing, no --create-missing) records no run: there is nothing to report,
    and the earlier file stays as it was."""
    state, report = str(tmp_path / "acme.db"), tmp_path / "migrate.json"
    assert ferry("audit", str(job), "--state", state, "--create-missing", "--report", str(report)) == 0
    before = report.read_bytes()
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--report", str(report)) == 2
    assert report.read_bytes() == before


def test_an_interrupted_replicate_writes_its_own_report(sandbox, tmp_path, monkeypatch):
    from ferry import engine as ferry_engine
    from replicate_helpers import one_file_replica

    job, src = one_file_replica(sandbox, tmp_path, monkeypatch)
    state, report = str(tmp_path / "replica.db"), tmp_path / "replica-report.json"
    args = ("replicate", str(job), "--state", state, "--create-missing", "--no-progress", "--report", str(report))
    assert ferry(*args) == 0
    src.generic("packages", "tools", "installer", "2.0", {"a.bin": b"b"})

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(ferry_engine.Engine, "transfer", interrupted)  # ReplicaEngine's transfer too
    assert ferry(*args) == 130
    written = json.loads(report.read_text())["run"]
    assert (written["id"], written["command"], written["status"]) == (2, "replicate", "interrupted")


def test_an_interrupted_migrate_still_prints_the_origin_controls_it_changed(job, sandbox, tmp_path, monkeypatch,
                                                                          capsys):
    """The runbook (step 4) promises each origin-controls change as a note, to restore them afterwards; a run
    interrupted after changing them must print them too: the rerun finds them changed and says nothing."""
    from e2e_helpers import codeartifact
    from ferry import statuses
    from ferry.sandbox.seed import npm_tarball

    state = str(tmp_path / "acme.db")
    assert ferry("migrate", str(job), "--state", state, "--create-missing", "--no-progress") == 0
    codeartifact(sandbox.urls()["codeartifact"]).put_package_origin_configuration(
        domain="acme", repository="npm-store", format="npm", package="left-pad-acme",
        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    NexusSeeder(sandbox.urls()["nexus"]).upload(
        "npm-internal", {"npm.asset": ("left-pad-acme-1.1.0.tgz", npm_tarball("left-pad-acme", "1.1.0"))})
    capsys.readouterr()

    def interrupted(*_args, **_kwargs):  # after the transfer, which changed the origin controls
        raise KeyboardInterrupt

    monkeypatch.setattr(statuses.StatusPass, "finish", interrupted)
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "ferry: interrupted; run the same command again to resume"
    assert "note: origin controls of left-pad-acme in npm-store set to publish=ALLOW, upstream=BLOCK (were " \
           "publish=BLOCK, upstream=ALLOW)" in err
