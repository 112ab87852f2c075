"""A ledger is one target domain's journal: a job into another domain is refused before anything is done.

The ledger keys its rows by target repository name, not domain. With ferry's default ledger (./ferry.db), a
staging job and a production job run from one folder, whose repositories have the same names, shared one
ledger: the second job's rows replaced the first's, ``ferry status`` showed only the second's files and the
first's report an empty table.
"""

from __future__ import annotations

import sqlite3

from e2e_helpers import codeartifact, ferry, npm_job


def _ledger_rows(path) -> list[tuple]:
    with sqlite3.connect(path) as db:
        return db.execute("SELECT target_repo, package, version, state FROM items ORDER BY package").fetchall()


def test_a_job_into_another_domain_is_refused_by_a_ledger_of_the_first(sandbox, tmp_path, monkeypatch, capsys):
    job = npm_job(sandbox, tmp_path, monkeypatch, "left-pad-acme")
    ledger = tmp_path / "ferry.db"
    assert ferry("migrate", str(job), "--state", str(ledger), "--create-missing", "--no-progress") == 0
    before = _ledger_rows(ledger)
    assert [row[3] for row in before] == ["confirmed"]

    staging = tmp_path / "staging.toml"
    staging.write_text(job.read_text().replace('domain = "acme"', 'domain = "acme-staging"'))
    capsys.readouterr()
    assert ferry("migrate", str(staging), "--state", str(ledger), "--create-missing", "--no-progress") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert ("this ledger holds the runs of a job into acme@us-east-1, and this job targets acme-staging@us-east-1; "
            "give this job its own ledger (--state)") in err[0]
    assert _ledger_rows(ledger) == before  # nothing of the first job's journal replaced
    domains = [d["name"] for d in codeartifact(sandbox.urls()["codeartifact"]).list_domains()["domains"]]
    assert "acme-staging" not in domains  # refused before --create-missing created anything

    # Its own ledger, and the same ledger for the first job again (its account named now), both run.
    assert ferry("migrate", str(staging), "--state", str(tmp_path / "staging.db"), "--create-missing",
                 "--no-progress") == 0
    owned = tmp_path / "owned.toml"
    owned.write_text(job.read_text().replace('domain = "acme"', 'domain = "acme"\ndomain_owner = "111122223333"'))
    assert ferry("audit", str(owned), "--state", str(ledger)) == 0


def test_report_merge_refuses_the_ledgers_of_jobs_into_different_domains(sandbox, tmp_path, monkeypatch, capsys):
    """Helper N's soak merged the shard ledgers of two jobs without a word: exit 0, their totals added up."""
    job = npm_job(sandbox, tmp_path, monkeypatch, "left-pad-acme")
    staging = tmp_path / "staging.toml"
    staging.write_text(job.read_text().replace('domain = "acme"', 'domain = "acme-staging"'))
    prod, stage = tmp_path / "ferry.shard-1-of-2.db", tmp_path / "staging.shard-1-of-2.db"
    assert ferry("migrate", str(job), "--state", str(prod), "--create-missing", "--no-progress") == 0
    assert ferry("migrate", str(staging), "--state", str(stage), "--create-missing", "--no-progress") == 0
    capsys.readouterr()
    assert ferry("report", "--merge", str(prod), str(stage)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert (f"{stage}: its runs went into acme-staging@us-east-1, those of {prod} into acme@us-east-1; merge "
            "the ledgers of one job's shards only") in err[0]
    assert ferry("report", "--merge", str(prod), str(prod)) == 0  # one job's ledgers still merge
