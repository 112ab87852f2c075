"""CodeArtifact stand-in control plane, driven by boto3: UpdatePackageVersionsStatus,
DeletePackageVersions, DisposePackageVersions and CopyPackageVersions (all-or-nothing results)."""

from __future__ import annotations

import pytest

from _codeartifact_helpers import ca_client, new_domain, new_repo, seed


@pytest.fixture(scope="module")
def ca(module_sandbox):
    return ca_client(module_sandbox)


@pytest.fixture
def pkg(ca, module_sandbox):
    """A repository with pypi package `demo` at versions 1.0, 1.1, 1.2 (Published)."""
    d = new_domain(ca)
    r = new_repo(ca, d)
    revs = {v: seed(module_sandbox, d, r, "pypi", None, "demo", v, f"demo-{v}.tar.gz", v.encode()).revision
            for v in ("1.0", "1.1", "1.2")}
    return {"domain": d, "repository": r, "format": "pypi", "package": "demo"}, revs


def statuses(ca, common, **kw):
    return {v["version"]: v["status"] for v in ca.list_package_versions(**common, **kw)["versions"]}


def test_update_status_success_and_all_or_nothing(ca, pkg):
    common, revs = pkg
    out = ca.update_package_versions_status(targetStatus="Archived", versions=["1.0", "1.1"], **common)
    assert out["successfulVersions"] == {"1.0": {"revision": revs["1.0"], "status": "Archived"},
                                         "1.1": {"revision": revs["1.1"], "status": "Archived"}}
    assert out["failedVersions"] == {}
    # One failure (expected status mismatch on 1.2) leaves everything unchanged and skips the rest.
    out = ca.update_package_versions_status(targetStatus="Unlisted", expectedStatus="Archived",
                                            versions=["1.0", "1.2", "9.9"], **common)
    assert out["successfulVersions"] == {}
    codes = {v: e["errorCode"] for v, e in out["failedVersions"].items()}
    assert codes == {"1.0": "SKIPPED", "1.2": "MISMATCHED_STATUS", "9.9": "NOT_FOUND"}
    assert statuses(ca, common) == {"1.0": "Archived", "1.1": "Archived", "1.2": "Published"}
    out = ca.update_package_versions_status(targetStatus="Published", versions=["1.0"],
                                            versionRevisions={"1.0": "wrong"}, **common)
    assert out["failedVersions"]["1.0"]["errorCode"] == "MISMATCHED_REVISION"
    out = ca.update_package_versions_status(targetStatus="Published", versions=["1.0"],
                                            versionRevisions={"1.0": revs["1.0"]}, expectedStatus="Archived", **common)
    assert out["successfulVersions"]["1.0"]["status"] == "Published"
    for bad in ("Disposed", "Deleted", "Unfinished"):
        with pytest.raises(ca.exceptions.ValidationException):
            ca.update_package_versions_status(targetStatus=bad, versions=["1.0"], **common)
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.update_package_versions_status(targetStatus="Archived", versions=["1.0"],
                                          **{**common, "package": "absent"})


def test_unfinished_version_can_be_published_by_status_update(ca, module_sandbox):
    d = new_domain(ca)
    r = new_repo(ca, d)
    seed(module_sandbox, d, r, "maven", "com.example", "lib", "1.0", "lib-1.0.jar", b"jar", unfinished=True)
    common = dict(domain=d, repository=r, format="maven", namespace="com.example", package="lib")
    assert statuses(ca, common) == {"1.0": "Unfinished"}
    ca.update_package_versions_status(targetStatus="Published", versions=["1.0"], **common)
    assert statuses(ca, common) == {"1.0": "Published"}
    with pytest.raises(ca.exceptions.ValidationException):  # maven needs its namespace
        ca.list_package_versions(domain=d, repository=r, format="maven", package="lib")


def test_dispose_removes_assets(ca, pkg):
    common, revs = pkg
    out = ca.dispose_package_versions(versions=["1.1"], versionRevisions={"1.1": revs["1.1"]}, **common)
    assert out["successfulVersions"] == {"1.1": {"revision": revs["1.1"], "status": "Disposed"}}
    assets = ca.list_package_version_assets(packageVersion="1.1", **common)["assets"]
    assert assets == []
    desc = ca.describe_package_version(packageVersion="1.1", **common)["packageVersion"]
    assert desc["status"] == "Disposed"
    assert statuses(ca, common, status="Disposed") == {"1.1": "Disposed"}
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_package_version_asset(packageVersion="1.1", asset="demo-1.1.tar.gz", **common)
    out = ca.update_package_versions_status(targetStatus="Published", versions=["1.1"], **common)
    assert out["failedVersions"]["1.1"]["errorCode"] == "NOT_ALLOWED"
    out = ca.dispose_package_versions(versions=["1.0"], expectedStatus="Archived", **common)
    assert out["failedVersions"]["1.0"]["errorCode"] == "MISMATCHED_STATUS"


def test_delete_versions_then_republish(ca, pkg, module_sandbox):
    common, _ = pkg
    out = ca.delete_package_versions(versions=["1.0", "1.2"], **common)
    assert {v: s["status"] for v, s in out["successfulVersions"].items()} == {"1.0": "Deleted", "1.2": "Deleted"}
    assert statuses(ca, common) == {"1.1": "Published"}
    assert statuses(ca, common, status="Deleted") == {"1.0": "Deleted", "1.2": "Deleted"}
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.describe_package_version(packageVersion="1.0", **common)
    out = ca.delete_package_versions(versions=["1.0"], **common)
    assert out["failedVersions"]["1.0"]["errorCode"] == "NOT_FOUND"
    # A deleted version may be published again, with new content.
    seed(module_sandbox, common["domain"], common["repository"], "pypi", None, "demo", "1.0", "demo-1.0.whl", b"new")
    assets = ca.list_package_version_assets(packageVersion="1.0", **common)["assets"]
    assert [a["name"] for a in assets] == ["demo-1.0.whl"]


# -- copy ------------------------------------------------------------------------------------------


@pytest.fixture
def two_repos(ca, module_sandbox):
    d = new_domain(ca)
    src = new_repo(ca, d, "src")
    new_repo(ca, d, "dst")
    for v in ("1.0.0", "2.0.0"):
        seed(module_sandbox, d, src, "npm", "acme", "ui", v, "package.tgz", f"ui-{v}".encode())
    store = module_sandbox.apps["codeartifact"].store
    src_pkg = store.require_package(store.repository(store.domain("us-east-1", None, d), src), "npm", "acme", "ui")
    store.set_dist_tag(src_pkg, "latest", "2.0.0")
    store.set_dist_tag(src_pkg, "legacy", "1.0.0")
    return d, store


def copy(ca, d, **kw):
    return ca.copy_package_versions(domain=d, sourceRepository="src", destinationRepository="dst", format="npm",
                                    namespace="acme", package="ui", **kw)


def test_copy_versions_and_dist_tags(ca, two_repos):
    d, store = two_repos
    out = copy(ca, d, versions=["1.0.0", "2.0.0"])
    assert set(out["successfulVersions"]) == {"1.0.0", "2.0.0"} and out["failedVersions"] == {}
    src_versions = ca.list_package_versions(domain=d, repository="src", format="npm", namespace="acme",
                                            package="ui")["versions"]
    dst_versions = ca.list_package_versions(domain=d, repository="dst", format="npm", namespace="acme",
                                            package="ui")["versions"]
    assert [(v["version"], v["revision"]) for v in dst_versions] == [(v["version"], v["revision"]) for v in src_versions]
    assert all(v["origin"]["domainEntryPoint"] == {"repositoryName": "src"} for v in dst_versions)
    for v in ("1.0.0", "2.0.0"):
        got = ca.get_package_version_asset(domain=d, repository="dst", format="npm", namespace="acme", package="ui",
                                           packageVersion=v, asset="package.tgz")
        assert got["asset"].read() == f"ui-{v}".encode()
    dst_pkg = store.require_package(store.repository(store.domain("us-east-1", None, d), "dst"), "npm", "acme", "ui")
    assert store.dist_tags(dst_pkg) == {"latest": "2.0.0", "legacy": "1.0.0"}
    # Copying identical versions again succeeds and reports nothing.
    again = copy(ca, d, versions=["1.0.0", "2.0.0"])
    assert again["successfulVersions"] == {} and again["failedVersions"] == {}


def test_copy_conflicts_and_overwrite(ca, two_repos, module_sandbox):
    d, _ = two_repos
    seed(module_sandbox, d, "dst", "npm", "acme", "ui", "2.0.0", "package.tgz", b"different")
    out = copy(ca, d, versions=["1.0.0", "2.0.0"])
    assert out["successfulVersions"] == {}
    assert {v: e["errorCode"] for v, e in out["failedVersions"].items()} == {"1.0.0": "SKIPPED", "2.0.0": "ALREADY_EXISTS"}
    assert [v["version"] for v in ca.list_package_versions(domain=d, repository="dst", format="npm",
                                                           namespace="acme", package="ui")["versions"]] == ["2.0.0"]
    out = copy(ca, d, versions=["1.0.0", "2.0.0"], allowOverwrite=True)
    assert set(out["successfulVersions"]) == {"1.0.0", "2.0.0"}
    got = ca.get_package_version_asset(domain=d, repository="dst", format="npm", namespace="acme", package="ui",
                                       packageVersion="2.0.0", asset="package.tgz")
    assert got["asset"].read() == b"ui-2.0.0"


def test_copy_by_revision_and_request_rules(ca, two_repos):
    d, _ = two_repos
    src = ca.list_package_versions(domain=d, repository="src", format="npm", namespace="acme", package="ui")
    rev = {v["version"]: v["revision"] for v in src["versions"]}
    out = copy(ca, d, versionRevisions={"1.0.0": "stale", "2.0.0": rev["2.0.0"]})
    assert {v: e["errorCode"] for v, e in out["failedVersions"].items()} == {"1.0.0": "MISMATCHED_REVISION",
                                                                             "2.0.0": "SKIPPED"}
    out = copy(ca, d, versionRevisions={"2.0.0": rev["2.0.0"]})
    assert out["successfulVersions"] == {"2.0.0": {"revision": rev["2.0.0"], "status": "Published"}}
    assert copy(ca, d, versions=["3.0.0"])["failedVersions"]["3.0.0"]["errorCode"] == "NOT_FOUND"
    with pytest.raises(ca.exceptions.ValidationException):  # both versions and versionRevisions
        copy(ca, d, versions=["1.0.0"], versionRevisions={"1.0.0": rev["1.0.0"]})
    with pytest.raises(ca.exceptions.ValidationException):  # neither
        copy(ca, d)
    with pytest.raises(ca.exceptions.ValidationException):
        ca.copy_package_versions(domain=d, sourceRepository="src", destinationRepository="src", format="npm",
                                 namespace="acme", package="ui", versions=["1.0.0"])
    other = new_domain(ca)
    new_repo(ca, other, "dst")
    with pytest.raises(ca.exceptions.ResourceNotFoundException):  # repositories of another domain are unknown here
        ca.copy_package_versions(domain=other, sourceRepository="src", destinationRepository="dst", format="npm",
                                 namespace="acme", package="ui", versions=["1.0.0"])


def test_copy_include_from_upstream(ca, module_sandbox):
    d = new_domain(ca)
    new_repo(ca, d, "base")
    new_repo(ca, d, "team", upstreams=[{"repositoryName": "base"}])
    new_repo(ca, d, "release")
    seed(module_sandbox, d, "base", "pypi", None, "lib", "1.0", "lib-1.0.tar.gz", b"lib")
    kw = dict(domain=d, sourceRepository="team", destinationRepository="release", format="pypi", package="lib",
              versions=["1.0"])
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.copy_package_versions(**kw)
    out = ca.copy_package_versions(includeFromUpstream=True, **kw)
    assert set(out["successfulVersions"]) == {"1.0"}
    assets = ca.list_package_version_assets(domain=d, repository="release", format="pypi", package="lib",
                                            packageVersion="1.0")["assets"]
    assert [a["name"] for a in assets] == ["lib-1.0.tar.gz"]


def test_copy_into_blocked_package_is_not_allowed(ca, two_repos):
    d, _ = two_repos
    ca.put_package_origin_configuration(domain=d, repository="dst", format="npm", namespace="acme", package="ui",
                                        restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    out = copy(ca, d, versions=["1.0.0"])
    assert out["failedVersions"]["1.0.0"]["errorCode"] == "NOT_ALLOWED"
