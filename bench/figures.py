"""Markdown for bench/run.py's results, and replacing only its own section of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path

LISTS = ("ListPackages", "ListPackageVersions", "ListPackageVersionAssets")
GOAL = {"ratio": 0.8, "rss": 150.0, "rerun": 0.05, "quota": 0.95, "throttled": 0.01, "ledger": 0.05}


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f}"


def _copier_row(label: str, run: dict) -> str:
    """One row of benchmark 1: a copier's files, times and CPU (its own and the stand-ins')."""
    wall = run.get("process_wall_s", run["wall_s"])
    return (f"| {label} | {run['files']:,} | {run['errors']} | {wall:.1f} | {run['wall_s']:.1f} | "
            f"{run['files'] / wall:.1f} | {run['bytes'] / 1e6 / wall:.1f} | {run['peak_rss_mb']:.0f} | "
            f"{run['cpu_s']:.1f} | {run['standin_cpu_s']:.1f} |")


def _quota_row(label: str, run: dict) -> str:
    """One row of benchmark 4: the publish rate the stand-in accepted, as a share of its 10/s quota."""
    q = run["counters"]
    sent = q.get("requests", {}).get("publish", 0)
    throttled = q.get("throttled", {}).get("publish", 0)
    span = q.get("span", {}).get("publish", 0.0)
    rate = (sent - throttled - 1) / span if span else 0.0
    limiter = run.get("limiter", {}).get("publish", {})
    return (f"| {label} | {run['code']} | {run['wall_s']:.1f} | {sent - throttled} | {throttled} | {rate:.2f} | "
            f"{rate / 10:.3f} ({_ok(rate / 10 >= GOAL['quota'])}, goal ≥ 0.95) | "
            f"{throttled / sent if sent else 0:.4f} ({_ok(sent and throttled / sent <= GOAL['throttled'])}, "
            f"goal ≤ 0.01) | {limiter.get('waited', 0):.1f} |")


def _ok(good: bool) -> str:
    return "met" if good else "**missed**"


def _machine(res: dict) -> list[str]:
    m = res["machine"]
    measured = f" ferry at commit `{m['commit']}`." if m.get("commit") else ""
    return [f"Machine: nproc={m['nproc']}, CPU `{m['cpu']}`, RAM {m['ram']}, Python {m['python']}, {m['os']}; "
            f"load average at the end {m['load']}. Workers: {res['workers']}. Stand-ins in their own process "
            f"(waitress engine), ferry and each copier in a process of its own.{measured}", "",
            "Command:", "", f"    {res['command']}", ""]


def _requests(counters: dict) -> int:
    return sum(counters.get("operations", {}).values())


def _ops(counters: dict, versions: int) -> str:
    ops = sorted(counters.get("operations", {}).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{name} {n / versions:.2f}" for name, n in ops if n)


def render_main(res: dict) -> str:
    c, bare, first, rerun, quota = res["corpus"], res["bare"], res["first"], res["rerun"], res["quota"]
    versions, files, size = c["versions"], c["files"], c["bytes"]
    big = f", including one file of {_mb(c['big_asset_bytes'])} MiB" if c["big_asset_bytes"] else ""
    lines = ["## ferry migrate: throughput, memory, reruns, the publish quota (`bench/run.py`)", ""]
    lines += _machine(res)
    fmt = ", ".join(f"{k} {v['versions']} versions/{v['files']} files/{_mb(v['bytes'])} MiB"
                    for k, v in c["by_format"].items())
    lines += [f"Corpus: {versions:,} versions, {files:,} files, {_mb(size)} MiB{big}, {c['packages']:,} packages "
              f"({fmt}); seeded in {c['seconds']:.0f} s straight into the Nexus stand-in's store through its "
              "upload code (`Ingest.upload`/`put_raw`, no HTTP; see bench/corpus.py).", ""]

    bare_wall = bare.get("process_wall_s", bare["wall_s"])
    native = res.get("native")
    rows = [_copier_row("bare (the loopback limit)", bare)]
    if native:
        rows.append(_copier_row("native", native))
    lines += ["### 1. Bare copier (the loopback limit)", "",
              "List components, download each file to a temporary file, one PublishPackageVersion (generic) "
              "per file; no ledger, no hashing, no checks. `wall s` is launch to exit (as for ferry below); "
              "`copy loop s` leaves out starting Python and importing boto3. The native copier "
              "(bench/native_copier.py) runs the same loop but publishes each version the way its format's "
              "clients do, as ferry does (npm PUT, PyPI upload, Maven PUTs then `maven-metadata.xml`, raw as "
              "generic); the goal is judged against the bare copier, as the issue defines it.", "",
              "| copier | files | errors | wall s | copy loop s | files/s | MB/s | peak RSS MB | CPU s (copier) | "
              "CPU s (stand-ins) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|", *rows, ""]

    ratio = bare_wall / first["wall_s"]
    reqs = _requests(first["counters"])
    lines += ["### 2. ferry migrate (client-side limits off: `[options.rates]` all 0)", "",
              "| exit | wall s | versions/s | MB/s | ratio to bare copier | peak RSS MB | CA requests/version | "
              "plan s | transfer s | CPU s (ferry) | CPU s (stand-ins) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
              f"| {first['code']} | {first['wall_s']:.1f} | {versions / first['wall_s']:.1f} | "
              f"{size / 1e6 / first['wall_s']:.1f} | {ratio:.3f} ({_ok(ratio >= GOAL['ratio'])}, goal ≥ 0.8) | "
              f"{first['peak_rss_mb']:.0f} ({_ok(first['peak_rss_mb'] <= GOAL['rss'])}, goal ≤ 150) | "
              f"{reqs / versions:.2f} | {first.get('plan_s', 0):.1f} | {first.get('transfer_s', 0):.1f} | "
              f"{first['cpu_s']:.1f} | {first['standin_cpu_s']:.1f} |", "",
              f"CodeArtifact requests per version, by operation: {_ops(first['counters'], versions)}.", ""]
    if native:
        native_wall = native.get("process_wall_s", native["wall_s"])
        lines += [f"Ratio to the native copier: {native_wall / first['wall_s']:.3f} ({native_wall:.1f} s against "
                  f"{first['wall_s']:.1f} s; the native copier made {_requests(native['counters']) / versions:.2f} "
                  "CodeArtifact requests per version).", ""]

    counters = rerun["counters"]
    lists = sum(counters.get("operations", {}).get(op, 0) for op in LISTS)
    uploaded = counters.get("bytes_in", {}).get("publish", 0)
    publishes = counters.get("requests", {}).get("publish", 0)
    frac = rerun["wall_s"] / first["wall_s"]
    lines += ["### 3. The same ferry migrate again", "",
              "| exit | wall s | fraction of the first run | bytes uploaded | publish requests | "
              "list requests/package | CA requests/version |",
              "|---:|---:|---:|---:|---:|---:|---:|",
              f"| {rerun['code']} | {rerun['wall_s']:.1f} | {frac:.3f} ({_ok(frac <= GOAL['rerun'])}, goal ≤ 0.05) | "
              f"{uploaded} ({_ok(uploaded == 0)}, goal 0) | {publishes} | {lists / c['packages']:.2f} | "
              f"{_requests(counters) / versions:.2f} |", "",
              f"Requests per version, by operation: {_ops(counters, versions)}.", ""]

    qc = res["quota_corpus"]
    qfiles = ", ".join(f"{k} {v['files']} files" for k, v in qc["by_format"].items())
    header = ["| run | exit | wall s | publishes accepted | throttled | publish rate /s | share of the quota | "
              "throttled share | ferry waited s (limiter) |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    rows = [_quota_row("loopback", quota)]
    if res.get("quota_latency"):
        rows.append(_quota_row(f"+{res['latency_ms']:g} ms per request", res["quota_latency"]))
    lines += ["### 4. At the publish quota (stand-in: `--quota publish=10,burst=1s`; ferry: default limits)", "",
              f"Corpus: {qc['versions']} versions ({qfiles}), "
              "published through npm PUTs and PublishPackageVersion, both counted against one 10/s quota. "
              "The second row runs it again into a fresh domain with the latency added to every request of "
              "both stand-ins (`latency=` fault), as round trips to real services add it.", "",
              *header, *rows, "",
              "The rate is measured at the stand-in: accepted publishes over the time from the first to the last.", ""]
    again = res.get("quota_rerun")
    if again:
        uploaded = again["counters"].get("bytes_in", {}).get("publish", 0)
        frac = again["wall_s"] / quota["wall_s"]
        lines += [f"The same migrate again: exit {again['code']}, {again['wall_s']:.1f} s, {frac:.3f} of the "
                  f"quota-paced first run ({_ok(frac <= GOAL['rerun'])}, goal ≤ 0.05), {uploaded} bytes uploaded, "
                  f"{_requests(again['counters']) / qc['versions']:.2f} CodeArtifact requests per version.", ""]

    lines += ["### 5. Ledger overhead", "",
              "What the ledger costs the run: the CPU time of its writer thread (applying and committing batches) "
              "plus the time workers were blocked handing it events (a full queue), as a share of the run's wall "
              "time. `busy s` is the writer's wall time from taking a batch to committing it; it is longer than "
              "its CPU time because the writer waits for the GIL while the workers run, time in which the run "
              "goes on.", "",
              "| run | wall s | ledger CPU s | producers blocked s | overhead share | busy s | batches | events |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in (("first", first), ("rerun", rerun)):
        cost = r.get("ledger_cpu_s", 0.0) + r.get("put_blocked_s", 0.0)
        share = cost / r["wall_s"]
        goal = f" ({_ok(share <= GOAL['ledger'])}, goal ≤ 0.05)" if name == "first" else ""
        lines.append(f"| {name} | {r['wall_s']:.1f} | {r.get('ledger_cpu_s', 0):.2f} | "
                     f"{r.get('put_blocked_s', 0):.2f} | {share:.3f}{goal} | {r.get('ledger_busy_s', 0):.2f} | "
                     f"{r.get('ledger_batches', 0):,} | {r.get('ledger_events', 0):,} |")
    lines.append("")
    return "\n".join(lines)


def render_scaling(res: dict) -> str:
    lines = ["## Scaling: time and memory per version (`bench/run.py --scaling`)", ""]
    lines += _machine(res)
    lines += ["Each size is its own corpus (same mix as above, no big file), its own stand-ins and a fresh target; "
              "ferry with client-side limits off.", "",
              "| versions | files | MiB | wall s | ms/version | versions/s | peak RSS MB | CA requests/version | "
              "rerun s | rerun fraction | rerun peak RSS MB |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for row in res["rows"]:
        f, c, r = row["first"], row["corpus"], row["rerun"]
        n = row["versions"]
        rr = f"{r['wall_s']:.1f} | {r['wall_s'] / f['wall_s']:.3f} | {r['peak_rss_mb']:.0f}" if r else "– | – | –"
        lines.append(f"| {n:,} | {c['files']:,} | {_mb(c['bytes'])} | {f['wall_s']:.1f} | "
                     f"{f['wall_s'] * 1000 / n:.1f} | {n / f['wall_s']:.1f} | {f['peak_rss_mb']:.0f} | "
                     f"{_requests(f['counters']) / n:.2f} | {rr} |")
    lines.append("")
    return "\n".join(lines)


def replace_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` between this section's markers in ``path`` (appended the first time); the rest stays."""
    begin, end = f"<!-- bench/run.py:{name} -->", f"<!-- /bench/run.py:{name} -->"
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    if begin in old and end in old:
        head, rest = old.split(begin, 1)
        _, tail = rest.split(end, 1)
        new = head + block + tail
    else:
        new = old.rstrip() + "\n\n" + block + "\n"
    path.write_text(new)
