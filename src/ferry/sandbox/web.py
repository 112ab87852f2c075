"""HTTP plumbing shared by the stand-ins: background servers and small response helpers.

Two engines serve the same WSGI apps behind one interface (:func:`start_server`):

- ``werkzeug``: werkzeug's threaded development server. One thread per connection and no keep-alive
  (werkzeug answers every request with ``Connection: close``).
- ``waitress``: waitress's thread pool with HTTP/1.1 keep-alive; less server CPU per small request
  (see docs/benchmarks.md). At most ``threads`` requests run at once (injected latency occupies a
  worker while it sleeps).

Both put a callable ``environ["ferry.abort"]`` in each request's environ, which the fault middleware
uses to break connections on purpose: ``abort(reset=True)`` arranges for the connection to be
reset (TCP RST) and ``abort(reset=False)`` for it to be closed after what was already sent. Each
returns an exception the app must raise (before ``start_response`` for a reset, from the body
iterator for a cut) so that the server drops the connection without logging an error.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import struct
import threading
from dataclasses import dataclass
from typing import Any, Callable

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Response

ENGINES = ("werkzeug", "waitress")
RECV_BYTES = 256 * 1024  # waitress: bytes read from a socket per turn of its loop
DEFAULT_ENGINE_ENV = "FERRY_SANDBOX_SERVER"
MAX_BODY = 8 * 1024**3


def default_engine() -> str:
    """The engine named by ``$FERRY_SANDBOX_SERVER``, else ``werkzeug``."""
    return os.environ.get(DEFAULT_ENGINE_ENV) or "werkzeug"

# SO_LINGER on with a zero timeout: close() then discards unsent data and sends RST instead of FIN.
_LINGER_RESET = struct.pack("ii", 1, 0)


class ServerStartError(OSError):
    """A stand-in could not listen (address in use, unknown host, ...); the message says which."""


class QuietHandler(WSGIRequestHandler):
    """werkzeug request handler that logs nothing but errors and can reset its connection on request."""

    protocol_version = "HTTP/1.1"
    _reset_on_finish = False

    def log_request(self, code="-", size="-") -> None:  # noqa: D401 - werkzeug API
        pass

    def log(self, type: str, message: str, *args: Any) -> None:
        if type == "error":
            super().log(type, message, *args)

    def make_environ(self):
        environ = super().make_environ()
        environ["ferry.abort"] = self._abort
        return environ

    def _abort(self, reset: bool) -> BaseException:
        # werkzeug treats ConnectionError from the app as "client went away": no traceback, no 500.
        self.close_connection = True
        if reset:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            self._reset_on_finish = True
            return ConnectionResetError("connection reset (injected fault)")
        return ConnectionAbortedError("response cut short (injected fault)")

    def finish(self) -> None:
        super().finish()
        if self._reset_on_finish:
            # Close before socketserver's shutdown(SHUT_WR), which would send a FIN first.
            self.connection.close()


@dataclass
class RunningServer:
    """A stand-in served on a background thread. ``url`` has no trailing slash."""

    name: str
    engine: str
    host: str
    port: int
    thread: threading.Thread
    _stop: Callable[[], None]

    @property
    def url(self) -> str:
        host = self.host
        if host in ("", "0.0.0.0", "::"):
            host = "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def stop(self) -> None:
        self._stop()
        self.thread.join(timeout=10)


def listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (0 = a free port).

    Raises :class:`ServerStartError` with a one-line reason if the address cannot be used.
    """
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, _, _, _, address = infos[0]
        return socket.create_server(address[:2], family=family, backlog=128)
    except socket.gaierror as err:
        raise ServerStartError(f"cannot listen on {host}:{port}: unknown host ({err.strerror})") from None
    except OSError as err:
        raise ServerStartError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def start_server(name: str, app, host: str = "127.0.0.1", port: int = 0, engine: str = "werkzeug",
                 threads: int = 32) -> RunningServer:
    """Serve the WSGI ``app`` on ``host:port`` (0 = a free port) from a daemon thread.

    ``engine`` is ``werkzeug`` or ``waitress``; ``threads`` sizes waitress's worker pool.
    Returns the :class:`RunningServer`; raises :class:`ServerStartError` if it cannot listen.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown server engine {engine!r}; known: {', '.join(ENGINES)}")
    sock = listen(host, port)
    try:
        if engine == "waitress":
            return _start_waitress(name, app, host, sock, threads)
        return _start_werkzeug(name, app, host, sock)
    except BaseException:
        sock.close()
        raise


STOP_POLL_S = 0.05  # how often a werkzeug stand-in's loop checks whether it is to stop


def _start_werkzeug(name: str, app, host: str, sock: socket.socket) -> RunningServer:
    bound_host, port = sock.getsockname()[:2]
    # werkzeug dups the descriptor; ours is closed once it has its own copy.
    server: BaseWSGIServer = make_server(bound_host, port, app, threaded=True, request_handler=QuietHandler,
                                         fd=sock.fileno())
    sock.close()
    server.daemon_threads = True
    # shutdown() waits for the loop to look up from select: at socketserver's default of every 0.5 s, each
    # stand-in took half a second to stop (a test suite starts and stops hundreds of them).
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": STOP_POLL_S},
                              name=f"standin-{name}", daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return RunningServer(name, "werkzeug", host, port, thread, stop)


def _start_waitress(name: str, app, host: str, sock: socket.socket, threads: int) -> RunningServer:
    from waitress.channel import ClientDisconnected, HTTPChannel
    from waitress.server import create_server
    from waitress.task import WSGITask

    class Task(WSGITask):
        def get_environment(self):
            environ = super().get_environment()
            environ["ferry.abort"] = self._abort
            return environ

        def _abort(self, reset: bool) -> BaseException:
            # waitress closes the channel after a ClientDisconnected (logged at INFO only); with
            # SO_LINGER(1, 0) that close is a reset.
            if reset:
                self.channel.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
                return ClientDisconnected("connection reset (injected fault)")
            return ClientDisconnected("response cut short (injected fault)")

    class Channel(HTTPChannel):
        task_class = Task

    # waitress warns "Task queue depth is N" whenever all workers are busy: noise under load tests.
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    port = sock.getsockname()[1]
    server = create_server(
        app, sockets=[sock], threads=threads, ident=f"ferry-{name}", clear_untrusted_proxy_headers=False,
        channel_timeout=120, asyncore_use_poll=True,  # poll(): no 1024-descriptor limit of select()
        # waitress refuses bodies over 1 GB by default; npm publishes go to 2 GB, assets to 5 GB.
        max_request_body_size=MAX_BODY,
        # Its loop reads 8 KiB per turn by default: 131,072 turns through Python for a 1 GB upload. At 256 KiB
        # the server's CPU for five 200 MB uploads fell from 2.86 s to 0.95 s (2-core bench machine).
        recv_bytes=RECV_BYTES)
    server.channel_class = Channel
    thread = threading.Thread(target=server.run, name=f"standin-{name}", daemon=True)
    thread.start()

    def stop() -> None:
        def close_all() -> None:
            # Runs on the loop thread; the loop ends once its socket map is empty.
            for dispatcher in list(server._map.values()):
                dispatcher.close()

        server.trigger.pull_trigger(close_all)
        thread.join(timeout=10)
        server.task_dispatcher.shutdown(timeout=5)

    return RunningServer(name, "waitress", host, port, thread, stop)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response; ``body`` is serialized compactly."""
    resp = Response(json.dumps(body), status=status, mimetype="application/json")
    for key, value in (headers or {}).items():
        resp.headers[key] = value
    return resp
