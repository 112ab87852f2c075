"""Cross-account replication through assume-role: STS from moto (in-process, STS only), CodeArtifact from
the stand-in. Every CodeArtifact request must be signed with the keys STS issued for the right role."""

from __future__ import annotations

import re
import sys

import pytest

moto = pytest.importorskip("moto")

from e2e_helpers import aws_env  # noqa: E402
from ferry import aws_roles  # noqa: E402
from ferry.config import load_job  # noqa: E402
from ferry.engine import Settings  # noqa: E402
from ferry.replicators.run import ReplicateOptions, replicate  # noqa: E402
from replicate_helpers import SOURCE_REGION, Seeder, differences, write_replica_job  # noqa: E402

SOURCE_ROLE = "arn:aws:iam::444455556666:role/ferry-source-reader"
TARGET_ROLE = "arn:aws:iam::777788889999:role/ferry-target-writer"
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


@pytest.fixture
def signed_keys(monkeypatch):
    """Records (role ARN, access key on the wire) for every CodeArtifact request of an assumed session."""
    seen: list[tuple[str, str]] = []
    real = aws_roles.assumed_session

    def recording(base, role_arn, region):
        session = real(base, role_arn, region)

        def on_request(request, **_kw):
            header = request.headers.get("Authorization") or b""
            found = _CREDENTIAL.search(header.decode() if isinstance(header, bytes) else header)
            seen.append((role_arn, found.group(1) if found else ""))

        session.events.register("before-send.codeartifact", on_request)
        return session

    monkeypatch.setattr(aws_roles, "assumed_session", recording)
    return seen


def test_replicate_across_accounts_with_assumed_roles(sandbox, tmp_path, monkeypatch, signed_keys):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "@acme/ui", "1.0.0")
    src.generic("packages", "tools", "installer", "1.0", {"installer.bin": b"bits"})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            extra_source=f'role_arn = "{SOURCE_ROLE}"', extra_target=f'role_arn = "{TARGET_ROLE}"',
                            options="create_missing = true")
    # CodeArtifact passes through to the stand-in; STS (and anything else AWS) is answered by moto.
    with moto.mock_aws(config={"core": {"passthrough": {"services": ["codeartifact"]}}}):
        from moto.sts.models import sts_backends

        outcome = replicate(load_job(job), Settings(ledger=tmp_path / "ferry.db"), ReplicateOptions())
        issued = {}
        for account in ("444455556666", "777788889999"):
            for role in sts_backends[account]["aws"].assumed_roles:
                issued[role.access_key_id] = role.role_arn
    assert outcome.exit_code == 0, outcome.problems
    assert differences(sandbox, (SOURCE_REGION, "acme", "packages"), ("us-east-1", "acme", "packages")) == []
    roles_used = {role for role, _key in signed_keys}
    assert roles_used == {SOURCE_ROLE, TARGET_ROLE}
    # Each request carried a key STS issued for that very role, never the caller's own key.
    assert all(issued.get(key) == role for role, key in signed_keys), signed_keys
    assert not any(key == "AKIAFERRYTEST" for _role, key in signed_keys)


def test_an_sts_that_does_not_answer_is_named_not_the_trust_policy(sandbox, tmp_path, monkeypatch, capsys):
    """No STS answer (here a closed port) is a network problem: the line names STS's address, exit 3, and
    does not send the operator to the role's trust policy, which was never asked."""
    from e2e_helpers import ferry

    aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # botocore's own retries of STS: none, the test need not wait
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            extra_target=f'role_arn = "{TARGET_ROLE}"', options="create_missing = true")
    assert ferry("replicate", str(job), "--state", str(tmp_path / "ferry.db")) == 3
    err = capsys.readouterr().err
    assert f"cannot assume role {TARGET_ROLE}: STS at http://127.0.0.1:9 did not answer" in err
    assert "trust policy" not in err


def test_a_refused_assume_role_points_to_the_trust_policy(sandbox, tmp_path, monkeypatch):
    """STS answering AccessDenied: the error names the code and the trust policy and permission to check."""
    from botocore.stub import Stubber

    aws_env(monkeypatch, tmp_path)
    base = aws_roles.boto3.session.Session(region_name="us-east-1")
    sts = base.client("sts", region_name="us-east-1")
    stubber = Stubber(sts)
    stubber.add_client_error("assume_role", service_error_code="AccessDenied", http_status_code=403)
    stubber.activate()
    monkeypatch.setattr(base, "client", lambda *a, **k: sts)
    provider = aws_roles._AssumeRoleProvider(base, TARGET_ROLE, "us-east-1")
    with pytest.raises(aws_roles.FatalError, match=r"\(AccessDenied\); check the role's trust policy"):
        provider._fetch()


def _lapsing_profile(tmp_path, lapsed):
    """Profile ``src`` whose credentials come from a credential_process, as an SSO session's do: good for five
    minutes (so botocore asks again before each use) until the file ``lapsed`` exists, then refused."""
    script = tmp_path / "credentials.py"
    script.write_text(
        "import datetime, json, pathlib, sys\n"
        f"if pathlib.Path({str(lapsed)!r}).exists():\n"
        "    sys.exit('Error loading SSO Token: Token for acme-sso does not exist')\n"
        "expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=5)\n"
        "print(json.dumps({'Version': 1, 'AccessKeyId': 'AKIALAPSING', 'SecretAccessKey': 'lapsing-secret',\n"
        "                  'SessionToken': 'lapsing-session', 'Expiration': expires.isoformat()}))\n")
    (tmp_path / "aws-config").write_text(f"[profile src]\ncredential_process = {sys.executable} {script}\n")


def test_source_credentials_that_cannot_be_loaded_or_lapse_mid_run_say_what_to_do(sandbox, tmp_path, monkeypatch,
                                                                                capsys):
    """An SSO session or credential_process that stops giving credentials is not a bug to report: before the
    run it is bad input (exit 2, no ledger), during it fatal (exit 3), and the line says to renew and rerun."""
    from e2e_helpers import ferry
    from ferry.replicators.repo_pass import RepoPass

    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "@acme/ui", "1.0.0")
    lapsed, state = tmp_path / "lapsed", tmp_path / "ferry.db"
    _lapsing_profile(tmp_path, lapsed)
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            extra_source='profile = "src"', options="create_missing = true")
    lapsed.touch()
    assert ferry("replicate", str(job), "--state", str(state)) == 2
    err = capsys.readouterr().err.strip()
    assert "AWS credentials for the source cannot be loaded" in err and "aws sso login" in err, err
    assert "report it" not in err and "\n" not in err and not state.exists()

    lapsed.unlink()
    scan = RepoPass.scan

    def lapsing(self, writer, target_exists):
        lapsed.touch()  # the session ends while the run lists the source
        return scan(self, writer, target_exists)

    monkeypatch.setattr(RepoPass, "scan", lapsing)
    assert ferry("replicate", str(job), "--state", str(state)) == 3
    *notes, err = capsys.readouterr().err.strip().splitlines()
    assert all(note.startswith("note: created ") for note in notes), notes  # what the stopped run made
    assert "AWS credentials for the source could not be refreshed" in err and "aws sso login" in err, err
    assert "rerun" in err and "report it" not in err and "\n" not in err


def test_an_assume_role_whose_own_credentials_lapsed_says_to_renew_them(tmp_path, monkeypatch):
    """The credentials a role is assumed with (an SSO profile) end mid-run: the error says to renew them, not
    that STS did not answer (it was never asked) or to check the network path to it."""
    aws_env(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    lapsed = tmp_path / "lapsed"
    _lapsing_profile(tmp_path, lapsed)
    provider = aws_roles._AssumeRoleProvider(aws_roles.boto3.session.Session(profile_name="src"), TARGET_ROLE,
                                             "us-east-1")
    with pytest.raises(aws_roles.FatalError, match="did not answer"):
        provider._fetch()  # the profile gives credentials; STS (a closed port here) does not answer
    lapsed.touch()
    with pytest.raises(aws_roles.FatalError) as caught:
        provider._fetch()
    assert f"cannot assume role {TARGET_ROLE}: the AWS credentials it is assumed with could not be refreshed" \
        in str(caught.value) and "aws sso login" in str(caught.value)
    assert "did not answer" not in str(caught.value)
