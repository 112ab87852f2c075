"""Where a run's scratch files go: the ``--spool`` folder when one is given, else the system's temporary folder.

Besides downloads in flight, a run writes a few scratch files: a Nexus components page too large to parse
whole, an npm packument being rewritten to deprecate versions, the plan's indexes once they spill to
disk. Each is made with :mod:`tempfile` and gone when the run ends. Where
``/tmp`` is small (a container's memory-backed ``emptyDir``) and ``--spool`` names a large volume, they
belong on the volume too, so :func:`in_folder` points :mod:`tempfile` there for the length of a run.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

_system: str | None = None  # tempfile's folder before in_folder changed it


@contextmanager
def in_folder(folder: Path | None) -> Iterator[None]:
    """Make ``folder`` :mod:`tempfile`'s default folder until the block ends (None: leave it as it is).

    Process-wide: meant for a run, entered before its threads start and left after they end. Raises
    nothing of its own; the folder is checked beforehand (:func:`ferry.preflight.writable_folder`).
    """
    global _system
    if folder is None:
        yield
        return
    before, _system = tempfile.tempdir, tempfile.gettempdir()
    tempfile.tempdir = str(Path(folder).resolve())
    try:
        yield
    finally:
        tempfile.tempdir, _system = before, None


def system_folder() -> str:
    """The system's temporary folder, also while :func:`in_folder` points :mod:`tempfile` elsewhere (where
    default spools of earlier runs are looked for)."""
    return _system or tempfile.gettempdir()
