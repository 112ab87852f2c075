"""Measure reading an npm package's dist-tags and deprecations from a large packument, as the Nexus source does.

A package published on every build has thousands of versions, and Nexus serves its full packument (every
version's manifest). This serves a generated packument of ``--versions`` versions at the Nexus npm path
from a small local HTTP server and reads it in a child process, two ways:

- ``streamed``: ``NexusSource.npm_package`` as ferry does it (the body parsed as a stream of JSON events,
  only the dist-tags and ``deprecated`` messages built);
- ``whole``: the same GET with the body parsed whole (``resp.json()``), as ferry did before.

For each it reports the document's size, the child's peak memory traced by tracemalloc, its peak RSS (VmHWM), and
the CPU time of the read. Each case runs in its own child so one's peak RSS does not hide the other's.

    .venv/bin/python bench/npm_packument.py --versions 1000,5000,20000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PACKAGE = "@acme/nightly"


def packument(versions: int) -> bytes:
    """A full packument shaped like what npm publishes: each version's manifest with its dependencies,
    scripts and dist; every tenth version deprecated."""
    manifests, times = {}, {}
    for i in range(versions):
        version = f"1.{i // 1000}.{i % 1000}"
        manifest = {
            "name": PACKAGE, "version": version, "description": "Nightly build of the acme client library",
            "main": "dist/index.js", "types": "dist/index.d.ts", "license": "UNLICENSED",
            "scripts": {"build": "tsc -p .", "test": "jest --ci", "lint": "eslint src"},
            "dependencies": {f"@acme/dep-{j}": f"^{j}.2.0" for j in range(12)},
            "devDependencies": {f"dev-tool-{j}": f"~{j}.0.1" for j in range(8)},
            "dist": {"tarball": f"https://nexus.example/repository/npm-hosted/{PACKAGE}/-/nightly-{version}.tgz",
                     "shasum": f"{i:040x}", "integrity": f"sha512-{i:086x}"},
            "_id": f"{PACKAGE}@{version}", "_nodeVersion": "20.11.0", "_npmVersion": "10.2.4",
            "maintainers": [{"name": "ci-bot", "email": "ci@acme.example"}],
        }
        if i % 10 == 0:
            manifest["deprecated"] = f"build {version} has a known defect; use a later one"
        manifests[version] = manifest
        times[version] = "2025-01-01T00:00:00.000Z"
    doc = {"name": PACKAGE, "dist-tags": {"latest": version, "next": version}, "versions": manifests,
           "time": times, "readme": "# acme nightly\n" * 500}
    return json.dumps(doc).encode()


def serve(body: bytes) -> ThreadingHTTPServer:
    view = memoryview(body)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            for start in range(0, len(body), 1 << 20):
                self.wfile.write(view[start:start + (1 << 20)])

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


CHILD = r"""
import json, sys, time, tracemalloc
from ferry.http import make_session
from ferry.sources.base import npm_facts_of
from ferry.sources.nexus import NexusSource
url, way = sys.argv[1], sys.argv[2]
source = NexusSource(url, make_session(), "reader", "x")
session = make_session()
tracemalloc.start()
cpu = time.process_time()
if way == "streamed":
    facts = source.npm_package("npm-hosted", "@acme/nightly")
else:
    resp = session.get(f"{url}/repository/npm-hosted/@acme%2fnightly", timeout=60)
    facts = npm_facts_of(resp.json())
    del resp
cpu = time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1]
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child would report its parent's peak.
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
print(json.dumps({"peak_traced_mb": peak / 1e6, "max_rss_mb": hwm / 1024,
                  "cpu_s": cpu, "tags": len(facts["dist_tags"]), "deprecated": len(facts["deprecated"])}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default="1000,5000,20000", help="comma-separated version counts")
    args = parser.parse_args()
    print("| versions | packument MB | read | peak traced MB | peak RSS MB | CPU s | deprecations read |")
    print("|---:|---:|---|---:|---:|---:|---:|")
    for count in (int(v) for v in args.versions.split(",")):
        body = packument(count)
        server = serve(body)
        url = f"http://127.0.0.1:{server.server_address[1]}"
        try:
            for way in ("streamed", "whole"):
                out = subprocess.run([sys.executable, "-c", CHILD, url, way], check=True, capture_output=True,
                                     text=True).stdout
                r = json.loads(out)
                print(f"| {count} | {len(body) / 1e6:.1f} | {way} | {r['peak_traced_mb']:.1f} | {r['max_rss_mb']:.0f} "
                      f"| {r['cpu_s']:.2f} | {r['deprecated']} |", flush=True)
        finally:
            server.shutdown()


if __name__ == "__main__":
    main()
