"""The AWS CLI (awscli from PyPI) against the CodeArtifact stand-in: listings (with the CLI's own
pagination) and ``aws codeartifact login`` for npm, pip and twine, whose written configuration must name
the stand-in's endpoint and a token its package endpoints accept."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from _codeartifact_helpers import ca_client, new_domain, new_repo, seed

pytestmark = pytest.mark.clients

VENV_BIN = Path(sys.executable).parent
AWS = VENV_BIN / "aws"


@pytest.fixture
def cli_env(tmp_path, module_sandbox):
    """Environment for CLI runs: fake credentials, config files and HOME under tmp, endpoint via env."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "aws-config").write_text("[default]\nregion = us-east-1\n")
    env = {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        "AWS_ACCESS_KEY_ID": "AKIDFERRYCLI",
        "AWS_SECRET_ACCESS_KEY": "fake-secret",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL_CODEARTIFACT": module_sandbox.urls()["codeartifact"],
        "NPM_CONFIG_USERCONFIG": str(home / "npmrc"),
        "PIP_CONFIG_FILE": str(home / "pip-env.conf"),
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    return env


def aws(env, *args: str) -> str:
    proc = subprocess.run([str(AWS), *args], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def seeded(module_sandbox):
    """A domain and repository with a few npm and pypi packages."""
    client = ca_client(module_sandbox)
    d = new_domain(client, "cli")
    r = new_repo(client, d, "cli-repo")
    for ns, name in (("acme", "ui"), (None, "left-pad"), (None, "lodash")):
        seed(module_sandbox, d, r, "npm", ns, name, "1.0.0", "package.tgz", name.encode())
    seed(module_sandbox, d, r, "pypi", None, "requests", "2.0", "requests-2.0.tar.gz", b"sdist")
    return d, r


def test_list_domains(cli_env, seeded, module_sandbox):
    d, _ = seeded
    # --endpoint-url on the command line works as well as the environment variable.
    out = json.loads(aws(cli_env, "codeartifact", "list-domains", "--endpoint-url",
                         module_sandbox.urls()["codeartifact"], "--output", "json"))
    assert d in [x["name"] for x in out["domains"]]


def test_list_packages_paginates(cli_env, seeded):
    d, r = seeded
    out = json.loads(aws(cli_env, "codeartifact", "list-packages", "--domain", d, "--repository", r,
                         "--page-size", "1", "--output", "json"))
    found = sorted((p["format"], p.get("namespace", ""), p["package"]) for p in out["packages"])
    assert found == [("npm", "", "left-pad"), ("npm", "", "lodash"), ("npm", "acme", "ui"), ("pypi", "", "requests")]
    npm_only = json.loads(aws(cli_env, "codeartifact", "list-packages", "--domain", d, "--repository", r,
                              "--format", "npm", "--namespace", "ac", "--output", "json"))
    assert [p["package"] for p in npm_only["packages"]] == ["ui"]


def _endpoint(module_sandbox, d, r, fmt):
    return f"{module_sandbox.urls()['codeartifact']}/d/{d}-111122223333/us-east-1/{fmt}/{r}/"


def _assert_token_accepted(module_sandbox, d, url: str, token: str, auth_style: str) -> None:
    assert module_sandbox.apps["codeartifact"].store.token_domain(token).name == d
    assert requests.get(url).status_code == 401
    if auth_style == "bearer":
        resp = requests.get(url, headers={"Authorization": f"Bearer {token}"})
    else:
        resp = requests.get(url, auth=("aws", token))
    assert resp.status_code != 401, resp.text


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_login_npm(cli_env, seeded, module_sandbox):
    d, r = seeded
    out = aws(cli_env, "codeartifact", "login", "--tool", "npm", "--domain", d, "--repository", r)
    endpoint = _endpoint(module_sandbox, d, r, "npm")
    assert endpoint in out
    npmrc = Path(cli_env["NPM_CONFIG_USERCONFIG"]).read_text()
    lines = dict(line.split("=", 1) for line in npmrc.splitlines() if "=" in line)
    assert lines["registry"] == endpoint
    parts = urlsplit(endpoint)
    token = lines[f"//{parts.netloc}{parts.path}:_authToken"]
    _assert_token_accepted(module_sandbox, d, endpoint + "left-pad", token, "bearer")


def test_login_pip(cli_env, seeded, module_sandbox):
    d, r = seeded
    aws(cli_env, "codeartifact", "login", "--tool", "pip", "--domain", d, "--repository", r,
        "--duration-seconds", "900")
    got = subprocess.run([str(VENV_BIN / "pip"), "config", "get", "global.index-url"], env=cli_env,
                         capture_output=True, text=True, timeout=60)
    assert got.returncode == 0, got.stderr
    index = urlsplit(got.stdout.strip())
    endpoint = urlsplit(_endpoint(module_sandbox, d, r, "pypi"))
    assert (index.scheme, index.hostname, index.port) == (endpoint.scheme, endpoint.hostname, endpoint.port)
    assert index.path == endpoint.path + "simple/"
    assert index.username == "aws"
    clean = f"{index.scheme}://{index.hostname}:{index.port}{index.path}"
    _assert_token_accepted(module_sandbox, d, clean, index.password, "basic")


def test_login_twine(cli_env, seeded, module_sandbox):
    d, r = seeded
    aws(cli_env, "codeartifact", "login", "--tool", "twine", "--domain", d, "--repository", r)
    pypirc = configparser.RawConfigParser()
    pypirc.read(Path(cli_env["HOME"]) / ".pypirc")
    section = pypirc["codeartifact"]
    endpoint = _endpoint(module_sandbox, d, r, "pypi")
    assert section["repository"] == endpoint
    assert section["username"] == "aws"
    _assert_token_accepted(module_sandbox, d, endpoint + "simple/", section["password"], "basic")
