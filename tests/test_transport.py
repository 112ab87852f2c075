"""Transport: TLS verified by default and ``--ca-bundle`` for a private CA, plain http only for loopback
(or with ``--allow-http``), and credentials never sent along a redirect to another host.

The stand-ins are served over TLS with a certificate from a CA made here (``cryptography``), and a
non-loopback address of this machine stands for a remote host.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from e2e_helpers import AWS_ENV, ferry, write_job
from ferry.http import make_session
from ferry.sandbox.seed import NexusSeeder
from ferry.sandbox.server import Sandbox, SandboxOptions
from ferry.sources.nexus import NexusSource

NPM = [{"source": "npm-internal", "target": "npm-store"}]


@pytest.fixture(autouse=True)
def env(monkeypatch, tmp_path):
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "AWS_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    import ferry.engine
    from ferry.retry import RetryPolicy

    monkeypatch.setattr(ferry.engine, "REQUEST", RetryPolicy(5, 0.001, 0.005, 0.005))


# -- a private CA and servers ----------------------------------------------------------------------


def _private_ca(folder: Path) -> tuple[Path, Path, Path]:
    """A CA certificate, and a server certificate and key for localhost/127.0.0.1 signed by it."""
    pytest.importorskip("cryptography")  # installed with the test extras (moto needs it)
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ferry test CA")])
    ca_cert = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                            content_commitment=False, key_encipherment=False, data_encipherment=False,
                                            key_agreement=False, encipher_only=False, decipher_only=False),
                              critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
               .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
            .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    ca_pem, cert_pem, key_pem = folder / "ca.pem", folder / "server.pem", folder / "server.key"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return ca_pem, cert_pem, key_pem


@contextmanager
def _serve(app, host: str = "127.0.0.1", ssl_context=None):
    """Serve a WSGI app on a free port from a thread; yields the server."""
    server = make_server(host, 0, app, threaded=True, ssl_context=ssl_context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def tls_world(tmp_path):
    """The stand-ins, each also served over TLS (certificate from a private CA) on localhost."""
    ca_pem, cert_pem, key_pem = _private_ca(tmp_path)
    with Sandbox(SandboxOptions(data=tmp_path / "sandbox")) as sandbox:
        s = NexusSeeder(sandbox.urls()["nexus"])
        s.create_repository("npm", "npm-internal")
        s.npm("npm-internal", "left-pad", "1.0.0")
        s.npm("npm-internal", "@acme/ui", "2.0.0")
        with _serve(sandbox.apps["nexus"], ssl_context=(str(cert_pem), str(key_pem))) as nexus, \
                _serve(sandbox.apps["codeartifact"], ssl_context=(str(cert_pem), str(key_pem))) as ca:
            urls = {"nexus": f"https://localhost:{nexus.server_port}", "codeartifact": f"https://localhost:{ca.server_port}"}
            job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], NPM)
            yield {"sandbox": sandbox, "urls": urls, "job": job, "ca_pem": ca_pem, "tmp": tmp_path}


def _lines(capsys) -> list[str]:
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return cap.err.strip().splitlines()


# -- TLS -------------------------------------------------------------------------------------------


def test_an_untrusted_source_certificate_is_a_one_line_fatal_error(tls_world, capsys):
    state = str(tls_world["tmp"] / "ferry.db")
    assert ferry("migrate", str(tls_world["job"]), "--state", state, "--no-progress", "--create-missing") == 3
    (line,) = _lines(capsys)
    assert line.startswith("ferry: error: Nexus /service/rest/v1/repositories: TLS certificate not trusted (")
    assert line.endswith("); pass --ca-bundle with your CA's certificates")


def test_an_untrusted_target_certificate_is_a_one_line_fatal_error(tls_world, capsys):
    plain_nexus = tls_world["sandbox"].urls()["nexus"]  # the source over loopback http: only the target is TLS
    job = write_job(tls_world["tmp"] / "job2.toml", plain_nexus, tls_world["urls"]["codeartifact"], NPM)
    assert ferry("migrate", str(job), "--state", str(tls_world["tmp"] / "x.db"), "--no-progress",
                 "--create-missing") == 3
    (line,) = _lines(capsys)
    assert "TLS certificate of the CodeArtifact endpoint not trusted; pass --ca-bundle" in line


def test_ca_bundle_makes_the_private_ca_trusted_on_both_sides(tls_world, capsys):
    state = str(tls_world["tmp"] / "ferry.db")
    assert ferry("migrate", str(tls_world["job"]), "--state", state, "--no-progress", "--create-missing",
                 "--ca-bundle", str(tls_world["ca_pem"])) == 0
    assert ferry("verify", str(tls_world["job"]), "--state", state, "--ca-bundle", str(tls_world["ca_pem"])) == 0
    capsys.readouterr()
    store = tls_world["sandbox"].apps["codeartifact"].store
    names = {r["name"] for r in store.query("SELECT name FROM packages")}
    assert names == {"left-pad", "ui"}


def test_a_codeartifact_source_behind_a_private_ca_needs_and_takes_the_bundle(tls_world, capsys):
    """replicate from a CodeArtifact source over TLS: the source's control plane, its package endpoints
    and the target all trust --ca-bundle (the source's control plane did not before)."""
    from replicate_helpers import SOURCE_REGION, Seeder, write_replica_job

    src = Seeder(tls_world["sandbox"], SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "left-pad-acme", "1.0.0")
    src.generic("packages", "tools", "installer", "1.0", {"installer.bin": b"\x7fELF 1.0"})
    job = write_replica_job(tls_world["tmp"] / "replica.toml", tls_world["urls"]["codeartifact"],
                            [("packages", "packages")], options="create_missing = true")
    state = str(tls_world["tmp"] / "replica.db")
    assert ferry("replicate", str(job), "--state", state) == 3
    assert "TLS certificate of the CodeArtifact endpoint not trusted; pass --ca-bundle" in _lines(capsys)[-1]
    assert ferry("replicate", str(job), "--state", state, "--ca-bundle", str(tls_world["ca_pem"])) == 0
    capsys.readouterr()
    assert ferry("replicate", str(job), "--config-only", "--dry-run", "--ca-bundle", str(tls_world["ca_pem"])) == 0


def test_a_codeartifact_source_over_plain_http_to_another_host_needs_allow_http(tmp_path, capsys):
    """Its endpoint gets the tokens ferry then sends to the source's package endpoints: same rule as the target."""
    from replicate_helpers import write_replica_job

    job = write_replica_job(tmp_path / "replica.toml", "http://codeartifact.example.com", [("packages", "packages")])
    for argv in (["replicate", str(job), "--state", str(tmp_path / "r.db")],
                 ["replicate", str(job), "--config-only", "--dry-run"]):
        assert ferry(*argv) == 2
        assert _lines(capsys)[-1] == ("ferry: error: [source] url: codeartifact.example.com is reached over plain "
                                      "http; use https or pass --allow-http")
    assert not (tmp_path / "r.db").exists()


def test_a_ca_bundle_that_is_not_there(tls_world, capsys):
    missing = tls_world["tmp"] / "no-such-ca.pem"
    assert ferry("audit", str(tls_world["job"]), "--state", str(tls_world["tmp"] / "ferry.db"),
                 "--ca-bundle", str(missing)) == 2
    (line,) = _lines(capsys)
    assert line == f"ferry: error: --ca-bundle {missing}: cannot read it (No such file or directory); give a PEM " \
                   "file of CA certificates"


def test_tls_verification_is_on_by_default():
    session = make_session()
    assert session.verify is True
    assert make_session(ca_bundle=__file__).verify == __file__


# -- plain http ------------------------------------------------------------------------------------


def _non_loopback_address() -> str | None:
    """An address of this machine that is not loopback (stands for a host across the network), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.123", 9))  # no packet is sent: this only picks the outgoing interface
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if ipaddress.ip_address(address).is_loopback else address


def test_plain_http_to_another_host_needs_allow_http(tmp_path, capsys):
    address = _non_loopback_address()
    if address is None:
        pytest.skip("this machine has no non-loopback address")
    with Sandbox(SandboxOptions(data=tmp_path / "sandbox", host=address)) as sandbox:
        urls = sandbox.urls()
        assert urls["nexus"].startswith(f"http://{address}:")
        s = NexusSeeder(urls["nexus"])
        s.create_repository("npm", "npm-internal")
        s.npm("npm-internal", "left-pad", "1.0.0")
        job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], NPM)
        state = str(tmp_path / "ferry.db")
        assert ferry("migrate", str(job), "--state", state, "--no-progress", "--create-missing") == 2
        (line,) = _lines(capsys)
        assert line == (f"ferry: error: [source] url: {address} is reached over plain http; use https or pass "
                        "--allow-http")
        # The target endpoint is held to the same rule (tokens travel to it).
        job2 = write_job(tmp_path / "job2.toml", "http://127.0.0.1:9", urls["codeartifact"], NPM)
        assert ferry("audit", str(job2), "--state", state) == 2
        (line,) = _lines(capsys)
        assert line == (f"ferry: error: [target] endpoint_url: {address} is reached over plain http; use https or "
                        "pass --allow-http")
        assert not Path(state).exists()
        assert ferry("migrate", str(job), "--state", state, "--no-progress", "--create-missing", "--allow-http") == 0
        capsys.readouterr()


# -- redirects -------------------------------------------------------------------------------------


class _Recorder:
    """A server that records the headers of every request it gets and answers with ``body``."""

    def __init__(self, body: bytes = b"[]"):
        self.seen: list[dict[str, str]] = []
        self.body = body

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.seen.append(dict(request.headers))
        return Response(self.body, content_type="application/json")(environ, start_response)


def _redirector(target: str):
    def app(environ, start_response):
        request = Request(environ)
        location = target + request.full_path.rstrip("?")
        return Response(status=302, headers={"Location": location})(environ, start_response)

    return app


@pytest.mark.parametrize("other", ["127.0.0.2", "localhost"], ids=["other-address", "other-name"])
def test_source_credentials_are_not_forwarded_on_a_redirect_to_another_host(tmp_path, capsys, other):
    recorder = _Recorder()
    with _serve(recorder, host="127.0.0.2" if other == "127.0.0.2" else "127.0.0.1") as elsewhere:
        with _serve(_redirector(f"http://{other}:{elsewhere.server_port}")) as front:
            job = write_job(tmp_path / "job.toml", f"http://127.0.0.1:{front.server_port}", "http://127.0.0.1:9", NPM)
            assert ferry("audit", str(job), "--state", str(tmp_path / "ferry.db")) == 2  # the other host has no repos
            capsys.readouterr()
    assert recorder.seen, "the redirect was not followed"
    assert all("Authorization" not in headers for headers in recorder.seen), recorder.seen


def test_a_redirect_within_the_server_keeps_the_credentials_and_one_elsewhere_drops_them(tmp_path):
    """Both ways ferry attaches credentials: an auth object (sources) and an explicit header (package endpoints)."""
    same, elsewhere = _Recorder(), _Recorder()

    def moved_here(environ, start_response):  # /old answers "see /new" on the same server
        if environ["PATH_INFO"] == "/old":
            return Response(status=301, headers={"Location": "/new"})(environ, start_response)
        return same(environ, start_response)

    with _serve(moved_here) as here, _serve(elsewhere, host="127.0.0.2") as other_server:
        session = make_session()
        source = NexusSource(f"http://127.0.0.1:{here.server_port}", session, "admin", "pw-123456")
        session.get(f"http://127.0.0.1:{here.server_port}/old", auth=source.auth, timeout=10)
        with _serve(_redirector(f"http://127.0.0.2:{other_server.server_port}")) as front:
            session.get(f"http://127.0.0.1:{front.server_port}/x", auth=source.auth, timeout=10)
            session.put(f"http://127.0.0.1:{front.server_port}/pkg", data=b"{}", timeout=10,
                        headers={"Authorization": "Basic YXdzOnRva2Vu"})
        # Another port on the same address is another server too.
        with _serve(_redirector(f"http://127.0.0.1:{here.server_port}")) as front:
            session.get(f"http://127.0.0.1:{front.server_port}/x", auth=source.auth, timeout=10)
    assert [h.get("Authorization", "").split(" ")[0] for h in same.seen] == ["Basic", ""]
    assert len(elsewhere.seen) == 2 and all("Authorization" not in h for h in elsewhere.seen)


def test_a_download_locator_on_another_host_is_refused_before_sending_credentials(tmp_path):
    recorder = _Recorder(b"data")
    with _serve(recorder, host="127.0.0.2") as elsewhere:
        source = NexusSource("http://127.0.0.1:9", make_session(), "admin", "pw-123456")
        from ferry.errors import ItemError

        with pytest.raises(ItemError, match="is not on the source host; not sending credentials there"):
            source.open_locator(f"http://127.0.0.2:{elsewhere.server_port}/repository/x/a.tgz", "x")
    assert recorder.seen == []


@pytest.mark.parametrize("kind", ["nexus", "artifactory"])
def test_packuments_are_asked_for_as_npm_asks_and_either_answer_gives_the_tags(kind):
    """The dist-tags read asks for the abbreviated packument, as npm does (a large package's full one
    can be tens of MB); a registry that has one answers with it, one that has not with the full
    document: both carry dist-tags."""
    import json

    from ferry.sources.artifactory import ArtifactorySource
    from ferry.sources.artifactory_http import make_auth

    abbreviated = {"name": "@acme/x", "modified": "2026-11-26T00:00:00.000Z", "dist-tags": {"latest": "1.0.1"},
                   "versions": {"1.0.1": {"name": "@acme/x", "version": "1.0.1", "dist": {"tarball": "t"}}}}
    full = {**abbreviated, "dist-tags": {"latest": "2.0.0", "beta": "3.0.0-b.1"}, "readme": "x" * 1000, "time": {}}
    for doc, tags in ((abbreviated, {"latest": "1.0.1"}), (full, {"latest": "2.0.0", "beta": "3.0.0-b.1"})):
        recorder = _Recorder(json.dumps(doc).encode())
        with _serve(recorder) as server:
            base = f"http://127.0.0.1:{server.server_port}"
            if kind == "nexus":
                source = NexusSource(base, make_session(), "admin", "pw-123456")
            else:
                source = ArtifactorySource(base + "/artifactory", make_session(), make_auth("admin", "pw-123456", None))
            assert source.dist_tags("npm-internal", "@acme/x") == tags
        assert recorder.seen[-1]["Accept"].startswith("application/vnd.npm.install-v1+json")
        assert "application/json" in recorder.seen[-1]["Accept"]


def test_a_nexus_password_beyond_ascii_signs_in(sandbox):
    """Basic credentials travel as UTF-8 (RFC 7617), as Nexus decodes them: a password with an umlaut was
    sent as Latin-1 and refused, one with a euro sign stopped the run as an unexpected error."""
    from dataclasses import replace

    app = sandbox.apps["nexus"]
    for password in ("p\u00e4ssw\u00f6rd-123", "pass\u20acword-123"):
        app.config = replace(app.config, users={"admin": password})
        source = NexusSource(sandbox.urls()["nexus"], make_session(), "admin", password)
        assert "maven-releases" in source.repositories()


def test_a_ca_bundle_that_is_not_there_stops_replicate_config_only_too(tls_world, capsys):
    """--config-only talks to CodeArtifact alone (no session of ferry's own reads the file): the missing
    bundle is the same one line, exit 2, before anything is asked."""
    from replicate_helpers import write_replica_job

    missing = tls_world["tmp"] / "no-such-ca.pem"
    job = write_replica_job(tls_world["tmp"] / "replica.toml", tls_world["urls"]["codeartifact"],
                            [("packages", "packages")])
    assert ferry("replicate", str(job), "--config-only", "--dry-run", "--ca-bundle", str(missing)) == 2
    (line,) = _lines(capsys)
    assert line == f"ferry: error: --ca-bundle {missing}: cannot read it (No such file or directory); give a PEM " \
                   "file of CA certificates"


@pytest.mark.parametrize("variable", ["AWS_ENDPOINT_URL_CODEARTIFACT", "AWS_ENDPOINT_URL"])
def test_a_plain_http_endpoint_from_the_environment_is_refused_like_one_in_the_job(tmp_path, capsys, monkeypatch,
                                                                                  variable):
    """The endpoint gets the authorization tokens whether the job or the environment names it (the
    stand-ins' notes set AWS_ENDPOINT_URL_CODEARTIFACT): plain http to another host needs --allow-http."""
    from e2e_helpers import aws_env

    aws_env(monkeypatch, tmp_path)
    monkeypatch.delenv("AWS_ENDPOINT_URL_CODEARTIFACT", raising=False)
    monkeypatch.setenv(variable, "http://codeartifact.example.com")
    job = tmp_path / "job.toml"
    job.write_text('[source]\nkind = "codeartifact"\ndomain = "acme"\nregion = "eu-west-1"\n\n[target]\n'
                   'domain = "acme"\nregion = "us-east-1"\n\n[[repositories]]\nsource = "packages"\n'
                   'target = "packages"\n')
    for argv in (["audit", str(job), "--state", str(tmp_path / "a.db")],
                 ["replicate", str(job), "--state", str(tmp_path / "r.db")],
                 ["replicate", str(job), "--config-only", "--dry-run"]):
        assert ferry(*argv) == 2, argv
        line = _lines(capsys)[-1]
        assert "codeartifact.example.com is reached over plain http; use https or pass --allow-http" in line, line
        assert variable in line or "AWS_ENDPOINT_URL" in line
    assert not (tmp_path / "a.db").exists() and not (tmp_path / "r.db").exists()


@pytest.mark.parametrize("status", [401, 404])
def test_a_target_endpoint_that_is_not_codeartifact_is_one_line_naming_it(tmp_path, capsys, monkeypatch, status):
    """endpoint_url pointing at another server (Nexus, a proxy's page) answers without an AWS error type:
    one line saying so and what to check, not an 'unexpected ClientError ... report it'."""
    from e2e_helpers import aws_env

    aws_env(monkeypatch, tmp_path)

    @Request.application
    def not_codeartifact(request):
        return Response("Unauthorized" if status == 401 else "", status=status)

    with _serve(not_codeartifact) as server:
        url = f"http://127.0.0.1:{server.server_port}"
        job = tmp_path / "job.toml"
        job.write_text('[source]\nkind = "codeartifact"\ndomain = "acme"\nregion = "eu-west-1"\n'
                       f'url = "{url}"\n\n[target]\ndomain = "acme"\nregion = "us-east-1"\nendpoint_url = "{url}"\n\n'
                       '[[repositories]]\nsource = "packages"\ntarget = "packages"\n')
        assert ferry("audit", str(job), "--state", str(tmp_path / "a.db")) == 3
    (line,) = _lines(capsys)
    # The source (a CodeArtifact source's url) is asked first.
    assert line == (f"ferry: error: describe_repository: the source endpoint {url} does not answer like "
                    f"CodeArtifact (HTTP {status}); check [source] region and url")


def test_an_unreachable_codeartifact_source_names_its_url_key(tmp_path, capsys):
    """A CodeArtifact source's endpoint is [source] url (there is no [source] endpoint_url): the line for an
    unreachable one must name the key the operator can fix, as the one for a server that is not CodeArtifact does."""
    job = tmp_path / "job.toml"
    job.write_text('[source]\nkind = "codeartifact"\ndomain = "acme"\nregion = "eu-west-1"\n'
                   'url = "http://127.0.0.1:9"\n\n[target]\ndomain = "acme"\nregion = "us-east-1"\n'
                   'endpoint_url = "http://127.0.0.1:9"\n\n[[repositories]]\nsource = "packages"\ntarget = "packages"\n')
    assert ferry("replicate", str(job), "--state", str(tmp_path / "r.db")) == 3
    (line,) = _lines(capsys)
    assert "CodeArtifact unreachable at source endpoint http://127.0.0.1:9" in line, line
    assert line.endswith("check [source] region and url"), line
