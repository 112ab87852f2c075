"""Nexus 3 stand-in WSGI app (placeholder until the REST v1 routes land)."""

from __future__ import annotations

from pathlib import Path

from werkzeug.wrappers import Request, Response

from ferry.sandbox.faults import FaultSpec


class NexusApp:
    def __init__(self, data_dir: Path, faults: FaultSpec | None = None):
        self.data_dir = Path(data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def __call__(self, environ, start_response):
        return Response("Not found\n", status=404)(environ, start_response)
