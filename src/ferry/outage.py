"""Telling a side that went down from items that fail one by one.

Each item has its own retries (the request layer's, then the item layer's), so when Nexus, Artifactory or
CodeArtifact stops answering mid-run, every remaining item would spend them and be failed in turn: hours for
a large job, ending in exit 1 and a report listing every item as failed. :class:`OutageWatch` counts the
items (and versions whose package reads failed) that gave up on a connection error, a timeout or a 5xx
answer, in a row, with nothing done between them; at :data:`OUTAGE_ITEMS` it stops the run with one line
(exit 3), and the same command resumes once the side is back (failed items are tried again).
"""

from __future__ import annotations

import threading

from ferry.errors import FatalError
from ferry.redact import redact
from ferry.retry import cause_of, failure_reason, is_retryable

# Several workers' items fail together in a short blip too, each after its full retries (about 30 s of
# waiting at the defaults): this many in a row, with none done in between, is a side that is down.
OUTAGE_ITEMS = 25
_OUTAGE_CAUSES = ("connection", "timeout", "5xx")


class OutageWatch:
    """Thread-safe count of outage-like failures in a row; :meth:`done` resets it, :meth:`failed` adds one."""

    def __init__(self, limit: int = OUTAGE_ITEMS):
        self.limit = limit
        self._in_a_row = 0
        self._lock = threading.Lock()

    def done(self) -> None:
        """An item (or version) got through: the sides answer."""
        with self._lock:
            self._in_a_row = 0

    def failed(self, err: BaseException) -> None:
        """An item (or version) gave up with ``err`` after its retries. Raises :class:`FatalError` when that
        makes :attr:`limit` in a row that failed on connections, timeouts or 5xx answers (throttling, refused
        credentials and bad files are not an outage, and leave the count as it is)."""
        if not is_retryable(err) or cause_of(err) not in _OUTAGE_CAUSES:
            return
        with self._lock:
            self._in_a_row += 1
            if self._in_a_row < self.limit:
                return
        raise FatalError(redact(f"{self.limit} items in a row gave up after every retry on {cause_of(err)} errors, "
                                f"none done in between (the last: {failure_reason(err)}); a side stopped answering: "
                                "check it, then run the same command again to resume"))
