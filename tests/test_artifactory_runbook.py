"""The Artifactory runbook's job file is one ferry accepts, and its stand-in rehearsal works as written."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requests

from ferry.config import parse_job
from ferry.sandbox.seed import npm_tarball

RUNBOOK = Path(__file__).resolve().parent.parent / "runbooks" / "artifactory-migration.md"


def test_the_job_file_example_parses():
    text = RUNBOOK.read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", text, re.S)
    job = parse_job(block, "runbook")
    assert job.source.kind == "artifactory" and job.source.url.endswith("/artifactory")
    assert job.source.token is not None and job.source.token.env == "ARTIFACTORY_TOKEN"
    assert [m.source for m in job.repositories] == ["npm-local", "pypi-local", "libs-release-local", "nuget-local",
                                                    "generic-local"]


def test_the_rehearsal_commands_work_against_the_stand_in(sandbox, tmp_path):
    """Runs the curl lines of section 9 (with ART pointing at the stand-in) and checks their effect."""
    section = RUNBOOK.read_text().split("## 9.")[1]
    commands = re.sub(r"\\\n\s*", " ", section)
    lines = [line.strip() for line in commands.splitlines() if line.strip().startswith(("curl", "export ARTIFACTORY"))]
    assert len(lines) == 3
    (tmp_path / "left-pad-1.0.0.tgz").write_bytes(npm_tarball("left-pad", "1.0.0"))
    art = sandbox.urls()["artifactory"]
    script = "set -e\n" + f"export ART={art}\n" + "\n".join(lines) + '\necho; echo "TOKEN=$ARTIFACTORY_TOKEN"\n'
    out = subprocess.run(["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    token = out.stdout.rpartition("TOKEN=")[2].strip()
    props = requests.get(f"{art}/api/storage/npm-local/left-pad/-/left-pad-1.0.0.tgz?properties",
                         headers={"Authorization": f"Bearer {token}"}).json()["properties"]
    assert props == {"npm.name": ["left-pad"], "npm.version": ["1.0.0"]}
