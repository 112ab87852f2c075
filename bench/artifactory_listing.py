"""Measure listing an Artifactory repository with ferry's source on the stand-in: AQL pages + property
queries, and the storage-API fallback, in files per second and requests.

Seeds ``--files`` npm tarball entries (with ``npm.name``/``npm.version`` properties, as indexing sets
them) straight into the stand-in's store, then lists the repository through HTTP both ways.

    .venv/bin/python bench/artifactory_listing.py --files 20000 --page-size 500
"""

from __future__ import annotations

import argparse
import collections
import tempfile
import time
import resource
from pathlib import Path

from ferry.http import make_session
from ferry.sandbox.server import Sandbox, SandboxOptions
from ferry.sources.artifactory import ArtifactorySource, make_auth


def seed(store, count: int) -> None:
    blob = store.blobs.put_bytes(b"tarball bytes stand in for a package")
    store.create_repo("npm-local", "local", "npm", {})
    for i in range(count):
        name, version = f"@acme/pkg{i // 10}", f"1.{i % 10}.0"
        store.deploy("npm-local", f"{name}/-/{name}-{version}.tgz", blob, "ci", "application/x-tar",
                     [("npm.name", name), ("npm.version", version)])


class CountingSession:
    """Wraps a requests session and counts requests by kind."""

    def __init__(self):
        self.inner = make_session()
        self.counts: collections.Counter = collections.Counter()

    def request(self, method, url, *args, **kwargs):
        data = kwargs.get("data") or b""
        kind = "aql properties" if b'"property"' in data else "aql items" if url.endswith("/aql") else method
        self.counts[kind] += 1
        return self.inner.request(method, url, *args, **kwargs)

    def get(self, url, **kwargs):
        self.counts["GET list" if "list" in (kwargs.get("params") or {}) else "GET properties"] += 1
        return self.inner.get(url, **kwargs)


def measure(url: str, label: str, page_size: int) -> None:
    session = CountingSession()
    auth = make_auth("admin", "password", None)
    source = ArtifactorySource(url, session, auth, page_size=page_size)  # type: ignore[arg-type]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    count = sum(1 for _ in source.files("npm-local"))
    elapsed = time.perf_counter() - started
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    print(f"{label:<22} {count:>7} files  {elapsed:7.2f} s  {count / elapsed:7.0f} files/s  "
          f"peak RSS +{grown / 1024:.1f} MiB (client and in-process server)  requests {dict(session.counts)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20000)
    parser.add_argument("--page-size", type=int, default=500)
    parser.add_argument("--fallback", action="store_true", help="also list through the storage API")
    args = parser.parse_args()
    with Sandbox(SandboxOptions(data=Path(tempfile.mkdtemp(prefix="ferry-bench-")))) as sbx:
        app = sbx.apps["artifactory"]
        started = time.perf_counter()
        seed(app.store, args.files)
        print(f"seeded {args.files} files in {time.perf_counter() - started:.1f} s")
        url = sbx.urls()["artifactory"]
        measure(url, f"AQL (page {args.page_size})", args.page_size)
        if args.fallback:
            app.configure(aql_refused=403)
            measure(url, "storage API fallback", args.page_size)


if __name__ == "__main__":
    main()
