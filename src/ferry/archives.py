"""Bounds for reading metadata out of package archives that ferry did not make.

A migrator reads one small file from an archive (a wheel's ``METADATA``, an sdist's ``PKG-INFO``, an
npm tarball's ``package.json``). The readers it relies on (twine, ``tarfile``) read a member whole
and list every member first, so a hostile or broken archive (a zip bomb whose METADATA expands to
gigabytes, a tarball of millions of empty entries) would exhaust memory or run for hours. These
checks look at what the archive declares before anything is read, and raise :class:`ArchiveRefused`
(an :class:`~ferry.errors.ItemError`: that item fails with the reason, the run goes on).

- ``zipfile`` never returns more than an entry's declared size, so checking the declared size of
  the metadata entries bounds what twine will read;
- a tar stream is walked header by header without reading data, stopping at :data:`MAX_MEMBERS`
  entries or once the walk would pass :func:`scan_budget` uncompressed bytes.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Callable, Iterator

from ferry.errors import ItemError

MAX_METADATA_BYTES = 16 * 1024 * 1024  # METADATA/PKG-INFO/package.json are kilobytes; 16 MiB is generous
MAX_MEMBERS = 200_000
MAX_RATIO = 200  # uncompressed bytes walked per compressed byte (real packages compress 2-20x)
MIN_SCAN = 256 * 1024 * 1024


class ArchiveRefused(ItemError):
    """The archive would expand beyond what ferry reads to find its metadata."""


def scan_budget(path: Path) -> int:
    """How many uncompressed bytes of ``path`` ferry will walk through to find a member."""
    return max(MIN_SCAN, path.stat().st_size * MAX_RATIO)


def check_zip(path: Path, is_metadata: Callable[[str], bool]) -> None:
    """Refuse a zip whose metadata entries declare more than :data:`MAX_METADATA_BYTES` (or too many entries).

    Raises :class:`ArchiveRefused`, or :class:`ItemError` when it is not a readable zip.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise ItemError(f"{path.name} is not a readable zip archive ({err})") from None
    if len(infos) > MAX_MEMBERS:
        raise ArchiveRefused(f"{path.name} has {len(infos)} entries; ferry reads archives of at most {MAX_MEMBERS}")
    for info in infos:
        if is_metadata(info.filename) and info.file_size > MAX_METADATA_BYTES:
            raise ArchiveRefused(f"{info.filename} in {path.name} would expand to {info.file_size} bytes; "
                                 f"refusing to read metadata over {MAX_METADATA_BYTES} bytes")


def members(tar: tarfile.TarFile, path: Path) -> Iterator[tarfile.TarInfo]:
    """``tar``'s members one by one, within :data:`MAX_MEMBERS` and :func:`scan_budget`.

    Raises :class:`ArchiveRefused` past either bound.
    """
    budget = scan_budget(path)
    count = 0
    while True:
        member = tar.next()
        if member is None:
            return
        count += 1
        if count > MAX_MEMBERS:
            raise ArchiveRefused(f"{path.name} has more than {MAX_MEMBERS} entries; refusing to read further")
        if member.offset_data + max(member.size, 0) > budget:
            raise ArchiveRefused(f"{path.name} expands past {budget} bytes before its metadata; refusing to "
                                 "read further")
        yield member


def check_tar(path: Path, is_metadata: Callable[[str], bool]) -> None:
    """Walk a (compressed) tar within bounds; refuse it if a metadata member declares more than
    :data:`MAX_METADATA_BYTES`. Raises :class:`ArchiveRefused` or :class:`ItemError` (unreadable)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in members(tar, path):
                if is_metadata(member.name) and member.size > MAX_METADATA_BYTES:
                    raise ArchiveRefused(f"{member.name} in {path.name} is {member.size} bytes; refusing to read "
                                         f"metadata over {MAX_METADATA_BYTES} bytes")
    except (tarfile.TarError, OSError, EOFError, ValueError) as err:
        raise ItemError(f"{path.name} is not a readable tar archive ({type(err).__name__}: {err})") from None


def check_python_distribution(path: Path) -> None:
    """Bounds for what twine reads from a wheel or sdist (METADATA / PKG-INFO). Raises as above."""
    name = path.name
    if name.endswith((".whl", ".zip", ".egg")):
        check_zip(path, lambda entry: "METADATA" in entry or entry.endswith("PKG-INFO"))
    elif name.endswith((".tar.gz", ".tgz", ".tar.bz2")):
        check_tar(path, lambda entry: entry.endswith("PKG-INFO"))
