"""Moving one version's bytes: download to a spool file while hashing, check, publish, confirm.

The only code that moves bytes. Spool files are named by ferry (a random folder, then the checked asset
name), never by a path the source chose, so nothing is written outside the spool folder.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

import requests

try:
    import fcntl
except ImportError:  # not POSIX: no locks, so no sweeping either
    fcntl = None  # type: ignore[assignment]

from ferry.errors import FatalError, ItemError, NotFound, RetryableError, spool_full
from ferry.migrators.base import Spooled, safe_asset_name
from ferry.model import ALGORITHMS, Checksums, SourceItem

CHUNK = 1024 * 1024
TEMP_SPOOL_PREFIX = "ferry-spool-"  # the default spool's folder in the temporary folder
_LOCK_SUFFIX = ".lock"
# Publishing is usually visible at once, but the service documents that reads may lag: look again.
CONFIRM_ATTEMPTS = 4
CONFIRM_DELAY = 0.5
# CodeArtifact's "Asset file size" quota (5 GB by default, adjustable). Raise it with AWS, then set
# FERRY_MAX_ASSET_BYTES to the new quota; bigger assets are reported unmappable, never half sent.
MAX_ASSET_BYTES = 5 * 1024**3


def max_asset_bytes() -> int:
    """The largest asset ferry will move: ``$FERRY_MAX_ASSET_BYTES`` if set, else :data:`MAX_ASSET_BYTES`."""
    raw = os.environ.get("FERRY_MAX_ASSET_BYTES", "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else MAX_ASSET_BYTES


def too_big(size: int | None) -> str | None:
    """Why an asset of ``size`` bytes cannot be published (over the asset size quota), or None."""
    limit = max_asset_bytes()
    if size is None or size <= limit:
        return None
    return (f"{size} bytes is over CodeArtifact's asset size quota ({limit} bytes); ask AWS to raise the "
            "quota, then set FERRY_MAX_ASSET_BYTES to it")


class ChecksumMismatch(ItemError):
    """The downloaded bytes do not match what the source says they are."""


# A source in use changes while it is migrated (CI redeploys, overwrites raw files, republishes): bytes that
# differ from the listing, or a listed file that is gone, are then no fault of the source's storage, and a
# reason that only blamed the source would send its owner looking for corruption that is not there.
CHANGED_OR_CORRUPT = ("; the file changed in the source after it was listed, or the source sent it corrupt: "
                      "nothing was published, and a rerun lists it again")
GONE_SINCE_LISTED = (": the source listed it but no longer has it (deleted or replaced after it was listed): "
                     "nothing was published, and a rerun lists the source again")


class Interrupted(Exception):
    """The run is stopping (Ctrl-C): the item was abandoned mid-download and stays to be done."""


def spool_dir(parent: Path) -> tuple[Path, int | None]:
    """A fresh private folder under ``parent`` for a worker's files, and the descriptor of the lock
    held on it while this process lives (None where file locks are not available).

    The lock is a file beside the folder (``item-XXXX.lock``, not inside it, where an asset of that name
    could land), taken before the folder is made: :func:`sweep_spool` removes only folders whose lock
    it can take, i.e. whose process has gone. Raises FatalError if ``parent`` is unusable.
    """
    for attempt in range(_SPOOL_TRIES):
        fd = lock_path = None
        try:
            parent.mkdir(parents=True, exist_ok=True)
            fd, lock_path = tempfile.mkstemp(prefix="item-", suffix=_LOCK_SUFFIX, dir=parent)
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            folder = Path(lock_path[: -len(_LOCK_SUFFIX)])
            folder.mkdir(mode=0o700)
        except OSError as err:
            if fd is not None:
                os.close(fd)
                _unlink(lock_path)
            if err.errno in _SWEEP_RACES and attempt + 1 < _SPOOL_TRIES:
                # Another ferry run sweeping the same spool just then (parallel shards on one machine): it
                # removed the empty parent (ENOENT, or EEXIST from mkdir's own check), or held the new lock
                # file for the moment it takes to look at it (EAGAIN). Not this run's problem: again.
                time.sleep(0.01 * (attempt + 1))
                continue
            raise FatalError(f"spool folder {parent} is not usable ({err.strerror}); give a writable --spool") from None
        if fcntl is None:
            os.close(fd)
            fd = None
        return folder, fd
    raise AssertionError("unreachable")


_SPOOL_TRIES = 10
_SWEEP_RACES = (errno.ENOENT, errno.EEXIST, errno.EAGAIN, errno.EWOULDBLOCK)
# A lock file with no folder beside it this young is a live run's, between making the one and the other.
_SETUP_GRACE_S = 600.0


def _unlink(path: str | Path | None) -> None:
    if path is not None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def sweep_spool(parent: Path) -> tuple[int, int]:
    """Remove the worker folders under ``parent`` that a ferry process which has gone left behind
    (killed, out of memory, its node preempted): those whose lock file no process holds.

    Folders without a lock file (made by older versions) are left alone. Returns (folders removed,
    bytes freed); never raises for a folder it cannot read or remove.
    """
    if fcntl is None:
        return 0, 0
    removed = freed = 0
    try:
        locks = [p for p in parent.iterdir() if p.name.startswith("item-") and p.name.endswith(_LOCK_SUFFIX)]
    except OSError:
        return 0, 0
    for lock in locks:
        try:
            fd = os.open(lock, os.O_RDWR)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # held: its run is still going
            folder = lock.with_name(lock.name[: -len(_LOCK_SUFFIX)])
            if not folder.exists() and _age_s(fd) < _SETUP_GRACE_S:
                continue  # made this moment by a run about to lock it (spool_dir): not a dead run's
            freed += _size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            _unlink(lock)
            removed += 1
        finally:
            os.close(fd)
    return removed, freed


def _age_s(fd: int) -> float:
    """Seconds since the file open as ``fd`` was last modified."""
    return time.time() - os.fstat(fd).st_mtime


def sweep_temporary_spools(tmp: str | None = None) -> tuple[int, int]:
    """:func:`sweep_spool` over every default spool (``ferry-spool-*`` in the temporary folder), and
    remove those left empty. Returns (folders removed, bytes freed)."""
    removed = freed = 0
    root = Path(tmp or tempfile.gettempdir())
    try:
        parents = [p for p in root.iterdir() if p.name.startswith(TEMP_SPOOL_PREFIX) and p.is_dir()]
    except OSError:
        return 0, 0
    for parent in parents:
        n, size = sweep_spool(parent)
        removed, freed = removed + n, freed + size
        try:
            parent.rmdir()  # only if empty; a run that just made it makes it again (spool_dir)
        except OSError:
            pass
    return removed, freed


def _size(folder: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_size
            except OSError:
                pass
    return total


def digests_for(item: SourceItem, wanted: Iterable[str] = ()) -> tuple[str, ...]:
    """The digests a download of ``item`` computes: SHA-256 (what the target is checked by), the
    strongest one the source lists (what the bytes are checked by: a weaker one it also lists adds
    nothing once that matches), and ``wanted`` (what the format's publish sends, e.g. npm's SHA-1
    and SHA-512). Each costs a pass of CPU over the bytes, which tells on multi-GB assets."""
    strongest = next((algo for algo in ALGORITHMS if item.checksums.get(algo)), None)
    chosen = {"sha256", *wanted, *([strongest] if strongest else [])}
    return tuple(algo for algo in ALGORITHMS if algo in chosen)


def download(open_stream: Callable[[], requests.Response], item: SourceItem, folder: Path,
             should_stop: Callable[[], bool] = lambda: False, digests: Iterable[str] | None = None) -> Spooled:
    """Stream the item into ``folder`` while computing ``digests`` (by default all of MD5, SHA-1,
    SHA-256 and SHA-512; see :func:`digests_for`), then check those the source lists.

    Raises :class:`RetryableError` when the connection breaks or the body is cut short,
    :class:`ChecksumMismatch` when a digest or the size the source reported disagrees (or the body
    grows past that size or the asset size quota: nothing more is written then),
    :class:`ItemError` when the source no longer has the file it listed (404),
    :class:`FatalError` when the spool disk is full or unwritable, :class:`Interrupted` as soon as
    ``should_stop()`` turns true between chunks.
    """
    name = safe_asset_name(item.key.asset)
    if name is None:
        raise ItemError(f"asset name {item.key.asset!r} is not a plain file name; not writing it")
    path = folder / name
    hashers = {algo: hashlib.new(algo) for algo in (ALGORITHMS if digests is None else digests)}
    size = 0
    limit = min(item.size, max_asset_bytes()) if item.size is not None else max_asset_bytes()
    try:
        response = open_stream()
    except NotFound as err:
        raise ItemError(f"{err}{GONE_SINCE_LISTED}") from None
    try:
        with open(path, "wb") as out:
            for chunk in response.iter_content(CHUNK):
                if should_stop():
                    raise Interrupted(f"download of {item.key} stopped")
                size += len(chunk)
                if size > limit:
                    raise ChecksumMismatch(too_big(size)
                                           or f"source lists {item.size} bytes but sends more{CHANGED_OR_CORRUPT}")
                for h in hashers.values():
                    h.update(chunk)
                out.write(chunk)
    except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as err:
        raise RetryableError(f"download of {item.key} broke off: {type(err).__name__}") from None
    except OSError as err:
        full = spool_full(err, folder.parent)
        if full is not None:
            raise full from None
        raise
    finally:
        response.close()
    got = Checksums(**{algo: h.hexdigest() for algo, h in hashers.items()})
    if item.size is not None and item.size != size:
        raise ChecksumMismatch(f"source lists {item.size} bytes but sent {size}{CHANGED_OR_CORRUPT}")
    for algo in item.checksums:
        if algo in hashers and item.checksums[algo] != got[algo]:
            raise ChecksumMismatch(f"source says {algo} {item.checksums[algo]} but the bytes hash to {got[algo]}"
                                   f"{CHANGED_OR_CORRUPT}")
    return Spooled(path, size, got)


class Spool:
    """Where downloads land: one private folder per worker thread under ``parent``, made with its
    first item and reused for the next (each item's file is removed when the item is done), so an
    item costs a file, not a folder made and removed. :meth:`close` removes the folders; a process
    that dies first leaves them locked by nobody, for the next run's :func:`sweep_spool`."""

    def __init__(self, parent: Path):
        self.parent = parent
        self._local = threading.local()
        self._folders: list[tuple[Path, int | None]] = []
        self._lock = threading.Lock()

    def folder(self) -> Path:
        """The calling thread's folder. Raises :class:`FatalError` if it cannot be made."""
        folder = getattr(self._local, "folder", None)
        if folder is None:
            folder, fd = spool_dir(self.parent)
            self._local.folder = folder
            with self._lock:
                self._folders.append((folder, fd))
        return folder

    def discard(self, folder: Path, asset: str) -> None:
        """Remove what a download of ``asset`` left in ``folder`` (nothing, if it never started)."""
        name = safe_asset_name(asset)
        if name is not None:
            try:
                os.unlink(folder / name)
            except FileNotFoundError:
                pass

    def close(self) -> None:
        """Remove every thread's folder (with anything still in it) and its lock file."""
        with self._lock:
            folders, self._folders = self._folders, []
        for folder, fd in folders:
            shutil.rmtree(folder, ignore_errors=True)
            _unlink(folder.with_name(folder.name + _LOCK_SUFFIX))
            if fd is not None:
                os.close(fd)


def confirm_all(list_hashes: Callable[[], dict[str, str | None]], expected: dict[str, str],
                sleep: Callable[[float], None] = time.sleep) -> dict[str, str]:
    """Wait until the target shows each asset of ``expected`` (asset name -> SHA-256) with that hash.

    ``list_hashes`` lists the version once (asset name -> SHA-256 shown); it is asked again, after a
    growing pause, only while some asset is not shown yet (the service says reads may lag a publish).
    Returns why each asset that did not confirm did not: another hash shown, or not shown at all;
    an empty dict means every asset is confirmed. Errors of ``list_hashes`` propagate.
    """
    waiting = dict(expected)
    problems: dict[str, str] = {}
    for attempt in range(CONFIRM_ATTEMPTS):
        shown = list_hashes()
        for name, sha in list(waiting.items()):
            seen = shown.get(name)
            if seen == sha:
                del waiting[name]
            elif seen is not None:
                problems[name] = f"after publishing, the target shows sha256 {seen}, expected {sha}"
                del waiting[name]
        if not waiting:
            break
        if attempt + 1 < CONFIRM_ATTEMPTS:
            sleep(CONFIRM_DELAY * (attempt + 1))
    for name in waiting:
        problems[name] = "published, but the target does not show it yet; a rerun checks it again"
    return problems