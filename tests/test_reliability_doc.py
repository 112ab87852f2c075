"""docs/reliability.md: its generated sections are there and filled, and the bad-input list cannot drift
from tests/test_bad_input.py (``bench/reliability.py`` regenerates them)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import reliability  # noqa: E402  (bench/reliability.py)

DOC = (ROOT / "docs" / "reliability.md").read_text()


def _table_rows(body: str) -> list[str]:
    """The data rows of the one markdown table in ``body`` (header and separator left out)."""
    rows = [line for line in body.splitlines() if line.startswith("|")]
    assert len(rows) >= 2 and re.fullmatch(r"\|(---\|)+", rows[1]), body
    return rows[2:]


@pytest.mark.parametrize("name", reliability.SECTIONS)
def test_each_generated_section_is_there_and_not_empty(name):
    rows = _table_rows(reliability.section(DOC, name))
    assert rows, f"the {name} section of docs/reliability.md has no rows; run bench/reliability.py"


def test_the_crash_figures_say_the_run_kept_its_promises():
    (row,) = _table_rows(reliability.section(DOC, "crash"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    header = [c.strip() for c in reliability.section(DOC, "crash").splitlines()[0].strip("|").split("|")]
    figures = dict(zip(header, cells))
    assert figures["final run exit"] == "0" and figures["verify exit"] == "0"
    assert figures["confirmed items published again"] == "0"
    assert int(figures["kills"]) > 0


def test_the_bad_input_list_has_every_case_of_test_bad_input():
    collected = reliability.collected_bad_input_cases()
    rows = _table_rows(reliability.section(DOC, "bad-input"))
    assert len(collected) > 40  # the collection really found the module's cases
    assert len(rows) == len(collected), "docs/reliability.md is out of date: run bench/reliability.py --only bad-input"
    # and the same cases: what the doc lists is what the generator makes of the test module now
    assert rows == [line for line in _table_rows(reliability.bad_input_section())]


def test_the_bad_input_rows_carry_the_exit_code_each_test_asserts():
    rows = reliability.bad_input_rows()
    codes = {code for _case, code, _messages in rows}
    assert codes <= {"1", "2", "3"} and {"1", "2", "3"} <= codes
    by_case = {case: (code, messages) for case, code, messages in rows}
    assert by_case["bad job file: toml-syntax"] == ("2", "`not valid TOML`, `fix the syntax`")
    assert by_case["unreachable target"][0] == "3"
