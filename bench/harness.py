"""Plumbing for bench/run.py: the stand-ins in their own process, measured child processes, the machine."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import boto3
import requests
from botocore.config import Config

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ENV = {"AWS_ACCESS_KEY_ID": "AKIAFERRYBENCH", "AWS_SECRET_ACCESS_KEY": "ferry-bench-secret",
       "AWS_DEFAULT_REGION": "us-east-1", "NEXUS_PASSWORD": "admin123"}


def child_env(work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "JOB_COMPLETION", "FERRY_SHARD"))}
    env.update(ENV, AWS_CONFIG_FILE=str(work / "aws-config"), AWS_SHARED_CREDENTIALS_FILE=str(work / "aws-creds"))
    return env


def machine() -> dict[str, str]:
    """nproc, CPU model, RAM, Python, OS and the load average right now."""
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "ram": ram, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}", "load": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "commit": commit()}


def commit() -> str:
    """The ferry commit measured (``-dirty`` when the tree has uncommitted changes), or "unknown"."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head + ("-dirty" if dirty else "")


@dataclass
class Measured:
    code: int
    wall_s: float
    peak_rss_mb: float
    cpu_s: float


def run_measured(argv: list[str], env: dict[str, str], log: Path) -> Measured:
    """Run ``argv`` as a child and wait for it with ``os.wait4``: its own peak RSS and CPU, not the tree's."""
    began = time.perf_counter()
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=str(log.parent))
        _pid, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(proc.returncode, time.perf_counter() - began, usage.ru_maxrss / 1024,
                    usage.ru_utime + usage.ru_stime)


class StandIns:
    """``ferry sandbox serve`` over a data folder, in its own process (so it never shares ferry's GIL)."""

    def __init__(self, data: Path, engine: str, log: Path):
        self.proc = subprocess.Popen([PYTHON, "-m", "ferry", "sandbox", "serve", "--data", str(data),
                                      "--server", engine], stdout=subprocess.PIPE, stderr=open(log, "ab"),
                                     text=True)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"stand-ins did not start; see {log}")
        self.urls = json.loads(line)
        self.ca = self.urls["codeartifact"]
        self.client = boto3.client("codeartifact", endpoint_url=self.ca, region_name="us-east-1",
                                   aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                                   aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"],
                                   config=Config(retries={"total_max_attempts": 3}))

    def quota(self, spec: str | None = None) -> dict:
        """Reset the CodeArtifact counters (and set the quota to ``spec``; None keeps it). Returns the status."""
        if spec is None:
            spec = requests.get(self.ca + "/__sandbox/quota", timeout=30).json()["quota"]
        return requests.put(self.ca + "/__sandbox/quota", json={"quota": spec}, timeout=30).json()

    def faults(self, spec: str) -> None:
        """Set the injected faults of the CodeArtifact and Nexus stand-ins (e.g. ``latency=50ms``; "" for none)."""
        for name in ("codeartifact", "nexus"):
            resp = requests.put(self.urls[name] + "/__sandbox/faults", json={"faults": spec}, timeout=30)
            resp.raise_for_status()

    def counters(self) -> dict:
        return requests.get(self.ca + "/__sandbox/quota", timeout=30).json()

    def domain(self, name: str, repos: list[str]) -> None:
        self.client.create_domain(domain=name)
        for repo in repos:
            self.client.create_repository(domain=name, repository=repo)

    def cpu_s(self) -> float:
        """CPU seconds the stand-ins' process has used so far (from /proc)."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def job_file(path: Path, nexus: str, ca: str, domain: str, mappings: list[tuple[str, str, dict]], workers: int,
             rates: dict[str, float] | None) -> Path:
    """A ferry job file: ``mappings`` are (source repo, target repo, extra keys)."""
    lines = ["[source]", 'kind = "nexus"', f'url = "{nexus}"', 'username = "admin"', 'password_env = "NEXUS_PASSWORD"',
             "", "[target]", f'domain = "{domain}"', 'region = "us-east-1"', f'endpoint_url = "{ca}"', ""]
    for source, target, extra in mappings:
        lines += ["[[repositories]]", f'source = "{source}"', f'target = "{target}"']
        lines += [f"{k} = {json.dumps(v)}" for k, v in extra.items()]
        lines.append("")
    lines += ["[options]", f"workers = {workers}", ""]
    if rates is not None:
        lines.append("[options.rates]")
        lines += [f"{k} = {v:g}" for k, v in rates.items()]
    path.write_text("\n".join(lines) + "\n")
    return path
