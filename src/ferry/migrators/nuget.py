"""NuGet: one ``.nupkg`` per version, pushed through the PackagePublish resource of the target's V3 service index.

Identity follows CodeArtifact's NuGet normalization (nuget-name-normalization): the package name is
the id lowercased, the version is NuGet-normalized (leading zeros dropped, a zero fourth part dropped,
build metadata dropped, at least three parts), and the one asset is ``{id}.{version}.nupkg``, lowercased.
Two source files that normalize to one identity are not merged (see :mod:`ferry.migrators.claims`).
Symbol packages (``.snupkg``) are listed as unmappable: CodeArtifact has no place for them.

The push is what ``dotnet nuget push`` sends: ``PUT {PackagePublish/2.0.0 @id}`` with a
``multipart/form-data`` body whose first part is the ``.nupkg``, streamed from the spool file. The
``@id`` is read from the target endpoint's ``v3/index.json`` once per endpoint; the token (Basic
``aws:TOKEN``) authenticates, the ``X-NuGet-ApiKey`` header the protocol requires carries no secret.
"""

from __future__ import annotations

import lzma
import posixpath
import re
import struct
import tempfile
import threading
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit
from xml.etree import ElementTree

from requests_toolbelt import MultipartEncoder

from ferry.config import RepositoryMapping
from ferry.errors import FatalError, ItemError, RetryableError, spool_full
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, source_item, unidentified
from ferry.migrators.claims import Claims
from ferry.model import SourceItem
from ferry.sources.base import SourceFile

SYMBOLS = "symbol packages (.snupkg) are not supported by CodeArtifact"
PUBLISH_TYPE = "PackagePublish/2.0.0"
API_KEY = "codeartifact"  # required by the protocol, ignored by CodeArtifact: the token authenticates
MAX_NUSPEC = 4 * 1024 ** 2
WHAT_TO_DO = "set its nuget.id and nuget.version properties in Artifactory, or replace it with a good package"
_VERSION = re.compile(
    r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.(\d+))?"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$"
)
_ID = re.compile(r"^\w+(?:[_.-]\w+)*$")
# Files that sit in NuGet repositories but are not packages.
_NOT_PACKAGES = (".nuspec", ".json", ".xml", ".md5", ".sha1", ".sha256", ".sha512", ".asc", ".p7s", ".txt")


def normalize_version(text: str) -> str | None:
    """NuGet's normalized form of ``text`` (``1.01.0.0+meta`` → ``1.1.0``), or None if it is not a NuGet version."""
    m = _VERSION.match((text or "").strip())
    if not m:
        return None
    major, minor, patch, revision = (int(g) if g else 0 for g in m.groups()[:4])
    return f"{major}.{minor}.{patch}" + (f".{revision}" if revision else "") + (f"-{m[5]}" if m[5] else "")


def valid_id(package_id: str) -> bool:
    """True for a NuGet package id (word characters joined by single ``.``, ``-`` or ``_``; at most 100)."""
    return 0 < len(package_id) <= 100 and bool(_ID.match(package_id))


def asset_name(package: str, version: str) -> str:
    """CodeArtifact's asset name for a NuGet version: ``{id}.{version}.nupkg``, lowercased."""
    return f"{package}.{version}.nupkg".lower()


def split_filename(filename: str) -> tuple[str, str] | None:
    """(id, version) from ``{id}.{version}.nupkg`` (or ``.snupkg``), where the name reads one way only; None
    where it reads no way or several (``Acme.2.1.0.0.nupkg``: Acme 2.1.0.0, or Acme.2 1.0.0).

    NuGet's pack names a file by the normalized version, three or four numbers and maybe a label, so a
    reading is one whose version starts with three numbers or more and whose id holds no such version
    (``Acme.1.0.0`` is not Acme.1 0.0; ``Acme.8.0.0-rc.2.1.1`` is not Acme.8.0.0-rc 2.1.1); where no cut
    gives one, any cut is (a name given by hand: ``Acme.1.0``).
    """
    cuts = _cuts(re.sub(r"\.s?nupkg$", "", filename, flags=re.I))
    as_packed = [(package_id, version) for package_id, version in cuts
                 if _numbers(version) >= 3 and not any(_numbers(inner) >= 3 for _, inner in _cuts(package_id))]
    readings = as_packed or cuts
    return readings[0] if len(readings) == 1 else None


def _cuts(stem: str) -> list[tuple[str, str]]:
    """Every (id, version) that ``stem`` splits into at a dot, both valid."""
    parts = stem.split(".")
    return [(".".join(parts[:cut]), ".".join(parts[cut:])) for cut in range(1, len(parts))
            if parts[cut].isdigit() and normalize_version(".".join(parts[cut:])) and valid_id(".".join(parts[:cut]))]


def _numbers(version: str) -> int:
    """How many numbers a version starts with (``1.0.0-beta.2``: 3)."""
    return len(version.split("-", 1)[0].split("+", 1)[0].split("."))


# What Python's zip reader raises for a package it cannot read, besides BadZipFile: an entry compressed by a method
# it lacks (NotImplementedError) or encrypted (RuntimeError), compressed data that is corrupt (zlib.error,
# LZMAError), offsets pointing outside the file (ValueError). Each is this package's fault, not the run's.
_UNREADABLE_ZIP = (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError, RuntimeError, zlib.error,
                   lzma.LZMAError)


def read_nuspec(package: Path | BinaryIO) -> tuple[str, str, tuple[str, ...]]:
    """(id, version, package types) from the ``.nuspec`` at the root of a package (a path or a seekable
    file). Raises ItemError."""
    try:
        with zipfile.ZipFile(package) as archive:
            specs = [i for i in archive.infolist() if "/" not in i.filename and i.filename.lower().endswith(".nuspec")]
            if len(specs) != 1:
                raise ItemError("not a NuGet package: it needs exactly one .nuspec at its root")
            if specs[0].file_size > MAX_NUSPEC:
                raise ItemError(f"the .nuspec is {specs[0].file_size} bytes; refusing to read it")
            text = archive.read(specs[0])
    except _UNREADABLE_ZIP as err:
        raise ItemError(f"corrupt NuGet package: {type(err).__name__}: {err}") from None
    return nuspec_fields(text)


def nuspec_fields(text: bytes) -> tuple[str, str, tuple[str, ...]]:
    """(id, version, package types) from the text of a ``.nuspec``. Raises ItemError."""
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, LookupError) as err:  # LookupError: an encoding Python does not know
        raise ItemError(f"corrupt NuGet package: {type(err).__name__}: {err}") from None
    metadata = next((e for e in root if e.tag.rsplit("}", 1)[-1] == "metadata"), None)
    if metadata is None:
        raise ItemError("the .nuspec has no <metadata>")
    found: dict[str, str] = {}
    types: list[str] = []
    for elem in metadata:
        tag = elem.tag.rsplit("}", 1)[-1]
        if tag in ("id", "version"):
            found[tag] = (elem.text or "").strip()
        elif tag == "packageTypes":
            types = [t.get("name", "") for t in elem]
    return found.get("id", ""), found.get("version", ""), tuple(types)


def read_nuspec_stream(stream: BinaryIO, spool: Path | None = None) -> tuple[str, str, tuple[str, ...]]:
    """As :func:`read_nuspec`, from a package read forward only (a download), as far as its ``.nuspec``:
    NuGet's pack writes ``_rels/.rels`` and then the ``.nuspec`` first, so that is a few kilobytes. A package
    whose entries cannot be walked that way (sizes after the data of an uncompressed entry, ZIP64 headers) is
    read whole into a temporary file first, in the folder ``spool`` (the job's ``--spool``; None: the temporary
    folder, which may be too small for a 2 GB package); memory stays bounded either way. Raises ItemError, and
    FatalError when that folder's disk cannot take the copy (full, over quota, read-only)."""
    try:
        with tempfile.SpooledTemporaryFile(max_size=1024 ** 2, dir=spool) as copy:
            tee = _Copying(stream, copy)
            try:
                text = _nuspec_ahead(tee)
            except zlib.error as err:
                raise ItemError(f"corrupt NuGet package: an entry is not valid deflate data ({err})") from None
            if text is not None:
                return nuspec_fields(text)
            while tee.read(1024 ** 2):
                pass
            copy.seek(0)
            return read_nuspec(copy)
    except OSError as err:
        # The disk's doing, not the package's: the run stops, as a download's full spool stops it.
        full = spool_full(err, spool or tempfile.gettempdir())
        if full is not None:
            raise full from None
        raise


class _Copying:
    """Reads of ``stream``, each byte also written to ``copy`` once; bytes read too far can be put back."""

    def __init__(self, stream: BinaryIO, copy: BinaryIO):
        self._stream, self._copy = stream, copy
        self._back = b""

    def read(self, size: int) -> bytes:
        data, self._back = self._back[:size], self._back[size:]
        while len(data) < size:  # a network stream may return less than asked
            chunk = self._stream.read(size - len(data))
            if not chunk:
                break
            self._copy.write(chunk)
            data += chunk
        return data

    def put_back(self, data: bytes) -> None:
        self._back = data + self._back


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_STORED, _DEFLATED = 0, 8
_SIZES_AFTER_DATA, _UTF8_NAME = 0x08, 0x800


def _nuspec_ahead(tee: _Copying) -> bytes | None:
    """The root ``.nuspec``'s text, from the zip entries read in order from the start; None where the walk
    cannot go on, or reaches the central directory without one (the whole package is then read instead).
    Raises ItemError, ``zlib.error``."""
    while True:
        header = tee.read(_LOCAL_HEADER.size)
        if not header or header[:4] in (b"PK\x01\x02", b"PK\x05\x06"):
            return None
        if header[:4] != b"PK\x03\x04" or len(header) < _LOCAL_HEADER.size:
            raise ItemError("corrupt NuGet package: not a zip archive")
        _sig, _ver, flags, method, _time, _date, _crc, size, _full, name_length, extra_length = \
            _LOCAL_HEADER.unpack(header)
        name = tee.read(name_length).decode("utf-8" if flags & _UTF8_NAME else "cp437", "replace")
        tee.read(extra_length)
        if size == 0xFFFFFFFF or method not in (_STORED, _DEFLATED) or \
                (method == _STORED and flags & _SIZES_AFTER_DATA):
            return None  # ZIP64, or an entry whose end only the central directory tells
        nuspec = "/" not in name and name.lower().endswith(".nuspec")
        if nuspec and method == _DEFLATED:
            return _inflate(tee, keep=True)
        if nuspec:
            if size > MAX_NUSPEC:
                raise ItemError(f"the .nuspec is {size} bytes; refusing to read it")
            return tee.read(size)
        if method == _DEFLATED:
            _inflate(tee, keep=False)
        else:
            _skip(tee, size)
        if flags & _SIZES_AFTER_DATA:
            # CRC and sizes, with or without their signature (PK\x07\x08) in front
            tee.read(12 if tee.read(4) == b"PK\x07\x08" else 8)


def _skip(tee: _Copying, size: int) -> None:
    while size > 0:
        chunk = tee.read(min(size, 1024 ** 2))
        if not chunk:
            raise ItemError("corrupt NuGet package: it ends inside a zip entry")
        size -= len(chunk)


def _inflate(tee: _Copying, keep: bool) -> bytes:
    """The deflate stream at the reader's position, read to its end (which it marks itself): its text if
    ``keep`` (more than MAX_NUSPEC bytes raises ItemError), else nothing. Raises ``zlib.error``."""
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = bytearray()
    while not inflater.eof:
        data = inflater.unconsumed_tail or tee.read(64 * 1024)
        if not data:
            raise ItemError("corrupt NuGet package: it ends inside a zip entry")
        text = inflater.decompress(data, 64 * 1024)  # bounded: a zip bomb inflates 64 KiB at a time
        if keep:
            out += text
            if len(out) > MAX_NUSPEC:
                raise ItemError(f"the .nuspec is over {MAX_NUSPEC} bytes; refusing to read it")
    tee.put_back(inflater.unused_data)  # the next entry's first bytes
    return bytes(out)


class NugetMigrator(NoPackageFacts):
    format = "nuget"
    single_asset = True

    def __init__(self) -> None:
        self._claims = Claims()
        self._lock = threading.Lock()
        self._publish_urls: dict[str, str] = {}

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        filename = posixpath.basename(file.path)
        lower = filename.lower()
        hinted_id = file.hints.get("nuget.id") or file.hints.get("name") or ""
        hinted_version = file.hints.get("nuget.version") or file.hints.get("version") or ""
        symbols = lower.endswith(".snupkg")
        if lower.endswith(_NOT_PACKAGES) or not (symbols or lower.endswith(".nupkg") or (hinted_id and hinted_version)):
            return None
        parsed = split_filename(filename) if symbols or lower.endswith(".nupkg") else None
        package_id = hinted_id or (parsed[0] if parsed else "")
        raw_version = hinted_version or (parsed[1] if parsed else "")
        version = normalize_version(raw_version)
        if symbols:
            return source_item(file, ("nuget", "", (package_id or filename).lower(), version or raw_version or "?",
                                      filename), unmappable=SYMBOLS)
        unreadable = file.hints.get("unreadable")
        if unreadable and not package_id:
            return source_item(file, ("nuget", "", filename, "?", unidentified(file)),
                               unmappable=f"cannot tell the NuGet id and version of {file.path!r}: its file name does "
                                          f"not say, and its .nuspec could not be read ({unreadable}); "
                                          f"{file.hints.get('unreadable_again') or WHAT_TO_DO}")
        if not valid_id(package_id):
            what = f"id {package_id!r} is not a valid NuGet id" if package_id else "cannot tell the NuGet id"
            return source_item(file, ("nuget", "", package_id.lower() or filename, raw_version or "?",
                                      unidentified(file)), unmappable=f"{what} of {file.path!r}")
        if version is None:
            return source_item(file, ("nuget", "", package_id.lower(), raw_version or "?", unidentified(file)),
                               unmappable=f"{raw_version!r} is not a valid NuGet version ({file.path!r})")
        name = package_id.lower()
        holder = self._claims.claim(mapping, (name, version.lower()), file)
        if holder is not None:
            return source_item(file, ("nuget", "", package_id, raw_version, f"(collision) {file.path}"),
                               unmappable=f"{package_id} {raw_version} is NuGet package {name} {version} in "
                                          f"CodeArtifact, which {holder!r} in this source already is "
                                          "(ids are lowercased, versions normalized); not migrated")
        return source_item(file, ("nuget", "", name, version, asset_name(name, version)))

    def identity_unknown(self, file: SourceFile) -> bool:
        """Whether only the package itself can tell what ``file`` is: a ``.nupkg`` without id and version hints
        whose file name reads no way or several (see :func:`split_filename`)."""
        filename = posixpath.basename(file.path)
        hinted = (file.hints.get("nuget.id") or file.hints.get("name")) and \
            (file.hints.get("nuget.version") or file.hints.get("version"))
        return filename.lower().endswith(".nupkg") and not hinted and split_filename(filename) is None

    def read_identity(self, file: SourceFile, stream: BinaryIO, spool: Path | None = None) -> dict[str, str]:
        """Id and version hints from the ``.nuspec`` of the package ``stream`` holds, read forward as far as
        that (see :func:`read_nuspec_stream`; a package read whole is copied into the folder ``spool``).
        Raises ItemError if it is not a readable package."""
        package_id, version, _types = read_nuspec_stream(stream, spool)
        return {"name": package_id, "version": version}

    def forget(self, mapping: RepositoryMapping) -> None:
        """The listing of ``mapping`` has ended: its claims (see :mod:`ferry.migrators.claims`) are dropped."""
        self._claims.forget(mapping)

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        package_id, raw_version, types = read_nuspec(spooled.path)
        if any(t.lower() == "symbolspackage" for t in types):
            raise ItemError(f"the file is a symbol package: {SYMBOLS}")
        version = normalize_version(raw_version)
        if package_id.lower() != key.package or version != key.version:
            raise ItemError(f"the package's .nuspec says {package_id} {raw_version}, but the source lists it as "
                            f"{key.package} {key.version}; not publishing")
        url = self.publish_url(ctx)
        with open(spooled.path, "rb") as handle:
            encoder = MultipartEncoder([("package", (key.asset, handle, "application/octet-stream"))])
            ctx.send("PUT", url, f"nuget push {package_id} {version}", data=encoder,
                     headers={"Content-Type": encoder.content_type, "X-NuGet-ApiKey": API_KEY})

    def publish_url(self, ctx: PublishContext) -> str:
        """The ``@id`` of the target's ``PackagePublish/2.0.0`` resource, with a trailing ``/`` as the
        NuGet client adds it (read once per endpoint). Raises FatalError if the index has none, or
        names another host (the token is not sent there), RetryableError if the index is unreadable."""
        endpoint = ctx.endpoint("nuget")
        with self._lock:
            if endpoint in self._publish_urls:
                return self._publish_urls[endpoint]
        resp = ctx.send("GET", f"{endpoint}v3/index.json", "NuGet service index",
                        headers={"Accept": "application/json"})
        try:
            resources = resp.json().get("resources") or []
        except (ValueError, AttributeError):
            raise RetryableError("NuGet service index: the response is not a JSON object (cut short?)") from None
        found = next((r.get("@id") for r in resources if isinstance(r, dict) and r.get("@type") == PUBLISH_TYPE), None)
        if not isinstance(found, str) or not found:
            raise FatalError(f"the target's NuGet service index ({endpoint}v3/index.json) has no "
                             f"{PUBLISH_TYPE} resource")
        if urlsplit(found).netloc.lower() != urlsplit(endpoint).netloc.lower():
            raise FatalError(f"the target's {PUBLISH_TYPE} resource is on another host ({urlsplit(found).netloc}); "
                             "not sending the CodeArtifact token there")
        url = found if found.endswith("/") else found + "/"
        with self._lock:
            self._publish_urls[endpoint] = url
        return url

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        return None
