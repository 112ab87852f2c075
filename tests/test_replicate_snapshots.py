"""``ferry replicate`` under ``snapshots = "timestamped"`` applies the Maven migrator's newest-build screen,
as ``ferry migrate`` does: of a SNAPSHOT's timestamped builds only the newest is copied, the older ones
are reported as skipped, and the replica holds exactly what a migrate of the same source produces."""

from __future__ import annotations

import pytest

from e2e_helpers import aws_env, codeartifact, ferry
from ferry.config import load_job
from ferry.engine import Settings
from ferry.migrators import MIGRATORS
from ferry.replicators.run import ReplicateOptions, replicate
from ferry.sandbox.seed import maven_pom
from replicate_helpers import SOURCE_REGION, TARGET_REGION, Seeder, snapshot, write_replica_job

pytestmark = pytest.mark.skipif("maven" not in MIGRATORS, reason="no maven migrator")

SNAP = "1.0-SNAPSHOT"
BUILDS = ("20240101.100000-1", "20240102.100000-2", "20240103.100000-3")


def build_files(build: str) -> dict[str, bytes]:
    version = f"1.0-{build}"
    return {f"core-{version}.jar": f"PK jar {build}".encode(),
            f"core-{version}.pom": maven_pom("com.acme", "core", SNAP, description=build)}


@pytest.fixture
def source(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("libs")
    src.assets("libs", "maven", "com.acme", "core", "1.0",
               {"core-1.0.jar": b"PK release", "core-1.0.pom": maven_pom("com.acme", "core", "1.0")})
    # every build stays an asset of the one SNAPSHOT version in the stand-in; the middle one last, so
    # the newest build is neither the first nor the last file listed
    files: dict[str, bytes] = {}
    for build in (BUILDS[0], BUILDS[2], BUILDS[1]):
        files.update(build_files(build))
    src.assets("libs", "maven", "com.acme", "core", SNAP, files)
    return src


def test_replicate_copies_only_the_newest_snapshot_build_like_migrate(sandbox, tmp_path, source):
    url = sandbox.urls()["codeartifact"]
    options = 'create_missing = true\nsnapshots = "timestamped"'
    replica_job = write_replica_job(tmp_path / "replica.toml", url, [("libs", "libs")], options=options)
    outcome = replicate(load_job(replica_job), Settings(ledger=tmp_path / "replica.db"), ReplicateOptions())
    assert outcome.exit_code == 0, (outcome.problems, outcome.report.counts)
    # release jar + pom and the newest build's jar + pom move; the two older builds' files are skipped
    assert outcome.report.counts == {"confirmed": 4, "skipped": 4}
    assert outcome.tallies["libs"]["versions copied"] == 2

    target = codeartifact(url, TARGET_REGION)
    listed = target.list_package_version_assets(domain="acme", repository="libs", format="maven",
                                                namespace="com.acme", package="core", packageVersion=SNAP)
    assert {a["name"] for a in listed["assets"]} == set(build_files(BUILDS[2]))
    status = target.describe_package_version(domain="acme", repository="libs", format="maven", namespace="com.acme",
                                             package="core", packageVersion=SNAP)["packageVersion"]["status"]
    assert status == "Published"

    # what migrate copies from the same source, into another target repository
    migrate_job = write_replica_job(tmp_path / "migrate.toml", url, [("libs", "migrated")], options=options)
    assert ferry("migrate", str(migrate_job), "--state", str(tmp_path / "migrate.db"), "--no-progress") == 0
    assert snapshot(target, "acme", "libs") == snapshot(target, "acme", "migrated")

    again = replicate(load_job(replica_job), Settings(ledger=tmp_path / "replica.db"), ReplicateOptions())
    assert again.exit_code == 0 and again.report.counts == {}


def test_the_replicate_command_takes_snapshots_timestamped(sandbox, tmp_path, source, capsys):
    url = sandbox.urls()["codeartifact"]
    job = write_replica_job(tmp_path / "job.toml", url, [("libs", "libs")], options="create_missing = true")
    assert ferry("replicate", str(job), "--state", str(tmp_path / "ferry.db"), "--snapshots", "timestamped") == 0
    assert "versions copied 2" in capsys.readouterr().out
    listed = codeartifact(url, TARGET_REGION).list_package_version_assets(
        domain="acme", repository="libs", format="maven", namespace="com.acme", package="core", packageVersion=SNAP)
    assert {a["name"] for a in listed["assets"]} == set(build_files(BUILDS[2]))
