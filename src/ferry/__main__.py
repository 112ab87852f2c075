"""``python -m ferry`` and the ``ferry`` console script.

The CLI is imported inside the guard: a Ctrl-C that lands while modules are still loading ends with
exit 130 and one line, like one during the run, not with a traceback; a SIGTERM there (a Batch child or a
pod stopped just after it started) with exit 143 and the same line, not with return code -15 and nothing said.
"""

import os
import signal
import sys


def main() -> None:
    terminated: list[int] = []

    def stop_as_ctrl_c(signum, _frame) -> None:
        terminated.append(signum)
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop_as_ctrl_c)  # ferry.cli.main sets its own once the CLI is loaded
    try:
        from ferry.cli import main as cli_main
    except KeyboardInterrupt:
        print("ferry: interrupted", file=sys.stderr)
        sys.stderr.flush()
        # Not sys.exit: after an import it interrupted, CPython run with -m may still end the process by SIGINT
        # (return code -2) whatever the code. Nothing has started that exiting at once would leave undone.
        os._exit(143 if terminated else 130)
    cli_main()


if __name__ == "__main__":
    main()
