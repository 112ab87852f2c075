"""Moving one version's bytes: download to a spool file while hashing, check, publish, confirm.

The only code that moves bytes. Spool files are named by ferry (a random folder, then the checked asset
name), never by a path the source chose, so nothing is written outside the spool folder.
"""

from __future__ import annotations

import errno
import hashlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable

import requests

from ferry.errors import FatalError, ItemError, RetryableError
from ferry.migrators.base import Spooled, safe_asset_name
from ferry.model import Checksums, SourceItem

CHUNK = 1024 * 1024
# Publishing is usually visible at once, but the service documents that reads may lag: look again.
CONFIRM_ATTEMPTS = 4
CONFIRM_DELAY = 0.5


class ChecksumMismatch(ItemError):
    """The downloaded bytes do not match what the source says they are."""


def spool_dir(parent: Path) -> Path:
    """A fresh private folder under ``parent`` for one item's files. Raises FatalError if unusable."""
    try:
        parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix="item-", dir=parent))
    except OSError as err:
        raise FatalError(f"spool folder {parent} is not usable ({err.strerror}); give a writable --spool") from None


def download(open_stream: Callable[[], requests.Response], item: SourceItem, folder: Path) -> Spooled:
    """Stream the item into ``folder`` while computing MD5/SHA-1/SHA-256/SHA-512, then check them.

    Raises :class:`RetryableError` when the connection breaks or the body is cut short,
    :class:`ChecksumMismatch` when a digest or the size the source reported disagrees,
    :class:`FatalError` when the spool disk is full or unwritable.
    """
    name = safe_asset_name(item.key.asset)
    if name is None:
        raise ItemError(f"asset name {item.key.asset!r} is not a plain file name; not writing it")
    path = folder / name
    hashers = {"md5": hashlib.md5(), "sha1": hashlib.sha1(), "sha256": hashlib.sha256(), "sha512": hashlib.sha512()}
    size = 0
    response = open_stream()
    try:
        with open(path, "wb") as out:
            for chunk in response.iter_content(CHUNK):
                size += len(chunk)
                for h in hashers.values():
                    h.update(chunk)
                out.write(chunk)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as err:
        raise RetryableError(f"download of {item.key} broke off: {type(err).__name__}") from None
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES):
            raise FatalError(f"spool folder {folder.parent} cannot take more ({err.strerror}); "
                             "free space or give another --spool") from None
        raise
    finally:
        response.close()
    got = Checksums(**{algo: h.hexdigest() for algo, h in hashers.items()})
    if item.size is not None and item.size != size:
        raise ChecksumMismatch(f"source lists {item.size} bytes but sent {size}")
    for algo in item.checksums:
        if item.checksums[algo] != got[algo]:
            raise ChecksumMismatch(f"source says {algo} {item.checksums[algo]} but the bytes hash to {got[algo]}")
    return Spooled(path, size, got)


def remove(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def confirm(read_sha256: Callable[[], str | None], expected: str, what: str,
            sleep: Callable[[float], None] = time.sleep) -> None:
    """Wait until the target shows ``expected`` for the asset.

    Raises :class:`ItemError` if it shows a different hash, :class:`RetryableError` if it never shows it.
    """
    seen = None
    for attempt in range(CONFIRM_ATTEMPTS):
        seen = read_sha256()
        if seen == expected:
            return
        if seen is not None:
            raise ItemError(f"{what}: after publishing, the target shows sha256 {seen}, expected {expected}")
        sleep(CONFIRM_DELAY * (attempt + 1))
    raise RetryableError(f"{what}: published, but the target does not show it yet")
