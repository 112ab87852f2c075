"""Helpers for the Artifactory end-to-end tests: job files for the Artifactory stand-in, the ledger's report."""

from __future__ import annotations

import json
from pathlib import Path


def write_job(path: Path, url: str, ca_url: str, repositories: list[dict], auth: str = "token",
              domain: str = "acme") -> Path:
    """A job file for the Artifactory stand-in; ``auth``: token (Bearer), basic (user + password), apikey."""
    source = {"token": ['token_env = "ARTIFACTORY_TOKEN"'],
              "basic": ['username = "admin"', 'password_env = "ARTIFACTORY_PASSWORD"'],
              "apikey": ['token_env = "ARTIFACTORY_API_KEY"']}[auth]
    lines = ["[source]", 'kind = "artifactory"', f'url = "{url}"', *source, "", "[target]", f'domain = "{domain}"',
             'region = "us-east-1"', f'endpoint_url = "{ca_url}"', ""]
    for repo in repositories:
        lines.append("[[repositories]]")
        lines += [f'{k} = "{v}"' for k, v in repo.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def report(state: str) -> dict:
    from typer.testing import CliRunner

    from ferry.cli import app

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)
