"""ferry replicate between two regions of one CodeArtifact stand-in: full copy, incremental runs that
move only what changed, status sync, deletes only when asked, and the request bill of an idle run."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import sqlite3
from collections import Counter
from contextlib import closing

import boto3
import pytest

from e2e_helpers import aws_env, codeartifact, ferry
from ferry.config import load_job
from ferry.engine import Settings
from ferry.replicators.run import ReplicateOptions, replicate
from ferry.report import build_report, render_json, render_markdown, render_table
from ferry.state.reader import LedgerReader
from replicate_helpers import SOURCE_REGION, TARGET_REGION, NpmClient, Seeder, differences, dist_tags, \
    snapshot, write_replica_job

SRC = (SOURCE_REGION, "acme", "packages")
DST = (TARGET_REGION, "acme", "packages")


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "@acme/ui", "1.0.0")
    src.npm("packages", "@acme/ui", "1.1.0-beta.1", tags={"latest": "1.0.0", "beta": "1.1.0-beta.1"})
    src.npm("packages", "left-pad-acme", "1.0.0")
    src.pypi("packages", "acme-utils", "1.0")
    src.generic("packages", "tools", "installer", "3.4.0", {"installer.bin": b"\x7fELF 3.4.0", "notes.txt": b"n"})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            options="create_missing = true")
    return {"sandbox": sandbox, "src": src, "job": job, "state": tmp_path / "ferry.db"}


def run(world, **options):
    settings = Settings(ledger=world["state"])
    return replicate(load_job(world["job"]), settings, ReplicateOptions(**options))


def target_changes(sandbox) -> tuple:
    store = sandbox.apps["codeartifact"].store
    row = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    return row["n"], row["last"]


def test_first_run_copies_everything_with_zero_differences(world, capsys):
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"])) == 0
    out = capsys.readouterr().out
    assert differences(world["sandbox"], SRC, DST) == []
    assert "packages (full)" in out  # the first run of a repository is a full reconcile
    assert "requests:" in out and "ListPackages" in out


def test_verify_checks_a_replica_of_a_repository_holding_several_formats(world, sandbox, capsys):
    """The repository holds npm, PyPI and generic packages and its mapping names no format: verify plans every
    format it holds, against the one target repository, and finds a difference in any of them."""
    state = str(world["state"])
    assert ferry("replicate", str(world["job"]), "--state", state) == 0
    capsys.readouterr()
    assert ferry("verify", str(world["job"]), "--state", state) == 0
    with LedgerReader(state) as reader:
        assert Counter((r.format, r.state) for r in reader.items(None, None, "packages")) == Counter(
            {("npm", "same"): 3, ("pypi", "same"): 2, ("generic", "same"): 2})
    world["src"].generic("packages", "tools", "installer", "3.5.0", {"installer.bin": b"\x7fELF 3.5.0"})
    assert ferry("verify", str(world["job"]), "--state", state) == 1
    assert "generic:tools/installer@3.5.0/installer.bin" in capsys.readouterr().out


def test_the_ledger_file_alone_holds_the_run_once_ferry_has_exited(world, tmp_path):
    """The nightly runbook copies only replica.db to S3 and back: once ferry has exited, nothing of the run
    may be left behind in the -wal file beside it (an open read connection keeps SQLite from folding it in)."""
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"])) == 0
    copied = tmp_path / "s3" / "ferry.db"
    copied.parent.mkdir()
    shutil.copyfile(world["state"], copied)  # aws s3 cp replica.db s3://...: the file, not its -wal
    with closing(sqlite3.connect(copied)) as db:
        assert db.execute("SELECT command, status FROM runs").fetchall() == [("replicate", "ok")]
        assert db.execute("SELECT state, COUNT(*) FROM items GROUP BY state").fetchall() == [("confirmed", 7)]
        assert db.execute("SELECT COUNT(*) FROM replica_repos").fetchone() == (1,)  # the high-water mark
    assert not world["state"].with_name("ferry.db-wal").exists()


def test_progress_flags_are_those_of_migrate(world, capsys):
    """A script that passes migrate's --no-progress to replicate too gets a run, not a usage error."""
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"]), "--no-progress") == 0
    assert "packages (full)" in capsys.readouterr().out
    assert differences(world["sandbox"], SRC, DST) == []


def test_incremental_run_moves_only_new_and_changed_versions(world):
    first = run(world)
    assert first.exit_code == 0 and first.modes == {"packages": "full"}
    assert first.report.counts == {"confirmed": 7}  # 3 npm tarballs, wheel + sdist, 2 generic assets
    src = world["src"]
    src.npm("packages", "@acme/ui", "1.2.0")  # also moves latest to 1.2.0
    src.pypi("packages", "acme-utils", "1.1", with_sdist=False)
    src.generic("packages", "tools", "installer", "3.5.0", {"installer.bin": b"\x7fELF 3.5.0"})
    src.status("packages", "npm", None, "left-pad-acme", "1.0.0", "Unlisted")
    src.status("packages", "pypi", None, "acme-utils", "1.0", "Archived")

    second = run(world)
    assert second.exit_code == 0, second.problems
    assert second.modes == {"packages": "incremental"}
    # Only the three new versions' assets moved; the two status changes were applied without any listing.
    assert second.report.counts == {"confirmed": 3}
    tally = second.tallies["packages"]
    assert tally["versions copied"] == 3
    assert tally["versions set Unlisted"] == 1 and tally["versions set Archived"] == 1
    assert tally["versions whose assets were listed"] == 3
    assert differences(world["sandbox"], SRC, DST) == []
    source_requests = next(v for k, v in second.requests.items() if k.startswith("source"))
    assert source_requests["ListPackageVersionAssets"] == 3  # the new versions only
    assert source_requests["GetPackageVersionAsset"] == 3

    before = target_changes(world["sandbox"])
    idle = run(world)
    assert idle.exit_code == 0
    assert idle.report.counts == {}
    assert target_changes(world["sandbox"]) == before  # nothing uploaded, nothing touched
    source_requests = next(v for k, v in idle.requests.items() if k.startswith("source"))
    target_requests = next(v for k, v in idle.requests.items() if k.startswith("target"))
    # One ListPackages walk for the repository, one ListPackageVersions walk per package, nothing per version.
    assert source_requests["ListPackages"] == 1
    assert source_requests["ListPackageVersions"] == 4
    assert "ListPackageVersionAssets" not in source_requests and "GetPackageVersionAsset" not in source_requests
    assert not any(op.startswith(("Publish", "Update", "Copy", "Delete", "Dispose")) for op in target_requests)
    assert sum(target_requests.values()) <= 3  # describe the domain and repository


def test_a_moved_dist_tag_follows_the_source_without_a_new_version(world, sandbox):
    assert run(world).exit_code == 0
    store = sandbox.apps["codeartifact"].store
    repo = store.repository(store.domain(SOURCE_REGION, None, "acme"), "packages")
    pkg = store.require_package(repo, "npm", "acme", "ui")
    store.set_dist_tag(pkg, "latest", "1.1.0-beta.1")
    store.delete_dist_tag(pkg, "beta")
    again = run(world)
    assert again.exit_code == 0 and again.report.counts == {}
    assert again.tallies["packages"]["npm dist-tags set"] == 1
    assert again.tallies["packages"]["npm dist-tags removed"] == 1
    assert differences(sandbox, SRC, DST) == []


needs_npm = pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")


@needs_npm
def test_npm_deprecate_in_the_source_follows_to_the_target(world, sandbox, tmp_path):
    source = NpmClient(sandbox, SOURCE_REGION, "packages", tmp_path / "npm-source")
    source.run("deprecate", "@acme/ui@1.0.0", "use 1.1.0")
    first = run(world)
    assert first.exit_code == 0, first.problems
    target = NpmClient(sandbox, TARGET_REGION, "packages", tmp_path / "npm-target")
    assert target.deprecated("@acme/ui@1.0.0") == "use 1.1.0"  # copied in this run, deprecated as finished
    assert differences(sandbox, SRC, DST) == []

    # Deprecating (and un-deprecating) touches no file and keeps the revision: only the npm pass sees it.
    source.run("deprecate", "left-pad-acme@1.0.0", "unmaintained")
    source.run("deprecate", "@acme/ui@1.0.0", "")
    again = run(world)
    assert again.exit_code == 0 and again.report.counts == {}
    assert again.tallies["packages"]["npm deprecation messages set"] == 2
    assert target.deprecated("left-pad-acme@1.0.0") == "unmaintained"
    assert target.deprecated("@acme/ui@1.0.0") == ""
    assert differences(sandbox, SRC, DST) == []

    idle = run(world)
    target_requests = next(v for k, v in idle.requests.items() if k.startswith("target"))
    assert "npm deprecation messages set" not in idle.tallies["packages"]
    assert sum(target_requests.values()) <= 3  # nothing changed: the target's packuments are not read


@needs_npm
def test_migrate_of_a_codeartifact_job_copies_deprecations_and_verify_checks_them(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("npm-only")
    src.npm("npm-only", "@acme/ui", "1.0.0")
    src.npm("npm-only", "@acme/ui", "1.1.0")
    source = NpmClient(sandbox, SOURCE_REGION, "npm-only", tmp_path / "npm-source")
    source.run("deprecate", "@acme/ui@1.0.0", "use 1.1.0")
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("npm-only", "npm-store")],
                            options="create_missing = true")
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    target = NpmClient(sandbox, TARGET_REGION, "npm-store", tmp_path / "npm-target")
    assert target.deprecated("@acme/ui@1.0.0") == "use 1.1.0"
    assert ferry("verify", str(job), "--state", state) == 0

    source.run("deprecate", "@acme/ui@1.1.0", "moved to @acme/ui2")
    assert ferry("verify", str(job), "--state", state) == 1  # the target lacks the new message
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert target.deprecated("@acme/ui@1.1.0") == "moved to @acme/ui2"
    assert ferry("verify", str(job), "--state", state) == 0
    assert differences(sandbox, (SOURCE_REGION, "acme", "npm-only"), (TARGET_REGION, "acme", "npm-store")) == []


def test_deletes_propagate_only_when_asked(world, sandbox):
    assert run(world).exit_code == 0
    src = world["src"]
    src.client.delete_package_versions(domain="acme", repository="packages", format="npm", package="left-pad-acme",
                                       versions=["1.0.0"])
    src.client.dispose_package_versions(domain="acme", repository="packages", format="generic", namespace="tools",
                                        package="installer", versions=["3.4.0"])
    kept = run(world)
    assert kept.exit_code == 0
    assert kept.tallies["packages"]["versions deleted in the source, kept in the target (--propagate-deletes)"] == 1
    assert kept.tallies["packages"]["versions disposed in the source, kept in the target (--propagate-deletes)"] == 1
    diffs = differences(sandbox, SRC, DST)
    assert len(diffs) == 2  # the target still has both

    done = run(world, propagate_deletes=True)
    assert done.exit_code == 0, done.problems
    assert done.tallies["packages"]["versions deleted"] == 1 and done.tallies["packages"]["versions disposed"] == 1
    assert differences(sandbox, SRC, DST) == []
    assert run(world, propagate_deletes=True).tallies["packages"].get("versions deleted", 0) == 0


def test_versions_propagate_deletes_removed_are_deleted_or_disposed_in_the_ledger(world, sandbox, tmp_path, capsys):
    """The ledger says what the target holds: rows of versions --propagate-deletes deleted or disposed in the
    target are deleted or disposed (not confirmed), in the run's report and the whole ledger's, and a run
    that only did that exits 0."""
    assert run(world).exit_code == 0
    src, state = world["src"], str(world["state"])
    src.client.delete_package_versions(domain="acme", repository="packages", format="npm", package="left-pad-acme",
                                       versions=["1.0.0"])
    src.client.dispose_package_versions(domain="acme", repository="packages", format="generic", namespace="tools",
                                        package="installer", versions=["3.4.0"])
    done = run(world, propagate_deletes=True)
    assert done.exit_code == 0 and done.report.run.status == "ok", done.problems
    assert done.report.counts == {"deleted": 1, "disposed": 2} and done.report.actions == {}  # no copy planned
    assert done.report.totals["files"] == 0  # none of them is a file the source has, nor one copied
    with LedgerReader(state, read_only=True) as reader:
        whole = build_report(reader)
    # Left: @acme/ui's two versions and acme-utils' wheel and sdist, the four files both sides hold.
    assert whole.counts == {"confirmed": 4, "deleted": 1, "disposed": 2}
    assert (whole.totals["versions"], whole.totals["files"]) == (3, 4)
    with LedgerReader(state, read_only=True) as reader:  # the first run's report says where its three went
        assert "3 of its items were planned again or removed by later runs" in render_table(build_report(reader, 1))
        assert reader.finished_per_minute(done.run_id) == []  # a removal is no item moved: not in the throughput

    capsys.readouterr()
    assert ferry("status", "--state", state) == 0
    lines = capsys.readouterr().out.splitlines()
    assert next(line for line in lines if line.startswith("repository")).split()[-3:] == ["skipped", "deleted",
                                                                                          "disposed"]
    # versions, files, bytes, to copy, same, done, conflict, failed, skipped, deleted, disposed
    assert next(line for line in lines if line.startswith("total")).split() == [
        "total", "0", "0", "0", "B", "0", "0", "0", "0", "0", "0", "1", "2"]
    assert ferry("report", "--state", state, "-o", str(tmp_path / "r.md"), "--html", str(tmp_path / "r.html")) == 0
    assert "**States:** deleted 1, disposed 2" in (tmp_path / "r.md").read_text()
    page = (tmp_path / "r.html").read_text()
    assert '<th class="n">deleted or disposed</th><th class="n">failed</th>' in page
    for fmt, removed in (("generic", 2), ("npm", 1)):  # the band's count, before the failed one
        row = re.search(rf"packages → packages</td><td>{fmt}</td>(.*?)</tr>", page)
        assert re.findall(r'<td class="n">([^<]*)</td>', row.group(1))[-2:] == [str(removed), "0"], fmt
    assert ferry("report", "--merge", state, "-o", str(tmp_path / "m.json")) == 0
    merged = json.loads((tmp_path / "m.json").read_text())
    assert merged["states"] == {"confirmed": 4, "deleted": 1, "disposed": 2}
    assert merged["failures_total"] == 0
    # verify finds the target as the ledger says: the four files there, nothing of the versions removed.
    assert ferry("verify", str(world["job"]), "--state", state) == 0
    with LedgerReader(state, read_only=True) as reader:
        assert reader.counts() == {"same": 4, "deleted": 1, "disposed": 2}

    # Published again in the source, the version is copied again and its row says so.
    src.npm("packages", "left-pad-acme", "1.0.0")
    back = run(world, propagate_deletes=True)
    assert back.exit_code == 0 and back.report.counts == {"confirmed": 1}, back.problems
    with LedgerReader(state, read_only=True) as reader:
        assert reader.counts() == {"same": 4, "confirmed": 1, "disposed": 2}
    assert differences(sandbox, SRC, DST) == []


def test_full_reconcile_every_n_runs_repairs_drift_in_the_target(world, sandbox, tmp_path):
    world["job"] = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")], options="create_missing = true\nfull_every = 2")
    assert run(world).modes == {"packages": "full"}
    # Someone removes a version from the target behind ferry's back: incremental runs trust the ledger...
    target = Seeder(sandbox, TARGET_REGION)
    target.client.delete_package_versions(domain="acme", repository="packages", format="pypi",
                                          package="acme-utils", versions=["1.0"])
    assert run(world).modes == {"packages": "incremental"}
    assert differences(sandbox, SRC, DST) != []
    # ...and with full_every = 2 every second run is a full reconcile, which puts it back.
    third = run(world)
    assert third.modes == {"packages": "full"} and third.report.counts.get("confirmed") == 2
    assert differences(sandbox, SRC, DST) == []
    assert run(world).modes == {"packages": "incremental"}


def test_same_domain_promotion_uses_copy_package_versions(world, sandbox, tmp_path):
    src = world["src"]
    src.client.create_repository(domain="acme", repository="prod")
    job = write_replica_job(tmp_path / "same.toml", sandbox.urls()["codeartifact"], [("packages", "prod")],
                            target_region=SOURCE_REGION)
    outcome = replicate(load_job(job), Settings(ledger=tmp_path / "same.db"), ReplicateOptions())
    assert outcome.exit_code == 0, outcome.problems
    target_requests = next(v for k, v in outcome.requests.items() if k.startswith("target"))
    assert target_requests["CopyPackageVersions"] == 4  # one call per package (each well under 100 versions)
    assert "PublishPackageVersion" not in target_requests
    assert outcome.report.counts == {"confirmed": 7}
    assert differences(sandbox, SRC, (SOURCE_REGION, "acme", "prod")) == []


def test_a_source_domain_of_the_targets_name_and_region_in_another_account_is_read_not_copied_in_domain(
        sandbox, tmp_path, monkeypatch):
    """Each side signing in with its own account's credentials (no domain_owner in the job), two domains of one
    name and region are two domains: the versions are read from the source account and published. Taken for one
    domain, CopyPackageVersions ran in the target account, from its own repository of the source's name."""
    aws_env(monkeypatch, tmp_path)
    monkeypatch.setitem(sandbox.apps["codeartifact"].accounts, "AKIAOTHERACCOUNT", "444455556666")
    (tmp_path / "aws-credentials").write_text("[other]\naws_access_key_id = AKIAOTHERACCOUNT\n"
                                              "aws_secret_access_key = other-secret\n")
    url = sandbox.urls()["codeartifact"]
    other = boto3.client("codeartifact", endpoint_url=url, region_name=TARGET_REGION,
                         aws_access_key_id="AKIAOTHERACCOUNT", aws_secret_access_key="other-secret")
    mine = codeartifact(url, TARGET_REGION)
    for client, package, versions in ((other, "cli", ("1.0", "2.0")), (mine, "decoy", ("9.9",))):
        client.create_domain(domain="acme")
        client.create_repository(domain="acme", repository="packages")
        for version in versions:
            body = f"{package} {version}".encode()
            client.publish_package_version(domain="acme", repository="packages", format="generic", namespace="tools",
                                           package=package, packageVersion=version, assetContent=body,
                                           assetName=f"{package}.bin", assetSHA256=hashlib.sha256(body).hexdigest())
    mine.create_repository(domain="acme", repository="mirror")
    job = write_replica_job(tmp_path / "job.toml", url, [("packages", "mirror")], source_region=TARGET_REGION,
                            extra_source='profile = "other"')
    outcome = replicate(load_job(job), Settings(ledger=tmp_path / "ferry.db"), ReplicateOptions())
    assert outcome.exit_code == 0, outcome.problems
    target_requests = next(v for k, v in outcome.requests.items() if k.startswith("target"))
    assert "CopyPackageVersions" not in target_requests
    assert outcome.report.counts == {"confirmed": 2}
    assert snapshot(mine, "acme", "mirror") == snapshot(other, "acme", "packages")


def test_a_package_deleted_in_the_source_during_a_same_domain_promotion_fails_only_its_versions(
        world, sandbox, tmp_path, monkeypatch):
    from ferry.replicators.repo_pass import RepoPass

    src = world["src"]
    src.client.create_repository(domain="acme", repository="prod")
    job = write_replica_job(tmp_path / "same.toml", sandbox.urls()["codeartifact"], [("packages", "prod")],
                            target_region=SOURCE_REGION)
    scan = RepoPass.scan

    def deleted_after_the_scan(self, *args):
        scan(self, *args)
        src.client.delete_package(domain="acme", repository="packages", format="generic", namespace="tools",
                                  package="installer")

    monkeypatch.setattr(RepoPass, "scan", deleted_after_the_scan)
    settings = Settings(ledger=tmp_path / "same.db")
    outcome = replicate(load_job(job), settings, ReplicateOptions())
    assert outcome.exit_code == 1
    assert outcome.report.counts == {"confirmed": 5, "failed": 2}
    assert all("NOT_FOUND" in f.reason and f.package == "installer" for f in outcome.report.failures)
    monkeypatch.setattr(RepoPass, "scan", scan)
    assert replicate(load_job(job), settings, ReplicateOptions()).exit_code == 0
    assert differences(sandbox, SRC, (SOURCE_REGION, "acme", "prod")) == []


def test_maven_nuget_and_swift_replicate_through_their_migrators(sandbox, tmp_path, monkeypatch):
    from ferry.migrators import MIGRATORS
    from ferry.sandbox.seed import maven_artifact, maven_filename, nupkg, swift_source_archive

    missing = {"maven", "nuget", "swift"} - set(MIGRATORS)
    if missing:
        pytest.skip(f"no migrator yet for {', '.join(sorted(missing))}")
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("libs")
    for version in ("1.0.0", "1.1.0"):
        files = maven_artifact("com.acme", "core", version)
        src.assets("libs", "maven", "com.acme", "core", version,
                   {maven_filename("core", version, c, e): data for (c, e), data in files.items()})
        src.assets("libs", "nuget", None, "acme.tools", version,
                   {f"acme.tools.{version}.nupkg": nupkg("Acme.Tools", version)})
        src.assets("libs", "swift", "acme", "kit", version, {f"kit-{version}.zip": swift_source_archive("kit", version)})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("libs", "libs")],
                            options="create_missing = true")
    first = replicate(load_job(job), Settings(ledger=tmp_path / "ferry.db"), ReplicateOptions())
    assert first.exit_code == 0, (first.problems, first.report.counts)
    assert first.report.counts == {"confirmed": 10}  # 3 maven files x 2, 1 nupkg x 2, 1 zip x 2
    assert differences(sandbox, (SOURCE_REGION, "acme", "libs"), (TARGET_REGION, "acme", "libs")) == []
    # what NuGet and Swift kept to find collisions while listing is dropped once the scan is over
    assert [MIGRATORS[fmt]._claims._listings for fmt in ("nuget", "swift")] == [{}, {}]
    again = replicate(load_job(job), Settings(ledger=tmp_path / "ferry.db"), ReplicateOptions())
    assert again.exit_code == 0 and again.report.counts == {}


def test_unmappable_versions_are_reported_once_and_not_listed_again(world, sandbox):
    from ferry.migrators import MIGRATORS

    if "maven" not in MIGRATORS:
        pytest.skip("no maven migrator yet")
    # a non-unique SNAPSHOT file: CodeArtifact takes only timestamped ones, so it is unmappable when asked for
    world["job"].write_text(world["job"].read_text().replace("create_missing = true",
                                                             'create_missing = true\nsnapshots = "timestamped"'))
    world["src"].assets("packages", "maven", "com.acme", "core", "1.0-SNAPSHOT",
                        {"core-1.0-SNAPSHOT.jar": b"PK snapshot"})
    first = run(world)
    assert first.report.counts["unmappable"] == 1 and first.exit_code == 1  # reported as the migrate command does
    assert first.tallies["packages"]["versions ferry cannot place (unmappable)"] == 1
    second = run(world)
    source_requests = next(v for k, v in second.requests.items() if k.startswith("source"))
    assert "ListPackageVersionAssets" not in source_requests  # remembered: not listed again
    assert second.exit_code == 0


def test_skipped_snapshot_versions_are_counted_not_failed_and_not_listed_again(world, sandbox):
    world["src"].assets("packages", "maven", "com.acme", "core", "1.0-SNAPSHOT",
                        {"core-1.0-20240102.030405-1.jar": b"PK snapshot"})
    first = run(world)  # snapshots = "skip" by default
    assert first.report.counts["skipped"] == 1 and first.exit_code == 0
    assert first.tallies["packages"]["versions skipped by the job's settings"] == 1
    second = run(world)
    source_requests = next(v for k, v in second.requests.items() if k.startswith("source"))
    assert "ListPackageVersionAssets" not in source_requests
    assert second.exit_code == 0


def test_plain_migrate_and_verify_read_a_codeartifact_source(sandbox, tmp_path, monkeypatch, capsys):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("npm-only", "mixed")
    src.npm("npm-only", "@acme/ui", "1.0.0")
    src.npm("npm-only", "left-pad-acme", "2.0.0")
    src.npm("mixed", "x-acme", "1.0.0")
    src.pypi("mixed", "acme-utils", "1.0")
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("npm-only", "npm-store")],
                            options="create_missing = true")
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert ferry("verify", str(job), "--state", state) == 0
    assert differences(sandbox, (SOURCE_REGION, "acme", "npm-only"), (TARGET_REGION, "acme", "npm-store")) == []
    # A repository holding several formats, its mapping naming none: every format is copied into the one target.
    mixed = write_replica_job(tmp_path / "mixed.toml", sandbox.urls()["codeartifact"], [("mixed", "mixed")],
                              options="create_missing = true")
    assert ferry("audit", str(mixed), "--state", state) == 0
    assert ferry("migrate", str(mixed), "--state", state, "--no-progress") == 0
    assert ferry("verify", str(mixed), "--state", state) == 0
    assert differences(sandbox, (SOURCE_REGION, "acme", "mixed"), (TARGET_REGION, "acme", "mixed")) == []
    with LedgerReader(state) as reader:
        assert sorted((r.format, r.package, r.state) for r in reader.items(None, None, "mixed")) == [
            ("npm", "x-acme", "same"), ("pypi", "acme-utils", "same"), ("pypi", "acme-utils", "same")]


def test_an_empty_codeartifact_repository_is_nothing_to_migrate_not_bad_input(sandbox, tmp_path, monkeypatch,
                                                                              capsys):
    """A source repository with no packages (new, or emptied) holds nothing to move: the job's other mappings
    run, its target is created like the others, and migrate and verify say so, as replicate does (exit 0)."""
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("npm-only", "staging")
    src.npm("npm-only", "@acme/ui", "1.0.0")
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                            [("npm-only", "npm-store"), ("staging", "staging")], options="create_missing = true")
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert "staging: no packages, nothing to migrate" in capsys.readouterr().err
    assert ferry("verify", str(job), "--state", state) == 0
    assert differences(sandbox, (SOURCE_REGION, "acme", "npm-only"), (TARGET_REGION, "acme", "npm-store")) == []
    target = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    assert {r["name"] for r in target.list_repositories()["repositories"]} == {"npm-store", "staging"}


def test_migrate_of_one_format_of_a_mixed_codeartifact_repository_lists_only_that_format(sandbox, tmp_path,
                                                                                        monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("mixed")
    src.npm("mixed", "x-acme", "1.0.0")
    src.pypi("mixed", "acme-utils", "1.0")
    src.generic("mixed", "tools", "bundle", "2.0", {"bundle.tgz": b"a generic archive, not an npm tarball"})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("mixed", "npm-store")],
                            options="create_missing = true")
    job.write_text(job.read_text().replace('target = "npm-store"', 'target = "npm-store"\nformat = "npm"'))
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    with LedgerReader(state) as reader:
        assert [(r.format, r.package, r.state) for r in reader.items(None, None, "npm-store")] == [
            ("npm", "x-acme", "confirmed")]  # the generic bundle.tgz is not taken for an npm package
    assert ferry("verify", str(job), "--state", state) == 0


def test_ruby_and_cargo_replicate_through_their_migrators(sandbox, tmp_path, monkeypatch):
    from ferry.migrators import MIGRATORS
    from ferry.sandbox import seed
    from ferry.sandbox.codeartifact.formats import FORMAT_HANDLERS

    ready = {"ruby", "cargo"} <= set(MIGRATORS) and {"ruby", "cargo"} <= set(FORMAT_HANDLERS)
    if not ready or not hasattr(seed, "gem") or not hasattr(seed, "crate"):
        pytest.skip("ruby/cargo migrators or stand-in endpoints have not landed yet")
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("libs")
    for version in ("1.0.0", "1.1.0"):
        gem_name, gem_data = seed.gem("acme-kit", version)
        src.assets("libs", "ruby", None, "acme-kit", version, {gem_name: gem_data})
        crate_data, _meta = seed.crate("acme-core", version)
        src.assets("libs", "cargo", None, "acme-core", version, {f"acme-core-{version}.crate": crate_data})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("libs", "libs")],
                            options="create_missing = true")
    outcome = replicate(load_job(job), Settings(ledger=tmp_path / "ferry.db"), ReplicateOptions())
    assert outcome.exit_code == 0, (outcome.problems, outcome.report.counts)
    assert outcome.report.counts == {"confirmed": 4}
    assert differences(sandbox, (SOURCE_REGION, "acme", "libs"), (TARGET_REGION, "acme", "libs")) == []


def test_replication_converges_through_throttling_errors_and_cut_downloads(world, sandbox):
    sandbox.set_faults("throttle=0.08,error5xx=0.08,truncate=0.1,retry_after=0s", seed=11)
    settings = Settings(ledger=world["state"], sleep=lambda _s: None)
    outcomes = []
    for _ in range(3):  # a run may give up on an item after its retries; the next run picks it up
        outcomes.append(replicate(load_job(world["job"]), settings, ReplicateOptions()))
        if outcomes[-1].exit_code == 0:
            break
    injected = sandbox.faults["codeartifact"].status()["injected"]
    sandbox.set_faults(None)
    assert outcomes[-1].exit_code == 0, [o.problems for o in outcomes]
    assert injected["throttle"] and injected["error5xx"] and injected["truncate"]
    # The run says what the faults cost, as migrate does.
    assert any(re.fullmatch(r"retried \d+ requests \(429 \d+, 5xx \d+, .*truncated \d+\).*", note)
               for note in outcomes[0].notes), outcomes[0].notes
    assert differences(sandbox, SRC, DST) == []


def test_a_version_published_while_the_run_copies_waits_for_the_next_run(world, sandbox, monkeypatch):
    assert run(world).exit_code == 0
    from ferry.replicators.repo_pass import RepoPass

    settle = RepoPass.settle

    def published_meanwhile(self, reader_db, session):
        # After the scan, before the tags pass: the source's beta (and latest, for the first) move to it.
        world["src"].npm("packages", "@acme/ui", "1.2.0-beta.2", tags={"latest": "1.2.0-beta.2",
                                                                       "beta": "1.2.0-beta.2"})
        monkeypatch.setattr(RepoPass, "settle", settle)
        return settle(self, reader_db, session)

    monkeypatch.setattr(RepoPass, "settle", published_meanwhile)
    racing = run(world)
    # Nothing failed: the new version and its tags are the next run's work, and the target's tags stay.
    assert racing.exit_code == 0 and not racing.problems
    target = dist_tags(sandbox, *DST)[("acme", "ui")]
    assert target == {"latest": "1.0.0", "beta": "1.1.0-beta.1"}

    after = run(world)
    assert after.exit_code == 0 and after.report.counts == {"confirmed": 1}
    assert differences(sandbox, SRC, DST) == []


def test_a_package_endpoint_that_keeps_failing_fails_its_versions_not_the_run(world, sandbox, monkeypatch):
    from ferry.errors import RetryableError
    from ferry.retry import REQUEST
    from ferry.sources.codeartifact import CodeArtifactSource

    real = CodeArtifactSource._endpoint_get
    refused = []

    def refusing_ui(self, url, what, counted, **kw):
        if "ui" in url:
            refused.append(url)
            raise RetryableError(f"{what}: HTTP 503")
        return real(self, url, what, counted, **kw)

    monkeypatch.setattr(CodeArtifactSource, "_endpoint_get", refusing_ui)
    settings = Settings(ledger=world["state"], sleep=lambda _s: None)
    broken = replicate(load_job(world["job"]), settings, ReplicateOptions())
    # @acme/ui's two versions fail, naming why; everything else was copied.
    assert broken.exit_code == 1
    assert broken.report.counts == {"confirmed": 5, "failed": 2}
    assert all("reading its package from the source: gave up after retries: dist-tags of @acme/ui: HTTP 503"
               in f.reason for f in broken.report.failures)
    # Each read (one per version, or one shared by both versions' workers asking at once; one by the tags
    # pass) is tried as often as the request retry allows, once: not retried inside the retry as well.
    assert broken.problems and len(refused) in (2 * REQUEST.max_attempts, 3 * REQUEST.max_attempts), refused

    monkeypatch.setattr(CodeArtifactSource, "_endpoint_get", real)
    assert run(world).exit_code == 0
    assert differences(sandbox, SRC, DST) == []


def test_a_package_removed_from_the_target_by_hand_is_reported_then_copied_again(world, sandbox):
    assert run(world).exit_code == 0
    dst = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    for package in ("installer", "acme-utils"):
        fmt, ns = ("generic", {"namespace": "tools"}) if package == "installer" else ("pypi", {})
        dst.delete_package(domain="acme", repository="packages", format=fmt, package=package, **ns)
    src = world["src"]
    src.status("packages", "generic", "tools", "installer", "3.4.0", "Unlisted")  # a status only: no copy
    src.client.delete_package_versions(domain="acme", repository="packages", format="pypi", package="acme-utils",
                                       versions=["1.0"])
    src.npm("packages", "left-pad-acme", "1.0.1")

    night = run(world, propagate_deletes=True)
    # The run goes through (no crash on the missing packages): the new version is copied, the deletion
    # is already done (acme-utils' two files: deleted, as the target has them), and the status that cannot be set
    # is a problem naming why.
    assert night.exit_code == 1 and night.report.counts == {"confirmed": 1, "deleted": 2}
    assert night.problems == ["packages: generic tools/installer 3.4.0: status Unlisted not set (NOT_FOUND: "
                              "Package tools/installer not found in repository packages); the target no "
                              "longer has it: the next run copies it again"]
    # The report file of that run (the artifact the runbook's buildspec keeps) says why it exited 1.
    assert json.loads(render_json(night.report))["problems"] == night.problems
    assert f"## Problems (1)\n\n- {night.problems[0]}" in render_markdown(night.report)
    # The run keeps them in the ledger: `ferry status` the next morning says why it exited 1, once.
    with LedgerReader(world["state"], read_only=True) as reader:
        status = render_table(build_report(reader, night.run_id))
    assert f"1 problem(s) beside the items:\n  {night.problems[0]}" in status
    assert "1 problem(s)" not in render_table(night.report, problems=False)
    after = run(world)
    assert after.exit_code == 0 and after.report.counts == {"confirmed": 2}


def test_creating_the_target_is_retried_through_throttling_and_a_lost_answer(world, sandbox, monkeypatch):
    from ferry.sandbox.codeartifact.records import InternalError, Throttled

    control = sandbox.apps["codeartifact"]._control
    real, creates = control.dispatch, Counter()

    def flaky(request, region):
        if request.method == "POST" and request.path in ("/v1/domain", "/v1/repository") and region == TARGET_REGION:
            creates[request.path] += 1
            if creates[request.path] == 1 and request.path == "/v1/domain":
                raise Throttled(retry_after=0)  # nothing was created
            if creates[request.path] == 1:
                real(request, region)
                raise InternalError("the answer was lost")  # created, but ferry cannot tell
        return real(request, region)

    monkeypatch.setattr(control, "dispatch", flaky)
    outcome = replicate(load_job(world["job"]), Settings(ledger=world["state"], sleep=lambda _s: None),
                        ReplicateOptions())
    assert outcome.exit_code == 0, outcome.problems
    # The domain is created again after the throttle; the repository whose answer was lost is found to exist.
    assert creates == {"/v1/domain": 2, "/v1/repository": 1}
    assert differences(sandbox, SRC, DST) == []


def test_a_version_missing_from_a_listing_is_not_deleted_unless_the_source_confirms(world, sandbox, monkeypatch):
    assert run(world).exit_code == 0
    from ferry.sources.codeartifact import CodeArtifactSource

    real = CodeArtifactSource.__init__

    def hiding(self, domain, session=None):
        real(self, domain, session)
        versions = domain.versions

        def without_left_pad(repository, fmt, namespace, package):
            return [] if package == "left-pad-acme" else versions(repository, fmt, namespace, package)

        domain.versions = without_left_pad  # a listing that lost a page, as a cut-short reply would

    monkeypatch.setattr(CodeArtifactSource, "__init__", hiding)
    outcome = run(world, propagate_deletes=True)
    assert outcome.exit_code == 0
    assert outcome.tallies["packages"].get("versions deleted", 0) == 0
    assert differences(sandbox, SRC, DST) == []


@pytest.mark.parametrize("command, walk", [("replicate", None), ("migrate", "npm")])  # the walk of the listing
def test_a_package_deleted_in_the_source_while_it_is_listed_is_not_a_crash(world, sandbox, monkeypatch, command,
                                                                          walk):
    """DeletePackage in the source between ListPackages and the package's ListPackageVersions (a live domain
    at night): the package has no versions to copy; the run goes on (not exit 3 'unexpected ... report it')."""
    from ferry.sources.codeartifact import CodeArtifactSource

    real, walks = CodeArtifactSource.__init__, []

    def racing(self, domain, session=None):
        real(self, domain, session)
        packages = domain.packages

        def deleting_left_pad(repository, fmt=None):
            for pkg in packages(repository, fmt):
                if pkg["package"] == "left-pad-acme" and fmt == walk and not walks:
                    walks.append(fmt)
                    world["src"].client.delete_package(domain="acme", repository="packages", format="npm",
                                                       package="left-pad-acme")
                yield pkg

        domain.packages = deleting_left_pad

    monkeypatch.setattr(CodeArtifactSource, "__init__", racing)
    args = ["--no-progress"] if command == "migrate" else []
    assert ferry(command, str(world["job"]), "--state", str(world["state"]), *args) == 0
    assert differences(sandbox, SRC, DST) == []  # everything else copied; left-pad-acme is gone on both sides
    assert not any(name == "left-pad-acme" for _fmt, _ns, name, _v in snapshot(world["src"].client, "acme",
                                                                                  "packages"))


def test_new_versions_arrive_with_their_source_status(world, sandbox):
    src = world["src"]
    src.npm("packages", "old-acme", "0.1.0")
    src.status("packages", "npm", None, "old-acme", "0.1.0", "Archived")
    src.generic("packages", "tools", "legacy", "0.9", {"legacy.bin": b"old"})
    src.status("packages", "generic", "tools", "legacy", "0.9", "Unlisted")
    outcome = run(world)
    assert outcome.exit_code == 0, outcome.problems
    tally = outcome.tallies["packages"]
    assert tally["versions set Archived"] == 1 and tally["versions set Unlisted"] == 1
    assert differences(sandbox, SRC, DST) == []


def test_verify_of_a_replica_accepts_a_version_archived_in_the_source_too(sandbox, tmp_path, monkeypatch, capsys):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("npm-only")
    for version in ("0.1.0", "0.2.0"):
        src.npm("npm-only", "old-acme", version)
    src.status("npm-only", "npm", None, "old-acme", "0.1.0", "Archived")
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("npm-only", "npm-store")],
                            options="create_missing = true")
    assert ferry("replicate", str(job), "--state", str(tmp_path / "replica.db")) == 0
    assert differences(sandbox, (SOURCE_REGION, "acme", "npm-only"), (TARGET_REGION, "acme", "npm-store")) == []
    verify = ("verify", str(job), "--state", str(tmp_path / "verify.db"))
    assert ferry(*verify) == 0  # archived on both sides: in step

    # Archived in the target only: its file cannot be downloaded there, unlike the source's.
    dst = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    dst.update_package_versions_status(domain="acme", repository="npm-store", format="npm", package="old-acme",
                                       versions=["0.2.0"], targetStatus="Archived")
    capsys.readouterr()
    assert ferry(*verify) == 1
    out = capsys.readouterr().out
    assert "npm:old-acme@0.2.0/package.tgz -> npm-store  (version is Archived in the target" in out
    assert "old-acme@0.1.0" not in out


@pytest.mark.parametrize("line, problem", [
    ("full_every = 0", "options.full_every"),
    ('role_arn = "arn:aws:iam::12:role/x"', "role ARN"),
])
def test_job_file_checks_replication_settings(tmp_path, line, problem):
    from ferry.errors import UsageError

    where = "[options]" if line.startswith("full_every") else "[target]"
    job = write_replica_job(tmp_path / "job.toml", "http://127.0.0.1:1", [("a1", "b1")])
    text = job.read_text().replace(where, f"{where}\n{line}") if where in job.read_text() else \
        job.read_text() + f"\n{where}\n{line}\n"
    job.write_text(text)
    with pytest.raises(UsageError, match=problem):
        load_job(job)


def test_excluded_packages_cost_no_asset_listing(world, sandbox, tmp_path):
    world["job"] = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")],
                                     options='create_missing = true\nexclude = ["left-pad-acme", "installer"]')
    first = run(world)
    assert first.exit_code == 0 and first.report.counts == {"confirmed": 4}
    idle = run(world)
    source_requests = next(v for k, v in idle.requests.items() if k.startswith("source"))
    assert "ListPackageVersionAssets" not in source_requests and idle.report.counts == {}


@pytest.mark.parametrize("side, seeded, needle", [
    ("target", SOURCE_REGION, "target domain 'nowhere' does not exist"),
    ("source", TARGET_REGION, "source domain 'nowhere' does not exist in eu-west-1"),
])
def test_a_missing_domain_is_refused_before_a_ledger_is_written(sandbox, tmp_path, monkeypatch, capsys, side, seeded,
                                                                 needle):
    aws_env(monkeypatch, tmp_path)
    Seeder(sandbox, seeded).create("packages")  # the other side is there
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            **{f"{side}_domain": "nowhere"})
    assert ferry("replicate", str(job), "--state", str(tmp_path / "ferry.db")) == 2
    assert needle in capsys.readouterr().err
    assert not (tmp_path / "ferry.db").exists()


@pytest.mark.parametrize("change, problem", [
    ({"repositories": [("pakages", "packages")]}, "source domain 'acme' in eu-west-1 has no repository 'pakages'"),
    ({"source_region": "eu-central-1"}, "source domain 'acme' does not exist in eu-central-1"),
], ids=["repository", "region"])
def test_a_missing_source_is_refused_before_a_ledger_is_written(world, tmp_path, capsys, change, problem):
    """A typo in the source's repository or region is bad input, as for migrate: exit 2 with one line
    naming it, before the target is touched or a run recorded (not exit 3, "unexpected ... report it")."""
    repositories = change.pop("repositories", [("packages", "packages")])
    job = write_replica_job(tmp_path / "typo.toml", world["sandbox"].urls()["codeartifact"], repositories,
                            options="create_missing = true", **change)
    assert ferry("replicate", str(job), "--state", str(world["state"])) == 2
    err = capsys.readouterr().err.strip()
    assert problem in err and "\n" not in err
    assert not world["state"].exists()
    assert codeartifact(world["sandbox"].urls()["codeartifact"], TARGET_REGION).list_domains()["domains"] == []


def test_flags_config_only_would_ignore_are_refused(tmp_path, capsys, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    job = write_replica_job(tmp_path / "job.toml", "http://127.0.0.1:9", [("packages", "packages")])
    assert ferry("replicate", str(job), "--config-only", "--full", "--state", str(tmp_path / "x.db")) == 2
    err = capsys.readouterr().err
    assert "--full, --state: not used by --config-only" in err
    assert not (tmp_path / "x.db").exists()


@pytest.mark.parametrize("flag", [["--workers", "3"], ["--full-every", "2"], ["--create-missing"],
                                  ["--origin-policy", "allow-publish"], ["--snapshots", "timestamped"]],
                         ids=lambda flag: flag[0])
def test_package_run_flags_are_refused_with_config_only(tmp_path, capsys, monkeypatch, flag):
    """Flags that only steer the package run: refused with --config-only (nothing contacted), not ignored."""
    aws_env(monkeypatch, tmp_path)
    job = write_replica_job(tmp_path / "job.toml", "http://127.0.0.1:9", [("packages", "packages")])
    assert ferry("replicate", str(job), "--config-only", *flag) == 2
    assert f"{flag[0]}: not used by --config-only" in capsys.readouterr().err


def test_a_mapping_whose_source_changed_deletes_nothing_of_the_old_source(world, sandbox, tmp_path):
    """The memory is kept per target repository: after the mapping's source is changed, what was copied from
    the old source must not look deleted from the new one, or --propagate-deletes would empty the target."""
    assert run(world).exit_code == 0
    src = world["src"]
    src.client.create_repository(domain="acme", repository="other")
    src.npm("other", "right-pad-acme", "1.0.0")
    url = sandbox.urls()["codeartifact"]
    old = snapshot(codeartifact(url, SOURCE_REGION), "acme", "packages")
    world["job"] = write_replica_job(tmp_path / "job.toml", url, [("other", "packages")],
                                     options="create_missing = true")
    moved = run(world, propagate_deletes=True)
    assert moved.exit_code == 0, moved.problems
    assert moved.modes == {"packages": "full"}  # a first run for this source
    assert "versions deleted" not in moved.tallies["packages"]
    assert any("source of packages changed from 111122223333:acme@eu-west-1/packages to "
               "111122223333:acme@eu-west-1/other" in note for note in moved.notes), moved.notes
    # Everything copied from the old source is still in the target, and the new source's package arrived.
    target = snapshot(codeartifact(url, TARGET_REGION), "acme", "packages")
    assert set(target) == set(old) | {("npm", "", "right-pad-acme", "1.0.0")}
    assert all(target[k] == v for k, v in old.items())
    # The next run remembers only the new source: still nothing of the old one deleted.
    again = run(world, propagate_deletes=True)
    assert again.exit_code == 0 and again.modes == {"packages": "incremental"}
    assert "versions deleted" not in again.tallies["packages"]
    assert set(snapshot(codeartifact(url, TARGET_REGION), "acme", "packages")) == set(target)


def test_a_source_domain_of_the_same_name_in_another_account_is_another_source(world, sandbox, tmp_path):
    """Pointing the job at another account's domain of the same name and region is a change of source: the
    memory of the first account's versions is forgotten, so --propagate-deletes deletes none of them."""
    assert run(world).exit_code == 0
    store = sandbox.apps["codeartifact"].store
    other = store.create_domain(SOURCE_REGION, "444455556666", "acme")
    store.create_repository(other, "packages")
    url = sandbox.urls()["codeartifact"]
    old = snapshot(codeartifact(url, TARGET_REGION), "acme", "packages")
    world["job"] = write_replica_job(tmp_path / "job.toml", url, [("packages", "packages")],
                                     extra_source='domain_owner = "444455556666"', options="create_missing = true")
    moved = run(world, propagate_deletes=True)
    assert moved.exit_code == 0, moved.problems
    assert moved.modes == {"packages": "full"}
    assert "versions deleted" not in moved.tallies["packages"]
    assert any("changed from 111122223333:acme@eu-west-1/packages to 444455556666:acme@eu-west-1/packages" in note
               for note in moved.notes), moved.notes
    assert snapshot(codeartifact(url, TARGET_REGION), "acme", "packages") == old


def test_a_memory_recorded_without_the_account_is_kept_and_given_it(world, sandbox):
    """A ledger from a ferry that named the source domain@region: the same domain and region is the same
    source (an incremental run, as before), and the run records the account from then on."""
    assert run(world).exit_code == 0
    with sqlite3.connect(world["state"]) as db:
        db.execute("UPDATE replica_repos SET source = 'acme@eu-west-1'")
    again = run(world, propagate_deletes=True)
    assert again.exit_code == 0 and again.modes == {"packages": "incremental"}, again.notes
    assert not any("changed from" in note for note in again.notes), again.notes
    with sqlite3.connect(world["state"]) as db:
        assert db.execute("SELECT source FROM replica_repos").fetchall() == [("111122223333:acme@eu-west-1",)]


def test_a_job_whose_target_changed_copies_everything_to_the_new_target(world, sandbox, tmp_path):
    """The memory says what the target held: once the job names another target domain (a new region, a
    failover), an incremental run trusting it would copy nothing and say 'nothing changed'. It is forgotten,
    the run says so and is a full one; the next run is incremental again."""
    assert run(world).exit_code == 0
    with closing(sqlite3.connect(world["state"])) as db, db:  # a ledger from before ferry said which target
        db.execute("DELETE FROM ferry_meta WHERE key = 'replica_target'")
    kept = run(world)  # taken at its word: its memory is kept
    assert kept.exit_code == 0 and kept.modes == {"packages": "incremental"} and kept.report.counts == {}
    world["job"] = write_replica_job(tmp_path / "moved.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")], target_region="us-west-2",
                                     options="create_missing = true")
    moved = run(world)
    assert moved.exit_code == 0 and moved.modes == {"packages": "full"}
    assert moved.report.counts == {"confirmed": 7}
    assert differences(sandbox, SRC, ("us-west-2", "acme", "packages")) == []
    assert any("the target changed from 111122223333:acme@us-east-1 to acme@us-west-2" in note
               for note in moved.notes), moved.notes
    again = run(world)
    assert again.exit_code == 0 and again.modes == {"packages": "incremental"} and again.report.counts == {}


def test_a_target_domain_of_the_same_name_in_another_account_is_another_target(world, sandbox, tmp_path):
    """The same domain name and region in another account (a job given domain_owner for a new account) is a new
    target: the memory of the first one's contents must not make the run copy nothing there."""
    assert run(world).exit_code == 0
    store = sandbox.apps["codeartifact"].store
    store.create_repository(store.create_domain(TARGET_REGION, "444455556666", "acme"), "packages")
    world["job"] = write_replica_job(tmp_path / "other.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")], extra_target='domain_owner = "444455556666"')
    moved = run(world)
    assert moved.exit_code == 0 and moved.modes == {"packages": "full"}, moved.notes
    assert moved.report.counts == {"confirmed": 7}
    assert any("the target changed from 111122223333:acme@us-east-1 to 444455556666:acme@us-east-1" in note
               for note in moved.notes), moved.notes


def test_a_tags_pass_that_gives_up_says_what_failed_once(world, sandbox, monkeypatch):
    """The problem line names the package and what was read once, and says the retries were spent."""
    import ferry.engine
    from ferry.replicators.repo_pass import RepoPass
    from ferry.retry import RetryPolicy

    monkeypatch.setattr(ferry.engine, "REQUEST", RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01,
                                                             max_retry_after=0.01))
    assert run(world).exit_code == 0
    world["src"].npm("packages", "left-pad-acme", "2.0.0")
    settle = RepoPass.settle

    def refusing(self, reader_db, session):  # the source's npm endpoint fails once the versions are copied
        sandbox.set_faults("error5xx=1.0,retry_after=0s", seed=1)
        try:
            return settle(self, reader_db, session)
        finally:
            sandbox.set_faults(None)

    monkeypatch.setattr(RepoPass, "settle", refusing)
    broken = run(world)
    assert broken.exit_code == 1 and broken.report.counts == {"confirmed": 1}
    assert len(broken.problems) == 2, broken.problems  # every npm package's tags are read on every run
    for problem, package in zip(sorted(broken.problems), ("@acme/ui", "left-pad-acme")):
        assert re.fullmatch(r"packages: npm dist-tags and deprecations not in step \(reading the source\): gave "
                            rf"up after retries: dist-tags of {package}: HTTP 50\d", problem), problem


def test_a_dist_tag_on_a_version_disposed_in_the_source_is_left_as_the_target_has_it(world, sandbox):
    """A disposed version has nothing to copy, so the target never holds it: its tag cannot be set there. It
    is left as it is (as a tag of a version published after the scan is), not a problem on every run."""
    src = world["src"]
    src.npm("packages", "left-pad-acme", "1.1.0")  # latest -> 1.1.0, then disposed: the tag stays on it
    src.client.dispose_package_versions(domain="acme", repository="packages", format="npm",
                                        package="left-pad-acme", versions=["1.1.0"])
    first = run(world)
    assert first.exit_code == 0 and first.problems == []
    assert "1.1.0" not in dist_tags(sandbox, *DST)[("", "left-pad-acme")].values()
    again = run(world)
    assert again.exit_code == 0 and again.problems == [] and again.modes == {"packages": "incremental"}


def test_a_tag_left_on_a_disposed_version_goes_once_the_source_drops_it(world, sandbox):
    """The target keeps a tag the source has on a disposed version; once the source drops that tag, the next
    (incremental) run drops it too, as it drops any other: the tags set in the target are unchanged then, but
    the source's are not."""
    src = world["src"]
    assert run(world).exit_code == 0
    src.client.dispose_package_versions(domain="acme", repository="packages", format="npm", package="ui",
                                        namespace="acme", versions=["1.1.0-beta.1"])
    kept = run(world)
    assert kept.exit_code == 0 and dist_tags(sandbox, *DST)[("acme", "ui")]["beta"] == "1.1.0-beta.1"
    store = sandbox.apps["codeartifact"].store
    store.delete_dist_tag(store.require_package(src._repo("packages"), "npm", "acme", "ui"), "beta")
    dropped = run(world)
    assert dropped.exit_code == 0 and dropped.modes == {"packages": "incremental"}
    assert dist_tags(sandbox, *DST)[("acme", "ui")] == {"latest": "1.0.0"}
    assert dropped.tallies["packages"]["npm dist-tags removed"] == 1


def test_an_npm_package_whose_only_version_is_disposed_before_it_is_copied_is_no_problem(world, sandbox):
    """Published and disposed in the source between two runs: the target never gets the package, so its
    tags (latest on the disposed version) have nowhere to go and nothing to remove; the run exits 0, and the
    next one asks nothing more of it."""
    src = world["src"]
    assert run(world).exit_code == 0
    src.npm("packages", "gone-before-copy", "1.0.0")
    src.client.dispose_package_versions(domain="acme", repository="packages", format="npm",
                                        package="gone-before-copy", versions=["1.0.0"])
    night = run(world)
    assert night.exit_code == 0 and night.problems == []
    assert ("", "gone-before-copy") not in dist_tags(sandbox, *DST)
    idle = run(world)
    assert idle.exit_code == 0 and idle.problems == []
    assert "npm dist-tags read" not in next(v for k, v in idle.requests.items() if k.startswith("target"))


def test_tokens_refused_in_the_tags_pass_end_the_run_as_fatal(world, sandbox, monkeypatch, capsys):
    """Once the repository endpoints refuse every new token (the identity lost its rights), the run stops with
    exit 3 as migrate does, and asks no more tokens: not one problem, and three more tokens, per npm package."""
    from ferry.replicators.repo_pass import RepoPass

    world["src"].npm("packages", "right-pad-acme", "1.0.0")
    store, settle = sandbox.apps["codeartifact"].store, RepoPass.settle

    def revoked(self, reader_db, session):  # the bytes moved; now every token is refused
        with store.tx() as db:
            db.execute("DELETE FROM tokens")
        sandbox.set_faults("token_ttl=1ms", seed=1)  # and new ones lapse before they arrive
        return settle(self, reader_db, session)

    monkeypatch.setattr(RepoPass, "settle", revoked)
    issued = lambda: store.query("SELECT COUNT(*) AS n FROM tokens")[0]["n"]  # noqa: E731
    assert ferry("replicate", str(world["job"]), "--state", str(world["state"])) == 3
    assert "refused 3 new authorization tokens in a row" in capsys.readouterr().err
    assert issued() == 3  # the three refused ones, for the first of the three npm packages only
    with LedgerReader(world["state"]) as reader:
        assert reader.db.execute("SELECT COUNT(*) FROM replica_repos").fetchone()[0] == 0  # no high-water mark


def test_a_tag_on_a_version_that_failed_to_copy_is_that_packages_problem_not_the_runs(world, sandbox):
    """The target refuses to tag a version it does not have (its copy failed this run): that package's problem,
    exit 1, the rest of the run carried on; not a fatal 'unexpected HTTP 404'."""
    assert run(world).exit_code == 0
    world["src"].npm("packages", "left-pad-acme", "2.0.0")  # latest -> 2.0.0
    world["src"].npm("packages", "@acme/ui", "1.2.0")
    dst = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    dst.put_package_origin_configuration(domain="acme", repository="packages", format="npm", package="left-pad-acme",
                                         restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    outcome = run(world)
    assert outcome.exit_code == 1 and outcome.report.counts == {"confirmed": 1, "failed": 1}
    assert "origin controls" in outcome.report.failures[0].reason
    (problem,) = outcome.problems
    assert "left-pad-acme" in problem and "2.0.0" in problem
    assert dist_tags(sandbox, *DST)[("acme", "ui")]["latest"] == "1.2.0"


def test_a_package_deleted_in_the_source_is_deleted_in_the_target_tags_and_all(world, sandbox):
    """DeletePackage in the source: with --propagate-deletes the target package goes too (no empty package
    left listed, no dist-tag left pointing at a deleted version); without, it is kept."""
    src = world["src"]
    src.npm("packages", "left-pad-acme", "2.0.0")  # latest -> 2.0.0
    assert run(world).exit_code == 0
    src.client.delete_package(domain="acme", repository="packages", format="npm", package="left-pad-acme")
    kept = run(world)
    assert kept.exit_code == 0 and dist_tags(sandbox, *DST)[("", "left-pad-acme")] == {"latest": "2.0.0"}

    done = run(world, propagate_deletes=True)
    assert done.exit_code == 0, done.problems
    assert done.tallies["packages"]["versions deleted"] == 2
    assert done.tallies["packages"]["packages deleted (gone from the source)"] == 1
    assert ("", "left-pad-acme") not in dist_tags(sandbox, *DST)
    dst = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    listed = [p["package"] for p in dst.list_packages(domain="acme", repository="packages")["packages"]]
    assert "left-pad-acme" not in listed
    assert differences(sandbox, SRC, DST) == []
    again = run(world, propagate_deletes=True)
    assert again.exit_code == 0 and "packages deleted (gone from the source)" not in again.tallies["packages"]

    # Re-published in the source later, it is copied again with its tags.
    src.npm("packages", "left-pad-acme", "3.0.0")
    back = run(world, propagate_deletes=True)
    assert back.exit_code == 0, back.problems
    assert dist_tags(sandbox, *DST)[("", "left-pad-acme")] == {"latest": "3.0.0"}
    assert differences(sandbox, SRC, DST) == []


def test_a_package_deleted_in_the_source_keeps_target_versions_ferry_did_not_copy(world, sandbox):
    assert run(world).exit_code == 0
    Seeder(sandbox, TARGET_REGION).npm("packages", "left-pad-acme", "9.9.9")  # published in the target only
    world["src"].client.delete_package(domain="acme", repository="packages", format="npm", package="left-pad-acme")
    done = run(world, propagate_deletes=True)
    assert done.exit_code == 0, done.problems
    assert done.tallies["packages"]["versions deleted"] == 1
    assert "packages deleted (gone from the source)" not in done.tallies["packages"]
    dst = codeartifact(sandbox.urls()["codeartifact"], TARGET_REGION)
    left = dst.list_package_versions(domain="acme", repository="packages", format="npm", package="left-pad-acme")
    assert [v["version"] for v in left["versions"]] == ["9.9.9"]


def test_a_package_deleted_in_both_the_source_and_by_hand_in_the_target_is_no_problem(world, sandbox):
    assert run(world).exit_code == 0
    for region in (SOURCE_REGION, TARGET_REGION):
        codeartifact(sandbox.urls()["codeartifact"], region).delete_package(
            domain="acme", repository="packages", format="npm", package="left-pad-acme")
    done = run(world, propagate_deletes=True)
    assert done.exit_code == 0 and not done.problems
    assert differences(sandbox, SRC, DST) == []


def test_naming_the_target_domains_own_account_is_no_change_of_target(world, sandbox, tmp_path):
    """domain_owner added to the job for the account the domain already belongs to names the same domain: the
    run stays incremental (a full one would re-list and re-screen everything for nothing)."""
    assert run(world).exit_code == 0
    world["job"] = write_replica_job(tmp_path / "owned.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")], extra_target='domain_owner = "111122223333"')
    again = run(world)
    assert again.exit_code == 0 and again.modes == {"packages": "incremental"}, again.notes
    assert not any("changed" in note for note in again.notes), again.notes
