"""runbooks/nexus-migration.md: its job file is one ferry accepts, and its IAM policy (with the actions it says
to add for --create-missing and --origin-policy allow-publish) allows every CodeArtifact operation that the
runbook's audit, migrate and verify send."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

from e2e_helpers import aws_env, codeartifact, ferry
from ferry.config import parse_job
from ferry.sandbox.seed import NexusSeeder, npm_tarball, wheel

RUNBOOK = Path(__file__).resolve().parents[1] / "runbooks" / "nexus-migration.md"
# Package-endpoint requests (npm, PyPI, Maven) are allowed by these actions, not by an operation's own name.
ENDPOINT_ACTIONS = {"codeartifact:ReadFromRepository", "codeartifact:PublishPackageVersion",
                    "codeartifact:PutPackageMetadata"}


def _job_block() -> str:
    (block,) = re.findall(r"```toml\n(.*?)```", RUNBOOK.read_text(), re.S)
    return block


def _allowed_actions() -> set[str]:
    """The policy's actions, plus those the text says to add for the flags this test uses."""
    text = RUNBOOK.read_text()
    (block,) = re.findall(r"```json\n(.*?)```", text, re.S)
    actions: set[str] = set()
    for statement in json.loads(block)["Statement"]:
        assert statement["Effect"] == "Allow"
        actions.update([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    extra = re.search(r"Add (.*?) only if you use `--create-missing`,\s+and (.*?) only if you use "
                      r"`--origin-policy allow-publish`", text, re.S)
    assert extra, "the sentence naming the actions for --create-missing and --origin-policy moved"
    actions.update(re.findall(r"`(codeartifact:\w+)`", extra.group(1) + extra.group(2)))
    return actions


def test_the_job_file_example_parses():
    job = parse_job(_job_block(), "runbook")
    assert job.source.kind == "nexus" and job.source.username == "ferry-migrator"
    assert job.target.domain == "acme" and job.target.domain_owner == "111122223333"
    assert [(m.source, m.target) for m in job.repositories] == [
        ("npm-internal", "npm-store"), ("pypi-internal", "pypi-store"), ("raw-files", "generic-store")]


def test_the_policy_allows_every_operation_the_runbook_commands_send(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    for fmt, repo in (("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")):
        seeder.create_repository(fmt, repo)
    seeder.npm("npm-internal", "@acme/ui-kit", "1.0.0")
    seeder.npm("npm-internal", "@acme/ui-kit", "2.0.0-beta.1")
    seeder.npm_dist_tag("npm-internal", "@acme/ui-kit", "beta", "2.0.0-beta.1")
    seeder.npm_deprecate("npm-internal", "@acme/ui-kit", "1.0.0", "use 2")
    seeder.npm("npm-internal", "left-pad-acme", "1.0.0")
    seeder.pypi("pypi-internal", *wheel("acme-utils", "1.0"))
    seeder.raw("raw-files", "installer/3.4.0", {"installer.tar.gz": b"installer"})
    # The runbook's job, pointed at the stand-ins (its user is the stand-in's; the Nexus password from the env).
    job_text = (_job_block().replace('"https://nexus.example.com"', f'"{urls["nexus"]}"')
                .replace('"ferry-migrator"', '"admin"')
                .replace('region = "us-east-1"', f'region = "us-east-1"\nendpoint_url = "{urls["codeartifact"]}"'))
    job = tmp_path / "job.toml"
    job.write_text(job_text)
    state = str(tmp_path / "acme.db")
    sent: set[str] = set()

    def sent_by(*argv: str) -> None:
        """Run ferry, expecting exit 0, and add the operations it sent to ``sent``."""
        before = dict(sandbox.quota.status()["operations"])
        assert ferry(*argv) == 0, argv
        sent.update(op for op, n in sandbox.quota.status()["operations"].items() if n > before.get(op, 0))

    sent_by("audit", str(job), "--state", state, "--create-missing")
    sent_by("migrate", str(job), "--state", state, "--create-missing", "--no-progress")
    # A package whose origin controls block publishing, as step 4 describes, and a new version of it.
    codeartifact(urls["codeartifact"]).put_package_origin_configuration(
        domain="acme", domainOwner="111122223333", repository="npm-store", format="npm", package="left-pad-acme",
        restrictions={"publish": "BLOCK", "upstream": "ALLOW"})
    seeder.upload("npm-internal", {"npm.asset": ("left-pad-acme-1.1.0.tgz", npm_tarball("left-pad-acme", "1.1.0"))})
    sent_by("migrate", str(job), "--state", state, "--no-progress", "--origin-policy", "allow-publish")
    sent_by("verify", str(job), "--state", state)
    operations = {f"codeartifact:{op}" for op in sent if op[0].isupper()}  # lower case: endpoint requests
    allowed = _allowed_actions()
    missing = sorted(a for a in operations | ENDPOINT_ACTIONS if not any(fnmatchcase(a, p) for p in allowed))
    assert missing == [], f"the runbook's policy lacks {missing}"
    # The runs did take the paths the optional actions are for.
    assert {"codeartifact:CreateDomain", "codeartifact:CreateRepository",
            "codeartifact:PutPackageOriginConfiguration", "codeartifact:PublishPackageVersion"} <= operations
