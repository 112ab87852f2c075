"""Reruns plan from the ledger's record of target versions whose revision is unchanged; changes are relisted."""

from __future__ import annotations

import hashlib
import json

import pytest

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.sandbox.codeartifact.quota import QuotaSpec
from ferry.sandbox.seed import NexusSeeder, sdist, wheel

REPOS = [{"source": "pypi-internal", "target": "pypi-store"},
         {"source": "raw-files", "target": "generic-store", "namespace": "tools"}]


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("pypi", "pypi-internal")
    seeder.create_repository("raw", "raw-files")
    for version in ("1.0", "1.1", "2.0"):
        for fname, data in (wheel("acme-lib", version), sdist("acme-lib", version)):
            seeder.pypi("pypi-internal", fname, data)
    for name in ("alpha", "beta"):
        seeder.raw("raw-files", f"{name}/1.0", {"a.bin": name.encode(), "b.bin": name.encode() * 2})
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    return {"ca": ca, "job": str(job), "state": str(tmp_path / "ferry.db"), "sandbox": sandbox}


def _ops(sandbox) -> dict[str, int]:
    return sandbox.quota.status()["operations"]


def _report(state, capsys) -> dict:
    capsys.readouterr()
    assert ferry("report", "--state", state) == 0
    return json.loads(capsys.readouterr().out)


def test_rerun_lists_each_package_once_and_no_version_assets(world, capsys):
    sandbox, job, state = world["sandbox"], world["job"], world["state"]
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    sandbox.quota.configure(QuotaSpec())  # zero the counters
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    ops = _ops(sandbox)
    assert ops.get("ListPackageVersionAssets", 0) == 0
    assert ops["ListPackageVersions"] == 3  # acme-lib, alpha, beta
    assert not any(op.startswith("endpoint P") or op == "PublishPackageVersion" for op in ops)
    assert _report(state, capsys)["states"] == {"same": 10}


def test_a_version_changed_behind_ferrys_back_is_listed_again(world, capsys):
    sandbox, job, state, ca = world["sandbox"], world["job"], world["state"], world["ca"]
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    # someone adds an asset to tools/alpha 1.0 in the target: its revision changes
    extra = b"added later"
    ca.publish_package_version(domain="acme", repository="generic-store", format="generic", namespace="tools",
                               package="alpha", packageVersion="1.0", assetName="c.bin", assetContent=extra,
                               assetSHA256=hashlib.sha256(extra).hexdigest())
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    ops = _ops(sandbox)
    assert ops["ListPackageVersionAssets"] == 1  # alpha 1.0 only
    report = _report(state, capsys)
    assert report["states"] == {"same": 10, "only_in_target": 1}
    # the listing was recorded: the next run lists nothing again
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    assert _ops(sandbox).get("ListPackageVersionAssets", 0) == 0


def test_a_version_deleted_and_republished_differently_is_a_conflict_not_a_stale_same(world, capsys):
    job, state, ca = world["job"], world["state"], world["ca"]
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    ca.delete_package_versions(domain="acme", repository="generic-store", format="generic", namespace="tools",
                               package="beta", versions=["1.0"])
    other = b"not what the source has"
    ca.publish_package_version(domain="acme", repository="generic-store", format="generic", namespace="tools",
                               package="beta", packageVersion="1.0", assetName="a.bin", assetContent=other,
                               assetSHA256=hashlib.sha256(other).hexdigest())
    assert ferry("migrate", job, "--state", state, "--no-progress") == 1
    report = _report(state, capsys)
    assert report["states"]["conflict"] == 1
    assert [f["key"] for f in report["failures"]] == ["generic:tools/beta@1.0/a.bin"]


def test_verify_never_trusts_the_record(world, capsys):
    sandbox, job, state = world["sandbox"], world["job"], world["state"]
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    sandbox.quota.configure(QuotaSpec())
    assert ferry("verify", job, "--state", state) == 0
    assert _ops(sandbox)["ListPackageVersionAssets"] == 5  # 3 + 2 versions, every one looked at


def test_each_listing_thread_reads_with_a_small_page_cache(tmp_path):
    """One read connection per listing thread, per mapping: each keeps a small page cache, so a rerun of
    a large target does not hold many default 2 MiB caches (measured: ~65 MB at 100k versions)."""
    import threading

    from ferry.state import LedgerWriter
    from ferry.state.target_memory import READ_CACHE_KIB, TargetMemory

    path = tmp_path / "ferry.db"
    with LedgerWriter(path) as writer:
        writer.start_run("migrate", "job.toml")
        memory = TargetMemory(path, writer)
        memory.remember("npm-store", "npm", "", "left-pad", "1.0.0", "rev-1",
                        [{"name": "package.tgz", "size": 3, "hashes": {"SHA-256": "ab" * 32}}])
        writer.flush()
        got = []

        def recall():
            got.append(memory.recall("npm-store", "npm", "", "left-pad"))

        threads = [threading.Thread(target=recall) for _ in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert got == [{"1.0.0": ("rev-1", [{"name": "package.tgz", "size": 3,
                                             "hashes": {"SHA-256": "ab" * 32}}])}] * 3
        assert len(memory._conns) == 3
        assert [c.execute("PRAGMA cache_size").fetchone()[0] for c in memory._conns] == [-READ_CACHE_KIB] * 3
        memory.close()
        assert memory._conns == []


def test_a_ledger_that_cannot_be_read_mid_run_stops_the_run_with_one_line(tmp_path):
    """A migrate whose ledger -wal was truncated under it ended "unexpected OperationalError: disk I/O error;
    rerun with --debug for the details and report it" (TargetMemory.recorded, a listing thread's read)."""
    import os
    from concurrent.futures import ThreadPoolExecutor

    from ferry.errors import FatalError
    from ferry.state import LedgerWriter
    from ferry.state.target_memory import TargetMemory

    path = tmp_path / "ledger.db"
    writer = LedgerWriter(path, linger=0)
    memory = TargetMemory(path, writer)
    memory.remember("dst", "npm", "", "left-pad", "1.0.0", "r1", [{"name": "package.tgz", "size": 1, "hashes": {}}])
    writer.flush()
    assert memory.recorded("dst", "npm", "", "left-pad", "1.0.0")
    os.remove(f"{path}-wal")  # what a new read connection (each listing thread's) then meets: a disk I/O error
    os.remove(f"{path}-shm")
    with ThreadPoolExecutor(1) as pool:
        for read in (lambda: memory.recorded("dst", "npm", "", "left-pad", "1.0.0"),
                     lambda: memory.recall("dst", "npm", "", "left-pad")):
            with pytest.raises(FatalError) as caught:
                pool.submit(read).result()
            assert str(caught.value) == (
                f"{path}: the ledger cannot be read (disk I/O error); check its disk and the -wal and -shm files beside "
                "it (a run writing it must keep them), then run the same command again")
    memory.close()
    writer.close()
