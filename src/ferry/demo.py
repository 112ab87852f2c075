"""``ferry demo``: a whole migration on a fresh machine, against stand-ins started in this process.

It seeds a Nexus stand-in with npm, PyPI, Maven and raw packages it builds itself, runs audit, migrate and
verify into a CodeArtifact stand-in, prints the report and the commands that install what moved.
Nothing leaves the machine and no real credentials are used or printed.
"""

from __future__ import annotations

import os
import shlex
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable

from ferry.config import load_job
from ferry.engine import Settings
from ferry.errors import EXIT_OK
from ferry.report import render_table

DEMO_ENV = {
    # The stand-in accepts any SigV4 credentials; these are placeholders, not secrets.
    "AWS_ACCESS_KEY_ID": "AKIAFERRYDEMO",
    "AWS_SECRET_ACCESS_KEY": "ferry-demo-placeholder",
    "FERRY_DEMO_NEXUS_PASSWORD": "admin123",
}

JOB = """\
[source]
kind = "nexus"
url = "{nexus}"
username = "admin"
password_env = "FERRY_DEMO_NEXUS_PASSWORD"

[target]
domain = "acme"
region = "us-east-1"
endpoint_url = "{codeartifact}"

[[repositories]]
source = "npm-internal"
target = "npm-store"

[[repositories]]
source = "pypi-internal"
target = "pypi-store"

[[repositories]]
source = "maven-releases"
target = "maven-store"

[[repositories]]
source = "raw-files"
target = "generic-store"
namespace = "tools"
layout = "{{package}}/{{version}}/{{asset}}"

[options]
create_missing = true
"""


def run_demo(echo: Callable[[str], None], data: Path | None = None, serve: bool = False,
             stop: threading.Event | None = None) -> int:
    """Run the demo, printing through ``echo``. Returns the exit code of the last step (verify).

    With ``serve`` the stand-ins keep running after the demo until ``stop`` is set (Ctrl-C),
    so the printed install commands can be tried.
    """
    from ferry import commands
    from ferry.sandbox.seed import seed_demo
    from ferry.sandbox.server import Sandbox, SandboxOptions

    for key, value in DEMO_ENV.items():
        os.environ[key] = value
    # The stand-ins listen on loopback: a proxy the environment names (HTTP_PROXY on a corporate machine)
    # cannot reach them, and requests and botocore would ask it unless NO_PROXY exempts them.
    for key in ("NO_PROXY", "no_proxy"):
        os.environ[key] = ",".join(filter(None, [os.environ.get(key), "127.0.0.1", "localhost"]))
    os.environ.pop("AWS_PROFILE", None)  # a profile would override the placeholder credentials
    folder = Path(data) if data else Path(tempfile.mkdtemp(prefix="ferry-demo-"))
    with Sandbox(SandboxOptions(data=folder / "standins")) as sandbox:
        urls = sandbox.urls()
        echo(f"stand-ins: Nexus {urls['nexus']}  CodeArtifact {urls['codeartifact']}")
        seeded = seed_demo(urls["nexus"])
        for repo, items in seeded.items():
            echo(f"seeded Nexus {repo}: {', '.join(items)}")
        job_path = folder / "demo-job.toml"
        job_path.write_text(JOB.format(nexus=urls["nexus"], codeartifact=urls["codeartifact"]))
        job = load_job(job_path)
        code = EXIT_OK
        for step in ("audit", "migrate", "verify"):
            echo(f"\n== ferry {step} {job_path}")
            outcome = commands.run(step, job, Settings(ledger=folder / "ferry.db"), create_missing=True)
            for note in outcome.notes:
                echo(f"note: {note}")
            echo(render_table(outcome.report, notes=False))  # printed just above
            code = outcome.exit_code
        echo(_install_help(urls["codeartifact"], serve))
        if serve:
            echo("stand-ins keep running; press Ctrl-C to stop.")
            (stop or threading.Event()).wait()
    return code


def _aws_cli() -> str:
    """How the printed commands call the AWS CLI: ``aws`` where the shell finds one, else the one ``.[test]``
    installed beside the Python running ferry. The README runs ``.venv/bin/ferry demo`` without activating the
    venv, so on a fresh machine its ``aws`` is the only one and is not on PATH."""
    if shutil.which("aws") is None:
        beside = Path(sys.executable).parent / "aws"
        if os.access(beside, os.X_OK):
            return shlex.quote(str(beside))
    return "aws"


def _install_help(ca_url: str, serving: bool) -> str:
    host = ca_url.split("://", 1)[1]
    npm = f"{ca_url}/d/acme-111122223333/us-east-1/npm/npm-store/"
    pypi = f"{host}/d/acme-111122223333/us-east-1/pypi/pypi-store/simple/"
    lines = [
        "",
        "Install what was migrated, from the CodeArtifact stand-in"
        + ("" if serving else " (run `ferry demo --serve` to keep it running)") + ":",
        "",
        "  export AWS_ACCESS_KEY_ID=any AWS_SECRET_ACCESS_KEY=any",
        f"  export CODEARTIFACT_AUTH_TOKEN=$({_aws_cli()} codeartifact get-authorization-token --domain acme "
        f"--region us-east-1 --endpoint-url {ca_url} --query authorizationToken --output text)",
        f"  npm install --registry {npm} '--{npm.split(':', 1)[1]}:_authToken='$CODEARTIFACT_AUTH_TOKEN "
        "@acme/ui-kit left-pad-acme",
        f"  pip install --index-url http://aws:$CODEARTIFACT_AUTH_TOKEN@{pypi} acme-utils acme.billing-client",
    ]
    return "\n".join(lines)
