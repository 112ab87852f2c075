"""The ferry commands the README, the runbooks and the docs tell an engineer to type are ones ferry's CLI takes,
and the job files the runbooks show are ones ferry accepts.

A command on a line of its own (a fenced or indented code line) is parsed whole by ferry's own CLI, as typed:
every option, choice and number. A command quoted inside prose (`ferry replicate --config-only ...`) must
name a command ferry has, and only options that command has."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from ferry.cli import app
from ferry.config import parse_job

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "runbooks").glob("*.md")), *sorted((ROOT / "docs").glob("*.md"))]
_FENCED = re.compile(r"^```[^\n]*\n(.*?)^```", re.S | re.M)
# Where a shell command line ends: a pipe, a background job, a list, a redirection, a comment, a JSON string's end.
_SHELL_END = {"|", "&", "&&", ";", "||", ">", ">>", "2>&1", "#", "]", "],"}


def _code_lines(text: str) -> list[tuple[int, str]]:
    """Lines meant to be typed: those of fenced blocks and of blocks indented by four spaces (not list items)."""
    found = []
    for block in _FENCED.finditer(text):
        first = text[:block.start(1)].count("\n") + 1
        found += [(first + i, line) for i, line in enumerate(block.group(1).splitlines())]
    rest = _FENCED.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    found += [(i, line) for i, line in enumerate(rest.splitlines(), 1)
              if line.startswith("    ") and not line.lstrip().startswith(("-", "|", "*"))]
    return found


def _inline_commands(text: str) -> list[tuple[int, str]]:
    """Inline code spans that run ferry (``ferry ...``, ``cd X && ferry ...``, ``for ...; do ferry ...``), outside
    fenced blocks."""
    rest = _FENCED.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    spans = re.finditer(r"(`+)([^\n]+?)\1", rest)
    return [(rest[:m.start()].count("\n") + 1, m.group(2)) for m in spans
            if re.match(r"((for|cd) [^;&]*(; do|&&) )?ferry ", m.group(2))]


def _ferry_words(line: str) -> list[str] | None:
    """The words after ``ferry`` on a shell line (up to where the command ends), or None if it runs no ferry."""
    match = re.search(r"(?:^|&&\s*|exec\s+|;\s*do\s+|\s|/)ferry\s+(?=[a-z])", line)
    if not match:
        return None
    try:
        words = shlex.split(line[match.end():].replace('"]', ' ]'), comments=False)
    except ValueError:
        words = line[match.end():].split()
    out = []
    for word in words:
        if word in _SHELL_END or word.startswith("#"):
            break
        out.append(word)
    return out


def _command(words: list[str]) -> tuple[Any, list[str]]:
    """The (sub)command the words name and the arguments left, or None if the first word names none. (Typer
    carries its own copy of click, so groups are told by their ``commands``, not by click's classes.)"""
    command = typer.main.get_command(app)
    while hasattr(command, "commands") and words and words[0] in command.commands:
        command, words = command.commands[words[0]], words[1:]
    return (None if hasattr(command, "commands") else command), words


def _typed_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for number, line in _code_lines(doc.read_text()):
            words = _ferry_words(line)
            if words is not None:
                found.append((f"{doc.relative_to(ROOT)}:{number}", words))
    return found


def _quoted_commands() -> list[tuple[str, list[str]]]:
    found = []
    for doc in DOCS:
        for number, span in _inline_commands(doc.read_text()):
            words = _ferry_words(span)
            if words is not None:
                found.append((f"{doc.relative_to(ROOT)}:{number}", words))
    return found


def test_the_docs_show_commands_to_type():
    places = {where.split(":")[0] for where, _ in _typed_commands()}
    assert {"README.md", "runbooks/nexus-migration.md", "runbooks/artifactory-migration.md",
            "runbooks/nightly-replication.md", "runbooks/scale-out.md", "docs/stand-ins.md"} <= places


@pytest.mark.parametrize(("where", "words"), _typed_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_a_command_on_a_line_of_its_own_is_one_ferry_parses(where, words):
    command, args = _command(words)
    assert command is not None, f"{where}: ferry has no command {' '.join(words[:2])!r}"
    # A synopsis (`[--data DIR]`) shows options, not a command to type: check its option names only.
    if any(word.startswith("[") for word in args):
        _check_option_names(where, command, [w.strip("[]") for w in args])
        return
    try:
        command.make_context(command.name, list(args))
    except Exception as err:  # typer's own click: its UsageError and Exit are not the installed click's
        if type(err).__name__ != "Exit":
            pytest.fail(f"{where}: ferry {' '.join(words)}: {getattr(err, 'format_message', err.__str__)()}")


@pytest.mark.parametrize(("where", "words"), _quoted_commands(), ids=lambda v: v if isinstance(v, str) else None)
def test_a_command_quoted_in_prose_names_a_command_and_options_ferry_has(where, words):
    command, args = _command(words)
    assert command is not None, f"{where}: ferry has no command {' '.join(words[:2])!r}"
    _check_option_names(where, command, args)


def _check_option_names(where: str, command: Any, args: list[str]) -> None:
    options = {"--help"} | {opt for param in command.params for opt in [*param.opts, *param.secondary_opts]}
    for arg in args:
        if arg.startswith("-") and arg != "-":
            name = arg.split("=", 1)[0]
            assert name in options, f"{where}: ferry {command.name} has no option {name} (it has {sorted(options)})"


@pytest.mark.parametrize("runbook", ["nexus-migration.md", "artifactory-migration.md", "nightly-replication.md"])
def test_the_runbooks_job_file_is_one_ferry_accepts(runbook):
    (block,) = re.findall(r"```toml\n(.*?)```", (ROOT / "runbooks" / runbook).read_text(), re.S)
    job = parse_job(block, runbook)
    assert job.repositories
