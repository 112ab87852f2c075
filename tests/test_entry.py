"""The entry points: a Ctrl-C while ferry is still starting is exit 130 with one line, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest


@pytest.mark.parametrize("stop_signal, exit_code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_during_start_up_is_exit_130_without_traceback(stop_signal, exit_code):
    """And SIGTERM (a Batch child or pod stopped just after it started) exit 143 with the same line: before,
    it ended ferry with return code -15 and nothing said while the CLI was still being imported."""
    # Delay the CLI import so the signal surely lands while modules are loading.
    code = ("import builtins, time\n"
            "real = builtins.__import__\n"
            "def slow(name, *a, **k):\n"
            "    if name == 'ferry.cli':\n"
            "        time.sleep(5)\n"
            "    return real(name, *a, **k)\n"
            "builtins.__import__ = slow\n"
            "from ferry.__main__ import main\n"
            "print('ready', flush=True)\n"
            "main()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, "--help"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ})
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    proc.send_signal(getattr(signal, stop_signal))
    _out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err.strip()) == (exit_code, "ferry: interrupted")


@pytest.mark.parametrize("stop_signal, code", [("SIGTERM", 143), ("SIGINT", 130)])
def test_a_stop_while_the_command_line_loads_what_it_needs_is_one_line_without_traceback(stop_signal, code):
    """SIGTERM (a Batch child or pod stopped) or Ctrl-C after the SIGTERM handler is set but before the command
    runs, while run_app loads ferry.redact: the KeyboardInterrupt escaped, Python printed its traceback and
    killed itself with SIGINT (return code -2; the scale-out soak stopped a shard 1.6 s after its start)."""
    code_text = ("import builtins, sys, time\n"
                 "real = builtins.__import__\n"
                 "def slow(name, globals=None, locals=None, fromlist=(), level=0):\n"
                 "    if name == 'ferry' and 'redact' in (fromlist or ()) and 'ferry.redact' not in sys.modules:\n"
                 "        print('loading', flush=True)\n"
                 "        time.sleep(5)\n"
                 "    return real(name, globals, locals, fromlist, level)\n"
                 "builtins.__import__ = slow\n"
                 "sys.argv[1:] = ['--help']\n"
                 "from ferry.__main__ import main\n"
                 "main()\n")
    proc = subprocess.Popen([sys.executable, "-c", code_text], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ})
    assert proc.stdout.readline().strip() == "loading"
    proc.send_signal(getattr(signal, stop_signal))
    _out, err = proc.communicate(timeout=30)
    assert (proc.returncode, err.strip()) == (code, "ferry: interrupted")


def test_another_ctrl_c_while_threads_finish_at_exit_leaves_at_once_without_traceback():
    """After the run is recorded as interrupted, Python waits at exit for threads still in a request (a
    dist-tags pass): one more Ctrl-C there ends the process at once, exit 130, with no interpreter traceback."""
    code = ("import threading, time\n"
            "import ferry.cli, ferry.cli._state as state\n"
            "def interrupted(app, argv=None):\n"
            "    threading.Thread(target=time.sleep, args=(60,)).start()  # not a daemon: waited for at exit\n"
            "    print('recorded', flush=True)\n"
            "    return 130\n"
            "state.run_app = interrupted\n"
            "ferry.cli.main()\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ})
    assert proc.stdout.readline().strip() == "recorded"
    time.sleep(0.5)  # main() has returned its code and Python waits for the thread
    began = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert time.monotonic() - began < 10  # not after the thread's minute
    assert "Traceback" not in err and "Exception ignored" not in err, err


def test_debug_after_the_command_is_taken_as_the_error_lines_advise(tmp_path, capsys):
    """Errors end "rerun with --debug": an operator appends it to the command that failed, and gets the
    traceback, not "No such option: --debug"."""
    from ferry.cli import app
    from ferry.cli._state import run_app

    job = tmp_path / "job.toml"
    job.write_text("[source]\nkind = 'nexus'\n")
    assert run_app(app, ["migrate", str(job), "--state", str(tmp_path / "ferry.db"), "--debug"]) == 2
    err = capsys.readouterr().err
    assert "No such option" not in err
    assert "Traceback (most recent call last)" in err and err.strip().splitlines()[-1].startswith("ferry: error: ")


def _commands(group, prefix=()):
    import click

    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from _commands(command, (*prefix, name))
        else:
            yield (*prefix, name), command


def test_help_shows_flags_bare_and_names_what_each_option_takes(monkeypatch, capsys):
    """Every command's --help: a flag shows no value ("--dry-run", not "--dry-run <bool>", which reads as
    if it took one), and an option that takes a value names it (FILE, N, GLOB...), not a Python type."""
    import typer.main

    from e2e_helpers import ferry
    from ferry.cli import app

    monkeypatch.setenv("COLUMNS", "300")  # one line per option
    for path, command in _commands(typer.main.get_command(app)):
        assert ferry(*path, "--help") == 0, path
        out = capsys.readouterr().out
        lines = out[out.index("\nOptions:\n"):].splitlines()
        for param in command.params:
            if not param.opts[0].startswith("--"):
                continue
            names = set(param.opts + param.secondary_opts)
            (line,) = [ln for ln in lines if ln.split() and ln.split()[0].rstrip(",") in names]
            shown = line.strip().split("  ")[0]  # the option column
            if getattr(param, "is_flag", False):
                assert "<" not in shown and " " not in shown.replace(" / ", "/"), (path, shown)
            else:
                value = shown.split()[-1]
                assert value.upper() == value or "|" in value, (path, shown)  # FILE, I/N, skip|timestamped


def test_a_stop_while_click_reads_the_arguments_is_said(tmp_path, monkeypatch, capsys):
    """A SIGTERM or Ctrl-C while click still converts the arguments, before the command's own handling: typer
    turns the KeyboardInterrupt into Exit(130) and says nothing, so ferry exited 143 (130) with an empty stderr
    (12 of 72 SIGTERMs sent 0.1-1.5 s after start on a loaded machine)."""
    from typer import _click  # typer's own copy of click, which parses ferry's command line

    from ferry.cli import app
    from ferry.cli._state import INTERRUPTED, run_app

    def stopped(self, ctx, args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_click.core.Command, "parse_args", stopped)
    assert run_app(app, ["migrate", str(tmp_path / "job.toml")]) == 130
    assert capsys.readouterr().err.strip().splitlines() == [INTERRUPTED]
    assert list(tmp_path.iterdir()) == []
