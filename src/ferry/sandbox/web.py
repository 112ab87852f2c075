"""HTTP plumbing shared by the stand-ins: a quiet threaded werkzeug server and small response helpers."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response


class QuietHandler(WSGIRequestHandler):
    """Request handler that speaks HTTP/1.1 keep-alive and logs nothing (stand-ins are hot paths)."""

    protocol_version = "HTTP/1.1"

    def log_request(self, code="-", size="-") -> None:  # noqa: D401 - werkzeug API
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            super().log(type, message, *args)


@dataclass
class RunningServer:
    """A stand-in served on a background thread. ``url`` has no trailing slash."""

    name: str
    server: BaseWSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.server.server_port

    @property
    def url(self) -> str:
        host = self.server.server_address[0]
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def start_server(name: str, app, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve the WSGI ``app`` on ``host:port`` (0 = a free port) from a daemon thread."""
    server = make_server(host, port, app, threaded=True, request_handler=QuietHandler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name=f"standin-{name}", daemon=True)
    thread.start()
    return RunningServer(name, server, thread)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; ``body`` is serialized compactly."""
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp
