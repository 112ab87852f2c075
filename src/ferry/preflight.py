"""Checks of the paths a command will write (ledger, spool, report), made before anything is contacted
or created: a path ferry cannot use is bad input (exit 2, nothing half-done), not a failure found
after the target's domain was created or the whole migration ran.

Each check raises :class:`~ferry.errors.UsageError` naming the flag, the path and what to do. They
create nothing: a missing folder is fine when the nearest folder that exists above it is writable.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from ferry.errors import UsageError


def _nearest_existing(path: Path) -> Path:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return probe


def _check_can_create_in(folder: Path, flag: str, path: Path) -> None:
    """``folder`` exists already or can be made: its nearest existing ancestor is a writable folder."""
    base = _nearest_existing(folder)
    if not base.is_dir():
        raise UsageError(f"{flag} {path}: {base} is a file, not a folder; choose another path")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in {base} (permission denied); choose another path")
    # The permission bits do not tell everything (root passes them even on /proc or a full or read-only
    # mount): a nameless scratch file, gone when closed, shows the folder takes files.
    try:
        tempfile.TemporaryFile(dir=base).close()
    except OSError as err:
        reason = (err.strerror or type(err).__name__).lower()
        raise UsageError(f"{flag} {path}: cannot write in {base} ({reason}); choose another path") from None


def writable_file(path: Path, flag: str) -> None:
    """``path`` is a file ferry can create or overwrite: where it is a symlink to a file (not a pipe or a
    device), the folder it points into takes files too. Raises :class:`UsageError` if not."""
    if path.is_dir():
        raise UsageError(f"{flag} {path}: is a folder; name a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise UsageError(f"{flag} {path}: not writable (permission denied); choose another path")
    _check_can_create_in(path.parent, flag, path)
    try:
        real = path.resolve()
    except RuntimeError:  # a symlink loop (Python before 3.13 raises this, not OSError)
        raise UsageError(f"{flag} {path}: is a symlink loop; name a file") from None
    if real.parent != path.parent.resolve() and (real.is_file() or not real.exists()):
        # A file is written where its link points, with files beside it there (a report's scratch copy that then
        # replaces it, a ledger's -wal): a folder that takes none failed only once the run was over. A pipe or a
        # device (/dev/null) is written into: its folder does not matter.
        _check_can_create_in(real.parent, flag, path)


def writable_folder(path: Path, flag: str) -> None:
    """``path`` is a folder ferry can create or write in. Raises :class:`UsageError` if not."""
    if path.exists() and not path.is_dir():
        raise UsageError(f"{flag} {path}: is a file, not a folder; name a folder")
    _check_can_create_in(path, flag, path)


def report_file(path: Path, flag: str) -> None:
    """``path`` names a report format ferry writes (by its extension) and can be written.

    Raises :class:`UsageError` if not.
    """
    from ferry.report import report_kind

    report_kind(path, flag)
    writable_file(path, flag)
