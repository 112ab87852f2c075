"""Start and stop all stand-ins together: what ``ferry sandbox serve`` and the tests use."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ferry.sandbox.faults import FaultSpec
from ferry.sandbox.web import RunningServer, start_server


@dataclass
class SandboxOptions:
    data: Path | None = None
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int | None = None


class Sandbox:
    """The running stand-ins. Use as a context manager, or call :meth:`start` and :meth:`stop`."""

    def __init__(self, options: SandboxOptions | None = None):
        self.options = options or SandboxOptions()
        self._own_tmp = self.options.data is None
        self.data = Path(self.options.data or tempfile.mkdtemp(prefix="ferry-sandbox-"))
        self.servers: dict[str, RunningServer] = {}
        self.apps: dict[str, object] = {}

    def start(self) -> "Sandbox":
        from ferry.sandbox.codeartifact import CodeArtifactApp
        from ferry.sandbox.nexus import NexusApp

        self.data.mkdir(parents=True, exist_ok=True)
        makers = {"codeartifact": CodeArtifactApp, "nexus": NexusApp}
        for name, make in makers.items():
            app = make(self.data / name, faults=self.options.faults)
            self.apps[name] = app
            self.servers[name] = start_server(name, app, self.options.host, self.options.ports.get(name, 0))
        return self

    def urls(self) -> dict[str, str]:
        """The base URL of each stand-in, as printed by ``ferry sandbox serve``."""
        return {name: srv.url for name, srv in self.servers.items()}

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()
        self.servers.clear()
        for app in self.apps.values():
            close = getattr(app, "close", None)
            if close:
                close()
        if self._own_tmp:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
