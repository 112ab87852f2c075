"""A local HTTP server answering every GET with one fixed body, for tests that measure a client's memory.

It runs in the test's own process, so it must allocate nothing per request that tracemalloc would count:
the body goes out in slices of a memoryview.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator


class BodyHandler(BaseHTTPRequestHandler):
    """Answers GET with :attr:`body` (JSON) and records each path in :attr:`paths`; subclass to add methods."""

    body: bytes = b""
    paths: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's naming
        self.paths.append(self.path)
        view = memoryview(self.body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        for start in range(0, len(view), 1 << 16):
            self.wfile.write(view[start:start + (1 << 16)])

    def log_message(self, *args):
        pass


@contextmanager
def serving(body: bytes, handler: type[BodyHandler] = BodyHandler) -> Iterator[tuple[str, list[str]]]:
    """``(base URL, paths requested)`` of a server answering every GET with ``body``, for the block's length."""
    paths: list[str] = []
    bound = type("Bound", (handler,), {"body": body, "paths": paths})
    server = ThreadingHTTPServer(("127.0.0.1", 0), bound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
