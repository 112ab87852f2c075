"""Measure the CodeArtifact stand-in's streamed uploads: npm publish body and PyPI multipart upload.

Runs the stand-in in a child process, sends one large npm publish (base64 tarball inside JSON) and
one large twine-style multipart upload, both generated on the fly, and prints throughput and the
server's peak RSS (VmHWM) before and after. Memory should not grow with the body size.

    .venv/bin/python bench/ca_endpoint_stream.py --mb 512
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tempfile
import textwrap
import time

import requests

SERVER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from ferry.sandbox.server import Sandbox, SandboxOptions
    from ferry.sandbox.codeartifact.app import endpoint_url
    sbx = Sandbox(SandboxOptions(data=Path(sys.argv[1]))).start()
    store = sbx.apps["codeartifact"].store
    d = store.create_domain("us-east-1", "111122223333", "bench")
    store.create_repository(d, "repo")
    token, _ = store.issue_token(d, 36000)
    base = sbx.urls()["codeartifact"]
    print(json.dumps({"npm": endpoint_url(base, d, "repo", "npm"), "pypi": endpoint_url(base, d, "repo", "pypi"),
                      "token": token}), flush=True)
    while True:
        time.sleep(3600)
""")

BLOCK = bytes(range(256)) * 3 * 1024  # 786,432 bytes: a multiple of 3, so its base64 has no padding


class Body:
    """A file-like body of known length made of ``head``, ``count`` copies of ``block`` and ``tail``."""

    def __init__(self, head: bytes, block: bytes, count: int, tail: bytes):
        self.parts = [head] + [block] * count + [tail]
        self.length = sum(map(len, self.parts))
        self._i, self._off = 0, 0

    def __len__(self) -> int:
        return self.length

    def read(self, n: int = -1) -> bytes:
        """Up to ``n`` bytes, never crossing a part (callers loop until b"")."""
        while self._i < len(self.parts) and self._off >= len(self.parts[self._i]):
            self._i, self._off = self._i + 1, 0
        if self._i >= len(self.parts):
            return b""
        part = self.parts[self._i]
        end = len(part) if n < 0 else min(len(part), self._off + n)
        out = part[self._off:end]
        self._off = end
        return out


def peak_rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=256, help="decoded size of each upload in MiB (about)")
    args = ap.parse_args()
    count = max(1, args.mb * 1024 * 1024 // len(BLOCK))
    size = count * len(BLOCK)
    sha256 = hashlib.sha256()
    for _ in range(count):
        sha256.update(BLOCK)
    with tempfile.TemporaryDirectory() as data:
        proc = subprocess.Popen([sys.executable, "-c", SERVER, data], stdout=subprocess.PIPE, text=True)
        try:
            info = json.loads(proc.stdout.readline())
            print(f"body: {size / 2**20:.0f} MiB decoded; server peak RSS at start {peak_rss_mb(proc.pid):.0f} MiB")

            head = json.dumps({"name": "big", "versions": {"1.0.0": {"name": "big", "version": "1.0.0"}},
                               "dist-tags": {"latest": "1.0.0"}})[:-1].encode()
            head += b', "_attachments": {"big-1.0.0.tgz": {"length": %d, "data": "' % size
            body = Body(head, base64.b64encode(BLOCK), count, b'"}}}')
            start = time.monotonic()
            resp = requests.put(info["npm"] + "big", data=body, timeout=3600,
                                headers={"Authorization": f"Bearer {info['token']}",
                                         "Content-Type": "application/json"})
            took = time.monotonic() - start
            print(f"npm publish: HTTP {resp.status_code}, {len(body) / 2**20:.0f} MiB body in {took:.1f}s "
                  f"({len(body) / 2**20 / took:.0f} MiB/s); server peak RSS {peak_rss_mb(proc.pid):.0f} MiB")

            boundary = b"benchboundary1234"
            head = (b"--%s\r\nContent-Disposition: form-data; name=\":action\"\r\n\r\nfile_upload\r\n"
                    b"--%s\r\nContent-Disposition: form-data; name=\"name\"\r\n\r\nbig\r\n"
                    b"--%s\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1.0\r\n"
                    b"--%s\r\nContent-Disposition: form-data; name=\"sha256_digest\"\r\n\r\n%s\r\n"
                    b"--%s\r\nContent-Disposition: form-data; name=\"content\"; filename=\"big-1.0.tar.gz\"\r\n"
                    b"Content-Type: application/octet-stream\r\n\r\n"
                    % (boundary, boundary, boundary, boundary, sha256.hexdigest().encode(), boundary))
            body = Body(head, BLOCK, count, b"\r\n--%s--\r\n" % boundary)
            start = time.monotonic()
            resp = requests.post(info["pypi"], data=body, auth=("aws", info["token"]), timeout=3600,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary.decode()}"})
            took = time.monotonic() - start
            print(f"pypi upload: HTTP {resp.status_code}, {len(body) / 2**20:.0f} MiB body in {took:.1f}s "
                  f"({len(body) / 2**20 / took:.0f} MiB/s); server peak RSS {peak_rss_mb(proc.pid):.0f} MiB")

            start = time.monotonic()
            got = requests.get(info["pypi"] + "simple/big/1.0/big-1.0.tar.gz", auth=("aws", info["token"]),
                               stream=True, timeout=3600)
            check = hashlib.sha256()
            for chunk in got.iter_content(1 << 20):
                check.update(chunk)
            took = time.monotonic() - start
            print(f"pypi download: HTTP {got.status_code}, sha256 {'ok' if check.hexdigest() == sha256.hexdigest() else 'MISMATCH'}"
                  f" in {took:.1f}s; server peak RSS {peak_rss_mb(proc.pid):.0f} MiB")
        finally:
            proc.terminate()
            proc.wait(timeout=10)


if __name__ == "__main__":
    main()
