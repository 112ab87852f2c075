"""``python -m ferry`` and the ``ferry`` console script.

The CLI is imported inside the guard: a Ctrl-C that lands while modules are still loading ends with
exit 130 and one line, like one during the run, not with a traceback.
"""

import sys


def main() -> None:
    try:
        from ferry.cli import main as cli_main
    except KeyboardInterrupt:
        print("ferry: interrupted", file=sys.stderr)
        sys.exit(130)
    cli_main()


if __name__ == "__main__":
    main()
