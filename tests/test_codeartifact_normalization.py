"""The control plane normalizes NuGet and Swift coordinates on input, as CodeArtifact documents
(nuget-name-normalization, swift-name-normalization): a package published through its package endpoint
is found by boto3 however the caller cases its name (and, for NuGet, however it writes the version),
while asset names, PyPI, Maven and npm names are taken as given."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from _codeartifact_helpers import ca_client, error_code, new_domain, new_repo, seed
from ferry.sandbox.seed import nupkg, swift_source_archive
from test_nuget_endpoint import Feed
from test_swift_endpoint import Registry


@pytest.fixture
def feed(module_sandbox):
    client = ca_client(module_sandbox)
    domain = new_domain(client, "norm-nuget")
    return Feed(module_sandbox, client, domain, new_repo(client, domain))


@pytest.fixture
def registry(module_sandbox):
    client = ca_client(module_sandbox)
    domain = new_domain(client, "norm-swift")
    return Registry(module_sandbox, client, domain, new_repo(client, domain))


def test_nuget_reads_find_the_package_whatever_the_case_of_its_name(feed):
    data = nupkg("Newtonsoft.Json", "12.0.3")
    assert feed.push(data).status_code == 201
    c, where = feed.client, {"domain": feed.domain, "repository": feed.repo, "format": "nuget"}

    pkg = c.describe_package(**where, package="NEWTONSOFT.JSON")["package"]
    assert pkg["name"] == "newtonsoft.json" and pkg["format"] == "nuget"
    listed = c.list_package_versions(**where, package="Newtonsoft.JSON")
    assert listed["package"] == "newtonsoft.json" and [v["version"] for v in listed["versions"]] == ["12.0.3"]

    # version inputs are normalized too: 12.0.03.0 is 12.0.3
    desc = c.describe_package_version(**where, package="NewtonSoft.Json", packageVersion="12.0.03.0")["packageVersion"]
    assert desc["packageName"] == "newtonsoft.json" and desc["displayName"] == "Newtonsoft.Json"
    assert desc["version"] == "12.0.3"
    assets = c.list_package_version_assets(**where, package="Newtonsoft.Json", packageVersion="12.0.3.0+meta")
    assert [a["name"] for a in assets["assets"]] == ["newtonsoft.json.12.0.3.nupkg"]
    got = c.get_package_version_asset(**where, package="Newtonsoft.Json", packageVersion="12.0.3",
                                      asset="newtonsoft.json.12.0.3.nupkg")
    assert hashlib.sha256(got["asset"].read()).hexdigest() == hashlib.sha256(data).hexdigest()
    assert got["packageVersion"] == "12.0.3"

    # --asset is not normalized: the stored (lowercase) asset name must be used
    with pytest.raises(ClientError) as exc:
        c.get_package_version_asset(**where, package="Newtonsoft.Json", packageVersion="12.0.3",
                                    asset="Newtonsoft.Json.12.0.3.nupkg")
    assert error_code(exc) == "ResourceNotFoundException"
    # a name that differs in more than case is still another package
    with pytest.raises(ClientError) as exc:
        c.describe_package(**where, package="Newtonsoft-Json")
    assert error_code(exc) == "ResourceNotFoundException"


def test_nuget_writes_and_batches_use_the_normalized_package(feed):
    c, where = feed.client, {"domain": feed.domain, "repository": feed.repo, "format": "nuget"}
    # blocking ahead of publishing (the migration pattern) lands on the package a push then uses
    c.put_package_origin_configuration(**where, package="Acme.Widgets",
                                       restrictions={"publish": "ALLOW", "upstream": "BLOCK"})
    assert feed.push(nupkg("Acme.Widgets", "2.0.0-Beta")).status_code == 201
    assert feed.push(nupkg("Acme.Widgets", "2.0.0")).status_code == 201
    names = [p["package"] for p in c.list_packages(domain=feed.domain, repository=feed.repo)["packages"]]
    assert names == ["acme.widgets"]
    origin = c.describe_package(**where, package="ACME.widgets")["package"]["originConfiguration"]
    assert origin["restrictions"] == {"publish": "ALLOW", "upstream": "BLOCK"}
    prefixed = c.list_packages(domain=feed.domain, repository=feed.repo, format="nuget", packagePrefix="Acme.")
    assert [p["package"] for p in prefixed["packages"]] == ["acme.widgets"]

    out = c.update_package_versions_status(**where, package="Acme.Widgets", versions=["2.0.0.0", "2.0.0-beta"],
                                           targetStatus="Archived")
    assert out["failedVersions"] == {}
    assert set(out["successfulVersions"]) == {"2.0.0", "2.0.0-Beta"}
    statuses = {v["version"]: v["status"] for v in
                c.list_package_versions(**where, package="acme.widgets", status="Archived")["versions"]}
    assert statuses == {"2.0.0": "Archived", "2.0.0-Beta": "Archived"}

    dest = new_repo(c, feed.domain)
    copied = c.copy_package_versions(domain=feed.domain, sourceRepository=feed.repo, destinationRepository=dest,
                                     format="nuget", package="ACME.Widgets", versions=["2.0"])
    assert copied["failedVersions"] == {} and list(copied["successfulVersions"]) == ["2.0.0"]
    assert [p["package"] for p in c.list_packages(domain=feed.domain, repository=dest)["packages"]] == ["acme.widgets"]


def test_swift_reads_find_the_package_whatever_the_case_of_scope_and_name(registry):
    archive = swift_source_archive("LinkedList", "1.1.1")
    assert registry.publish("Mona", "LinkedList", "1.1.1", archive).status_code == 201
    c, where = registry.client, {"domain": registry.domain, "repository": registry.repo, "format": "swift"}

    pkg = c.describe_package(**where, namespace="MONA", package="linkedList")["package"]
    assert (pkg["namespace"], pkg["name"]) == ("mona", "linkedlist")
    listed = c.list_package_versions(**where, namespace="Mona", package="LinkedList")
    assert [v["version"] for v in listed["versions"]] == ["1.1.1"]
    desc = c.describe_package_version(**where, namespace="Mona", package="LINKEDLIST",
                                      packageVersion="1.1.1")["packageVersion"]
    assert (desc["namespace"], desc["packageName"], desc["version"]) == ("mona", "linkedlist", "1.1.1")
    (asset,) = c.list_package_version_assets(**where, namespace="mONA", package="LinkedList",
                                             packageVersion="1.1.1")["assets"]
    got = c.get_package_version_asset(**where, namespace="Mona", package="LinkedList", packageVersion="1.1.1",
                                      asset=asset["name"])
    assert hashlib.sha256(got["asset"].read()).hexdigest() == asset["hashes"]["SHA-256"]
    prefixed = c.list_packages(domain=registry.domain, repository=registry.repo, format="swift", namespace="Mo")
    assert [p["package"] for p in prefixed["packages"]] == ["linkedlist"]


def test_other_formats_are_looked_up_as_given(module_sandbox):
    c = ca_client(module_sandbox)
    domain = new_domain(c, "norm-other")
    repo = new_repo(c, domain)
    seed(module_sandbox, domain, repo, "maven", "com.Acme", "Core", "1.0", "Core-1.0.jar", b"jar")
    seed(module_sandbox, domain, repo, "pypi", None, "my-pkg", "1.0", "my_pkg-1.0.tar.gz", b"sdist")
    where = {"domain": domain, "repository": repo}
    assert c.describe_package(**where, format="maven", namespace="com.Acme", package="Core")["package"]["name"] == "Core"
    # Maven has no normalization; PyPI API calls must already use the normalized name
    for kw in ({"format": "maven", "namespace": "com.acme", "package": "core"},
               {"format": "pypi", "package": "My_Pkg"}):
        with pytest.raises(ClientError) as exc:
            c.describe_package(**where, **kw)
        assert error_code(exc) == "ResourceNotFoundException"
