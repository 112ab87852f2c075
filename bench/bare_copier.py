"""The loopback limit: the simplest concurrent download-then-upload loop, no ledger, no checks.

``python bench/bare_copier.py STATS.json NEXUS_URL CODEARTIFACT_URL DOMAIN WORKERS REPO...``

Lists each Nexus repository's components page by page (as ferry does), and for every file ferry
would migrate (Maven checksum and metadata files are left out, as ferry's migrator leaves them)
downloads it to a temporary file and publishes it with one PublishPackageVersion (generic format,
one version per file: namespace = the Nexus repository, asset = the file name), using the SHA-256
Nexus reports. ``WORKERS`` threads, one shared requests session and boto3 client with pools of twice
that size, the same as ferry. Nothing is hashed, re-checked, confirmed or recorded.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests
from botocore.config import Config
from requests.adapters import HTTPAdapter

SKIP = (".md5", ".sha1", ".sha256", ".sha512")


def components(session: requests.Session, nexus: str, repo: str):
    """(component, [(asset path, SHA-256 Nexus reports)...]) for every component of ``repo``, without
    Maven checksum and metadata files (ferry's migrator leaves them out too)."""
    token = None
    while True:
        params = {"repository": repo, **({"continuationToken": token} if token else {})}
        page = session.get(f"{nexus}/service/rest/v1/components", params=params, timeout=60).json()
        for component in page["items"]:
            yield component, [(a["path"], a["checksum"]["sha256"]) for a in component["assets"]
                              if not a["path"].rsplit("/", 1)[-1].endswith(SKIP)
                              and not a["path"].rsplit("/", 1)[-1].startswith("maven-metadata.xml")]
        token = page.get("continuationToken")
        if not token:
            return


def files(session: requests.Session, nexus: str, repo: str):
    for _component, assets in components(session, nexus, repo):
        for path, sha256 in assets:
            yield repo, path, sha256


def main() -> int:
    stats_path, nexus, ca_url, domain, workers, *repos = sys.argv[1:]
    workers = int(workers)
    session = requests.Session()
    session.auth = ("admin", "admin123")
    adapter = HTTPAdapter(pool_connections=workers * 2, pool_maxsize=workers * 2, max_retries=0)
    session.mount("http://", adapter)
    client = boto3.client("codeartifact", endpoint_url=ca_url, region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1}, max_pool_connections=workers * 2))
    spool = Path(tempfile.mkdtemp(prefix="bare-"))
    totals = {"files": 0, "bytes": 0, "errors": 0}

    def copy(job):
        repo, path, sha256 = job
        tmp = spool / hashlib.sha1(path.encode()).hexdigest()
        size = 0
        try:
            with session.get(f"{nexus}/repository/{repo}/{path}", stream=True, timeout=300) as resp, \
                    open(tmp, "wb") as out:
                for chunk in resp.iter_content(1024 * 1024):
                    out.write(chunk)
                    size += len(chunk)
            with open(tmp, "rb") as body:
                client.publish_package_version(
                    domain=domain, repository=repo, format="generic", namespace=repo,
                    package="p" + hashlib.sha1(path.encode()).hexdigest()[:20], packageVersion="1",
                    assetName=path.rsplit("/", 1)[-1], assetSHA256=sha256, assetContent=body)
            return size, None
        except Exception as err:  # noqa: BLE001 - counted, the loop goes on
            return size, err
        finally:
            tmp.unlink(missing_ok=True)

    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for repo in repos:
            for size, err in pool.map(copy, files(session, nexus, repo)):
                totals["files"] += 1
                totals["bytes"] += size
                if err is not None:
                    totals["errors"] += 1
                    if totals["errors"] <= 3:
                        print(f"bare copier: {err}", file=sys.stderr)
    totals["wall_s"] = time.perf_counter() - began
    os.rmdir(spool)
    Path(stats_path).write_text(json.dumps(totals, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
