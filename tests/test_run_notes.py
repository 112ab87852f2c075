"""A run's notes (repositories created, origin controls changed, versions left out, what faults cost) are kept
with the run in the ledger, so ``status``, ``report`` (JSON, Markdown, HTML), ``--report FILE`` and ``report
--merge`` show them after the terminal that printed them as ``note:`` lines is gone."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing

import pytest
from sqlite_utils import Database

from e2e_helpers import ferry, npm_job, older_ledger
from ferry import redact
from ferry.errors import FatalError
from ferry.report import build_report, render_json, render_markdown, render_table
from ferry.report_html import render_html
from ferry.state import SCHEMA_VERSION, LedgerReader, LedgerWriter
from ferry.state.migrations import migrate

CREATED = ["created domain acme", "created repository npm-store"]


@pytest.fixture
def job(sandbox, tmp_path, monkeypatch):
    return npm_job(sandbox, tmp_path, monkeypatch, "left-pad-acme")


def _ledger_with_notes(path, notes, command="audit"):
    with LedgerWriter(path) as writer:
        run_id = writer.start_run(command, "job.toml")
        writer.end_run("ok", notes)
    return run_id


# ---------------------------------------------------------------- the ledger keeps them


def test_a_runs_notes_are_kept_redacted_and_one_line_each(tmp_path):
    """Notes quote the source's file names (line breaks, escape sequences) and servers' answers: stored as any
    reason is, redacted, and one line each."""
    redact.register("s3cr3t-note-value")
    try:
        run_id = _ledger_with_notes(tmp_path / "l.db", ["created repository npm-store",
                                                        "raw: 1 file(s) named 'a\nb \x1b[31mred' left out",
                                                        "answer quoted s3cr3t-note-value"])
    finally:
        redact.forget_all()
    with LedgerReader(tmp_path / "l.db") as reader:
        assert reader.run(run_id).notes == ("created repository npm-store",
                                            "raw: 1 file(s) named 'a b [31mred' left out",
                                            "answer quoted <redacted>")
    with closing(sqlite3.connect(tmp_path / "l.db")) as db:
        assert "s3cr3t" not in db.execute("SELECT notes FROM runs").fetchone()[0]


def test_a_ledger_before_run_notes_is_upgraded_and_its_runs_have_none(tmp_path):
    path = tmp_path / "old.db"
    db = Database(sqlite3.connect(path))
    assert migrate(db, str(path), upto=SCHEMA_VERSION - 1) == SCHEMA_VERSION - 1
    db.execute("INSERT INTO runs (command, job, started, ended, status, counts) VALUES "
               "('migrate', 'job.toml', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', '{}')")
    db.conn.commit()
    assert "notes" not in db["runs"].columns_dict
    db.close()
    run_id = _ledger_with_notes(path, ["created repository npm-store"])  # opens it for writing: upgraded
    with LedgerReader(path) as reader:
        assert reader.schema_version == SCHEMA_VERSION and "notes" in reader.db["runs"].columns_dict
        assert [run.notes for run in reader.runs()] == [(), ("created repository npm-store",)]
        assert run_id == 2


def test_status_and_report_read_an_older_ferrys_ledger_without_notes_and_leave_it_as_it_is(tmp_path, capsys):
    """The scheduled runner's older ferry still writes the ledger (schema before 0010): read from an upgraded
    copy, its report says the run kept no notes, and the file keeps its schema."""
    path = tmp_path / "old.db"
    before = older_ledger(path, SCHEMA_VERSION - 1)
    assert ferry("status", "--state", str(path)) == 0
    assert capsys.readouterr().out.startswith("Run 1 (migrate, ok)")
    assert ferry("report", "--state", str(path)) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []
    assert path.read_bytes() == before


# ---------------------------------------------------------------- the reports show them


def test_every_report_of_a_run_shows_its_notes(tmp_path):
    run_id = _ledger_with_notes(tmp_path / "l.db", ["created repository npm-store",
                                                    "raw-hosted: 2 file(s) | <b>odd</b> names left out"])
    with LedgerReader(tmp_path / "l.db") as reader:
        report = build_report(reader, run_id)
        html = render_html(report, reader)
    assert json.loads(render_json(report))["notes"] == list(report.notes) == [
        "created repository npm-store", "raw-hosted: 2 file(s) | <b>odd</b> names left out"]
    markdown = render_markdown(report)
    assert "## Notes (2)\n\n- created repository npm-store\n- raw-hosted: 2 file(s) \\| <b>odd</b> names left out\n" \
        in markdown
    table = render_table(report)
    assert table.endswith("\n2 note(s) of the run:\n  note: created repository npm-store\n"
                          "  note: raw-hosted: 2 file(s) | <b>odd</b> names left out\n")
    assert "note:" not in render_table(report, notes=False)  # a run that has just printed them on stderr
    assert ("<h2>Notes (2)</h2>\n<ul><li>created repository npm-store</li><li>raw-hosted: 2 file(s) | "
            "&lt;b&gt;odd&lt;/b&gt; names left out</li></ul>") in html


def test_a_whole_ledger_report_shows_no_runs_notes(tmp_path):
    """The whole ledger's items come from many runs: no one run's notes are its own (each run's report has them)."""
    _ledger_with_notes(tmp_path / "l.db", ["created repository npm-store"])
    with LedgerReader(tmp_path / "l.db") as reader:
        report = build_report(reader, None)
    assert report.notes == [] and json.loads(render_json(report))["notes"] == []
    assert "Notes" not in render_markdown(report) and "note:" not in render_table(report)


def test_report_merge_shows_each_shards_notes_labelled_by_its_ledger(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _ledger_with_notes("ferry.shard-1-of-2.db", ["created repository npm-store"], command="migrate")
    _ledger_with_notes("ferry.shard-2-of-2.db", ["retried 3 requests (429 3)"], command="migrate")
    _ledger_with_notes("ferry.shard-2-of-2.db", ["npm-internal: 1 npm version(s) Unfinished"], command="migrate")
    assert ferry("report", "--merge", "ferry.shard-1-of-2.db", "ferry.shard-2-of-2.db", "-o", "merged.json",
                 "--html", "merged.html") == 0
    assert json.loads((tmp_path / "merged.json").read_text())["notes"] == [
        "ferry.shard-1-of-2.db (run 1): created repository npm-store",
        "ferry.shard-2-of-2.db (run 2): npm-internal: 1 npm version(s) Unfinished"]
    assert "<li>ferry.shard-1-of-2.db (run 1): created repository npm-store</li>" in (
        tmp_path / "merged.html").read_text()


def test_report_merge_reads_a_shard_ledger_of_an_older_ferry(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    db = Database(sqlite3.connect("ferry.shard-1-of-2.db"))
    migrate(db, "ferry.shard-1-of-2.db", upto=SCHEMA_VERSION - 1)
    db.execute("INSERT INTO runs (command, job, started, ended, status, counts) VALUES "
               "('migrate', 'job.toml', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', '{}')")
    db.conn.commit()
    db.close()
    _ledger_with_notes("ferry.shard-2-of-2.db", ["created repository npm-store"], command="migrate")
    assert ferry("report", "--merge", "ferry.shard-1-of-2.db", "ferry.shard-2-of-2.db", "-o", "merged.json") == 0
    assert json.loads((tmp_path / "merged.json").read_text())["notes"] == [
        "ferry.shard-2-of-2.db (run 1): created repository npm-store"]


# ---------------------------------------------------------------- runs record them, however they end


def test_a_migrates_notes_reach_its_report_file_and_a_later_status(job, tmp_path, capsys):
    """The Artifactory runbook has the operator read an audit's notes from its --report file."""
    state, report = str(tmp_path / "acme.db"), tmp_path / "audit.md"
    assert ferry("migrate", str(job), "--state", state, "--create-missing", "--no-progress",
                 "--report", str(report)) == 0
    out, err = capsys.readouterr()
    assert [line for line in err.splitlines() if line.startswith("note:")] == [f"note: {n}" for n in CREATED]
    assert "note:" not in out  # printed once, on stderr, as before
    assert "## Notes (2)\n\n- created domain acme\n- created repository npm-store\n" in report.read_text()
    assert ferry("status", "--state", state) == 0
    assert capsys.readouterr().out.rstrip().endswith("2 note(s) of the run:\n  note: created domain acme\n"
                                                     "  note: created repository npm-store")


@pytest.mark.parametrize("stop, code, status", [(KeyboardInterrupt, 130, "interrupted"),
                                                (lambda: FatalError("the target went away"), 3, "fatal")],
                         ids=["ctrl-c", "fatal"])
def test_a_stopped_migrate_keeps_its_notes(job, tmp_path, monkeypatch, stop, code, status):
    """What a run that stopped created in the target, no rerun notes again: its report must still say it."""
    from ferry import engine as ferry_engine

    def stopped(*_args, **_kwargs):
        raise stop()

    monkeypatch.setattr(ferry_engine.Engine, "transfer", stopped)
    state, report = str(tmp_path / "acme.db"), tmp_path / "migrate.json"
    assert ferry("migrate", str(job), "--state", state, "--create-missing", "--no-progress",
                 "--report", str(report)) == code
    written = json.loads(report.read_text())
    assert (written["run"]["status"], written["notes"]) == (status, CREATED)


def test_a_replicate_runs_notes_are_kept_with_it(sandbox, tmp_path, monkeypatch):
    from replicate_helpers import one_file_replica

    job, _src = one_file_replica(sandbox, tmp_path, monkeypatch)
    state = str(tmp_path / "replica.db")
    assert ferry("replicate", str(job), "--state", state, "--create-missing", "--no-progress") == 0
    with LedgerReader(state) as reader:
        assert reader.last_run().notes == ("created domain acme in us-east-1", "created repository packages")


def test_what_the_faults_cost_is_kept_with_the_run(job, sandbox, tmp_path):
    """The retry note was added after the run was recorded: its report had every note but that one."""
    from ferry import commands
    from ferry.config import load_job
    from ferry.engine import Settings

    sandbox.set_faults("throttle=0.3,retry_after=0s", seed=7)
    try:
        outcome = commands.run("migrate", load_job(job), Settings(ledger=tmp_path / "acme.db", sleep=lambda _s: None),
                               create_missing=True)
    finally:
        sandbox.set_faults(None)
    assert outcome.exit_code == 0 and outcome.notes[-1].startswith("retried "), outcome.notes
    assert outcome.report.notes == outcome.notes
    with LedgerReader(tmp_path / "acme.db") as reader:
        assert list(reader.last_run().notes) == outcome.notes


@pytest.mark.timeout(120)
def test_a_killed_migrate_keeps_the_notes_it_had_when_it_was_killed(job, sandbox, tmp_path, monkeypatch, capsys):
    """A run killed outright (kill -9, out of memory, SIGKILL after the grace period) cannot end its run: what
    it created in the target, which no rerun notes again, must be in the ledger already, for ``ferry status``
    (the README: a run's notes are kept with the run). The kill is real: ferry runs in a child process and the
    CodeArtifact stand-in (in this process) holds the child's npm publish while the test kills it."""
    import os
    import signal
    import subprocess
    import sys
    import threading
    import time

    from ferry.sandbox.codeartifact.formats import npm as npm_endpoint

    reached, go = threading.Event(), threading.Event()
    real = npm_endpoint._publish

    def held(ctx, request, full):
        reached.set()
        go.wait(30)
        return real(ctx, request, full)

    monkeypatch.setattr(npm_endpoint, "_publish", held)
    state = tmp_path / "acme.db"
    child = subprocess.Popen([sys.executable, "-m", "ferry", "migrate", str(job), "--state", str(state),
                              "--create-missing", "--no-progress", "--workers", "1"],
                             env={**os.environ, "TMPDIR": str(tmp_path)}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        assert reached.wait(60), child.communicate()
        time.sleep(0.5)  # the ledger thread's linger (0.2 s): what the run wrote before the publish is committed
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        go.set()
        if child.poll() is None:
            child.kill()
            child.wait()
    capsys.readouterr()
    assert ferry("status", "--state", str(state)) == 0
    out = capsys.readouterr().out
    assert "(migrate, crashed)" in out
    assert out.rstrip().endswith("2 note(s) of the run:\n  note: created domain acme\n"
                                 "  note: created repository npm-store"), out
