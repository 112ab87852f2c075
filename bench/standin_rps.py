"""Requests per second the stand-ins serve for small requests, per server engine.

Starts ``ferry sandbox serve`` in a child process (so server and clients do not share a GIL), sets up
a domain, a repository and a token, then for each engine, target and client count runs N threads
that each loop a ``requests.Session`` (keep-alive where the server allows it) for a fixed time:

- ``ca-control``: CodeArtifact ListDomains (``POST /v1/domains``, raw HTTP with a SigV4-shaped header)
- ``ca-pypi``: the CodeArtifact PyPI ``simple/`` index of a repository (package endpoint, token auth)
- ``nexus``: Nexus ``GET /service/rest/v1/repositories`` (basic auth)

Prints machine facts and a Markdown table: req/s, median and 99th percentile latency, CPU time the
server process and the client threads spent per request, errors.

    .venv/bin/python bench/standin_rps.py --engines werkzeug,waitress --clients 1,4,16 --seconds 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import requests

SCOPE = "AWS4-HMAC-SHA256 Credential=AKIDBENCH/20240101/us-east-1/codeartifact/aws4_request, " \
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64
NEXUS_AUTH = ("admin", "admin123")


def machine() -> dict[str, str]:
    """CPU count, CPU model and Python version, as the benchmark doc records them."""
    model = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as info:
            model = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"nproc": str(os.cpu_count()), "cpu": model, "python": platform.python_version(),
            "os": f"{platform.system()} {platform.release()}"}


def start(engine: str, data: str) -> tuple[subprocess.Popen, dict[str, str]]:
    proc = subprocess.Popen([sys.executable, "-m", "ferry", "sandbox", "serve", "--data", data, "--server", engine],
                            stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def targets(urls: dict[str, str]) -> dict[str, dict]:
    """Request arguments per target; creates the domain/repository/token the package endpoint needs."""
    ca = boto3.client("codeartifact", region_name="us-east-1", endpoint_url=urls["codeartifact"],
                      aws_access_key_id="AKIDBENCH", aws_secret_access_key="secret")
    if not ca.list_domains()["domains"]:
        ca.create_domain(domain="bench")
        ca.create_repository(domain="bench", repository="repo")
    token = ca.get_authorization_token(domain="bench")["authorizationToken"]
    pypi = ca.get_repository_endpoint(domain="bench", repository="repo", format="pypi")["repositoryEndpoint"]
    return {
        "ca-control": {"method": "POST", "url": urls["codeartifact"] + "/v1/domains", "data": b"{}",
                       "headers": {"Authorization": SCOPE, "Content-Type": "application/json"}},
        "ca-pypi": {"method": "GET", "url": pypi + "simple/", "auth": ("aws", token)},
        "nexus": {"method": "GET", "url": urls["nexus"] + "/service/rest/v1/repositories", "auth": NEXUS_AUTH},
    }


def cpu_seconds(pid: int) -> float:
    """User+system CPU time a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(request: dict, clients: int, seconds: float, server_pid: int, warmup: float = 0.5) -> dict[str, float]:
    """Drive ``request`` with ``clients`` threads for ``seconds`` (after a warm-up); returns the figures.

    Besides req/s and latency, reports the CPU time server and clients spent per request over the whole
    run: on a machine where both compete for few cores, that shows who the bottleneck is.
    """
    barrier = threading.Barrier(clients + 1)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    window: dict[str, float] = {}

    def client(i: int) -> None:
        session = requests.Session()
        barrier.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= window["end"]:
                break
            try:
                resp = session.request(timeout=30, **request)
                ok = resp.status_code == 200 and resp.content is not None
            except requests.RequestException:
                ok = False
            t1 = time.perf_counter()
            if t0 >= window["start"]:
                if ok:
                    latencies[i].append(t1 - t0)
                else:
                    errors[i] += 1
        session.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    now = time.perf_counter()
    window.update(start=now + warmup, end=now + warmup + seconds)
    cpu_server, cpu_client = cpu_seconds(server_pid), time.process_time()
    barrier.wait()
    for t in threads:
        t.join()
    cpu_server, cpu_client = cpu_seconds(server_pid) - cpu_server, time.process_time() - cpu_client
    done = sorted(x for lat in latencies for x in lat)
    total = sum(len(lat) for lat in latencies) + sum(errors)  # includes the warm-up's share, like the CPU time
    return {
        "rps": len(done) / seconds,
        "server_ms": cpu_server / max(total, 1) * 1000,
        "client_ms": cpu_client / max(total, 1) * 1000,
        "p50": statistics.median(done) * 1000 if done else float("nan"),
        "p99": done[min(len(done) - 1, int(len(done) * 0.99))] * 1000 if done else float("nan"),
        "errors": sum(errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engines", default="werkzeug,waitress")
    parser.add_argument("--clients", default="1,4,16", help="comma-separated client thread counts")
    parser.add_argument("--seconds", type=float, default=5.0, help="measured time per cell")
    parser.add_argument("--targets", default="ca-control,ca-pypi,nexus")
    args = parser.parse_args()

    info = machine()
    print(f"nproc={info['nproc']} cpu={info['cpu']!r} python={info['python']} os={info['os']!r}")
    print(f"command: {' '.join([os.path.relpath(sys.executable), *sys.argv])}")
    print()
    print("| engine | target | clients | req/s | p50 ms | p99 ms | server CPU ms/req | client CPU ms/req | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for engine in args.engines.split(","):
        with tempfile.TemporaryDirectory(prefix="ferry-bench-") as data:
            proc, urls = start(engine, data)
            try:
                reqs = targets(urls)
                for name in args.targets.split(","):
                    for n in (int(c) for c in args.clients.split(",")):
                        r = run(reqs[name], n, args.seconds, proc.pid)
                        print(f"| {engine} | {name} | {n} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} "
                              f"| {r['server_ms']:.2f} | {r['client_ms']:.2f} | {r['errors']} |", flush=True)
            finally:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)


if __name__ == "__main__":
    main()
