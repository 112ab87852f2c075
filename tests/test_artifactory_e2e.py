"""Artifactory → CodeArtifact end to end on the stand-ins: packages deployed the way CI does (PUT with
properties and checksum headers), audited, migrated, verified, then installed by real npm and pip."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
from pathlib import Path

import pytest

import clients
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import npm_tarball, sdist, wheel

REPOS = [
    {"source": "npm-local", "target": "npm-store"},
    {"source": "pypi-local", "target": "pypi-store"},
    {"source": "generic-local", "target": "generic-store", "namespace": "tools"},
]


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


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = ArtifactorySeeder(urls["artifactory"])
    seeder.create_repository("npm-local", "npm")
    seeder.create_repository("pypi-local", "pypi")
    seeder.create_repository("generic-local", "generic")
    files: dict = {}
    for name, version, style in [("left-pad-acme", "1.0.0", "npm"), ("left-pad-acme", "1.1.0", "npm"),
                                 ("@acme/ui-kit", "2.0.0", "npm"), ("@acme/ui-kit", "2.1.0-beta.1", "short")]:
        tgz = npm_tarball(name, version)
        seeder.npm("npm-local", name, version, tgz, scoped_style=style)
        files[(name, version)] = tgz
    seeder.dist_tag("npm-local", "@acme/ui-kit", "beta", "2.1.0-beta.1")
    for name, (fname, data) in [("acme.billing_client", wheel("acme.billing_client", "0.9.0")),
                                ("acme-utils", wheel("acme-utils", "1.2.3")),
                                ("acme-utils", sdist("acme-utils", "1.2.3"))]:
        version = "0.9.0" if "billing" in name else "1.2.3"
        seeder.pypi("pypi-local", name, version, fname, data)
        files[fname] = data
    for fname, data in [("installer.bin", b"\x7fELF installer 3.4.0"), ("notes.txt", b"n")]:
        seeder.deploy("generic-local", f"installer/3.4.0/{fname}", data, {"build.number": "42"})
        files[fname] = data
    monkeypatch.setenv("ARTIFACTORY_TOKEN", seeder.token())
    monkeypatch.setenv("ARTIFACTORY_PASSWORD", "password")
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    job = write_job(tmp_path / "job.toml", urls["artifactory"], urls["codeartifact"], REPOS)
    return {"urls": urls, "ca": ca, "job": job, "files": files, "state": tmp_path / "ferry.db", "tmp": tmp_path,
            "seeder": seeder, "sandbox": sandbox}


def _assets(ca, repo, fmt, package, version, namespace=None):
    kw = {"namespace": namespace} if namespace else {}
    out = ca.list_package_version_assets(domain="acme", repository=repo, format=fmt, package=package,
                                         packageVersion=version, **kw)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def _report(state: str) -> dict:
    from typer.testing import CliRunner

    from ferry.cli import app

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_audit_migrate_verify_and_a_rerun_publishes_nothing(world, capsys):
    ca, state, files = world["ca"], str(world["state"]), world["files"]
    assert ferry("audit", str(world["job"]), "--state", state) == 0
    assert ca.list_packages(domain="acme", repository="npm-store")["packages"] == []
    assert _report(state)["states"] == {"planned": 9}

    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    sha = lambda data: hashlib.sha256(data).hexdigest()  # noqa: E731
    assert _assets(ca, "npm-store", "npm", "ui-kit", "2.0.0", "acme") == {
        "package.tgz": sha(files[("@acme/ui-kit", "2.0.0")])}
    # the short path style (@scope/name/-/name-version.tgz) arrives under the same identity
    assert _assets(ca, "npm-store", "npm", "ui-kit", "2.1.0-beta.1", "acme") == {
        "package.tgz": sha(files[("@acme/ui-kit", "2.1.0-beta.1")])}
    assert _assets(ca, "npm-store", "npm", "left-pad-acme", "1.1.0") == {
        "package.tgz": sha(files[("left-pad-acme", "1.1.0")])}
    assert _assets(ca, "pypi-store", "pypi", "acme-utils", "1.2.3") == {
        "acme_utils-1.2.3-py3-none-any.whl": sha(files["acme_utils-1.2.3-py3-none-any.whl"]),
        "acme_utils-1.2.3.tar.gz": sha(files["acme_utils-1.2.3.tar.gz"])}
    assert set(_assets(ca, "pypi-store", "pypi", "acme-billing-client", "0.9.0")) == {
        "acme_billing_client-0.9.0-py3-none-any.whl"}
    assert _assets(ca, "generic-store", "generic", "installer", "3.4.0", "tools") == {
        "installer.bin": sha(files["installer.bin"]), "notes.txt": sha(files["notes.txt"])}
    store = world["sandbox"].apps["codeartifact"].store
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert ferry("verify", str(world["job"]), "--state", state) == 0
    report = _report(state)
    assert report["states"] == {"same": 9}


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_real_npm_and_pip_install_what_was_migrated(world):
    ca, tmp, files = world["ca"], world["tmp"], world["files"]
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    registry = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    home, project = tmp / "npmhome", tmp / "project"
    clients.npm_login(home, registry, token)
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    clients.npm(home, registry, "install", "@acme/ui-kit@beta", "left-pad-acme", cwd=project)
    lock = json.loads((project / "package-lock.json").read_text())
    # dist-tags followed the source: beta -> 2.1.0-beta.1, latest -> 1.1.0
    for name, version in [("@acme/ui-kit", "2.1.0-beta.1"), ("left-pad-acme", "1.1.0")]:
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        digest = hashlib.sha512(files[(name, version)]).digest()
        assert entry["integrity"] == "sha512-" + base64.b64encode(digest).decode()

    endpoint = ca.get_repository_endpoint(domain="acme", repository="pypi-store", format="pypi")["repositoryEndpoint"]
    index = clients.with_basic_auth(endpoint, token) + "simple/"
    target = tmp / "site"
    clients.pip(index, "install", "--target", str(target), "acme-utils==1.2.3")
    assert (target / "acme_utils" / "__init__.py").read_text() == "__version__ = '1.2.3'\n"
    dest = tmp / "dl"
    clients.pip(index, "download", "--dest", str(dest), "--only-binary=:all:", "acme.billing-client==0.9.0")
    fname = "acme_billing_client-0.9.0-py3-none-any.whl"
    assert (dest / fname).read_bytes() == files[fname]
