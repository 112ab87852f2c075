"""A repository endpoint is asked for once, however many workers want it at the same moment."""

from __future__ import annotations

import threading


from e2e_helpers import target_domain


def test_workers_starting_together_ask_for_an_endpoint_once(sandbox):
    url = sandbox.urls()["codeartifact"]
    ca, domain = target_domain(url, "npm-store")
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
