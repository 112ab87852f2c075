"""ferry migrate from a CodeArtifact source (another region of one stand-in): what the source's versions are
besides their files (statuses) arrives in the target too, verify sees where it does not, and versions with
nothing to read are reported."""

from __future__ import annotations

import shutil
import sqlite3
from contextlib import closing

import pytest

from e2e_helpers import aws_env, codeartifact, ferry
from ferry.replicators import batches
from replicate_helpers import SOURCE_REGION, TARGET_REGION, NpmClient, Seeder, snapshot, write_replica_job


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "@acme/ui", "1.0.0")
    src.npm("packages", "@acme/ui", "1.1.0")
    src.pypi("packages", "acme-utils", "1.0")
    src.generic("packages", "tools", "installer", "3.4.0", {"installer.bin": b"3.4.0", "notes.txt": b"n"})
    src.generic("packages", "tools", "installer", "3.5.0", {"installer.bin": b"3.5.0"})
    src.status("packages", "npm", "acme", "ui", "1.0.0", "Unlisted")
    src.status("packages", "pypi", None, "acme-utils", "1.0", "Archived")
    src.client.dispose_package_versions(domain="acme", repository="packages", format="generic", namespace="tools",
                                        package="installer", versions=["3.5.0"])
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            options="create_missing = true")
    return {"sandbox": sandbox, "src": src, "job": str(job), "state": str(tmp_path / "ferry.db"), "tmp": tmp_path,
            "target": codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)}


def statuses(world, region: str) -> dict:
    client = world["target"] if region == TARGET_REGION else world["src"].client
    return {k: v[0] for k, v in snapshot(client, "acme", "packages").items()}


def migrate(world) -> int:
    return ferry("migrate", world["job"], "--state", world["state"], "--no-progress")


def test_statuses_follow_the_source_and_verify_reports_a_difference(world, capsys):
    assert ferry("audit", world["job"], "--state", world["state"], "--create-missing") == 0
    assert "migrate would set 2 version status(es) as in the source (Archived 1, Unlisted 1)" in \
        capsys.readouterr().err
    assert migrate(world) == 0
    err = capsys.readouterr().err
    assert statuses(world, TARGET_REGION) == {
        ("generic", "tools", "installer", "3.4.0"): "Published",
        ("npm", "acme", "ui", "1.0.0"): "Unlisted",
        ("npm", "acme", "ui", "1.1.0"): "Published",
        ("pypi", "", "acme-utils", "1.0"): "Archived",
    }  # the Disposed 3.5.0 has no files to copy: reported, not created
    assert "set 2 version status(es) as in the source (Archived 1, Unlisted 1)" in err
    assert "packages: 1 generic version(s) Disposed in the source (their files are gone there; not copied)" in err
    with closing(sqlite3.connect(world["state"])) as db:
        # The source's status is kept; the target's is what the target now holds (None: absent when planned).
        assert sorted(db.execute("SELECT package, version, source_status, target_status FROM items "
                                 "WHERE format != 'generic'")) == [
            ("acme-utils", "1.0", "Archived", "Archived"), ("acme-utils", "1.0", "Archived", "Archived"),
            ("ui", "1.0.0", "Unlisted", "Unlisted"), ("ui", "1.1.0", "Published", None)]
    assert ferry("verify", world["job"], "--state", world["state"]) == 0

    # Someone publishes the Unlisted version again in the target: verify names the difference, and the next
    # migrate puts the source's status back without copying anything.
    target = world["target"]
    target.update_package_versions_status(domain="acme", repository="packages", format="npm", namespace="acme",
                                          package="ui", versions=["1.0.0"], targetStatus="Published")
    capsys.readouterr()
    assert ferry("verify", world["job"], "--state", world["state"]) == 1
    assert "version is Published in the target, Unlisted in the source" in capsys.readouterr().out
    assert ferry("audit", world["job"], "--state", world["state"]) == 0
    assert "migrate would set 1 version status(es) as in the source (Unlisted 1)" in capsys.readouterr().err
    assert migrate(world) == 0
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.0.0")] == "Unlisted"

    # The source changes a status after the migration: the next run follows it.
    world["src"].status("packages", "pypi", None, "acme-utils", "1.0", "Published")
    assert migrate(world) == 0
    assert statuses(world, TARGET_REGION)[("pypi", "", "acme-utils", "1.0")] == "Published"
    assert ferry("verify", world["job"], "--state", world["state"]) == 0


def test_a_status_the_target_refused_fails_the_run_and_the_next_run_sets_it(world, monkeypatch, capsys):
    def refused(domain, repository, fmt, namespace, package, versions, status):
        return batches.BatchResult(failed={v: "AccessDeniedException: not allowed" for v in versions})

    with monkeypatch.context() as patch:
        patch.setattr(batches, "set_status", refused)
        assert migrate(world) == 1
    with closing(sqlite3.connect(world["state"])) as db:
        failed = db.execute("SELECT package, version, reason FROM items WHERE state = 'failed'").fetchall()
    assert sorted(row[:2] for row in failed) == [("acme-utils", "1.0"), ("ui", "1.0.0")]
    assert all("status" in row[2] and "not set: AccessDeniedException" in row[2] for row in failed)
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.0.0")] == "Published"
    assert migrate(world) == 0
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.0.0")] == "Unlisted"
    assert statuses(world, TARGET_REGION)[("pypi", "", "acme-utils", "1.0")] == "Archived"


def test_versions_the_source_had_from_an_upstream_or_external_connection_are_counted(sandbox, tmp_path,
                                                                                        monkeypatch, capsys):
    """A version that came into the source repository through an upstream or an external connection becomes a
    direct publish in the target, whose origin controls then block upstream versions of the package: audit and
    migrate say how many, from where, and the ledger names each one."""
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("shared", "app")
    src.npm("shared", "@acme/base", "1.0.0")
    src.npm("app", "@acme/app", "2.0.0")
    src.npm("app", "lodash", "4.17.21")
    src.npm("app", "lodash", "4.17.20")
    # Read through the upstream: the version keeps the repository it entered the domain by, as the service does.
    src.client.copy_package_versions(domain="acme", sourceRepository="shared", destinationRepository="app",
                                     format="npm", namespace="acme", package="base", versions=["1.0.0"])
    store = sandbox.apps["codeartifact"].store
    with store.tx() as db:  # lodash was ingested from npmjs (the stand-in never fetches it)
        db.execute("UPDATE versions SET origin_type = 'EXTERNAL', entry_repo = 'public:npmjs' WHERE package_id IN "
                   "(SELECT id FROM packages WHERE name = 'lodash')")
    listed = src.client.list_package_versions(domain="acme", repository="app", format="npm", package="lodash")
    assert listed["versions"][0]["origin"] == {"originType": "EXTERNAL",
                                               "domainEntryPoint": {"externalConnectionName": "public:npmjs"}}
    job = str(write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("app", "app")],
                                options="create_missing = true"))
    state = str(tmp_path / "ferry.db")
    head = "app -> app: {} 3 version(s) of 2 package(s) the source had from elsewhere (external connection " \
           "public:npmjs 2, repository shared 1) as direct publishes"
    assert ferry("audit", job, "--state", state, "--create-missing") == 0
    assert head.format("would copy") in capsys.readouterr().err
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    err = capsys.readouterr().err
    assert head.format("copied") in err and "upstream=BLOCK" in err
    with closing(sqlite3.connect(state)) as db:
        assert sorted(db.execute("SELECT package, version, source_origin FROM items WHERE run_id = 2")) == [
            ("app", "2.0.0", None), ("base", "1.0.0", "upstream:shared"), ("lodash", "4.17.20", "external:public:npmjs"),
            ("lodash", "4.17.21", "external:public:npmjs")]
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0  # nothing copied: nothing to say
    assert "from elsewhere" not in capsys.readouterr().err


def test_a_version_removed_from_the_source_while_it_is_listed_is_left_out_not_fatal(sandbox, tmp_path, monkeypatch,
                                                                                  capsys):
    """A domain in use: a version deleted between ListPackageVersions and ListPackageVersionAssets is gone, not a
    reason to stop the whole run; the rest is copied and the notes say one was removed."""
    from ferry.sources.codeartifact import CodeArtifactSource

    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "left-pad-acme", "1.0.0")
    src.npm("packages", "left-pad-acme", "1.1.0")
    src.npm("packages", "right-pad-acme", "1.0.0")
    listed = CodeArtifactSource.versions

    def deleted_meanwhile(self, repository, fmt, namespace, package):
        versions = list(listed(self, repository, fmt, namespace, package))
        if package == "left-pad-acme":
            src.client.delete_package_versions(domain="acme", repository="packages", format="npm",
                                               package=package, versions=["1.0.0"])
        return iter(versions)

    monkeypatch.setattr(CodeArtifactSource, "versions", deleted_meanwhile)
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            options="create_missing = true")
    assert ferry("migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress") == 0
    assert "packages: 1 npm version(s) removed from the source while it was listed (not copied)" in \
        capsys.readouterr().err
    target = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    assert sorted(k[2:] for k in snapshot(target, "acme", "packages")) == [
        ("left-pad-acme", "1.1.0"), ("right-pad-acme", "1.0.0")]


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_a_version_published_again_and_deprecated_in_the_source_gets_both_in_one_run(world, capsys):
    """The status comes first: npm deprecation is set through the packument, which leaves out a version still
    Unlisted in the target, so the other order failed the version on every run and never set its status."""
    assert migrate(world) == 0
    world["src"].status("packages", "npm", "acme", "ui", "1.0.0", "Published")
    source = NpmClient(world["sandbox"], SOURCE_REGION, "packages", world["tmp"] / "npm-source")
    source.run("deprecate", "@acme/ui@1.0.0", "use 1.1.0")
    capsys.readouterr()
    assert migrate(world) == 0, capsys.readouterr().out
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.0.0")] == "Published"
    target = NpmClient(world["sandbox"], TARGET_REGION, "packages", world["tmp"] / "npm-target")
    assert target.deprecated("@acme/ui@1.0.0") == "use 1.1.0"
    assert ferry("verify", world["job"], "--state", world["state"]) == 0


@pytest.mark.parametrize("served", [True, False], ids=["archived-served", "archived-refused"])
def test_a_source_refusing_an_archived_versions_files_fails_that_version_and_says_what_to_do(
        world, monkeypatch, capsys, served):
    """Whether GetPackageVersionAsset serves an Archived version's files is not documented, so ferry takes both
    answers. Refused (ConflictException): the version's files fail with one reason saying why and what to do,
    the rest is copied, the exit code is 1, the refusal is not retried,
    and verify finds the version missing; set Unlisted in the source, the next run copies it, and set Archived
    again, the run after archives it in the target."""
    monkeypatch.setenv("FERRY_CA_ARCHIVED_ASSETS", "serve" if served else "refuse")
    sandbox = world["sandbox"]
    archived = ("pypi", "", "acme-utils", "1.0")
    if served:
        assert migrate(world) == 0
        assert statuses(world, TARGET_REGION)[archived] == "Archived"
        assert ferry("verify", world["job"], "--state", world["state"]) == 0
        return
    sandbox.quota.configure(sandbox.quota.spec)  # zero the request counters
    assert migrate(world) == 1
    out = capsys.readouterr().out
    # Six files, each asked for at most once: a refusal is not retried (a second file of the version refused
    # is usually not asked for at all, unless two workers ask at once).
    assert sandbox.quota.status()["operations"]["GetPackageVersionAsset"] <= 6
    with closing(sqlite3.connect(world["state"])) as db:
        failed = db.execute("SELECT package, version, asset, reason FROM items WHERE state = 'failed'").fetchall()
    assert sorted(row[:3] for row in failed) == [("acme-utils", "1.0", "acme_utils-1.0-py3-none-any.whl"),
                                                 ("acme-utils", "1.0", "acme_utils-1.0.tar.gz")]
    why = ("the source will not serve the files of a version Archived there (ConflictException); set it Unlisted "
           "in the source, run again, then set it Archived there again")
    assert all(why in row[3] for row in failed) and why in out
    assert archived not in statuses(world, TARGET_REGION)
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.0.0")] == "Unlisted"  # the rest went through
    assert ferry("verify", world["job"], "--state", world["state"]) == 1
    assert "pypi:acme-utils@1.0/acme_utils-1.0.tar.gz -> packages" in capsys.readouterr().out

    world["src"].status("packages", "pypi", None, "acme-utils", "1.0", "Unlisted")
    assert migrate(world) == 0
    assert statuses(world, TARGET_REGION)[archived] == "Unlisted"
    world["src"].status("packages", "pypi", None, "acme-utils", "1.0", "Archived")
    assert migrate(world) == 0
    assert statuses(world, TARGET_REGION)[archived] == "Archived"
    assert ferry("verify", world["job"], "--state", world["state"]) == 0


def test_replicate_of_an_archived_version_the_source_refuses_fails_it_and_a_same_domain_copy_needs_no_read(
        world, monkeypatch, capsys):
    """Across regions the refused version fails (exit 1) with the reason and the rest arrives; within one domain
    CopyPackageVersions moves it with no GetPackageVersionAsset, so the refusal never comes up."""
    monkeypatch.setenv("FERRY_CA_ARCHIVED_ASSETS", "refuse")
    assert ferry("replicate", world["job"], "--state", world["state"]) == 1
    out = capsys.readouterr().out
    assert "pypi:acme-utils@1.0/acme_utils-1.0.tar.gz -> packages  [failed] download " in out
    assert "will not serve the files of a version Archived there" in out
    assert statuses(world, TARGET_REGION)[("npm", "acme", "ui", "1.1.0")] == "Published"

    world["src"].client.create_repository(domain="acme", repository="prod")
    job = write_replica_job(world["tmp"] / "same.toml", world["sandbox"].urls()["codeartifact"],
                            [("packages", "prod")], target_region=SOURCE_REGION)
    assert ferry("replicate", str(job), "--state", str(world["tmp"] / "same.db")) == 0
    prod = {k: v[0] for k, v in snapshot(world["src"].client, "acme", "prod").items()}
    assert prod[("pypi", "", "acme-utils", "1.0")] == "Archived"
