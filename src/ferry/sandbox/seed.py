"""Real-looking packages built on the spot, and seeding them into the stand-ins through their real APIs.

Used by ``ferry demo`` and by the end-to-end tests. Every file is a genuine package that npm, pip
and twine accept (an npm tarball with ``package/package.json``, a wheel with METADATA/WHEEL/RECORD,
an sdist with PKG-INFO), made deterministic so reruns give identical bytes.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass

import requests

NEXUS_AUTH = ("admin", "admin123")
_EPOCH = 1_700_000_000


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _EPOCH
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _gzip_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # mtime=0 in the gzip header too, so the same input gives the same bytes.
    import gzip

    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, data in files.items():
                _tar_add(tar, name, data)
    return buf.getvalue()


def npm_tarball(name: str, version: str, description: str = "", body: str = "") -> bytes:
    """An ``npm pack`` tarball for ``name@version`` (``name`` may be scoped)."""
    manifest = {"name": name, "version": version, "description": description or f"{name} for the ferry demo",
                "main": "index.js", "license": "MIT"}
    code = body or f"module.exports = {{ name: {json.dumps(name)}, version: {json.dumps(version)} }};\n"
    return _gzip_tar({"package/package.json": json.dumps(manifest, indent=2).encode(),
                      "package/index.js": code.encode(),
                      "package/README.md": f"# {name}\n\nVersion {version}.\n".encode()})


def _record_line(path: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [path, f"sha256={digest}", str(len(data))]


def wheel(name: str, version: str, summary: str = "") -> tuple[str, bytes]:
    """A pure-Python wheel ``(filename, bytes)`` that pip installs."""
    module = name.lower().replace("-", "_").replace(".", "_")
    dist = module
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             f"Summary: {summary or name + ' for the ferry demo'}\nRequires-Python: >=3.8\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ferry-seed\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in files.items():
        writer.writerow(_record_line(path, data))
    writer.writerow([f"{info}/RECORD", "", ""])
    files[f"{info}/RECORD"] = record.getvalue().encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2023, 11, 14, 22, 13, 20))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()


def sdist(name: str, version: str) -> tuple[str, bytes]:
    """A source distribution ``(filename, bytes)`` with PKG-INFO and a setup.py."""
    stem = f"{name.lower().replace('-', '_').replace('.', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} sdist\n".encode()
    setup = f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n".encode()
    return f"{stem}.tar.gz", _gzip_tar({f"{stem}/PKG-INFO": pkg_info, f"{stem}/setup.py": setup})


@dataclass
class NexusSeeder:
    """Creates hosted repositories and uploads components through Nexus' REST API."""

    url: str
    auth: tuple[str, str] = NEXUS_AUTH

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.http.auth = self.auth

    def create_repository(self, fmt: str, name: str) -> None:
        """Create a hosted repository (Nexus format name: npm, pypi, raw, maven, nuget...); exists is fine."""
        body = {"name": name, "online": True,
                "storage": {"blobStoreName": "default", "strictContentTypeValidation": True,
                            "writePolicy": "ALLOW_ONCE"}}
        if fmt == "maven":
            body["maven"] = {"versionPolicy": "RELEASE", "layoutPolicy": "STRICT"}
        resp = self.http.post(f"{self.url}/service/rest/v1/repositories/{fmt}/hosted", json=body, timeout=30)
        if resp.status_code not in (201, 400):
            resp.raise_for_status()

    def upload(self, repository: str, files: dict, data: dict | None = None) -> None:
        resp = self.http.post(f"{self.url}/service/rest/v1/components", params={"repository": repository},
                              files=files, data=data or {}, timeout=60)
        resp.raise_for_status()

    def npm(self, repository: str, name: str, version: str, **kw) -> bytes:
        tgz = npm_tarball(name, version, **kw)
        self.upload(repository, {"npm.asset": (f"{name.split('/')[-1]}-{version}.tgz", tgz)})
        return tgz

    def pypi(self, repository: str, filename: str, data: bytes) -> None:
        self.upload(repository, {"pypi.asset": (filename, data)})

    def raw(self, repository: str, directory: str, files: dict[str, bytes]) -> None:
        parts = {f"raw.asset{i}": (fname, data) for i, (fname, data) in enumerate(files.items(), 1)}
        fields = {"raw.directory": directory}
        fields.update({f"raw.asset{i}.filename": fname for i, fname in enumerate(files, 1)})
        self.upload(repository, parts, fields)

    def npm_dist_tag(self, repository: str, name: str, tag: str, version: str) -> None:
        """Point a dist-tag at a version, as ``npm dist-tag add`` does."""
        escaped = name.replace("/", "%2f")
        resp = self.http.put(f"{self.url}/repository/{repository}/-/package/{escaped}/dist-tags/{tag}",
                             data=json.dumps(version), headers={"Content-Type": "application/json"}, timeout=30)
        resp.raise_for_status()


def seed_demo(nexus_url: str) -> dict[str, list[str]]:
    """Fill a Nexus stand-in with the demo's npm, PyPI and raw packages. Returns what was seeded, by repo."""
    s = NexusSeeder(nexus_url)
    seeded: dict[str, list[str]] = {"npm-internal": [], "pypi-internal": [], "raw-files": []}
    s.create_repository("npm", "npm-internal")
    s.create_repository("pypi", "pypi-internal")
    s.create_repository("raw", "raw-files")
    for name, version in [("left-pad-acme", "1.0.0"), ("left-pad-acme", "1.1.0"), ("@acme/ui-kit", "2.1.0-beta.1"),
                          ("@acme/ui-kit", "2.0.0")]:
        s.npm("npm-internal", name, version)
        seeded["npm-internal"].append(f"{name}@{version}")
    s.npm_dist_tag("npm-internal", "@acme/ui-kit", "beta", "2.1.0-beta.1")
    seeded["npm-internal"].append("dist-tag beta -> @acme/ui-kit@2.1.0-beta.1")
    for name, version in [("acme.billing_client", "0.9.0"), ("acme-utils", "1.2.3")]:
        s.pypi("pypi-internal", *wheel(name, version))
        seeded["pypi-internal"].append(f"{name}=={version} (wheel)")
    s.pypi("pypi-internal", *sdist("acme-utils", "1.2.3"))
    seeded["pypi-internal"].append("acme-utils==1.2.3 (sdist)")
    s.raw("raw-files", "installer/3.4.0", {"installer-linux.tar.gz": _gzip_tar({"bin/install": b"#!/bin/sh\n"}),
                                            "checksums.txt": b"demo\n"})
    s.raw("raw-files", "installer/3.5.0", {"installer-linux.tar.gz": _gzip_tar({"bin/install": b"#!/bin/sh\n#2\n"})})
    seeded["raw-files"] += ["installer/3.4.0 (2 files)", "installer/3.5.0 (1 file)"]
    return seeded
