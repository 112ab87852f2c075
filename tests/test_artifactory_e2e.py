"""Artifactory → CodeArtifact end to end on the stand-ins: packages deployed the way CI does (PUT with
properties and checksum headers), audited, migrated, verified, then installed by real npm and pip."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from urllib.parse import quote

import pytest
import requests

import clients
from artifactory_helpers import report, write_job
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import npm_tarball, sdist, wheel

REPOS = [
    {"source": "npm-local", "target": "npm-store"},
    {"source": "pypi-local", "target": "pypi-store"},
    {"source": "generic-local", "target": "generic-store", "namespace": "tools"},
]


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
    # Basic auth with a token as the password (ferry registers the value for redaction process-wide, and
    # the stand-in's default password is a common word)
    monkeypatch.setenv("ARTIFACTORY_PASSWORD", seeder.token())
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


def test_audit_migrate_verify_and_a_rerun_publishes_nothing(world, capsys):
    ca, state, files = world["ca"], str(world["state"]), world["files"]
    assert ferry("audit", str(world["job"]), "--state", state) == 0
    assert ca.list_packages(domain="acme", repository="npm-store")["packages"] == []
    assert report(state)["states"] == {"planned": 9}

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
    assert report(state)["states"] == {"same": 9}


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_real_npm_and_pip_install_what_was_migrated(world):
    ca, tmp, files = world["ca"], world["tmp"], world["files"]
    # CI publishing with npm itself, through Artifactory's npm API
    art_registry = f"{world['urls']['artifactory']}/api/npm/npm-local/"
    publisher, package = tmp / "publisher", tmp / "cli-tool"
    clients.npm_login(publisher, art_registry, os.environ["ARTIFACTORY_TOKEN"])
    package.mkdir()
    (package / "package.json").write_text(json.dumps({"name": "@acme/cli-tool", "version": "0.1.0",
                                                      "bin": {"acme-cli": "cli.js"}}))
    (package / "cli.js").write_text("#!/usr/bin/env node\nconsole.log('acme');\n")
    clients.npm(publisher, art_registry, "publish", cwd=package)
    # and with twine, through Artifactory's PyPI API
    built = tmp / "dist"
    built.mkdir()
    twine_name, twine_data = wheel("acme-cli-py", "0.2.0")
    (built / twine_name).write_bytes(twine_data)
    env = {**clients.clean_pip_env(), "TWINE_USERNAME": "admin", "TWINE_PASSWORD": "password",
           "TWINE_NON_INTERACTIVE": "1"}
    uploaded = subprocess.run([sys.executable, "-m", "twine", "upload", "--disable-progress-bar", "--repository-url",
                               f"{world['urls']['artifactory']}/api/pypi/pypi-local", str(built / twine_name)],
                              env=env, capture_output=True, text=True)
    assert uploaded.returncode == 0, uploaded.stdout + uploaded.stderr

    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    registry = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    home, project = tmp / "npmhome", tmp / "project"
    clients.npm_login(home, registry, token)
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    clients.npm(home, registry, "install", "@acme/ui-kit@beta", "left-pad-acme", "@acme/cli-tool", cwd=project)
    assert (project / "node_modules/@acme/cli-tool/cli.js").read_text().endswith("console.log('acme');\n")
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
    clients.pip(index, "download", "--dest", str(dest), "acme-cli-py==0.2.0")
    assert (dest / twine_name).read_bytes() == twine_data


@pytest.mark.parametrize("auth", ["basic", "apikey"])
def test_audit_with_basic_credentials_or_an_api_key(world, monkeypatch, auth):
    seeder = world["seeder"]
    key = seeder.http.post(f"{world['urls']['artifactory']}/api/security/apiKey").json()["apiKey"]
    monkeypatch.setenv("ARTIFACTORY_API_KEY", key)
    job = write_job(world["tmp"] / f"{auth}.toml", world["urls"]["artifactory"], world["urls"]["codeartifact"],
                    REPOS, auth=auth)
    state = str(world["tmp"] / f"{auth}.db")
    assert ferry("audit", str(job), "--state", state) == 0
    assert report(state)["states"] == {"planned": 9}


def test_where_aql_is_refused_migrate_lists_through_the_storage_api(world, capsys):
    world["sandbox"].apps["artifactory"].configure(aql_refused=403)
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    err = capsys.readouterr().err
    assert "AQL is not available" in err and "storage API" in err
    assert ferry("verify", str(world["job"]), "--state", state) == 0
    assert report(state)["states"] == {"same": 9}


def test_remote_caches_only_when_named_and_the_audit_says_what_they_are(world, capsys):
    seeder, store = world["seeder"], world["sandbox"].apps["artifactory"].store
    seeder.create_repository("npmjs", "npm", rclass="remote", url="https://registry.npmjs.org")
    tgz = npm_tarball("is-odd-acme", "3.0.1")
    store.deploy("npmjs-cache", "is-odd-acme/-/is-odd-acme-3.0.1.tgz", store.blobs.put_bytes(tgz), "anonymous",
                 "application/x-tar", [("npm.name", "is-odd-acme"), ("npm.version", "3.0.1")])
    urls, tmp = world["urls"], world["tmp"]
    remote = write_job(tmp / "remote.toml", urls["artifactory"], urls["codeartifact"],
                       [{"source": "npmjs", "target": "npm-store"}])
    assert ferry("audit", str(remote), "--state", str(tmp / "r.db")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "npmjs-cache" in err[0] and "remote repository" in err[0]
    cache = write_job(tmp / "cache.toml", urls["artifactory"], urls["codeartifact"],
                      [{"source": "npmjs-cache", "target": "npm-store"}])
    assert ferry("migrate", str(cache), "--state", str(tmp / "c.db"), "--no-progress") == 0
    assert "copies of public packages" in capsys.readouterr().err
    assert set(_assets(world["ca"], "npm-store", "npm", "is-odd-acme", "3.0.1")) == {"package.tgz"}


def test_original_checksum_mismatches_are_reported_and_secrets_stay_out_of_output_and_ledger(world, capsys):
    seeder, urls, tmp = world["seeder"], world["urls"], world["tmp"]
    seeder.create_repository("trusting-local", checksumPolicyType="server-generated-checksums")
    requests.put(f"{urls['artifactory']}/trusting-local/tools/1.0/tool.bin", data=b"tool", auth=("admin", "password"),
                 headers={"X-Checksum-Sha1": "2" * 40}).raise_for_status()
    job = write_job(tmp / "trusting.toml", urls["artifactory"], urls["codeartifact"],
                    [{"source": "trusting-local", "target": "generic-store", "namespace": "tools"}])
    state = tmp / "trusting.db"
    assert ferry("migrate", str(job), "--state", str(state), "--no-progress") == 0
    out = capsys.readouterr()
    assert "originalChecksums" in out.err and "tools/1.0/tool.bin" in out.err
    assert _assets(world["ca"], "generic-store", "generic", "tools", "1.0", "tools") == {
        "tool.bin": hashlib.sha256(b"tool").hexdigest()}
    token = os.environ["ARTIFACTORY_TOKEN"]
    assert token not in out.out + out.err
    assert token.encode() not in state.read_bytes()


def test_a_packument_that_keeps_failing_is_asked_for_once_per_request_retry(world, monkeypatch):
    """The packument answers 503 past every retry: its versions fail, and the read was tried as often as the
    request retry allows, once (the source does not retry inside the engine's retry as well)."""
    from werkzeug.wrappers import Response

    from ferry import engine
    from ferry.retry import RetryPolicy

    fast = RetryPolicy(max_attempts=4, base_delay=0.001, max_delay=0.01, max_retry_after=0.01)
    monkeypatch.setattr(engine, "REQUEST", fast)
    app, asked = world["sandbox"].apps["artifactory"], []
    real = app._handle

    def handle(request, raw):
        if request.path.endswith("/api/npm/npm-local/left-pad-acme"):
            asked.append(request.path)
            return Response("Service Unavailable\n", status=503)
        return real(request, raw)

    monkeypatch.setattr(app, "_handle", handle)
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 1
    assert report(str(world["state"]))["states"] == {"confirmed": 7, "failed": 2}
    # Each read is tried as often as the request retry allows (not squared): one read per version of the
    # package, or one for both where their workers asked at once and shared its answer (Engine.package_facts_of).
    assert len(asked) in (fast.max_attempts, 2 * fast.max_attempts), asked


@pytest.mark.parametrize("password", ["p\u00e4ssw\u00f6rd-for-ferry", "pass\u20acword-for-ferry"])
def test_a_password_beyond_ascii_signs_in(world, monkeypatch, password):
    """Basic credentials travel as UTF-8 (RFC 7617; how Artifactory and Nexus decode them): a password with
    an umlaut was sent as Latin-1 and refused, one with a euro sign stopped the run as an unexpected error."""
    world["sandbox"].apps["artifactory"].configure(users={"admin": password})
    monkeypatch.setenv("ARTIFACTORY_PASSWORD", password)
    job = write_job(world["tmp"] / "basic.toml", world["urls"]["artifactory"], world["urls"]["codeartifact"],
                    REPOS, auth="basic")
    state = str(world["tmp"] / "basic.db")
    assert ferry("audit", str(job), "--state", state) == 0
    assert report(state)["states"] == {"planned": 9}


def test_a_token_that_cannot_be_one_is_a_usage_error(world, monkeypatch, capsys):
    monkeypatch.setenv("ARTIFACTORY_TOKEN", "t\u00f6ken\u20ac-for-ferry")
    assert ferry("audit", str(world["job"]), "--state", str(world["state"])) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "ARTIFACTORY_TOKEN" in line and "token_env" in line and "for-ferry" not in line


def test_verify_names_what_it_could_not_map(world, capsys):
    """A file no layout places keeps verify at exit 1 as it keeps migrate there: verify names it and why,
    as migrate does (it printed nothing but the count, having no missing, differing or extra files)."""
    world["seeder"].deploy("generic-local", "loose.bin", b"a file beside the layout")
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    capsys.readouterr()
    assert ferry("verify", str(world["job"]), "--state", state) == 1
    out = capsys.readouterr().out
    assert "1 item(s) could not be checked:" in out
    (line,) = [line for line in out.splitlines() if "loose.bin" in line]
    assert "[unmappable]" in line and "does not fit layout" in line



def test_files_whose_name_and_version_cannot_be_told_are_each_reported_with_their_reason(world):
    """Artifactory gives only paths, and a tarball or distribution its indexing cannot read has no
    properties: keyed by the file name, two such files in different folders were one item, reported as a
    clash of the two ("remove or exclude the other") though neither could be placed, and one row counted
    for both. Each is its own unmappable item, with why it cannot be placed."""
    seeder, state = world["seeder"], str(world["state"])
    for repo, name in (("npm-local", "build.tgz"), ("pypi-local", "dist.tar.gz")):
        seeder.deploy(repo, f"ci/a/{name}", b"not a package")
        seeder.deploy(repo, f"ci/b/{name}", b"not a package either")
        seeder.deploy(repo, f"ci/c/{name}", b"not a package either")  # the same bytes as ci/b's
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    failures = sorted((row["state"], row["reason"]) for row in report(state)["failures"])
    assert failures == sorted([("unmappable", f"cannot tell npm name and version from path 'ci/{f}/build.tgz'")
                               for f in "abc"] +
                              [("unmappable", f"cannot tell the PyPI name and version of 'ci/{f}/dist.tar.gz'")
                               for f in "abc"])



def test_a_distribution_artifactory_lists_without_its_name_is_not_taken_for_another_project(world):
    """Artifactory indexes PyPI files some time after they are deployed, so a version's sdist may have no
    pypi.* properties yet while its wheel has them: the sdist's name then comes from its file name, already
    normalized (acme-tools), which passed for a second project beside the wheel's Acme.Tools, and the whole
    version was unmappable ("keep one"), though both are files of one project."""
    from ferry.sandbox.seed import sdist

    seeder, state = world["seeder"], str(world["state"])
    files = [wheel("Acme.Tools", "1.0.0"), sdist("Acme.Tools", "1.0.0")]
    paths = [seeder.pypi("pypi-local", "Acme.Tools", "1.0.0", name, data) for name, data in files]
    resp = seeder.http.delete(f"{world['urls']['artifactory']}/api/storage/pypi-local/{paths[1]}",
                              params={"properties": "pypi.name,pypi.version,pypi.normalized.name"})
    assert resp.status_code == 204
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    assert _assets(world["ca"], "pypi-store", "pypi", "acme-tools", "1.0.0") == {
        name: hashlib.sha256(data).hexdigest() for name, data in files}

def test_two_files_that_map_to_one_asset_are_each_counted_and_named(world):
    """Dup.Name and dup_name are one PyPI project to CodeArtifact, and each folder holds a different
    dup_name-1.0-py3-none-any.whl. The first file's row said both were unmappable and the second file had no row:
    the repository counted one file fewer than the source holds. Each file is now its own unmappable row."""
    seeder, state = world["seeder"], str(world["state"])
    locators = []
    for name, summary in (("Dup.Name", "first"), ("dup_name", "second")):
        path = seeder.pypi("pypi-local", name, "1.0", *wheel(name, "1.0", summary=summary))
        locators.append(f"{world['urls']['artifactory']}/pypi-local/{path}")
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    data = report(state)
    pypi = next(g for g in data["repositories"] if g["source_repo"] == "pypi-local")
    assert pypi["files"] == 3 + 2 and pypi["states"] == {"confirmed": 3, "unmappable": 2}
    rows = sorted((f["key"], f["reason"]) for f in data["failures"])
    assert [key for key, _ in rows] == ["pypi:dup-name@1.0/(duplicate) " + locators[1],
                                        "pypi:dup-name@1.0/dup_name-1.0-py3-none-any.whl"]
    assert all(locators[0] in reason and locators[1] in reason for _, reason in rows)


@pytest.mark.parametrize("migrator, name", [("cargo", "x.crate"), ("ruby", "x.gem"), ("nuget", "x.nupkg"),
                                            ("swift", "x.zip")])
def test_every_format_keys_a_file_it_cannot_identify_by_its_path(migrator, name):
    from ferry.config import RepositoryMapping
    from ferry.migrators import MIGRATORS
    from ferry.sources.base import SourceFile

    mapping = RepositoryMapping(source="local", target="store", namespace="")
    found = [type(MIGRATORS[migrator])().identify(SourceFile("local", f"{folder}/{name}", f"http://a/local/{folder}/{name}"),
                                          mapping) for folder in ("a", "b")]
    assert all(item.unmappable for item in found)
    assert found[0].key != found[1].key

def test_a_download_refused_for_one_file_fails_that_file_not_the_run(world, monkeypatch):
    """Artifactory answers 403 for single files it will not hand out (Xray's download blocking of a vulnerable
    package, a permission on a path): that file fails with Artifactory's reason and the run goes on; it
    stopped the whole migration (exit 3) at the first such file."""
    from werkzeug.wrappers import Response

    app = world["sandbox"].apps["artifactory"]
    real = app._handle
    blocked = "/npm-local/left-pad-acme/-/left-pad-acme-1.0.0.tgz"
    reason = "Artifact download request rejected: left-pad-acme-1.0.0.tgz was not downloaded due to the download " \
             "blocking policy configured in Xray for npm-local."

    def handle(request, raw):
        if request.path.endswith(blocked):
            return Response(json.dumps({"errors": [{"status": 403, "message": reason}]}), status=403,
                            mimetype="application/json")
        return real(request, raw)

    monkeypatch.setattr(app, "_handle", handle)
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    out = report(state)
    assert out["states"] == {"confirmed": 8, "failed": 1}
    (failure,) = out["failures"]
    assert failure["key"] == "npm:left-pad-acme@1.0.0/package.tgz"
    assert "HTTP 403" in failure["reason"] and "download blocking policy configured in Xray" in failure["reason"]


def test_file_names_cannot_drive_the_terminal_through_notes_or_the_failure_list(world, capsys):
    """A file name is the source's text: its control characters (an OSC sequence setting the window title,
    which click leaves alone even off a terminal; on one it passes CSI too) reached the terminal raw in
    the original-checksum note and in the keys of the failure list."""
    seeder, urls, tmp = world["seeder"], world["urls"], world["tmp"]
    seeder.create_repository("trusting-local", checksumPolicyType="server-generated-checksums")
    name = "tools/1.0/\x1b]0;pwned\x07evil.bin"
    requests.put(f"{urls['artifactory']}/trusting-local/{quote(name)}", data=b"tool", auth=("admin", "password"),
                 headers={"X-Checksum-Sha1": "2" * 40}).raise_for_status()
    job = write_job(tmp / "trusting.toml", urls["artifactory"], urls["codeartifact"],
                    [{"source": "trusting-local", "target": "generic-store", "namespace": "tools"}])
    capsys.readouterr()
    assert ferry("migrate", str(job), "--state", str(tmp / "trusting.db"), "--no-progress") == 1
    out = capsys.readouterr()
    assert "originalChecksums" in out.err and "evil.bin" in out.err and "evil.bin" in out.out
    assert not any(ch in out.out + out.err for ch in "\x1b\x07")


def test_a_repository_of_a_format_ferry_cannot_migrate_says_what_to_do(world, capsys):
    """One line naming the repository and its format, and what to do: drop the mapping, or copy the files
    as generic packages (which a mapping with format = "generic" does)."""
    seeder, urls, tmp = world["seeder"], world["urls"], world["tmp"]
    seeder.create_repository("helm-local", "helm")
    seeder.deploy("helm-local", "acme-chart/1.0.0/acme-chart-1.0.0.tgz", b"chart")
    job = write_job(tmp / "helm.toml", urls["artifactory"], urls["codeartifact"],
                    [{"source": "helm-local", "target": "generic-store"}])
    capsys.readouterr()
    assert ferry("audit", str(job), "--state", str(tmp / "helm.db")) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "'helm-local' has format 'helm', which ferry cannot migrate" in line and 'format = "generic"' in line
    generic = write_job(tmp / "helm-generic.toml", urls["artifactory"], urls["codeartifact"],
                        [{"source": "helm-local", "target": "generic-store", "format": "generic",
                          "namespace": "charts"}])
    assert ferry("migrate", str(generic), "--state", str(tmp / "helm.db"), "--no-progress") == 0
    assert _assets(world["ca"], "generic-store", "generic", "acme-chart", "1.0.0", "charts") == {
        "acme-chart-1.0.0.tgz": hashlib.sha256(b"chart").hexdigest()}
