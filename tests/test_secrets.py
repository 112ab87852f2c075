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


def test_redaction_shapes_servers_and_sts_use():
    from ferry import redact

    echoed = "HTTP 400: bad metadata; you sent Authorization: Basic YXdzOnNob3J0LXRva2Vu, host nexus"
    assert redact.redact(echoed) == "HTTP 400: bad metadata; you sent Authorization: Basic <redacted>, host nexus"
    sts = ("Response body: b'<Credentials><AccessKeyId>ASIAX</AccessKeyId><SecretAccessKey>wJalrXUtnFEMI/K7MDENG"
           "</SecretAccessKey><SessionToken>IQoJb3JpZ2luX2VjE</SessionToken></Credentials>'")
    assert "wJalr" not in redact.redact(sts) and "IQoJb3" not in redact.redact(sts)
    assert "<AccessKeyId>ASIAX</AccessKeyId>" in redact.redact(sts)  # an access key id is not a secret
    web = "{'RoleArn': 'arn:aws:iam::1:role/x', 'WebIdentityToken': 'eyJhbGciOiJSUzI1NiJ9.e30.sig'}"
    assert "eyJhbGci" not in redact.redact(web) and "arn:aws:iam::1:role/x" in redact.redact(web)
    query = "GET https://nexus.example.com/x/?access_token=sekrit-abc123&page=2: HTTP 503"
    assert redact.redact(query) == "GET https://nexus.example.com/x/?access_token=<redacted>&page=2: HTTP 503"
    # A short password is no secret on its own (it would wreck messages), but its Basic form is.
    redact.register("pw1", user="ab")
    assert redact.redact(f"Basic {_b64('ab:pw1')}") == "Basic <redacted>"
    assert redact.redact("pw1 is in this sentence") == "pw1 is in this sentence"


def test_everything_written_to_stdout_and_stderr_while_a_command_runs_is_redacted(capsys):
    import click

    from ferry import redact

    redact.register("printed-secret-42")
    with redact.redacted_output():
        print("problem: the target said printed-secret-42")
        click.echo("note: printed-secret-42 again", err=True)
        with pytest.raises(TypeError):
            sys.stdout.write(b"bytes are refused, so click never writes around the redaction")
    out, err = capsys.readouterr()
    assert out == "problem: the target said <redacted>\n" and err == "note: <redacted> again\n"
    print("printed-secret-42")  # outside a command nothing is changed
    assert capsys.readouterr().out == "printed-secret-42\n"


def test_a_failure_to_finish_a_version_is_redacted_in_ledger_output_and_reports(sandbox, tmp_path, monkeypatch,
                                                                                  capsys):
    """The Maven metadata PUT (finishing the version) is answered with the request's Authorization header:
    the CodeArtifact token must not reach the ledger, the printed failure list or any report."""
    from e2e_helpers import aws_env, codeartifact, ferry
    from ferry.sandbox.codeartifact.formats import FORMAT_HANDLERS
    from ferry.sandbox.seed import maven_artifact

    aws_env(monkeypatch, tmp_path)
    real = FORMAT_HANDLERS["maven"]

    def echo(ctx, request):
        if request.method == "PUT" and request.path.endswith("maven-metadata.xml"):
            return Response(f"bad metadata; you sent Authorization: {request.headers.get('Authorization')}",
                            status=400)
        return real(ctx, request)

    monkeypatch.setitem(FORMAT_HANDLERS, "maven", echo)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("maven", "maven-releases")
    seeder.maven("maven-releases", "org.acme", "lib", "1.0", maven_artifact("org.acme", "lib", "1.0", sources=False))
    codeartifact(urls["codeartifact"]).create_domain(domain="acme")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "maven-releases", "target": "maven-store"}])
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--create-missing", "--no-progress") == 1
    assert ferry("report", "--state", state, "--output", str(tmp_path / "run.md")) == 0
    assert ferry("report", "--state", state, "--html", str(tmp_path / "run.html")) == 0
    out, err = capsys.readouterr()
    with closing(sqlite3.connect(state)) as db:
        reasons = [r for (r,) in db.execute("SELECT reason FROM items WHERE reason IS NOT NULL")]
    assert any("finishing the version" in r and "Authorization: Basic <redacted>" in r for r in reasons), reasons
    tokens = [row["token"] for row in sandbox.apps["codeartifact"].store.query("SELECT token FROM tokens")]
    assert tokens
    texts = {"stdout": out, "stderr": err, "ledger": "\n".join(reasons),
             "run.md": (tmp_path / "run.md").read_text(), "run.html": (tmp_path / "run.html").read_text()}
    assert "finishing the version" in texts["stdout"] and "finishing the version" in texts["run.md"]
    leaks = [(where, n) for where, text in texts.items() for n, token in enumerate(tokens)
             if token in text or _b64(f"aws:{token}") in text]
    assert leaks == []


def test_a_secret_read_with_its_trailing_line_break_is_used_without_it(monkeypatch):
    from ferry.config import Secret
    from ferry.errors import UsageError

    monkeypatch.setenv("ART_TOKEN", "AKCp-secret-value-0123\n")
    assert Secret("ART_TOKEN").reveal() == "AKCp-secret-value-0123"
    monkeypatch.setenv("ART_TOKEN", "AKCp-secret\nvalue-0123")
    with pytest.raises(UsageError) as err:
        Secret("ART_TOKEN").reveal()
    assert "line break" in str(err.value) and "AKCp" not in str(err.value)


def test_a_password_in_the_url_is_refused_even_when_it_splits_the_url(tmp_path, capsys, monkeypatch):
    from e2e_helpers import aws_env, ferry

    aws_env(monkeypatch, tmp_path)
    for url in ("https://migrator:Sl/ash-pw-77@nexus.example.com", "https://migrator:q?uery-pw-77@nexus.example.com",
                "https://migrator:plain-pw-77@nexus.example.com"):
        job = write_job(tmp_path / "job.toml", url, "http://127.0.0.1:9", REPOS)
        assert ferry("audit", str(job), "--state", str(tmp_path / "x.db")) == 2
        err = capsys.readouterr().err
        assert "credentials in the URL" in err and "pw-77" not in err and "Sl" not in err
        assert not (tmp_path / "x.db").exists()


def test_credentials_refreshed_during_a_run_are_registered_when_a_request_is_signed():
    """An assumed role's credentials are renewed by botocore mid-run; the signing hook registers each pair."""
    from types import SimpleNamespace

    from ferry import redact
    from ferry.codeartifact import _register_signing_credentials

    def signer(secret: str, token: str):
        frozen = SimpleNamespace(secret_key=secret, token=token)
        return SimpleNamespace(_credentials=SimpleNamespace(get_frozen_credentials=lambda: frozen))

    text = "renewed-secret-key-111 renewed-session-token-222"
    assert redact.redact(text) == text
    _register_signing_credentials(request_signer=signer("renewed-secret-key-111", "renewed-session-token-222"))
    assert redact.redact(text) == "<redacted> <redacted>"
    _register_signing_credentials(request_signer=signer("renewed-secret-key-333", "renewed-session-token-444"))
    assert redact.redact("renewed-secret-key-333 renewed-session-token-444") == "<redacted> <redacted>"


def test_a_target_answer_cut_short_for_a_reason_keeps_no_piece_of_a_secret_it_echoed():
    """A target's error body is quoted in the item's reason, cut to 200 characters. An echoed token the cut
    falls inside is no longer the known value, so it must be replaced before the cut, not after."""
    from types import SimpleNamespace

    import requests

    from ferry import redact
    from ferry.errors import ItemError
    from ferry.migrators.base import PublishContext

    token = "echoed-token-5f3a9c1e7b2d4a6f8e0c"
    redact.register(token)  # as Domain.token() does when CodeArtifact issues it
    body = f"bad request: {'x' * 150} the token {token} is not valid here"
    assert body.index(token) < 200 < body.index(token) + len(token)  # the cut falls inside the token

    class Answering(requests.Session):
        def request(self, method, url, **kwargs):
            resp = requests.Response()
            resp.status_code, resp._content, resp.encoding, resp.url = 400, body.encode(), "utf-8", url
            return resp

    domain = SimpleNamespace(token=lambda: token, token_accepted=lambda _token: None, limiter=None)
    ctx = PublishContext(domain=domain, repository="npm-store", session=Answering(), package_facts={})
    with pytest.raises(ItemError) as err:
        ctx.send("PUT", "https://ca.example/npm/npm-store/echo-pkg", "npm publish echo-pkg@1.0.0")
    message = str(err.value)
    assert "the target rejected it (HTTP 400): bad request: xxx" in message
    assert redact.redact(message) == message
    assert token[:8] not in message, message


SIGNATURE = "5e1f0c9a7b3d2e4f6a8c0b1d3e5f7a9c2b4d6e8f0a1c3e5d7f9b2a4c6e8d0f1a"


@pytest.fixture
def storage_redirect():
    """A server standing in for Artifactory and its cloud storage: a download answers 302 to the file's signed
    URL on another host name (localhost) carrying the query the test puts in ``query``; that URL answers it."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    query: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            if self.path.startswith("/artifactory/"):
                self.send_response(302)
                self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/bucket/x.tgz?{query[0]}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", "7")
            self.end_headers()
            self.wfile.write(b"tarball")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/artifactory", query
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("query", [
    f"X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature={SIGNATURE}",
    "X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=svc%40proj.iam.gserviceaccount.com%2F20261127%2Fauto"
    f"%2Fstorage%2Fgoog4_request&X-Goog-Expires=900&X-Goog-SignedHeaders=host&X-Goog-Signature={SIGNATURE}",
    f"sv=2021-08-06&se=2026-11-27T01%3A00%3A00Z&sr=b&sp=r&sig={SIGNATURE}",
], ids=["s3", "gcs", "azure"])
def test_the_signature_of_a_download_url_artifactory_redirects_to_is_not_logged(storage_redirect, query, caplog):
    """Artifactory hands a download to its cloud storage (S3, Google Cloud Storage, Azure) with a signed URL;
    ``--debug`` shows the request line urllib3 logs for it, and its signature lets anyone read the file until
    it expires."""
    import logging

    from ferry import redact
    from ferry.http import make_session
    from ferry.sources.artifactory import ArtifactorySource

    redact.install()
    url, queries = storage_redirect
    queries.append(query)
    source = ArtifactorySource(url, make_session())
    with caplog.at_level(logging.DEBUG, logger="urllib3"):
        with source.open_locator(f"{url}/npm-local/x.tgz", "x 1.0.0") as resp:
            assert resp.content == b"tarball"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "GET /bucket/x.tgz?" in logged  # the request line was logged...
    assert SIGNATURE[:16] not in logged, logged  # ... without the signature


def test_a_password_holding_an_unescaped_at_sign_is_hidden_whole():
    """A proxy URL from the environment (HTTPS_PROXY=http://u:p@ss@proxy) is read by URL parsers up to the last
    "@" before the host: the password is "p@ss". Hidden only up to its first "@", its tail was printed."""
    from ferry import redact

    line = "Cannot connect to proxy http://ops:Sekr3t@pw-77@proxy.example:3128 (refused)"
    assert redact.redact(line) == "Cannot connect to proxy http://ops:<redacted>@proxy.example:3128 (refused)"
    # Still not a secret: a shell variable in an install command, and a path holding "@" after the host.
    for kept in ("npm install --registry https://aws:${TOKEN}@acme.example/npm/", "http://nexus:8081/@scope/pkg"):
        assert redact.redact(kept) == kept
