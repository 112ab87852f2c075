"""What ferry must never call fine: bytes it could not check, conflicts made visible, items the run did
not select, and versions the target can no longer serve. Each case is end to end on the stand-ins."""

from __future__ import annotations

import hashlib
import sqlite3
import time

import pytest

import ferry.sources.nexus as nexus_source
from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.model import Checksums
from ferry.sandbox.seed import NexusSeeder, maven_artifact

NO_RATES = "\n[options.rates]\n" + "".join(f"{c} = 0\n" for c in ("publish", "copy", "asset_read", "list", "token",
                                                                    "write", "read"))


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")

    def job(repos):
        for repo in repos:
            ca.create_repository(domain="acme", repository=repo["target"])
        return write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], repos, extra=NO_RATES)

    store = sandbox.apps["codeartifact"].store
    return {"seeder": NexusSeeder(urls["nexus"]), "ca": ca, "job": job, "state": str(tmp_path / "ferry.db"),
            "store": store, "repo": lambda name: store.repository(store.domain("us-east-1", None, "acme"), name),
            "nexus": sandbox.apps["nexus"].store, "urls": urls}


def _ledger(state: str) -> dict[tuple[str, str], tuple[str, str | None]]:
    with sqlite3.connect(state) as db:
        return {(package, asset): (s, reason) for package, asset, s, reason in
                db.execute("SELECT package, asset, state, reason FROM items")}


def _status(ca, repo, fmt, namespace, package, version) -> str:
    extra = {"namespace": namespace} if namespace else {}
    out = ca.describe_package_version(domain="acme", repository=repo, format=fmt, package=package,
                                      packageVersion=version, **extra)
    return out["packageVersion"]["status"]


def test_one_malformed_listed_digest_does_not_cost_the_others():
    listed = {"sha256": "N/A", "sha1": "A" * 40, "md5": "b" * 32, "sha512": ""}
    assert Checksums.from_listing(listed).as_dict() == {"sha1": "a" * 40, "md5": "b" * 32}
    assert Checksums.from_listing({"sha256": "c" * 64}).as_dict() == {"sha256": "c" * 64}
    assert Checksums.from_listing(None).as_dict() == {}
    with pytest.raises(ValueError):
        Checksums.from_mapping(listed)  # the strict form still refuses: targets' listings must be well formed


def test_bytes_corrupted_at_rest_fail_even_when_the_listed_sha256_is_malformed(world, monkeypatch, capsys):
    """Nexus lists sha256 "N/A" beside good md5/sha1/sha512 and serves bytes that went bad on disk: the
    other digests still check the download, so the file fails instead of being published as confirmed."""
    job = world["job"]([{"source": "raw-files", "target": "generic-store", "namespace": "tools"}])
    world["seeder"].create_repository("raw", "raw-files")
    good = b"b" * 100
    world["seeder"].raw("raw-files", "tool/1.0", {"a.bin": b"a" * 100, "b.bin": good})
    (asset,) = [a for a in world["nexus"].assets_under("raw-files", "") if a.path.endswith("b.bin")]
    world["nexus"].blobs.path(asset.sha256).write_bytes(good[:-8] + b"\0" * 8)
    real = nexus_source.NexusSource._get_json

    def listing_with_a_bad_sha256(self, path, params=None):
        doc = real(self, path, params)
        for component in doc.get("items", []) if isinstance(doc, dict) else []:
            for listed in component.get("assets", []):
                if listed.get("path", "").endswith("b.bin"):
                    listed["checksum"]["sha256"] = "N/A"
        return doc

    monkeypatch.setattr(nexus_source.NexusSource, "_get_json", listing_with_a_bad_sha256)
    for _ in range(2):  # and the rerun must not turn it into "same" either
        assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 1
        state, reason = _ledger(world["state"])[("tool", "b.bin")]
        assert state == "failed" and "source says sha" in reason
    names = {a["name"] for a in world["ca"].list_package_version_assets(
        domain="acme", repository="generic-store", format="generic", namespace="tools", package="tool",
        packageVersion="1.0")["assets"]}
    assert names == {"a.bin"}
    assert _status(world["ca"], "generic-store", "generic", "tools", "tool", "1.0") == "Unfinished"


def test_a_version_holding_a_conflict_is_never_finished(world):
    """The target holds Unfinished versions with a different a.bin / jar. ferry adds the missing files
    but must not publish the version (generic) nor list it in maven-metadata.xml (Maven): that would
    hand clients the conflicting bytes."""
    job = world["job"]([{"source": "raw-files", "target": "generic-store", "namespace": "tools"},
                        {"source": "maven-releases", "target": "maven-store"}])
    seeder, store = world["seeder"], world["store"]
    seeder.create_repository("raw", "raw-files")
    seeder.create_repository("maven", "maven-releases")
    seeder.raw("raw-files", "tool/1.0", {"a.bin": b"a" * 100, "b.bin": b"b" * 100})
    seeder.maven("maven-releases", "com.acme", "lib", "1.0", maven_artifact("com.acme", "lib", "1.0", sources=False))
    store.publish_asset(world["repo"]("generic-store"), "generic", "tools", "tool", "1.0", "a.bin",
                        store.blobs.put_bytes(b"other" * 20), unfinished=True)
    store.publish_asset(world["repo"]("maven-store"), "maven", "com.acme", "lib", "1.0", "lib-1.0.jar",
                        store.blobs.put_bytes(b"PK other jar"), unfinished=True)

    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 1
    ledger = _ledger(world["state"])
    assert ledger[("tool", "a.bin")][0] == "conflict" and ledger[("lib", "lib-1.0.jar")][0] == "conflict"
    assert ledger[("tool", "b.bin")][0] == "confirmed" and ledger[("lib", "lib-1.0.pom")][0] == "confirmed"
    ca = world["ca"]
    assert _status(ca, "generic-store", "generic", "tools", "tool", "1.0") == "Unfinished"
    assert _status(ca, "maven-store", "maven", "com.acme", "lib", "1.0") == "Unfinished"
    other = hashlib.sha256(b"other" * 20).hexdigest()
    held = {a["name"]: a["hashes"]["SHA-256"] for a in ca.list_package_version_assets(
        domain="acme", repository="generic-store", format="generic", namespace="tools", package="tool",
        packageVersion="1.0")["assets"]}
    assert held["a.bin"] == other  # left untouched
    # The rerun finds the added files there, in versions it still does not finish: "same", the conflicts stay.
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 1
    ledger = _ledger(world["state"])
    assert ledger[("tool", "a.bin")][0] == "conflict" and ledger[("lib", "lib-1.0.jar")][0] == "conflict"
    assert ledger[("tool", "b.bin")][0] == "same" and ledger[("lib", "lib-1.0.pom")][0] == "same"
    assert _status(ca, "generic-store", "generic", "tools", "tool", "1.0") == "Unfinished"
    assert _status(ca, "maven-store", "maven", "com.acme", "lib", "1.0") == "Unfinished"


def test_rows_an_earlier_run_left_planned_are_not_this_runs_to_publish(world):
    """``audit`` leaves every item planned; ``migrate --include a`` must publish a alone."""
    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    world["seeder"].create_repository("npm", "npm-internal")
    for name in ("a", "b"):
        world["seeder"].npm("npm-internal", name, "1.0.0")
    assert ferry("audit", str(job), "--state", world["state"]) == 0
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress", "--include", "a") == 0
    packages = {p["package"] for p in world["ca"].list_packages(domain="acme", repository="npm-store")["packages"]}
    assert packages == {"a"}
    assert _ledger(world["state"])[("b", "package.tgz")][0] == "planned"
    # The whole job afterwards still copies b.
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    packages = {p["package"] for p in world["ca"].list_packages(domain="acme", repository="npm-store")["packages"]}
    assert packages == {"a", "b"}


def test_verify_fails_for_a_version_archived_in_the_target(world, capsys):
    """An Archived version's assets cannot be downloaded: verify says so and fails; migrate leaves it."""
    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    world["seeder"].create_repository("npm", "npm-internal")
    world["seeder"].npm("npm-internal", "x", "1.0.0")
    world["seeder"].npm("npm-internal", "y", "1.0.0")
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    world["ca"].update_package_versions_status(domain="acme", repository="npm-store", format="npm", package="x",
                                               versions=["1.0.0"], targetStatus="Archived")
    capsys.readouterr()
    assert ferry("verify", str(job), "--state", world["state"]) == 1
    out = capsys.readouterr().out
    line = out.split("differing in the target (1):")[1].splitlines()[1]
    assert "npm:x@1.0.0/package.tgz" in line and "Archived" in line
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert _ledger(world["state"])[("x", "package.tgz")][0] == "same"
    assert _status(world["ca"], "npm-store", "npm", None, "x", "1.0.0") == "Archived"


def _differing(out: str) -> list[str]:
    """The lines verify prints under "differing in the target (N):"."""
    if "differing in the target (" not in out:
        return []
    block = out.split("differing in the target (", 1)[1].split("\n\n", 1)[0]
    return [line.strip() for line in block.splitlines()[1:] if line.strip()]


def test_verify_fails_for_an_extra_file_in_a_version_the_source_has(world, capsys):
    """The target's lib 1.0 and tool 1.0 hold a file the source's do not: verify names each and fails.
    Target-only versions and packages are the target's own (listed, not failed); a checksum file the
    target might list is never held against the source. migrate and audit keep exit 0 and delete nothing."""
    job = world["job"]([{"source": "raw-files", "target": "generic-store", "namespace": "tools"},
                        {"source": "maven-releases", "target": "maven-store"}])
    seeder, store = world["seeder"], world["store"]
    seeder.create_repository("raw", "raw-files")
    seeder.create_repository("maven", "maven-releases")
    seeder.raw("raw-files", "tool/1.0", {"a.bin": b"a" * 100})
    seeder.maven("maven-releases", "com.acme", "lib", "1.0", maven_artifact("com.acme", "lib", "1.0", sources=False))
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    generic, maven = world["repo"]("generic-store"), world["repo"]("maven-store")

    # The target's own: another version and another package of each format. Not a failure.
    store.publish_asset(generic, "generic", "tools", "tool", "2.0", "b.bin", store.blobs.put_bytes(b"own"))
    store.publish_asset(generic, "generic", "tools", "other", "1.0", "c.bin", store.blobs.put_bytes(b"own"))
    store.publish_asset(maven, "maven", "com.acme", "lib", "2.0", "lib-2.0.jar", store.blobs.put_bytes(b"PK own"))
    store.publish_asset(maven, "maven", "com.acme", "lib", "1.0", "lib-1.0.jar.sha1",
                        store.blobs.put_bytes(b"0" * 40))  # as if the service listed a checksum file
    capsys.readouterr()
    assert ferry("verify", str(job), "--state", world["state"]) == 0
    out = capsys.readouterr().out
    assert "extra in the target (4):" in out and _differing(out) == []

    # Files added to versions the source has: those versions differ from the source's.
    store.publish_asset(generic, "generic", "tools", "tool", "1.0", "extra.bin", store.blobs.put_bytes(b"x"))
    store.publish_asset(maven, "maven", "com.acme", "lib", "1.0", "lib-1.0-sources.jar",
                        store.blobs.put_bytes(b"PK sources"))
    assert ferry("verify", str(job), "--state", world["state"]) == 1
    out = capsys.readouterr().out
    assert _differing(out) == [
        "generic:tools/tool@1.0/extra.bin -> generic-store  (the target's 1.0 holds extra.bin, which the source's "
        "1.0 does not)",
        "maven:com.acme/lib@1.0/lib-1.0-sources.jar -> maven-store  (the target's 1.0 holds lib-1.0-sources.jar, "
        "which the source's 1.0 does not)"]
    assert "extra in the target (4):" in out
    ledger = _ledger(world["state"])
    assert ledger[("tool", "a.bin")][0] == ledger[("lib", "lib-1.0.jar")][0] == "same"

    # migrate never deletes and does not fail for what the target holds beyond the source; nor does audit.
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert _ledger(world["state"])[("lib", "lib-1.0-sources.jar")][0] == "only_in_target"
    assert ferry("audit", str(job), "--state", world["state"]) == 0
    names = {a["name"] for a in world["ca"].list_package_version_assets(
        domain="acme", repository="maven-store", format="maven", namespace="com.acme", package="lib",
        packageVersion="1.0")["assets"]}
    assert names == {"lib-1.0.jar", "lib-1.0.pom", "lib-1.0.jar.sha1", "lib-1.0-sources.jar"}

    # With [options] since the source lists only newer files, so an older one would look extra: not held.
    write_job(job, world["urls"]["nexus"], world["urls"]["codeartifact"],
              [{"source": "raw-files", "target": "generic-store", "namespace": "tools"},
               {"source": "maven-releases", "target": "maven-store"}], extra="\n[options]\nsince = 2000-01-01\n")
    capsys.readouterr()
    assert ferry("verify", str(job), "--state", world["state"]) == 0
    out = capsys.readouterr()
    assert _differing(out.out) == [] and "[options] since" in out.err


def test_npm_dist_tags_follow_the_source_on_reruns(world, sandbox):
    """The source moves latest back to a backport and promotes beta, versions all migrated before: the
    rerun copies no file but moves the tags; a rerun after that asks the target nothing about tags."""
    import requests

    from ferry.sandbox.codeartifact.quota import QuotaSpec

    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    seeder, ca = world["seeder"], world["ca"]
    seeder.create_repository("npm", "npm-internal")
    for version in ("1.0.0", "2.0.0", "3.0.0-beta.1", "1.0.1"):
        seeder.npm("npm-internal", "@acme/x", version)
    seeder.npm_dist_tag("npm-internal", "@acme/x", "latest", "2.0.0")
    seeder.npm_dist_tag("npm-internal", "@acme/x", "beta", "3.0.0-beta.1")

    def target_tags():
        endpoint = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
        token = ca.get_authorization_token(domain="acme")["authorizationToken"]
        return requests.get(f"{endpoint}-/package/@acme/x/dist-tags", auth=("aws", token), timeout=30).json()

    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert target_tags() == {"latest": "2.0.0", "beta": "3.0.0-beta.1"}
    seeder.npm_dist_tag("npm-internal", "@acme/x", "latest", "1.0.1")
    seeder.npm_dist_tag("npm-internal", "@acme/x", "beta", "2.0.0")
    # verify sees the moved tags before migrate moves them: the items the source's tags point at differ
    assert ferry("verify", str(job), "--state", world["state"]) == 1
    with sqlite3.connect(world["state"]) as db:
        differing = dict(db.execute("SELECT version, reason FROM items WHERE state = 'conflict'").fetchall())
    assert differing == {"1.0.1": "dist-tag latest: the source points it at 1.0.1, the target at 2.0.0",
                         "2.0.0": "dist-tag beta: the source points it at 2.0.0, the target at 3.0.0-beta.1"}
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert target_tags() == {"latest": "1.0.1", "beta": "2.0.0"}
    ops = sandbox.quota.status()["operations"]
    assert ops.get("PublishPackageVersion", 0) == 0 and ops.get("endpoint PUT") == 2  # two tags, no file
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    ops = sandbox.quota.status()["operations"]
    assert ops.get("endpoint GET", 0) == 0 and ops.get("endpoint PUT", 0) == 0
    assert ferry("verify", str(job), "--state", world["state"]) == 0


def test_npm_deprecations_arrive_follow_the_source_and_are_verified(world, sandbox):
    """A version the source deprecated (``npm deprecate``) arrives deprecated with the same message, so
    ``npm install`` warns from the target too; one the source deprecates after it was migrated is a
    difference for verify and is deprecated by the next migrate; a rerun with nothing new writes nothing."""
    import requests

    from ferry.sandbox.codeartifact.quota import QuotaSpec

    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    seeder, ca = world["seeder"], world["ca"]
    seeder.create_repository("npm", "npm-internal")
    for version in ("1.0.0", "1.1.0", "2.0.0"):
        seeder.npm("npm-internal", "@acme/old", version)
    seeder.npm_deprecate("npm-internal", "@acme/old", "1.0.0", "use 2.0.0 — 1.0.0 leaks tokens")

    def target_deprecations():
        endpoint = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
        token = ca.get_authorization_token(domain="acme")["authorizationToken"]
        doc = requests.get(f"{endpoint}@acme%2fold", auth=("aws", token), timeout=30).json()
        return {version: manifest["deprecated"] for version, manifest in doc["versions"].items()
                if manifest.get("deprecated")}

    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert target_deprecations() == {"1.0.0": "use 2.0.0 — 1.0.0 leaks tokens"}
    assert ferry("verify", str(job), "--state", world["state"]) == 0

    seeder.npm_deprecate("npm-internal", "@acme/old", "1.1.0", "use 2.0.0")
    assert ferry("verify", str(job), "--state", world["state"]) == 1
    with sqlite3.connect(world["state"]) as db:
        differing = dict(db.execute("SELECT version, reason FROM items WHERE state = 'conflict'").fetchall())
    assert differing == {"1.1.0": "the source deprecates 1.1.0 ('use 2.0.0'), the target does not"}
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert target_deprecations() == {"1.0.0": "use 2.0.0 — 1.0.0 leaks tokens", "1.1.0": "use 2.0.0"}
    ops = sandbox.quota.status()["operations"]
    assert ops.get("PublishPackageVersion", 0) == 0 and ops.get("endpoint PUT") == 1  # one packument, no file
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert sandbox.quota.status()["operations"].get("endpoint PUT", 0) == 0
    assert ferry("verify", str(job), "--state", world["state"]) == 0


def test_a_deprecated_version_the_target_owner_unlisted_is_neither_a_failure_nor_a_difference(world, capsys):
    """The target's owner unlists a deprecated version after the migration (a version's status in the target is
    its owner's choice: ``migrate`` and ``verify`` call an Unlisted version the same). npm lists it nowhere, so
    its deprecation can neither be read nor written there: migrate and verify leave it out and say so, where
    migrate failed on every run ("the target does not list that version") and verify said the target did not
    deprecate it."""
    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    seeder, ca = world["seeder"], world["ca"]
    seeder.create_repository("npm", "npm-internal")
    for version in ("1.0.0", "2.0.0"):
        seeder.npm("npm-internal", "@acme/old", version)
    seeder.npm_deprecate("npm-internal", "@acme/old", "1.0.0", "use 2.0.0")
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    ca.update_package_versions_status(domain="acme", repository="npm-store", format="npm", namespace="acme",
                                      package="old", versions=["1.0.0"], targetStatus="Unlisted")
    capsys.readouterr()

    hidden = ("note: npm-internal -> npm-store: 1 version(s) the source deprecates are Unlisted or Archived in the "
              "target, where npm lists them nowhere: their deprecation is neither set nor checked there "
              "(@acme/old@1.0.0)")
    for argv in (("migrate", "--no-progress"), ("verify",)):
        code = ferry(*argv, str(job), "--state", world["state"])
        out, err = capsys.readouterr()
        assert code == 0, out + err
        assert hidden in err
    assert _status(ca, "npm-store", "npm", "acme", "old", "1.0.0") == "Unlisted"  # the owner's choice stays


def test_a_package_deprecated_in_every_version_costs_one_packument_write(world, sandbox):
    """An old package the source deprecates whole (``npm deprecate legacy "*" ...``: one packument PUT) arrives
    deprecated in every version with one packument write too, not a read and a rewrite of the whole, growing
    packument per version (quadratic in its versions, and a publish-quota slot each)."""
    import json

    import requests

    from ferry.sandbox.codeartifact.quota import QuotaSpec

    job = world["job"]([{"source": "npm-internal", "target": "npm-store"}])
    seeder, ca = world["seeder"], world["ca"]
    seeder.create_repository("npm", "npm-internal")
    versions = [f"1.{minor}.0" for minor in range(12)]
    for version in versions:
        seeder.npm("npm-internal", "legacy", version)
    url = f"{world['urls']['nexus']}/repository/npm-internal/legacy"
    packument = seeder.http.get(url, params={"write": "true"}, timeout=30).json()
    for manifest in packument["versions"].values():
        manifest["deprecated"] = "unmaintained: use modern"
    seeder.http.put(url, data=json.dumps(packument), headers={"Content-Type": "application/json"},
                    timeout=30).raise_for_status()

    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert sandbox.quota.status()["operations"].get("endpoint PUT") == len(versions) + 1  # the publishes, one packument
    endpoint = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    doc = requests.get(f"{endpoint}legacy", auth=("aws", token), timeout=30).json()
    assert {v: m.get("deprecated") for v, m in doc["versions"].items()} == dict.fromkeys(versions,
                                                                                        "unmaintained: use modern")
    assert ferry("verify", str(job), "--state", world["state"]) == 0
    sandbox.quota.configure(QuotaSpec())
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert sandbox.quota.status()["operations"].get("endpoint PUT", 0) == 0


def test_untouched_npm_packages_follow_their_tags_before_the_transfer_starts(world, monkeypatch):
    """One rerun, two npm packages whose source moved a tag: ``steady`` has nothing to copy, so its tags
    follow as soon as its mapping is planned (in the background, before the transfer even starts);
    ``growing`` has a new version, so its tags follow after the transfer, new version included."""
    import requests

    from ferry.engine import Engine

    job = world["job"]([{"source": "npm-internal", "target": "npm-store"},
                        {"source": "raw-internal", "target": "generic-store", "namespace": "tools"}])
    seeder, ca = world["seeder"], world["ca"]
    seeder.create_repository("npm", "npm-internal")
    seeder.create_repository("raw", "raw-internal")
    for name in ("steady", "growing"):
        for version in ("1.0.0", "1.1.0"):
            seeder.npm("npm-internal", name, version)
        seeder.npm_dist_tag("npm-internal", name, "latest", "1.1.0")
    seeder.raw("raw-internal", "cli/1.0", {"cli.tgz": b"cli"})

    def target_tags(name):
        endpoint = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
        token = ca.get_authorization_token(domain="acme")["authorizationToken"]
        return requests.get(f"{endpoint}-/package/{name}/dist-tags", auth=("aws", token), timeout=30).json()

    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    seeder.npm_dist_tag("npm-internal", "steady", "latest", "1.0.0")  # a bad 1.1.0 rolled back
    seeder.npm("npm-internal", "growing", "2.0.0")
    seeder.npm_dist_tag("npm-internal", "growing", "latest", "2.0.0")
    seeder.npm_dist_tag("npm-internal", "growing", "old", "1.0.0")
    seeder.raw("raw-internal", "cli/2.0", {"cli.tgz": b"cli 2"})

    at_transfer: dict[str, dict] = {}
    real_transfer = Engine.transfer

    def transfer(self, writer, reader):
        # The early pass runs beside the plan, so it may still be under way here: give it a while (before
        # this change the tags moved only after the transfer, so no wait would have seen them move).
        deadline = time.monotonic() + 15
        while target_tags("steady") != {"latest": "1.0.0"} and time.monotonic() < deadline:
            time.sleep(0.05)
        at_transfer.update(steady=target_tags("steady"), growing=target_tags("growing"))
        return real_transfer(self, writer, reader)

    monkeypatch.setattr(Engine, "transfer", transfer)
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    assert at_transfer == {"steady": {"latest": "1.0.0"}, "growing": {"latest": "1.1.0"}}
    assert target_tags("steady") == {"latest": "1.0.0"}
    assert target_tags("growing") == {"latest": "2.0.0", "old": "1.0.0"}
    with sqlite3.connect(world["state"]) as db:
        remembered = dict(db.execute("SELECT package, dist_tags FROM replica_packages").fetchall())
    assert remembered == {"steady": '{"latest": "1.0.0"}', "growing": '{"latest": "2.0.0", "old": "1.0.0"}'}
    assert ferry("verify", str(job), "--state", world["state"]) == 0


def test_verify_report_counts_only_the_sources_files(world):
    """A file only the target holds, inside a version the source has, is a difference for verify, but
    not one of the source's files: the report's files and bytes stay the source's."""
    from ferry.report import build_report
    from ferry.state.reader import LedgerReader

    job = world["job"]([{"source": "raw-files", "target": "generic-store", "namespace": "tools"}])
    seeder, store = world["seeder"], world["store"]
    seeder.create_repository("raw", "raw-files")
    seeder.raw("raw-files", "tool/1.0", {"a.bin": b"a" * 100})
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    store.publish_asset(world["repo"]("generic-store"), "generic", "tools", "tool", "1.0", "extra.bin",
                        store.blobs.put_bytes(b"x" * 5000))
    assert ferry("verify", str(job), "--state", world["state"]) == 1
    with LedgerReader(world["state"]) as reader:
        report = build_report(reader, reader.last_run("verify").id)
    assert (report.totals["files"], report.totals["bytes"]) == (1, 100)
    assert report.counts.get("conflict") == 1
