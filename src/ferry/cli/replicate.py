"""``ferry replicate``: a thin command over :mod:`ferry.replicators`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from ferry.errors import EXIT_INTERRUPTED, UsageError


def _print_requests(requests: dict[str, dict[str, int]]) -> None:
    typer.echo("requests:")
    for side, counts in requests.items():
        shown = ", ".join(f"{op} {n}" for op, n in counts.items()) or "none"
        typer.echo(f"  {side}: {shown} (total {sum(counts.values())})")


def _print_outcome(outcome, report_path: Optional[Path]) -> None:
    from ferry.cli.jobs import print_notes
    from ferry.report import render_table, write_report

    print_notes(outcome.notes)
    # Problems are printed as problem: lines below, the notes as note: lines above.
    typer.echo(render_table(outcome.report, problems=False, notes=False))
    for target, tally in outcome.tallies.items():
        done = ", ".join(f"{what} {n}" for what, n in sorted(tally.items()) if n) or "nothing changed"
        typer.echo(f"{target} ({outcome.modes[target]}): {done}")
    for problem in outcome.problems:
        typer.echo(f"problem: {problem}", err=True)
    _print_requests(outcome.requests)
    if report_path is not None:
        kind = write_report(outcome.report, report_path)
        typer.echo(f"report written to {report_path} ({kind})")


def register(app: typer.Typer) -> None:
    """Add ``replicate`` to ``app``."""

    @app.command()
    def replicate(
        job: Path = typer.Argument(..., metavar="JOB", help="Job file (TOML) whose source is kind = \"codeartifact\"."),
        state: Optional[Path] = typer.Option(None, "--state", metavar="FILE", help="Ledger file (SQLite). Default ferry.db."),
        full: bool = typer.Option(False, "--full", help="Reconcile everything, not only what changed."),
        full_every: Optional[int] = typer.Option(None, "--full-every", metavar="N",
                                                 help="A full reconcile every N runs (default 7; job: full_every)."),
        propagate_deletes: bool = typer.Option(False, "--propagate-deletes",
                                               help="Also delete/dispose in the target what was in the source."),
        config_only: bool = typer.Option(False, "--config-only",
                                         help="Replicate the domain's configuration, not packages."),
        dry_run: bool = typer.Option(False, "--dry-run", help="With --config-only: show the changes, make none."),
        workers: Optional[int] = typer.Option(None, "--workers", metavar="N",
                                             help="Parallel transfers (default 4; job: workers)."),
        create_missing: bool = typer.Option(False, "--create-missing",
                                            help="Create the target domain and repositories if missing."),
        origin_policy: Optional[str] = typer.Option(None, "--origin-policy", metavar="report|allow-publish", help="report (default) or allow-publish."),
        report: Optional[Path] = typer.Option(None, "--report", metavar="FILE",
                                              help="Also write the report to FILE (.json, .csv, .md or .html)."),
        spool: Optional[Path] = typer.Option(None, "--spool", metavar="DIR", help="Folder for downloads in flight and the run's other scratch files."),
        allow_http: bool = typer.Option(False, "--allow-http", help="Allow plain http to non-loopback hosts."),
        ca_bundle: Optional[str] = typer.Option(None, "--ca-bundle", metavar="FILE", help="CA certificates file for a private CA."),
        progress: bool = typer.Option(True, "--progress/--no-progress",
                                      help="Show a progress bar (on a terminal, as migrate does)."),
        snapshots: Optional[str] = typer.Option(None, "--snapshots", metavar="skip|timestamped",
                                                help="Maven SNAPSHOTs: skip (default) or timestamped (copy the "
                                                     "newest build, as migrate does). Overrides [options] snapshots; "
                                                     "a mapping's own snapshots setting still wins."),
    ) -> None:
        """Bring a target CodeArtifact domain in step with a source domain (another region or account)."""
        from ferry.config import apply_overrides, load_job
        from ferry.engine import Settings

        from ferry import preflight

        if dry_run and not config_only:
            raise UsageError("--dry-run goes with --config-only (a package run's plan is in `ferry status`)")
        if config_only:
            unused = [flag for flag, given in (("--full", full), ("--propagate-deletes", propagate_deletes),
                                               ("--state", state is not None), ("--report", report is not None),
                                               ("--spool", spool is not None), ("--workers", workers is not None),
                                               ("--full-every", full_every is not None),
                                               ("--create-missing", create_missing),
                                               ("--origin-policy", origin_policy is not None),
                                               ("--snapshots", snapshots is not None)) if given]
            if unused:
                raise UsageError(f"{', '.join(unused)}: not used by --config-only, which copies the domain's "
                                 "configuration, not packages; leave it out or drop --config-only")
        else:
            state = state or Path("ferry.db")
            if report is not None:
                preflight.report_file(report, "--report")
            preflight.writable_file(state, "--state")
            if spool is not None:
                preflight.writable_folder(spool, "--spool")
        loaded = apply_overrides(load_job(job), workers=workers, origin_policy=origin_policy, full_every=full_every,
                                 snapshots=snapshots)
        if config_only:
            from ferry.replicators.config_sync import sync_config

            outcome = sync_config(loaded, dry_run=dry_run, allow_http=allow_http, ca_bundle=ca_bundle)
            for line in outcome.lines():
                typer.echo(line)
            _print_requests(outcome.requests)
            raise typer.Exit(outcome.exit_code)
        from ferry.replicators.run import ReplicateOptions, replicate as run_replicate

        from ferry.cli._state import tell_interrupted
        from ferry.cli.jobs import _Progress, last_run_id, tell_stopped_run
        from ferry.errors import FerryError

        recorded_before = last_run_id(state) if report is not None else None
        bar = _Progress("replicate", progress)
        settings = Settings(ledger=state, spool=spool, allow_http=allow_http, ca_bundle=ca_bundle, progress=bar)
        try:
            outcome = run_replicate(loaded, settings, ReplicateOptions(full=full, propagate_deletes=propagate_deletes,
                                                                       create_missing=create_missing))
        except KeyboardInterrupt:
            bar.close()
            tell_stopped_run(settings, state, report, recorded_before)
            tell_interrupted()
            raise typer.Exit(EXIT_INTERRUPTED)
        except FerryError as err:
            bar.close()
            # the error line follows, from the top-level handler
            tell_stopped_run(settings, state, report, recorded_before, refused=isinstance(err, UsageError))
            raise
        bar.close()
        _print_outcome(outcome, report)
        raise typer.Exit(outcome.exit_code)
