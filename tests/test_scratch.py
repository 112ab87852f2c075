"""A run's scratch files go to --spool when one is given (a small /tmp must not fill), and only for the run."""

from __future__ import annotations

import sys
import tempfile

from e2e_helpers import ferry, npm_job
from test_spool import _die_holding_a_folder

from ferry import scratch
from ferry.sources import nexus
from ferry.transfer import TEMP_SPOOL_PREFIX


def test_in_folder_points_tempfile_there_for_the_block_only(tmp_path):
    before = tempfile.gettempdir()
    with scratch.in_folder(tmp_path):
        with tempfile.NamedTemporaryFile() as made:
            assert made.name.startswith(str(tmp_path.resolve()) + "/")
    assert tempfile.gettempdir() == before
    with scratch.in_folder(None):
        assert tempfile.gettempdir() == before


def _folders_of_spooled_pages(sandbox, tmp_path, monkeypatch, *spool_args: str) -> list[str]:
    """Run a migrate whose every Nexus components page is spooled; the temporary folder of each spooling."""
    job = npm_job(sandbox, tmp_path, monkeypatch, "left-pad", "@acme/util")
    monkeypatch.setattr(nexus, "WHOLE_PAGE_BYTES", 16)  # every page is "large": spooled, then streamed
    seen: list[str] = []
    real = tempfile.TemporaryFile

    def spy(*args, **kwargs):
        if sys._getframe(1).f_globals["__name__"] == nexus.__name__:  # not the preflight's checks
            seen.append(kwargs.get("dir") or tempfile.gettempdir())
        return real(*args, **kwargs)

    monkeypatch.setattr(tempfile, "TemporaryFile", spy)
    code = ferry("migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress", "--create-missing", *spool_args)
    assert code == 0
    return seen


def test_a_large_nexus_page_is_spooled_in_the_spool_folder_given(sandbox, tmp_path, monkeypatch):
    spool = tmp_path / "big-volume"
    spool.mkdir()
    seen = _folders_of_spooled_pages(sandbox, tmp_path, monkeypatch, "--spool", str(spool))
    assert seen and set(seen) == {str(spool.resolve())}
    assert tempfile.gettempdir() != str(spool.resolve())  # the run is over: tempfile's own folder again


def test_without_a_spool_the_system_temporary_folder_holds_them(sandbox, tmp_path, monkeypatch):
    seen = _folders_of_spooled_pages(sandbox, tmp_path, monkeypatch)
    assert seen and set(seen) == {tempfile.gettempdir()}


def test_a_run_with_a_spool_still_sweeps_dead_runs_default_spools(sandbox, tmp_path, monkeypatch):
    """The default spools of runs that died are in the system's temporary folder, not in --spool."""
    system = tmp_path / "system-tmp"
    dead = _die_holding_a_folder(system / f"{TEMP_SPOOL_PREFIX}dead")
    monkeypatch.setattr(tempfile, "tempdir", str(system))
    job = npm_job(sandbox, tmp_path, monkeypatch, "left-pad")
    spool = tmp_path / "big-volume"
    spool.mkdir()
    assert ferry("migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress", "--create-missing",
                 "--spool", str(spool)) == 0
    assert not dead.exists() and not dead.parent.exists()
    assert tempfile.gettempdir() == str(system)
