"""The IAM policies in runbooks/nightly-replication.md: valid policy documents, the source role read-only,
and every CodeArtifact operation a real replicate run sends to a side allowed by that side's policy."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from e2e_helpers import aws_env
from ferry.config import load_job
from ferry.engine import Settings
from ferry.replicators.config_sync import sync_config
from ferry.replicators.run import ReplicateOptions, replicate
from replicate_helpers import SOURCE_REGION, TARGET_REGION, Seeder, write_replica_job

RUNBOOK = Path(__file__).resolve().parents[1] / "runbooks" / "nightly-replication.md"
_BLOCK = re.compile(r"<!-- iam: (\w+) -->\s*```json\n(.*?)```", re.S)
READ_ONLY = re.compile(r"^(codeartifact:(Describe|Get|List|ReadFromRepository)|sts:GetServiceBearerToken$)")
# Operations the package endpoints need beyond the control-plane calls ferry counts.
ENDPOINT_ACTIONS = {"source": {"codeartifact:ReadFromRepository"},
                    "target": {"codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion",
                               "codeartifact:PutPackageMetadata"}}


def policies() -> dict[str, dict]:
    found = {name: json.loads(body) for name, body in _BLOCK.findall(RUNBOOK.read_text())}
    assert set(found) == {"source", "target", "trust"}
    return found


def _statements(policy: dict) -> list[dict]:
    assert policy["Version"] == "2012-10-17"
    statements = policy["Statement"]
    for st in statements:
        assert st["Effect"] == "Allow"
        assert st.get("Resource") or st.get("Principal")
        assert isinstance(st["Action"], (str, list))
    return statements


def _actions(policy: dict) -> set[str]:
    out: set[str] = set()
    for st in _statements(policy):
        out.update([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
    return out


def allows(policy: dict, action: str) -> bool:
    return any(fnmatchcase(action, pattern) for pattern in _actions(policy))


def test_policies_are_documents_and_the_source_role_only_reads():
    found = policies()
    source_actions = _actions(found["source"])
    assert source_actions and all(READ_ONLY.match(a) for a in source_actions), source_actions
    assert not any("*" in a for a in source_actions | _actions(found["target"]))  # no wildcard actions
    for st in _statements(found["source"]):
        resources = [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"]
        assert all(r == "*" and st["Action"] == "sts:GetServiceBearerToken" or ":eu-west-1:111122223333:" in r
                   for r in resources)
    (trust,) = _statements(found["trust"])
    assert trust["Action"] == "sts:AssumeRole" and trust["Principal"]["AWS"].endswith(":role/ferry-replica-runner")


@pytest.fixture
def used_operations(sandbox, tmp_path, monkeypatch) -> dict[str, set[str]]:
    """Every control-plane operation a realistic series of runs sent, per side."""
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.client.create_package_group(domain="acme", packageGroup="/npm/acme/*")
    src.npm("packages", "@acme/ui", "1.0.0")
    src.npm("packages", "@acme/ui", "1.1.0")
    src.pypi("packages", "acme-utils", "1.0")
    src.generic("packages", "tools", "installer", "1.0", {"a.bin": b"a", "b.bin": b"b"})
    job = load_job(write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")]))
    seen: dict[str, set[str]] = {"source": set(), "target": set()}

    def collect(requests: dict[str, dict[str, int]]) -> None:
        for side, counts in requests.items():
            seen[side.split()[0]].update(counts)

    collect(sync_config(job).requests)
    settings = Settings(ledger=tmp_path / "ferry.db")
    collect(replicate(job, settings, ReplicateOptions()).requests)
    src.status("packages", "npm", "acme", "ui", "1.0.0", "Unlisted")
    src.client.delete_package_versions(domain="acme", repository="packages", format="pypi", package="acme-utils",
                                       versions=["1.0"])
    src.client.dispose_package_versions(domain="acme", repository="packages", format="npm", namespace="acme",
                                        package="ui", versions=["1.1.0"])
    outcome = replicate(job, settings, ReplicateOptions(propagate_deletes=True))
    assert outcome.exit_code == 0, outcome.problems
    collect(outcome.requests)
    # A package deleted whole in the source is deleted whole in the target (DeletePackage), as the runbook says.
    src.client.delete_package(domain="acme", repository="packages", format="generic", namespace="tools",
                              package="installer")
    whole = replicate(job, settings, ReplicateOptions(propagate_deletes=True))
    assert whole.exit_code == 0 and whole.tallies["packages"]["packages deleted (gone from the source)"] == 1
    collect(whole.requests)
    src.client.create_repository(domain="acme", repository="prod")
    same = load_job(write_replica_job(tmp_path / "same.toml", sandbox.urls()["codeartifact"],
                                      [("packages", "prod")], target_region=SOURCE_REGION))
    seen["target"].update(replicate(same, Settings(ledger=tmp_path / "same.db"), ReplicateOptions()).requests[
        f"target acme@{SOURCE_REGION}"])
    return seen


def test_every_operation_a_run_sends_is_allowed(used_operations):
    found = policies()
    for side in ("source", "target"):
        ops = {f"codeartifact:{op}" for op in used_operations[side] if op[0].isupper()}
        assert ops, side  # (lower-case entries are package-endpoint requests, not IAM actions)
        missing = sorted(a for a in ops | ENDPOINT_ACTIONS[side] if not allows(found[side], a))
        assert missing == [], f"{side} policy lacks {missing}"
    # The runs did exercise the write paths the target policy exists for.
    assert {"UpdatePackageVersionsStatus", "DeletePackageVersions", "DisposePackageVersions", "DeletePackage",
            "CopyPackageVersions", "PublishPackageVersion", "CreateRepository"} <= used_operations["target"]


def _example_requests() -> dict[str, dict[str, int]]:
    """The request counts the runbook shows for a night with nothing new, by side."""
    block = RUNBOOK.read_text().split("      requests:\n", 1)[1].split("\n\n", 1)[0]
    found = {}
    for line in block.strip().splitlines():
        side, _, counts = line.strip().partition(": ")
        found[side.split()[0]] = {op: int(n) for op, n in re.findall(r"([A-Za-z][\w -]*?) (\d+)",
                                                                     counts.split(" (total")[0])}
    return found


def test_the_quiet_night_example_shows_the_requests_such_a_night_sends(sandbox, tmp_path, monkeypatch):
    """Section 1's example: the same operations, on each side, as a real run with nothing new sends (the
    numbers there are of a larger repository, but one request per repository stays one)."""
    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.npm("packages", "@acme/ui", "1.0.0")
    src.generic("packages", "tools", "installer", "1.0", {"a.bin": b"a"})
    # domain_owner as in the runbook's job (without it, the source is asked its account once per run too).
    job = load_job(write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")], extra_source='domain_owner = "111122223333"'))
    assert sync_config(job).exit_code == 0  # the runbook's first step: the target exists before the runs
    settings = Settings(ledger=tmp_path / "ferry.db")
    assert replicate(job, settings, ReplicateOptions()).exit_code == 0
    quiet = replicate(job, settings, ReplicateOptions())
    sent = {side.split()[0]: counts for side, counts in quiet.requests.items()}
    example = _example_requests()
    assert {side: set(ops) for side, ops in example.items()} == {side: set(ops) for side, ops in sent.items()}
    # Requests made once per run or per repository do not grow with the repository: same counts.
    per_run = {"ListPackages", "GetAuthorizationToken", "GetRepositoryEndpoint", "DescribeDomain", "DescribeRepository"}
    for side in ("source", "target"):
        assert ({op: n for op, n in example[side].items() if op in per_run}
                == {op: n for op, n in sent[side].items() if op in per_run}), side


def _alarm_queries() -> list[str]:
    """The sqlite3 queries section 6 tells the operator to publish, in the order it gives them."""
    section = RUNBOOK.read_text().split("## 6. Alarms", 1)[1].split("\n## ", 1)[0]
    return re.findall(r'sqlite3 replica\.db "([^"]+)"', section)


def test_the_alarm_queries_tell_a_stopped_schedule_from_an_item_failing_every_night(sandbox, tmp_path, monkeypatch):
    """Section 6: the oldest high-water mark stops moving both when no run happens and when runs happen but an
    item fails in each (a conflict); the second query, the last run's start, tells the two apart."""
    import sqlite3
    from contextlib import closing

    aws_env(monkeypatch, tmp_path)
    src, dst = Seeder(sandbox, SOURCE_REGION), Seeder(sandbox, TARGET_REGION)
    src.create("packages")
    dst.create("packages")
    src.generic("packages", "tools", "installer", "1.0", {"a.bin": b"a"})
    job = load_job(write_replica_job(tmp_path / "job.toml", sandbox.urls()["codeartifact"],
                                     [("packages", "packages")]))
    ledger = tmp_path / "replica.db"
    settings = Settings(ledger=ledger)
    mark_query, last_run_query = _alarm_queries()

    def ask(query: str) -> str:
        with closing(sqlite3.connect(ledger)) as db:
            return db.execute(query).fetchone()[0]

    assert replicate(job, settings, ReplicateOptions()).exit_code == 0
    good_night = ask(mark_query)
    assert good_night
    # The target holds other bytes under a version the source publishes next: a conflict, every night.
    dst.generic("packages", "tools", "installer", "2.0", {"a.bin": b"target's own"})
    src.generic("packages", "tools", "installer", "2.0", {"a.bin": b"source's"})
    for _night in range(2):
        assert replicate(job, settings, ReplicateOptions()).exit_code == 1
    assert ask(mark_query) == good_night  # the lag alarm fires although the schedule runs ...
    assert ask(last_run_query) > good_night  # ... and the last run's start shows that it does
