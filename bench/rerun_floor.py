"""How fast a rerun could be on this machine: its requests alone, sent as cheaply as possible, against ferry's rerun.

    python bench/rerun_floor.py --versions 10000 --engines waitress,werkzeug --reps 3

A rerun of a finished migration copies nothing, but it still has to ask: every target package's versions
(one ListPackageVersions each), every page of the source's component listing, and every npm package's
packument (for its dist-tags). This script seeds a corpus (bench/corpus.py, no large file), runs a first
``ferry migrate`` into the stand-ins, then, for each stand-in engine in turn and ``--reps`` times each,
alternating:

- ``floor``: exactly those requests, from one process of its own, all at once (the target listing on 8
  threads, ferry's default worker count, each source repository's pages on a thread of their own, the
  packuments on 8 threads), with nothing done to the answers beyond reading them: hand-built URLs,
  SigV4 signed with a cached key (:class:`_Signer`), ``http.client`` connections, ``json.loads``; no
  ledger, no plan. Any rerun, by ferry or another tool, makes these requests or more, so on this machine
  and these stand-ins it gives the time below which no rerun can go;
- ``ferry``: the same ``ferry migrate`` again (bench/ferry_child.py), as bench/run.py's benchmark 3.

For each it reports the wall time, the client's own CPU time and the stand-ins' CPU time (all three
stand-ins share one process, as in bench/run.py). The figures are printed as a markdown table (and
written with ``--json``), to be copied into docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import hashlib
import hmac
import http.client
import json
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from harness import ENV, StandIns, job_file, machine  # noqa: E402
from run import NO_LIMITS, TARGETS, ferry, log, mappings  # noqa: E402

DOMAIN = "ferry"
REGION = ENV["AWS_DEFAULT_REGION"]
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
LISTING_THREADS = 8


class _Signer:
    """SigV4 for CodeArtifact's bodiless POSTs (query string only), with the day's signing key cached.

    For this measurement only: ferry signs through botocore. The stand-in checks these signatures as it
    checks botocore's.
    """

    def __init__(self, host: str):
        self.host = host
        self._keys: dict[str, bytes] = {}

    def headers(self, path: str, query: str) -> dict[str, str]:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        key = self._keys.get(day)
        if key is None:
            key = ("AWS4" + ENV["AWS_SECRET_ACCESS_KEY"]).encode()
            for part in (day, REGION, "codeartifact", "aws4_request"):
                key = hmac.new(key, part.encode(), hashlib.sha256).digest()
            self._keys[day] = key
        signed = "host;x-amz-content-sha256;x-amz-date"
        canonical = (f"POST\n{path}\n{query}\nhost:{self.host}\nx-amz-content-sha256:{EMPTY_SHA256}\n"
                     f"x-amz-date:{stamp}\n\n{signed}\n{EMPTY_SHA256}")
        scope = f"{day}/{REGION}/codeartifact/aws4_request"
        to_sign = f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        return {"x-amz-date": stamp, "x-amz-content-sha256": EMPTY_SHA256, "Content-Length": "0",
                "Authorization": f"AWS4-HMAC-SHA256 Credential={ENV['AWS_ACCESS_KEY_ID']}/{scope}, "
                                 f"SignedHeaders={signed}, Signature={signature}"}


class _CodeArtifact:
    """The two list operations a rerun sends, over a small pool of keep-alive connections."""

    def __init__(self, url: str):
        self.host = urllib.parse.urlsplit(url).netloc
        self.signer = _Signer(self.host)
        self._pool: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, path: str, params: dict[str, str]) -> dict:
        query = urllib.parse.urlencode(sorted(params.items()), quote_via=urllib.parse.quote)
        with self._lock:
            conn = self._pool.pop() if self._pool else http.client.HTTPConnection(self.host, timeout=60)
        conn.request("POST", f"{path}?{query}", body=b"", headers=self.signer.headers(path, query))
        resp = conn.getresponse()
        body = resp.read()
        with self._lock:
            self._pool.append(conn)
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status}: {body[:200]!r}")
        return json.loads(body)

    def packages(self, repository: str) -> list[dict]:
        out: list[dict] = []
        token = None
        while True:
            params = {"domain": DOMAIN, "repository": repository, "max-results": "1000"}
            if token:
                params["next-token"] = token
            page = self.post("/v1/packages", params)
            out += page["packages"]
            token = page.get("nextToken")
            if not token:
                return out

    def versions(self, repository: str, package: dict) -> int:
        params = {"domain": DOMAIN, "repository": repository, "format": package["format"],
                  "package": package["package"], "max-results": "1000"}
        if package.get("namespace"):
            params["namespace"] = package["namespace"]
        return len(self.post("/v1/package/versions", params)["versions"])


def floor(urls: dict[str, str], source_repos: list[str], npm_repo: str) -> dict:
    """The rerun's requests, all at once; returns wall and client CPU seconds and what was read."""
    ca = _CodeArtifact(urls["codeartifact"])
    nexus = urls["nexus"]
    auth = ("admin", ENV["NEXUS_PASSWORD"])
    local = threading.local()

    def session() -> requests.Session:
        if not hasattr(local, "session"):
            local.session = requests.Session()
            local.session.auth = auth
        return local.session

    def target_listing() -> int:
        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            jobs = [(repo, pkg) for repo in TARGETS.values() for pkg in ca.packages(repo)]
            return sum(1 for _ in pool.map(lambda job: ca.versions(*job), jobs))

    def source_pages(repo: str) -> int:
        files, token = 0, None
        while True:
            params = {"repository": repo, **({"continuationToken": token} if token else {})}
            page = session().get(f"{nexus}/service/rest/v1/components", params=params, timeout=60).json()
            files += sum(len(c["assets"]) for c in page["items"])
            token = page.get("continuationToken")
            if not token:
                return files

    def packuments(names: list[str]) -> int:
        def one(name: str) -> int:
            resp = session().get(f"{nexus}/repository/{npm_repo}/{name.replace('/', '%2f')}", timeout=60)
            resp.raise_for_status()
            return len(resp.content)
        with ThreadPoolExecutor(LISTING_THREADS) as pool:
            return sum(pool.map(one, names))

    # The npm package names come from the target, before the clock starts (ferry reads them from its plan).
    npm_names = [(f"@{p['namespace']}/" if p.get("namespace") else "") + p["package"]
                 for p in ca.packages(TARGETS["npm"])]
    began, cpu0 = time.perf_counter(), time.process_time()
    with ThreadPoolExecutor(2 + len(source_repos)) as pool:
        listing = pool.submit(target_listing)
        pages = [pool.submit(source_pages, repo) for repo in source_repos]
        documents = pool.submit(packuments, npm_names)
        result = {"packages_listed": listing.result(), "source_assets": sum(p.result() for p in pages),
                  "packument_bytes": documents.result()}
    result.update(wall_s=time.perf_counter() - began, cpu_s=time.process_time() - cpu0,
                  npm_packages=len(npm_names))
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=10000)
    parser.add_argument("--engines", default="waitress,werkzeug", help="stand-in HTTP engines, in turn")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--work", type=Path, required=True, help="working folder (kept; reused if seeded)")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = parser.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    data = work / "data"
    fmts = [fmt for fmt, _ in corpus.SHARES]
    maps = mappings("bench", fmts)
    source_repos = [source for source, _target, _extra in maps]
    npm_repo = corpus.repo_name("bench", "npm")
    out: dict = {"machine": machine(), "versions": args.versions, "runs": []}
    engines = args.engines.split(",")
    first_done = (work / "ferry.db").exists()
    if not (data / "nexus").exists():
        log(f"seeding {args.versions} versions into the Nexus stand-in")
        out["corpus"] = dataclasses.asdict(corpus.seed(data / "nexus", args.versions, 0))
    for engine in engines:
        sandbox = StandIns(data, engine, work / "standins.log")
        try:
            job = job_file(work / "job.toml", sandbox.urls["nexus"], sandbox.ca, DOMAIN, maps, LISTING_THREADS,
                           NO_LIMITS)
            if not first_done:
                sandbox.domain(DOMAIN, list(TARGETS.values()))
                first = ferry(work, "first", job, work / "ferry.db", sandbox)
                out["first"] = {k: first[k] for k in ("code", "wall_s", "cpu_s", "standin_cpu_s")}
                first_done = True
            for rep in range(args.reps):
                cpu0 = sandbox.cpu_s()
                measured = floor(sandbox.urls, source_repos, npm_repo)
                measured["standin_cpu_s"] = sandbox.cpu_s() - cpu0
                out["runs"].append({"engine": engine, "what": "floor", **measured})
                log(f"{engine} floor: {measured['wall_s']:.2f}s")
                rerun = ferry(work, f"rerun-{engine}-{rep}", job, work / "ferry.db", sandbox)
                out["runs"].append({"engine": engine, "what": "ferry", "code": rerun["code"],
                                    "wall_s": rerun["wall_s"], "cpu_s": rerun["cpu_s"],
                                    "standin_cpu_s": rerun["standin_cpu_s"]})
        finally:
            sandbox.stop()
    print("| engine | what | wall s | client CPU s | stand-ins CPU s |")
    print("|---|---|---:|---:|---:|")
    for run in out["runs"]:
        print(f"| {run['engine']} | {run['what']} | {run['wall_s']:.2f} | {run['cpu_s']:.2f} "
              f"| {run['standin_cpu_s']:.2f} |")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
