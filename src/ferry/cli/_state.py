"""Process-wide CLI settings and the one top-level error handler."""

from __future__ import annotations

import logging
import sys

import click
import typer

from ferry.errors import EXIT_FATAL, EXIT_INTERRUPTED, EXIT_USAGE, FerryError, RetryableError

DEBUG = False
INTERRUPTED = "ferry: interrupted; run the same command again to resume"
_told_interrupted = False  # whether this command line's run has said INTERRUPTED already


def tell_interrupted() -> None:
    """Say on stderr that the run was interrupted (Ctrl-C, SIGTERM); once per command line."""
    global _told_interrupted
    _told_interrupted = True
    print(INTERRUPTED, file=sys.stderr)


def _click_base(cls: type, name: str) -> type:
    return next(c for c in cls.__mro__ if c.__name__ == name)


# Newer typer releases carry their own copy of click, whose exceptions are not click's: catch both.
_EXITS = (click.exceptions.Exit, typer.Exit)
_ABORTS = (click.exceptions.Abort, typer.Abort, KeyboardInterrupt)
_USAGE_ERRORS = (click.ClickException, _click_base(typer.BadParameter, "ClickException"))


def run_app(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run the Typer app and return the exit code, printing one line for any error.

    Every line is redacted (:mod:`ferry.redact`): the error lines here, and, as a second net, all
    that the command writes to stdout and stderr. ``--debug`` adds the (redacted) traceback and debug
    logs of ferry and its libraries on stderr.
    """
    from ferry import redact

    redact.install()
    with redact.redacted_output():
        return _run(app, argv)


def _run(app: typer.Typer, argv: list[str] | None) -> int:
    from ferry import redact

    args = list(sys.argv[1:] if argv is None else argv)
    end = args.index("--") if "--" in args else len(args)
    handler = None
    if "--debug" in args[:end]:
        handler = _debug_logging()
        # The error lines say "rerun with --debug", and an operator appends it to the command: it is the
        # root's option, so it goes before the command wherever it was written.
        args = ["--debug", *(a for a in args[:end] if a != "--debug"), *args[end:]]
    global _told_interrupted
    _told_interrupted = False
    try:
        # With standalone_mode=False click returns the code of typer.Exit instead of raising it.
        code = app(args=args, standalone_mode=False)
        if code == EXIT_INTERRUPTED and not _told_interrupted:
            # typer's answer to a Ctrl-C or SIGTERM while click still read the arguments, before the command's
            # own handling: Exit(130), with nothing said
            tell_interrupted()
    except FerryError as err:
        _traceback(err)
        print(redact.redact(f"ferry: error: {_with_advice(err)}"), file=sys.stderr)
        return err.exit_code
    except _EXITS as err:
        return err.exit_code
    except _ABORTS:
        tell_interrupted()
        return EXIT_INTERRUPTED
    except _USAGE_ERRORS as err:  # the command line itself: unknown option, missing argument, bad value
        err.show()
        return EXIT_USAGE
    except Exception as err:  # noqa: BLE001 - a bug or an unforeseen failure: one line, traceback with --debug
        _traceback(err)
        message = str(err).splitlines()[0] if str(err) else ""
        print(redact.redact(f"ferry: error: unexpected {type(err).__name__}: {message}; rerun with --debug for "
                            "the details and report it"), file=sys.stderr)
        return EXIT_FATAL
    finally:
        if handler is not None:
            root = logging.getLogger()
            root.removeHandler(handler)
            root.setLevel(handler.previous_level)
    return code if isinstance(code, int) else 0


def _with_advice(err: FerryError) -> str:
    """The error's message, saying what to do when it does not: a transient failure that outlasted every
    retry (a side that kept throttling, failing or cutting answers short) is cured by running again."""
    text = str(err)
    if isinstance(err, RetryableError) and "; " not in text:
        text += "; it kept failing through every retry: run the same command again to resume"
    return text


def _traceback(err: BaseException) -> None:
    if DEBUG:
        from ferry.redact import format_exception

        print(format_exception(err), file=sys.stderr, end="")


def _debug_logging() -> logging.Handler:
    """Debug logs of every library on the current stderr (records are redacted by ferry.redact.install)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    handler.previous_level = root.level  # restored when the command ends (in-process runs, tests)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    return handler
