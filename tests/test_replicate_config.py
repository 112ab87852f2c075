"""ferry replicate --config-only: a dry run shows the diff and changes nothing; a real run reproduces the
source domain's repositories, upstream order, external connection, package groups and origin
configurations in another region; a second run changes nothing."""

from __future__ import annotations

from collections import Counter

import pytest

from e2e_helpers import aws_env, codeartifact, ferry
from ferry.config import load_job
from ferry.replicators.config_sync import sync_config
from replicate_helpers import SOURCE_REGION, TARGET_REGION, Seeder, write_replica_job

WRITES = ("Create", "Update", "Associate", "Put", "Delete", "Disassociate")


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    c = src.client
    c.create_domain(domain="acme")
    c.create_repository(domain="acme", repository="npm-public", description="proxy of npmjs")
    c.associate_external_connection(domain="acme", repository="npm-public", externalConnection="public:npmjs")
    c.create_repository(domain="acme", repository="team", upstreams=[{"repositoryName": "npm-public"}])
    c.create_repository(domain="acme", repository="packages", description="what we ship",
                        upstreams=[{"repositoryName": "team"}, {"repositoryName": "npm-public"}])
    c.create_package_group(domain="acme", packageGroup="/npm/acme/*", description="our scope", contactInfo="ops@acme")
    c.update_package_group_origin_configuration(
        domain="acme", packageGroup="/npm/acme/*",
        restrictions={"PUBLISH": "BLOCK", "EXTERNAL_UPSTREAM": "ALLOW_SPECIFIC_REPOSITORIES"},
        addAllowedRepositories=[{"repositoryName": "npm-public", "originRestrictionType": "EXTERNAL_UPSTREAM"}])
    c.put_package_origin_configuration(domain="acme", repository="team", format="npm", namespace="acme",
                                       package="ui", restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                            [("packages", "packages"), ("team", "team-mirror")])
    return {"sandbox": sandbox, "job": job, "src": c, "dst": codeartifact(sandbox.urls()["codeartifact"],
                                                                          TARGET_REGION)}


def _config(client, names: dict[str, str]) -> dict:
    """The domain's configuration in comparable form, repository names mapped through ``names``."""
    out = {}
    for repo in client.list_repositories_in_domain(domain="acme")["repositories"]:
        desc = client.describe_repository(domain="acme", repository=repo["name"])["repository"]
        pkgs = client.list_packages(domain="acme", repository=repo["name"])["packages"]
        out[names.get(repo["name"], repo["name"])] = (
            desc.get("description"),
            [names.get(u["repositoryName"], u["repositoryName"]) for u in desc["upstreams"]],
            sorted(e["externalConnectionName"] for e in desc["externalConnections"]),
            sorted((p["format"], p.get("namespace"), p["package"], tuple(sorted(
                p["originConfiguration"]["restrictions"].items()))) for p in pkgs),
        )
    for group in client.list_package_groups(domain="acme")["packageGroups"]:
        modes = {t: r["mode"] for t, r in group["originConfiguration"]["restrictions"].items()}
        ext = client.list_allowed_repositories_for_group(domain="acme", packageGroup=group["pattern"],
                                                         originRestrictionType="EXTERNAL_UPSTREAM")
        out[group["pattern"]] = (group.get("description"), group.get("contactInfo"), modes,
                                 sorted(names.get(r, r) for r in ext["allowedRepositories"]))
    return out


def test_config_only_dry_run_then_apply_then_nothing_to_do(world, capsys):
    job = str(world["job"])
    assert ferry("replicate", job, "--config-only", "--dry-run") == 0
    shown = capsys.readouterr().out
    assert "+ domain acme in us-east-1" in shown and "+ repository team-mirror" in shown
    assert "upstreams [] -> ['team-mirror', 'npm-public']" in shown
    assert "+ repository npm-public: external connection public:npmjs" in shown
    assert "dry run:" in shown
    assert world["dst"].list_domains()["domains"] == []  # nothing was made

    assert ferry("replicate", job, "--config-only") == 0
    assert "applied" in capsys.readouterr().out
    assert _config(world["dst"], {"team-mirror": "team"}) == _config(world["src"], {})

    again = sync_config(load_job(world["job"]))
    assert again.exit_code == 0 and [c for c in again.changes if c.apply] == []
    assert again.lines()[-1] == "configuration in step: nothing to change"
    target_requests = next(v for k, v in again.requests.items() if k.startswith("target"))
    assert not any(op.startswith(WRITES) for op in target_requests)


def test_config_only_updates_what_drifted(world):
    job = load_job(world["job"])
    assert sync_config(job).exit_code == 0
    dst = world["dst"]
    dst.update_repository(domain="acme", repository="packages", upstreams=[{"repositoryName": "npm-public"}])
    dst.update_package_group_origin_configuration(domain="acme", packageGroup="/npm/acme/*",
                                                  restrictions={"PUBLISH": "ALLOW"})
    dry = sync_config(job, dry_run=True)
    assert [str(c) for c in dry.changes] == [
        "~ repository packages: upstreams ['npm-public'] -> ['team-mirror', 'npm-public']",
        "~ package group /npm/acme/*: PUBLISH ALLOW -> BLOCK",
    ]
    assert sync_config(job).exit_code == 0
    assert _config(dst, {"team-mirror": "team"}) == _config(world["src"], {})


def test_config_only_retries_throttled_writes_and_counts_a_lost_answer_as_done(world, monkeypatch):
    from ferry.sandbox.codeartifact.records import InternalError, Throttled

    control = world["sandbox"].apps["codeartifact"]._control
    real, writes = control.dispatch, Counter()

    def flaky(request, region):
        if region == TARGET_REGION and request.method != "GET":
            writes[request.path] += 1
            if writes[request.path] == 1 and request.path in ("/v1/repository",
                                                              "/v1/package-group-origin-configuration"):
                raise Throttled(retry_after=0)  # nothing was changed
            if writes[request.path] == 1 and request.path == "/v1/package-group":
                real(request, region)
                raise InternalError("the answer was lost")  # created, but ferry cannot tell
        return real(request, region)

    monkeypatch.setattr(control, "dispatch", flaky)
    outcome = sync_config(load_job(world["job"]), sleep=lambda _s: None)
    assert outcome.problems == []
    assert outcome.exit_code == 0
    assert writes["/v1/package-group-origin-configuration"] == 2 and writes["/v1/package-group"] == 2
    assert _config(world["dst"], {"team-mirror": "team"}) == _config(world["src"], {})


def test_config_only_keeps_its_writes_under_the_jobs_rates(sandbox, tmp_path, monkeypatch):
    """One PutPackageOriginConfiguration per package adds up on a large domain: --config-only takes slots of
    [options.rates] as a run does, so a service allowing 5 writes a second never throttles it (it did, paced
    only by the retry after each 429)."""
    from ferry.sandbox.codeartifact.quota import QuotaSpec

    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    for i in range(20):
        src.assets("packages", "generic", "tools", f"tool-{i}", "1.0", {"tool.bin": b"x"})
        src.client.put_package_origin_configuration(domain="acme", repository="packages", format="generic",
                                                    namespace="tools", package=f"tool-{i}",
                                                    restrictions={"publish": "BLOCK", "upstream": "BLOCK"})
    job = write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"], [("packages", "packages")],
                            options="[options.rates]\nwrite = 4")
    sandbox.quota.configure(QuotaSpec.parse("write=5,burst=1s"))
    assert ferry("replicate", str(job), "--config-only") == 0
    status = sandbox.quota.status()
    assert status["operations"]["PutPackageOriginConfiguration"] == 20 and status["throttled"] == {}
