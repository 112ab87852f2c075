"""Measure ferry's peak memory on one npm package of many versions, from a CodeArtifact source.

A package published on every build has thousands of versions. This seeds one npm package of ``--versions``
versions (each manifest with 12 dependencies, every tenth version deprecated, ``latest`` on the newest)
straight into the CodeArtifact stand-in's store, as a source domain ``src``; starts the stand-ins in their
own process; and runs ``ferry migrate`` into an empty target domain, then ``ferry replicate`` of the same
job, each in a child process whose peak RSS is taken by ``os.wait4``. The first migrate publishes every
version and then deprecates every tenth in the target: one write-back of the target's packument of all
the versions. Replicate then lists and plans every version of the package again (``--full`` is not
needed: its ledger is a new one).

    .venv/bin/python bench/large_package.py --versions 1000,10000
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness import PYTHON, StandIns, child_env, commit, run_measured  # noqa: E402

NO_LIMITS = ("publish", "copy", "asset_read", "list", "token", "write", "read")


def seed(data: Path, versions: int) -> None:
    """The source domain ``src`` with repository ``npm-builds`` holding ``nightly`` in ``versions`` versions."""
    from ferry.sandbox.codeartifact.store import DEFAULT_ACCOUNT, Store
    from ferry.sandbox.seed import npm_tarball

    store = Store(data / "codeartifact")
    store._db.execute("PRAGMA synchronous=OFF")  # a throwaway folder: no fsync per version
    repo = store.create_repository(store.create_domain("us-east-1", DEFAULT_ACCOUNT, "src"), "npm-builds")
    with store.tx():
        for i in range(versions):
            version = f"1.{i // 1000}.{i % 1000}"
            manifest = {"name": "nightly", "version": version, "description": "nightly build", "main": "index.js",
                        "license": "MIT", "dependencies": {f"dep-{j}": f"^{j}.0.0" for j in range(12)}, "dist": {}}
            if i % 10 == 0:
                manifest["deprecated"] = f"build {version} is broken"
            store.publish_asset(repo, "npm", None, "nightly", version, "package.tgz",
                                store.blobs.put_bytes(npm_tarball("nightly", version)), single_asset=True,
                                metadata={"manifest": manifest}, display_name="nightly")
        store.set_dist_tag(store.require_package(repo, "npm", None, "nightly"), "latest", version)
    store.close()


def measure(versions: int, commands: list[str]) -> list[tuple[str, int, float, float]]:
    work = Path(tempfile.mkdtemp(prefix="ferry-large-package-"))
    try:
        seed(work / "data", versions)
        sandbox = StandIns(work / "data", "waitress", work / "standins.log")
        try:
            sandbox.domain("ferry", ["npm-store"])
            sandbox.quota("")
            rates = "\n".join(f"{name} = 0" for name in NO_LIMITS)
            job = work / "job.toml"
            job.write_text(f'[source]\nkind = "codeartifact"\ndomain = "src"\nregion = "us-east-1"\n'
                           f'url = "{sandbox.ca}"\n\n[target]\ndomain = "ferry"\nregion = "us-east-1"\n'
                           f'endpoint_url = "{sandbox.ca}"\n\n[[repositories]]\nsource = "npm-builds"\n'
                           f'target = "npm-store"\n\n[options]\nworkers = 8\n\n[options.rates]\n{rates}\n')
            rows = []
            for command in commands:
                extra = ["--no-progress"] if command == "migrate" else []
                m = run_measured([PYTHON, "-m", "ferry", command, str(job), "--state", str(work / f"{command}.db"),
                                  *extra], child_env(work), work / f"{command}.log")
                rows.append((command, m.code, m.wall_s, m.peak_rss_mb))
            return rows
        finally:
            sandbox.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", default="1000,10000", help="comma-separated version counts")
    parser.add_argument("--commands", default="migrate,replicate", help="ferry commands to run in order")
    args = parser.parse_args()
    print(f"ferry at commit `{commit()}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print("| versions | command | exit | wall s | peak RSS MB |")
    print("|---:|---|---:|---:|---:|")
    for count in (int(v) for v in args.versions.split(",")):
        for command, code, wall, rss in measure(count, args.commands.split(",")):
            print(f"| {count} | {command} | {code} | {wall:.0f} | {rss:.0f} |", flush=True)


if __name__ == "__main__":
    main()
