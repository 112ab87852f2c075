"""One error base for ferry, with the handling each error asks for.

The CLI maps these to exit codes; library code raises them and never calls ``sys.exit``.
Messages are one line, say what is wrong and what to do, and never carry a secret.
"""

from __future__ import annotations

import errno
from pathlib import Path

EXIT_OK = 0
EXIT_ITEMS_FAILED = 1
EXIT_USAGE = 2
EXIT_FATAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143  # 128 + SIGTERM: how a shell reports a process SIGTERM ended


class FerryError(Exception):
    """Base of every error ferry raises on purpose. ``exit_code`` says how the CLI ends."""

    exit_code = EXIT_FATAL


class UsageError(FerryError):
    """Bad command line, job file or other input the user can fix (exit 2)."""

    exit_code = EXIT_USAGE


class FatalError(FerryError):
    """The run cannot go on: a side unreachable, credentials refused (exit 3)."""

    exit_code = EXIT_FATAL


class ItemError(FerryError):
    """One item failed for good (corrupt source, conflict); the rest of the run goes on."""

    exit_code = EXIT_ITEMS_FAILED


class PublishConflict(ItemError):
    """The target refused a publish because it already holds the version (HTTP 409, ConflictException).

    Not by itself a verdict on the content: a publish whose answer was lost and that was sent again, or a
    copy that arrived since the plan, may hold the very bytes; the caller compares the target's SHA-256.
    """


class NotFound(ItemError):
    """The service answered 404 for this one thing (raised by :func:`ferry.http.raise_for_status`): what a
    download of a file that was listed but deleted or replaced since then runs into."""


class ListedTwice(ValueError):
    """A listing gave one key twice with different content (two source files mapping onto one CodeArtifact
    identity, or a target listing that is broken). Its own class so that other ValueErrors of a listing (a bug,
    an answer a library could not parse) are not reported as this."""


class RetryableError(FerryError):
    """A transient failure (throttling, 5xx, reset). ``retry_after`` is seconds the server asked for, if any."""

    exit_code = EXIT_FATAL

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


# Spool write errors that mean "this disk cannot take the file", not "this item is bad".
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO)


def spool_full(err: OSError, folder: Path | str) -> FatalError | None:
    """The error to raise for ``err``, a write into the spool ``folder`` that failed because the disk cannot take
    the file (full, over quota, file too large, read-only, failing); None for any other OSError."""
    if err.errno not in _DISK_ERRORS:
        return None
    return FatalError(f"spool folder {folder} cannot take more ({err.strerror}); free space or give another --spool")
