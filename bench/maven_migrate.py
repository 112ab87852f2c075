"""Measure a Maven migration Nexus → CodeArtifact on the stand-ins: time, and requests per asset.

Seeds ``--artifacts`` artifacts × ``--versions`` versions (POM + jar + sources jar each) into the
Nexus stand-in through its components API, runs ``ferry migrate`` in-process, then runs it again
(nothing to publish). Counts the requests the CodeArtifact stand-in answers, split into control-plane
calls (``/v1/...``) and Maven endpoint requests by method, so the cost of publishing like ``mvn deploy``
(file + checksums per asset, metadata + status check per version) is visible.

    .venv/bin/python bench/maven_migrate.py --artifacts 10 --versions 10 --workers 4
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from e2e_helpers import AWS_ENV, codeartifact, ferry, write_job  # noqa: E402
from ferry.sandbox.codeartifact.app import CodeArtifactApp  # noqa: E402
from ferry.sandbox.seed import NexusSeeder, maven_artifact  # noqa: E402
from ferry.sandbox.server import Sandbox, SandboxOptions  # noqa: E402

COUNTS: collections.Counter = collections.Counter()
_LOCK = threading.Lock()


def _counting(call):
    def wrapper(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        kind = "control" if path.startswith("/v1/") else f"maven {environ.get('REQUEST_METHOD')}"
        if kind.startswith("maven") and path.rsplit(".", 1)[-1] in ("sha1", "md5", "sha256", "sha512"):
            kind += " checksum"
        elif "maven-metadata.xml" in path:
            kind += " metadata"
        with _LOCK:
            COUNTS[kind] += 1
        return call(self, environ, start_response)

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifacts", type=int, default=10)
    parser.add_argument("--versions", type=int, default=10)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    os.environ.update(AWS_ENV)
    CodeArtifactApp.__call__ = _counting(CodeArtifactApp.__call__)
    with tempfile.TemporaryDirectory() as tmp, Sandbox(SandboxOptions(data=Path(tmp) / "sbx")) as sbx:
        for name in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            os.environ[name] = str(Path(tmp) / name)
        urls = sbx.urls()
        seeder = NexusSeeder(urls["nexus"])
        seeder.create_repository("maven", "maven-internal")
        started = time.perf_counter()
        for a in range(args.artifacts):
            for v in range(args.versions):
                seeder.maven("maven-internal", "com.acme.bench", f"lib{a}", f"1.{v}.0",
                             maven_artifact("com.acme.bench", f"lib{a}", f"1.{v}.0"))
        seeded = time.perf_counter() - started
        ca = codeartifact(urls["codeartifact"])
        ca.create_domain(domain="acme")
        ca.create_repository(domain="acme", repository="maven-store")
        job = write_job(Path(tmp) / "job.toml", urls["nexus"], urls["codeartifact"],
                        [{"source": "maven-internal", "target": "maven-store"}],
                        extra=f"\n[options]\nworkers = {args.workers}\n")
        assets = args.artifacts * args.versions * 3
        for run in ("first", "rerun"):
            COUNTS.clear()
            started = time.perf_counter()
            code = ferry("migrate", str(job), "--state", str(Path(tmp) / "ferry.db"), "--no-progress")
            took = time.perf_counter() - started
            total = sum(COUNTS.values())
            print(f"{run}: exit {code}, {assets} assets in {args.artifacts * args.versions} versions, "
                  f"{took:.2f}s ({assets / took:.1f} assets/s), {total} CodeArtifact requests "
                  f"({total / assets:.1f} per asset)", file=sys.stderr)
            for kind, n in sorted(COUNTS.items()):
                print(f"    {kind:24} {n:6}  ({n / assets:.2f} per asset)", file=sys.stderr)
        print(f"(seeding Nexus took {seeded:.2f}s)", file=sys.stderr)


if __name__ == "__main__":
    main()
