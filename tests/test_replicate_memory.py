"""replicate plans a package of many versions a run of versions at a time, never holding every version's items."""

from __future__ import annotations

import hashlib
import tracemalloc

from ferry.config import load_job
from ferry.inventory import VERSIONS_AT_ONCE
from ferry.plan import Action
from ferry.replicators.repo_pass import RepoPass
from ferry.sources.codeartifact import CodeArtifactSource

VERSIONS = 2000


def _hashes(version: str) -> dict[str, str]:
    data = version.encode()
    return {"MD5": hashlib.md5(data).hexdigest(), "SHA-1": hashlib.sha1(data).hexdigest(),
            "SHA-256": hashlib.sha256(data).hexdigest(), "SHA-512": hashlib.sha512(data).hexdigest()}


class _Source:
    """A CodeArtifact source whose one generic package has one asset per version."""

    def version_files(self, repository, fmt, ns, name, version, revision, status):
        asset = {"name": "tool.bin", "size": 64, "hashes": _hashes(version)}
        yield CodeArtifactSource.file(None, repository, fmt, ns, name, version, asset, revision, status)


class _Target:
    """A target holding every version already, with the same asset."""

    def __init__(self, versions: list[str]):
        self._versions = versions

    def versions(self, repository, fmt, ns, name):
        return ({"version": v, "status": "Published"} for v in self._versions)

    def assets(self, repository, fmt, ns, name, version):
        return [{"name": "tool.bin", "size": 64, "hashes": _hashes(version)}]


class _Writer:
    def __init__(self):
        self.actions: dict[str, int] = {}

    def planned(self, entry, source, target):
        self.actions[entry.action.value] = self.actions.get(entry.action.value, 0) + 1


def test_a_package_of_many_versions_is_planned_a_run_of_versions_at_a_time(tmp_path):
    """2,000 versions of one package: every version's source and target items were held at once (peak
    4.5 MB traced); a run of VERSIONS_AT_ONCE (200) versions at a time, 0.9 MB."""
    job_file = tmp_path / "job.toml"
    job_file.write_text('[source]\nkind = "codeartifact"\ndomain = "src"\nregion = "us-east-1"\n\n'
                        '[target]\ndomain = "dst"\nregion = "us-east-1"\n\n'
                        '[[repositories]]\nsource = "tools"\ntarget = "tools"\n')
    job = load_job(job_file)
    names = [f"1.{i // 100}.{i % 100}" for i in range(VERSIONS)]
    versions = [{"version": v, "revision": f"rev-{v}", "status": "Published"} for v in names]
    repo_pass = RepoPass(job, job.repositories[0], _Source(), _Target(names), None, full=True, started="now")
    writer = _Writer()
    tracemalloc.start()
    try:
        repo_pass._plan_package(writer, "generic", "acme", "tool", versions, target_exists=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert writer.actions == {Action.SAME.value: VERSIONS}
    assert len(repo_pass.pending) == VERSIONS
    assert repo_pass.tally["versions whose assets were listed"] == VERSIONS
    assert VERSIONS_AT_ONCE * 5 <= VERSIONS
    assert peak < 1_500_000, f"peak {peak} bytes for {VERSIONS} versions"
