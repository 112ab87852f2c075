"""Content-addressed blob storage on disk, written by streaming and hashed on the way in."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class Blob:
    """A stored body: its size and every hash CodeArtifact and Nexus report."""

    size: int
    md5: str
    sha1: str
    sha256: str
    sha512: str

    def hashes(self) -> dict[str, str]:
        """Hashes keyed as CodeArtifact names them (``MD5``, ``SHA-1``, ``SHA-256``, ``SHA-512``)."""
        return {"MD5": self.md5, "SHA-1": self.sha1, "SHA-256": self.sha256, "SHA-512": self.sha512}


class BlobTooShort(Exception):
    """The body ended before the length the client announced."""


class BlobStore:
    """Blobs under ``root``, named by SHA-256. Writes go to a temporary file first, then rename."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / "tmp"
        self._tmp.mkdir(exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()

    def put_stream(self, stream: BinaryIO, length: int | None = None) -> Blob:
        """Copy ``stream`` to disk in chunks, hashing as it goes.

        Reads exactly ``length`` bytes when given (raises :class:`BlobTooShort` if the stream ends
        early), else to end of stream. Memory use does not depend on the body's size.
        """

        def chunks() -> Iterable[bytes]:
            remaining = length
            while remaining is None or remaining > 0:
                want = CHUNK if remaining is None else min(CHUNK, remaining)
                data = stream.read(want)
                if not data:
                    if remaining:
                        raise BlobTooShort(f"body ended {remaining} bytes early")
                    return
                if remaining is not None:
                    remaining -= len(data)
                yield data

        return self.put_chunks(chunks())

    def put_bytes(self, data: bytes) -> Blob:
        return self.put_chunks([data])

    def put_chunks(self, chunks: Iterable[bytes]) -> Blob:
        hashers = [hashlib.md5(), hashlib.sha1(), hashlib.sha256(), hashlib.sha512()]
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as out:
                for data in chunks:
                    size += len(data)
                    for h in hashers:
                        h.update(data)
                    out.write(data)
            blob = Blob(size, *(h.hexdigest() for h in hashers))
            final = self.path(blob.sha256)
            final.parent.mkdir(exist_ok=True)
            os.replace(tmp, final)
            return blob
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")
