"""Package groups: pattern rules (pure) and the control-plane operations driven by boto3, including
PUBLISH restrictions enforced when versions are published."""

from __future__ import annotations

import hashlib

import pytest

from _codeartifact_helpers import ca_client, new_domain, new_repo, seed
from ferry.sandbox.codeartifact import groups as gp
from ferry.sandbox.codeartifact.records import OriginBlocked, ValidationError


@pytest.mark.parametrize("text,level", [
    ("/*", gp.ALL), ("/npm/*", gp.FORMAT), ("/maven/com.anycompany~", gp.NS_PREFIX), ("/npm/space/*", gp.NS),
    ("/npm/space/anycompany-ui~", gp.NAME_PREFIX), ("/maven/org.apache.logging.log4j/log4j-core$", gp.NAME),
    ("/pypi//requests$", gp.NAME),
])
def test_pattern_shapes(text, level):
    assert gp.parse(text).level == level


@pytest.mark.parametrize("bad", ["npm/*", "/npm", "/npm~", "/nope/*", "/npm/a/b/c$", "/npm/$", "/npm/a/*x", "/npm/a/$"])
def test_bad_patterns(bad):
    with pytest.raises(ValidationError):
        gp.parse(bad)


def test_matching_and_specificity():
    patterns = [gp.parse(p) for p in ("/*", "/npm/*", "/npm/acme~", "/npm/acme/*", "/npm/acme/ui~", "/npm/acme/ui-kit$")]
    matching = [p for p in patterns if p.matches("npm", "acme", "ui-kit")]
    assert matching == patterns
    best = gp.most_specific([(p, p) for p in matching])
    assert best[0] == gp.parse("/npm/acme/ui-kit$")
    assert gp.most_specific([(p, p) for p in patterns if p.matches("npm", "acmeco", "x")])[0] == gp.parse("/npm/acme~")
    assert not gp.parse("/npm/acme/*").matches("npm", "acmeco", "x")
    assert not gp.parse("/maven/*").matches("npm", "acme", "x")
    assert gp.parse("/pypi//requests$").matches("pypi", None, "requests")
    assert gp.parent_of(gp.parse("/npm/acme/ui~"), [(p, p) for p in patterns])[0] == gp.parse("/npm/acme/*")


@pytest.fixture(scope="module")
def ca(module_sandbox):
    return ca_client(module_sandbox)


def test_group_lifecycle_and_hierarchy(ca):
    d = new_domain(ca)
    root = ca.describe_package_group(domain=d, packageGroup="/*")["packageGroup"]
    assert "parent" not in root
    assert {k: v["mode"] for k, v in root["originConfiguration"]["restrictions"].items()} == {
        "EXTERNAL_UPSTREAM": "ALLOW", "INTERNAL_UPSTREAM": "ALLOW", "PUBLISH": "ALLOW"}
    npm = ca.create_package_group(domain=d, packageGroup="/npm/*", description="all npm",
                                  contactInfo="team@example.com")["packageGroup"]
    assert npm["parent"]["pattern"] == "/*" and npm["description"] == "all npm"
    assert npm["arn"] == f"arn:aws:codeartifact:us-east-1:111122223333:package-group/{d}/npm/*"
    ca.create_package_group(domain=d, packageGroup="/npm/acme/ui~")
    acme = ca.create_package_group(domain=d, packageGroup="/npm/acme/*")["packageGroup"]
    assert acme["parent"]["pattern"] == "/npm/*"
    ui = ca.describe_package_group(domain=d, packageGroup="/npm/acme/ui~")["packageGroup"]
    assert ui["parent"]["pattern"] == "/npm/acme/*"  # re-parented under the group created later
    with pytest.raises(ca.exceptions.ConflictException):
        ca.create_package_group(domain=d, packageGroup="/npm/*")
    with pytest.raises(ca.exceptions.ValidationException):
        ca.create_package_group(domain=d, packageGroup="/npm/acme")
    updated = ca.update_package_group(domain=d, packageGroup="/npm/*", description="npm packages")["packageGroup"]
    assert updated["description"] == "npm packages" and updated["contactInfo"] == "team@example.com"
    subs = ca.list_sub_package_groups(domain=d, packageGroup="/npm/*")["packageGroups"]
    assert [g["pattern"] for g in subs] == ["/npm/acme/*"]
    pages = list(ca.get_paginator("list_package_groups").paginate(domain=d, PaginationConfig={"PageSize": 2}))
    assert [g["pattern"] for p in pages for g in p["packageGroups"]] == ["/*", "/npm/*", "/npm/acme/*", "/npm/acme/ui~"]
    assert len(pages) == 2
    assert [g["pattern"] for g in ca.list_package_groups(domain=d, prefix="/npm/acme")["packageGroups"]] == [
        "/npm/acme/*", "/npm/acme/ui~"]
    deleted = ca.delete_package_group(domain=d, packageGroup="/npm/acme/*")["packageGroup"]
    assert deleted["pattern"] == "/npm/acme/*"
    ui = ca.describe_package_group(domain=d, packageGroup="/npm/acme/ui~")["packageGroup"]
    assert ui["parent"]["pattern"] == "/npm/*"
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.describe_package_group(domain=d, packageGroup="/npm/acme/*")
    with pytest.raises(ca.exceptions.ValidationException):
        ca.delete_package_group(domain=d, packageGroup="/*")


def test_publish_restrictions_inherit_and_block(ca, module_sandbox):
    d = new_domain(ca)
    allowed_repo, other_repo = new_repo(ca, d, "release"), new_repo(ca, d, "scratch")
    ca.create_package_group(domain=d, packageGroup="/generic/internal/*")
    child = ca.create_package_group(domain=d, packageGroup="/generic/internal/secret~")["packageGroup"]
    assert child["originConfiguration"]["restrictions"]["PUBLISH"]["mode"] == "INHERIT"
    assert child["originConfiguration"]["restrictions"]["PUBLISH"]["effectiveMode"] == "ALLOW"
    out = ca.update_package_group_origin_configuration(
        domain=d, packageGroup="/generic/internal/*", restrictions={"PUBLISH": "ALLOW_SPECIFIC_REPOSITORIES"},
        addAllowedRepositories=[{"repositoryName": allowed_repo, "originRestrictionType": "PUBLISH"}])
    assert out["allowedRepositoryUpdates"] == {"PUBLISH": {"ADDED": [allowed_repo]}}
    publish_rule = out["packageGroup"]["originConfiguration"]["restrictions"]["PUBLISH"]
    assert publish_rule == {"mode": "ALLOW_SPECIFIC_REPOSITORIES", "effectiveMode": "ALLOW_SPECIFIC_REPOSITORIES",
                            "repositoriesCount": 1}
    child = ca.describe_package_group(domain=d, packageGroup="/generic/internal/secret~")["packageGroup"]
    inherited = child["originConfiguration"]["restrictions"]["PUBLISH"]
    assert inherited["effectiveMode"] == "ALLOW_SPECIFIC_REPOSITORIES"
    assert inherited["inheritedFrom"]["pattern"] == "/generic/internal/*"
    assert ca.list_allowed_repositories_for_group(domain=d, packageGroup="/generic/internal/*",
                                                  originRestrictionType="PUBLISH")["allowedRepositories"] == [allowed_repo]

    def publish(repo, pkg):
        return ca.publish_package_version(domain=d, repository=repo, format="generic", namespace="internal",
                                          package=pkg, packageVersion="1", assetContent=b"x", assetName="x",
                                          assetSHA256=hashlib.sha256(b"x").hexdigest())

    assert publish(allowed_repo, "secret-tool")["status"] == "Published"
    with pytest.raises(ca.exceptions.AccessDeniedException):
        publish(other_repo, "secret-tool")
    with pytest.raises(OriginBlocked):
        seed(module_sandbox, d, other_repo, "generic", "internal", "anything", "1", "x", b"x")
    assert seed(module_sandbox, d, other_repo, "generic", "public", "anything", "1", "x", b"x").status == "Published"
    ca.update_package_group_origin_configuration(domain=d, packageGroup="/generic/internal/secret~",
                                                 restrictions={"PUBLISH": "BLOCK"})
    with pytest.raises(ca.exceptions.AccessDeniedException):
        publish(allowed_repo, "secret-tool")
    assert publish(allowed_repo, "open-tool")["status"] == "Published"
    out = ca.update_package_group_origin_configuration(
        domain=d, packageGroup="/generic/internal/*",
        removeAllowedRepositories=[{"repositoryName": allowed_repo, "originRestrictionType": "PUBLISH"}])
    assert out["allowedRepositoryUpdates"] == {"PUBLISH": {"REMOVED": [allowed_repo]}}
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.update_package_group_origin_configuration(
            domain=d, packageGroup="/generic/internal/*",
            addAllowedRepositories=[{"repositoryName": "no-such-repo", "originRestrictionType": "PUBLISH"}])
    with pytest.raises(ca.exceptions.ValidationException):
        ca.update_package_group_origin_configuration(domain=d, packageGroup="/*", restrictions={"PUBLISH": "INHERIT"})


def test_associated_group_and_packages(ca, module_sandbox):
    d = new_domain(ca)
    r = new_repo(ca, d)
    for ns, name in (("acme", "ui"), ("acme", "core"), ("other", "x")):
        seed(module_sandbox, d, r, "npm", ns, name, "1.0.0", "package.tgz", name.encode())
    seed(module_sandbox, d, r, "pypi", None, "requests", "2.0", "r.tar.gz", b"r")
    ca.create_package_group(domain=d, packageGroup="/npm/acme/*")
    ca.create_package_group(domain=d, packageGroup="/npm/acme/core$")
    got = ca.get_associated_package_group(domain=d, format="npm", namespace="acme", package="ui")
    assert got["packageGroup"]["pattern"] == "/npm/acme/*" and got["associationType"] == "WEAK"
    got = ca.get_associated_package_group(domain=d, format="npm", namespace="acme", package="core")
    assert got["packageGroup"]["pattern"] == "/npm/acme/core$" and got["associationType"] == "STRONG"
    # The package does not need to exist.
    got = ca.get_associated_package_group(domain=d, format="pypi", package="flask")
    assert got["packageGroup"]["pattern"] == "/*"
    listed = ca.list_associated_packages(domain=d, packageGroup="/npm/acme/*")["packages"]
    assert [(p["namespace"], p["package"]) for p in listed] == [("acme", "ui")]
    root_pkgs = ca.list_associated_packages(domain=d, packageGroup="/*")["packages"]
    assert sorted(p["package"] for p in root_pkgs) == ["requests", "x"]
    preview = ca.list_associated_packages(domain=d, packageGroup="/npm/other/*", preview=True)["packages"]
    assert [p["package"] for p in preview] == ["x"]
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.list_associated_packages(domain=d, packageGroup="/npm/other/*")


def test_group_tags(ca):
    d = new_domain(ca)
    arn = ca.create_package_group(domain=d, packageGroup="/maven/*",
                                  tags=[{"key": "k", "value": "v"}])["packageGroup"]["arn"]
    assert ca.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "k", "value": "v"}]
