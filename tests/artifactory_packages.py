"""Package files for the Artifactory tests that ferry.sandbox.seed does not build: a NuGet .nupkg and a Cargo .crate."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile


def nupkg(package_id: str, version: str) -> bytes:
    """A minimal .nupkg: a zip with ``{id}.nuspec`` at its root."""
    nuspec = (f'<?xml version="1.0" encoding="utf-8"?>\n<package xmlns="http://schemas.microsoft.com/packaging/'
              f'2013/05/nuspec.xsd"><metadata><id>{package_id}</id><version>{version}</version>'
              f"<authors>acme</authors><description>{package_id}</description></metadata></package>\n")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{package_id}.nuspec", nuspec)
        zf.writestr("lib/net6.0/_._", "")
    return buf.getvalue()


def crate(name: str, version: str) -> bytes:
    """A minimal .crate: a gzipped tar with ``{name}-{version}/Cargo.toml``."""
    toml = f'[package]\nname = "{name}"\nversion = "{version}"\nedition = "2021"\n'.encode()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for path, data in ((f"{name}-{version}/Cargo.toml", toml), (f"{name}-{version}/src/lib.rs", b"")):
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)
