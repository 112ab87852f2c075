"""CodeArtifact stand-in store: state survives a restart, and data folders from before the
``entry_repo`` column are upgraded in place."""

from __future__ import annotations

import sqlite3

from ferry.sandbox.codeartifact.store import Store


def test_state_survives_reopen(tmp_path):
    store = Store(tmp_path)
    d = store.create_domain("us-east-1", "111122223333", "keep")
    repo = store.create_repository(d, "repo")
    store.publish_asset(repo, "generic", "ns", "pkg", "1.0", "a.bin", store.blobs.put_bytes(b"abc"))
    store.close()
    again = Store(tmp_path)
    d2 = again.domain("us-east-1", None, "keep")
    pkg = again.require_package(again.repository(d2, "repo"), "generic", "ns", "pkg")
    ver = again.version(pkg, "1.0")
    assert ver.entry_repo == "repo" and [a.name for a in again.assets(ver)] == ["a.bin"]
    assert [g.pattern for g in again.package_groups(d2)] == ["/*"]
    again.close()


def test_old_versions_table_gains_entry_repo(tmp_path):
    db = sqlite3.connect(tmp_path / "codeartifact.db")
    db.execute(
        "CREATE TABLE versions (id INTEGER PRIMARY KEY, package_id INTEGER NOT NULL, version TEXT NOT NULL,"
        " revision TEXT NOT NULL, status TEXT NOT NULL, published REAL NOT NULL, changed REAL NOT NULL,"
        " metadata TEXT NOT NULL DEFAULT '{}', origin_type TEXT NOT NULL DEFAULT 'INTERNAL',"
        " UNIQUE (package_id, version))")
    db.close()
    store = Store(tmp_path)
    d = store.create_domain("us-east-1", "111122223333", "old")
    repo = store.create_repository(d, "repo")
    ver = store.publish_asset(repo, "pypi", None, "x", "1", "x-1.tar.gz", store.blobs.put_bytes(b"x"))
    assert ver.entry_repo == "repo"
    store.close()
