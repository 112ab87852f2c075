"""CodeArtifact stand-in control plane, driven by boto3: generic publishing, assets, package and
package-version reads, origin configuration."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from _codeartifact_helpers import ca_client, error_code, new_domain, new_repo, seed
from ferry.sandbox.codeartifact.records import OriginBlocked


@pytest.fixture(scope="module")
def ca(module_sandbox):
    return ca_client(module_sandbox)


@pytest.fixture
def dr(ca):
    """A fresh (domain, repository)."""
    d = new_domain(ca)
    return d, new_repo(ca, d)


def publish(ca, d, r, data: bytes, asset: str, *, version="1.0.0", ns="tools", pkg="bundle", sha=None, **kw):
    return ca.publish_package_version(
        domain=d, repository=r, format="generic", namespace=ns, package=pkg, packageVersion=version,
        assetContent=data, assetName=asset, assetSHA256=sha or hashlib.sha256(data).hexdigest(), **kw)


def expected_hashes(data: bytes) -> dict[str, str]:
    return {"MD5": hashlib.md5(data).hexdigest(), "SHA-1": hashlib.sha1(data).hexdigest(),
            "SHA-256": hashlib.sha256(data).hexdigest(), "SHA-512": hashlib.sha512(data).hexdigest()}


# -- generic publishing and assets -----------------------------------------------------------------


def test_generic_multi_asset_publish_unfinished_then_published(ca, dr):
    d, r = dr
    files = {"a.bin": os.urandom(1000), "b (copy).txt": b"second", "c.tar.gz": os.urandom(3 * 1024 * 1024 + 7)}
    names = list(files)
    for name in names[:-1]:
        out = publish(ca, d, r, files[name], name, unfinished=True)
        assert out["status"] == "Unfinished"
        assert out["asset"] == {"name": name, "size": len(files[name]), "hashes": expected_hashes(files[name])}
        assert (out["format"], out["namespace"], out["package"], out["version"]) == ("generic", "tools", "bundle", "1.0.0")
    # A stream body (file object) is sent as is; the last asset without `unfinished` publishes the version.
    last = publish(ca, d, r, io.BytesIO(files[names[-1]]), names[-1],
                   sha=hashlib.sha256(files[names[-1]]).hexdigest())
    assert last["status"] == "Published"
    assert last["asset"]["hashes"] == expected_hashes(files[names[-1]])
    pv = ca.describe_package_version(domain=d, repository=r, format="generic", namespace="tools", package="bundle",
                                     packageVersion="1.0.0")["packageVersion"]
    assert pv["status"] == "Published" and pv["revision"] == last["versionRevision"]
    assert pv["displayName"] == "bundle" and pv["packageName"] == "bundle"
    # Listing assets across pages (one per page) gives every asset with its hashes.
    pages = list(ca.get_paginator("list_package_version_assets").paginate(
        domain=d, repository=r, format="generic", namespace="tools", package="bundle", packageVersion="1.0.0",
        PaginationConfig={"PageSize": 1}))
    assert len(pages) == 3
    listed = {a["name"]: a for p in pages for a in p["assets"]}
    assert set(listed) == set(files)
    for name, data in files.items():
        assert listed[name]["size"] == len(data) and listed[name]["hashes"] == expected_hashes(data)
        got = ca.get_package_version_asset(domain=d, repository=r, format="generic", namespace="tools",
                                           package="bundle", packageVersion="1.0.0", asset=name)
        assert got["asset"].read() == data
        assert got["assetName"] == name and got["packageVersion"] == "1.0.0"
        assert got["packageVersionRevision"] == pv["revision"]
    # Publishing with `unfinished` once Published does not make it Unfinished again.
    again = publish(ca, d, r, b"late", "late.txt", unfinished=True)
    assert again["status"] == "Published"


def test_generic_publish_rules(ca, dr):
    d, r = dr
    publish(ca, d, r, b"one", "x.txt")
    assert publish(ca, d, r, b"one", "x.txt")["status"] == "Published"  # identical re-publish succeeds
    with pytest.raises(ca.exceptions.ConflictException):
        publish(ca, d, r, b"two", "x.txt")
    with pytest.raises(ca.exceptions.ValidationException):  # hash does not match the body
        publish(ca, d, r, b"body", "y.txt", sha=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.list_package_version_assets(domain=d, repository=r, format="generic", namespace="tools",
                                       package="bundle", packageVersion="9.9")
    with pytest.raises(ca.exceptions.ValidationException):  # only the generic format
        ca.publish_package_version(domain=d, repository=r, format="npm", package="p", packageVersion="1.0.0",
                                   assetContent=b"x", assetName="package.tgz",
                                   assetSHA256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(ca.exceptions.ValidationException):  # generic needs a namespace
        ca.publish_package_version(domain=d, repository=r, format="generic", package="p", packageVersion="1",
                                   assetContent=b"x", assetName="x", assetSHA256=hashlib.sha256(b"x").hexdigest())
    for bad_name in ("..", "a/b", "tab\there"):
        with pytest.raises(ca.exceptions.ValidationException):
            publish(ca, d, r, b"x", bad_name, version="2.0")


def test_asset_revision_check_and_missing_asset(ca, dr):
    d, r = dr
    rev = publish(ca, d, r, b"payload", "p.bin")["versionRevision"]
    common = dict(domain=d, repository=r, format="generic", namespace="tools", package="bundle", packageVersion="1.0.0")
    assert ca.get_package_version_asset(asset="p.bin", packageVersionRevision=rev, **common)["asset"].read() == b"payload"
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_package_version_asset(asset="p.bin", packageVersionRevision="not-the-revision", **common)
    with pytest.raises(ca.exceptions.ResourceNotFoundException) as exc:
        ca.get_package_version_asset(asset="absent.bin", **common)
    assert exc.value.response["resourceType"] == "asset"


def test_archived_versions_assets_are_served_or_refused_as_the_switch_says(ca, dr, monkeypatch):
    """Whether GetPackageVersionAsset serves an Archived version's files is not documented: served by default,
    refused with ConflictException (409, the version named) under FERRY_CA_ARCHIVED_ASSETS=refuse, while its
    assets are still listed and an Unlisted version's are still served."""
    d, r = dr
    publish(ca, d, r, b"old", "p.bin", version="1.0.0")
    publish(ca, d, r, b"hidden", "p.bin", version="1.1.0")
    common = dict(domain=d, repository=r, format="generic", namespace="tools", package="bundle")
    ca.update_package_versions_status(targetStatus="Archived", versions=["1.0.0"], **common)
    ca.update_package_versions_status(targetStatus="Unlisted", versions=["1.1.0"], **common)
    assert ca.get_package_version_asset(asset="p.bin", packageVersion="1.0.0", **common)["asset"].read() == b"old"
    monkeypatch.setenv("FERRY_CA_ARCHIVED_ASSETS", "refuse")
    with pytest.raises(ca.exceptions.ConflictException) as exc:
        ca.get_package_version_asset(asset="p.bin", packageVersion="1.0.0", **common)
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert (exc.value.response["resourceType"], exc.value.response["resourceId"]) == ("package-version", "1.0.0")
    listed = ca.list_package_version_assets(packageVersion="1.0.0", **common)["assets"]
    assert [a["name"] for a in listed] == ["p.bin"]
    assert ca.get_package_version_asset(asset="p.bin", packageVersion="1.1.0", **common)["asset"].read() == b"hidden"


# -- packages --------------------------------------------------------------------------------------


def test_list_packages_filters_and_pages(ca, dr, module_sandbox):
    d, r = dr
    for ns, name in (("acme", "ui"), ("acme", "core"), ("acmeco", "tool"), (None, "left-pad"), (None, "lodash")):
        seed(module_sandbox, d, r, "npm", ns, name, "1.0.0", "package.tgz", f"{ns}{name}".encode())
    seed(module_sandbox, d, r, "pypi", None, "requests", "2.0", "requests-2.0.tar.gz", b"sdist")
    publish(ca, d, r, b"g", "g.bin")
    pages = list(ca.get_paginator("list_packages").paginate(domain=d, repository=r, PaginationConfig={"PageSize": 3}))
    assert [len(p["packages"]) for p in pages] == [3, 3, 1]
    everything = [(p["format"], p.get("namespace"), p["package"]) for pg in pages for p in pg["packages"]]
    assert everything == sorted(everything, key=lambda t: (t[0], t[1] or "", t[2]))
    assert len(set(everything)) == 7

    def names(**kw):
        return sorted(p["package"] for p in ca.list_packages(domain=d, repository=r, **kw)["packages"])

    assert names(format="npm", namespace="acme") == ["core", "tool", "ui"]  # namespace is a prefix match
    assert names(format="npm", packagePrefix="lo") == ["lodash"]
    assert names(format="pypi") == ["requests"]
    ca.put_package_origin_configuration(domain=d, repository=r, format="npm", package="lodash",
                                        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    assert names(publish="BLOCK") == ["lodash"]
    assert "lodash" not in names(publish="ALLOW", upstream="BLOCK")
    summary = ca.list_packages(domain=d, repository=r, format="npm", packagePrefix="ui")["packages"][0]
    assert summary == {"format": "npm", "namespace": "acme", "package": "ui",
                       "originConfiguration": {"restrictions": {"publish": "ALLOW", "upstream": "BLOCK"}}}


def test_describe_and_delete_package(ca, dr, module_sandbox):
    d, r = dr
    seed(module_sandbox, d, r, "npm", "scope", "widget", "1.0.0", "package.tgz", b"w")
    desc = ca.describe_package(domain=d, repository=r, format="npm", namespace="scope", package="widget")["package"]
    assert desc == {"format": "npm", "namespace": "scope", "name": "widget",
                    "originConfiguration": {"restrictions": {"publish": "ALLOW", "upstream": "BLOCK"}}}
    deleted = ca.delete_package(domain=d, repository=r, format="npm", namespace="scope", package="widget")
    assert deleted["deletedPackage"]["package"] == "widget"
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.describe_package(domain=d, repository=r, format="npm", namespace="scope", package="widget")
    with pytest.raises(ca.exceptions.ValidationException):  # pypi packages have no namespace
        ca.describe_package(domain=d, repository=r, format="pypi", namespace="x", package="requests")
    with pytest.raises(ca.exceptions.ValidationException):  # maven packages need one
        ca.describe_package(domain=d, repository=r, format="maven", package="guava")


def test_origin_configuration_creates_package_and_blocks_publishing(ca, dr, module_sandbox):
    d, r = dr
    out = ca.put_package_origin_configuration(domain=d, repository=r, format="generic", namespace="tools",
                                              package="locked", restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    assert out["originConfiguration"] == {"restrictions": {"publish": "BLOCK", "upstream": "BLOCK"}}
    desc = ca.describe_package(domain=d, repository=r, format="generic", namespace="tools", package="locked")
    assert desc["package"]["originConfiguration"]["restrictions"]["publish"] == "BLOCK"
    assert ca.list_package_versions(domain=d, repository=r, format="generic", namespace="tools",
                                    package="locked")["versions"] == []
    with pytest.raises(ca.exceptions.AccessDeniedException):
        publish(ca, d, r, b"x", "x.bin", pkg="locked")
    with pytest.raises(OriginBlocked):
        seed(module_sandbox, d, r, "generic", "tools", "locked", "1.0", "x.bin", b"x")
    ca.put_package_origin_configuration(domain=d, repository=r, format="generic", namespace="tools",
                                        package="locked", restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    assert publish(ca, d, r, b"x", "x.bin", pkg="locked")["status"] == "Published"


# -- versions --------------------------------------------------------------------------------------


def test_list_package_versions_order_filters_and_default(ca, dr, module_sandbox):
    d, r = dr
    store = module_sandbox.apps["codeartifact"].store
    # Published in this order; version order differs from publish order.
    for v in ("1.10.0", "1.9.0", "2.0.0-beta.1", "1.2.0"):
        seed(module_sandbox, d, r, "npm", None, "pad", v, "package.tgz", v.encode())
    common = dict(domain=d, repository=r, format="npm", package="pad")
    by_version = [v["version"] for v in ca.list_package_versions(**common)["versions"]]
    assert by_version == ["2.0.0-beta.1", "1.10.0", "1.9.0", "1.2.0"]
    by_time = [v["version"] for v in ca.list_package_versions(sortBy="PUBLISHED_TIME", **common)["versions"]]
    assert by_time == ["1.2.0", "2.0.0-beta.1", "1.9.0", "1.10.0"]
    pages = list(ca.get_paginator("list_package_versions").paginate(
        sortBy="PUBLISHED_TIME", PaginationConfig={"PageSize": 3}, **common))
    assert [[v["version"] for v in p["versions"]] for p in pages] == [by_time[:3], by_time[3:]]
    # Default display version: the most recent Published one, or npm's `latest` dist-tag.
    assert ca.list_package_versions(**common)["defaultDisplayVersion"] == "1.2.0"
    store.set_dist_tag(store.require_package(store.repository(store.domain("us-east-1", None, d), r), "npm", None, "pad"),
                       "latest", "1.10.0")
    assert ca.list_package_versions(**common)["defaultDisplayVersion"] == "1.10.0"
    ca.update_package_versions_status(targetStatus="Archived", versions=["1.9.0"], **common)
    assert [v["version"] for v in ca.list_package_versions(status="Archived", **common)["versions"]] == ["1.9.0"]
    assert len(ca.list_package_versions(originType="INTERNAL", **common)["versions"]) == 4
    assert ca.list_package_versions(originType="EXTERNAL", **common)["versions"] == []
    first = ca.list_package_versions(**common)["versions"][0]
    assert first["origin"] == {"domainEntryPoint": {"repositoryName": r}, "originType": "INTERNAL"}


def test_describe_package_version_reports_metadata(ca, dr, module_sandbox):
    d, r = dr
    meta = {"summary": "A widget", "homePage": "https://example.com", "sourceCodeRepository": "https://git.example/w",
            "licenses": [{"name": "MIT", "url": "https://opensource.org/licenses/MIT"}], "readme": "# Widget",
            "dependencies": [{"package": "lodash", "dependencyType": "regular", "versionRequirement": "^4"}]}
    ver = seed(module_sandbox, d, r, "npm", "acme", "widget", "3.1.4", "package.tgz", b"tgz", metadata=meta)
    common = dict(domain=d, repository=r, format="npm", namespace="acme", package="widget", packageVersion="3.1.4")
    pv = ca.describe_package_version(**common)["packageVersion"]
    assert pv["displayName"] == "@acme/widget" and pv["namespace"] == "acme" and pv["packageName"] == "widget"
    assert pv["summary"] == "A widget" and pv["homePage"] == "https://example.com"
    assert pv["sourceCodeRepository"] == "https://git.example/w" and pv["licenses"] == meta["licenses"]
    assert pv["revision"] == ver.revision and pv["status"] == "Published"
    assert abs(pv["publishedTime"].timestamp() - ver.published) < 1
    assert ca.get_package_version_readme(**common)["readme"] == "# Widget"
    deps = ca.list_package_version_dependencies(**common)
    assert deps["dependencies"] == meta["dependencies"] and deps["versionRevision"] == ver.revision
    with pytest.raises(ca.exceptions.ResourceNotFoundException) as exc:
        ca.describe_package_version(**{**common, "packageVersion": "0.0.1"})
    assert error_code(exc) == "ResourceNotFoundException"


def test_large_asset_streams_both_ways(ca, dr, tmp_path):
    """Publishing and downloading a 48 MiB asset keeps the process's allocations far below its size."""
    import tracemalloc

    d, r = dr
    path = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        for _ in range(48):
            chunk = os.urandom(1024 * 1024)
            digest.update(chunk)
            f.write(chunk)
    tracemalloc.start()
    try:
        with open(path, "rb") as body:
            out = publish(ca, d, r, body, "big.bin", version="9.0", sha=digest.hexdigest())
        got = ca.get_package_version_asset(domain=d, repository=r, format="generic", namespace="tools",
                                           package="bundle", packageVersion="9.0", asset="big.bin")
        down = hashlib.sha256()
        for chunk in got["asset"].iter_chunks(1024 * 1024):
            down.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out["asset"]["size"] == 48 * 1024 * 1024
    assert out["asset"]["hashes"]["SHA-256"] == digest.hexdigest() == down.hexdigest()
    assert peak < 24 * 1024 * 1024, peak  # half the body: a buffered body would exceed it


def test_non_ascii_asset_names(ca, dr):
    d, r = dr
    for name in ("résumé.txt", "資料 1.txt"):
        data = name.encode()
        assert publish(ca, d, r, data, name, version="5.0")["asset"]["name"] == name
        got = ca.get_package_version_asset(domain=d, repository=r, format="generic", namespace="tools",
                                           package="bundle", packageVersion="5.0", asset=name)
        assert got["asset"].read() == data
        # The header carries the name as UTF-8 bytes; http.client hands them over as latin-1 text.
        assert got["assetName"].encode("latin-1").decode("utf-8") == name
    listed = ca.list_package_version_assets(domain=d, repository=r, format="generic", namespace="tools",
                                            package="bundle", packageVersion="5.0")["assets"]
    assert sorted(a["name"] for a in listed) == sorted(["résumé.txt", "資料 1.txt"])
