"""``ferry sandbox``: run the local stand-ins."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Optional

import typer

from ferry.errors import UsageError

app = typer.Typer(help="Local stand-ins for CodeArtifact, Nexus and Artifactory, for rehearsals and tests.", no_args_is_help=True)


@app.command()
def serve(
    data: Optional[Path] = typer.Option(None, "--data", metavar="DIR", help="Folder for the stand-ins' content (kept across restarts). Default: a temporary folder."),
    host: str = typer.Option("127.0.0.1", "--host", metavar="ADDRESS", help="Address to listen on."),
    codeartifact_port: int = typer.Option(0, "--codeartifact-port", metavar="PORT", min=0, max=65535, help="Port for CodeArtifact (0: a free one)."),
    nexus_port: int = typer.Option(0, "--nexus-port", metavar="PORT", min=0, max=65535, help="Port for Nexus (0: a free one)."),
    artifactory_port: int = typer.Option(0, "--artifactory-port", metavar="PORT", min=0, max=65535, help="Port for Artifactory (0: a free one)."),
    faults: Optional[str] = typer.Option(None, "--faults", metavar="SPEC", help="e.g. throttle=0.1,error5xx=0.05,reset=0.02,truncate=0.02,latency=20ms,token_ttl=30s,retry_after=1s"),
    seed: Optional[int] = typer.Option(None, "--seed", metavar="N", help="Seed for reproducible faults (each stand-in draws from its own sequence)."),
    quota: Optional[str] = typer.Option(None, "--quota", metavar="SPEC", help="CodeArtifact request quotas, e.g. publish=10,burst=1s: requests over them get 429 ThrottlingException."),
    server: Optional[str] = typer.Option(None, "--server", metavar="ENGINE", help="HTTP server engine: werkzeug or waitress (keep-alive, faster). Default: $FERRY_SANDBOX_SERVER or werkzeug."),
) -> None:
    """Start the stand-ins, print one JSON line of their URLs, and serve until SIGINT/SIGTERM.

    Each stand-in also answers GET/PUT /__sandbox/faults (fault counters; change faults at run time);
    CodeArtifact also GET/PUT /__sandbox/quota (request counts by operation; change quotas at run time).
    """
    from ferry.sandbox.codeartifact.quota import QuotaSpec, QuotaSpecError
    from ferry.sandbox.faults import FaultSpec, FaultSpecError
    from ferry.sandbox.server import Sandbox, SandboxError, SandboxOptions
    from ferry.sandbox.web import ENGINES, default_engine

    try:
        spec = FaultSpec.parse(faults)
    except FaultSpecError as err:
        raise UsageError(f"--faults: {err}") from None
    try:
        quota_spec = QuotaSpec.parse(quota)
    except QuotaSpecError as err:
        raise UsageError(f"--quota: {err}") from None
    server = server or default_engine()
    if server not in ENGINES:
        raise UsageError(f"--server: unknown engine {server!r}; known: {', '.join(ENGINES)}")
    ports = {"codeartifact": codeartifact_port, "nexus": nexus_port, "artifactory": artifactory_port}
    used = [p for p in ports.values() if p]
    if len(used) != len(set(used)):
        raise UsageError("--codeartifact-port, --nexus-port and --artifactory-port must differ")
    sandbox = Sandbox(SandboxOptions(data=data, host=host, ports=ports, faults=spec, seed=seed, engine=server,
                                     quota=quota_spec))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        sandbox.start()
    except SandboxError as err:
        raise UsageError(str(err)) from None
    try:
        sys.stdout.write(json.dumps(sandbox.urls()) + "\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        sandbox.stop()
