"""ferry.outage.OutageWatch: which failures tell a side that went down, as docs/reliability.md says."""

from __future__ import annotations

import pytest

from ferry.errors import FatalError, ItemError, RetryableError
from ferry.outage import OutageWatch


def test_connection_timeout_and_5xx_failures_in_a_row_stop_the_run_at_the_limit():
    watch = OutageWatch(limit=3)
    watch.failed(RetryableError("Nexus /repository/raw/a: ConnectionError"))
    watch.failed(RetryableError("download of x: ReadTimeout"))
    with pytest.raises(FatalError, match=r"^3 items in a row gave up after every retry on 5xx errors"):
        watch.failed(RetryableError("Nexus /repository/raw/c: HTTP 503"))


def test_an_item_done_in_between_starts_the_count_again():
    watch = OutageWatch(limit=3)
    for _ in range(5):
        watch.failed(RetryableError("HTTP 503"))
        watch.failed(RetryableError("HTTP 502"))
        watch.done()


@pytest.mark.parametrize("err", [
    RetryableError("CodeArtifact publish: HTTP 429 ThrottlingException"),  # throttling: the side answers
    FatalError("Nexus refused the credentials (HTTP 401)"),  # not retryable: stops the run on its own
    ItemError("source says sha256 a but the bytes hash to b"),  # a bad file, not a down side
])
def test_throttling_refused_credentials_and_bad_files_are_not_an_outage(err):
    watch = OutageWatch(limit=2)
    for _ in range(10):
        watch.failed(err)
    watch.failed(RetryableError("HTTP 503"))  # and they leave the count where it was: one, under the limit
