"""``python -m ferry`` and the ``ferry`` console script.

The CLI is imported inside the guard: a Ctrl-C that lands while modules are still loading ends with
exit 130 and one line, like one during the run, not with a traceback; a SIGTERM there (a Batch child or a
pod stopped just after it started) with exit 143 and the same line, not with return code -15 and nothing said.
"""

from ferry.stopping import leave_interrupted, stop_on_sigterm_as_on_ctrl_c


def main() -> None:
    stop_on_sigterm_as_on_ctrl_c()  # before the CLI is imported: a stop while it loads is said too
    try:
        from ferry.cli import main as cli_main
    except KeyboardInterrupt:
        leave_interrupted()  # nothing has started that exiting at once would leave undone
    cli_main()


if __name__ == "__main__":
    main()
