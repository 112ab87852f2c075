"""CodeArtifact stand-in control plane, driven by boto3: domains, repositories, external connections,
tokens, endpoints, validation and error shapes, regions, policies and tags."""

from __future__ import annotations

import json
import os
import time

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from _codeartifact_helpers import ca_client, error_code, new_domain, new_repo, unique
from ferry.sandbox.codeartifact.app import aws_error
from ferry.sandbox.codeartifact.records import Throttled
from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.server import Sandbox, SandboxOptions
from ferry.sandbox.web import start_server


@pytest.fixture(scope="module")
def ca(module_sandbox):
    return ca_client(module_sandbox)


@pytest.fixture(scope="module")
def raw(module_sandbox):
    """A client without botocore's client-side validation, so the stand-in's checks answer."""
    return ca_client(module_sandbox, validate=False)


# -- domains ---------------------------------------------------------------------------------------


def test_domain_lifecycle(ca):
    name = unique("life")
    created = ca.create_domain(domain=name, tags=[{"key": "team", "value": "ferry"}])["domain"]
    assert created["name"] == name and created["owner"] == "111122223333" and created["status"] == "Active"
    assert created["arn"] == f"arn:aws:codeartifact:us-east-1:111122223333:domain/{name}"
    assert created["repositoryCount"] == 0
    new_repo(ca, name, "r1")
    described = ca.describe_domain(domain=name, domainOwner="111122223333")["domain"]
    assert described["repositoryCount"] == 1
    assert ca.list_tags_for_resource(resourceArn=created["arn"])["tags"] == [{"key": "team", "value": "ferry"}]
    with pytest.raises(ca.exceptions.ConflictException):
        ca.delete_domain(domain=name)  # still has a repository
    ca.delete_repository(domain=name, repository="r1")
    assert ca.delete_domain(domain=name)["domain"]["status"] == "Deleted"
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.describe_domain(domain=name)


def test_create_domain_twice_conflicts(ca):
    name = new_domain(ca)
    with pytest.raises(ca.exceptions.ConflictException) as exc:
        ca.create_domain(domain=name)
    assert exc.value.response["resourceType"] == "domain"


def test_list_domains_paginates_within_region(module_sandbox):
    client = ca_client(module_sandbox, region="ap-south-1")
    names = sorted(new_domain(client, "pg") for _ in range(5))
    pages = list(client.get_paginator("list_domains").paginate(PaginationConfig={"PageSize": 2}))
    assert len(pages) == 3
    assert [d["name"] for p in pages for d in p["domains"]] == names


def test_regions_have_separate_domains(module_sandbox):
    east, west = ca_client(module_sandbox, "us-east-1"), ca_client(module_sandbox, "eu-west-1")
    name = unique("shared")
    east.create_domain(domain=name)
    with pytest.raises(west.exceptions.ResourceNotFoundException):
        west.describe_domain(domain=name)
    west.create_domain(domain=name)  # same name, other region: no conflict
    new_repo(west, name, "only-west")
    assert [r["name"] for r in west.list_repositories_in_domain(domain=name)["repositories"]] == ["only-west"]
    assert east.list_repositories_in_domain(domain=name)["repositories"] == []
    assert west.describe_domain(domain=name)["domain"]["arn"].startswith("arn:aws:codeartifact:eu-west-1:")


def test_each_access_key_signs_for_its_account_and_a_domain_owner_defaults_to_the_callers(sandbox, monkeypatch):
    """FERRY_CA_ACCOUNTS (here set on the app) maps access keys to accounts: a domain one account creates is
    its own, another account does not see it without naming its owner, and two accounts may each have a domain
    of one name in one region, as in the service."""
    monkeypatch.setitem(sandbox.apps["codeartifact"].accounts, "AKIAOTHERACCOUNT", "444455556666")
    mine = ca_client(sandbox)
    other = boto3.client("codeartifact", region_name="us-east-1", endpoint_url=sandbox.urls()["codeartifact"],
                         aws_access_key_id="AKIAOTHERACCOUNT", aws_secret_access_key="other-secret",
                         config=Config(retries={"max_attempts": 1, "mode": "standard"}))
    assert other.create_domain(domain="acme")["domain"]["owner"] == "444455556666"
    with pytest.raises(mine.exceptions.ResourceNotFoundException):
        mine.describe_domain(domain="acme")
    assert mine.describe_domain(domain="acme", domainOwner="444455556666")["domain"]["name"] == "acme"
    assert mine.create_domain(domain="acme")["domain"]["owner"] == "111122223333"  # its own, no conflict
    other.create_repository(domain="acme", repository="only-other")
    assert [r["name"] for r in other.list_repositories()["repositories"]] == ["only-other"]
    assert mine.list_repositories()["repositories"] == []
    assert [d["owner"] for d in other.list_domains()["domains"]] == ["444455556666"]


def test_the_aws_cli_signs_for_the_account_its_profile_belongs_to(tmp_path, monkeypatch):
    """The AWS CLI, given a profile whose key FERRY_CA_ACCOUNTS names, works in that account's domains."""
    import shutil
    import subprocess

    aws = shutil.which("aws")
    if aws is None:
        pytest.skip("the AWS CLI is not installed")
    monkeypatch.setenv("FERRY_CA_ACCOUNTS", "AKIAOTHERACCOUNT=444455556666")  # read when the stand-in starts
    (tmp_path / "creds").write_text("[other]\naws_access_key_id = AKIAOTHERACCOUNT\naws_secret_access_key = s\n"
                                    "[default]\naws_access_key_id = AKIAMINE\naws_secret_access_key = s\n")
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "AWS_CONFIG_FILE": str(tmp_path / "config"),
           "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "creds")}
    with Sandbox(SandboxOptions(data=tmp_path / "sbx")) as sbx:
        url = sbx.urls()["codeartifact"]

        def cli(*args: str) -> dict:
            done = subprocess.run([aws, "codeartifact", *args, "--endpoint-url", url, "--region", "us-east-1",
                                   "--output", "json"], env=env, capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)

        assert cli("create-domain", "--domain", "acme", "--profile", "other")["domain"]["owner"] == "444455556666"
        assert cli("list-domains")["domains"] == []
        assert [d["owner"] for d in cli("list-domains", "--profile", "other")["domains"]] == ["444455556666"]


@pytest.mark.parametrize("bad", ["A", "x", "-ab", "ab-", "a_b", "a" * 51])
def test_invalid_domain_names_are_rejected(raw, bad):
    with pytest.raises(raw.exceptions.ValidationException):
        raw.create_domain(domain=bad)


# -- repositories ----------------------------------------------------------------------------------


def test_repository_upstreams_and_update(ca):
    d = new_domain(ca)
    new_repo(ca, d, "base")
    new_repo(ca, d, "mid", upstreams=[{"repositoryName": "base"}])
    top = ca.create_repository(domain=d, repository="top", description="team repo",
                               upstreams=[{"repositoryName": "mid"}])["repository"]
    assert top["upstreams"] == [{"repositoryName": "mid"}] and top["description"] == "team repo"
    assert top["administratorAccount"] == top["domainOwner"] == "111122223333"
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.create_repository(domain=d, repository="x1", upstreams=[{"repositoryName": "missing"}])
    with pytest.raises(ca.exceptions.ValidationException):  # base -> top -> mid -> base
        ca.update_repository(domain=d, repository="base", upstreams=[{"repositoryName": "top"}])
    updated = ca.update_repository(domain=d, repository="top", description="new",
                                   upstreams=[{"repositoryName": "base"}, {"repositoryName": "mid"}])["repository"]
    assert updated["description"] == "new"
    assert [u["repositoryName"] for u in updated["upstreams"]] == ["base", "mid"]
    assert ca.describe_repository(domain=d, repository="top")["repository"]["upstreams"] == updated["upstreams"]
    with pytest.raises(ca.exceptions.ConflictException):
        ca.create_repository(domain=d, repository="top")


def test_repository_listings_paginate_and_filter(module_sandbox):
    client = ca_client(module_sandbox, region="sa-east-1")
    d1, d2 = new_domain(client), new_domain(client)
    for name in ("app-a", "app-b", "app-c", "lib-a"):
        new_repo(client, d1, name)
    new_repo(client, d2, "app-z")
    pages = list(client.get_paginator("list_repositories_in_domain").paginate(
        domain=d1, PaginationConfig={"PageSize": 3}))
    assert [len(p["repositories"]) for p in pages] == [3, 1]
    assert [r["name"] for p in pages for r in p["repositories"]] == ["app-a", "app-b", "app-c", "lib-a"]
    prefixed = client.list_repositories_in_domain(domain=d1, repositoryPrefix="app-")["repositories"]
    assert [r["name"] for r in prefixed] == ["app-a", "app-b", "app-c"]
    everywhere = list(client.get_paginator("list_repositories").paginate(
        repositoryPrefix="app-", PaginationConfig={"PageSize": 2}))
    assert len(everywhere) == 2
    found = [(r["domainName"], r["name"]) for p in everywhere for r in p["repositories"]]
    assert found == [(d1, "app-a"), (d1, "app-b"), (d1, "app-c"), (d2, "app-z")]


def test_repository_delete_and_not_found(ca):
    d = new_domain(ca)
    new_repo(ca, d, "gone")
    assert ca.delete_repository(domain=d, repository="gone")["repository"]["name"] == "gone"
    with pytest.raises(ca.exceptions.ResourceNotFoundException) as exc:
        ca.describe_repository(domain=d, repository="gone")
    assert exc.value.response["resourceType"] == "repository"


def test_external_connections_are_recorded(ca):
    d = new_domain(ca)
    new_repo(ca, d, "npm-store")
    repo = ca.associate_external_connection(domain=d, repository="npm-store",
                                            externalConnection="public:npmjs")["repository"]
    assert repo["externalConnections"] == [
        {"externalConnectionName": "public:npmjs", "packageFormat": "npm", "status": "Available"}]
    with pytest.raises(ca.exceptions.ConflictException):
        ca.associate_external_connection(domain=d, repository="npm-store", externalConnection="public:npmjs")
    with pytest.raises(ca.exceptions.ValidationException):
        ca.associate_external_connection(domain=d, repository="npm-store", externalConnection="public:nowhere")
    repo = ca.disassociate_external_connection(domain=d, repository="npm-store",
                                               externalConnection="public:npmjs")["repository"]
    assert repo["externalConnections"] == []
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.disassociate_external_connection(domain=d, repository="npm-store", externalConnection="public:npmjs")


# -- tokens and endpoints --------------------------------------------------------------------------


def test_authorization_token_durations(ca, raw, module_sandbox):
    d = new_domain(ca)
    store = module_sandbox.apps["codeartifact"].store
    cases = {None: 43200, 0: 3600, 900: 900, 43200: 43200}
    for asked, expected in cases.items():
        kwargs = {} if asked is None else {"durationSeconds": asked}
        before = time.time()
        out = ca.get_authorization_token(domain=d, **kwargs)
        lifetime = out["expiration"].timestamp() - before
        assert expected - 5 <= lifetime <= expected + 5, (asked, lifetime)
        assert store.token_domain(out["authorizationToken"]).name == d
    for bad in (1, 899, 43201):
        with pytest.raises(raw.exceptions.ValidationException):
            raw.get_authorization_token(domain=d, durationSeconds=bad)
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_authorization_token(domain=unique("nodomain"))


def test_token_ttl_fault_overrides_duration(tmp_path):
    with Sandbox(SandboxOptions(data=tmp_path / "s", faults=FaultSpec(token_ttl=0.05))) as sbx:
        client = ca_client(sbx)
        d = new_domain(client)
        repo = new_repo(client, d)
        out = client.get_authorization_token(domain=d, durationSeconds=43200)
        assert out["expiration"].timestamp() - time.time() < 1
        endpoint = client.get_repository_endpoint(domain=d, repository=repo, format="npm")["repositoryEndpoint"]
        time.sleep(0.1)
        assert sbx.apps["codeartifact"].store.token_domain(out["authorizationToken"]) is None
        resp = requests.get(endpoint + "anything", headers={"Authorization": f"Bearer {out['authorizationToken']}"})
        assert resp.status_code == 401


def test_repository_endpoint_accepts_the_token(ca, module_sandbox):
    d = new_domain(ca)
    repo = new_repo(ca, d)
    base = module_sandbox.urls()["codeartifact"]
    for fmt in ("npm", "pypi", "generic", "maven"):
        endpoint = ca.get_repository_endpoint(domain=d, repository=repo, format=fmt,
                                              endpointType="ipv4")["repositoryEndpoint"]
        assert endpoint == f"{base}/d/{d}-111122223333/us-east-1/{fmt}/{repo}/"
    npm = ca.get_repository_endpoint(domain=d, repository=repo, format="npm")["repositoryEndpoint"]
    token = ca.get_authorization_token(domain=d)["authorizationToken"]
    assert requests.get(npm + "left-pad").status_code == 401
    assert requests.get(npm + "left-pad", headers={"Authorization": f"Bearer {token}"}).status_code != 401
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_repository_endpoint(domain=d, repository="nope", format="npm")


# -- validation and errors -------------------------------------------------------------------------


@pytest.mark.parametrize("max_results", [0, 1001])
def test_max_results_out_of_range(raw, max_results):
    d = new_domain(raw)
    with pytest.raises(raw.exceptions.ValidationException) as exc:
        raw.list_repositories_in_domain(domain=d, maxResults=max_results)
    assert "maxResults" in str(exc.value)
    with pytest.raises(raw.exceptions.ValidationException):
        raw.list_domains(maxResults=max_results)


def test_bad_next_token_and_missing_required(raw):
    d = new_domain(raw)
    with pytest.raises(raw.exceptions.ValidationException):
        raw.list_repositories_in_domain(domain=d, nextToken="!!not-a-token!!")
    with pytest.raises(raw.exceptions.ValidationException) as exc:
        raw.list_packages(domain=d)  # repository is required
    assert "repository" in str(exc.value)
    with pytest.raises(raw.exceptions.ValidationException):
        raw.create_repository(domain=d, repository="-starts-with-dash")


def test_unknown_path_is_an_error(module_sandbox):
    resp = requests.post(module_sandbox.urls()["codeartifact"] + "/v1/not-an-operation")
    assert resp.status_code == 404
    assert resp.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_throttling_error_renders_for_botocore():
    def app(environ, start_response):
        err = Throttled("slow down", retry_after=3)
        return aws_error(err, err.headers())(environ, start_response)

    server = start_server("throttle", app)
    try:
        client = boto3.client("codeartifact", region_name="us-east-1", endpoint_url=server.url,
                              aws_access_key_id="AKIDFERRYTEST", aws_secret_access_key="x",
                              config=Config(retries={"max_attempts": 1, "mode": "standard"}))
        with pytest.raises(client.exceptions.ThrottlingException) as exc:
            client.list_domains()
    finally:
        server.stop()
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert exc.value.response["Error"]["Message"] == "slow down"
    assert exc.value.response["retryAfterSeconds"] == 3


def test_endpoint_url_from_environment(module_sandbox, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", module_sandbox.urls()["codeartifact"])
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    session = boto3.session.Session(aws_access_key_id="AKIDENV", aws_secret_access_key="x", region_name="us-east-1")
    client = session.client("codeartifact")
    name = new_domain(client)
    assert name in [d["name"] for d in ca_client(module_sandbox).list_domains(maxResults=1000)["domains"]]


# -- policies and tags -----------------------------------------------------------------------------


def test_domain_and_repository_policies(ca):
    d = new_domain(ca)
    repo = new_repo(ca, d)
    doc = json.dumps({"Version": "2012-10-17", "Statement": []})
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_domain_permissions_policy(domain=d)
    put = ca.put_domain_permissions_policy(domain=d, policyDocument=doc)["policy"]
    assert put["document"] == doc and put["resourceArn"].endswith(f":domain/{d}")
    with pytest.raises(ca.exceptions.ConflictException):
        ca.put_domain_permissions_policy(domain=d, policyDocument=doc, policyRevision="stale")
    again = ca.put_domain_permissions_policy(domain=d, policyDocument=doc, policyRevision=put["revision"])["policy"]
    assert ca.get_domain_permissions_policy(domain=d)["policy"]["revision"] == again["revision"]
    assert ca.delete_domain_permissions_policy(domain=d)["policy"]["document"] == doc
    with pytest.raises(ca.exceptions.ValidationException):
        ca.put_repository_permissions_policy(domain=d, repository=repo, policyDocument="not json")
    ca.put_repository_permissions_policy(domain=d, repository=repo, policyDocument=doc)
    assert ca.get_repository_permissions_policy(domain=d, repository=repo)["policy"]["document"] == doc
    ca.delete_repository_permissions_policy(domain=d, repository=repo)
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.get_repository_permissions_policy(domain=d, repository=repo)


def test_tags_on_repositories(ca):
    d = new_domain(ca)
    arn = ca.create_repository(domain=d, repository="tagged", tags=[{"key": "a", "value": "1"}])["repository"]["arn"]
    ca.tag_resource(resourceArn=arn, tags=[{"key": "b", "value": "2"}, {"key": "a", "value": "3"}])
    assert ca.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "a", "value": "3"}, {"key": "b", "value": "2"}]
    ca.untag_resource(resourceArn=arn, tagKeys=["a"])
    assert ca.list_tags_for_resource(resourceArn=arn)["tags"] == [{"key": "b", "value": "2"}]
    with pytest.raises(ca.exceptions.ResourceNotFoundException):
        ca.list_tags_for_resource(resourceArn=arn.replace("tagged", "untagged"))


def test_errors_are_client_errors_with_resource_fields(ca):
    d = new_domain(ca)
    with pytest.raises(ClientError) as exc:
        ca.describe_repository(domain=d, repository="missing")
    assert error_code(exc) == "ResourceNotFoundException"
    assert exc.value.response["resourceId"] == "missing"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
