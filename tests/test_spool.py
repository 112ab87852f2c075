"""The spool: one folder per worker thread, reused for its items; nothing left once closed, and what
a run that died left is removed by the next one."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ferry.errors import FatalError
from ferry.transfer import Spool, sweep_spool, sweep_temporary_spools


def test_each_thread_reuses_its_own_folder_and_close_removes_them_all(tmp_path):
    spool = Spool(tmp_path / "spool")
    mine = spool.folder()
    assert spool.folder() == mine
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(spool.folder()))
    worker.start()
    worker.join()
    assert theirs[0] != mine and theirs[0].parent == mine.parent == tmp_path / "spool"

    (mine / "a.tgz").write_bytes(b"x")
    spool.discard(mine, "a.tgz")
    spool.discard(mine, "never-written.whl")  # a download that never started left nothing to remove
    assert list(mine.iterdir()) == []

    (theirs[0] / "left.bin").write_bytes(b"y")  # what an interrupted item left behind goes with close()
    spool.close()
    assert list((tmp_path / "spool").iterdir()) == []


def test_discard_never_touches_a_path_outside_the_folder(tmp_path):
    spool = Spool(tmp_path / "spool")
    folder = spool.folder()
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    spool.discard(folder, "../keep.txt")
    assert outside.read_text() == "keep"


def test_an_unusable_spool_parent_is_fatal(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(FatalError, match="give a writable --spool"):
        Spool(blocker / "spool").folder()


def _die_holding_a_folder(parent: Path) -> Path:
    """A child process takes a spool folder, writes 1000 bytes in it and dies without closing the spool."""
    code = ("import os, sys; from pathlib import Path; from ferry.transfer import Spool; "
            "f = Spool(Path(sys.argv[1])).folder(); (f / 'big.bin').write_bytes(b'x' * 1000); "
            "print(f, flush=True); os._exit(9)")
    out = subprocess.run([sys.executable, "-c", code, str(parent)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 9, out.stderr
    folder = Path(out.stdout.strip())
    assert (folder / "big.bin").stat().st_size == 1000
    return folder


def test_a_sweep_removes_what_a_dead_run_left_and_nothing_a_live_run_holds(tmp_path):
    parent = tmp_path / "spool"
    stale = _die_holding_a_folder(parent)
    live = Spool(parent)
    mine = live.folder()
    (mine / "a.bin").write_bytes(b"y")
    old = parent / "item-olderferry"  # made before folders had lock files: left alone
    old.mkdir()
    (old / "x.bin").write_bytes(b"z")

    assert sweep_spool(parent) == (1, 1000)
    assert not stale.exists() and not (parent / f"{stale.name}.lock").exists()
    assert (mine / "a.bin").read_bytes() == b"y" and (old / "x.bin").exists()
    assert sweep_spool(parent) == (0, 0)

    live.close()
    assert sorted(p.name for p in parent.iterdir()) == ["item-olderferry"]


def test_default_spools_of_dead_runs_go_whole_and_live_ones_stay(tmp_path):
    tmp = tmp_path / "tmp"
    dead = tmp / "ferry-spool-dead"
    _die_holding_a_folder(dead)
    _die_holding_a_folder(dead)
    live_parent = tmp / "ferry-spool-live"
    live = Spool(live_parent)
    live.folder()
    unrelated = tmp / "someone-else"
    unrelated.mkdir()

    assert sweep_temporary_spools(str(tmp)) == (2, 2000)
    assert not dead.exists() and unrelated.exists() and len(list(live_parent.iterdir())) == 2  # folder + lock
    live.close()


def test_a_sweep_leaves_a_lock_file_made_this_moment_whose_folder_is_not_made_yet(tmp_path):
    """Between making its lock file and locking it, a run's worker is open to another run's sweep (parallel
    shards on one machine): the sweep must not take the fresh file for a dead run's, nor hold it long."""
    parent = tmp_path / "spool"
    parent.mkdir()
    fresh = parent / "item-justmade.lock"
    fresh.write_bytes(b"")
    assert sweep_spool(parent) == (0, 0)
    assert fresh.exists()
    old = parent / "item-leftover.lock"  # a run that died between the two, long ago
    old.write_bytes(b"")
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    assert sweep_spool(parent) == (1, 0)
    assert fresh.exists() and not old.exists()


@pytest.mark.parametrize("race", ["locked-by-a-sweep", "parent-removed-by-a-sweep"])
def test_a_worker_meeting_another_runs_sweep_tries_again(tmp_path, monkeypatch, race):
    """What another run's sweep does for a moment (hold the new lock file while looking at it, remove the empty
    parent) is not this run's failure: it was FatalError, ending a shard's whole run."""
    import errno

    import ferry.transfer as transfer

    calls = []
    if race == "locked-by-a-sweep":
        real = transfer.fcntl.flock

        def flock(fd, op):
            calls.append(op)
            if len(calls) == 1:
                raise BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable")
            return real(fd, op)

        monkeypatch.setattr(transfer.fcntl, "flock", flock)
    else:
        real_mkdir = Path.mkdir

        def mkdir(self, *args, **kwargs):
            calls.append(self)
            if len(calls) == 1:
                raise FileExistsError(errno.EEXIST, "File exists")
            return real_mkdir(self, *args, **kwargs)

        monkeypatch.setattr(Path, "mkdir", mkdir)
    spool = Spool(tmp_path / "spool")
    folder = spool.folder()
    assert folder.is_dir() and len(calls) >= 2
    spool.close()
