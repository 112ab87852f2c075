"""Helpers for end-to-end tests: job files, running the CLI in-process, target-side reads."""

from __future__ import annotations

import io
from pathlib import Path

import boto3
from botocore.config import Config

from ferry.cli import app
from ferry.cli._state import run_app

AWS_ENV = {"AWS_ACCESS_KEY_ID": "AKIAFERRYTEST", "AWS_SECRET_ACCESS_KEY": "ferry-test-secret-key",
           "AWS_DEFAULT_REGION": "us-east-1", "NEXUS_PASSWORD": "admin123"}


def aws_env(monkeypatch, tmp_path: Path) -> None:
    """Fake AWS credentials and no user config files, for boto3 and the CLI."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def codeartifact(url: str, region: str = "us-east-1"):
    return boto3.client("codeartifact", endpoint_url=url, region_name=region,
                        aws_access_key_id="AKIAFERRYTEST", aws_secret_access_key="ferry-test-secret-key",
                        config=Config(retries={"max_attempts": 1}))


def target_domain(url: str, repository: str, domain: str = "acme"):
    """A fresh domain with one repository in the CodeArtifact stand-in at ``url``; returns the boto3
    client and ferry's :class:`~ferry.codeartifact.Domain` for it."""
    from ferry.codeartifact import Domain

    ca = codeartifact(url)
    ca.create_domain(domain=domain)
    ca.create_repository(domain=domain, repository=repository)
    session = boto3.session.Session(aws_access_key_id="AKIAFERRYTEST", aws_secret_access_key="secret",
                                    region_name="us-east-1")
    return ca, Domain(domain, region="us-east-1", endpoint_url=url, session=session)


def write_job(path: Path, nexus_url: str, ca_url: str, repositories: list[dict], domain: str = "acme",
              extra: str = "") -> Path:
    lines = ["[source]", 'kind = "nexus"', f'url = "{nexus_url}"', 'username = "admin"',
             'password_env = "NEXUS_PASSWORD"', "", "[target]", f'domain = "{domain}"', 'region = "us-east-1"',
             f'endpoint_url = "{ca_url}"', ""]
    for repo in repositories:
        lines.append("[[repositories]]")
        lines += [f"{k} = \"{v}\"" for k, v in repo.items()]
        lines.append("")
    path.write_text("\n".join(lines) + extra)
    return path


def ferry(*argv: str) -> int:
    """Run the ferry CLI in this process; returns the exit code."""
    return run_app(app, list(argv))


def npm_job(sandbox, tmp_path: Path, monkeypatch, *packages: str) -> Path:
    """Fake AWS credentials, a Nexus npm repository ``npm-internal`` holding version 1.0.0 of each of
    ``packages``, and a job file mapping it to ``npm-store`` in the CodeArtifact stand-in; returns its path."""
    from ferry.sandbox.seed import NexusSeeder

    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("npm", "npm-internal")
    for package in packages:
        seeder.npm("npm-internal", package, "1.0.0")
    return write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                     [{"source": "npm-internal", "target": "npm-store"}])


def maven_world(sandbox, tmp_path: Path, monkeypatch, artifacts: dict) -> dict:
    """Fake AWS credentials, a Nexus Maven repository ``maven-internal`` holding ``artifacts`` (``{(group,
    artifact, version): files}``), domain ``acme`` with repository ``maven-store`` in the CodeArtifact stand-in,
    and a job file mapping one to the other; returns ``urls``, ``seeder``, ``ca`` (a boto3 client) and ``job``."""
    from ferry.sandbox.seed import NexusSeeder

    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("maven", "maven-internal")
    for (group, artifact, version), files in artifacts.items():
        seeder.maven("maven-internal", group, artifact, version, files)
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="maven-store")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "maven-internal", "target": "maven-store"}])
    return {"urls": urls, "seeder": seeder, "ca": ca, "job": job}


class ForwardOnly(io.RawIOBase):
    """A stream that can only be read forward (as an HTTP body), counting what was read from it (``taken``)."""

    def __init__(self, data: bytes):
        self._data, self.taken = data, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        chunk = self._data[self.taken:self.taken + len(buffer)]
        buffer[:len(chunk)] = chunk
        self.taken += len(chunk)
        return len(chunk)


def older_ledger(path: Path, schema: int) -> bytes:
    """A ledger at ``path`` as a ferry of schema ``schema`` leaves it, holding one finished ``migrate`` run;
    returns its bytes (to check that reading it changed nothing)."""
    import sqlite3

    from sqlite_utils import Database

    from ferry.state.migrations import migrate

    db = Database(sqlite3.connect(path))
    migrate(db, str(path), upto=schema)
    db.execute("INSERT INTO runs (command, job, started, ended, status, counts) VALUES "
               "('migrate', 'job.toml', '2026-01-01T00:00:00+00:00', '2026-01-01T00:01:00+00:00', 'ok', '{}')")
    db.conn.commit()
    db.close()
    return path.read_bytes()

