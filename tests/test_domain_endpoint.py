"""A repository endpoint is asked for once, however many workers want it at the same moment."""

from __future__ import annotations

import threading

import boto3

from e2e_helpers import codeartifact
from ferry.codeartifact import Domain


def test_workers_starting_together_ask_for_an_endpoint_once(sandbox):
    url = sandbox.urls()["codeartifact"]
    ca = codeartifact(url)
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="npm-store")
    session = boto3.session.Session(aws_access_key_id="AKIAFERRYTEST", aws_secret_access_key="secret",
                                    region_name="us-east-1")
    domain = Domain("acme", region="us-east-1", endpoint_url=url, session=session)
    start = threading.Barrier(8)
    got: list[str] = []

    def worker() -> None:
        start.wait()
        got.append(domain.endpoint("npm-store", "npm"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = ca.get_repository_endpoint(domain="acme", repository="npm-store", format="npm")["repositoryEndpoint"]
    assert got == [expected.rstrip("/") + "/"] * 8
    assert domain.request_counts().get("GetRepositoryEndpoint") == 1
