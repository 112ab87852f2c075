"""Bad input, each case through the CLI: one line saying what is wrong and what to do, the documented exit
code (2 usage, 3 fatal, 1 items failed), no traceback (``--debug`` shows it), and nothing half-written.

Job-file problems are caught before anything is contacted or created (no ledger file appears).
Source problems that concern one item (corrupt archives, hostile names, sizes over the quota,
metadata that disagrees with the file name, two source names CodeArtifact normalizes to one) fail or
are reported unmappable for that item alone, with the reason in the report; the rest migrates.
"""

from __future__ import annotations

import gzip
import io
import json
import sqlite3
import tarfile
import zipfile
from contextlib import closing
from pathlib import Path

import pytest

from e2e_helpers import AWS_ENV, codeartifact, ferry, write_job
from ferry.sandbox.nexus.ingest import raw_group
from ferry.sandbox.seed import NexusSeeder, npm_tarball, sdist, wheel
from ferry.state.migrations import SCHEMA_VERSION

GOOD = """\
[source]
kind = "nexus"
url = "http://127.0.0.1:9"
username = "admin"
password_env = "NEXUS_PASSWORD"

[target]
domain = "acme"
region = "us-east-1"
endpoint_url = "http://127.0.0.1:9"

[[repositories]]
source = "npm-internal"
target = "npm-store"
"""


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("FERRY_MAX_ASSET_BYTES", raising=False)
    import ferry.engine
    import ferry.transfer
    import ferry.version_copy
    from ferry.retry import RetryPolicy

    # Same attempts, no real waiting: unreachable hosts are retried before ferry gives up.
    monkeypatch.setattr(ferry.engine, "REQUEST", RetryPolicy(5, 0.001, 0.005, 0.005))
    monkeypatch.setattr(ferry.version_copy, "ITEM", RetryPolicy(3, 0.001, 0.005, 0.005))
    monkeypatch.setattr(ferry.transfer, "CONFIRM_DELAY", 0.01)


def one_line(capsys, code: int, *argv: str) -> str:
    """Run ferry; assert the exit code and a single, traceback-free error line on stderr. Returns it."""
    got = ferry(*argv)
    cap = capsys.readouterr()
    assert got == code, cap.err + cap.out
    assert "Traceback" not in cap.err + cap.out
    lines = cap.err.strip().splitlines()
    assert len(lines) == 1, cap.err
    assert lines[0].startswith("ferry: error: ")
    return lines[0]


# -- job files: exit 2, nothing created ------------------------------------------------------------

JOB_CASES = {
    "toml-syntax": (GOOD.replace("[target]", "[target"), ["not valid TOML", "fix the syntax"]),
    "empty-file": ("", ["source: missing", "add a [source] table"]),
    "no-target": (GOOD.split("[target]")[0], ["target: missing"]),
    "no-repositories": (GOOD.split("[[repositories]]")[0], ["repositories: missing", "add at least one"]),
    "mapping-without-target": (GOOD.replace('target = "npm-store"\n', ""), ["repositories[0].target: missing"]),
    "unknown-top-level-key": (GOOD + "\n[option]\nworkers = 2\n", ["option: unknown key", "did you mean 'options'?"]),
    "unknown-source-key": (GOOD.replace("username", "usrname"), ["source.usrname: unknown key",
                                                                  "did you mean 'username'?"]),
    "unknown-mapping-key": (GOOD.replace('target = "npm-store"', 'taget = "npm-store"'),
                            ["repositories[0].taget: unknown key", "did you mean 'target'?"]),
    "unknown-options-key": (GOOD + "\n[options]\nworker = 2\n", ["options.worker: unknown key",
                                                                 "did you mean 'workers'?"]),
    "unknown-source-kind": (GOOD.replace('kind = "nexus"', 'kind = "nexsus"'),
                            ["source.kind", "'nexsus' is not one of", "did you mean 'nexus'?"]),
    "unknown-format": (GOOD + 'format = "rawr"\n', ["repositories[0].format", "'rawr' is not one of"]),
    "nexus-format-name": (GOOD + 'format = "raw"\n', ["'raw' is not one of", "did you mean 'generic'?"]),
    "password-in-file": (GOOD.replace('password_env = "NEXUS_PASSWORD"', 'password = "hunter22"'),
                         ["source.password: secrets never go in the job file", "password_env"]),
    "token-for-nexus": (GOOD.replace('username = "admin"\npassword_env', 'token_env'),
                        ["source.token_env: a Nexus source takes username and password_env",
                         "a user token's name code and pass code go there"]),
    "secret-in-password-env": (GOOD.replace('"NEXUS_PASSWORD"', '"hunter2-secret"'),
                               ["source.password_env: must be the NAME of an environment variable"]),
    "invalid-domain-name": (GOOD.replace('domain = "acme"', 'domain = "Acme_Corp"'),
                            ["target.domain", "not a valid CodeArtifact domain name"]),
    "invalid-repository-name": (GOOD.replace('target = "npm-store"', 'target = "-store"'),
                                ["repositories[0].target", "not a valid CodeArtifact repository name"]),
    "invalid-region": (GOOD.replace('region = "us-east-1"', 'region = "useast1"'), ["target.region",
                                                                                    "not a valid AWS region"]),
    "invalid-account": (GOOD.replace('domain = "acme"', 'domain = "acme"\ndomain_owner = "1234"'),
                        ["target.domain_owner", "not a valid AWS account id"]),
    "workers-zero": (GOOD + "\n[options]\nworkers = 0\n", ["options.workers: 0 is out of range", "from 1 to 64"]),
    "workers-text": (GOOD + '\n[options]\nworkers = "four"\n', ["options.workers: expected a whole number"]),
    "layout-placeholder": (GOOD + 'layout = "{package}/{ver}/{asset}"\n', ["unknown placeholder {ver}"]),
    "since-not-a-date": (GOOD + '\n[options]\nsince = "last tuesday"\n', ["options.since: not an ISO 8601 date"]),
    "credentials-in-url": (GOOD.replace("http://127.0.0.1:9", "https://admin:hunter22@nexus.example.com", 1),
                           ["source.url: credentials in the URL", "password_env"]),
    "not-http-url": (GOOD.replace("http://127.0.0.1:9", "ftp://nexus.example.com", 1),
                     ["source.url: not an http(s) URL"]),
    "same-target-twice": (GOOD + '\n[[repositories]]\nsource = "other"\ntarget = "npm-store"\n',
                          ["repositories[1].target", "already the target of repositories[0]"]),
    "port-out-of-range": (GOOD.replace("http://127.0.0.1:9", "http://127.0.0.1:99999", 1),
                          ["source.url: the port is not a number from 0 to 65535"]),
    "port-not-a-number": (GOOD.replace("http://127.0.0.1:9\"\nusername", "http://127.0.0.1:abc\"\nusername"),
                          ["source.url: the port is not a number"]),
    "endpoint-port-out-of-range": (GOOD.replace('endpoint_url = "http://127.0.0.1:9"',
                                                'endpoint_url = "http://127.0.0.1:70000"'),
                                   ["target.endpoint_url: the port is not a number"]),
    "unclosed-ipv6": (GOOD.replace("http://127.0.0.1:9", "http://[::1", 1), ["source.url: not a valid URL"]),
    "password-with-a-slash-in-url": (GOOD.replace("http://127.0.0.1:9", "https://admin:hunter2/x@nexus.example.com", 1),
                                     ["source.url: credentials in the URL"]),
    # Where credentials go instead depends on the service the URL is of: CodeArtifact has no password_env.
    "credentials-in-endpoint-url": (GOOD.replace('endpoint_url = "http://127.0.0.1:9"',
                                                 'endpoint_url = "https://key:hunter22@codeartifact.example"'),
                                    ["target.endpoint_url: credentials in the URL",
                                     "CodeArtifact signs in with AWS credentials (profile, role_arn"]),
    "credentials-in-codeartifact-source-url": (
        GOOD.replace('kind = "nexus"\nurl = "http://127.0.0.1:9"\nusername = "admin"\npassword_env = "NEXUS_PASSWORD"',
                     'kind = "codeartifact"\nurl = "https://key:hunter22@codeartifact.example"\ndomain = "other"'),
        ["source.url: credentials in the URL", "CodeArtifact signs in with AWS credentials"]),
    "credentials-in-artifactory-url": (GOOD.replace('kind = "nexus"', 'kind = "artifactory"').replace(
        "http://127.0.0.1:9", "https://admin:hunter22@art.example/artifactory", 1),
        ["source.url: credentials in the URL", "use token_env, or username and password_env"]),
}


@pytest.mark.parametrize("text, needles", JOB_CASES.values(), ids=list(JOB_CASES))
def test_bad_job_file(tmp_path, capsys, text, needles):
    job = tmp_path / "job.toml"
    job.write_text(text)
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    for needle in needles:
        assert needle in line
    assert "hunter2" not in line  # a secret put in the wrong place is not echoed back
    assert not (tmp_path / "ferry.db").exists()


def test_missing_job_file(tmp_path, capsys):
    line = one_line(capsys, 2, "audit", str(tmp_path / "nope.toml"), "--state", str(tmp_path / "ferry.db"))
    assert "cannot read the job file (No such file or directory); check the path" in line


def test_job_file_that_is_not_utf8(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_bytes(GOOD.encode().replace(b"acme", b"acm\xe9"))
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "is not UTF-8 text; save it as UTF-8" in line


def test_an_empty_include_on_the_command_line(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"), "--include", "")
    assert "--include: an empty pattern; give a glob, e.g. --include 'acme-*'" in line


def test_password_variable_not_set(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("NEXUS_PASSWORD")
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "environment variable NEXUS_PASSWORD" in line and "is not set; export it" in line
    assert list(tmp_path.iterdir()) == [job]  # no ledger, and no lock file beside where it would be


def test_unknown_aws_profile(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text(GOOD.replace('region = "us-east-1"', 'region = "us-east-1"\nprofile = "migrashun"'))
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "AWS profile 'migrashun' not found" in line


@pytest.mark.parametrize("flag, needle", [
    (["--workers", "0"], "--workers: 0 is out of range"),
    (["--origin-policy", "yolo"], "--origin-policy: 'yolo' is not one of"),
    (["--since", "yesterday"], "--since: not an ISO 8601 date"),
    (["--report", "out.pdf"], "name the file .json, .csv, .md or .html"),
], ids=["workers", "origin-policy", "since", "report-extension"])
def test_bad_command_line_values(tmp_path, capsys, flag, needle):
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress", *flag)
    assert needle in line
    assert not (tmp_path / "ferry.db").exists()


@pytest.mark.parametrize("argv, needle", [
    (["migrate", "JOB", "--bogus"], "No such option: --bogus"),
    (["migrate"], "Missing argument"),
    (["migrate", "JOB", "--workers", "abc"], "--workers"),
    (["status", "--run", "abc"], "--run"),
    (["nosuchcmd"], "No such command"),
], ids=["unknown-option", "missing-job", "workers-not-a-number", "run-not-a-number", "unknown-command"])
def test_command_line_parse_errors_are_usage_errors(tmp_path, capsys, argv, needle):
    """What the argument parser itself refuses exits 2 with its own message, never "unexpected ... report it"."""
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    assert ferry(*[str(job) if a == "JOB" else a for a in argv]) == 2
    err = capsys.readouterr().err
    assert needle in err and "unexpected" not in err and "Traceback" not in err
    assert not (tmp_path / "ferry.db").exists()


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _file(path: Path) -> Path:
    path.write_text("x")
    return path


def _link(path: Path, to: Path) -> Path:
    path.symlink_to(to)
    return path


@pytest.mark.parametrize("make, flag, needle", [
    (lambda t: _folder(t / "ledger-dir"), "--state", "is a folder; name a file"),
    (lambda t: _file(t / "a-file") / "ferry.db", "--state", "is a file, not a folder"),
    (lambda t: _file(t / "spool-file"), "--spool", "is a file, not a folder"),
    (lambda t: _folder(t / "report-dir.json"), "--report", "is a folder; name a file"),
    (lambda t: t / "report.pdf", "--report", "name the file .json, .csv, .md or .html"),
    (lambda t: Path("/proc/ferry-bad-input/ferry.db"), "--state", "cannot write in /proc ("),
    (lambda t: Path("/proc/ferry-bad-input"), "--spool", "cannot write in /proc ("),
    # A report is written where its link points (through a scratch file beside that file): the folder there must
    # take files, not only the link's. The link's folder passed, and the run ended, everything copied, in exit 2.
    (lambda t: _link(t / "report.json", Path("/proc/ferry-bad-input/report.json")), "--report",
     "cannot write in /proc ("),
    (lambda t: _link(t / "loop.json", t / "loop.json"), "--report", "is a symlink loop; name a file"),
], ids=["state-is-a-folder", "state-under-a-file", "spool-is-a-file", "report-is-a-folder", "report-extension",
        "state-in-proc", "spool-in-proc", "report-links-into-proc", "report-is-a-symlink-loop"])
def test_paths_the_run_could_not_write_are_refused_before_anything_is_created(world, tmp_path, capsys, make, flag,
                                                                              needle):
    """Found before the target is contacted: --create-missing has created no domain when the error comes."""
    domain = f"never-{flag.strip('-')}-{len(list(tmp_path.iterdir()))}"
    job = _job(world, tmp_path, NPM, domain=domain)
    path = make(tmp_path)
    state = ["--state", str(tmp_path / "ferry.db")] if flag != "--state" else []
    line = one_line(capsys, 2, "migrate", str(job), *state, flag, str(path), "--no-progress", "--create-missing")
    assert line.startswith(f"ferry: error: {flag} ") and needle in line
    assert domain not in [d["name"] for d in world["ca"].list_domains()["domains"]]
    assert not (tmp_path / "ferry.db").exists()


@pytest.mark.parametrize("env, flag, needle", [
    ({}, "", "--shard '': write it as INDEX/COUNT"),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "4", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}, None,
     "AWS_BATCH_JOB_ARRAY_INDEX=4 is not below AWS_BATCH_JOB_ARRAY_SIZE=4 (the index counts from 0)"),
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "\u00b2", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}, None, "is not a whole number"),
    ({}, "\uff11/4", "write it as INDEX/COUNT"),
    # --shard written into an array job's command: every child would run that one shard, and the rest none
    ({"AWS_BATCH_JOB_ARRAY_INDEX": "2", "AWS_BATCH_JOB_ARRAY_SIZE": "8"}, "1/8",
     "--shard 1/8 disagrees with AWS_BATCH_JOB_ARRAY_INDEX=2 and AWS_BATCH_JOB_ARRAY_SIZE=8 (shard 3/8)"),
    ({"JOB_COMPLETION_INDEX": "0", "FERRY_SHARD_COUNT": "3"}, "1/4",
     "--shard 1/4 disagrees with JOB_COMPLETION_INDEX=0 and FERRY_SHARD_COUNT=3 (shard 1/3)"),
], ids=["empty-flag", "index-not-below-size", "superscript-digit", "full-width-digit", "flag-disagrees-with-batch",
        "flag-disagrees-with-kubernetes"])
def test_shards_that_cannot_be_meant(tmp_path, capsys, monkeypatch, env, flag, needle):
    for key in ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "JOB_COMPLETION_INDEX", "FERRY_SHARD_COUNT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)  # where a shard's ledger and its lock file would go
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "audit", str(job), *([] if flag is None else ["--shard", flag]))
    assert needle in line
    assert [p.name for p in tmp_path.iterdir()] == ["job.toml"]


@pytest.mark.parametrize("env, needle", [
    ({"FERRY_SHARD_COUNT": "8"}, "FERRY_SHARD_COUNT=8 is set but JOB_COMPLETION_INDEX is not, so this run is no "
     "shard and would migrate the whole job; give the Job completionMode: Indexed"),
    ({"AWS_BATCH_JOB_ARRAY_SIZE": "4"}, "AWS_BATCH_JOB_ARRAY_SIZE=4 is set but AWS_BATCH_JOB_ARRAY_INDEX is not"),
], ids=["kubernetes-job-not-indexed", "batch-size-without-index"])
def test_a_shard_count_without_its_index_does_not_migrate_the_whole_job(tmp_path, capsys, monkeypatch, env, needle):
    """Each pod of a Kubernetes Job without completionMode: Indexed would have migrated every package."""
    for key in ("AWS_BATCH_JOB_ARRAY_INDEX", "AWS_BATCH_JOB_ARRAY_SIZE", "JOB_COMPLETION_INDEX", "FERRY_SHARD_COUNT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "migrate", str(job), "--no-progress")
    assert needle in line
    assert [p.name for p in tmp_path.iterdir()] == ["job.toml"]


def test_aws_profile_from_the_environment_is_named(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "ghost")
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "AWS profile 'ghost' not found" in line


def test_an_aws_config_file_that_is_not_ini(tmp_path, capsys, monkeypatch):
    (tmp_path / "aws-config").write_text("[profile broken\nregion = us-east-1\n")
    job = tmp_path / "job.toml"
    job.write_text(GOOD)
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert f"AWS config file {tmp_path / 'aws-config'} cannot be read" in line and "AWS_CONFIG_FILE" in line


def test_debug_shows_the_traceback(tmp_path, capsys):
    job = tmp_path / "job.toml"
    job.write_text(GOOD.replace("username", "usrname"))
    assert ferry("--debug", "migrate", str(job), "--state", str(tmp_path / "ferry.db")) == 2
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "UsageError" in err
    assert err.strip().splitlines()[-1].startswith("ferry: error: ")


# -- ledgers -----------------------------------------------------------------------------------------


def test_a_ledger_from_a_newer_ferry_is_refused_before_anything_is_created(world, tmp_path, capsys):
    ledger = tmp_path / "ferry.db"
    with closing(sqlite3.connect(ledger)) as db:
        db.execute("CREATE TABLE ferry_meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO ferry_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION + 5)])
        db.commit()
    before = ledger.read_bytes()
    job = write_job(tmp_path / "job.toml", world["urls"]["nexus"], world["urls"]["codeartifact"],
                    [{"source": "npm-internal", "target": "npm-store"}], domain="newer-ledger")
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(ledger), "--no-progress", "--create-missing")
    assert f"ledger written by a newer ferry (schema {SCHEMA_VERSION + 5}" in line and "upgrade ferry" in line
    assert ledger.read_bytes() == before
    assert "newer-ledger" not in [d["name"] for d in world["ca"].list_domains()["domains"]]


def test_a_file_that_is_not_a_ledger_is_refused(world, tmp_path, capsys):
    ledger = tmp_path / "notes.txt"
    ledger.write_text("my shopping list\n" * 100)
    job = write_job(tmp_path / "job.toml", world["urls"]["nexus"], world["urls"]["codeartifact"],
                    [{"source": "npm-internal", "target": "npm-store"}])
    line = one_line(capsys, 2, "audit", str(job), "--state", str(ledger))
    assert "not a ferry ledger" in line and "choose another ledger path" in line
    assert ledger.read_text() == "my shopping list\n" * 100


def test_status_without_a_ledger(tmp_path, capsys):
    line = one_line(capsys, 2, "status", "--state", str(tmp_path / "nothing.db"))
    assert "no ledger here; pass --state PATH" in line
    assert not (tmp_path / "nothing.db").exists()


@pytest.mark.parametrize("command", ["status", "report"])
def test_reading_commands_never_turn_a_file_into_a_ledger(tmp_path, capsys, command):
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    line = one_line(capsys, 2, command, "--state", str(empty))
    assert "no ledger here" in line
    assert empty.read_bytes() == b"" and sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]
    line = one_line(capsys, 2, command, "--state", str(tmp_path))
    assert "no ledger here" in line


def test_a_run_that_is_not_in_the_ledger_is_named(world, tmp_path, capsys):
    job = _job(world, tmp_path, NPM)
    state = str(tmp_path / "ferry.db")
    audited = ferry("audit", str(job), "--state", state)
    assert audited == 0
    for command in ("status", "report"):
        line = one_line(capsys, 2, command, "--state", state, "--run", "99")
        assert "no run 99 recorded; the last run is 1" in line


def test_a_damaged_ledger_in_a_merge(tmp_path, capsys):
    bad_version = tmp_path / "bad-version.db"
    with closing(sqlite3.connect(bad_version)) as db:
        db.execute("CREATE TABLE ferry_meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO ferry_meta VALUES ('schema_version', 'abc')")
        db.commit()
    no_items = tmp_path / "no-items.db"
    with closing(sqlite3.connect(no_items)) as db:
        db.execute("CREATE TABLE ferry_meta (key TEXT PRIMARY KEY, value TEXT)")
        db.execute("INSERT INTO ferry_meta VALUES ('schema_version', '1')")
        db.commit()
    assert "not a ferry ledger" in one_line(capsys, 2, "report", "--merge", str(bad_version))
    assert "not a readable ferry ledger" in one_line(capsys, 2, "report", "--merge", str(no_items))


def test_demo_data_that_is_a_file(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    line = one_line(capsys, 2, "demo", "--data", str(tmp_path / "file"))
    assert "--data" in line and "is a file, not a folder" in line


def test_demo_data_with_a_file_where_the_stand_ins_go(tmp_path, capsys):
    in_the_way = tmp_path / "demo" / "standins"
    in_the_way.parent.mkdir()
    in_the_way.write_text("x")
    line = one_line(capsys, 2, "demo", "--data", str(tmp_path / "demo"))
    assert line.startswith(f"ferry: error: --data {tmp_path / 'demo'}: ") and "choose another folder" in line
    assert "unexpected" not in line
    assert in_the_way.is_file()


# -- sides that do not answer or refuse: exit 3 (2 for a missing target without --create-missing) ----


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One sandbox for the module: Nexus with npm/PyPI/raw content and an ``acme`` target domain."""
    from ferry.sandbox.server import Sandbox, SandboxOptions

    tmp = tmp_path_factory.mktemp("bad-input")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        with Sandbox(SandboxOptions(data=tmp / "sandbox")) as sandbox:
            urls = sandbox.urls()
            s = NexusSeeder(urls["nexus"])
            s.create_repository("npm", "npm-internal")
            s.npm("npm-internal", "left-pad", "1.0.0")
            ca = codeartifact(urls["codeartifact"])
            ca.create_domain(domain="acme")
            ca.create_repository(domain="acme", repository="npm-store")
            yield {"sandbox": sandbox, "urls": urls, "ca": ca, "seeder": s,
                   "nexus": sandbox.apps["nexus"].store, "store": sandbox.apps["codeartifact"].store}


def _job(world, tmp_path: Path, repos: list[dict], domain: str = "acme", nexus: str | None = None,
         ca: str | None = None) -> Path:
    return write_job(tmp_path / "job.toml", nexus or world["urls"]["nexus"], ca or world["urls"]["codeartifact"],
                     repos, domain=domain)


NPM = [{"source": "npm-internal", "target": "npm-store"}]


def test_unreachable_source(world, tmp_path, capsys):
    job = _job(world, tmp_path, NPM, nexus="http://127.0.0.1:9")
    line = one_line(capsys, 3, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "source unreachable" in line and "check [source] url" in line


def test_refused_source_credentials(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("NEXUS_PASSWORD", "not-the-password")
    job = _job(world, tmp_path, NPM)
    line = one_line(capsys, 3, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "Nexus refused the credentials (HTTP 401); check username and password_env" in line
    assert "not-the-password" not in line


def test_a_source_url_that_is_not_nexus(world, tmp_path, capsys):
    job = _job(world, tmp_path, NPM, nexus=world["urls"]["codeartifact"])
    line = one_line(capsys, 3, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "does not answer like Nexus 3" in line and "check [source] url" in line


def test_unknown_source_repository(world, tmp_path, capsys):
    job = _job(world, tmp_path, [{"source": "npm-internl", "target": "npm-store"}])
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "Nexus has no repository 'npm-internl'" in line and "npm-internal" in line


def test_a_source_repository_ferry_cannot_migrate(world, tmp_path, capsys):
    world["nexus"].create_repository("images", "docker", "hosted", {})  # the stand-in has no docker API of its own
    job = _job(world, tmp_path, [{"source": "images", "target": "images-store"}])
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "has format 'docker', which ferry cannot migrate" in line


def test_missing_target_domain_without_create_missing(world, tmp_path, capsys):
    job = _job(world, tmp_path, NPM, domain="nowhere")
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "target domain 'nowhere' does not exist" in line and "pass --create-missing" in line
    assert "nowhere" not in [d["name"] for d in world["ca"].list_domains()["domains"]]


def test_audit_of_a_missing_domain_points_to_migrate(world, tmp_path, capsys):
    """Auditing a target not made yet: exit 2, or with --create-missing a plan that creates nothing."""
    job = _job(world, tmp_path, NPM, domain="nowhere")
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "create it, or run ferry migrate with --create-missing (ferry audit --create-missing plans against " \
           "an empty target first)" in line
    assert ferry("audit", str(job), "--state", str(tmp_path / "ferry.db"), "--create-missing") == 0
    cap = capsys.readouterr()
    # The runbook's migrate command has no --create-missing: the note says what creates it.
    assert "note: domain nowhere does not exist yet; migrate --create-missing creates it" in cap.err
    assert "actions: copy 1" in cap.out
    assert "nowhere" not in [d["name"] for d in world["ca"].list_domains()["domains"]]


def test_a_format_that_contradicts_the_source_repository(world, tmp_path, capsys):
    job = _job(world, tmp_path, [{"source": "npm-internal", "target": "npm-store", "format": "generic"}])
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "'npm-internal' is a npm repository, but its mapping says format = 'generic'" in line
    assert not any(p["format"] == "generic" for p in world["ca"].list_packages(
        domain="acme", repository="npm-store").get("packages", []))


@pytest.mark.parametrize("extra, needle", [
    ({"namespace": "tools"}, "sets namespace, which only generic mappings read"),
    ({"layout": "{package}-{version}/{asset}"}, "sets layout, which only generic mappings read"),
    ({"snapshots": "timestamped"}, "sets snapshots, which only maven mappings read"),
], ids=["namespace", "layout", "snapshots"])
def test_a_mapping_key_its_format_never_reads(world, tmp_path, capsys, extra, needle):
    """a mapping key its format never reads, refused rather than ignored"""
    job = _job(world, tmp_path, [{"source": "npm-internal", "target": "npm-store", **extra}])
    line = one_line(capsys, 2, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert f"source repository 'npm-internal' is npm, but its mapping {needle}; remove it" in line
    assert not (tmp_path / "ferry.db").exists()


def test_missing_target_repository_without_create_missing(world, tmp_path, capsys):
    job = _job(world, tmp_path, [{"source": "npm-internal", "target": "npm-elsewhere"}])
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress")
    assert "target repository 'npm-elsewhere' does not exist" in line and "pass --create-missing" in line


@pytest.mark.parametrize("unset, needle", [
    (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"), "no AWS credentials found for the target; set AWS_PROFILE"),
    (("AWS_SECRET_ACCESS_KEY",), "AWS credentials for the target are incomplete (Partial credentials found in "
                                 "env, missing: AWS_SECRET_ACCESS_KEY)"),
], ids=["none", "half-set"])
def test_aws_credentials_missing_or_half_set(world, tmp_path, capsys, monkeypatch, unset, needle):
    """AWS credentials missing or half set: nothing contacted or created, the line says what to set."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance role to fall back on here
    for key in unset:
        monkeypatch.delenv(key)
    job = _job(world, tmp_path, NPM, domain="no-credentials")
    line = one_line(capsys, 2, "migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress",
                    "--create-missing")
    assert needle in line
    assert not (tmp_path / "ferry.db").exists()
    assert "no-credentials" not in [d["name"] for d in world["ca"].list_domains()["domains"]]


def test_unreachable_target(world, tmp_path, capsys):
    job = _job(world, tmp_path, NPM, ca="http://127.0.0.1:9")
    line = one_line(capsys, 3, "audit", str(job), "--state", str(tmp_path / "ferry.db"))
    assert "CodeArtifact unreachable at target endpoint http://127.0.0.1:9" in line
    assert "check [target] region and endpoint_url" in line


# -- one item's problems: that item fails (or is unmappable) with the reason, the rest migrates -------


def _repo(world, fmt: str, name: str) -> None:
    world["seeder"].create_repository(fmt, name)


def _put_raw(world, repo: str, path: str, data: bytes) -> None:
    """Store a file at exactly ``path`` in a raw repository, as a hostile or broken Nexus could list it."""
    nexus = world["nexus"]
    nexus.put_asset(repo, path, nexus.blobs.put_bytes(data), "application/octet-stream",
                    component=(raw_group(path), path, None))


def _swap(world, repo: str, suffix: str, data: bytes) -> None:
    """Make Nexus serve ``data`` (and list its size and digests) for the asset whose path ends with ``suffix``."""
    nexus = world["nexus"]
    (asset,) = [a for a in nexus.assets_under(repo, "") if a.path.endswith(suffix)]
    blob = nexus.blobs.put_bytes(data)
    with nexus._tx() as db:
        db.execute("UPDATE assets SET sha256 = ?, sha1 = ?, md5 = ?, sha512 = ?, size = ? WHERE seq = ?",
                   [blob.sha256, blob.sha1, blob.md5, blob.sha512, blob.size, asset.seq])


def _listing_rewritten(monkeypatch, rewrite) -> None:
    """Make ferry's Nexus source list files through ``rewrite(SourceFile) -> SourceFile`` (a stale or odd listing)."""
    from ferry.sources.nexus import NexusSource

    real = NexusSource._file
    monkeypatch.setattr(NexusSource, "_file", lambda self, *args: rewrite(real(self, *args)))


def _report(tmp_path: Path, ledger: Path) -> dict:
    out = tmp_path / "report.json"
    assert ferry("report", "--state", str(ledger), "--output", str(out)) == 0
    return json.loads(out.read_text())


def _reasons(tmp_path: Path, ledger: Path) -> dict[str, tuple[str, str]]:
    """{item key: (state, reason)} of every item that did not make it."""
    return {f["key"]: (f["state"], f["reason"]) for f in _report(tmp_path, ledger)["failures"]}


def _migrate(job: Path, ledger: Path, *extra: str) -> int:
    return ferry("migrate", str(job), "--state", str(ledger), "--no-progress", "--create-missing", *extra)


def test_asset_names_that_try_to_leave_the_spool(world, tmp_path, capsys):
    _repo(world, "raw", "raw-evil")
    _put_raw(world, "raw-evil", "tool/1.0/ok.txt", b"fine")
    hostile = ["tool/1.0/..", "tool/1.0/../../../../escaped.txt", "../../escaped/1.0/escaped.txt",
               "tool/2.0/..\\..\\escaped.txt", "tool/3.0/\x1b[2Jescaped.txt"]
    for i, path in enumerate(hostile):
        _put_raw(world, "raw-evil", path, f"evil {i}".encode())
    spool = tmp_path / "work" / "spool"
    job = _job(world, tmp_path, [{"source": "raw-evil", "target": "generic-evil", "namespace": "tools"}])
    assert _migrate(job, tmp_path / "ferry.db", "--spool", str(spool)) == 1
    out = capsys.readouterr().out
    assert "\x1b" not in out  # a name cannot drive the terminal
    # Nothing was written anywhere but the spool, and the spool is empty again.
    written = [p for p in tmp_path.rglob("*") if "escaped" in p.name]
    assert written == []
    assert list(spool.iterdir()) == []
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert all(state == "unmappable" for state, _ in reasons.values()), reasons
    assert len(reasons) == len(hostile)
    held = world["ca"].list_package_versions(domain="acme", repository="generic-evil", format="generic",
                                             namespace="tools", package="tool")["versions"]
    assert [v["version"] for v in held] == ["1.0"]


def _tgz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz, tarfile.open(fileobj=gz, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _upload_npm(world, repo: str, name: str, version: str, data: bytes) -> None:
    world["seeder"].upload(repo, {"npm.asset": (f"{name}-{version}.tgz", data)})


def test_corrupt_npm_tarballs_fail_alone_with_the_reason(world, tmp_path, capsys):
    _repo(world, "npm", "npm-broken")
    world["seeder"].npm("npm-broken", "fine", "1.0.0")
    good = npm_tarball("garbled", "1.0.0")
    world["seeder"].npm("npm-broken", "garbled", "1.0.0")
    # Nexus lists the corrupt file's own digests: the download checks out, the archive does not.
    _swap(world, "npm-broken", "garbled-1.0.0.tgz", good[:20] + b"\xff" * 40 + good[60:])
    job = _job(world, tmp_path, [{"source": "npm-broken", "target": "npm-broken-store"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    state, reason = reasons["npm:garbled@1.0.0/package.tgz"]
    assert state == "failed" and reason.startswith("corrupt npm tarball: ")
    assert list(reasons) == ["npm:garbled@1.0.0/package.tgz"]


def test_npm_tarball_without_package_json(world, tmp_path, capsys):
    _repo(world, "npm", "npm-nojson")
    world["seeder"].npm("npm-nojson", "hollow", "1.0.0")
    _swap(world, "npm-nojson", "hollow-1.0.0.tgz", _tgz({"package/index.js": b"1"}))  # Nexus refuses such uploads
    job = _job(world, tmp_path, [{"source": "npm-nojson", "target": "npm-nojson-store"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    assert _reasons(tmp_path, tmp_path / "ferry.db") == {
        "npm:hollow@1.0.0/package.tgz": ("failed", "npm tarball has no package/package.json")}


def _wheel_with_metadata(name: str, version: str, metadata: bytes, declared_huge: bool = False) -> bytes:
    buf = io.BytesIO()
    info_dir = f"{name.replace('-', '_')}-{version}.dist-info"
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name.replace('-', '_')}/__init__.py", b"")
        zf.writestr(f"{info_dir}/METADATA", metadata)
        zf.writestr(f"{info_dir}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{info_dir}/RECORD", b"")
    return buf.getvalue()


def _pypi_job(world, tmp_path, repo: str) -> Path:
    return _job(world, tmp_path, [{"source": repo, "target": repo + "-store"}])


def test_a_wheel_that_is_not_a_zip_fails_alone(world, tmp_path, capsys):
    _repo(world, "pypi", "pypi-corrupt")
    world["seeder"].pypi("pypi-corrupt", *wheel("fine-lib", "1.0"))
    fname, data = wheel("broken-lib", "1.0")
    world["seeder"].pypi("pypi-corrupt", fname, data)
    _swap(world, "pypi-corrupt", fname, b"PK\x03\x04" + b"\x00" * (len(data) - 4))
    assert _migrate(_pypi_job(world, tmp_path, "pypi-corrupt"), tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert list(reasons) == [f"pypi:broken-lib@1.0/{fname}"]
    state, reason = reasons[f"pypi:broken-lib@1.0/{fname}"]
    assert state == "failed" and "is not a readable zip archive" in reason


def test_a_zip_bomb_metadata_is_refused_without_reading_it(world, tmp_path, capsys, monkeypatch):
    import ferry.archives

    # METADATA that expands to 4 times the bound (a real bomb would say gigabytes): over it, never read. Not
    # more: the Nexus stand-in's upload parses it whole (pkginfo), 64 MiB took it 20 s.
    monkeypatch.setattr(ferry.archives, "MAX_METADATA_BYTES", 1024 * 1024)
    bomb = b"Metadata-Version: 2.1\nName: bomb\nVersion: 1.0\n" + b"\n" * (4 * 1024 * 1024)
    data = _wheel_with_metadata("bomb", "1.0", bomb)
    assert len(data) < 200_000
    _repo(world, "pypi", "pypi-bomb")
    world["seeder"].pypi("pypi-bomb", "bomb-1.0-py3-none-any.whl", data)
    world["seeder"].pypi("pypi-bomb", *wheel("fine-lib", "1.0"))

    def no_twine(*args, **kwargs):
        raise AssertionError("twine was asked to read a bomb")

    from twine.package import PackageFile  # what the PyPI migrator reads metadata with

    real = PackageFile.from_filename
    monkeypatch.setattr(PackageFile, "from_filename",
                        classmethod(lambda cls, f, c: no_twine() if "bomb" in f else real(f, c)))
    assert _migrate(_pypi_job(world, tmp_path, "pypi-bomb"), tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    state, reason = reasons["pypi:bomb@1.0/bomb-1.0-py3-none-any.whl"]
    assert state == "failed"
    assert "METADATA in bomb-1.0-py3-none-any.whl would expand to" in reason and "refusing" in reason
    assert len(reasons) == 1


def test_an_sdist_of_endless_entries_is_refused(world, tmp_path, capsys, monkeypatch):
    import ferry.archives

    monkeypatch.setattr(ferry.archives, "MAX_MEMBERS", 500)
    files = {f"many-1.0/f{i}.txt": b"" for i in range(1000)}
    files["many-1.0/PKG-INFO"] = b"Metadata-Version: 2.1\nName: many\nVersion: 1.0\n"
    _repo(world, "pypi", "pypi-many")
    world["seeder"].pypi("pypi-many", "many-1.0.tar.gz", _tgz(files))
    assert _migrate(_pypi_job(world, tmp_path, "pypi-many"), tmp_path / "ferry.db") == 1
    capsys.readouterr()
    state, reason = _reasons(tmp_path, tmp_path / "ferry.db")["pypi:many@1.0/many-1.0.tar.gz"]
    assert state == "failed" and "more than 500 entries" in reason


def test_an_npm_package_json_too_big_to_read(world, tmp_path, capsys, monkeypatch):
    import ferry.migrators.npm

    monkeypatch.setattr(ferry.migrators.npm, "MAX_PACKAGE_JSON", 1000)
    manifest = json.dumps({"name": "chatty", "version": "1.0.0", "description": "x" * 5000}).encode()
    _repo(world, "npm", "npm-chatty")
    _upload_npm(world, "npm-chatty", "chatty", "1.0.0", _tgz({"package/package.json": manifest}))
    job = _job(world, tmp_path, [{"source": "npm-chatty", "target": "npm-chatty-store"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    state, reason = _reasons(tmp_path, tmp_path / "ferry.db")["npm:chatty@1.0.0/package.tgz"]
    assert state == "failed" and reason == f"package.json in package.tgz is {len(manifest)} bytes; refusing to read it"


def test_npm_metadata_that_disagrees_with_the_listing(world, tmp_path, capsys):
    _repo(world, "npm", "npm-liar")
    _upload_npm(world, "npm-liar", "liar", "1.0.0", npm_tarball("liar", "1.0.0"))
    _swap(world, "npm-liar", "liar-1.0.0.tgz", npm_tarball("someone-else", "9.9.9"))  # served in liar's place
    job = _job(world, tmp_path, [{"source": "npm-liar", "target": "npm-liar-store"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    state, reason = _reasons(tmp_path, tmp_path / "ferry.db")["npm:liar@1.0.0/package.tgz"]
    assert state == "failed"
    assert reason == ("tarball's package.json says someone-else@9.9.9, but the source lists it as liar@1.0.0; "
                      "not publishing")


def test_a_wheel_whose_file_name_and_metadata_disagree(world, tmp_path, capsys):
    _repo(world, "pypi", "pypi-mismatch")
    _fname, data = wheel("drifter", "3.1")  # METADATA says 3.1 ...
    world["seeder"].pypi("pypi-mismatch", "drifter-3.0-py3-none-any.whl", data)  # ... the file name 3.0
    world["seeder"].pypi("pypi-mismatch", *wheel("steady", "1.0"))
    assert _migrate(_pypi_job(world, tmp_path, "pypi-mismatch"), tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert len(reasons) == 1
    ((state, reason),) = reasons.values()
    assert state == "failed"
    assert "version" in reason and "3.0" in reason and "3.1" in reason and "not publishing" in reason
    held = world["ca"].list_packages(domain="acme", repository="pypi-mismatch-store")["packages"]
    assert [p["package"] for p in held] == ["steady"]


def test_two_source_names_that_normalize_to_one_are_unmappable_together(world, tmp_path, capsys):
    _repo(world, "pypi", "pypi-twins")
    world["seeder"].pypi("pypi-twins", "Foo.Bar-2.0.tar.gz", sdist("Foo.Bar", "2.0")[1])
    world["seeder"].pypi("pypi-twins", "foo-bar-2.0.tar.gz", sdist("foo-bar", "2.0")[1])
    world["seeder"].pypi("pypi-twins", *wheel("foo-bar", "1.0"))  # another version: unaffected
    assert _migrate(_pypi_job(world, tmp_path, "pypi-twins"), tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert set(reasons) == {"pypi:foo-bar@2.0/Foo.Bar-2.0.tar.gz", "pypi:foo-bar@2.0/foo-bar-2.0.tar.gz"}
    for state, reason in reasons.values():
        assert state == "unmappable"
        assert reason == ("the source has both 'Foo.Bar' and 'foo-bar' 2.0, which CodeArtifact files under the one "
                          "name 'foo-bar'; keep one (exclude or remove the other in the source)")
    versions = world["ca"].list_package_versions(domain="acme", repository="pypi-twins-store", format="pypi",
                                                 package="foo-bar")["versions"]
    assert [v["version"] for v in versions] == ["1.0"]


def test_an_asset_over_the_size_quota_is_unmappable(world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FERRY_MAX_ASSET_BYTES", "1000")  # stands for CodeArtifact's 5 GB quota
    _repo(world, "raw", "raw-big")
    world["seeder"].raw("raw-big", "tool/1.0", {"small.bin": b"s" * 999, "huge.bin": b"h" * 1001})
    job = _job(world, tmp_path, [{"source": "raw-big", "target": "generic-big", "namespace": "tools"}])
    world["ca"].create_repository(domain="acme", repository="generic-big")
    assert ferry("audit", str(job), "--state", str(tmp_path / "ferry.db")) == 1
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert reasons == {"generic:tools/tool@1.0/huge.bin": ("unmappable", "1001 bytes is over CodeArtifact's asset size quota "
                                             "(1000 bytes); ask AWS to raise the quota, then set "
                                             "FERRY_MAX_ASSET_BYTES to it")}
    assets = world["ca"].list_package_version_assets(domain="acme", repository="generic-big", format="generic",
                                                     namespace="tools", package="tool", packageVersion="1.0")
    assert [a["name"] for a in assets["assets"]] == ["small.bin"]


def test_a_source_that_sends_more_than_it_lists(world, tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    from ferry.model import Checksums

    _repo(world, "raw", "raw-grower")
    world["seeder"].raw("raw-grower", "tool/1.0", {"grows.bin": b"g" * 5000})
    # A stale listing: 100 bytes and no digests; the file has grown since.
    _listing_rewritten(monkeypatch, lambda f: replace(f, size=100, checksums=Checksums())
                       if f.path.endswith("grows.bin") else f)
    job = _job(world, tmp_path, [{"source": "raw-grower", "target": "generic-grower", "namespace": "tools"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    state, reason = _reasons(tmp_path, tmp_path / "ferry.db")["generic:tools/tool@1.0/grows.bin"]
    assert state == "failed" and reason == ("source lists 100 bytes but sends more; the file changed in the source "
                                            "after it was listed, or the source sent it corrupt: nothing was "
                                            "published, and a rerun lists it again")


def test_names_that_are_not_utf8_are_unmappable(world, tmp_path, capsys, monkeypatch):
    from dataclasses import replace

    _repo(world, "raw", "raw-latin1")
    world["seeder"].raw("raw-latin1", "tool/1.0", {"ok.bin": b"ok", "cafX.bin": b"a latin-1 name"})
    # One that does not fit the layout either: unmappable for its name all the same, not a ledger it breaks.
    _put_raw(world, "raw-latin1", "cafX.txt", b"a latin-1 name outside the layout")
    # Invalid UTF-8 in a path: the Nexus stand-in decodes it to U+FFFD, as many servers do ...
    put = world["seeder"].http.put(f"{world['urls']['nexus']}/repository/raw-latin1/tool/1.0/%FF%FEname.bin",
                                   data=b"a name already mangled by a decoder", timeout=30)
    assert put.status_code == 201
    # ... and a listing can carry it as a lone surrogate (JSON "\udce9"), which SQLite and UTF-8 cannot store.
    _listing_rewritten(monkeypatch, lambda f: replace(f, path=f.path.replace("cafX", "caf\udce9"),
                                                      url=f.url.replace("cafX", "caf\udce9")))
    job = _job(world, tmp_path, [{"source": "raw-latin1", "target": "generic-latin1", "namespace": "tools"}])
    assert _migrate(job, tmp_path / "ferry.db") == 1
    capsys.readouterr()
    reasons = _reasons(tmp_path, tmp_path / "ferry.db")
    assert {k: s for k, (s, _r) in reasons.items()} == {"generic:tools/tool@1.0/caf\\udce9.bin": "unmappable",
                                                         "generic:tools/tool@1.0/\ufffd\ufffdname.bin": "unmappable",
                                                         "generic:tools/caf\\udce9.txt@?/?": "unmappable"}
    assert all("is not valid UTF-8 in the source; rename it there" in r for _s, r in reasons.values())
    assets = world["ca"].list_package_version_assets(domain="acme", repository="generic-latin1", format="generic",
                                                     namespace="tools", package="tool", packageVersion="1.0")
    assert [a["name"] for a in assets["assets"]] == ["ok.bin"]
