"""Small but real package files for the Nexus stand-in tests (npm, wheel, sdist, nupkg, gem)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def npm_tarball(name: str, version: str, extra: bytes = b"") -> bytes:
    """An npm pack tarball: ``package/package.json`` and ``package/index.js``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        _tar_add(tar, "package/package.json", json.dumps({"name": name, "version": version,
                                                           "description": "test"}).encode())
        _tar_add(tar, "package/index.js", b"module.exports = 1;\n" + extra)
    return buf.getvalue()


def wheel(name: str, version: str) -> tuple[str, bytes]:
    """A pure-Python wheel ``(filename, bytes)`` with METADATA, WHEEL and RECORD."""
    dist = name.replace("-", "_")
    filename = f"{dist}-{version}-py3-none-any.whl"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{dist}/__init__.py", "VALUE = 1\n")
        zf.writestr(f"{dist}-{version}.dist-info/METADATA",
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: test\n")
        zf.writestr(f"{dist}-{version}.dist-info/WHEEL",
                    "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr(f"{dist}-{version}.dist-info/RECORD", "")
    return filename, buf.getvalue()


def sdist(name: str, version: str) -> tuple[str, bytes]:
    """A source distribution ``(filename, bytes)`` with PKG-INFO."""
    stem = f"{name.replace('-', '_')}-{version}"
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        _tar_add(tar, f"{stem}/PKG-INFO", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode())
        _tar_add(tar, f"{stem}/setup.py", b"")
    return f"{stem}.tar.gz", buf.getvalue()


def nupkg(package_id: str, version: str) -> bytes:
    """A NuGet package with a namespaced ``.nuspec`` at its root."""
    nuspec = (f'<?xml version="1.0"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">'
              f"<metadata><id>{package_id}</id><version>{version}</version><authors>t</authors>"
              f"<description>d</description></metadata></package>")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{package_id}.nuspec", nuspec)
        zf.writestr("lib/net8.0/a.dll", b"\x00dll")
    return buf.getvalue()


def gem(name: str, version: str, platform: str = "ruby") -> bytes:
    """A ``.gem``: a plain tar with ``metadata.gz`` (YAML gemspec) and ``data.tar.gz``."""
    spec = (f"--- !ruby/object:Gem::Specification\nname: {name}\nversion: !ruby/object:Gem::Version\n"
            f"  version: {version}\nplatform: {platform}\nauthors:\n- t\ndependencies:\n"
            f"- !ruby/object:Gem::Dependency\n  name: rake\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        _tar_add(tar, "metadata.gz", gzip.compress(spec.encode()))
        _tar_add(tar, "data.tar.gz", gzip.compress(b""))
    return buf.getvalue()
