"""Process-wide CLI settings and the one top-level error handler."""

from __future__ import annotations

import sys
import traceback

import click
import typer

from ferry.errors import EXIT_INTERRUPTED, EXIT_USAGE, FerryError

DEBUG = False


def run_app(app: typer.Typer, argv: list[str] | None = None) -> int:
    """Run the Typer app and return the exit code, printing one line for any FerryError."""
    try:
        # With standalone_mode=False click returns the code of typer.Exit instead of raising it.
        code = app(args=argv, standalone_mode=False)
    except FerryError as err:
        if DEBUG:
            traceback.print_exc()
        print(f"ferry: error: {err}", file=sys.stderr)
        return err.exit_code
    except click.exceptions.Exit as err:
        return err.exit_code
    except click.exceptions.Abort:
        return EXIT_INTERRUPTED
    except click.ClickException as err:
        err.show()
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("ferry: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return code if isinstance(code, int) else 0
