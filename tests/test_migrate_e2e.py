"""Nexus → CodeArtifact for npm, PyPI and raw, end to end on the stand-ins, proven with real npm and pip."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3

import pytest

import clients
from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.sandbox.seed import NexusSeeder, npm_tarball, sdist, wheel

REPOS = [
    {"source": "npm-internal", "target": "npm-store"},
    {"source": "pypi-internal", "target": "pypi-store"},
    {"source": "raw-files", "target": "generic-store", "namespace": "tools"},
]


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("npm", "npm-internal")
    seeder.create_repository("pypi", "pypi-internal")
    seeder.create_repository("raw", "raw-files")
    files = {}
    for name, version in [("left-pad-acme", "1.0.0"), ("left-pad-acme", "1.1.0"), ("@acme/ui-kit", "2.1.0-beta.1"),
                          ("@acme/ui-kit", "2.0.0")]:
        files[(name, version)] = seeder.npm("npm-internal", name, version)
    seeder.npm_dist_tag("npm-internal", "@acme/ui-kit", "beta", "2.1.0-beta.1")
    for fname, data in [wheel("acme.billing_client", "0.9.0"), wheel("acme-utils", "1.2.3"),
                        sdist("acme-utils", "1.2.3")]:
        seeder.pypi("pypi-internal", fname, data)
        files[fname] = data
    seeder.raw("raw-files", "installer/3.4.0", {"installer.bin": b"\x7fELF installer 3.4.0", "notes.txt": b"n"})
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    return {"urls": urls, "ca": ca, "job": job, "files": files, "state": tmp_path / "ferry.db", "tmp": tmp_path,
            "seeder": seeder, "sandbox": sandbox}


def _assets(ca, repo, fmt, package, version, namespace=None):
    kw = {"namespace": namespace} if namespace else {}
    out = ca.list_package_version_assets(domain="acme", repository=repo, format=fmt, package=package,
                                         packageVersion=version, **kw)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def test_migrate_moves_everything_and_a_rerun_uploads_nothing(world, capsys):
    ca, state = world["ca"], str(world["state"])
    assert ferry("audit", str(world["job"]), "--state", state) == 0
    out = capsys.readouterr().out
    assert "copy" in out
    # audit published nothing
    assert ca.list_packages(domain="acme", repository="npm-store")["packages"] == []

    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    npm = _assets(ca, "npm-store", "npm", "ui-kit", "2.0.0", namespace="acme")
    assert npm == {"package.tgz": hashlib.sha256(world["files"][("@acme/ui-kit", "2.0.0")]).hexdigest()}
    pypi = _assets(ca, "pypi-store", "pypi", "acme-utils", "1.2.3")
    assert set(pypi) == {"acme_utils-1.2.3-py3-none-any.whl", "acme_utils-1.2.3.tar.gz"}
    generic = ca.describe_package_version(domain="acme", repository="generic-store", format="generic",
                                          namespace="tools", package="installer", packageVersion="3.4.0")
    assert generic["packageVersion"]["status"] == "Published"
    assert set(_assets(ca, "generic-store", "generic", "installer", "3.4.0", "tools")) == {"installer.bin",
                                                                                          "notes.txt"}
    capsys.readouterr()

    # Second run: everything is "same", nothing is published.
    store = world["sandbox"].apps["codeartifact"].store
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert ferry("verify", str(world["job"]), "--state", state) == 0
    report = json.loads(_report(state))
    assert report["states"].get("same", 0) == 9 and "planned" not in report["states"]


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_real_npm_and_pip_install_what_was_migrated(world):
    ca = world["ca"]
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    tmp = world["tmp"]

    registry = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    home, project = tmp / "npmhome", tmp / "project"
    clients.npm_login(home, registry, token)
    project.mkdir()
    (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
    clients.npm(home, registry, "install", "@acme/ui-kit@2.0.0", "left-pad-acme@1.0.0", cwd=project)
    tags = json.loads(clients.npm(home, registry, "view", "@acme/ui-kit", "dist-tags", "--json", cwd=project).stdout)
    assert tags == {"latest": "2.0.0", "beta": "2.1.0-beta.1"}
    lock = json.loads((project / "package-lock.json").read_text())
    for name, version in [("@acme/ui-kit", "2.0.0"), ("left-pad-acme", "1.0.0")]:
        entry = lock["packages"][f"node_modules/{name}"]
        assert entry["version"] == version
        tgz = world["files"][(name, version)]
        import base64
        assert entry["integrity"] == "sha512-" + base64.b64encode(hashlib.sha512(tgz).digest()).decode()
        installed = json.loads((project / "node_modules" / name / "package.json").read_text())
        assert installed["version"] == version

    endpoint = ca.get_repository_endpoint(domain="acme", repository="pypi-store", format="pypi")["repositoryEndpoint"]
    index = clients.with_basic_auth(endpoint, token) + "simple/"
    dest = tmp / "dl"
    clients.pip(index, "download", "--dest", str(dest), "--only-binary=:all:", "acme.billing-client==0.9.0",
                "acme_utils==1.2.3")
    for fname in ("acme_billing_client-0.9.0-py3-none-any.whl", "acme_utils-1.2.3-py3-none-any.whl"):
        assert (dest / fname).read_bytes() == world["files"][fname]
    target = tmp / "site"
    clients.pip(index, "install", "--target", str(target), "acme-utils==1.2.3")
    assert (target / "acme_utils" / "__init__.py").read_text() == "__version__ = '1.2.3'\n"


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_version_npm_deprecated_in_nexus_warns_when_installed_from_the_target(world):
    """Real ``npm deprecate`` against Nexus before the migration; ``npm install`` from the target then
    prints the same deprecation warning it prints from Nexus."""
    import base64

    tmp, ca = world["tmp"], world["ca"]
    nexus_registry = f"{world['urls']['nexus']}/repository/npm-internal/"
    nexus_home = tmp / "nexus-npm"
    nexus_home.mkdir()
    basic = base64.b64encode(b"admin:admin123").decode()
    (nexus_home / ".npmrc").write_text(f"registry={nexus_registry}\n{nexus_registry.split(':', 1)[1]}:_auth={basic}\n")
    clients.npm(nexus_home, nexus_registry, "deprecate", "left-pad-acme@1.0.0", "use 1.1.0", cwd=tmp)
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0

    registry = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    home = tmp / "npmhome"
    clients.npm_login(home, registry, ca.get_authorization_token(domain="acme")["authorizationToken"])
    for where, (npm_home, url) in {"nexus": (nexus_home, nexus_registry), "target": (home, registry)}.items():
        project = tmp / f"project-{where}"
        project.mkdir()
        (project / "package.json").write_text(json.dumps({"name": "consumer", "version": "1.0.0", "private": True}))
        out = clients.npm(npm_home, url, "install", "left-pad-acme@1.0.0", "left-pad-acme-two@npm:left-pad-acme@1.1.0",
                          cwd=project)
        assert "deprecated left-pad-acme@1.0.0: use 1.1.0" in out.stderr, (where, out.stderr)
        assert "1.1.0:" not in out.stderr


def test_a_different_version_already_in_the_target_is_a_conflict_left_untouched(world, capsys):
    ca, sandbox = world["ca"], world["sandbox"]
    store = sandbox.apps["codeartifact"].store
    domain = store.domain("us-east-1", None, "acme")
    repo = store.repository(domain, "npm-store")
    planted = npm_tarball("left-pad-acme", "1.1.0", body="module.exports = 'planted';\n")
    store.publish_asset(repo, "npm", None, "left-pad-acme", "1.1.0", "package.tgz",
                        store.blobs.put_bytes(planted), single_asset=True)
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    err = capsys.readouterr()
    assert "left-pad-acme@1.1.0" in err.out
    assert _assets(ca, "npm-store", "npm", "left-pad-acme", "1.1.0") == {
        "package.tgz": hashlib.sha256(planted).hexdigest()}
    # everything else arrived
    assert _assets(ca, "npm-store", "npm", "left-pad-acme", "1.0.0")
    report = json.loads(_report(state))
    assert report["states"]["conflict"] == 1
    (failure,) = report["failures"]
    assert failure["state"] == "conflict" and failure["target_sha256"] == hashlib.sha256(planted).hexdigest()
    assert failure["source_sha256"] == hashlib.sha256(world["files"][("left-pad-acme", "1.1.0")]).hexdigest()


def test_a_version_disposed_in_the_target_is_a_conflict_naming_the_way_out(world, capsys):
    """The runbook (section 7): a Disposed version has lost its assets and CodeArtifact allows only
    deleting it, so ferry plans a conflict saying so (audit, migrate, verify), instead of trying a publish
    the service refuses."""
    ca, state = world["ca"], str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    ca.dispose_package_versions(domain="acme", repository="npm-store", format="npm", package="left-pad-acme",
                                versions=["1.1.0"])
    capsys.readouterr()
    for command in ("audit", "migrate", "verify"):
        quiet = ["--no-progress"] if command == "migrate" else []
        assert ferry(command, str(world["job"]), "--state", state, *quiet) == 1
        rows = {f["key"]: f for f in json.loads(_report(state))["failures"]}
        assert list(rows) == ["npm:left-pad-acme@1.1.0/package.tgz"], (command, rows)
        row = rows["npm:left-pad-acme@1.1.0/package.tgz"]
        assert row["state"] == "conflict" and "Disposed in the target" in row["reason"]
        assert "delete the version there" in row["reason"]
    version = ca.describe_package_version(domain="acme", repository="npm-store", format="npm",
                                          package="left-pad-acme", packageVersion="1.1.0")["packageVersion"]
    assert version["status"] == "Disposed"


def test_missing_target_domain_is_a_usage_error_unless_create_missing(world, tmp_path, capsys):
    urls = world["urls"]
    job = write_job(tmp_path / "new.toml", urls["nexus"], urls["codeartifact"], REPOS, domain="fresh")
    state = str(tmp_path / "new.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "fresh" in err[0] and "--create-missing" in err[0]
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--create-missing") == 0
    assert {r["name"] for r in world["ca"].list_repositories_in_domain(domain="fresh")["repositories"]} == {
        "npm-store", "pypi-store", "generic-store"}


@pytest.mark.parametrize("text, needle", [
    ("[source\nkind = 'nexus'", "TOML"),
    ("[source]\nkind = 'nexus'\nurl = 'http://127.0.0.1:1'\n[target]\ndomain = 'acme'\n", "repositories"),
    ("[source]\nkind = 'nexsus'\n", "kind"),
])
def test_malformed_job_files_exit_2_with_one_line(tmp_path, capsys, text, needle):
    job = tmp_path / "bad.toml"
    job.write_text(text)
    assert ferry("migrate", str(job), "--state", str(tmp_path / "x.db")) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0] and "Traceback" not in err[0]
    assert not (tmp_path / "x.db").exists()


def _report(state: str) -> str:
    from ferry.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return result.output


def test_origin_controls_blocking_publish_are_reported_or_lifted_on_request(world, capsys):
    ca, state = world["ca"], str(world["state"])
    ca.put_package_origin_configuration(domain="acme", repository="npm-store", format="npm",
                                        package="left-pad-acme",
                                        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    out = capsys.readouterr().out
    assert "origin controls block publishing" in out and "--origin-policy allow-publish" in out
    versions = ca.list_package_versions(domain="acme", repository="npm-store", format="npm",
                                        package="left-pad-acme")["versions"]
    assert versions == []

    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress",
                 "--origin-policy", "allow-publish") == 0
    captured = capsys.readouterr()
    assert "publish=ALLOW, upstream=BLOCK" in captured.err
    restrictions = ca.describe_package(domain="acme", repository="npm-store", format="npm",
                                       package="left-pad-acme")["package"]["originConfiguration"]["restrictions"]
    assert restrictions == {"publish": "ALLOW", "upstream": "BLOCK"}
    assert set(_assets(ca, "npm-store", "npm", "left-pad-acme", "1.1.0")) == {"package.tgz"}


def test_a_token_that_expires_mid_run_is_refreshed(world, capsys):
    store = world["sandbox"].apps["codeartifact"].store
    # Tokens live 0.3 s whatever ferry asks for, and every request takes 40 ms: the run outlives many tokens.
    world["sandbox"].set_faults("token_ttl=300ms,latency=40ms", seed=1)
    issued_before = store.query("SELECT COUNT(*) AS n FROM tokens")[0]["n"]
    assert ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress",
                 "--workers", "2") == 0
    issued = store.query("SELECT COUNT(*) AS n FROM tokens")[0]["n"] - issued_before
    assert issued >= 2
    world["sandbox"].set_faults(None)
    assert ferry("verify", str(world["job"]), "--state", str(world["state"])) == 0


def test_an_error_of_a_listing_that_is_not_a_key_listed_twice_is_not_blamed_on_the_mapping(world, monkeypatch,
                                                                                               capsys):
    """Any ValueError of the plan (botocore's, when it could not read a throttled answer's Retry-After) was
    reported as a key listed twice, exit 2: 'repository ...: ...; map them to different targets or exclude one'."""
    from ferry import plan as planning

    def unreadable(*args, **kwargs):
        raise ValueError("invalid literal for int() with base 10: '0.4'")

    monkeypatch.setattr(planning, "compare", unreadable)
    code = ferry("migrate", str(world["job"]), "--state", str(world["state"]), "--no-progress")
    err = capsys.readouterr().err
    assert code == 3
    assert "unexpected ValueError: invalid literal for int()" in err and "map them" not in err


def test_verify_reports_missing_differing_and_extra_items(world, capsys):
    ca, state, store = world["ca"], str(world["state"]), world["sandbox"].apps["codeartifact"].store
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    domain = store.domain("us-east-1", None, "acme")
    npm_repo, pypi_repo = store.repository(domain, "npm-store"), store.repository(domain, "pypi-store")
    # missing: delete a version; extra: a version only the target has
    ca.delete_package_versions(domain="acme", repository="npm-store", format="npm", package="left-pad-acme",
                               versions=["1.0.0"])
    store.publish_asset(npm_repo, "npm", None, "left-pad-acme", "9.9.9", "package.tgz",
                        store.blobs.put_bytes(npm_tarball("left-pad-acme", "9.9.9")), single_asset=True)
    # differing: replace a wheel's bytes in the stand-in's storage behind its back (a corrupted target)
    row = store.query("SELECT a.sha256 FROM assets a JOIN versions v ON v.id = a.version_id JOIN packages p ON "
                      "p.id = v.package_id WHERE p.repo_id = ? AND a.name = 'acme_utils-1.2.3.tar.gz'",
                      (pypi_repo.id,))[0]
    store.query("UPDATE assets SET sha256 = ? WHERE sha256 = ?", ("0" * 64, row["sha256"]))
    capsys.readouterr()
    assert ferry("verify", str(world["job"]), "--state", state) == 1
    out = capsys.readouterr().out
    missing = out.split("missing in the target (1):")[1].splitlines()[1]
    assert "npm:left-pad-acme@1.0.0/package.tgz" in missing
    assert "npm:left-pad-acme@9.9.9/package.tgz" in out.split("extra in the target (1):")[1]
    assert "pypi:acme-utils@1.2.3/acme_utils-1.2.3.tar.gz" in out.split("differing in the target (1):")[1]
    report = json.loads(_report(state))
    assert {k: len(v) for k, v in report["differences"].items()} == {"missing": 1, "differing": 1, "extra": 1}


def test_verify_fails_for_a_wheel_the_target_holds_beyond_the_sources_version(world, capsys):
    """acme-utils 1.2.3 in the target gains a wheel the source's 1.2.3 lacks: that version differs. A
    signature file beside it is never a PyPI item, so it is only listed as extra."""
    state, store = str(world["state"]), world["sandbox"].apps["codeartifact"].store
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    pypi_repo = store.repository(store.domain("us-east-1", None, "acme"), "pypi-store")
    fname = "acme_utils-1.2.3-py2-none-any.whl"  # the store takes the name as given: the bytes need not say py2
    store.publish_asset(pypi_repo, "pypi", None, "acme-utils", "1.2.3", fname,
                        store.blobs.put_bytes(wheel("acme-utils", "1.2.3")[1]))
    store.publish_asset(pypi_repo, "pypi", None, "acme-utils", "1.2.3", "acme_utils-1.2.3.tar.gz.asc",
                        store.blobs.put_bytes(b"-----BEGIN PGP SIGNATURE-----"))
    capsys.readouterr()
    assert ferry("verify", str(world["job"]), "--state", state) == 1
    out = capsys.readouterr().out
    differing = out.split("differing in the target (1):")[1].split("\n\n")[0].strip()
    assert differing == (f"pypi:acme-utils@1.2.3/{fname} -> pypi-store  (the target's 1.2.3 holds {fname}, which "
                         "the source's 1.2.3 does not)")
    assert "pypi:acme-utils@1.2.3/acme_utils-1.2.3.tar.gz.asc" in out.split("extra in the target (1):")[1]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0


def test_filters_select_packages_and_dates(world):
    ca, state = world["ca"], str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--include", "@acme/*",
                 "--include", "acme-utils") == 0
    npm = {p["package"] for p in ca.list_packages(domain="acme", repository="npm-store")["packages"]}
    pypi = {p["package"] for p in ca.list_packages(domain="acme", repository="pypi-store")["packages"]}
    assert (npm, pypi) == ({"ui-kit"}, {"acme-utils"})
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--exclude", "left-pad-acme@1.1.*",
                 "--since", "2000-01-01") == 0
    versions = ca.list_package_versions(domain="acme", repository="npm-store", format="npm",
                                        package="left-pad-acme")["versions"]
    assert [v["version"] for v in versions] == ["1.0.0"]
    before = world["sandbox"].apps["codeartifact"].store.query("SELECT COUNT(*) AS n FROM assets")[0]["n"]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--since", "2999-01-01") == 0
    assert world["sandbox"].apps["codeartifact"].store.query("SELECT COUNT(*) AS n FROM assets")[0]["n"] == before


def test_raw_paths_that_do_not_fit_the_layout_are_listed_as_unmappable(world, capsys):
    world["seeder"].raw("raw-files", "loose", {"README.txt": b"not a package"})
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    report = json.loads(_report(state))
    assert report["states"]["unmappable"] == 1 and report["states"]["confirmed"] == 9
    with sqlite3.connect(state) as db:
        (reason,) = db.execute("SELECT reason FROM items WHERE state = 'unmappable'").fetchone()
    assert "loose/README.txt" in reason and "layout" in reason


def test_raw_files_whose_names_codeartifact_refuses_are_unmappable_and_their_version_still_arrives(world, capsys):
    """CodeArtifact takes only letters, digits, spaces and ``~!@^&()-`_+[]{};,.`` in a generic asset name: a
    file named otherwise is unmappable (with the character named), not a publish that fails on every run
    and leaves its version Unfinished, its other files invisible."""
    world["seeder"].raw("raw-files", "report/1.0", {"q3 50%.csv": b"a,b", "sum=total.txt": b"9", "notes.txt": b"n"})
    ca, state = world["ca"], str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    with sqlite3.connect(state) as db:
        reasons = dict(db.execute("SELECT asset, reason FROM items WHERE state = 'unmappable'").fetchall())
        assert db.execute("SELECT COUNT(*) FROM items WHERE state = 'failed'").fetchone() == (0,)
    assert set(reasons) == {"q3 50%.csv", "sum=total.txt"}
    assert "'%'" in reasons["q3 50%.csv"] and "'='" in reasons["sum=total.txt"]
    assert "report/1.0/q3 50%.csv" in reasons["q3 50%.csv"] and "rename" in reasons["q3 50%.csv"]
    version = ca.describe_package_version(domain="acme", repository="generic-store", format="generic",
                                          namespace="tools", package="report", packageVersion="1.0")
    assert version["packageVersion"]["status"] == "Published"
    assert set(_assets(ca, "generic-store", "generic", "report", "1.0", "tools")) == {"notes.txt"}

    store = world["sandbox"].apps["codeartifact"].store
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    assert store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0] == before


def test_filters_match_a_pypi_project_as_the_source_spells_it(world):
    """A job names a PyPI project as its users know it (``acme.billing_client``), not only as CodeArtifact
    normalizes it (``acme-billing-client``): an exclude that missed it would migrate what was excluded.
    And of two spellings that normalize together, one can be left out, as the clash's reason advises."""
    fname, data = wheel("Acme_Utils", "2.0")
    world["seeder"].pypi("pypi-internal", "Acme_Utils-2.0-py3-none-any.whl", data)
    world["seeder"].pypi("pypi-internal", *wheel("acme-utils", "2.0"))
    ca, state = world["ca"], str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--exclude", "acme.billing_client",
                 "--exclude", "Acme_Utils") == 0
    pypi = {p["package"] for p in ca.list_packages(domain="acme", repository="pypi-store")["packages"]}
    assert pypi == {"acme-utils"}
    assert set(_assets(ca, "pypi-store", "pypi", "acme-utils", "2.0")) == {"acme_utils-2.0-py3-none-any.whl"}
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--include",
                 "acme.billing_client") == 0
    pypi = {p["package"] for p in ca.list_packages(domain="acme", repository="pypi-store")["packages"]}
    assert pypi == {"acme-utils", "acme-billing-client"}


def test_a_filter_in_the_source_spelling_finds_the_target_copy_under_the_normalized_name(world, capsys):
    """The filters scope the target's side too, but the target knows a PyPI project only by its normalized name
    (``acme-billing-client``): matched by that alone, an include in the source's spelling left the target's copy
    out of the plan, so a rerun planned it as a copy again and verify called it missing (exit 1)."""
    ca, state = world["ca"], str(world["state"])
    spelled = ("--include", "acme.billing_client")
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", *spelled) == 0
    capsys.readouterr()
    assert ferry("audit", str(world["job"]), "--state", state, *spelled) == 0
    assert "actions: same 1\n" in capsys.readouterr().out
    job = write_job(world["tmp"] / "scoped.toml", world["urls"]["nexus"], world["urls"]["codeartifact"], REPOS,
                    extra='[options]\ninclude = ["acme.billing_client"]\n')
    assert ferry("verify", str(job), "--state", state) == 0
    # A version the globs leave out by the source's spelling stays out of the plan on the target's side too.
    world["seeder"].pypi("pypi-internal", *wheel("acme.billing_client", "1.0.0"))
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    capsys.readouterr()
    assert ferry("audit", str(world["job"]), "--state", state, *spelled, "--exclude", "acme.billing_client@1.*") == 0
    assert "actions: same 1\n" in capsys.readouterr().out


def test_both_spellings_of_a_pypi_version_count_as_unmappable_in_the_report(world):
    """The first spelling was planned as a copy before the second showed the clash: it must not stay counted
    as one (audit's and report's "actions" would promise a publish that never comes)."""
    world["seeder"].pypi("pypi-internal", "Acme_Utils-2.0-py3-none-any.whl", wheel("Acme_Utils", "2.0")[1])
    world["seeder"].pypi("pypi-internal", *wheel("acme-utils", "2.0"))
    state = str(world["state"])
    for command in (["audit"], ["migrate", "--no-progress"]):
        assert ferry(command[0], str(world["job"]), "--state", state, *command[1:]) == 1
        report = json.loads(_report(state))
        assert report["actions"] == {"copy": 9, "unmappable": 2}, command
        assert report["states"]["unmappable"] == 2


def test_every_raw_file_that_does_not_fit_the_layout_is_its_own_unmappable_item(world):
    """Files whose paths differ only in a ``/`` or ``_`` (``docs/readme.txt`` and ``docs_readme.txt``) are
    two items, each listed with its own path and reason: not one row, the other file dropped from every count,
    and a reason claiming two files map to one CodeArtifact asset."""
    for directory, name, data in [("docs", "readme.txt", b"same"), ("", "docs_readme.txt", b"same"),
                                  ("a", "b_c", b"one"), ("a_b", "c", b"two")]:
        world["seeder"].raw("raw-files", directory, {name: data})
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    report = json.loads(_report(state))
    assert report["states"] == {"confirmed": 9, "unmappable": 4}
    with sqlite3.connect(state) as db:
        reasons = [reason for (reason,) in db.execute("SELECT reason FROM items WHERE state = 'unmappable'")]
    assert sorted(reason.split("'")[1] for reason in reasons) == ["a/b_c", "a_b/c", "docs/readme.txt",
                                                                  "docs_readme.txt"]
    assert all("does not fit layout" in reason for reason in reasons)


def _old_sdist(name: str, version: str, mode: str) -> bytes:
    """A source distribution packed the way old setuptools could (``w:gz`` for ``.tgz``, ``w:bz2``)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tar:
        for path, data in {f"{name}-{version}/PKG-INFO": f"Metadata-Version: 1.0\nName: {name}\nVersion: "
                                                         f"{version}\n".encode(), f"{name}-{version}/setup.py": b""}.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_pypi_files_that_cannot_be_uploaded_are_unmappable_not_dropped_or_failed_each_run(world):
    """Old distribution formats (a ``.tgz`` or ``.tar.bz2`` sdist, an ``.egg``) are listed by Nexus, but the
    upload ferry sends (twine's) takes only .whl, .tar.gz and .zip: each is unmappable from the plan on, with
    what to do, rather than left out of every count (.tgz) or downloaded and failed on every run (.tar.bz2)."""
    for filename, mode in [("acme-old-1.0.tgz", "w:gz"), ("acme-old-1.1.tar.bz2", "w:bz2"),
                           ("acme-old-1.2.tar.gz", "w:gz")]:
        version = filename.split("-")[2].removesuffix(".tgz").removesuffix(".tar.bz2").removesuffix(".tar.gz")
        world["seeder"].pypi("pypi-internal", filename, _old_sdist("acme-old", version, mode))
    state = str(world["state"])
    assert ferry("audit", str(world["job"]), "--state", state) == 1
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    report = json.loads(_report(state))
    assert report["states"] == {"confirmed": 10, "unmappable": 2}
    with sqlite3.connect(state) as db:
        reasons = dict(db.execute("SELECT asset, reason FROM items WHERE state = 'unmappable'").fetchall())
    assert set(reasons) == {"acme-old-1.0.tgz", "acme-old-1.1.tar.bz2"}
    assert all("only .whl, .tar.gz and .zip" in reason and "rebuild" in reason for reason in reasons.values())
    assert _assets(world["ca"], "pypi-store", "pypi", "acme-old", "1.2") != {}


def test_include_and_exclude_scope_unmappable_files_too(world):
    """A pilot run (``--include '@acme/*'``) is not failed by files of packages it never meant to touch, and
    an ``--exclude`` leaves out a package's unmappable files as it leaves out the rest; without filters, every
    unmappable file is still reported."""
    world["seeder"].raw("raw-files", "loose", {"README.txt": b"not a package"})
    world["seeder"].pypi("pypi-internal", "acme-old-1.0.tgz", _old_sdist("acme-old", "1.0", "w:gz"))
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--include", "@acme/*") == 0
    assert json.loads(_report(state))["states"] == {"confirmed": 2}
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress", "--exclude", "acme-old",
                 "--exclude", "tools/loose/*") == 0
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 1
    assert json.loads(_report(state))["states"] == {"same": 9, "unmappable": 2}


def test_a_mapping_whose_source_lists_nothing_is_named_in_the_notes(world, capsys):
    """An empty source repository (a typo'd or wrong mapping) gets no row in the table: the run's notes
    name it, or a run that moved nothing from it would look like one with nothing left to do."""
    world["seeder"].create_repository("raw", "raw-empty")
    world["ca"].create_repository(domain="acme", repository="generic-empty")
    job = write_job(world["tmp"] / "empty.toml", world["urls"]["nexus"], world["urls"]["codeartifact"],
                    [*REPOS, {"source": "raw-empty", "target": "generic-empty", "namespace": "tools"}])
    capsys.readouterr()
    assert ferry("migrate", str(job), "--state", str(world["state"]), "--no-progress") == 0
    out = capsys.readouterr().err
    assert "raw-empty -> generic-empty: the source lists no generic files; if it should, check the mapping's " \
           "source repository" in out
    assert "npm-internal -> npm-store: the source lists" not in out
    capsys.readouterr()
    assert ferry("audit", str(world["job"]), "--state", str(world["state"]), "--include", "nothing-*") == 0
    out = capsys.readouterr().err
    assert "npm-internal -> npm-store: the source lists no npm files that include/exclude select" in out
    # The cut-over's last migrate with --since, the source frozen: nothing new is what is expected, not a
    # wrong mapping to check.
    assert ferry("audit", str(world["job"]), "--state", str(world["state"]), "--since", "2999-01-01") == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "npm-internal -> npm-store" in line]
    assert lines == ["note: npm-internal -> npm-store: the source lists no npm files published since 2999-01-01"]


def test_verify_says_why_a_file_the_target_holds_in_an_unfinished_version_is_missing(world, capsys):
    """The file is there, byte for byte, but its version is Unfinished (clients cannot see it): verify lists it
    as missing, and says why, or the operator would look for a file that is plainly in the target."""
    data = b"\x7fELF installer 3.4.0"
    world["ca"].publish_package_version(domain="acme", repository="generic-store", format="generic",
                                        namespace="tools", package="installer", packageVersion="3.4.0",
                                        assetContent=data, assetName="installer.bin",
                                        assetSHA256=hashlib.sha256(data).hexdigest(), unfinished=True)
    capsys.readouterr()
    assert ferry("verify", str(world["job"]), "--state", str(world["state"])) == 1
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "installer@3.4.0/installer.bin" in line)
    assert "identical asset present but the version is Unfinished in the target" in line
    assert not any("notes.txt" in line and "(" in line for line in out.splitlines())  # plain missing: no reason


def test_a_generic_file_found_in_an_unfinished_version_is_done_only_once_the_version_is_published(world):
    """The target holds one of the version's files, byte for byte, in an Unfinished version (an earlier run
    stopped between files): the run publishes the rest, which publishes the version, and only then writes
    the file found there done (``confirmed``: this run made it usable), never ``same`` before that."""
    data = b"\x7fELF installer 3.4.0"  # the world's installer 3.4.0 holds it and notes.txt
    world["ca"].publish_package_version(domain="acme", repository="generic-store", format="generic",
                                        namespace="tools", package="installer", packageVersion="3.4.0",
                                        assetContent=data, assetName="installer.bin",
                                        assetSHA256=hashlib.sha256(data).hexdigest(), unfinished=True)
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    version = world["ca"].describe_package_version(domain="acme", repository="generic-store", format="generic",
                                                   namespace="tools", package="installer", packageVersion="3.4.0")
    assert version["packageVersion"]["status"] == "Published"
    with sqlite3.connect(state) as db:
        rows = dict(db.execute("SELECT asset, state FROM items WHERE package = 'installer'").fetchall())
    assert rows == {"installer.bin": "confirmed", "notes.txt": "confirmed"}


@pytest.mark.parametrize("rates, shard, said", [
    ("", [], "at 10 publishes/s"),
    ("\n[options.rates]\npublish = 50\n", [], "at 50 publishes/s"),
    ("\n[options.rates]\npublish = 50\n", ["--shard", "1/2"], "at 25 publishes/s"),
    ("\n[options.rates]\npublish = 0\n", ["--shard", "1/2"], "at 5 publishes/s"),
    ("", ["--shard", "1/3"], "at 3.33 publishes/s"),  # the scale-out runbook's rehearsal: not 3.33333
], ids=["default", "raised-quota", "a-shards-share", "no-client-limit", "a-third"])
def test_the_estimate_uses_the_publish_rate_the_run_has(world, capsys, rates, shard, said):
    """After a quota raise ([options.rates] publish) or for one of N shards, 'about Ns at 10 publishes/s' misled."""
    job = write_job(world["tmp"] / "rates.toml", world["urls"]["nexus"], world["urls"]["codeartifact"], REPOS,
                    extra=rates)
    capsys.readouterr()
    assert ferry("audit", str(job), "--state", str(world["tmp"] / "rates.db"), *shard) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("estimate:")]
    assert line.endswith(said), line


def test_filters_scope_the_target_side_too(world, capsys):
    """A pilot run with --include looks at its packages on both sides: the target's other packages are not
    listed as only in the target (every one of them, on every filtered run)."""
    state = str(world["state"])
    assert ferry("migrate", str(world["job"]), "--state", state, "--no-progress") == 0
    capsys.readouterr()
    assert ferry("audit", str(world["job"]), "--state", state, "--include", "left-pad-acme") == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("actions:")]
    assert line == "actions: same 2"
    assert ferry("audit", str(world["job"]), "--state", state, "--exclude", "left-pad-acme@1.1.0") == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("actions:")]
    assert line == "actions: same 8"
