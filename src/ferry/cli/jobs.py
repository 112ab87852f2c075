"""``ferry audit | migrate | verify | status | report``: thin commands over :mod:`ferry.commands`."""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import List, Optional

import typer

from ferry.errors import EXIT_INTERRUPTED, FatalError, FerryError, UsageError

STATE_HELP = "Ledger file (SQLite)."


def _settings(state: Path, spool: Optional[Path], allow_http: bool, ca_bundle: Optional[str], progress,
              shard=None, recall_target: bool = False):
    from ferry.engine import Settings

    return Settings(ledger=state, spool=spool, allow_http=allow_http, ca_bundle=ca_bundle, progress=progress,
                    shard=shard, recall_target=recall_target)


def _ledger_and_shard(state: Optional[Path], shard_flag: Optional[str]):
    """The ledger path and shard: ``--shard`` or the batch system's index; a shard's ledger defaults to
    ``ferry.shard-I-of-N.db`` unless ``--state`` names one."""
    from ferry.shard import resolve

    shard = resolve(shard_flag)
    if state is not None:
        return state, shard
    default = Path("ferry.db")
    return (shard.ledger(default) if shard else default), shard


def _load(job_path: Path, **overrides):
    from ferry.config import apply_overrides, load_job

    job = load_job(job_path)
    return apply_overrides(job, **overrides)


def print_notes(notes: list[str]) -> None:
    """The run's notes on stderr, one line each; also for a run that stopped, whose notes (what it created or
    changed in the target) no rerun repeats."""
    from ferry.report import one_line

    for note in notes:
        typer.echo(f"note: {one_line(note)}", err=True)  # notes quote the source's file names


def _print_outcome(outcome, report_path: Optional[Path]) -> None:
    from ferry.report import render_table, write_report

    print_notes(outcome.notes)
    typer.echo(render_table(outcome.report, notes=False))  # printed as note: lines above
    if report_path is not None:
        kind = write_report(outcome.report, report_path)
        typer.echo(f"report written to {report_path} ({kind})")


def last_run_id(state: Path) -> int | None:
    """The id of the last run ``state`` records (0: none, or no ledger yet), read without writing; None when it
    cannot be read (the run itself then says why)."""
    from ferry.state.reader import LedgerReader

    if not state.is_file():
        return 0
    try:
        with LedgerReader(state) as reader:
            last = reader.last_run()
    except Exception:  # noqa: BLE001 - not a ledger, or a newer one: the run refuses it with the reason
        return None
    return last.id if last else 0


def report_stopped_run(state: Path, report_path: Optional[Path], before: int | None) -> None:
    """Write ``--report`` for the run that was recorded after run ``before`` and then stopped (interrupted, or a
    fatal error), so the file describes it rather than an earlier run. Nothing when no run was recorded."""
    from ferry.report import build_report, write_report
    from ferry.state.reader import LedgerReader

    if report_path is None or before is None or not state.is_file():
        return
    try:
        with LedgerReader(state) as reader:
            last = reader.last_run()
            if last is None or last.id <= before:
                return
            report = build_report(reader, last.id)
        kind = write_report(report, report_path)
    except Exception:  # noqa: BLE001 - the line saying why the run stopped matters more than its report
        return
    typer.echo(f"report written to {report_path} ({kind})")


def tell_stopped_run(settings, state, report: Optional[Path], recorded_before: int | None, refused: bool = False) -> None:
    """What a run that stopped (interrupted, a fatal error) still tells: its notes so far and its report. A run
    ``refused`` as bad input (exit 2) has made no change to tell of: its one line says it all."""
    if settings is not None and not refused:
        print_notes(settings.notes)
    report_stopped_run(state, report, recorded_before)


class _Progress:
    """A tqdm bar on stderr, only when stderr is a terminal (CI logs stay readable)."""

    def __init__(self, label: str, enabled: bool):
        self.bar = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(desc=label, unit="file", file=sys.stderr)

    def __call__(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _run(command: str, job_path: Path, state: Optional[Path], report: Optional[Path], spool: Optional[Path],
         allow_http: bool, ca_bundle: Optional[str], create_missing: bool, progress: bool,
         shard: Optional[str] = None, **overrides) -> None:
    bar = settings = None
    recorded_before = None  # the ledger's last run before this one: a report is written only for a newer one
    returned = False  # whether commands.run returned (its notes and report are then the outcome's)
    try:
        from ferry import commands

        from ferry import preflight

        if report is not None:
            preflight.report_file(report, "--report")
        job = _load(job_path, **overrides)
        state, chosen = _ledger_and_shard(state, shard)
        if chosen is None and command == "migrate":  # audit and verify of the whole job read only
            from ferry.shard import check_indexed

            check_indexed()
        # Before anything is contacted or created: paths this run could not write are bad input.
        preflight.writable_file(state, "--state")
        if spool is not None:
            preflight.writable_folder(spool, "--spool")
        if report is not None:
            recorded_before = last_run_id(state)
        bar = _Progress(command, progress)
        # migrate may skip relisting target versions whose revision is unchanged; verify always looks
        settings = _settings(state, spool, allow_http, ca_bundle, bar, chosen, recall_target=command == "migrate")
        if chosen is not None:
            typer.echo(f"ferry: shard {chosen} (ledger {state})", err=True)
        outcome = commands.run(command, job, settings, create_missing=create_missing or job.options.create_missing)
        returned = True
        bar.close()
        _print_outcome(outcome, report)
    except KeyboardInterrupt:
        # Caught here, not left to click (which turns it into a silent exit 130), wherever it lands.
        if bar is not None:
            bar.close()
        from ferry.cli._state import tell_interrupted

        if not returned:
            tell_stopped_run(settings, state, report, recorded_before)
        tell_interrupted()
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except FerryError as err:
        if bar is not None:
            bar.close()
        if not returned:  # the error line follows, from the top-level handler
            tell_stopped_run(settings, state, report, recorded_before, refused=isinstance(err, UsageError))
        raise
    raise typer.Exit(outcome.exit_code)


JOB = typer.Argument(..., metavar="JOB", help="Job file (TOML).", exists=False)
STATE = typer.Option(Path("ferry.db"), "--state", metavar="FILE", help=STATE_HELP)
REPORT = typer.Option(None, "--report", metavar="FILE", help="Also write the report to FILE (.json, .csv, .md or .html).")
SPOOL = typer.Option(None, "--spool", metavar="DIR", help="Folder for downloads in flight and the run's other scratch "
                     "files (default: a temporary folder).")
# audit and verify download nothing to publish, but a package whose listing does not name it (a NuGet package
# without properties, its .nuspec at the end) is copied while it is read: a big one must not fill /tmp.
READ_SPOOL = typer.Option(None, "--spool", metavar="DIR", help="Folder for packages copied while read to learn "
                          "their names and the run's other scratch files (default: a temporary folder).")
ALLOW_HTTP = typer.Option(False, "--allow-http", help="Allow plain http to non-loopback hosts.")
CA_BUNDLE = typer.Option(None, "--ca-bundle", metavar="FILE", help="CA certificates file for a private CA.")
# What a glob is matched against (ferry.config.RepositoryMapping.selects): the one place a user reads the rule.
INCLUDE = typer.Option(None, "--include", metavar="GLOB", help=(
    "Only packages matching this glob: it is matched against @scope/name (npm), group/artifact (Maven), "
    "namespace/package (generic), the bare name, the name as the source spells it (PyPI Acme.Core for acme-core) "
    "and each of them followed by @version (lodash@4.*); case-sensitive except for NuGet and Swift. Repeatable; "
    "replaces [options] include; a mapping's own include still applies."))
EXCLUDE = typer.Option(None, "--exclude", metavar="GLOB", help=(
    "Skip packages matching this glob (matched as for --include). Repeatable; replaces [options] exclude; a "
    "mapping's own exclude still applies."))
SINCE = typer.Option(None, "--since", metavar="DATE", help="Only files published on or after this date (YYYY-MM-DD).")
SNAPSHOTS = typer.Option(None, "--snapshots", metavar="skip|timestamped", help="Maven SNAPSHOT versions: skip (default; counted as skipped) "
                         "or timestamped (publish the newest build). Overrides [options] snapshots; a "
                         "mapping's own snapshots setting still wins.")
JOB_STATE = typer.Option(None, "--state", metavar="FILE", help=STATE_HELP + " Default ferry.db, or ferry.shard-I-of-N.db for a shard.")
SHARD = typer.Option(None, "--shard", metavar="I/N", help="Only the packages of shard I of N (I/N, from 1; default from "
                     "AWS_BATCH_JOB_ARRAY_INDEX/SIZE or JOB_COMPLETION_INDEX/FERRY_SHARD_COUNT).")


def register(app: typer.Typer) -> None:
    """Add the job commands to ``app``."""

    register_demo(app)

    @app.command()
    def audit(job: Path = JOB, state: Optional[Path] = JOB_STATE, report: Optional[Path] = REPORT,
              create_missing: bool = typer.Option(False, "--create-missing",
                                                  help="Plan against an empty target where the domain or a "
                                                       "repository is missing (creates nothing; migrate would)."),
              spool: Optional[Path] = READ_SPOOL, allow_http: bool = ALLOW_HTTP, ca_bundle: Optional[str] = CA_BUNDLE,
              include: Optional[List[str]] = INCLUDE, exclude: Optional[List[str]] = EXCLUDE,
              since: Optional[str] = SINCE, shard: Optional[str] = SHARD,
              snapshots: Optional[str] = SNAPSHOTS) -> None:
        """Dry run: plan every item as copy / same / conflict / only-in-target / unmappable / skipped.
        Publishes nothing."""
        _run("audit", job, state, report, spool, allow_http, ca_bundle, create_missing, False, shard,
             include=include or None, exclude=exclude or None, since=since, snapshots=snapshots)

    @app.command()
    def migrate(job: Path = JOB, state: Optional[Path] = JOB_STATE, report: Optional[Path] = REPORT,
                workers: Optional[int] = typer.Option(None, "--workers", metavar="N",
                                                      help="Parallel transfers (default 4; job: workers)."),
                create_missing: bool = typer.Option(False, "--create-missing",
                                                    help="Create the target domain and repositories if missing."),
                origin_policy: Optional[str] = typer.Option(None, "--origin-policy", metavar="report|allow-publish",
                                                            help="report (default) or allow-publish."),
                spool: Optional[Path] = SPOOL, allow_http: bool = ALLOW_HTTP, ca_bundle: Optional[str] = CA_BUNDLE,
                include: Optional[List[str]] = INCLUDE, exclude: Optional[List[str]] = EXCLUDE,
                since: Optional[str] = SINCE, shard: Optional[str] = SHARD,
                progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
                snapshots: Optional[str] = SNAPSHOTS) -> None:
        """Copy what the plan says to copy, confirm each item's SHA-256 on the target. Re-run to resume."""
        _run("migrate", job, state, report, spool, allow_http, ca_bundle, create_missing, progress, shard,
             workers=workers, origin_policy=origin_policy, include=include or None, exclude=exclude or None,
             since=since, snapshots=snapshots)

    @app.command()
    def verify(job: Path = JOB, state: Optional[Path] = JOB_STATE, report: Optional[Path] = REPORT,
               spool: Optional[Path] = READ_SPOOL, allow_http: bool = ALLOW_HTTP, ca_bundle: Optional[str] = CA_BUNDLE,
               shard: Optional[str] = SHARD, snapshots: Optional[str] = SNAPSHOTS) -> None:
        """Re-check every source item against the target by SHA-256: missing, differing and extra items."""
        _run("verify", job, state, report, spool, allow_http, ca_bundle, False, False, shard, snapshots=snapshots)

    @app.command()
    def status(state: Path = STATE,
               run: Optional[int] = typer.Option(None, "--run", metavar="ID", help="Run id (default: the last run).")) -> None:
        """Show the last (or a given) run recorded in the ledger."""
        from ferry.report import build_report, render_table
        from ferry.state.reader import LedgerReader

        _require_ledger(state)
        with LedgerReader(state, read_only=True) as reader:
            typer.echo(render_table(build_report(reader, _chosen_run(reader, state, run).id)))

    @app.command()
    def report(state: Path = STATE,
               run: Optional[int] = typer.Option(None, "--run", metavar="ID", help="Run id (default: the last run)."),
               output: Optional[Path] = typer.Option(None, "--output", "-o", metavar="FILE",
                                                     help="Write to FILE (.json/.csv/.md/.html)."),
               html: Optional[Path] = typer.Option(None, "--html", metavar="FILE", help="Also write a self-contained HTML page."),
               merge: bool = typer.Option(False, "--merge", help="Report the LEDGERS of a sharded run as one "
                                          "(read-only): every item's latest state across them."),
               ledgers: Optional[List[Path]] = typer.Argument(None, metavar="LEDGER", help="With --merge: the shards' ledger files."),
               ) -> None:
        """Write the report of the last (or a given) run: JSON on stdout, or to --output by extension."""
        from ferry import preflight
        from ferry.report import build_report, render_json, write_report
        from ferry.state.reader import LedgerReader

        if output is not None:
            preflight.report_file(output, "--output")
        if html is not None:
            preflight.writable_file(html, "--html")
        if merge or ledgers:
            rep = _merged_report(merge, ledgers or [], run)
        else:
            _require_ledger(state)
            with LedgerReader(state, read_only=True) as reader:
                rep = build_report(reader, _chosen_run(reader, state, run).id)
        if html is not None:
            from ferry.report_html import write_html

            write_html(rep, html)
            typer.echo(f"HTML report written to {html}")
        if output is None and html is None:
            typer.echo(render_json(rep), nl=False)
        elif output is not None:
            write_report(rep, output)
            typer.echo(f"report written to {output}")


def register_demo(app: typer.Typer) -> None:
    @app.command()
    def demo(data: Optional[Path] = typer.Option(None, "--data", metavar="DIR", help="Keep the demo's stand-ins and ledger here."),
             serve: bool = typer.Option(False, "--serve", help="Keep the stand-ins running afterwards (Ctrl-C).")
             ) -> None:
        """A whole migration on local stand-ins: seed Nexus, audit, migrate, verify, then show install commands."""
        from ferry import preflight
        from ferry.demo import run_demo
        from ferry.sandbox.server import SandboxError

        if data is not None:
            preflight.writable_folder(data, "--data")
        try:
            code = run_demo(typer.echo, data=data, serve=serve)
        except KeyboardInterrupt:
            code = 0 if serve else EXIT_INTERRUPTED
        except SandboxError as err:  # the stand-ins could not start there (something in the way)
            if data is None:
                raise FatalError(f"the demo's stand-ins could not start: {err}") from None
            raise UsageError(f"--data {data}: {err}; choose another folder") from None
        raise typer.Exit(code)


def _merged_report(merge: bool, ledgers: List[Path], run: Optional[int]):
    """The report over several shard ledgers (``--merge``); each shard's last run is listed on stderr, and the
    report carries that run's notes, each led by the shard's ledger and run."""
    from dataclasses import replace

    from ferry.report import build_report, counted
    from ferry.state.merge import merged, shards_not_given

    if not merge:
        raise UsageError("ledger files given without --merge; write ferry report --merge LEDGER...")
    if run is not None:
        raise UsageError("--run names one ledger's run; leave it out with --merge")
    with merged(ledgers) as (reader, parts):
        for part in parts:
            last = part.last_run
            state = f"last run {last.id} {last.command} {last.status}" if last else "no run recorded"
            typer.echo(f"{part.path}: {counted(part.items, 'item')}, {state}", err=True)
        missing = shards_not_given(ledgers)
        for line in missing:
            typer.echo(line, err=True)
        notes = missing + [f"{part.path} (run {part.last_run.id}): {note}" for part in parts if part.last_run
                           for note in part.last_run.notes]
        return replace(build_report(reader, None), notes=notes)


def _require_ledger(state: Path) -> None:
    """Refuse, without creating or changing anything, a --state that holds no ferry ledger."""
    from ferry.commands import check_ledger

    if not state.is_file() or not check_ledger(state):
        # A sharded run leaves ferry.shard-I-of-N.db beside the ferry.db it did not write: name those
        # rather than tell the operator to run a migration that has run.
        shards = sorted(p.name for p in state.parent.glob(f"{glob.escape(state.stem)}.shard-*-of-*{state.suffix}"))
        if shards:
            raise UsageError(f"{state}: no ledger here, but the shards' are: {', '.join(shards)}; pass one with "
                             f"--state, or read them all with ferry report --merge {state.stem}.shard-*{state.suffix}")
        raise UsageError(f"{state}: no ledger here; pass --state PATH or run ferry audit/migrate first")


def _chosen_run(reader, state: Path, run: Optional[int]):
    """The run ``--run`` names, else the last one. Raises :class:`UsageError` naming the runs there are."""
    last = reader.last_run()
    if last is None:
        raise UsageError(f"{state}: no run recorded yet; run ferry audit or migrate first")
    chosen = reader.run(run) if run is not None else last
    if chosen is None:
        raise UsageError(f"{state}: no run {run} recorded; the last run is {last.id} (ferry status shows it)")
    return chosen
