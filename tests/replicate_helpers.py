"""Helpers for the replicate tests: two regions of one CodeArtifact stand-in, seeding, the real npm
client logged in to a repository, and a full comparison of two repositories (versions, statuses, asset
hashes, npm dist-tags and deprecation messages)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

from e2e_helpers import codeartifact
from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import npm_tarball, sdist, wheel

SOURCE_REGION, TARGET_REGION = "eu-west-1", "us-east-1"


def write_replica_job(path: Path, url: str, repositories: list[tuple[str, str]], *, source_region=SOURCE_REGION,
                      target_region=TARGET_REGION, source_domain="acme", target_domain="acme", extra_source="",
                      extra_target="", options="") -> Path:
    lines = ["[source]", 'kind = "codeartifact"', f'domain = "{source_domain}"', f'region = "{source_region}"',
             f'url = "{url}"', extra_source, "", "[target]", f'domain = "{target_domain}"',
             f'region = "{target_region}"', f'endpoint_url = "{url}"', extra_target, ""]
    for source, target in repositories:
        lines += ["[[repositories]]", f'source = "{source}"', f'target = "{target}"', ""]
    if options:
        lines += ["[options]", options, ""]
    path.write_text("\n".join(lines))
    return path


class Seeder:
    """Publishes into one region's domain of the stand-in: generic through PublishPackageVersion (boto3),
    npm and PyPI straight into the store the package endpoints write to."""

    def __init__(self, sandbox, region: str, domain: str = "acme"):
        self.sandbox, self.region, self.domain = sandbox, region, domain
        self.client = codeartifact(sandbox.urls()["codeartifact"], region)
        self.store = sandbox.apps["codeartifact"].store

    def create(self, *repos: str) -> None:
        self.client.create_domain(domain=self.domain)
        for repo in repos:
            self.client.create_repository(domain=self.domain, repository=repo)

    def _repo(self, repo: str):
        return self.store.repository(self.store.domain(self.region, None, self.domain), repo)

    def generic(self, repo: str, namespace: str, package: str, version: str, assets: dict[str, bytes]) -> None:
        names = list(assets)
        for i, name in enumerate(names):
            data = assets[name]
            self.client.publish_package_version(
                domain=self.domain, repository=repo, format="generic", namespace=namespace, package=package,
                packageVersion=version, assetContent=data, assetName=name,
                assetSHA256=hashlib.sha256(data).hexdigest(), unfinished=i < len(names) - 1)

    def npm(self, repo: str, name: str, version: str, tags: dict[str, str] | None = None) -> bytes:
        scope, _, bare = name[1:].partition("/") if name.startswith("@") else ("", "", name)
        data = npm_tarball(name, version)
        blob = self.store.blobs.put_bytes(data)
        self.store.publish_asset(self._repo(repo), "npm", scope or None, bare, version, "package.tgz", blob,
                                 single_asset=True, display_name=name)
        pkg = self.store.require_package(self._repo(repo), "npm", scope or None, bare)
        for tag, ver in (tags or {"latest": version}).items():
            self.store.set_dist_tag(pkg, tag, ver)
        return data

    def pypi(self, repo: str, name: str, version: str, with_sdist: bool = True) -> None:
        files = [wheel(name, version)] + ([sdist(name, version)] if with_sdist else [])
        for filename, data in files:
            blob = self.store.blobs.put_bytes(data)
            normalized = name.lower().replace("_", "-").replace(".", "-")
            self.store.publish_asset(self._repo(repo), "pypi", None, normalized, version, filename, blob)

    def assets(self, repo: str, fmt: str, namespace: str | None, package: str, version: str,
               assets: dict[str, bytes]) -> None:
        """Any format, straight into the store (the version is Published once its last asset is in)."""
        names = list(assets)
        for i, name in enumerate(names):
            blob = self.store.blobs.put_bytes(assets[name])
            self.store.publish_asset(self._repo(repo), fmt, namespace, package, version, name, blob,
                                     unfinished=i < len(names) - 1)

    def status(self, repo: str, fmt: str, namespace: str | None, package: str, version: str, status: str) -> None:
        kw = {"namespace": namespace} if namespace else {}
        self.client.update_package_versions_status(domain=self.domain, repository=repo, format=fmt, package=package,
                                                   versions=[version], targetStatus=status, **kw)


class NpmClient:
    """The real npm client set up for one repository of one region's domain as ``aws codeartifact login
    --tool npm`` sets it up (registry and ``_authToken`` in its own ``.npmrc``, under ``home``)."""

    def __init__(self, sandbox, region: str, repo: str, home: Path, domain: str = "acme"):
        store = sandbox.apps["codeartifact"].store
        dom = store.domain(region, None, domain)
        token, _ = store.issue_token(dom, 3600)
        self.registry = endpoint_url(sandbox.urls()["codeartifact"], dom, repo, "npm")
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        (home / ".npmrc").write_text(f"registry={self.registry}\n{self.registry.split(':', 1)[1]}:_authToken={token}\n")

    def run(self, *args: str) -> subprocess.CompletedProcess:
        """Run ``npm args...``; raises AssertionError with npm's output if it fails."""
        env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
        env.update(HOME=str(self.home), NPM_CONFIG_USERCONFIG=str(self.home / ".npmrc"),
                   NPM_CONFIG_CACHE=str(self.home / "cache"))
        cmd = ["npm", *args, "--registry", self.registry, "--prefer-online", "--update-notifier=false",
               "--loglevel=warn"]
        out = subprocess.run(cmd, cwd=self.home, env=env, capture_output=True, text=True, timeout=120)
        if out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
        return out

    def deprecated(self, spec: str) -> str:
        """The deprecation message ``npm view`` shows for ``name@version`` ("" when none)."""
        return self.run("view", spec, "deprecated").stdout.strip()


def snapshot(client, domain: str, repo: str) -> dict:
    """Everything a consumer could tell apart: per version its status and asset hashes, per npm package its
    dist-tags. Deleted versions are left out (the API does not list them)."""
    out: dict = {}
    for page in client.get_paginator("list_packages").paginate(domain=domain, repository=repo):
        for pkg in page["packages"]:
            fmt, ns, name = pkg["format"], pkg.get("namespace", ""), pkg["package"]
            kw = {"namespace": ns} if ns else {}
            for vpage in client.get_paginator("list_package_versions").paginate(
                    domain=domain, repository=repo, format=fmt, package=name, **kw):
                for ver in vpage["versions"]:
                    assets = {}
                    if ver["status"] not in ("Disposed",):
                        listed = client.list_package_version_assets(domain=domain, repository=repo, format=fmt,
                                                                    package=name, packageVersion=ver["version"], **kw)
                        assets = {a["name"]: a["hashes"]["SHA-256"] for a in listed["assets"]}
                    out[(fmt, ns, name, ver["version"])] = (ver["status"], assets)
    return out


def _npm_packages(sandbox, region: str, domain: str, repo: str):
    """``(store, (namespace, name), package)`` for every npm package of the repository."""
    store = sandbox.apps["codeartifact"].store
    r = store.repository(store.domain(region, None, domain), repo)
    for row in store.query("SELECT id, namespace, name FROM packages WHERE repo_id=? AND format='npm'",
                           (r.id,)):
        yield store, (row["namespace"] or "", row["name"]), store.require_package(r, "npm", row["namespace"] or None,
                                                                                   row["name"])


def dist_tags(sandbox, region: str, domain: str, repo: str) -> dict:
    return {name: store.dist_tags(pkg) for store, name, pkg in _npm_packages(sandbox, region, domain, repo)}


def deprecations(sandbox, region: str, domain: str, repo: str) -> dict:
    """``{(namespace, name, version): message}`` of every deprecated npm version in the repository."""
    out = {}
    for store, (namespace, name), pkg in _npm_packages(sandbox, region, domain, repo):
        for ver in store.versions(pkg):
            if ver.status == "Deleted":  # as in snapshot(): the API does not list them
                continue
            message = (ver.metadata.get("manifest") or {}).get("deprecated")
            if message:
                out[(namespace, name, ver.version)] = message
    return out


def differences(sandbox, source: tuple[str, str, str], target: tuple[str, str, str]) -> list[str]:
    """Human-readable differences between two (region, domain, repo) repositories; [] when in step."""
    url = sandbox.urls()["codeartifact"]
    a = snapshot(codeartifact(url, source[0]), source[1], source[2])
    b = snapshot(codeartifact(url, target[0]), target[1], target[2])
    diffs = [f"{k}: source {a.get(k)} target {b.get(k)}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
    ta, tb = dist_tags(sandbox, *source), dist_tags(sandbox, *target)
    diffs += [f"dist-tags {k}: source {ta.get(k)} target {tb.get(k)}" for k in sorted(set(ta) | set(tb))
              if ta.get(k) != tb.get(k)]
    da, db = deprecations(sandbox, *source), deprecations(sandbox, *target)
    diffs += [f"deprecated {k}: source {da.get(k)!r} target {db.get(k)!r}" for k in sorted(set(da) | set(db))
              if da.get(k) != db.get(k)]
    return diffs


def one_file_replica(sandbox, tmp_path: Path, monkeypatch) -> tuple[Path, "Seeder"]:
    """Fake AWS credentials, one generic file in the source region's repository ``packages``, and a job
    replicating it to the target region's; returns the job file and the source's seeder."""
    from e2e_helpers import aws_env

    aws_env(monkeypatch, tmp_path)
    src = Seeder(sandbox, SOURCE_REGION)
    src.create("packages")
    src.generic("packages", "tools", "installer", "1.0", {"a.bin": b"a"})
    return write_replica_job(tmp_path / "replica.toml", sandbox.urls()["codeartifact"],
                             [("packages", "packages")]), src

