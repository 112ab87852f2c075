"""Regenerate the figures in docs/reliability.md: ``.venv/bin/python bench/reliability.py``.

Three sections between ``<!-- generated:NAME -->`` and ``<!-- /generated:NAME -->`` markers are rewritten;
the prose around them is left alone:

- ``matrix``: the fault matrix, from ``tests/test_fault_matrix.py`` (``matrix_figures``, ``figures_table``);
- ``crash``: the kill -9 scenario of ``tests/test_crash_resume.py`` (``kill_and_resume``), which asserts its
  promises while it runs, so figures are only written for a run that kept them;
- ``bad-input``: every case ``pytest`` collects from ``tests/test_bad_input.py``, with the exit code and the
  messages each one asserts (read from the test's own source and parameters).

``--only matrix,crash,bad-input`` regenerates some of them. Takes about a minute and a half.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
DOC = ROOT / "docs" / "reliability.md"
SECTIONS = ("matrix", "crash", "bad-input")


def markers(name: str) -> tuple[str, str]:
    """Returns the opening and closing marker comments of the generated section ``name``."""
    return f"<!-- generated:{name} -->", f"<!-- /generated:{name} -->"


def section(text: str, name: str) -> str:
    """Returns the body between the markers of ``name`` in ``text``; raises KeyError if they are missing."""
    start, end = markers(name)
    if start not in text or end not in text:
        raise KeyError(f"docs/reliability.md has no {start} … {end} section")
    return text.split(start, 1)[1].split(end, 1)[0].strip("\n")


def replace_section(text: str, name: str, body: str) -> str:
    """Returns ``text`` with the section ``name`` replaced by ``body``; raises KeyError if it is missing."""
    section(text, name)
    start, end = markers(name)
    head, rest = text.split(start, 1)
    tail = rest.split(end, 1)[1]
    return f"{head}{start}\n{body.strip()}\n{end}{tail}"


def _tests_module(name: str):
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    return importlib.import_module(name)


# -- the fault matrix -------------------------------------------------------------------------------


def matrix_section() -> str:
    """Runs every fault-matrix scenario; returns the markdown table."""
    matrix = _tests_module("test_fault_matrix")
    return matrix.figures_table(matrix.matrix_figures())


# -- kill -9 ------------------------------------------------------------------------------------------


def crash_section() -> str:
    """Runs the kill -9 scenario in a fresh sandbox; returns its figures as a markdown table."""
    crash = _tests_module("test_crash_resume")
    e2e = _tests_module("e2e_helpers")
    from ferry.sandbox.server import Sandbox, SandboxOptions

    tmp = Path(tempfile.mkdtemp(prefix="ferry-crash-"))
    os.environ.update(e2e.AWS_ENV)
    os.environ["AWS_CONFIG_FILE"] = str(tmp / "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp / "aws-credentials")
    os.environ.pop("AWS_PROFILE", None)
    with Sandbox(SandboxOptions(data=tmp / "sandbox")) as sandbox:
        f = crash.kill_and_resume(sandbox, tmp)
    print(f"crash: {f}", file=sys.stderr)
    return "\n".join([
        "| kill -9 points drawn | kills | distinct kill points (items done) | items | confirmed before the final run "
        "| final run exit | verify exit | confirmed items published again | time |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| {crash.KILLS} | {f['kills']} | {f['kill_points']} | {f['items']} | {f['confirmed_before_final']} "
        f"| {f['final_exit']} | {f['verify_exit']} | {f['republished_confirmed']} | {f['seconds']:.1f} s |",
    ])


# -- bad input ------------------------------------------------------------------------------------------


def collected_bad_input_cases() -> list[str]:
    """Returns the node ids (``test_x`` or ``test_x[id]``) pytest collects from tests/test_bad_input.py."""
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "tests/test_bad_input.py"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise RuntimeError(f"collecting tests/test_bad_input.py failed:\n{run.stdout}{run.stderr}")
    return [line.split("::", 1)[1] for line in run.stdout.splitlines() if line.startswith("tests/test_bad_input.py::")]


def _text(node: ast.AST) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):  # an f-string: its fixed parts, the values shown as …
        return "".join(v.value if isinstance(v, ast.Constant) else "…" for v in node.values)
    return None


def _exit_code(fn: ast.FunctionDef) -> int | None:
    """The exit code the test asserts: ``one_line(capsys, N, ...)`` or ``ferry(...)/_migrate(...) == N``."""
    for node in ast.walk(fn):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "one_line" and len(node.args) > 1:
            return node.args[1].value
        if isinstance(node, ast.Compare) and isinstance(node.left, ast.Call) \
                and getattr(node.left.func, "id", None) in ("ferry", "_migrate") \
                and isinstance(node.ops[0], ast.Eq) and isinstance(node.comparators[0], ast.Constant):
            return node.comparators[0].value
    return None


def _expected_texts(node: ast.AST) -> list[str | None]:
    """Strings in an expected value: a string, or the values of {item key: (state, reason)}; lists of what
    did migrate (names, versions) are not messages."""
    if _text(node) is not None:
        return [_text(node)]
    if isinstance(node, ast.Dict):
        return [t for value in node.values for t in _expected_texts(value)]
    if isinstance(node, ast.Tuple):
        return [t for elt in node.elts for t in _expected_texts(elt)]
    return []


def _asserted_messages(fn: ast.FunctionDef) -> list[str]:
    """The strings the test's asserts require in the output or reasons (``"x" in line``, ``== "x"``, startswith)."""
    found: list[str] = []
    for stmt in ast.walk(fn):
        if not isinstance(stmt, ast.Assert):
            continue
        for node in ast.walk(stmt.test):
            texts: list[str | None] = []
            if isinstance(node, ast.Compare):
                if isinstance(node.ops[0], ast.In):
                    texts.append(_text(node.left))
                elif isinstance(node.ops[0], ast.Eq):
                    texts += _expected_texts(node.comparators[0])
            elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "startswith" and node.args:
                texts.append(_text(node.args[0]))
            for t in texts:
                if t and t.strip() and t not in found:
                    found.append(t)
    return found


def _params(module, name: str) -> tuple[list[str], list]:
    """Returns the argument names and values of the test's ``parametrize`` mark (empty if it has none)."""
    for mark in getattr(getattr(module, name), "pytestmark", []):
        if mark.name == "parametrize":
            names = mark.args[0]
            names = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
            return names, list(mark.args[1])
    return [], []


def _cell(text: str) -> str:
    shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    return "`" + shown.replace("|", "\\|").replace("`", "'") + "`"


def bad_input_rows() -> list[tuple[str, str, str]]:
    """Returns one (case, exit code, asserted messages) row per collected case of tests/test_bad_input.py."""
    module = _tests_module("test_bad_input")
    tree = ast.parse((TESTS / "test_bad_input.py").read_text())
    functions = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    seen: dict[str, int] = {}
    rows = []
    for node_id in collected_bad_input_cases():
        name, _, param_id = node_id.partition("[")
        fn = functions[name]
        title = (ast.get_docstring(fn) or "").split("\n")[0].rstrip(".") or \
            name.removeprefix("test_").replace("_", " ")
        messages = _asserted_messages(fn)
        if param_id:
            # pytest collects one case per parameter set, in order: the n-th id is the n-th value.
            index = seen[name] = seen.get(name, -1) + 1
            argnames, values = _params(module, name)
            value = values[index]
            value = value.values if hasattr(value, "values") and not isinstance(value, dict) else value
            args = dict(zip(argnames, value if len(argnames) > 1 else [value]))
            needles = args.get("needles", args.get("needle", []))
            messages = [needles] if isinstance(needles, str) else list(needles)
            title = f"{title}: {param_id[:-1]}"
        code = _exit_code(fn)
        rows.append((title, "-" if code is None else str(code), ", ".join(_cell(m) for m in messages) or "-"))
    return rows


def bad_input_section() -> str:
    """Returns the markdown table of bad-input cases."""
    rows = bad_input_rows()
    lines = ["| case | exit | the test asserts it says |", "|---|---|---|"]
    lines += [f"| {case} | {code} | {messages} |" for case, code, messages in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Regenerates the chosen sections of docs/reliability.md; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--only", default=",".join(SECTIONS), help="comma-separated: " + ", ".join(SECTIONS))
    only = [s.strip() for s in parser.parse_args(argv).only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    makers = {"matrix": matrix_section, "crash": crash_section, "bad-input": bad_input_section}
    text = DOC.read_text()
    for name in only:
        section(text, name)  # fail before a minute of work if the doc lost its markers
    started = time.monotonic()
    for name in only:
        text = replace_section(text, name, makers[name]())
        DOC.write_text(text)  # each finished section is kept even if a later one fails
    print(f"docs/reliability.md: regenerated {', '.join(only)} in {time.monotonic() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
