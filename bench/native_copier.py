"""The bare copier with each format's own publish protocol: what a migration costs before ferry's checks.

``python bench/native_copier.py STATS.json NEXUS_URL CODEARTIFACT_URL DOMAIN WORKERS REPO...``

Same loop as bench/bare_copier.py (list, download to a temporary file, upload; no ledger, no hashing,
no re-check, no confirmation, no retries), but each Nexus component (one version) is published the way
its clients publish it, as ferry does: npm versions with one ``PUT`` of the publish document (the
tarball in base64; name and version from the listing, no ``package.json`` read), PyPI files with one
multipart ``POST`` each (name, version and the file), Maven files with one ``PUT`` each and then the
artifact's ``maven-metadata.xml`` naming that version, raw files with PublishPackageVersion as the
bare copier does. The target repository has the source repository's name; its format is taken from
the name's suffix (``-npm``, ``-pypi``, ``-maven``, ``-raw``).

It sits between the bare copier and ferry: bare copier → native copier is the price of publishing
packages rather than generic blobs; native copier → ferry is the price of ferry's own work (plan,
ledger, source checksum check, re-check of the target, SHA-256 confirmation, Maven's Published check).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import requests
from botocore.config import Config
from requests.adapters import HTTPAdapter

from bare_copier import components

FORMATS = {"-npm": "npm", "-pypi": "pypi", "-maven": "maven", "-raw": "generic"}


def main() -> int:
    stats_path, nexus, ca_url, domain, workers, *repos = sys.argv[1:]
    workers = int(workers)
    nexus_auth = ("admin", "admin123")
    session = requests.Session()
    session.auth = nexus_auth  # the listing's; CodeArtifact requests pass their own
    adapter = HTTPAdapter(pool_connections=workers * 2, pool_maxsize=workers * 2, max_retries=0)
    session.mount("http://", adapter)
    client = boto3.client("codeartifact", endpoint_url=ca_url, region_name="us-east-1",
                          config=Config(retries={"total_max_attempts": 1}, max_pool_connections=workers * 2))
    token = client.get_authorization_token(domain=domain)["authorizationToken"]
    endpoints = {}
    for repo in repos:
        fmt = next(f for suffix, f in FORMATS.items() if repo.endswith(suffix))
        if fmt != "generic":
            endpoints[repo] = fmt, client.get_repository_endpoint(domain=domain, repository=repo,
                                                                  format=fmt)["repositoryEndpoint"]
        else:
            endpoints[repo] = fmt, ""
    ca_auth = ("aws", token)
    spool = Path(tempfile.mkdtemp(prefix="native-"))
    totals = {"files": 0, "versions": 0, "bytes": 0, "errors": 0}

    def download(repo: str, path: str) -> Path:
        tmp = spool / hashlib.sha1(path.encode()).hexdigest()
        with session.get(f"{nexus}/repository/{repo}/{path}", auth=nexus_auth, stream=True, timeout=300) as resp, \
                open(tmp, "wb") as out:
            for chunk in resp.iter_content(1024 * 1024):
                out.write(chunk)
        return tmp

    def put(url: str, **kw) -> None:
        session.request(kw.pop("method", "PUT"), url, auth=ca_auth, timeout=300, **kw).raise_for_status()

    def publish(fmt: str, endpoint: str, repo: str, component: dict, path: str, sha256: str, tmp: Path) -> None:
        name, version, group = component["name"], component["version"], component.get("group")
        filename = path.rsplit("/", 1)[-1]
        if fmt == "npm":
            pid = f"@{group.lstrip('@')}/{name}" if group else name
            data = base64.b64encode(tmp.read_bytes()).decode()
            doc = {"_id": pid, "name": pid, "versions": {version: {"name": pid, "version": version}},
                   "_attachments": {f"{name}-{version}.tgz": {"content_type": "application/octet-stream",
                                                              "data": data, "length": tmp.stat().st_size}}}
            put(endpoint + pid.replace("/", "%2f"), data=json.dumps(doc),
                headers={"Content-Type": "application/json"})
        elif fmt == "pypi":
            with open(tmp, "rb") as body:
                put(endpoint, method="POST", files={"content": (filename, body)},
                    data={":action": "file_upload", "protocol_version": "1", "name": name, "version": version})
        elif fmt == "maven":
            with open(tmp, "rb") as body:
                put(endpoint + path.lstrip("/"), data=body)
        else:
            with open(tmp, "rb") as body:
                client.publish_package_version(
                    domain=domain, repository=repo, format="generic", namespace=repo,
                    package="p" + hashlib.sha1(path.encode()).hexdigest()[:20], packageVersion="1",
                    assetName=filename, assetSHA256=sha256, assetContent=body)

    def copy(repo: str, job):
        component, paths = job
        fmt, endpoint = endpoints[repo]
        copied = size = 0
        try:
            for path, sha256 in paths:
                tmp = download(repo, path)
                try:
                    size += tmp.stat().st_size
                    publish(fmt, endpoint, repo, component, path, sha256, tmp)
                    copied += 1
                finally:
                    tmp.unlink(missing_ok=True)
            if fmt == "maven" and paths:
                folder = paths[0][0].lstrip("/").rsplit("/", 2)[0]
                metadata = (f"<metadata><groupId>{component['group']}</groupId><artifactId>{component['name']}"
                            f"</artifactId><versioning><versions><version>{component['version']}</version>"
                            "</versions></versioning></metadata>")
                put(f"{endpoint}{folder}/maven-metadata.xml", data=metadata.encode(),
                    headers={"Content-Type": "application/xml"})
            return copied, size, None
        except Exception as err:  # noqa: BLE001 - counted, the loop goes on
            return copied, size, err

    began = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for repo in repos:
            for copied, size, err in pool.map(copy, itertools.repeat(repo), components(session, nexus, repo)):
                totals["versions"] += 1
                totals["files"] += copied
                totals["bytes"] += size
                if err is not None:
                    totals["errors"] += 1
                    if totals["errors"] <= 3:
                        print(f"native copier: {err}", file=sys.stderr)
    totals["wall_s"] = time.perf_counter() - began
    spool.rmdir()
    Path(stats_path).write_text(json.dumps(totals, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
