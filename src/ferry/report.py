"""Run reports built from the ledger only: JSON, CSV or Markdown (by file extension), and a terminal table.

A report is made of ledger rows and counts, and the ledger never holds a secret (credentials live
in the environment, see :class:`ferry.config.Secret`), so no report can contain one.
The time estimate assumes CodeArtifact's default PublishPackageVersion quota: 10 publishes/s.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ferry.errors import FatalError, UsageError
from ferry.redact import one_line  # the CLI imports it from here too
from ferry.state.ledger import CRASHED, REMOVED, STATES
from ferry.state.reader import FAILED, GroupSummary, ItemRow, LedgerReader, RunRow

PUBLISH_RATE = 10.0
TERMINAL_FAILURES = 50
_SIGIL = {"conflict": "*", "unmappable": "?", "failed": "!"}
ACTIONS = ("copy", "same", "conflict", "only-in-target", "unmappable", "skipped")
TERMINAL_SKIP_REASONS = 5
FORMATS_BY_EXTENSION = {".json": "json", ".csv": "csv", ".md": "markdown", ".markdown": "markdown",
                        ".html": "html"}
NAME_THE_FILE = "name the file .json, .csv, .md or .html"


@dataclass(frozen=True)
class RunReport:
    """Everything a report shows, read from one ledger (one run, or the whole ledger)."""

    ledger: str
    run: RunRow | None
    counts: dict[str, int]
    actions: dict[str, int]
    groups: list[GroupSummary]
    failures: list[ItemRow]
    failures_total: int
    rate: float = PUBLISH_RATE
    totals: dict[str, int] = field(default_factory=dict)
    # For verify runs: the items missing from, differing in, or only found in the target (capped lists).
    differences: dict[str, list[ItemRow]] = field(default_factory=dict)
    # Items the job chose to leave out (Maven SNAPSHOTs...), counted by reason; not failures.
    skipped: dict[str, int] = field(default_factory=dict)
    # What a replicate run could not bring in step besides items (a status, a deletion, a dist-tag): the
    # run's outcome, not ledger rows, so only a report written by that run carries them.
    problems: list[str] = field(default_factory=list)
    # Items copied with something to say though nothing failed (a crate version the source has yanked, which
    # CodeArtifact cannot yank): capped, and how many there are.
    remarks: list[ItemRow] = field(default_factory=list)
    remarks_total: int = 0
    # What the run told the operator beside its items (origin controls changed, repositories created, versions
    # left out, what faults cost), kept with the run as it ended. A whole-ledger report has none: its items come
    # from many runs, whose notes each run's own report shows. ``report --merge`` has each shard's last run's,
    # each line led by the shard's ledger.
    notes: list[str] = field(default_factory=list)

    @property
    def retried_files(self) -> int:
        """Failed files a rerun publishes (those the target does not hold): retried, unlike conflicts."""
        return sum(g.retry_files for g in self.groups)

    @property
    def files_to_publish(self) -> int:
        """What a rerun would publish: the pending files and the failed ones it retries."""
        return self.totals.get("pending_files", 0) + self.retried_files

    @property
    def bytes_to_publish(self) -> int:
        """The bytes of :attr:`files_to_publish`."""
        return self.totals.get("pending_bytes", 0) + sum(g.retry_bytes for g in self.groups)

    @property
    def estimated_seconds(self) -> float:
        """Seconds to publish :attr:`files_to_publish` at ``rate`` publishes per second."""
        return self.files_to_publish / self.rate if self.rate > 0 else 0.0


def build_report(reader: LedgerReader, run_id: int | None = None, *, failure_limit: int = 1000,
                 rate: float = PUBLISH_RATE) -> RunReport:
    """Read a :class:`RunReport` for run *run_id* (``None``: the whole ledger). Failures are capped at *failure_limit*."""
    groups = reader.summary(run_id)
    counts = reader.counts(run_id)
    run = reader.run(run_id) if run_id is not None else None
    remarks, remarks_total = reader.remarks(run_id, limit=failure_limit)
    totals = {name: sum(getattr(g, name) for g in groups)
              for name in ("versions", "files", "bytes", "pending_files", "pending_bytes")}
    return RunReport(
        ledger=reader.path,
        run=run,
        counts=counts,
        actions=reader.action_counts(run_id),
        groups=groups,
        failures=reader.failures(run_id, limit=failure_limit),
        failures_total=sum(counts.get(state, 0) for state in FAILED),
        rate=rate,
        totals=totals,
        differences=_differences(reader, run_id, failure_limit) if run and run.command == "verify" else {},
        skipped=reader.skipped_reasons(run_id),
        problems=list(run.problems) if run else [],
        notes=list(run.notes) if run else [],
        remarks=remarks,
        remarks_total=remarks_total,
    )


def listed_failures(report: RunReport) -> tuple[list[ItemRow], int]:
    """The failed rows a report lists under its failures, and how many there are: all of them, except that a
    verify report lists its conflicts once, as differing. (Missing and extra files are not failures.)"""
    if not report.differences:
        return report.failures, report.failures_total
    return ([row for row in report.failures if row.state != "conflict"],
            report.failures_total - report.counts.get("conflict", 0))


VERIFY_STATES = {"missing": ("planned",), "differing": ("conflict",), "extra": ("only_in_target",)}


def _differences(reader: LedgerReader, run_id: int | None, limit: int) -> dict[str, list[ItemRow]]:
    found: dict[str, list[ItemRow]] = {}
    for label, states in VERIFY_STATES.items():
        rows = []
        for row in reader.items(run_id, states):
            if len(rows) >= limit:
                break
            rows.append(row)
        found[label] = rows
    return found


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun`` in the number ``n`` takes: ``1 file``, ``0 files``, ``2 more reasons``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def format_bytes(n: int) -> str:
    """``1536`` → ``'1.5 KiB'``."""
    if n < 1024:
        return f"{n} B"
    size = n / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def format_rate(per_second: float) -> str:
    """A publish rate as a person reads it: ``10``, ``2.5``, ``3.33`` (one of three shards), never ``3.33333``."""
    return f"{round(per_second, 2):g}"


def format_duration(seconds: float) -> str:
    """``5000`` → ``'1h 23m'``; under a minute in seconds."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole}s"
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s"


def _item(row: ItemRow) -> dict[str, Any]:
    return {"key": str(row.key), "source_repo": row.source_repo, "target_repo": row.target_repo,
            "state": row.state, "action": row.action, "reason": row.reason, "attempts": row.attempts,
            "size": row.size, "source_sha256": row.source_sha256, "target_sha256": row.target_sha256}


def to_dict(report: RunReport) -> dict[str, Any]:
    """The report as plain JSON-able data."""
    return {
        "ledger": report.ledger,
        "run": asdict(report.run) if report.run else None,
        "totals": report.totals,
        "states": report.counts,
        "actions": report.actions,
        "estimate": {"publishes_per_second": report.rate, "pending_files": report.totals.get("pending_files", 0),
                     "retried_files": report.retried_files, "files": report.files_to_publish,
                     "seconds": report.estimated_seconds},
        "repositories": [asdict(g) for g in report.groups],
        "failures": [_item(row) for row in report.failures],
        "failures_total": report.failures_total,
        "skipped": [{"reason": reason, "files": n} for reason, n in report.skipped.items()],
        "remarks": [_item(row) for row in report.remarks],
        "remarks_total": report.remarks_total,
        **({"differences": {label: [_item(r) for r in rows] for label, rows in report.differences.items()}}
           if report.differences else {}),
        **({"problems": report.problems} if report.problems else {}),
        "notes": report.notes,
    }


def render_json(report: RunReport) -> str:
    """JSON text, one object."""
    return json.dumps(to_dict(report), indent=2, sort_keys=False) + "\n"


CSV_COLUMNS = ["source_repo", "target_repo", "format", "versions", "files", "bytes", "pending_files",
               "pending_bytes", *(f"state_{s}" for s in STATES), *(f"action_{a}" for a in ACTIONS)]


def render_csv(report: RunReport) -> str:
    """CSV: one row per (source repository, target repository, format), fixed columns."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for g in report.groups:
        row: dict[str, Any] = {name: getattr(g, name) for name in CSV_COLUMNS[:8]}
        row.update({f"state_{s}": g.states.get(s, 0) for s in STATES})
        row.update({f"action_{a}": g.actions.get(a, 0) for a in ACTIONS})
        writer.writerow(row)
    return out.getvalue()


def removed_states(report: RunReport) -> list[str]:
    """The states of files ``replicate --propagate-deletes`` removed from the target that the report holds: the
    tables give them columns only then, so that those of every other run stay as they were."""
    return [state for state in REMOVED if report.counts.get(state)]


def _md(value: Any) -> str:
    return str(value if value is not None else "").replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def ended_text(run: RunRow) -> str:
    """When *run* ended, or why no end is recorded (still going, or its process stopped)."""
    return run.ended or ("not recorded: its process stopped; run the same command again to resume"
                         if run.status == CRASHED else "not ended")


def _run_line(report: RunReport) -> str:
    run = report.run
    if run is None:
        return f"Whole ledger `{report.ledger}`"
    return f"Run {run.id} (`{run.command}`, {run.status}), started {run.started}, ended {ended_text(run)}"


def superseded_note(report: RunReport) -> str | None:
    """For a run some of whose items later runs planned again (or removed, with ``replicate
    --propagate-deletes``): what it ended with, or ``None``.

    The ledger keeps each item's latest state only, under the run that touched it last, so such a run's
    own table shows only what is left under its id; the counts it ended with are kept with the run.
    """
    run = report.run
    if run is None or not run.counts or run.counts == report.counts:
        return None
    ended_with = ", ".join(f"{state} {n}" for state, n in sorted(run.counts.items()))
    taken = sum(run.counts.values()) - sum(report.counts.values())
    return (f"run {run.id} ended with {ended_with}; {taken} of its items {'was' if taken == 1 else 'were'} planned "
            "again or removed by later runs, which report them")


def _retried(report: RunReport) -> str:
    """What the estimate says of the failed files it counts: a rerun retries them (the table's "to copy" column
    counts only the pending ones)."""
    return f" ({report.retried_files} failed, which a rerun retries)" if report.retried_files else ""


def render_markdown(report: RunReport) -> str:
    """Markdown: run line, per-repository table, states/actions, estimate, failures."""
    lines = ["# ferry report", "", _run_line(report), ""]
    note = superseded_note(report)
    if note:
        lines += [f"*{note}*", ""]
    removed = removed_states(report)
    rows = [[f"{g.source_repo} → {g.target_repo}", g.format, g.versions, g.files, format_bytes(g.bytes),
             g.pending_files, g.states.get("same", 0), g.states.get("confirmed", 0),
             g.states.get("conflict", 0), g.states.get("failed", 0), g.states.get("skipped", 0),
             *(g.states.get(s, 0) for s in removed)]
            for g in report.groups]
    lines += _md_table(["repository", "format", "versions", "files", "bytes", "to copy", "same", "done",
                        "conflict", "failed", "skipped", *removed], rows)
    lines += ["", "**States:** " + (", ".join(f"{k} {v}" for k, v in report.counts.items()) or "none"),
              "", "**Actions:** " + (", ".join(f"{k} {v}" for k, v in report.actions.items()) or "none"),
              "", f"**Estimate:** {counted(report.files_to_publish, 'file')} to publish{_retried(report)}, about "
              f"{format_duration(report.estimated_seconds)} at {format_rate(report.rate)} publishes/s", ""]
    if report.skipped:
        lines += [f"## Skipped ({sum(report.skipped.values())})", ""]
        lines += _md_table(["files", "reason"], [[n, reason] for reason, n in report.skipped.items()])
        lines.append("")
    for label, rows in report.differences.items():
        # What verify found, as the terminal lists it: a verify report that left these out would exit 1
        # without naming the files the target lacks.
        if rows:
            lines += [f"## {label.capitalize()} in the target ({len(rows)})", ""]
            lines += _md_table(["item", "target", "reason"], [[str(r.key), r.target_repo, r.reason] for r in rows])
            lines.append("")
    if report.remarks:
        lines += [f"## Copied, with a remark ({report.remarks_total})", ""]
        lines += _md_table(["item", "target", "remark"],
                           [[str(r.key), r.target_repo, r.reason] for r in report.remarks])
        if report.remarks_total > len(report.remarks):
            lines += ["", f"… and {report.remarks_total - len(report.remarks)} more"]
        lines.append("")
    failures, failures_total = listed_failures(report)
    if failures:
        lines += [f"## Failures ({failures_total})", ""]
        lines += _md_table(["item", "target", "state", "attempts", "reason"],
                           [[str(r.key), r.target_repo, r.state, r.attempts, r.reason] for r in failures])
        if failures_total > len(failures):
            lines += ["", f"… and {failures_total - len(failures)} more"]
        lines.append("")
    if report.problems:
        lines += [f"## Problems ({len(report.problems)})", ""]
        lines += [f"- {_md(problem)}" for problem in report.problems]
        lines.append("")
    if report.notes:
        lines += [f"## Notes ({len(report.notes)})", ""]
        lines += [f"- {_md(one_line(note))}" for note in report.notes]
        lines.append("")
    return "\n".join(lines)


def render_table(report: RunReport, problems: bool = True, notes: bool = True) -> str:
    """A plain-text table for the terminal (versions, files, bytes per repository and format; action counts),
    then what failed, with ``problems`` what the run could not bring in step beside its items, and with
    ``notes`` the run's notes (a run that has just printed them as ``note:`` lines leaves them out)."""
    removed = removed_states(report)
    header = ["repository", "format", "versions", "files", "bytes", "to copy", "same", "done", "conflict",
              "failed", "skipped", *removed]
    body = [[f"{g.source_repo} -> {g.target_repo}", g.format, g.versions, g.files, format_bytes(g.bytes),
             g.pending_files, g.states.get("same", 0), g.states.get("confirmed", 0), g.states.get("conflict", 0),
             g.states.get("failed", 0), g.states.get("skipped", 0), *(g.states.get(s, 0) for s in removed)]
            for g in report.groups]
    t = report.totals
    body.append(["total", "", t.get("versions", 0), t.get("files", 0), format_bytes(t.get("bytes", 0)),
                 t.get("pending_files", 0), report.counts.get("same", 0), report.counts.get("confirmed", 0),
                 report.counts.get("conflict", 0), report.counts.get("failed", 0), report.counts.get("skipped", 0),
                 *(report.counts.get(s, 0) for s in removed)])
    cells = [[str(c) for c in row] for row in [header, *body]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip()

    note = superseded_note(report)
    out = [_run_line(report).replace("`", ""), *([note] if note else []), "", line(cells[0]),
           line(["-" * w for w in widths])]
    out += [line(row) for row in cells[1:-1]]
    out += [line(["-" * w for w in widths]), line(cells[-1]), ""]
    out.append("actions: " + (", ".join(f"{k} {v}" for k, v in report.actions.items()) or "none"))
    out.append(f"estimate: {counted(report.files_to_publish, 'file')} ({format_bytes(report.bytes_to_publish)}) to "
               f"publish{_retried(report)}, about {format_duration(report.estimated_seconds)} at "
               f"{format_rate(report.rate)} publishes/s")
    if report.skipped:
        out += ["", f"{sum(report.skipped.values())} file(s) skipped by the job's settings (not failures):"]
        shown = list(report.skipped.items())[:TERMINAL_SKIP_REASONS]
        out += [f"  ~ {n} {one_line(reason) or '(no reason recorded)'}" for reason, n in shown]
        if len(report.skipped) > len(shown):
            out.append(f"  ... and {counted(len(report.skipped) - len(shown), 'more reason')} (ferry report lists them "
                       "all)")
    if report.remarks:
        out += ["", f"{report.remarks_total} copied file(s) with a remark (not failures):"]
        shown_remarks = report.remarks[:TERMINAL_SKIP_REASONS]
        out += [f"  ~ {one_line(str(row.key))} -> {row.target_repo}  {one_line(row.reason)}" for row in shown_remarks]
        if report.remarks_total > len(shown_remarks):
            out.append(f"  ... and {report.remarks_total - len(shown_remarks)} more (ferry report lists them)")
    for label, rows in report.differences.items():
        if rows:
            out += ["", f"{label} in the target ({len(rows)}{'+' if len(rows) >= TERMINAL_FAILURES else ''}):"]
            # A difference says how it differs (digests, or an Archived version); a missing file the target
            # holds, but in an Unfinished version, says so too (its reason): plain missing and extra need not.
            shown_rows = rows[:TERMINAL_FAILURES]
            out += [f"  {one_line(str(row.key))} -> {row.target_repo}" + (f"  ({one_line(row.reason)})"
                                                           if label != "extra" and row.reason else "")
                    for row in shown_rows]
    # A verify run lists its conflicts as "differing" above; what it could not map (or failed) is listed here,
    # or its exit 1 would go unexplained.
    failures, failures_total = listed_failures(report)
    if failures_total > 0:
        out += ["", f"{failures_total} item(s) " + ("could not be checked:" if report.differences
                                                    else "failed, conflicted or could not be mapped:")]
        shown = failures[:TERMINAL_FAILURES]
        out += [f"  {_SIGIL.get(row.state, '!')} {one_line(str(row.key))} -> {row.target_repo}  [{row.state}] "
                f"{one_line(row.reason)}".rstrip() for row in shown]
        if failures_total > len(shown):
            out.append(f"  ... and {failures_total - len(shown)} more (ferry report lists them all)")
    if report.problems and problems:
        out += ["", f"{len(report.problems)} problem(s) beside the items:"]
        out += [f"  {one_line(problem)}" for problem in report.problems]
    if report.notes and notes:
        out += ["", f"{len(report.notes)} note(s) of the run:"]
        out += [f"  note: {one_line(note)}" for note in report.notes]
    return "\n".join(out) + "\n"


def _render_html(report: RunReport) -> str:
    from ferry.report_html import render_html_from_file  # it imports this module

    return render_html_from_file(report)


RENDERERS = {"json": render_json, "csv": render_csv, "markdown": render_markdown, "html": _render_html}


def report_kind(path: Path, flag: str = "") -> str:
    """The report format ``path``'s extension names. Raises :class:`UsageError` for one ferry does not write."""
    kind = FORMATS_BY_EXTENSION.get(path.suffix.lower())
    if kind is None:
        label = f"{flag} {path}" if flag else str(path)
        raise UsageError(f"{label}: unknown report format {path.suffix or '(no extension)'}; {NAME_THE_FILE}")
    return kind


def write_report(report: RunReport, path: str | Path) -> str:
    """Write *report* to *path* in the format its extension names (whole or not at all: see
    :func:`write_file`). Returns the format used.

    Raises :class:`UsageError` for an unknown extension or an unwritable path, :class:`FatalError`
    when the disk cannot take the file.
    """
    kind = report_kind(Path(path))
    write_file(path, RENDERERS[kind](report))
    return kind


# Write failures that say the disk is full or failing, not that the path is wrong (the flags' checks,
# ferry.preflight, found the path usable before the run).
_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO}


def write_file(path: str | Path, text: str) -> None:
    """Write a report file whole or not at all, making its folder if need be: the text goes to a scratch
    file beside it that then replaces it, so a write that fails (a full disk) leaves the earlier report
    as it was, never cut short. A file already there keeps its permissions. A pipe or a device (a FIFO a
    collector reads, a link to /dev/null) is written into, never replaced.

    Raises :class:`FatalError` when the disk cannot take it, :class:`UsageError` for another failure.
    """
    target = Path(path)
    real = target.resolve()  # a symlinked report is written where the link points, the link kept
    scratch = real.with_name(f".{real.name}.{os.getpid()}.tmp")
    try:
        if real.exists() and not real.is_dir() and not stat.S_ISREG(real.stat().st_mode):
            # Renamed over, the collector would lose its pipe (and a root run /dev/null its device): nothing
            # there is kept to be cut short.
            with open(real, "w", encoding="utf-8") as out:
                out.write(text)
            return
        # A missing folder passed the flag's check (ferry.preflight), as for the ledger: make it.
        real.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies, as to any file
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            if real.exists():
                os.chmod(scratch, stat.S_IMODE(real.stat().st_mode))
            os.replace(scratch, real)
        except BaseException:
            scratch.unlink(missing_ok=True)
            raise
    except OSError as err:
        reason = err.strerror or str(err)
        if err.errno in _NO_ROOM:
            raise FatalError(f"{path}: cannot write the report ({reason}); the earlier file is left as it was: free "
                             "space there and write it again with ferry report") from None
        raise UsageError(f"{path}: cannot write the report ({reason}); check the path") from None
