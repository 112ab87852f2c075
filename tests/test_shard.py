"""--shard i/N: a deterministic split by package, each package in exactly one shard; env fallbacks; report --merge."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.errors import UsageError
from ferry.model import ItemKey
from ferry.sandbox.seed import NexusSeeder
from ferry.shard import Shard, from_env, parse, resolve, shard_of

PACKAGES = [(fmt, ns, f"pkg-{i}") for i in range(400) for fmt, ns in (("npm", ""), ("npm", "acme"),
                                                                       ("maven", "org.acme"), ("pypi", ""))]


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 16])
def test_every_package_is_in_exactly_one_shard(count):
    shards = [Shard(i, count) for i in range(1, count + 1)]
    for fmt, ns, name in PACKAGES:
        owners = [s for s in shards if s.owns(fmt, ns, name)]
        assert len(owners) == 1, (fmt, ns, name)
    if count > 1:
        # and the split is not degenerate: every shard gets a fair part of 1,600 packages
        sizes = [sum(s.owns(*p) for p in PACKAGES) for s in shards]
        assert min(sizes) > len(PACKAGES) / count * 0.7


def test_all_assets_and_versions_of_a_package_go_together():
    shard = Shard(2, 5)
    for i in range(200):
        keys = [ItemKey("pypi", "", f"lib{i}", v, a) for v in ("1.0", "2.0") for a in ("x.whl", "x.tar.gz")]
        assert len({shard.owns_key(k) for k in keys}) == 1


def test_split_is_the_same_in_another_process():
    """Not Python's salted hash(): another interpreter with another hash seed splits identically."""
    here = [shard_of(fmt, ns, name, 7) for fmt, ns, name in PACKAGES[:300]]
    code = ("import json,sys; from ferry.shard import shard_of; "
            "print(json.dumps([shard_of(f, n, p, 7) for f, n, p in json.load(sys.stdin)]))")
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(PACKAGES[:300]), capture_output=True,
                         text=True, check=True, env={**os.environ, "PYTHONHASHSEED": "12345"})
    assert json.loads(out.stdout) == here


def test_parse_and_ledger_names():
    assert parse("2/4") == Shard(2, 4) and str(parse(" 1 / 1 ")) == "1/1"
    assert Shard(2, 4).ledger(Path("ferry.db")) == Path("ferry.shard-2-of-4.db")
    assert Shard(3, 10).ledger(Path("/x/run.sqlite")) == Path("/x/run.shard-3-of-10.sqlite")
    for bad in ("0/4", "5/4", "2", "a/b", "1/0", "-1/3"):
        with pytest.raises(UsageError, match="--shard"):
            parse(bad)


def test_shard_from_aws_batch_and_kubernetes():
    assert from_env({}) is None
    assert from_env({"AWS_BATCH_JOB_ARRAY_INDEX": "0", "AWS_BATCH_JOB_ARRAY_SIZE": "8"}) == Shard(1, 8)
    assert from_env({"AWS_BATCH_JOB_ARRAY_INDEX": "7", "AWS_BATCH_JOB_ARRAY_SIZE": "8"}) == Shard(8, 8)
    assert from_env({"JOB_COMPLETION_INDEX": "2", "FERRY_SHARD_COUNT": "3"}) == Shard(3, 3)
    with pytest.raises(UsageError, match="FERRY_SHARD_COUNT"):
        from_env({"JOB_COMPLETION_INDEX": "2"})
    with pytest.raises(UsageError, match=r"AWS_BATCH_JOB_ARRAY_INDEX=8 is not below AWS_BATCH_JOB_ARRAY_SIZE=8 \(the "
                                         r"index counts from 0\)"):
        from_env({"AWS_BATCH_JOB_ARRAY_INDEX": "8", "AWS_BATCH_JOB_ARRAY_SIZE": "8"})
    with pytest.raises(UsageError, match="FERRY_SHARD_COUNT=0"):
        from_env({"JOB_COMPLETION_INDEX": "0", "FERRY_SHARD_COUNT": "0"})
    with pytest.raises(UsageError, match="not a whole number"):
        from_env({"AWS_BATCH_JOB_ARRAY_INDEX": "x", "AWS_BATCH_JOB_ARRAY_SIZE": "8"})
    # the flag may repeat the environment's shard, but not name another: every child of an array job whose
    # command carries --shard 1/N would run shard 1, and none the rest
    assert resolve("4/4", {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "AWS_BATCH_JOB_ARRAY_SIZE": "4"}) == Shard(4, 4)
    with pytest.raises(UsageError, match=r"--shard 1/2 disagrees with AWS_BATCH_JOB_ARRAY_INDEX=3 and "
                                         r"AWS_BATCH_JOB_ARRAY_SIZE=4 \(shard 4/4\)"):
        resolve("1/2", {"AWS_BATCH_JOB_ARRAY_INDEX": "3", "AWS_BATCH_JOB_ARRAY_SIZE": "4"})
    with pytest.raises(UsageError, match=r"--shard 2/3 disagrees with JOB_COMPLETION_INDEX=2"):
        resolve("2/3", {"JOB_COMPLETION_INDEX": "2", "FERRY_SHARD_COUNT": "3"})
    # a half-set environment does not overrule the flag that says which shard
    assert resolve("2/3", {"JOB_COMPLETION_INDEX": "2"}) == Shard(2, 3)


# ---------------------------------------------------------------- end to end on the stand-ins

NPM = [f"tool-{i}" for i in range(12)]
RAW = [f"bundle-{i}" for i in range(6)]
REPOS = [{"source": "npm-internal", "target": "npm-store"},
         {"source": "raw-files", "target": "generic-store", "namespace": "tools"}]


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("npm", "npm-internal")
    seeder.create_repository("raw", "raw-files")
    for name in NPM:
        seeder.npm("npm-internal", name, "1.0.0")
    for name in RAW:
        seeder.raw("raw-files", f"{name}/1.0", {"a.bin": name.encode(), "b.txt": b"b " + name.encode()})
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    monkeypatch.chdir(tmp_path)
    return {"ca": ca, "job": job, "tmp": tmp_path}


def _packages(ca, repo):
    return {p["package"] for p in ca.list_packages(domain="acme", repository=repo)["packages"]}


def test_shards_split_a_migration_and_report_merge_combines_them(world, capsys, monkeypatch):
    ca, job, tmp = world["ca"], str(world["job"]), world["tmp"]
    total = len(NPM) + 2 * len(RAW)
    assert ferry("migrate", job, "--shard", "1/3", "--no-progress") == 0
    first = _packages(ca, "npm-store") | _packages(ca, "generic-store")
    assert (tmp / "ferry.shard-1-of-3.db").exists() and not (tmp / "ferry.db").exists()
    assert first and first < set(NPM) | set(RAW)  # shard 1 moved some packages, not all
    assert all(Shard(1, 3).owns("npm", "", p) for p in _packages(ca, "npm-store"))

    # shard 2 from AWS Batch's variables (0-based index), shard 3 from Kubernetes' plus FERRY_SHARD_COUNT
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_INDEX", "1")
    monkeypatch.setenv("AWS_BATCH_JOB_ARRAY_SIZE", "3")
    assert ferry("migrate", job, "--no-progress") == 0
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_INDEX")
    monkeypatch.delenv("AWS_BATCH_JOB_ARRAY_SIZE")
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "2")
    monkeypatch.setenv("FERRY_SHARD_COUNT", "3")
    assert ferry("migrate", job, "--no-progress") == 0
    monkeypatch.delenv("JOB_COMPLETION_INDEX")
    assert _packages(ca, "npm-store") == set(NPM) and _packages(ca, "generic-store") == set(RAW)

    ledgers = [str(tmp / f"ferry.shard-{i}-of-3.db") for i in (1, 2, 3)]
    per_shard = []
    for ledger in ledgers:
        capsys.readouterr()
        assert ferry("report", "--state", ledger) == 0
        per_shard.append(json.loads(capsys.readouterr().out))
    # disjoint: each item was planned by exactly one shard, none saw the others' packages as target-only
    assert sum(r["states"].get("confirmed", 0) for r in per_shard) == total
    assert all("only_in_target" not in r["states"] for r in per_shard)

    before = [Path(p).stat().st_mtime_ns for p in ledgers]
    capsys.readouterr()
    assert ferry("report", "--merge", *ledgers) == 0
    captured = capsys.readouterr()
    merged = json.loads(captured.out)
    assert merged["states"] == {"confirmed": total}
    assert merged["totals"]["files"] == total and merged["totals"]["pending_files"] == 0
    assert {(g["target_repo"], g["files"]) for g in merged["repositories"]} == {("npm-store", len(NPM)),
                                                                               ("generic-store", 2 * len(RAW))}
    assert all(f"{p}:" in captured.err for p in ledgers)
    assert [Path(p).stat().st_mtime_ns for p in ledgers] == before  # read-only

    # verify without --shard checks the whole job against the target
    assert ferry("verify", job, "--state", str(tmp / "verify.db")) == 0
    out = tmp / "merged.md"
    assert ferry("report", "--merge", *ledgers, "-o", str(out)) == 0
    assert "generic-store" in out.read_text()


def test_report_merge_keeps_the_newest_row_and_refuses_non_ledgers(world, capsys):
    job, tmp = str(world["job"]), world["tmp"]
    assert ferry("audit", job, "--shard", "1/2", "--state", str(tmp / "a.db")) in (0, 1)
    assert ferry("migrate", job, "--state", str(tmp / "b.db"), "--no-progress") == 0
    capsys.readouterr()
    # a.db planned shard 1 as "copy"; b.db (later, unsharded) confirmed everything: the newer rows win
    assert ferry("report", "--merge", str(tmp / "a.db"), str(tmp / "b.db")) == 0
    merged = json.loads(capsys.readouterr().out)
    assert merged["states"] == {"confirmed": len(NPM) + 2 * len(RAW)}
    (tmp / "junk.db").write_bytes(b"not sqlite at all" * 100)
    assert ferry("report", "--merge", str(tmp / "b.db"), str(tmp / "junk.db")) == 2
    assert "not a ferry ledger" in capsys.readouterr().err
    assert ferry("report", "--merge", str(tmp / "missing.db")) == 2
    assert ferry("report", str(tmp / "b.db")) == 2  # ledgers without --merge


def test_a_shard_count_of_one_without_an_index_is_the_whole_job_and_passes():
    from ferry.shard import check_indexed

    check_indexed({"FERRY_SHARD_COUNT": "1"})
    check_indexed({"FERRY_SHARD_COUNT": "3", "JOB_COMPLETION_INDEX": "0"})
    check_indexed({})
    with pytest.raises(UsageError, match="FERRY_SHARD_COUNT=3 is set but JOB_COMPLETION_INDEX is not"):
        check_indexed({"FERRY_SHARD_COUNT": "3"})
