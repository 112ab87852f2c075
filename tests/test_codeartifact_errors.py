"""How ferry names CodeArtifact's errors (ferry.codeartifact.translate)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from ferry.codeartifact import translate


@pytest.mark.parametrize("operation, kind, needle", [
    ("publish_package_version", "PublishConflict", "the target already holds different content"),
    ("create_domain", "ItemError", "create_domain: CodeArtifact refused it as a conflict (Domain acme already exists)"),
])
def test_a_conflict_is_called_different_content_only_for_a_publish(operation, kind, needle):
    """A domain or repository that exists already, or a status changed meanwhile, is no difference of content."""
    err = ClientError({"Error": {"Code": "ConflictException", "Message": "Domain acme already exists"},
                       "ResponseMetadata": {"HTTPStatusCode": 409}}, operation)
    got = translate(err, operation)
    assert type(got).__name__ == kind and needle in str(got)
    assert ("different content" in str(got)) == (operation == "publish_package_version")


@pytest.mark.parametrize("side", ["source", "target"])
def test_refused_credentials_say_whose(side):
    """replicate and a CodeArtifact source hold two sets of credentials: the line says which one was refused."""
    err = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"},
                       "ResponseMetadata": {"HTTPStatusCode": 403}}, "ListPackages")
    got = str(translate(err, "list_packages", side, "https://codeartifact.example.com"))
    assert f"CodeArtifact refused the {side}'s credentials (AccessDeniedException)" in got
    assert got.endswith(f"check the AWS profile/role of [{side}]")


def test_a_connection_that_kept_breaking_off_is_told_as_such_not_as_a_bug(sandbox, tmp_path, monkeypatch, capsys):
    """CodeArtifact closing the connection before its answer (a reset) on every attempt ended the run with
    "unexpected ConnectionClosedError: ...; rerun with --debug for the details and report it", as if ferry had a
    bug: seen under injected faults, where a listing's five attempts all failed and the last was a reset. It is a
    failure that outlasted every retry, and the line says so, and to run again (exit 3 as before)."""
    from e2e_helpers import aws_env, ferry, write_job
    from ferry import engine
    from ferry.retry import RetryPolicy
    from ferry.sandbox.faults import FaultSpec
    from ferry.sandbox.seed import NexusSeeder

    aws_env(monkeypatch, tmp_path)
    monkeypatch.setattr(engine, "REQUEST", RetryPolicy(base_delay=0.001, max_delay=0.01))
    urls = sandbox.urls()
    NexusSeeder(urls["nexus"]).create_repository("npm", "npm-internal")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], [{"source": "npm-internal",
                                                                                  "target": "npm-store"}])
    sandbox.faults["codeartifact"].configure(FaultSpec(reset=1.0), seed=1)
    capsys.readouterr()
    assert ferry("migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress") == 3
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "unexpected" not in line and "ConnectionClosedError" in line, line
    assert line.endswith("it kept failing through every retry: run the same command again to resume"), line
