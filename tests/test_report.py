"""Reports rendered from a real ledger: JSON, CSV, Markdown, terminal table; never a secret."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ferry.config import parse_job
from ferry.errors import UsageError
from ferry.model import ItemKey, SourceItem, TargetItem
from ferry.plan import plan
from ferry.report import (
    CSV_COLUMNS,
    build_report,
    format_bytes,
    format_duration,
    render_csv,
    render_json,
    render_markdown,
    render_table,
    write_report,
)
from ferry.state import LedgerReader, LedgerWriter


def sha(n: int) -> str:
    return f"{n:064x}"


@pytest.fixture
def ledger(tmp_path):
    """Two mappings: npm (5 sources, 1 same, 1 conflict, 1 target-only) and pypi (2 versions x 2 files)."""
    path = tmp_path / "ledger.db"
    npm = [SourceItem(ItemKey("npm", "acme", f"ui{i}", "1.0.0", "package.tgz"), size=1000 * i,
                      checksums={"sha256": sha(i)}) for i in range(1, 6)]
    npm_have = [TargetItem(npm[0].key, 1000, sha(1)), TargetItem(npm[1].key, 2000, sha(77)),
                TargetItem(ItemKey("npm", "", "legacy", "0.1.0", "package.tgz"), 10, sha(5))]
    pypi = [SourceItem(ItemKey("pypi", "", "tool", v, f"tool-{v}{ext}"), size=300, checksums={"sha256": sha(n)})
            for n, (v, ext) in enumerate([("1.0", ".tar.gz"), ("1.0", "-py3-none-any.whl"),
                                          ("2.0", ".tar.gz"), ("2.0", "-py3-none-any.whl")], start=10)]
    with LedgerWriter(path) as writer:
        run_id = writer.start_run("migrate", "job.toml")
        for e in plan(npm, npm_have):
            writer.planned(e, "npm-hosted", "npm-store")
        for e in plan(pypi, []):
            writer.planned(e, "pypi-hosted", "pypi-store")
        for item in pypi[:2]:
            writer.transition("pypi-store", item.key, "confirmed", target_sha256=item.sha256)
        writer.transition("pypi-store", pypi[2].key, "failed",
                          reason="HTTP 400 | bad metadata\nline two \x1b[31mred", attempt=True)
        writer.end_run("items-failed")
    return path, run_id


def test_report_numbers_come_from_the_ledger(ledger):
    path, run_id = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id)
    data = json.loads(render_json(report))
    assert data["run"]["id"] == run_id and data["run"]["status"] == "items-failed"
    assert data["totals"] == {"versions": 7, "files": 9, "bytes": 15000 + 1200, "pending_files": 4,
                              "pending_bytes": 3000 + 4000 + 5000 + 300}
    assert data["states"] == {"confirmed": 2, "conflict": 1, "failed": 1, "only_in_target": 1, "planned": 4,
                              "same": 1}
    assert data["actions"] == {"conflict": 1, "copy": 7, "only-in-target": 1, "same": 1}
    # The failed pypi file is not in the target: a rerun retries it, so the estimate counts it (not the conflict).
    assert data["estimate"] == {"publishes_per_second": 10.0, "pending_files": 4, "retried_files": 1, "files": 5,
                                "seconds": 0.5}
    assert [(g["target_repo"], g["format"], g["versions"], g["files"]) for g in data["repositories"]] == [
        ("npm-store", "npm", 5, 5), ("pypi-store", "pypi", 2, 4)]
    assert {f["key"] for f in data["failures"]} == {"npm:@acme/ui2@1.0.0/package.tgz",
                                                     "pypi:tool@2.0/tool-2.0.tar.gz"}
    assert data["failures_total"] == 2


def test_csv_has_one_row_per_repository_and_format(ledger):
    path, run_id = ledger
    with LedgerReader(path) as reader:
        rows = list(csv.DictReader(io.StringIO(render_csv(build_report(reader, run_id)))))
    assert list(rows[0]) == CSV_COLUMNS
    npm, pypi = rows
    assert (npm["target_repo"], npm["versions"], npm["files"], npm["bytes"]) == ("npm-store", "5", "5", "15000")
    assert (npm["state_same"], npm["state_conflict"], npm["state_only_in_target"], npm["action_copy"]) == (
        "1", "1", "1", "3")
    assert (pypi["pending_files"], pypi["state_confirmed"], pypi["state_failed"]) == ("1", "2", "1")


def test_markdown_escapes_cells_and_lists_failures(ledger):
    path, run_id = ledger
    with LedgerReader(path) as reader:
        text = render_markdown(build_report(reader, run_id))
    assert "| npm-hosted → npm-store | npm | 5 | 5 | 14.6 KiB | 3 | 1 | 0 | 1 | 0 | 0 |" in text
    assert "HTTP 400 \\| bad metadata line two" in text
    assert "## Failures (2)" in text
    assert "**Estimate:** 5 files to publish (1 failed, which a rerun retries), about 0s at 10 publishes/s" in text


def test_terminal_table_is_aligned_and_totals_add_up(ledger):
    path, run_id = ledger
    with LedgerReader(path) as reader:
        text = render_table(build_report(reader, run_id))
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("repository"))
    assert header.split() == ["repository", "format", "versions", "files", "bytes", "to", "copy", "same", "done",
                              "conflict", "failed", "skipped"]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split() == ["total", "7", "9", "15.8", "KiB", "4", "1", "2", "1", "1", "0"]
    rows = [line for line in lines if "->" in line and not line.startswith("  ")]
    assert len(rows) == 2 and len({len(r) for r in rows + [total]}) == 1  # right-aligned numbers line up
    listed = [line for line in lines if line.startswith(("  * ", "  ! "))]
    assert len(listed) == 2 and "2 item(s) failed, conflicted or could not be mapped:" in text
    # The reason's line break and escape sequence do not reach the terminal: the item stays one line.
    assert any(line.endswith("[failed] HTTP 400 | bad metadata line two [31mred") for line in listed), listed
    assert "actions: conflict 1, copy 7, only-in-target 1, same 1" in text
    assert ("estimate: 5 files (12.3 KiB) to publish (1 failed, which a rerun retries), about 0s at 10 publishes/s"
            in text)


def test_write_report_by_extension(ledger, tmp_path):
    path, run_id = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id)
    assert write_report(report, tmp_path / "r.json") == "json"
    assert json.loads((tmp_path / "r.json").read_text())["totals"]["files"] == 9
    assert write_report(report, tmp_path / "r.CSV") == "csv"
    assert write_report(report, tmp_path / "r.md") == "markdown"
    assert (tmp_path / "r.md").read_text().startswith("# ferry report")
    assert write_report(report, tmp_path / "r.html") == "html"  # what migrate --report r.html writes
    assert "<html" in (tmp_path / "r.html").read_text().lower()
    with pytest.raises(UsageError, match=r"r\.txt: unknown report format \.txt; name the file \.json, \.csv, \.md "
                                         r"or \.html"):
        write_report(report, tmp_path / "r.txt")
    (tmp_path / "a-file").write_text("x")
    with pytest.raises(UsageError, match="cannot write the report"):
        write_report(report, tmp_path / "a-file" / "r.json")


@pytest.mark.parametrize("flag, name", [("--output", "r.json"), ("--output", "r.md"), ("--html", "r.html")])
def test_a_report_in_a_folder_not_made_yet(ledger, tmp_path, flag, name):
    """The flags' check lets a missing folder through (as for --state and --spool): the report is written
    there, not refused after the run it reports on is over."""
    from e2e_helpers import ferry

    path, _run_id = ledger
    out = tmp_path / "reports" / "nightly" / name
    assert ferry("report", "--state", str(path), flag, str(out)) == 0
    assert out.read_text().strip()


def test_whole_ledger_report_without_a_run(ledger):
    path, _ = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader)
    assert report.run is None
    assert "Whole ledger" in render_table(report)
    assert report.totals["files"] == 9


def test_no_secret_reaches_a_report(ledger, tmp_path, monkeypatch):
    secret = "s3cr3t-Pa55word-do-not-print"
    monkeypatch.setenv("NEXUS_PASSWORD", secret)
    job = parse_job('[source]\nkind="nexus"\nurl="https://n.example"\nusername="u"\npassword_env="NEXUS_PASSWORD"\n'
                    '[target]\ndomain="acme"\n[[repositories]]\nsource="npm-hosted"\ntarget="npm-store"\n',
                    tmp_path / "job.toml")
    assert job.source.password.reveal() == secret  # the run had the secret at hand
    path, run_id = ledger
    with LedgerWriter(path) as writer:
        writer.start_run("migrate", job.path)
        writer.transition("npm-store", ItemKey("npm", "acme", "ui3", "1.0.0", "package.tgz"), "failed",
                          reason=f"publish refused for {job.source.password}")  # a Secret formats as its name
        writer.end_run("items-failed")
    with LedgerReader(path) as reader:
        report = build_report(reader)
        outputs = [render_json(report), render_csv(report), render_markdown(report), render_table(report)]
    assert all(secret not in text for text in outputs)
    assert any("$NEXUS_PASSWORD" in text for text in outputs)


@pytest.mark.parametrize("n, text", [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB"),
                                     (3 * 1024**5, "3072.0 TiB")])
def test_format_bytes(n, text):
    assert format_bytes(n) == text


@pytest.mark.parametrize("seconds, text", [(0.4, "0s"), (59, "59s"), (61, "1m 1s"), (5000, "1h 23m"),
                                           (200000, "2d 7h")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_an_earlier_run_says_what_it_ended_with_once_later_runs_took_its_items(ledger):
    """The ledger keeps each item's latest state: a run whose items a later run re-planned has none left
    under its id, and its report must not read as if it had done nothing."""
    path, first = ledger
    with LedgerWriter(path) as writer:
        writer.start_run("verify", "job.toml")
        writer.planned(next(iter(plan([SourceItem(ItemKey("npm", "acme", "ui1", "1.0.0", "package.tgz"), size=1000,
                                                  checksums={"sha256": sha(1)})],
                                      [TargetItem(ItemKey("npm", "acme", "ui1", "1.0.0", "package.tgz"), 1000,
                                                  sha(1))]))), "npm-hosted", "npm-store")
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        report = build_report(reader, first)
    ended_with = ("run 1 ended with confirmed 2, conflict 1, failed 1, only_in_target 1, planned 4, same 1; "
                  "1 of its items was planned again or removed by later runs, which report them")
    assert "same" not in report.counts  # the item is under the later run now
    assert ended_with in render_table(report)
    assert ended_with in render_markdown(report)
    with LedgerReader(path) as reader:
        assert ended_with not in render_table(build_report(reader, first + 1))


@pytest.fixture
def verify_ledger(tmp_path):
    """A verify run: one file the target lacks, one that differs, one unmappable and one that failed."""
    path = tmp_path / "verify.db"
    keys = [ItemKey("npm", "", f"ui{i}", "1.0.0", "package.tgz") for i in range(4)]
    want = [SourceItem(keys[0], size=10, checksums={"sha256": sha(1)}),
            SourceItem(keys[1], size=10, checksums={"sha256": sha(2)}),
            SourceItem(keys[2], size=10, checksums={"sha256": sha(3)}, unmappable="name 'ui2' cannot be read"),
            SourceItem(keys[3], size=10, checksums={"sha256": sha(4)})]
    with LedgerWriter(path) as writer:
        run_id = writer.start_run("verify", "job.toml")
        for e in plan(want, [TargetItem(keys[1], 10, sha(77)), TargetItem(keys[3], 10, sha(4))]):
            writer.planned(e, "npm-hosted", "npm-store")
        writer.transition("npm-store", keys[3], "failed", reason="gave up after retries: HTTP 503")
        writer.end_run("items-failed")
    return path, run_id


def test_verify_on_the_terminal_lists_what_it_could_not_check_with_the_reason(verify_ledger):
    """verify exits 1 for an unmappable or failed item too: the terminal names it and why, besides the
    missing and differing files (the conflict is listed once, as differing)."""
    path, run_id = verify_ledger
    with LedgerReader(path) as reader:
        text = render_table(build_report(reader, run_id))
    assert "missing in the target (1):\n  npm:ui0@1.0.0/package.tgz -> npm-store" in text
    assert "differing in the target (1):" in text
    assert "  ? npm:ui2@1.0.0/package.tgz -> npm-store  [unmappable] name 'ui2' cannot be read" in text
    assert "  ! npm:ui3@1.0.0/package.tgz -> npm-store  [failed] gave up after retries: HTTP 503" in text
    assert "2 item(s) could not be checked:" in text
    assert text.count("npm:ui1@1.0.0/package.tgz") == 1


def test_a_verify_report_file_lists_the_missing_differing_and_extra_files(verify_ledger, tmp_path):
    """``verify --report v.md`` (or ``.html``) names what verify found, as the terminal does: the file the
    target lacks is in no failure list, and without it the report of a failed verify would not say why."""
    from ferry.report_html import render_html

    path, run_id = verify_ledger
    with LedgerWriter(path) as writer:  # and a file only the target has
        writer.start_run("verify", "job.toml")
        for e in plan([], [TargetItem(ItemKey("npm", "", "own", "0.1.0", "package.tgz"), 10, sha(9))]):
            writer.planned(e, "npm-hosted", "npm-store")
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        first, second = build_report(reader, run_id), build_report(reader, run_id + 1)
    text = render_markdown(first)
    assert "## Missing in the target (1)" in text and "| npm:ui0@1.0.0/package.tgz | npm-store |" in text
    assert "## Differing in the target (1)" in text
    assert "| npm:ui1@1.0.0/package.tgz | npm-store | sha256 differs" in text
    assert "## Extra in the target (1)" in render_markdown(second)
    assert "npm:own@0.1.0/package.tgz" in render_markdown(second)
    page = render_html(first)
    assert "<h2>Missing in the target (1)</h2>" in page and "npm:ui0@1.0.0/package.tgz" in page
    assert "<h2>Differing in the target (1)</h2>" in page
    # The conflict is listed once, as differing; the failures are what could not be checked (as on the terminal).
    assert text.count("npm:ui1@1.0.0/package.tgz") == 1 and page.count("npm:ui1@1.0.0/package.tgz") == 1
    assert "## Failures (2)" in text and "<h2>Failed items (2)</h2>" in page


@pytest.mark.parametrize("command", ["audit", "migrate", "verify", "replicate"])
def test_each_commands_report_help_names_every_format_it_writes(command):
    """replicate writes .html reports too (write_report), and its --help must not say otherwise."""
    import typer.main

    from ferry.cli import app

    option = next(p for p in typer.main.get_command(app).commands[command].params if p.name == "report")
    assert all(ext in option.help for ext in (".json", ".csv", ".md", ".html")), option.help


def test_verify_counts_what_it_could_not_check_when_the_capped_list_holds_only_conflicts(verify_ledger):
    path, run_id = verify_ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id, failure_limit=1)
    assert [row.state for row in report.failures] == ["conflict"]  # the cap kept the conflict only
    text = render_table(report)
    assert "2 item(s) could not be checked:\n  ... and 2 more (ferry report lists them all)" in text


def test_status_and_report_read_the_ledger_without_writing_to_it(ledger, tmp_path):
    """README: "ferry status | report read the ledger". A copy in rollback-journal mode (a backup, a CI
    artifact) was switched to WAL by the first status, and a ledger on a read-only mount could not be read
    at all ("not a ferry ledger (attempt to write a readonly database)")."""
    import sqlite3
    from contextlib import closing

    from e2e_helpers import ferry

    path, _run_id = ledger
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode = DELETE").fetchone() == ("delete",)
    before = path.read_bytes()
    assert ferry("status", "--state", str(path)) == 0
    assert ferry("report", "--state", str(path), "-o", str(tmp_path / "r.md"), "--html", str(tmp_path / "r.html")) == 0
    assert path.read_bytes() == before
    assert not path.with_name(path.name + "-wal").exists()


def _beside(path):
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(path.name))


def test_status_and_report_leave_nothing_beside_the_ledger(ledger, tmp_path):
    """A read-only SQLite connection cannot remove the -wal and -shm files it makes beside a WAL ledger, so every
    status, report, report --merge and the ledger check before a run left an empty pair there, night after
    night. A run writing the ledger meanwhile keeps its own, and its later commits are read."""
    import sqlite3
    from contextlib import closing

    from e2e_helpers import ferry
    from ferry.commands import check_ledger
    from ferry.state.ledger import writer_lock

    path, run_id = ledger
    with closing(sqlite3.connect(path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert _beside(path) == ["ledger.db"]
    assert ferry("status", "--state", str(path)) == 0
    assert ferry("report", "--state", str(path), "-o", str(tmp_path / "r.json")) == 0
    assert ferry("report", "--merge", str(path), "-o", str(tmp_path / "m.json")) == 0
    assert check_ledger(path)
    assert _beside(path) == ["ledger.db"]

    with writer_lock(path), LedgerWriter(path) as writer:  # a run under way, its -wal not checkpointed yet
        writer.start_run("migrate", "job.toml")
        writer.flush()
        assert ferry("status", "--state", str(path)) == 0
        assert ferry("report", "--state", str(path), "-o", str(tmp_path / "r.json")) == 0
        assert json.loads((tmp_path / "r.json").read_text())["run"]["status"] == "running"
        writer.transition("pypi-store", ItemKey("pypi", "", "tool", "2.0", "tool-2.0.tar.gz"), "confirmed")
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        assert reader.run(run_id + 1).status == "ok" and reader.counts(run_id + 1) == {"confirmed": 1}
    assert _beside(path) == ["ledger.db", "ledger.db.lock"]  # the run's lock file stays, by design


def test_status_of_a_ledger_this_user_cannot_write_leaves_nothing_beside_it(ledger, tmp_path):
    """An operator's status of the ledger a service account writes (readable to the operator, in a folder both
    can write) opened it mode=ro, which made a -wal and -shm the operator owns and cannot remove: the owner's
    next run could not write them ("not a ferry ledger (attempt to write a readonly database)", exit 2) until
    someone deleted them. A ledger no connection has open is read as it is. The file is made read-only here;
    root, whom mode bits do not stop, runs status without the capability that lets it pass them."""
    import os
    import shutil
    import subprocess
    import sys

    path, _run_id = ledger
    assert _beside(path) == ["ledger.db"]
    prefix = []
    if os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("root passes mode bits and setpriv is not there to drop that")
        prefix = ["setpriv", "--inh-caps=-dac_override,-dac_read_search", "--bounding-set=-dac_override,-dac_read_search"]
    path.chmod(0o444)
    before = path.read_bytes()
    cli = "import sys; sys.argv = ['ferry', *sys.argv[1:]]; from ferry.cli import main; main()"
    for argv in (["status", "--state", str(path)], ["report", "--state", str(path), "-o", str(tmp_path / "r.json")],
                 ["report", "--merge", str(path), "-o", str(tmp_path / "m.json")]):
        run = subprocess.run([*prefix, sys.executable, "-c", cli, *argv], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stderr
        assert _beside(path) == ["ledger.db"], argv
    assert json.loads((tmp_path / "r.json").read_text())["states"]["confirmed"] == 2
    assert path.read_bytes() == before


def test_status_reads_a_ledger_where_no_file_can_be_made_beside_it(ledger, tmp_path, capsys):
    """A read-only mount (a snapshot, an S3 bucket mounted read-only) takes no -shm file, and a read-only
    connection to a WAL ledger needs one: status said "not a ferry ledger (unable to open database file)".
    Folders named -wal and -shm in the way stand for such a mount here (the tests run as root, whom no mode
    bits stop)."""
    from e2e_helpers import ferry

    path, _run_id = ledger
    before = path.read_bytes()
    for suffix in ("-wal", "-shm"):
        path.with_name(path.name + suffix).mkdir()
    capsys.readouterr()
    assert ferry("status", "--state", str(path)) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("Run 1 (migrate, items-failed)") and captured.err == ""
    assert ferry("report", "--state", str(path), "-o", str(tmp_path / "r.json")) == 0
    assert json.loads((tmp_path / "r.json").read_text())["states"]["confirmed"] == 2
    assert ferry("report", "--merge", str(path), "-o", str(tmp_path / "m.json")) == 0
    assert path.read_bytes() == before


def test_a_killed_run_reads_as_crashed_in_a_copied_ledger_and_while_a_later_run_goes(tmp_path, capsys):
    """The nightly runbook keeps the ledger in S3: a build killed mid-run uploads it with its run 'running',
    and the next night downloads it without the lock file beside it. status must not say that run is still
    going, neither then nor while the next run holds the lock."""
    import shutil

    from e2e_helpers import ferry
    from ferry.state.ledger import writer_lock

    killed = tmp_path / "build-1" / "replica.db"
    killed.parent.mkdir()
    with writer_lock(killed), LedgerWriter(killed) as writer:
        writer.start_run("replicate", "replica.toml")  # and the build is killed
    copy = tmp_path / "build-2" / "replica.db"
    copy.parent.mkdir()
    shutil.copy(killed, copy)  # what `aws s3 cp` brings back: the ledger alone
    capsys.readouterr()
    assert ferry("status", "--state", str(copy)) == 0
    assert capsys.readouterr().out.startswith("Run 1 (replicate, crashed)")
    with writer_lock(copy), LedgerWriter(copy) as writer:  # the next night's run, under way
        writer.start_run("replicate", "replica.toml")
        writer.flush()
        assert ferry("status", "--state", str(copy), "--run", "1") == 0
        assert capsys.readouterr().out.startswith("Run 1 (replicate, crashed)")
        assert ferry("status", "--state", str(copy), "--run", "2") == 0
        assert capsys.readouterr().out.startswith("Run 2 (replicate, running)")
        writer.end_run("ok")


def test_status_reads_a_ledger_of_an_older_ferry_without_upgrading_it(tmp_path, capsys):
    """A ledger an older ferry writes (the scheduled runner, not yet upgraded) is read from an upgraded
    copy: upgrading the file itself would make that ferry refuse it as written by a newer one."""
    import sqlite3
    from contextlib import closing

    from e2e_helpers import ferry, older_ledger

    path = tmp_path / "old.db"
    before = older_ledger(path, 1)
    assert ferry("status", "--state", str(path)) == 0
    assert capsys.readouterr().out.startswith("Run 1 (migrate, ok)")
    assert ferry("report", "--state", str(path), "--html", str(tmp_path / "r.html")) == 0
    assert path.read_bytes() == before
    with closing(sqlite3.connect(path)) as check:
        assert check.execute("SELECT value FROM ferry_meta WHERE key = 'schema_version'").fetchone() == ("1",)


def _older_ledger(path, items: int = 0):
    """A ledger of schema 1 (an older ferry's) holding one run and ``items`` rows."""
    import sqlite3

    from sqlite_utils import Database

    from ferry.state.migrations import migrate

    db = Database(sqlite3.connect(path))
    migrate(db, str(path), upto=1)
    db.execute("INSERT INTO runs (command, job, started, ended, status, counts) VALUES "
               "('migrate', 'job.toml', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', '{}')")
    db.conn.executemany(
        "INSERT INTO items (target_repo, format, package, version, asset, state, reason, updated, run_id) "
        "VALUES ('dst', 'generic', ?, '1', 'a.bin', 'failed', ?, '2026-01-01', 1)",
        [(f"p{i}", "x" * 1000) for i in range(items)])
    db.conn.commit()
    db.close()
    return path


def test_status_of_an_older_ledger_that_the_temporary_folder_cannot_hold_says_so_and_leaves_nothing(tmp_path):
    """An older ledger is read from an upgraded copy in the temporary folder. One too small for it (a tmpfs /tmp)
    ended status with "unexpected OperationalError: database or disk is full ... report it", exit 3, and left
    the partial copy there. RLIMIT_FSIZE makes the copy fail with EFBIG, as a full disk fails with ENOSPC."""
    import os
    import subprocess
    import sys

    path = _older_ledger(tmp_path / "old.db", items=300)
    assert path.stat().st_size > 256 * 1024
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit fails instead of killing us
        "resource.setrlimit(resource.RLIMIT_FSIZE, (128 * 1024, 128 * 1024))\n"
        "sys.argv = ['ferry', *sys.argv[1:]]\n"
        "from ferry.cli import main\n"
        "main()\n"
    )
    before = path.read_bytes()
    run = subprocess.run([sys.executable, "-c", limited, "status", "--state", str(path)],
                         env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    (line,) = run.stderr.splitlines()
    prefix = (f"ferry: error: {path}: written by an older ferry, so it is read from an upgraded copy, which {scratch} "
              "cannot hold (")
    assert line.startswith(prefix), line
    assert line.endswith("); free space there or set TMPDIR to a folder with room for the ledger"), line
    assert list(scratch.iterdir()) == []
    assert path.read_bytes() == before


def test_an_older_ledger_that_cannot_be_upgraded_is_named_as_given_and_leaves_no_copy(tmp_path, monkeypatch, capsys):
    """The message named the upgraded copy (/tmp/ferry-read-.../ledger.db), a file the operator never gave, and
    each status left that copy in the temporary folder."""
    import sqlite3
    import tempfile
    from contextlib import closing

    from e2e_helpers import ferry

    path = _older_ledger(tmp_path / "old.db")
    with closing(sqlite3.connect(path)) as db:
        db.execute("DROP TABLE items")  # damaged: the upgrade adds columns to it
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    capsys.readouterr()
    assert ferry("status", "--state", str(path)) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ferry: error: {path}: not a ferry ledger (") and "ferry-read-" not in err
    assert list(scratch.iterdir()) == []


def test_a_merge_the_temporary_folder_cannot_hold_says_so_and_does_not_blame_the_ledger(ledger, tmp_path):
    """report --merge copies the ledgers into one in the temporary folder. One too small for it said of the
    ledger given, a good one, "not a readable ferry ledger (database or disk is full); leave it out of --merge".
    RLIMIT_FSIZE makes the copy fail with EFBIG, as a full disk fails with ENOSPC."""
    import os
    import subprocess
    import sys

    path, _run_id = ledger
    with LedgerWriter(path) as writer:  # enough rows that their copy is over the limit below
        writer.start_run("migrate", "job.toml")
        want = [SourceItem(ItemKey("generic", "ns", f"p{i}", "1", "a" * 200), size=1, checksums={"sha256": sha(i)})
                for i in range(1500)]
        for e in plan(want, []):
            writer.planned(e, "raw-hosted", "generic-store")
        writer.end_run("ok")
    assert path.stat().st_size > 512 * 1024
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit fails instead of killing us
        "resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, 256 * 1024))\n"
        "sys.argv = ['ferry', *sys.argv[1:]]\n"
        "from ferry.cli import main\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", limited, "report", "--merge", str(path)],
                         env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith(f"ferry: error: --merge: the merged copy of the ledgers does not fit in {scratch} ("), line
    assert line.endswith("); free space there or set TMPDIR to a folder with room for them"), line
    assert list(scratch.iterdir()) == []


def test_a_report_that_cannot_be_written_whole_leaves_the_earlier_one_and_is_no_usage_error(ledger, tmp_path):
    """The nightly run rewrites --report replica-report.json. On a disk that could not take the new one, the
    earlier report was cut to what fitted (half a file for the monitoring that reads it) and the run, done and
    recorded, ended with exit 2, the code for bad input that touched nothing. RLIMIT_FSIZE makes the write fail
    with EFBIG, as a full disk fails with ENOSPC."""
    import subprocess
    import sys

    path, _run_id = ledger
    with LedgerWriter(path) as writer:  # a run whose report (it lists each failure) is over the limit below
        writer.start_run("migrate", "job.toml")
        for i in range(500):
            writer.transition("generic-store", ItemKey("generic", "ns", f"p{i}", "1", "a.bin"), "failed",
                              reason="HTTP 500 from the source " + "x" * 200, source_repo="raw-hosted")
        writer.end_run("items-failed")
    out = tmp_path / "reports" / "nightly.json"
    out.parent.mkdir()
    out.write_text("yesterday's report\n")
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit fails instead of killing us
        "resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, 64 * 1024))\n"  # the ledger's -shm (32 KiB) fits
        "sys.argv = ['ferry', *sys.argv[1:]]\n"
        "from ferry.cli import main\n"
        "main()\n"
    )
    run = subprocess.run([sys.executable, "-c", limited, "report", "--state", str(path), "-o", str(out)],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    assert run.stderr.splitlines() == [f"ferry: error: {out}: cannot write the report (File too large); the earlier "
                                       "file is left as it was: free space there and write it again with ferry report"]
    assert out.read_text() == "yesterday's report\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["nightly.json"]


def test_a_report_written_again_keeps_its_permissions_and_a_new_one_takes_the_umask(ledger, tmp_path):
    import os
    import stat

    path, run_id = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id)
    kept = tmp_path / "kept.json"
    kept.write_text("{}")
    kept.chmod(0o640)
    write_report(report, kept)
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and json.loads(kept.read_text())["run"]["id"] == run_id
    umask = os.umask(0o027)
    try:
        write_report(report, tmp_path / "new.json")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "new.json").stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".json") == ["kept.json", "new.json"]


def test_a_report_into_a_pipe_or_a_device_is_written_into_it_and_leaves_it_in_place(ledger, tmp_path):
    """A report path that is a FIFO a log collector reads, or a link to /dev/null, was replaced by a regular file
    (the scratch copy renamed over it): the collector got nothing and lost its pipe, and a root run given a link
    to /dev/null put a regular file in the machine's /dev/null. Such a file is written into, as before."""
    import os
    import stat

    path, run_id = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id)
    fifo = tmp_path / "collector.json"
    os.mkfifo(fifo)
    link = tmp_path / "feed.json"
    link.symlink_to(fifo)
    for given in (fifo, link):
        reader_fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # the collector, listening; a report fits the buffer
        try:
            write_report(report, given)
            assert stat.S_ISFIFO(os.stat(fifo).st_mode) and link.is_symlink()
            received = b""
            while chunk := os.read(reader_fd, 65536):
                received += chunk
        finally:
            os.close(reader_fd)
        assert json.loads(received)["run"]["id"] == run_id
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "ledger.db") == ["collector.json", "feed.json"]


def test_a_report_linked_to_a_pipe_in_a_folder_that_takes_no_files_passes_the_check(tmp_path, monkeypatch):
    """A report linked to a file is written beside where it points, so that folder must take files; one linked
    to a pipe or a device (/dev/null, which no user but root may add files beside) is written into, and the
    folder does not matter. Denied writes to the folder stand for a folder of another user's here (the tests
    run as root, whom no mode bits stop)."""
    import os

    from ferry import preflight

    closed = tmp_path / "closed"
    closed.mkdir()
    os.mkfifo(closed / "collector.json")
    (closed / "report.json").write_text("{}")
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: real_access(p, mode) and not (
        Path(p) == closed and mode & os.W_OK))
    to_pipe, to_file = tmp_path / "pipe.json", tmp_path / "file.json"
    to_pipe.symlink_to(closed / "collector.json")
    to_file.symlink_to(closed / "report.json")
    preflight.report_file(to_pipe, "--report")
    with pytest.raises(UsageError, match=f"--report {to_file}: cannot write in {closed} \\(permission denied\\)"):
        preflight.report_file(to_file, "--report")


def test_a_report_read_while_a_run_writes_the_ledger_is_of_one_moment(ledger, monkeypatch):
    """status and report read a run's rows in several queries (the table, the counts, the failures listed), and a
    run writing the ledger meanwhile committed between them: the table said one file failed while the lines below
    it counted and listed two (25 of 28 statuses read during a run of failing items disagreed so). A read-only
    reader now reads the ledger as it was at its first query."""
    import sqlite3
    from contextlib import closing

    path, run_id = ledger
    summary = LedgerReader.summary

    def the_run_moves_on_after_the_table(self, run_id=None):
        groups = summary(self, run_id)
        with closing(sqlite3.connect(path)) as db, db:  # the run's next commit
            db.execute("UPDATE items SET state = 'failed', reason = 'HTTP 500' WHERE package = 'ui3'")
        return groups

    monkeypatch.setattr(LedgerReader, "summary", the_run_moves_on_after_the_table)
    with LedgerReader(path, read_only=True) as reader:
        report = build_report(reader, run_id)
    failed_in_table = sum(g.states.get("failed", 0) for g in report.groups)
    assert failed_in_table == report.counts["failed"] == len([r for r in report.failures if r.state == "failed"]) == 1
    with LedgerReader(path, read_only=True) as reader:  # the next status sees the commit
        assert reader.counts(run_id)["failed"] == 2


def test_counts_of_one_are_singular(tmp_path, capsys):
    """The estimate said "1 files", the HTML page "1 files in 1 versions" and "1 items finished", report --merge
    "1 items"."""
    from e2e_helpers import ferry
    from ferry.report_html import render_html

    path = tmp_path / "ledger.db"
    item = SourceItem(ItemKey("npm", "", "left-pad", "1.0.0", "package.tgz"), size=2048, checksums={"sha256": sha(1)})
    with LedgerWriter(path) as writer:
        audit = writer.start_run("audit", "job.toml")
        for e in plan([item], []):
            writer.planned(e, "npm-hosted", "npm-store")
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        planned = build_report(reader, audit)
    with LedgerWriter(path) as writer:
        migrate = writer.start_run("migrate", "job.toml")
        writer.transition("npm-store", item.key, "confirmed", target_sha256=item.sha256)
        writer.end_run("ok")
    with LedgerReader(path) as reader:
        page = render_html(build_report(reader, migrate), reader)
    assert "estimate: 1 file (2.0 KiB) to publish, about 0s at 10 publishes/s" in render_table(planned)
    assert "**Estimate:** 1 file to publish, about 0s at 10 publishes/s" in render_markdown(planned)
    assert "<p>1 file in 1 version (2.0 KiB); " in page and "<p>1 item finished over 1 minute(s).</p>" in page
    capsys.readouterr()
    assert ferry("report", "--merge", str(path), "-o", str(tmp_path / "m.json")) == 0
    assert capsys.readouterr().err.startswith(f"{path}: 1 item, last run {migrate} migrate ok")
