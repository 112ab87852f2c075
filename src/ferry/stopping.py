"""Stopping on SIGTERM as on Ctrl-C, from the first line of ferry's entry points on.

Kubernetes, AWS Batch and CI runners stop a job with SIGTERM, then SIGKILL after a grace period. Stopped the
way Ctrl-C stops it, a run records where it got to, writes its report and notes and leaves no spool behind,
instead of dying at once with nothing said. Standard library only (and ferry.errors): ``python -m ferry``
sets the handler before it imports the command line, so that a signal while that loads is handled too.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

from ferry.errors import EXIT_INTERRUPTED, EXIT_TERMINATED

_terminated: list[int] = []  # the SIGTERMs received so far (list.append: safe from the signal handler)


def _as_ctrl_c(signum: int, _frame: object) -> None:
    _terminated.append(signum)
    raise KeyboardInterrupt


def stop_on_sigterm_as_on_ctrl_c() -> None:
    """From now on a SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does."""
    signal.signal(signal.SIGTERM, _as_ctrl_c)


def terminated() -> bool:
    """Whether a SIGTERM (not a Ctrl-C) was what stopped the run."""
    return bool(_terminated)


def leave_interrupted() -> NoReturn:
    """Say the run was interrupted and exit at once, 143 after a SIGTERM, else 130: for a stop that lands
    where nothing has started or nothing is left to record. Not sys.exit: after an import it interrupted,
    CPython run with -m may still end the process by SIGINT (return code -2) whatever the code."""
    print("ferry: interrupted", file=sys.stderr)
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED if terminated() else EXIT_INTERRUPTED)
