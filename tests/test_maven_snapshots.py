"""Maven SNAPSHOTs without Nexus: the ``snapshots`` setting (job file, ``[options]``, ``--snapshots``), identify
in both modes, newest-build screening, version-level metadata, and the "skipped" outcome through plan, ledger,
exit codes and reports. The finishing order is checked against the CodeArtifact stand-in."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import xml.etree.ElementTree as ET

import pytest
import requests

from e2e_helpers import target_domain
from ferry.commands import exit_code
from ferry.config import RepositoryMapping, apply_overrides, parse_job
from ferry.errors import UsageError
from ferry.migrators import MIGRATORS
from ferry.migrators.base import PublishContext, Spooled
from ferry.migrators.maven import (
    NON_UNIQUE_REASON, OLDER_BUILD_REASON, SNAPSHOT_REASON, render_snapshot_metadata, snapshot_file, stranded_reason,
)
from ferry.model import Action, Checksums, ItemKey, SourceItem, TargetItem
from ferry.plan import plan
from ferry.report import build_report, render_csv, render_json, render_markdown, render_table
from ferry.sources.base import SourceFile
from ferry.state import LedgerReader, LedgerWriter

MIGRATOR = MIGRATORS["maven"]
SKIP = RepositoryMapping(source="maven-snapshots", target="maven-store", namespace="")
TIMESTAMPED = RepositoryMapping(source="maven-snapshots", target="maven-store", namespace="",
                                snapshots="timestamped")


def snap_file(name: str, artifact: str = "tool", base: str = "1.0-SNAPSHOT", group: str = "com.ex",
              repository: str = "maven-snapshots") -> SourceFile:
    """A snapshot file as NexusSource lists it (component version = the timestamped one, if the name has it)."""
    found = snapshot_file(artifact, base, name)
    version = found.value(base) if found else base
    data = f"bytes of {name}".encode()
    hints = {"group": group, "name": artifact, "version": version, "groupId": group, "artifactId": artifact,
             "baseVersion": base}
    path = f"{group.replace('.', '/')}/{artifact}/{base}/{name}"
    return SourceFile(repository, path, f"http://nexus/repository/{repository}/{path}", size=len(data),
                      checksums=Checksums(sha256=hashlib.sha256(data).hexdigest()), hints=hints)


JOB = """
[source]
kind = "nexus"
url = "http://nexus.example.com"

[target]
domain = "acme"

[[repositories]]
source = "maven-snapshots"
target = "maven-store"
{mapping}

[[repositories]]
source = "maven-releases"
target = "maven-releases"

{options}
"""


# -- the setting ----------------------------------------------------------------------------------------


def test_default_is_skip_and_the_mapping_value_wins_over_options_and_the_flag():
    job = parse_job(JOB.format(mapping="", options=""))
    assert job.options.snapshots == "skip"
    assert [m.effective_snapshots for m in job.repositories] == ["skip", "skip"]

    job = parse_job(JOB.format(mapping='snapshots = "skip"', options='[options]\nsnapshots = "timestamped"'))
    assert [m.effective_snapshots for m in job.repositories] == ["skip", "timestamped"]

    flagged = apply_overrides(job, snapshots="skip")  # --snapshots replaces [options] snapshots only
    assert flagged.options.snapshots == "skip"
    assert [m.effective_snapshots for m in flagged.repositories] == ["skip", "skip"]
    job = parse_job(JOB.format(mapping='snapshots = "timestamped"', options=""))
    assert [m.effective_snapshots for m in apply_overrides(job, snapshots="skip").repositories] == \
        ["timestamped", "skip"]
    assert [m.effective_snapshots for m in apply_overrides(job, snapshots="timestamped").repositories] == \
        ["timestamped", "timestamped"]
    assert apply_overrides(job, snapshots=None) is job


@pytest.mark.parametrize("mapping, options, message", [
    ('snapshots = "latest"', "", r"repositories\[0\]\.snapshots: 'latest' is not one of skip, timestamped"),
    ("", '[options]\nsnapshots = "timestamp"', r"options\.snapshots: 'timestamp' is not one of .*did you mean "
                                               r"'timestamped'"),
    ("snapshots = true", "", r"repositories\[0\]\.snapshots: expected a string"),
])
def test_bad_values_are_one_line_usage_errors(mapping, options, message):
    with pytest.raises(UsageError, match=message):
        parse_job(JOB.format(mapping=mapping, options=options))


def test_a_bad_flag_value_names_the_flag():
    job = parse_job(JOB.format(mapping="", options=""))
    with pytest.raises(UsageError, match=r"--snapshots: 'all' is not one of skip, timestamped"):
        apply_overrides(job, snapshots="all")


def test_the_cli_takes_snapshots_on_audit_migrate_and_verify():
    from typer.testing import CliRunner

    from ferry.cli import app

    for command in ("audit", "migrate", "verify"):
        result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "--snapshots" in result.output


# -- identify ---------------------------------------------------------------------------------------------


def test_skip_keys_every_snapshot_file_under_its_base_version_as_skipped():
    for name in ("tool-1.0-20240102.030405-1.jar", "tool-1.0-SNAPSHOT.jar"):
        item = MIGRATOR.identify(snap_file(name), SKIP)
        assert item.skipped == SNAPSHOT_REASON and item.unmappable is None
        assert item.key == ItemKey("maven", "com.ex", "tool", "1.0-SNAPSHOT", name)


def test_timestamped_makes_items_that_carry_their_build():
    item = MIGRATOR.identify(snap_file("tool-1.0-20240102.030405-12-sources.jar"), TIMESTAMPED)
    assert item.skipped is None and item.unmappable is None
    assert item.key == ItemKey("maven", "com.ex", "tool", "1.0-SNAPSHOT", "tool-1.0-20240102.030405-12-sources.jar")
    assert item.extras["snapshot_build"] == ("20240102.030405", 12)
    release = MIGRATOR.identify(SourceFile("r", "com/ex/tool/1.0/tool-1.0.jar", "http://n/x", size=1), TIMESTAMPED)
    assert release.skipped is None and "snapshot_build" not in release.extras


def test_timestamped_refuses_non_unique_snapshot_files():
    item = MIGRATOR.identify(snap_file("tool-1.0-SNAPSHOT.jar"), TIMESTAMPED)
    assert item.unmappable == NON_UNIQUE_REASON and item.skipped is None


@pytest.mark.parametrize("name, parsed", [
    ("app-1.0-20240101.120000-3.jar", ("20240101.120000", 3, "", "jar")),
    ("app-1.0-20240101.120000-3-sources.jar", ("20240101.120000", 3, "sources", "jar")),
    ("app-1.0-20240101.120000-10.tar.gz", ("20240101.120000", 10, "", "tar.gz")),
    ("app-1.0-20240101.120000-3.pom.asc", ("20240101.120000", 3, "", "pom.asc")),
    ("app-1.0-SNAPSHOT.jar", None),
    ("app-1.0-20240101.120000-3", None),
    ("app-1.0-20240101.120000-3-.jar", None),
    ("other-1.0-20240101.120000-3.jar", None),
])
def test_snapshot_file_names(name, parsed):
    found = snapshot_file("app", "1.0-SNAPSHOT", name)
    assert (None if found is None else (found.timestamp, found.build_number, found.classifier, found.extension)) \
        == parsed


# -- newest build only ---------------------------------------------------------------------------------------


def test_screen_keeps_the_newest_build_of_each_snapshot_and_skips_the_older_ones():
    names = ["tool-1.0-20240101.100000-1.jar", "tool-1.0-20240101.100000-1.pom",
             "tool-1.0-20240103.100000-3.jar",  # newest, listed before build 2
             "tool-1.0-20240102.100000-2.jar", "tool-1.0-20240102.100000-2-sources.jar",
             "tool-1.0-20240103.100000-3.pom"]
    files = [snap_file(n) for n in names]
    files.insert(2, snap_file("lib-2.0-20230101.000000-7.jar", artifact="lib", base="2.0-SNAPSHOT"))
    files.append(SourceFile("maven-snapshots", "com/ex/tool/0.9/tool-0.9.jar", "http://n/0.9", size=3))
    files.append(snap_file("tool-1.0-SNAPSHOT.jar"))  # non-unique: unmappable, passed through
    out = list(MIGRATOR.screen(MIGRATOR.identify(f, TIMESTAMPED) for f in files))
    assert len(out) == len(files)
    by_name = {item.key.asset: item for item in out}
    kept = sorted(n for n, item in by_name.items() if not item.skipped and not item.unmappable)
    assert kept == ["lib-2.0-20230101.000000-7.jar", "tool-0.9.jar", "tool-1.0-20240103.100000-3.jar",
                    "tool-1.0-20240103.100000-3.pom"]
    assert {n for n, item in by_name.items() if item.skipped == OLDER_BUILD_REASON} == {
        "tool-1.0-20240101.100000-1.jar", "tool-1.0-20240101.100000-1.pom", "tool-1.0-20240102.100000-2.jar"}
    # The newest build has no sources jar: build 2's is the one a client resolves for the SNAPSHOT's sources.
    assert by_name["tool-1.0-20240102.100000-2-sources.jar"].unmappable == stranded_reason(
        "sources", "jar", "20240103.100000-3")
    assert by_name["tool-1.0-SNAPSHOT.jar"].unmappable == NON_UNIQUE_REASON


def test_screen_names_the_files_only_an_older_build_has_instead_of_skipping_them():
    """Per-platform jobs each deploy one classifier of a SNAPSHOT, so every build holds some of its files; the
    source resolves each classifier to its newest build, while CodeArtifact serves the newest build alone."""
    names = ["natlib-1.0-20240101.100000-1.pom", "natlib-1.0-20240101.100000-1.jar",
             "natlib-1.0-20240101.100000-1-natives-linux.jar", "natlib-1.0-20240102.100000-2-natives-linux.jar",
             "natlib-1.0-20240103.100000-3-natives-windows.jar"]
    out = list(MIGRATOR.screen(MIGRATOR.identify(snap_file(n, artifact="natlib"), TIMESTAMPED) for n in names))
    verdicts = {item.key.asset: item.skipped or item.unmappable for item in out}
    assert verdicts == {
        "natlib-1.0-20240101.100000-1.pom": stranded_reason("", "pom", "20240103.100000-3"),
        "natlib-1.0-20240101.100000-1.jar": stranded_reason("", "jar", "20240103.100000-3"),
        "natlib-1.0-20240101.100000-1-natives-linux.jar": OLDER_BUILD_REASON,
        "natlib-1.0-20240102.100000-2-natives-linux.jar": stranded_reason("natives-linux", "jar",
                                                                          "20240103.100000-3"),
        "natlib-1.0-20240103.100000-3-natives-windows.jar": None}


def test_screen_keeps_builds_of_one_version_apart_per_source_repository():
    a = snap_file("tool-1.0-20240101.100000-1.jar", repository="snap-a")
    b = snap_file("tool-1.0-20240102.100000-2.jar", repository="snap-b")
    out = list(MIGRATOR.screen(MIGRATOR.identify(f, TIMESTAMPED) for f in (a, b)))
    assert [item.skipped for item in out] == [None, None]


def test_screen_is_lazy_for_releases():
    stream = MIGRATOR.screen(iter([MIGRATOR.identify(SourceFile("r", "com/ex/t/1/t-1.jar", "u", size=1),
                                                     TIMESTAMPED)]))
    assert next(stream).key.asset == "t-1.jar"


def test_version_level_metadata_names_the_newest_file_per_classifier_and_extension():
    doc = render_snapshot_metadata("com.ex", "tool", "1.0-SNAPSHOT", [
        "tool-1.0-20240101.100000-1.jar", "tool-1.0-20240101.100000-1-sources.jar",
        "tool-1.0-20240102.110000-2.jar", "tool-1.0-20240102.110000-2.pom", "tool-1.0-SNAPSHOT.jar", "junk"])
    root = ET.fromstring(doc)
    assert root.get("modelVersion") == "1.1.0"
    assert (root.findtext("groupId"), root.findtext("artifactId"), root.findtext("version")) == (
        "com.ex", "tool", "1.0-SNAPSHOT")
    assert root.findtext("versioning/snapshot/timestamp") == "20240102.110000"
    assert root.findtext("versioning/snapshot/buildNumber") == "2"
    assert root.findtext("versioning/lastUpdated") == "20240102110000"
    entries = {(e.findtext("classifier"), e.findtext("extension")): (e.findtext("value"), e.findtext("updated"))
               for e in root.find("versioning/snapshotVersions")}
    assert entries == {(None, "jar"): ("1.0-20240102.110000-2", "20240102110000"),
                       (None, "pom"): ("1.0-20240102.110000-2", "20240102110000"),
                       ("sources", "jar"): ("1.0-20240101.100000-1", "20240101100000")}
    assert render_snapshot_metadata("com.ex", "tool", "1.0-SNAPSHOT", ["tool-1.0-SNAPSHOT.jar"]) is None


# -- publishing against the stand-in: files, then version-level metadata, then the artifact's ---------------


@pytest.fixture
def target(sandbox, tmp_path):
    url = sandbox.urls()["codeartifact"]
    ca, domain = target_domain(url, "maven-store")
    http = requests.Session()
    sent: list[tuple[str, str]] = []
    http.hooks["response"].append(lambda resp, *a, **k: sent.append((resp.request.method, resp.request.url)))
    return ca, PublishContext(domain, "maven-store", http, {}), sent


def test_finishing_a_snapshot_uploads_version_metadata_before_the_artifact_metadata(target, tmp_path):
    ca, ctx, sent = target
    items = []
    for name in ("tool-1.0-20240102.030405-4.pom", "tool-1.0-20240102.030405-4.jar"):
        data = f"{name} contents".encode()
        path = tmp_path / name
        path.write_bytes(data)
        item = MIGRATOR.identify(snap_file(name), TIMESTAMPED)
        MIGRATOR.publish(ctx, item, Spooled(path, len(data), Checksums(sha256=hashlib.sha256(data).hexdigest())),
                         False)
        items.append(item)
    MIGRATOR.finish_version(ctx, items)
    puts = [url.split("/maven/maven-store/", 1)[1] for method, url in sent if method == "PUT"]
    assert puts == ["com/ex/tool/1.0-SNAPSHOT/tool-1.0-20240102.030405-4.pom",
                    "com/ex/tool/1.0-SNAPSHOT/tool-1.0-20240102.030405-4.jar",
                    "com/ex/tool/1.0-SNAPSHOT/maven-metadata.xml",
                    "com/ex/tool/maven-metadata.xml"]
    version = ca.describe_package_version(domain="acme", repository="maven-store", format="maven",
                                          namespace="com.ex", package="tool", packageVersion="1.0-SNAPSHOT")
    assert version["packageVersion"]["status"] == "Published"


# -- the skipped outcome: plan, ledger, exit codes, reports ---------------------------------------------------


def test_plan_passes_skipped_items_through_whatever_the_target_holds():
    key = ItemKey("maven", "com.ex", "tool", "1.0-SNAPSHOT", "tool-1.0-20240102.030405-1.jar")
    item = SourceItem(key, size=3, checksums={"sha256": "a" * 64}, skipped="by choice")
    (entry,) = plan([item], [TargetItem(key, 3, "b" * 64)])
    assert (entry.action, entry.reason) == (Action.SKIPPED, "by choice")
    assert str(entry).startswith("~ maven:com.ex/tool@1.0-SNAPSHOT/")
    unmappable = SourceItem(key, size=3, unmappable="no", skipped="by choice")
    assert next(plan([unmappable], [])).action is Action.UNMAPPABLE


@pytest.fixture
def ledger(tmp_path):
    """maven-snapshots: 3 skipped files of one SNAPSHOT; maven-releases: one file copied."""
    path = tmp_path / "ledger.db"
    skipped = [SourceItem(ItemKey("maven", "com.ex", "tool", "1.0-SNAPSHOT", f"tool-1.0-20240102.030405-1{ext}"),
                          size=100, checksums={"sha256": f"{n:064x}"}, skipped=SNAPSHOT_REASON)
               for n, ext in enumerate((".jar", ".pom", "-sources.jar"))]
    release = SourceItem(ItemKey("maven", "com.ex", "tool", "0.9", "tool-0.9.jar"), size=50,
                         checksums={"sha256": "f" * 64})
    with LedgerWriter(path) as writer:
        run_id = writer.start_run("migrate", "job.toml")
        for entry in plan(skipped, []):
            writer.planned(entry, "maven-snapshots", "maven-store")
        for entry in plan([release], []):
            writer.planned(entry, "maven-releases", "maven-releases")
        writer.transition("maven-releases", release.key, "confirmed", target_sha256="f" * 64)
        counts = writer.end_run("ok")
    return path, run_id, counts


def test_skipped_is_a_ledger_state_that_fails_no_command(ledger):
    path, run_id, counts = ledger
    assert counts == {"confirmed": 1, "skipped": 3}
    for command in ("audit", "migrate", "verify"):
        assert exit_code(counts, command) == 0
        assert exit_code({**counts, "unmappable": 1}, command) == 1


def test_reports_count_skipped_files_per_repository(ledger):
    path, run_id, _ = ledger
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id)
    assert report.failures == [] and report.failures_total == 0
    data = json.loads(render_json(report))
    assert data["states"] == {"confirmed": 1, "skipped": 3}
    assert data["actions"] == {"copy": 1, "skipped": 3}
    assert data["skipped"] == [{"reason": SNAPSHOT_REASON, "files": 3}]
    snapshots = next(g for g in data["repositories"] if g["source_repo"] == "maven-snapshots")
    assert (snapshots["files"], snapshots["versions"], snapshots["pending_files"]) == (3, 1, 0)
    assert snapshots["states"] == {"skipped": 3}

    rows = {r["source_repo"]: r for r in csv.DictReader(io.StringIO(render_csv(report)))}
    assert (rows["maven-snapshots"]["state_skipped"], rows["maven-snapshots"]["action_skipped"]) == ("3", "3")
    assert rows["maven-releases"]["state_skipped"] == "0"

    markdown = render_markdown(report)
    assert "| maven-snapshots → maven-store | maven | 1 | 3 | 300 B | 0 | 0 | 0 | 0 | 0 | 3 |" in markdown
    assert "## Skipped (3)" in markdown and f"| 3 | {SNAPSHOT_REASON} |" in markdown

    table = render_table(report).splitlines()
    assert next(line for line in table if line.startswith("repository")).split()[-1] == "skipped"
    assert next(line for line in table if line.startswith("maven-snapshots")).split()[-1] == "3"
    assert next(line for line in table if line.startswith("total")).split()[-1] == "3"
    assert f"  ~ 3 {SNAPSHOT_REASON}" in table
    assert not any("failed, conflicted" in line for line in table)
