"""Filling the Artifactory stand-in the way a user's CI does: repositories through the REST API, files
by ``PUT /artifactory/{repo}/{path};props`` with checksum headers (what ``curl -T``, ``jf rt upload``
and build plugins send). Package builders live in :mod:`ferry.sandbox.seed`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from urllib.parse import quote

import requests

ADMIN = ("admin", "password")


def matrix(properties: dict[str, str | list[str]] | None) -> str:
    """``;key=value`` matrix parameters, values %-escaped (repeated keys for several values)."""
    parts = []
    for key, values in (properties or {}).items():
        for value in values if isinstance(values, list) else [values]:
            parts.append(f";{quote(key, safe='')}={quote(value, safe='')}")
    return "".join(parts)


@dataclass
class ArtifactorySeeder:
    """``url`` is the base including ``/artifactory``."""

    url: str
    auth: tuple[str, str] = ADMIN
    http: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.url = self.url.rstrip("/")
        self.http.auth = self.auth

    def create_repository(self, key: str, package_type: str = "generic", rclass: str = "local", **config) -> None:
        """Create a repository (existing is fine)."""
        body = {"key": key, "rclass": rclass, "packageType": package_type, **config}
        resp = self.http.put(f"{self.url}/api/repositories/{key}", json=body, timeout=30)
        if resp.status_code == 400 and "already exists" in resp.text:
            return
        resp.raise_for_status()

    def deploy(self, repo: str, path: str, data: bytes, properties: dict | None = None,
               checksums: bool = True) -> dict:
        """PUT ``data`` at ``repo/path`` with properties and X-Checksum-* headers. Returns the file info."""
        headers = {}
        if checksums:
            headers = {"X-Checksum-Sha1": hashlib.sha1(data).hexdigest(),
                       "X-Checksum-Sha256": hashlib.sha256(data).hexdigest(),
                       "X-Checksum-Md5": hashlib.md5(data).hexdigest()}
        resp = self.http.put(f"{self.url}/{repo}/{quote(path)}{matrix(properties)}", data=data, headers=headers,
                             timeout=60)
        resp.raise_for_status()
        return resp.json()

    def delete_properties(self, repo: str, path: str, keys: list[str]) -> None:
        """Remove properties from a file (``DELETE /api/storage/{repo}/{path}?properties=k1,k2``): what a file
        looks like in a repository whose package indexing never ran for it."""
        resp = self.http.delete(f"{self.url}/api/storage/{repo}/{quote(path)}", params={"properties": ",".join(keys)},
                                timeout=30)
        resp.raise_for_status()

    def npm(self, repo: str, name: str, version: str, tarball: bytes, scoped_style: str = "npm") -> str:
        """Deploy an npm tarball where npm puts it: ``@scope/name/-/@scope/name-1.0.0.tgz`` (``npm`` style)
        or ``@scope/name/-/name-1.0.0.tgz`` (``short`` style, as remote caches and some CLIs store it).
        Returns the path."""
        unscoped = name.rpartition("/")[2]
        file = f"{name}-{version}.tgz" if scoped_style == "npm" else f"{unscoped}-{version}.tgz"
        path = f"{name}/-/{file}"
        self.deploy(repo, path, tarball, {"npm.name": name, "npm.version": version})
        return path

    def pypi(self, repo: str, name: str, version: str, filename: str, data: bytes) -> str:
        """Deploy a distribution at ``{name}/{version}/{file}`` with the properties a manual upload needs."""
        path = f"{name}/{version}/{filename}"
        self.deploy(repo, path, data, {"pypi.name": name, "pypi.version": version})
        return path

    def maven(self, repo: str, group: str, artifact: str, version: str,
              files: dict[tuple[str | None, str], bytes]) -> list[str]:
        """Deploy a Maven artifact the way ``mvn deploy`` does: each file at its m2 path, then its ``.sha1`` and
        ``.md5`` (which Artifactory records as the file's original checksums), then ``maven-metadata.xml``.
        ``files`` maps ``(classifier, extension)`` to bytes. Returns the artifact paths."""
        folder = f"{group.replace('.', '/')}/{artifact}"
        paths = []
        for (classifier, ext), data in files.items():
            name = f"{artifact}-{version}" + (f"-{classifier}" if classifier else "") + f".{ext}"
            path = f"{folder}/{version}/{name}"
            self.deploy(repo, path, data, checksums=False)
            for algo in ("sha1", "md5"):
                digest = hashlib.new(algo, data).hexdigest().encode()
                self.http.put(f"{self.url}/{repo}/{quote(path)}.{algo}", data=digest, timeout=30).raise_for_status()
            paths.append(path)
        metadata = (f"<metadata><groupId>{group}</groupId><artifactId>{artifact}</artifactId><versioning>"
                    f"<release>{version}</release><versions><version>{version}</version></versions></versioning>"
                    "</metadata>\n").encode()
        self.deploy(repo, f"{folder}/maven-metadata.xml", metadata)
        return paths

    def dist_tag(self, repo: str, name: str, tag: str, version: str) -> None:
        escaped = name.replace("/", "%2f")
        resp = self.http.put(f"{self.url}/api/npm/{repo}/-/package/{escaped}/dist-tags/{tag}",
                             data=f'"{version}"', headers={"Content-Type": "application/json"}, timeout=30)
        resp.raise_for_status()

    def token(self, username: str = "admin", expires_in: int = 3600) -> str:
        """A new access token (``POST /api/security/token``); an admin may make one for any user name."""
        resp = self.http.post(f"{self.url}/api/security/token",
                              data={"username": username, "expires_in": str(expires_in)}, timeout=30)
        resp.raise_for_status()
        return resp.json()["access_token"]
