"""How many CodeArtifact requests a migration spends: counted by the stand-in, per operation.

The quota is what bounds a real migration, so requests that answer nothing new are a cost: a
version's assets are confirmed with one listing of the version (a generic version's from the
answers to its publishes, which carry each stored asset's SHA-256), origin controls come from the
plan's ListPackages walk, a generic version answered ``Published`` is not described again, and
npm dist-tags are read only for versions a source tag points at.
"""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
import requests

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.sandbox.codeartifact import api
from ferry.sandbox.codeartifact.quota import QuotaSpec
from ferry.sandbox.seed import NexusSeeder


def _world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("raw", "raw-files")
    seeder.raw("raw-files", "tool/1.0", {"a.bin": b"a" * 100, "b.bin": b"b" * 200, "c.bin": b"c" * 300})
    seeder.raw("raw-files", "tool/2.0", {"a.bin": b"A" * 100})
    seeder.raw("raw-files", "locked/2.0", {"l.bin": b"new"})
    seeder.create_repository("npm", "npm-internal")
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        seeder.npm("npm-internal", "widget", version)
    seeder.npm_dist_tag("npm-internal", "widget", "beta", "1.1.0")
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in ("generic-store", "npm-store"):
        ca.create_repository(domain="acme", repository=repo)
    # A package already in the target whose origin controls block publishing.
    ca.publish_package_version(domain="acme", repository="generic-store", format="generic", namespace="tools",
                               package="locked", packageVersion="1.0", assetName="l.bin", assetContent=b"old",
                               assetSHA256=hashlib.sha256(b"old").hexdigest())
    ca.put_package_origin_configuration(domain="acme", repository="generic-store", format="generic",
                                        namespace="tools", package="locked",
                                        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "raw-files", "target": "generic-store", "namespace": "tools"},
                     {"source": "npm-internal", "target": "npm-store"}])
    tags = requests.get(f"{urls['nexus']}/repository/npm-internal/widget", auth=("admin", "admin123"),
                        timeout=30).json()["dist-tags"]
    return ca, job, tags


def test_a_migration_asks_the_target_only_what_it_needs(sandbox, tmp_path, monkeypatch):
    ca, job, tags = _world(sandbox, tmp_path, monkeypatch)
    sandbox.quota.configure(QuotaSpec())  # zero the counters: only the migration is counted
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 1  # "locked" is refused

    ops = sandbox.quota.status()["operations"]
    # one listing per npm version published (three widget versions); the generic versions (tool 1.0
    # with three assets, tool 2.0) are confirmed from the publish answers; plus the plan's one listing
    # of the version already in the target (locked 1.0)
    assert ops.get("ListPackageVersionAssets") == 3 + 1
    assert ops.get("PublishPackageVersion") == 4
    assert ops.get("DescribePackage", 0) == 0  # origin controls came from the ListPackages walk
    assert ops.get("DescribePackageVersion", 0) == 0  # each generic publish was answered Published
    assert ops.get("PutPackageOriginConfiguration", 0) == 0
    tagged = {v for v in tags.values()}
    assert tagged == {"2.0.0", "1.1.0"}
    assert ops.get("endpoint GET") == len(tagged)  # dist-tags read only for the tagged versions

    # and what the requests produced is right: every asset there, tags followed, the blocked package untouched
    assets = ca.list_package_version_assets(domain="acme", repository="generic-store", format="generic",
                                            namespace="tools", package="tool", packageVersion="1.0")["assets"]
    assert sorted(a["name"] for a in assets) == ["a.bin", "b.bin", "c.bin"]
    described = ca.describe_package_version(domain="acme", repository="generic-store", format="generic",
                                            namespace="tools", package="tool", packageVersion="1.0")
    assert described["packageVersion"]["status"] == "Published"
    locked = ca.list_package_versions(domain="acme", repository="generic-store", format="generic",
                                      namespace="tools", package="locked")["versions"]
    assert [v["version"] for v in locked] == ["1.0"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    target_tags = requests.get(f"{endpoint}-/package/widget/dist-tags", auth=("aws", token), timeout=30).json()
    assert target_tags == tags


def test_a_listed_block_is_lifted_once_per_package(sandbox, tmp_path, monkeypatch):
    ca, job, _tags = _world(sandbox, tmp_path, monkeypatch)
    sandbox.quota.configure(QuotaSpec())
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    ops = sandbox.quota.status()["operations"]
    assert ops.get("PutPackageOriginConfiguration") == 1
    assert ops.get("DescribePackage", 0) == 0
    origin = ca.describe_package(domain="acme", repository="generic-store", format="generic", namespace="tools",
                                 package="locked")["package"]["originConfiguration"]["restrictions"]
    assert origin == {"publish": "ALLOW", "upstream": "BLOCK"}
    locked = ca.list_package_versions(domain="acme", repository="generic-store", format="generic",
                                      namespace="tools", package="locked")["versions"]
    assert sorted(v["version"] for v in locked) == ["1.0", "2.0"]
    assert ferry("verify", str(job), "--state", state) == 0


def _states(state: str) -> dict[tuple[str, str, str], str]:
    with sqlite3.connect(state) as db:
        return {(p, v, a): s for p, v, a, s in db.execute("SELECT package, version, asset, state FROM items")}


def test_a_rerun_lists_no_version_the_publish_answers_described(sandbox, tmp_path, monkeypatch):
    """The answers to a generic version's publishes are recorded as its listing: the next run lists none."""
    _ca, job, _tags = _world(sandbox, tmp_path, monkeypatch)
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    ops = sandbox.quota.status()["operations"]
    assert ops.get("ListPackageVersionAssets", 0) == 0
    assert ops.get("PublishPackageVersion", 0) == 0
    states = _states(state)
    assert states[("tool", "1.0", "b.bin")] == "same" and states[("locked", "2.0", "l.bin")] == "same"
    assert set(states.values()) == {"same", "only_in_target"}  # locked 1.0 is the target's own


def test_a_version_published_beside_assets_of_the_target_is_listed_again_next_run(sandbox, tmp_path, monkeypatch):
    """A version the target already held (with an asset the source lacks) is not described by the
    answers alone: it is confirmed from them, but the next run lists it and still sees that asset."""
    ca, job, _tags = _world(sandbox, tmp_path, monkeypatch)
    ca.publish_package_version(domain="acme", repository="generic-store", format="generic", namespace="tools",
                               package="tool", packageVersion="1.0", assetName="extra.bin", assetContent=b"x",
                               assetSHA256=hashlib.sha256(b"x").hexdigest(), unfinished=True)
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    assert _states(state)[("tool", "1.0", "a.bin")] == "confirmed"
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    assert sandbox.quota.status()["operations"].get("ListPackageVersionAssets") == 1  # tool 1.0 only
    states = _states(state)
    assert states[("tool", "1.0", "extra.bin")] == "only_in_target"
    assert states[("tool", "1.0", "c.bin")] == "same"


@pytest.mark.parametrize("answer", ["other-hash", "no-hashes"])
def test_a_publish_answer_that_does_not_show_the_hash_sent_leaves_it_to_the_listing(sandbox, tmp_path, monkeypatch,
                                                                                   answer):
    _ca, job, _tags = _world(sandbox, tmp_path, monkeypatch)
    real = api.HANDLERS["PublishPackageVersion"]

    def answering(call):
        body = real(call)
        body["asset"]["hashes"] = {"SHA-256": "0" * 64} if answer == "other-hash" else {}
        return body

    monkeypatch.setitem(api.HANDLERS, "PublishPackageVersion", answering)
    sandbox.quota.configure(QuotaSpec())
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish") == 0
    # every generic version published was listed (tool 1.0, tool 2.0, locked 2.0), and the listing,
    # which shows what was stored, confirmed them
    assert sandbox.quota.status()["operations"].get("ListPackageVersionAssets") == 3 + 3 + 1
    states = _states(state)
    assert states[("tool", "1.0", "c.bin")] == states[("locked", "2.0", "l.bin")] == "confirmed"
