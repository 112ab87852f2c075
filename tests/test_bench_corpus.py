"""bench/corpus.py keeps working: what it seeds straight into the Nexus store is what the stand-in then serves."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import requests

from ferry.sandbox.server import Sandbox, SandboxOptions

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import corpus  # noqa: E402


def test_seeded_corpus_is_served_by_the_nexus_stand_in(tmp_path):
    stats = corpus.seed(tmp_path / "nexus", 40)
    assert stats.versions == 40 and sum(v["versions"] for v in stats.by_format.values()) == 40
    with Sandbox(SandboxOptions(data=tmp_path)) as sandbox:
        nexus = sandbox.urls()["nexus"]
        for fmt, _share in corpus.SHARES:
            repo = corpus.repo_name("bench", fmt)
            token, files = None, 0
            while True:
                params = {"repository": repo, **({"continuationToken": token} if token else {})}
                page = requests.get(f"{nexus}/service/rest/v1/components", params=params, auth=("admin", "admin123"),
                                    timeout=30).json()
                for component in page["items"]:
                    for asset in component["assets"]:
                        name = asset["path"].rsplit("/", 1)[-1]
                        if not name.endswith((".md5", ".sha1", ".sha256", ".sha512")) \
                                and not name.startswith("maven-metadata"):
                            files += 1
                token = page.get("continuationToken")
                if not token:
                    break
            assert files == stats.by_format[fmt]["files"], fmt
        # an npm tarball downloads with the digest the listing reports
        page = requests.get(f"{nexus}/service/rest/v1/components", params={"repository": "bench-npm"},
                            auth=("admin", "admin123"), timeout=30).json()
        asset = page["items"][0]["assets"][0]
        body = requests.get(asset["downloadUrl"], auth=("admin", "admin123"), timeout=30).content
        assert hashlib.sha256(body).hexdigest() == asset["checksum"]["sha256"]
