"""The spool: one folder per worker thread, reused for its items; nothing left once closed."""

from __future__ import annotations

import threading

import pytest

from ferry.errors import FatalError
from ferry.transfer import Spool


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
