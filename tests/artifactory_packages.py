"""Package files for the Artifactory tests that ferry.sandbox.seed does not build: a NuGet .nupkg, a Cargo .crate,
and zip archives written as a tool writing to a pipe writes them."""

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


class _Pipe:
    """Where a zip tool writes when it cannot seek back (a pipe): it learns each entry's sizes only after its
    data, so it writes them in a data descriptor after the data instead of in the entry's header."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, chunk: bytes) -> int:
        self.data += chunk
        return len(chunk)

    def flush(self) -> None:
        pass


def unseekable_zip(entries: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    """A zip of ``entries`` (in that order) as written to a pipe: every entry's sizes follow its data."""
    pipe = _Pipe()
    with zipfile.ZipFile(pipe, "w", compression) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return bytes(pipe.data)
