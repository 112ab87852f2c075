"""ferry's command line: thin Typer commands over the library.

Each command parses its arguments, calls the library and turns :class:`ferry.errors.FerryError`
into a one-line message and an exit code. No logic lives here.
"""

from __future__ import annotations

import os
import signal
import sys

import typer

from ferry.cli import jobs as jobs_cli
from ferry.cli import replicate as replicate_cli
from ferry.cli import sandbox as sandbox_cli
from ferry.errors import EXIT_INTERRUPTED, EXIT_TERMINATED
from ferry.stopping import leave_interrupted, stop_on_sigterm_as_on_ctrl_c, terminated

app = typer.Typer(
    name="ferry",
    help="Move software packages into AWS CodeArtifact exactly, once, and verifiably.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    # Plain help (click's layout): the rich one shows a type for every flag ("--dry-run <bool>"), which
    # reads as if the flag took a value.
    rich_markup_mode=None,
)
app.add_typer(sandbox_cli.app, name="sandbox")
jobs_cli.register(app)
replicate_cli.register(app)


@app.callback()
def _root(
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    from ferry.cli import _state

    _state.DEBUG = debug


def main() -> None:
    """Entry point of the ``ferry`` console script."""
    stop_on_sigterm_as_on_ctrl_c()
    try:
        from ferry.cli._state import run_app

        code = run_app(app)
    except KeyboardInterrupt:
        # It landed outside the command's own handling: while the modules run_app needs were still loading,
        # or as it put the output back after the command. Nothing is left there to record or report.
        leave_interrupted()
    if code == EXIT_INTERRUPTED:
        # The run is recorded as interrupted; Python still waits at exit for threads finishing a request
        # (a dist-tags pass, a listing). One more Ctrl-C (or SIGTERM) there leaves at once, as the operator
        # asks, instead of printing the interpreter's traceback: what those threads leave, the next run redoes.
        signal.signal(signal.SIGINT, _leave_now)
        signal.signal(signal.SIGTERM, _leave_now)
        if terminated():
            code = EXIT_TERMINATED
    sys.exit(code)


def _leave_now(signum, _frame) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(EXIT_TERMINATED if signum == signal.SIGTERM else EXIT_INTERRUPTED)
