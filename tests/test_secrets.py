"""No secret in anything ferry writes: a faulty migration with known secrets, every byte searched.

Known secrets: the Nexus password (the stand-in is started with it), the AWS secret key and session
token, every CodeArtifact authorization token the stand-in issued during the runs (read from its
``tokens`` table afterwards), a wrong password a user might try, and the HTTP Basic forms of all of
them. Searched: stdout and stderr of every command (``--debug`` included: tracebacks and the debug
logs of ferry, botocore and urllib3), the ledger with its WAL (kept alive by an open reader so it is
not checkpointed away), reports in every format, the spool folder, and every other file the runs left.
"""

from __future__ import annotations

import base64
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from e2e_helpers import write_job
from ferry.sandbox.seed import NexusSeeder, npm_tarball, wheel
from ferry.sandbox.server import Sandbox, SandboxOptions

NEXUS_PASSWORD = "Nx-pw-7f1d9c2e-Kq4"
WRONG_PASSWORD = "typo-pw-3b8e1a-Zz9"
AWS_SECRET = "aws-secret-Q9xZ7Lm2Pq8Rt5VwYy3"
AWS_SESSION_TOKEN = "aws-session-FQoGZXIvYXdzEJr-4455"
REPOS = [
    {"source": "npm-internal", "target": "npm-store"},
    {"source": "pypi-internal", "target": "pypi-store"},
    {"source": "raw-files", "target": "generic-store", "namespace": "tools"},
]
ECHO_PACKAGE = "echo-pkg"  # the target answers its publish with the request's Authorization header


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("FERRY_NEXUS_ADMIN_PASSWORD", NEXUS_PASSWORD)
    env = {"AWS_ACCESS_KEY_ID": "AKIAFERRYSECRETS0001", "AWS_SECRET_ACCESS_KEY": AWS_SECRET,
           "AWS_SESSION_TOKEN": AWS_SESSION_TOKEN, "AWS_DEFAULT_REGION": "us-east-1",
           "NEXUS_PASSWORD": NEXUS_PASSWORD, "AWS_CONFIG_FILE": str(tmp_path / "aws-config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "aws-credentials")}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with Sandbox(SandboxOptions(data=tmp_path / "sandbox")) as sandbox:
        urls = sandbox.urls()
        s = NexusSeeder(urls["nexus"], auth=("admin", NEXUS_PASSWORD))
        for fmt, name in (("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")):
            s.create_repository(fmt, name)
        for i in range(12):
            s.npm("npm-internal", f"left-pad{i % 4}", f"1.{i}.0")
        s.upload("npm-internal", {"npm.asset": (f"{ECHO_PACKAGE}-1.0.0.tgz", npm_tarball(ECHO_PACKAGE, "1.0.0"))})
        for i in range(8):
            s.pypi("pypi-internal", *wheel(f"acme-lib{i % 3}", f"0.{i}.0"))
        for i in range(6):
            s.raw("raw-files", f"tool/{i}.0", {"a.bin": bytes([i]) * 3000, "b.txt": b"notes"})
        job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
        yield {"sandbox": sandbox, "urls": urls, "job": job, "tmp": tmp_path, "env": {**os.environ, **env}}


def _echo_authorization(monkeypatch) -> None:
    """The npm endpoint answers a publish of ECHO_PACKAGE with 400 and the request's Authorization header."""
    from ferry.sandbox.codeartifact.formats import FORMAT_HANDLERS

    real = FORMAT_HANDLERS["npm"]

    def handler(ctx, request):
        if request.method == "PUT" and ECHO_PACKAGE in request.path:
            return Response(f"bad request; you sent Authorization: {request.headers.get('Authorization')}",
                            status=400)
        return real(ctx, request)

    monkeypatch.setitem(FORMAT_HANDLERS, "npm", handler)


def _ferry(world, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ferry", *args], env=env or world["env"], capture_output=True,
                          timeout=300, cwd=world["tmp"])


@pytest.mark.timeout(600)
def test_no_secret_in_any_byte_ferry_writes(world, monkeypatch):
    tmp, job, sandbox = world["tmp"], str(world["job"]), world["sandbox"]
    ledger, spool = tmp / "ferry.db", tmp / "spool"
    _echo_authorization(monkeypatch)
    outputs: list[bytes] = []

    def run(*args: str, codes=(0, 1), env=None) -> subprocess.CompletedProcess:
        done = _ferry(world, *args, env=env)
        outputs.extend([done.stdout, done.stderr])
        assert done.returncode in codes, done.stderr.decode(errors="replace")[-3000:]
        return done

    # A faulty migration, tokens expiring every second, with everything --debug can show.
    sandbox.set_faults("throttle=0.1,error5xx=0.05,reset=0.02,truncate=0.02,token_ttl=1s", seed=11)
    first = run("--debug", "migrate", job, "--state", str(ledger), "--spool", str(spool), "--no-progress",
                "--create-missing", "--workers", "4", "--report", str(tmp / "run.json"))
    assert b"DEBUG botocore" in first.stderr and b"DEBUG urllib3" in first.stderr  # the logs really ran
    assert b"Authorization" in first.stderr  # ... and showed request headers (redacted)
    # Keep a reader open so the WAL is not checkpointed away when the next runs end: it is searched too.
    keeper = sqlite3.connect(ledger)
    keeper.execute("SELECT COUNT(*) FROM items").fetchone()
    with closing(keeper):
        run("migrate", job, "--state", str(ledger), "--spool", str(spool), "--no-progress",
            "--report", str(tmp / "run.md"))
        # What the echoing endpoint sent back reached ferry, and redaction kept it out of the ledger.
        (reason,) = keeper.execute("SELECT reason FROM items WHERE package = ?", [ECHO_PACKAGE]).fetchone()
        assert "you sent Authorization: Basic <redacted>" in reason, reason
        sandbox.set_faults(None)
        run("--debug", "verify", job, "--state", str(ledger), "--report", str(tmp / "verify.csv"))
        run("report", "--state", str(ledger))
        run("report", "--state", str(ledger), "--output", str(tmp / "all.md"))
        run("status", "--state", str(ledger))
        # Failures print messages and tracebacks: a refused (wrong) password, an unreachable target.
        wrong = {**world["env"], "NEXUS_PASSWORD": WRONG_PASSWORD}
        refused = run("--debug", "audit", job, "--state", str(tmp / "other.db"), codes=(3,), env=wrong)
        assert b"Traceback" in refused.stderr and b"refused the credentials" in refused.stderr
        unreachable = write_job(tmp / "unreachable.toml", world["urls"]["nexus"], "http://127.0.0.1:9", REPOS)
        run("--debug", "audit", str(unreachable), "--state", str(tmp / "other.db"), codes=(3,))
        wal = ledger.with_name(ledger.name + "-wal")
        assert wal.exists() and wal.stat().st_size > 0
        files = {p: p.read_bytes() for p in tmp.rglob("*") if p.is_file() and "sandbox" not in p.parts}

    store = sandbox.apps["codeartifact"].store
    tokens = [row["token"] for row in store.query("SELECT token FROM tokens")]
    assert len(tokens) > 3  # tokens expired and were fetched again during the runs
    secrets = {"nexus password": NEXUS_PASSWORD, "wrong password": WRONG_PASSWORD, "aws secret key": AWS_SECRET,
               "aws session token": AWS_SESSION_TOKEN,
               "nexus basic": _b64(f"admin:{NEXUS_PASSWORD}"), "wrong basic": _b64(f"admin:{WRONG_PASSWORD}")}
    for n, token in enumerate(tokens):
        secrets[f"token {n}"] = token
        secrets[f"token {n} basic"] = _b64(f"aws:{token}")

    places = {f"output {i}": data for i, data in enumerate(outputs)}
    places.update({str(p.relative_to(tmp)): data for p, data in files.items()})
    assert any(name.endswith("ferry.db-wal") for name in places)
    assert {"run.json", "run.md", "verify.csv", "all.md"} <= set(places)
    leaks = [(what, where) for where, data in places.items() for what, secret in secrets.items()
             if secret.encode() in data]
    assert leaks == []
    assert sum(len(d) for d in places.values()) > 100_000  # there was a lot to search


def test_redaction_covers_messages_logs_and_tracebacks():
    import logging

    from ferry import redact

    redact.install()
    redact.register("s3cr3t-value-123", user="migrator")
    record = logging.getLogRecordFactory()("botocore.parsers", logging.DEBUG, __file__, 1, "Response body:\n%r",
                                           (b'{"authorizationToken":"tok-abc-123456789","expiration":1}',), None)
    assert "tok-abc" not in record.getMessage() and "<redacted>" in record.getMessage()
    try:
        raise RuntimeError("GET https://migrator:s3cr3t-value-123@nexus/x failed, Basic "
                           + _b64("migrator:s3cr3t-value-123"))
    except RuntimeError as err:
        text = redact.format_exception(err)
    assert "s3cr3t" not in text and _b64("migrator:s3cr3t-value-123") not in text
    headers = ("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abcdef', "
               "'X-Amz-Security-Token': b'FQo'}")
    assert redact.redact(headers) == "{'Authorization': b'<redacted>', 'X-Amz-Security-Token': b'<redacted>'}"
    assert redact.redact("nextToken=abc basic auth, bearer of news") == "nextToken=abc basic auth, bearer of news"
