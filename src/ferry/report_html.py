"""A run report as one self-contained HTML page: inline CSS and inline SVG, no scripts, no external assets.

The page shows outcomes by repository and format (table + bars), throughput (items finished per
minute, from the ledger's ``updated`` times), the largest items (the ledger records when an item
last changed, not when its transfer began, so durations cannot be derived) and the failures with
their reasons. Every ledger value is HTML-escaped; the ledger holds no secret, so neither does the page.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from ferry.report import RunReport, counted, ended_text, format_bytes, listed_failures, superseded_note, write_file
from ferry.state.reader import ItemRow, LedgerReader

LARGEST = 10
# Outcome bands shown in the bars, in order: label, ledger states, colour.
BANDS = (
    ("done", ("confirmed", "same"), "#2e7d32"),
    ("skipped", ("skipped",), "#9e9e9e"),
    ("pending", ("planned", "downloading", "published"), "#f9a825"),
    ("only in target", ("only_in_target",), "#1565c0"),
    ("deleted or disposed", ("deleted", "disposed"), "#5d4037"),  # as in the source (--propagate-deletes)
    ("failed", ("conflict", "failed", "unmappable"), "#c62828"),
)
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em;color:#222;background:#fff}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0}th,td{padding:.25em .6em;border-bottom:1px solid #eee;text-align:left}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}.muted{color:#777}
.legend span{display:inline-block;margin-right:1em}.legend i{display:inline-block;width:.9em;height:.9em;
margin-right:.3em;vertical-align:-.1em}code{font-size:.9em;word-break:break-all}
"""


def _e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _cells(values: list[Any], numeric: set[int] | None = None, tag: str = "td") -> str:
    numeric = numeric or set()
    num = ' class="n"'
    return "<tr>" + "".join(f"<{tag}{num if i in numeric else ''}>{_e(v)}</{tag}>"
                            for i, v in enumerate(values)) + "</tr>"


def _table(header: list[str], rows: list[list[Any]], numeric: set[int]) -> str:
    return ("<table><thead>" + _cells(header, numeric, "th") + "</thead><tbody>"
            + "".join(_cells(r, numeric) for r in rows) + "</tbody></table>")


def _band_counts(states: dict[str, int]) -> list[tuple[str, int, str]]:
    return [(label, sum(states.get(s, 0) for s in members), colour) for label, members, colour in BANDS]


def _legend() -> str:
    return '<p class="legend">' + "".join(f'<span><i style="background:{c}"></i>{_e(label)}</span>'
                                          for label, _, c in BANDS) + "</p>"


def _outcome_bars(report: RunReport) -> str:
    """One stacked horizontal bar per (repository, format), scaled to the largest group."""
    if not report.groups:
        return '<p class="muted">No items.</p>'
    label_w, bar_w, row_h = 320, 560, 26
    rows = [(f"{g.source_repo} → {g.target_repo} ({g.format})", _band_counts(g.states)) for g in report.groups]
    widest = max(sum(n for _, n, _ in bands) for _, bands in rows) or 1
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="outcomes by repository" '
             f'width="{label_w + bar_w + 60}" height="{row_h * len(rows) + 4}">']
    for i, (label, bands) in enumerate(rows):
        y = i * row_h + 2
        parts.append(f'<text x="0" y="{y + 16}" font-size="13">{_e(label)}</text>')
        x = float(label_w)
        for band, n, colour in bands:
            if n:
                w = bar_w * n / widest
                parts.append(f'<rect x="{x:.1f}" y="{y}" width="{max(w, 1):.1f}" height="{row_h - 6}" '
                             f'fill="{colour}"><title>{_e(band)}: {n}</title></rect>')
                x += w
        parts.append(f'<text x="{x + 6:.1f}" y="{y + 16}" font-size="12">{sum(n for _, n, _ in bands)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _minutes(per_minute: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """Fill the minutes with nothing finished between the first and the last (capped at a day of minutes)."""
    if not per_minute:
        return []
    try:
        first = datetime.strptime(per_minute[0][0], "%Y-%m-%dT%H:%M")
        last = datetime.strptime(per_minute[-1][0], "%Y-%m-%dT%H:%M")
    except ValueError:
        return per_minute
    span = int((last - first).total_seconds() // 60) + 1
    if span > 1440:
        return per_minute
    known = dict(per_minute)
    keys = [(first + timedelta(minutes=i)).strftime("%Y-%m-%dT%H:%M") for i in range(span)]
    return [(k, known.get(k, 0)) for k in keys]


def _throughput(per_minute: list[tuple[str, int]] | None) -> str:
    if per_minute is None:
        return '<p class="muted">Not available for this report (no single ledger to read times from).</p>'
    minutes = _minutes(per_minute)
    if not minutes:
        return '<p class="muted">No item finished in this run.</p>'
    chart_h, bar_w, gap = 160, max(4, min(40, 840 // len(minutes))), 2
    top = max(n for _, n in minutes) or 1
    width = max(len(minutes) * (bar_w + gap) + 40, 360)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="items finished per minute" '
             f'width="{width}" height="{chart_h + 40}">',
             f'<line x1="0" y1="{chart_h}" x2="{width}" y2="{chart_h}" stroke="#999"/>']
    for i, (minute, n) in enumerate(minutes):
        h = chart_h * n / top
        x = i * (bar_w + gap)
        parts.append(f'<rect x="{x}" y="{chart_h - h:.1f}" width="{bar_w}" height="{h:.1f}" fill="#1565c0">'
                     f'<title>{_e(minute)} UTC: {n}</title></rect>')
    parts.append(f'<text x="0" y="{chart_h + 16}" font-size="12">{_e(minutes[0][0])} UTC</text>')
    parts.append(f'<text x="0" y="{chart_h + 32}" font-size="12">peak {top} items/min</text></svg>')
    total = sum(n for _, n in minutes)
    rows = [[m, n] for m, n in minutes if n]
    return (parts[0] + "".join(parts[1:]) + f"<p>{counted(total, 'item')} finished over {len(minutes)} minute(s).</p>"
            + _table(["minute (UTC)", "items finished"], rows, {1}))


def _item_rows(rows: list[ItemRow], with_reason: bool) -> list[list[Any]]:
    out = []
    for r in rows:
        row = [str(r.key), r.target_repo, r.state, format_bytes(r.size) if r.size is not None else ""]
        out.append(row + ([r.attempts, r.reason or ""] if with_reason else []))
    return out


def render_html(report: RunReport, reader: LedgerReader | None = None) -> str:
    """The page as one HTML string. With *reader* (the ledger *report* came from) it adds throughput and
    the largest items; without, those sections say they are not available."""
    run_id = report.run.id if report.run else None
    per_minute = reader.finished_per_minute(run_id) if reader else None
    largest = reader.largest(run_id, LARGEST) if reader else None
    run = report.run
    title = f"ferry report — run {run.id}" if run else "ferry report — whole ledger"
    subtitle = (f"<code>{_e(run.command)}</code>, {_e(run.status)}, started {_e(run.started)}, "
                f"ended {_e(ended_text(run))}" if run else "every item's latest state")
    note = superseded_note(report)
    if note:
        subtitle += f"<br>{_e(note)}"
    t = report.totals
    groups = [[f"{g.source_repo} → {g.target_repo}", g.format, g.versions, g.files, format_bytes(g.bytes),
               *(n for _, n, _ in _band_counts(g.states))] for g in report.groups]
    failures, failures_total = listed_failures(report)  # a verify report's conflicts: once, as differing
    body = [
        f"<h1>{_e(title)}</h1><p>{subtitle}<br><span class=\"muted\">ledger <code>{_e(report.ledger)}</code>"
        "</span></p>",
        f"<p>{counted(t.get('files', 0), 'file')} in {counted(t.get('versions', 0), 'version')} "
        f"({_e(format_bytes(t.get('bytes', 0)))}); "
        "states: " + (_e(", ".join(f"{k} {v}" for k, v in report.counts.items())) or "none") + "</p>",
        "<h2>Outcomes by repository and format</h2>",
        _table(["repository", "format", "versions", "files", "bytes", *(label for label, _, _ in BANDS)],
               groups, set(range(2, 5 + len(BANDS)))),
        _legend(), _outcome_bars(report),
        "<h2>Throughput (items finished per minute)</h2>", _throughput(per_minute),
        "<h2>Largest items</h2>",
        ('<p class="muted">Not available for this report.</p>' if largest is None else
         _table(["item", "target", "state", "size"], _item_rows(largest, False), {3}) if largest else
         '<p class="muted">No item with a known size.</p>'),
        *(f"<h2>{_e(label.capitalize())} in the target ({len(rows)})</h2>"
          + _table(["item", "target", "state", "size", "attempts", "reason"], _item_rows(rows, True), {3, 4})
          for label, rows in report.differences.items() if rows),
        f"<h2>Failed items ({failures_total})</h2>",
        (_table(["item", "target", "state", "size", "attempts", "reason"], _item_rows(failures, True),
                {3, 4}) if failures else '<p class="muted">No failures.</p>'),
    ]
    if failures_total > len(failures):
        body.append(f"<p>… and {failures_total - len(failures)} more (see the JSON report).</p>")
    if report.problems:
        body.append(f"<h2>Problems ({len(report.problems)})</h2>")
        body.append("<ul>" + "".join(f"<li>{_e(problem)}</li>" for problem in report.problems) + "</ul>")
    if report.notes:
        body.append(f"<h2>Notes ({len(report.notes)})</h2>")
        body.append("<ul>" + "".join(f"<li>{_e(note)}</li>" for note in report.notes) + "</ul>")
    if report.remarks:
        body.append(f"<h2>Copied, with a remark ({report.remarks_total})</h2>")
        body.append(_table(["item", "target", "state", "size", "attempts", "remark"], _item_rows(report.remarks, True),
                           {3, 4}))
        if report.remarks_total > len(report.remarks):
            body.append(f"<p>… and {report.remarks_total - len(report.remarks)} more (see the JSON report).</p>")
    if report.skipped:
        body.append(f"<h2>Skipped ({sum(report.skipped.values())})</h2>")
        body.append(_table(["files", "reason"], [[n, reason] for reason, n in report.skipped.items()], {0}))
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{_e(title)}</title><style>{CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def render_html_from_file(report: RunReport) -> str:
    """:func:`render_html`, reading throughput and largest items from ``report.ledger`` if it is a file."""
    if Path(report.ledger).is_file():
        with LedgerReader(report.ledger, read_only=True) as reader:
            return render_html(report, reader)
    return render_html(report)


def write_html(report: RunReport, path: str | Path, reader: LedgerReader | None = None) -> None:
    """Write the page to *path*, whole or not at all, making its folder if need be (as write_report does).
    Raises :class:`UsageError` if the path cannot be written, :class:`FatalError` when the disk cannot take it."""
    write_file(path, render_html(report, reader) if reader is not None else render_html_from_file(report))
