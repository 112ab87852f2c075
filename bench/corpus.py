"""A benchmark corpus in the Nexus stand-in: N versions of npm, PyPI, raw and Maven, sizes spread like real ones.

Seeding writes straight into the stand-in's data folder, before its server starts, through the same
code its REST upload API runs (``ferry.sandbox.nexus.ingest.Ingest.upload`` with the form fields
``POST /service/rest/v1/components`` takes, and ``put_raw`` for raw files), in this process: no HTTP,
and SQLite commits without fsync (``synchronous=OFF``; the folder is thrown away after the run).
So the stand-in holds exactly what a real upload would leave: components, assets, npm packuments,
Maven checksums and metadata.

The mix (by versions): npm 40 % (one tarball), PyPI 25 % (a wheel, half of them also an sdist),
raw 20 % (1-3 files), Maven 15 % (jar and POM). Versions per package: 1 + an exponential with mean 4.
Payload sizes: log-normal, median 12 KiB, sigma 1.5, capped at 8 MiB (mean about 37 KiB), random bytes
so nothing compresses. Optionally one raw file of ``--big-asset-gb`` GiB. Deterministic per seed.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import tarfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from werkzeug.datastructures import FileStorage, MultiDict

NEXUS_FORMATS = {"npm": "npm", "pypi": "pypi", "raw": "raw", "maven2": "maven"}  # Nexus format -> repo suffix
SHARES = (("npm", 0.40), ("pypi", 0.25), ("raw", 0.20), ("maven2", 0.15))
MEDIAN, SIGMA, CAP = 12 * 1024, 1.5, 8 * 1024 * 1024
BIG_PATH = "big-data/1.0/big.bin"


@dataclass
class CorpusStats:
    versions: int = 0
    files: int = 0
    bytes: int = 0
    packages: int = 0
    by_format: dict[str, dict[str, int]] = field(default_factory=dict)
    big_asset_bytes: int = 0
    seconds: float = 0.0

    def add(self, fmt: str, files: int, size: int) -> None:
        entry = self.by_format.setdefault(fmt, {"versions": 0, "files": 0, "bytes": 0})
        entry["versions"] += 1
        entry["files"] += files
        entry["bytes"] += size
        self.versions += 1
        self.files += files
        self.bytes += size


def payload_size(rng: random.Random) -> int:
    return max(64, min(CAP, int(rng.lognormvariate(0, SIGMA) * MEDIAN)))


def _tar_gz(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, compresslevel=1) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, data in files:
                info = tarfile.TarInfo(name)
                info.size, info.mtime, info.mode = len(data), 1_700_000_000, 0o644
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for name, data in files:
            zf.writestr(zipfile.ZipInfo(name, date_time=(2023, 11, 14, 22, 13, 20)), data)
    return buf.getvalue()


def npm_tarball(name: str, version: str, payload: bytes) -> bytes:
    manifest = {"name": name, "version": version, "description": f"{name} (ferry benchmark)", "main": "index.js",
                "license": "MIT"}
    # package.json first: readers stop at it instead of inflating the payload
    return _tar_gz([("package/package.json", json.dumps(manifest).encode()), ("package/index.js", b"module.exports={}"),
                    ("package/data.bin", payload)])


def wheel(name: str, version: str, payload: bytes) -> tuple[str, bytes]:
    module = name.replace("-", "_")
    info = f"{module}-{version}.dist-info"
    files = [(f"{module}/__init__.py", f"__version__ = {version!r}\n".encode()), (f"{module}/data.bin", payload),
             (f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()),
             (f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: ferry-bench\nRoot-Is-Purelib: true\n"
                               b"Tag: py3-none-any\n")]
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, _ in files:
        writer.writerow([path, "", ""])
    writer.writerow([f"{info}/RECORD", "", ""])
    files.append((f"{info}/RECORD", record.getvalue().encode()))
    return f"{module}-{version}-py3-none-any.whl", _zip(files)


def sdist(name: str, version: str, payload: bytes) -> tuple[str, bytes]:
    stem = f"{name.replace('-', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()
    return f"{stem}.tar.gz", _tar_gz([(f"{stem}/PKG-INFO", pkg_info), (f"{stem}/data.bin", payload)])


def maven_files(group: str, artifact: str, version: str, payload: bytes) -> tuple[bytes, bytes]:
    pom = (f'<?xml version="1.0" encoding="UTF-8"?>\n<project xmlns="http://maven.apache.org/POM/4.0.0">'
           f"<modelVersion>4.0.0</modelVersion><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
           f"<version>{version}</version><packaging>jar</packaging></project>\n").encode()
    return _zip([("META-INF/MANIFEST.MF", b"Manifest-Version: 1.0\n"), ("data.bin", payload)]), pom


class _RandomStream:
    """``size`` bytes read in chunks: a random 16 MiB block repeated (fast, and no compression helps)."""

    def __init__(self, size: int, rng: random.Random):
        self.left = size
        self.block = rng.randbytes(16 * 1024 * 1024)
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        n = self.left if n is None or n < 0 else min(n, self.left)
        out = bytearray()
        while len(out) < n:
            take = min(n - len(out), len(self.block) - self.pos)
            out += self.block[self.pos:self.pos + take]
            self.pos = (self.pos + take) % len(self.block)
        self.left -= n
        return bytes(out)


def _repo_config(fmt: str) -> dict:
    config = {"online": True, "storage": {"blobStoreName": "default", "strictContentTypeValidation": True,
                                          "writePolicy": "ALLOW"}, "cleanup": None,
              "component": {"proprietaryComponents": False}}
    if fmt == "maven2":
        config["maven"] = {"versionPolicy": "RELEASE", "layoutPolicy": "STRICT"}
    return config


def repo_name(prefix: str, fmt: str) -> str:
    """The Nexus repository a corpus keeps ``fmt`` (Nexus format) in: ``bench-npm``, ``bench-maven``..."""
    return f"{prefix}-{NEXUS_FORMATS[fmt]}"


def seed(nexus_data: Path, versions: int, big_asset_gb: float = 0.0, seed_value: int = 8, prefix: str = "bench",
         shares: tuple[tuple[str, float], ...] = SHARES) -> CorpusStats:
    """Fill the Nexus stand-in's data folder with a corpus of ``versions`` versions in repositories
    ``{prefix}-npm`` etc., one per format in ``shares``. Returns what it wrote."""
    from ferry.sandbox.nexus.ingest import Ingest, Who
    from ferry.sandbox.nexus.store import Store

    started = time.perf_counter()
    rng = random.Random(seed_value)
    store = Store(nexus_data)
    store._db.execute("PRAGMA synchronous=OFF")  # a throwaway benchmark folder: no fsync per asset
    ingest = Ingest(store)
    who = Who("admin", "127.0.0.1")
    repos = {}
    for fmt, _share in shares:
        repos[fmt] = store.create_repository(repo_name(prefix, fmt), fmt, "hosted", _repo_config(fmt))
    stats = CorpusStats()
    targets = {fmt: int(round(versions * share)) for fmt, share in shares}
    first = shares[0][0]
    targets[first] += versions - sum(targets.values())
    try:
        for fmt, wanted in targets.items():
            done, pkg = 0, 0
            while done < wanted:
                count = min(wanted - done, 1 + int(rng.expovariate(1 / 4)))
                for v in range(count):
                    files, size = _one_version(ingest, repos[fmt], fmt, pkg, f"1.{v}.0", rng, who)
                    stats.add(fmt, files, size)
                done += count
                pkg += 1
                stats.packages += 1
        if big_asset_gb > 0:
            if "raw" not in repos:
                repos["raw"] = store.create_repository(repo_name(prefix, "raw"), "raw", "hosted", _repo_config("raw"))
            size = int(big_asset_gb * 1024 ** 3)
            ingest.put_raw(repos["raw"], BIG_PATH, _RandomStream(size, rng), size, who, True)
            stats.add("raw", 1, size)
            stats.packages += 1
            stats.big_asset_bytes = size
    finally:
        store.close()
    stats.seconds = time.perf_counter() - started
    return stats


def _one_version(ingest, repo, fmt: str, pkg: int, version: str, rng: random.Random, who) -> tuple[int, int]:
    """Upload one version; returns (files, bytes)."""
    if fmt == "npm":
        name = f"@bench/pkg-{pkg}" if pkg % 5 == 0 else f"bench-pkg-{pkg}"
        data = npm_tarball(name, version, rng.randbytes(payload_size(rng)))
        ingest.upload(repo, MultiDict(), MultiDict({"npm.asset": _file(data, "x.tgz")}), who)
        return 1, len(data)
    if fmt == "pypi":
        name = f"bench-lib-{pkg}"
        dists = [wheel(name, version, rng.randbytes(payload_size(rng)))]
        if rng.random() < 0.5:
            dists.append(sdist(name, version, rng.randbytes(payload_size(rng))))
        for filename, data in dists:
            ingest.upload(repo, MultiDict(), MultiDict({"pypi.asset": _file(data, filename)}), who)
        return len(dists), sum(len(d) for _, d in dists)
    if fmt == "raw":
        count = rng.choice((1, 1, 2, 3))
        total = 0
        for i in range(count):
            data = rng.randbytes(payload_size(rng))
            ingest.put_raw(repo, f"tool-{pkg}/{version}/file-{i}.bin", io.BytesIO(data), len(data), who, True)
            total += len(data)
        return count, total
    group, artifact = f"org.bench.g{pkg % 50}", f"lib-{pkg}"
    jar, pom = maven_files(group, artifact, version, rng.randbytes(payload_size(rng)))
    form = MultiDict({"maven2.asset1.extension": "jar", "maven2.asset2.extension": "pom"})
    parts = MultiDict({"maven2.asset1": _file(jar, f"{artifact}.jar"), "maven2.asset2": _file(pom, "pom.xml")})
    ingest.upload(repo, form, parts, who)
    return 2, len(jar) + len(pom)


def _file(data: bytes, filename: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=filename)


if __name__ == "__main__":  # python bench/corpus.py DATA_DIR VERSIONS: seed only (for trying things)
    import sys

    out = seed(Path(sys.argv[1]) / "nexus", int(sys.argv[2]), float(sys.argv[3]) if len(sys.argv) > 3 else 0)
    print(json.dumps(out.__dict__, indent=2))
