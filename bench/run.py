"""ferry's throughput, memory and quota benchmarks, in one go on one machine; figures go to docs/benchmarks.md.

    python bench/run.py --versions 10000 --big-asset-gb 2 --out docs/benchmarks.md
    python bench/run.py --scaling 1000,10000,100000 --out docs/benchmarks.md

The first form seeds a corpus (bench/corpus.py) into the Nexus stand-in, starts the stand-ins in
their own process (waitress engine) and runs:

1. the bare copier (bench/bare_copier.py) with ferry's worker count: the loopback limit; then the
   native copier (bench/native_copier.py), the same loop publishing each format natively, as ferry
   does, which splits the gap to ferry into the protocols' share and ferry's checks;
2. ``ferry migrate`` with client-side rate limits off (the stand-in has no quota here): versions/s,
   MB/s, ratio to the bare copier, peak RSS of the ferry process, CodeArtifact requests per version
   (counted by the stand-in);
3. the same ``ferry migrate`` again: time as a fraction of the first, bytes uploaded, list requests
   per package;
4. ``ferry migrate`` with its default limits against a stand-in enforcing 10 publishes/s (a separate
   corpus of npm and raw versions): publish rate sustained, as a share of the quota, and the share
   of publishes throttled;
   then that migrate again: its time as a share of a first run the quota paced; then the same
   corpus into a fresh domain with ``--latency-ms`` (default 50) added to every request of both
   stand-ins, as round trips to real services add it;
5. ledger overhead: the ledger writer thread's CPU (and producers' blocked time) as a share of run 2's
   wall time.

The second form runs ``ferry migrate`` alone on corpora of each size: time and memory per version.
Each form replaces only its own section of the output file (between its markers).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from harness import PYTHON, ROOT, StandIns, child_env, job_file, machine, run_measured  # noqa: E402

TARGETS = {"npm": "npm-store", "pypi": "pypi-store", "raw": "generic-store", "maven2": "maven-store"}
NO_LIMITS = {name: 0 for name in ("publish", "copy", "asset_read", "list", "token", "write", "read")}
LISTS = ("ListPackages", "ListPackageVersions", "ListPackageVersionAssets")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def mappings(prefix: str, formats) -> list[tuple[str, str, dict]]:
    out = []
    for fmt in formats:
        extra = {"namespace": "bench"} if fmt == "raw" else {}
        out.append((corpus.repo_name(prefix, fmt), TARGETS[fmt], extra))
    return out


def ferry(work: Path, name: str, job: Path, ledger: Path, sandbox: StandIns, quota: str | None = None) -> dict:
    """One measured ``ferry migrate`` through bench/ferry_child.py, with the stand-in's counters."""
    sandbox.quota(quota)
    stats_path = work / f"{name}.stats.json"
    cpu0 = sandbox.cpu_s()
    m = run_measured([PYTHON, str(ROOT / "bench" / "ferry_child.py"), str(stats_path), "--", "migrate", str(job),
                      "--state", str(ledger), "--no-progress"], child_env(work), work / f"{name}.log")
    out = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    out.update(code=m.code, wall_s=m.wall_s, peak_rss_mb=m.peak_rss_mb, cpu_s=m.cpu_s,
               standin_cpu_s=sandbox.cpu_s() - cpu0, counters=sandbox.counters())
    log(f"{name}: exit {m.code}, {m.wall_s:.1f}s, peak RSS {m.peak_rss_mb:.0f} MB")
    return out


def main_run(args, work: Path) -> dict:
    data = work / "data"
    log(f"seeding {args.versions} versions (+{args.big_asset_gb} GiB asset) into the Nexus stand-in")
    stats = corpus.seed(data / "nexus", args.versions, args.big_asset_gb)
    fmts = [fmt for fmt, _ in corpus.SHARES]
    quota_shares = (("npm", 0.5), ("raw", 0.5))
    qstats = corpus.seed(data / "nexus", args.quota_versions, prefix="quota", shares=quota_shares, seed_value=9)
    log(f"seeded in {stats.seconds + qstats.seconds:.0f}s")
    results = {"machine": machine(), "corpus": stats.__dict__, "quota_corpus": qstats.__dict__,
               "workers": args.workers, "command": " ".join(sys.argv)}
    sandbox = StandIns(data, args.server, work / "standins.log")
    try:
        sources = [corpus.repo_name("bench", f) for f in fmts]
        for name, script in (("bare", "bare_copier.py"), ("native", "native_copier.py")):
            sandbox.domain(name, sources)
            sandbox.quota("")
            cpu0 = sandbox.cpu_s()
            m = run_measured([PYTHON, str(ROOT / "bench" / script), str(work / f"{name}.json"),
                              sandbox.urls["nexus"], sandbox.ca, name, str(args.workers), *sources],
                             child_env(work), work / f"{name}.log")
            copier = json.loads((work / f"{name}.json").read_text())
            # Its own "wall_s" is the copy loop alone; the ratio compares launch-to-exit times, as ferry's is.
            copier.update(code=m.code, process_wall_s=m.wall_s, peak_rss_mb=m.peak_rss_mb, cpu_s=m.cpu_s,
                          standin_cpu_s=sandbox.cpu_s() - cpu0, counters=sandbox.counters())
            results[name] = copier
            log(f"{name} copier: {copier['wall_s']:.1f}s, {copier['files']} files, {copier['errors']} errors")

        sandbox.domain("ferry", list(TARGETS.values()))
        job = job_file(work / "job.toml", sandbox.urls["nexus"], sandbox.ca, "ferry", mappings("bench", fmts),
                       args.workers, NO_LIMITS)
        results["first"] = ferry(work, "first", job, work / "ferry.db", sandbox)
        results["rerun"] = ferry(work, "rerun", job, work / "ferry.db", sandbox)

        sandbox.domain("quota", [TARGETS["npm"], TARGETS["raw"]])
        qjob = job_file(work / "quota.toml", sandbox.urls["nexus"], sandbox.ca, "quota",
                        mappings("quota", [f for f, _ in quota_shares]), args.workers, None)
        results["quota"] = ferry(work, "quota", qjob, work / "quota.db", sandbox, quota="publish=10,burst=1s")
        # The rerun again, now against a first run the quota paced (as a real migration's is).
        results["quota_rerun"] = ferry(work, "quota-rerun", qjob, work / "quota.db", sandbox)

        if args.latency_ms:
            # The quota again, with every stand-in request slowed as a real service's is: ferry must
            # keep the pipe full through round trips, not only over loopback.
            sandbox.domain("latency", [TARGETS["npm"], TARGETS["raw"]])
            ljob = job_file(work / "latency.toml", sandbox.urls["nexus"], sandbox.ca, "latency",
                            mappings("quota", [f for f, _ in quota_shares]), args.workers, None)
            sandbox.faults(f"latency={args.latency_ms}ms")
            try:
                results["quota_latency"] = ferry(work, "quota-latency", ljob, work / "latency.db", sandbox,
                                                 quota="publish=10,burst=1s")
            finally:
                sandbox.faults("")
            results["latency_ms"] = args.latency_ms
    finally:
        sandbox.stop()
    return results


def scaling_run(args, work: Path) -> dict:
    rows = []
    for size in [int(s) for s in args.scaling.split(",")]:
        folder = work / f"scale-{size}"
        log(f"scaling: seeding {size} versions")
        stats = corpus.seed(folder / "data" / "nexus", size)
        sandbox = StandIns(folder / "data", args.server, folder / "standins.log")
        try:
            sandbox.domain("ferry", list(TARGETS.values()))
            fmts = [fmt for fmt, _ in corpus.SHARES]
            job = job_file(folder / "job.toml", sandbox.urls["nexus"], sandbox.ca, "ferry", mappings("bench", fmts),
                           args.workers, NO_LIMITS)
            first = ferry(folder, "first", job, folder / "ferry.db", sandbox)
            rerun = ferry(folder, "rerun", job, folder / "ferry.db", sandbox) if args.scaling_rerun else None
        finally:
            sandbox.stop()
        rows.append({"versions": size, "corpus": stats.__dict__, "first": first, "rerun": rerun})
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    return {"machine": machine(), "workers": args.workers, "command": " ".join(sys.argv), "rows": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", type=int, default=1000, help="corpus size for benchmarks 1-3 and 5")
    parser.add_argument("--big-asset-gb", type=float, default=0.0, help="add one raw file of this many GiB")
    parser.add_argument("--quota-versions", type=int, default=600, help="corpus size for benchmark 4")
    parser.add_argument("--latency-ms", type=float, default=50.0,
                        help="benchmark 4 again with this much added to every stand-in request (0: skip)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--server", default="waitress", help="stand-in HTTP engine (waitress or werkzeug)")
    parser.add_argument("--scaling", help="comma-separated corpus sizes: run the scaling table instead")
    parser.add_argument("--scaling-rerun", action="store_true", help="scaling: also time a rerun per size")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one, removed after)")
    parser.add_argument("--keep", action="store_true", help="keep the working folder")
    parser.add_argument("--out", type=Path, help="markdown file to write the figures into (its own section)")
    parser.add_argument("--json", type=Path, help="also write every figure as JSON here")
    args = parser.parse_args()
    from harness import commit

    measured = commit()  # now: the tree may change while a long run goes on
    work = args.work or Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        results = scaling_run(args, work) if args.scaling else main_run(args, work)
    finally:
        if not args.keep and args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    from figures import render_main, render_scaling, replace_section

    results["machine"]["commit"] = measured
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    text = render_scaling(results) if args.scaling else render_main(results)
    print(text)
    if args.out:
        replace_section(args.out, "scaling" if args.scaling else "main", text)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
