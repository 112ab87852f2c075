"""The estimate counts what a rerun would publish: what is still pending and the files that failed to reach the
target (a rerun retries them), not conflicts, unmappable items, nor failures of files the target holds."""

from __future__ import annotations

import json

import pytest

from e2e_helpers import ferry, npm_job
from ferry.model import ItemKey, SourceItem, TargetItem
from ferry.plan import plan
from ferry.report import build_report, render_json, render_markdown, render_table
from ferry.state import LedgerReader, LedgerWriter


def sha(n: int) -> str:
    return f"{n:064x}"


def test_files_that_failed_to_reach_the_target_are_in_the_estimate(tmp_path):
    path = tmp_path / "ledger.db"
    items = [SourceItem(ItemKey("generic", "tools", f"t{i}", "1.0", "t.bin"), size=1000 * i,
                        checksums={"sha256": sha(i)}) for i in range(1, 7)]
    have = [TargetItem(items[3].key, 4000, sha(99))]  # t4: a conflict
    with LedgerWriter(path) as writer:
        run_id = writer.start_run("migrate", "job.toml")
        for e in plan(items, have):
            writer.planned(e, "raw", "generic-store")
        for item in items[:2]:  # t1, t2 copied; t2's version status could not be set afterwards
            writer.transition("generic-store", item.key, "confirmed", target_sha256=item.sha256)
        writer.transition("generic-store", items[1].key, "failed", reason="status Unlisted as in the source not set")
        writer.transition("generic-store", items[2].key, "failed", reason="HTTP 500", attempt=True)  # t3: retried
        writer.transition("generic-store", items[4].key, "failed", target_sha256=sha(55),  # t5: would conflict
                          reason="after publishing, the target shows sha256 55, expected 5")
        writer.transition("generic-store", items[5].key, "unmappable", reason="not a generic path")  # t6
        writer.end_run("items-failed")
    with LedgerReader(path) as reader:
        report = build_report(reader, run_id, rate=2.0)
    assert report.counts == {"confirmed": 1, "conflict": 1, "failed": 3, "unmappable": 1}
    table = render_table(report)
    (line,) = [line for line in table.splitlines() if line.startswith("estimate:")]
    assert line == "estimate: 1 file (2.9 KiB) to publish (1 failed, which a rerun retries), about 0s at 2 publishes/s"
    assert ("**Estimate:** 1 file to publish (1 failed, which a rerun retries), about 0s at 2 publishes/s"
            in render_markdown(report))
    assert json.loads(render_json(report))["estimate"] == {
        "publishes_per_second": 2.0, "pending_files": 0, "retried_files": 1, "files": 1, "seconds": 0.5}


@pytest.fixture
def job(sandbox, tmp_path, monkeypatch):
    return npm_job(sandbox, tmp_path, monkeypatch, "left-pad-acme", "right-pad-acme")


def test_after_a_migrate_with_failed_items_the_estimate_counts_what_the_rerun_publishes(job, tmp_path, monkeypatch,
                                                                                       capsys):
    """It said '0 files to publish' after a run whose failed file the rerun then published."""
    from ferry.engine import Engine

    real = Engine.origin_blocks

    def blocked(self, ctx, key):
        return "the origin controls could not be read" if key.package == "right-pad-acme" else real(self, ctx, key)

    monkeypatch.setattr(Engine, "origin_blocks", blocked)
    state = str(tmp_path / "acme.db")
    args = ("migrate", str(job), "--state", state, "--create-missing", "--no-progress")
    assert ferry(*args) == 1
    assert ferry("status", "--state", state) == 0
    for out in capsys.readouterr().out.split("Run 1 ")[1:]:  # the run's table, then status's
        (line,) = [line for line in out.splitlines() if line.startswith("estimate:")]
        assert line.startswith("estimate: 1 file (") and "(1 failed, which a rerun retries)" in line, line
    monkeypatch.setattr(Engine, "origin_blocks", real)
    assert ferry(*args) == 0
    assert "estimate: 0 files (0 B) to publish, about 0s" in capsys.readouterr().out
    with LedgerReader(state) as reader:
        assert reader.counts(reader.last_run().id) == {"confirmed": 1, "same": 1}  # the rerun published that one
