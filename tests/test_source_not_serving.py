"""A source whose first request (the repository list) kept failing through every retry: the line ferry ends with
says what to do about what happened. No answer at all (refused, timed out) may be a wrong ``[source] url``;
an answer that is an error (429, 5xx from the server or the proxy in front of it, a body that broke off) comes
from the right url, so the advice is to run again once the source serves again, not to go and change the url.
(A whole answer that is not JSON, a login page say, may still be the wrong url: that keeps its advice.)

Found by a fault soak (throttle=0.5,error5xx=0.3): every Nexus run that stopped at the repository list said
``source unreachable: Nexus /service/rest/v1/repositories: HTTP 503; check [source] url``.
"""

from __future__ import annotations

import io

import pytest
import requests

from ferry.errors import FatalError
from ferry.sources.artifactory import ArtifactorySource
from ferry.sources.nexus import NexusSource


class Answering(requests.Session):
    """Every request gets ``status`` with ``body``; or, with ``fails``, raises it (no answer at all)."""

    def __init__(self, status: int = 200, body: bytes = b"", fails: Exception | None = None):
        super().__init__()
        self.status, self.body, self.fails = status, body, fails

    def request(self, method, url, *args, **kwargs):
        if self.fails is not None:
            raise self.fails
        resp = requests.Response()
        resp.status_code, resp._content, resp.url = self.status, self.body, url
        resp.raw = io.BytesIO(self.body)  # as a real answer has: closing one closes its raw stream
        return resp


def _sources(session: requests.Session) -> list:
    return [NexusSource("http://nexus.example", session, "migrator", "pw"),
            ArtifactorySource("http://art.example/artifactory", session)]


@pytest.mark.parametrize("session", [Answering(503), Answering(502), Answering(429), Answering(500),
                                     Answering(fails=requests.exceptions.ChunkedEncodingError("broke off"))],
                         ids=["503", "502-from-a-proxy", "429", "500", "cut-short"])
def test_a_source_that_answers_with_errors_is_not_sent_to_check_its_url(session):
    for source in _sources(session):
        with pytest.raises(FatalError) as raised:
            source.repositories()
        line = str(raised.value)
        assert "check [source] url" not in line and "unreachable" not in line, line
        assert "kept failing through every retry" in line and "run the same command again" in line, line


@pytest.mark.parametrize("session", [Answering(fails=requests.ConnectionError("refused")),
                                     Answering(fails=requests.ConnectTimeout("no answer")),
                                     Answering(200, b"<html><body>Sign in</body></html>")],
                         ids=["refused", "timed-out", "a-page-not-json"])
def test_a_source_that_does_not_answer_is_unreachable_check_the_url(session):
    for source in _sources(session):
        with pytest.raises(FatalError, match=r"^source unreachable: .*; check \[source\] url$"):
            source.repositories()
