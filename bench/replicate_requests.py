"""What ferry replicate costs: requests per operation and wall time for a first (full) run, an idle
incremental run and a run after a few changes, on two regions of the local CodeArtifact stand-in.

    .venv/bin/python bench/replicate_requests.py --packages 200 --versions 5
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from ferry.config import load_job  # noqa: E402
from ferry.engine import Settings  # noqa: E402
from ferry.replicators.run import ReplicateOptions, replicate  # noqa: E402
from ferry.sandbox.server import Sandbox, SandboxOptions  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=int, default=200)
    parser.add_argument("--versions", type=int, default=5)
    args = parser.parse_args()
    os.environ.update(AWS_ACCESS_KEY_ID="AKIAFERRYBENCH", AWS_SECRET_ACCESS_KEY="bench",
                      AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    from replicate_helpers import SOURCE_REGION, Seeder, write_replica_job

    tmp = Path(tempfile.mkdtemp(prefix="ferry-bench-"))
    with Sandbox(SandboxOptions(data=tmp / "sandbox")) as sbx:
        src = Seeder(sbx, SOURCE_REGION)
        src.create("packages")
        for p in range(args.packages):
            for v in range(args.versions):
                src.assets("packages", "generic", "bench", f"pkg{p}", f"1.{v}.0", {"a.bin": f"{p}.{v}".encode()})
        job = load_job(write_replica_job(tmp / "job.toml", sbx.urls()["codeartifact"], [("packages", "packages")],
                                         options="create_missing = true\nworkers = 8"))
        settings = Settings(ledger=tmp / "ferry.db")
        for label, change in (("first (full)", None), ("idle (incremental)", None),
                              ("after 3 new versions + 2 status changes", True)):
            if change:
                for p in range(3):
                    src.assets("packages", "generic", "bench", f"pkg{p}", "9.0.0", {"a.bin": b"new"})
                src.status("packages", "generic", "bench", "pkg10", "1.0.0", "Unlisted")
                src.status("packages", "generic", "bench", "pkg11", "1.0.0", "Archived")
            started = time.perf_counter()
            outcome = replicate(job, settings, ReplicateOptions())
            took = time.perf_counter() - started
            print(f"{label}: exit {outcome.exit_code}, {took:.1f} s, items {outcome.report.counts}")
            for side, counts in outcome.requests.items():
                print(f"  {side}: total {sum(counts.values())}: {counts}")


if __name__ == "__main__":
    main()
