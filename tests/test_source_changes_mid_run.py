"""A source in use changes while ferry migrates it (CI deploys, deletes, redeploys at 2 a.m.): what the
listing named may be gone by the time its files are downloaded. The target must not be left with a version
clients cannot use, unsaid."""

from __future__ import annotations

import requests

from e2e_helpers import ferry, maven_world
from ferry.sandbox.seed import maven_artifact
from ferry.sources.nexus import NexusSource

GROUP, ARTIFACT, VERSION = "com.acme.ferry", "greeter", "1.0.0"


def test_a_maven_version_deleted_in_the_source_mid_copy_is_not_left_unfinished_unsaid(sandbox, tmp_path,
                                                                                    monkeypatch, capsys):
    world = maven_world(sandbox, tmp_path, monkeypatch,
                        {(GROUP, ARTIFACT, VERSION): maven_artifact(GROUP, ARTIFACT, VERSION)})
    nexus = world["urls"]["nexus"]
    real = NexusSource.open_locator
    opened = []

    def delete_after_the_first_download(self, locator, label):
        response = real(self, locator, label)
        if not opened:
            # The version is deleted in the source once its first file is on its way: the rest are gone.
            listed = requests.get(f"{nexus}/service/rest/v1/search", auth=("admin", "admin123"),
                                  params={"repository": "maven-internal", "name": ARTIFACT}, timeout=30).json()
            for component in listed["items"]:
                requests.delete(f"{nexus}/service/rest/v1/components/{component['id']}", auth=("admin", "admin123"),
                                timeout=30).raise_for_status()
        opened.append(locator)
        return response

    monkeypatch.setattr(NexusSource, "open_locator", delete_after_the_first_download)
    state = tmp_path / "ferry.db"
    assert ferry("migrate", str(world["job"]), "--state", str(state), "--no-progress", "--workers", "1") == 1
    capsys.readouterr()
    (version,) = world["ca"].list_package_versions(domain="acme", repository="maven-store", format="maven",
                                                   namespace=GROUP, package=ARTIFACT)["versions"]
    assert version["status"] == "Unfinished"  # the jar made it, then the rest of the version was gone

    # The rerun lists nothing of the version in the source; the target's Unfinished version is no longer
    # passed over as the target's own (before: exit 0, 'only-in-target', nothing printed of it).
    assert ferry("migrate", str(world["job"]), "--state", str(state), "--no-progress", "--workers", "1") == 1
    out = capsys.readouterr().out
    (line,) = [line for line in out.splitlines() if "[conflict]" in line]
    assert line.startswith(f"  * maven:{GROUP}/{ARTIFACT}@{VERSION}/{ARTIFACT}-{VERSION}")
    assert line.endswith("[conflict] the target holds this file in an Unfinished version (clients cannot use it) "
                         "that the source does not list: deleted in the source after part of it was copied (or a "
                         "publish into the target still under way); delete the version in the target (aws "
                         "codeartifact delete-package-versions), or deploy it to the source again and rerun")
    assert ferry("verify", str(world["job"]), "--state", str(state)) == 1
    assert f"maven:{GROUP}/{ARTIFACT}@{VERSION}/" in capsys.readouterr().out
