"""The CodeArtifact stand-in's request quotas (--quota) and ferry's limiter adapting to them."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.sandbox.codeartifact.quota import QuotaController, QuotaSpec, QuotaSpecError, control_class
from ferry.sandbox.seed import NexusSeeder


class Clock:
    def __init__(self):
        self.now = 50.0

    def __call__(self):
        return self.now


def test_spec_parse_and_text():
    spec = QuotaSpec.parse("publish=10, list=200,burst=500ms,retry_after=2s")
    assert dict(spec.rates) == {"publish": 10.0, "list": 200.0}
    assert spec.burst == 0.5 and spec.retry_after == 2.0
    assert QuotaSpec.parse(spec.text()) == spec
    assert QuotaSpec.parse(None) == QuotaSpec() and QuotaSpec().text() == ""
    for bad in ("publsh=10", "publish", "publish=fast", "publish=0", "burst=soon"):
        with pytest.raises(QuotaSpecError):
            QuotaSpec.parse(bad)


def test_control_plane_classes():
    assert control_class("PublishPackageVersion") == "publish"
    assert control_class("CopyPackageVersions") == "copy"
    assert control_class("GetPackageVersionAsset") == "asset_read"
    assert control_class("GetAuthorizationToken") == "token"
    assert control_class("ListPackageVersionAssets") == "list"
    assert control_class("PutPackageOriginConfiguration") == "write"
    assert control_class("DescribePackageVersion") == "read"


def test_bucket_lets_a_burst_through_then_the_rate():
    clock = Clock()
    quota = QuotaController(QuotaSpec.parse("publish=10,burst=1s"), clock=clock)
    assert [quota.admit("publish", "PublishPackageVersion", 5) for _ in range(10)] == [None] * 10
    refused = quota.admit("publish", "PublishPackageVersion", 5)
    assert refused == pytest.approx(0.1)
    clock.now += 0.1
    assert quota.admit("publish", "PublishPackageVersion", 5) is None
    # not limited classes are only counted
    assert all(quota.admit("read", "DescribeDomain", 0) is None for _ in range(1000))
    status = quota.status()
    assert status["requests"] == {"publish": 12, "read": 1000}
    assert status["throttled"] == {"publish": 1}
    assert status["bytes_in"]["publish"] == 55  # refused bodies are not counted as received


def test_each_list_operation_has_its_own_bucket():
    clock = Clock()
    quota = QuotaController(QuotaSpec.parse("list=2,burst=1s"), clock=clock)
    assert quota.admit("list", "ListPackages", 0) is None and quota.admit("list", "ListPackages", 0) is None
    assert quota.admit("list", "ListPackages", 0) is not None
    assert quota.admit("list", "ListPackageVersions", 0) is None


def test_stand_in_throttles_control_plane_and_endpoints(sandbox):
    sandbox.quota.configure(QuotaSpec.parse("publish=1,burst=1s,retry_after=3s"))
    url = sandbox.urls()["codeartifact"]
    ca = boto3.client("codeartifact", endpoint_url=url, region_name="us-east-1", aws_access_key_id="AKIAFERRYTEST",
                      aws_secret_access_key="ferry-test-secret-key", config=Config(retries={"total_max_attempts": 1}))
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="gen")
    kw = dict(domain="acme", repository="gen", format="generic", namespace="ns", package="p", packageVersion="1",
              assetName="a.txt")
    ca.publish_package_version(**kw, assetContent=b"x", assetSHA256=hashlib.sha256(b"x").hexdigest())
    with pytest.raises(ClientError) as err:
        ca.publish_package_version(**kw, assetContent=b"x", assetSHA256=hashlib.sha256(b"x").hexdigest())
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "3"
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="gen", format="npm")["repositoryEndpoint"]
    resp = requests.put(endpoint + "x", data=b"{}", auth=("aws", token), timeout=10)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "3"
    status = requests.get(url + "/__sandbox/quota", timeout=10).json()
    assert status["throttled"] == {"publish": 2}
    assert status["operations"]["PublishPackageVersion"] == 2 and status["operations"]["endpoint PUT"] == 1
    # the admin API changes the quota and zeroes the counters
    out = requests.put(url + "/__sandbox/quota", data=json.dumps({"quota": ""}), timeout=10).json()
    assert out["quota"] == "" and out["requests"] == {}
    assert requests.put(url + "/__sandbox/quota", data=json.dumps({"quota": "nope=1"}), timeout=10).status_code == 400
    # A body without "quota" (the spec under another key) is refused, not taken as "no quota".
    requests.put(url + "/__sandbox/quota", json={"quota": "publish=5"}, timeout=10).raise_for_status()
    refused = requests.put(url + "/__sandbox/quota", json={"publish": "5"}, timeout=10)
    assert refused.status_code == 400 and '{"quota": "publish=10,burst=1s"}' in refused.json()["message"]
    assert requests.get(url + "/__sandbox/quota", timeout=10).json()["quota"] == "publish=5"


def test_migration_adapts_to_a_quota_below_its_configured_rate(sandbox, tmp_path, monkeypatch):
    """ferry told 40 publishes/s meets a service allowing 4/s: it slows down, and every item arrives once."""
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("raw", "raw-files")
    for i in range(16):
        seeder.raw("raw-files", f"tool-{i}/1.0", {"tool.bin": f"tool {i}".encode()})
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="generic-store")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "raw-files", "target": "generic-store", "namespace": "tools"}],
                    extra="\n[options]\nworkers = 8\n[options.rates]\npublish = 40\n")
    sandbox.quota.configure(QuotaSpec.parse("publish=4,burst=1s"))
    state = str(tmp_path / "ferry.db")
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    status = sandbox.quota.status()
    assert status["throttled"].get("publish", 0) > 0  # it did run into the quota
    # every version is there once, and nothing was published twice
    versions = ca.list_package_versions(domain="acme", repository="generic-store", format="generic",
                                        namespace="tools", package="tool-3")["versions"]
    assert [v["status"] for v in versions] == ["Published"]
    published = status["operations"]["PublishPackageVersion"] - status["throttled"]["publish"]
    assert published == 16
    assert ferry("verify", str(job), "--state", state) == 0


def _codeartifact_source_job(sandbox, tmp_path, monkeypatch, target_region: str, rates: str):
    """16 generic versions in a CodeArtifact source (eu-west-1), a job copying them to ``target_region`` with
    8 workers and the ``rates`` lines under [options], and the stand-in allowing 5 asset reads a second."""
    from replicate_helpers import SOURCE_REGION, Seeder, write_replica_job

    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    for i in range(16):
        src.assets("packages", "generic", "tools", f"tool-{i}", "1.0", {"tool.bin": f"tool {i}".encode()})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            target_region=target_region, target_domain="acme-copy",
                            options=f"create_missing = true\nworkers = 8\n{rates}")
    sandbox.quota.configure(QuotaSpec.parse("asset_read=5,burst=1s"))
    return str(job)


@pytest.mark.parametrize("target_region, rates", [
    ("us-east-1", "[options.source_rates]\nasset_read = 4"),  # another region: the source's own rates
    ("eu-west-1", "[options.rates]\nasset_read = 4"),  # the source's region and credentials: the target's rates
])
def test_a_codeartifact_sources_reads_keep_under_the_rates_that_apply_to_it(sandbox, tmp_path, monkeypatch,
                                                                             target_region, rates):
    """The source's GetPackageVersionAsset calls take slots of a limiter as the target's calls do: 8 workers
    reading from a service allowing 5 a second are never throttled (they were, by the dozen, when only the
    retry after each 429 paced them)."""
    job = _codeartifact_source_job(sandbox, tmp_path, monkeypatch, target_region, rates)
    assert ferry("migrate", job, "--state", str(tmp_path / "ferry.db"), "--no-progress") == 0
    status = sandbox.quota.status()
    assert status["operations"]["GetPackageVersionAsset"] == 16
    assert status["throttled"] == {}


def test_source_rates_for_a_source_sharing_the_targets_quotas_are_refused(sandbox, tmp_path, monkeypatch, capsys):
    job = _codeartifact_source_job(sandbox, tmp_path, monkeypatch, "eu-west-1",
                                   "[options.source_rates]\nasset_read = 4")
    assert ferry("migrate", job, "--state", str(tmp_path / "ferry.db"), "--no-progress") == 2
    err = capsys.readouterr().err
    assert "options.source_rates: the source is in the target's region and signs in alike" in err
    assert not (tmp_path / "ferry.db").exists()
