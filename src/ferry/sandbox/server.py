"""Start and stop all stand-ins together: what ``ferry sandbox serve`` and the tests use."""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ferry.sandbox.codeartifact.quota import QuotaController, QuotaMiddleware, QuotaSpec
from ferry.sandbox.faults import FaultController, FaultMiddleware, FaultSpec
from ferry.sandbox.web import RunningServer, default_engine, start_server

SERVICES = ("codeartifact", "nexus", "artifactory")
KEEP_SEED = object()  # set_faults(): keep the sandbox's seed
# Requests under these paths get AWS-shaped fault responses (the JSON control plane botocore talks to).
_AWS_PREFIX = {"codeartifact": "/v1/"}
# Where a stand-in's API lives below its server's root (the base URL a job file's ``url`` takes).
_URL_PATH = {"artifactory": "/artifactory"}


class SandboxError(Exception):
    """The sandbox could not start (unusable data folder, port in use, ...); one-line message."""


@dataclass
class SandboxOptions:
    data: Path | None = None
    host: str = "127.0.0.1"
    ports: dict[str, int] = field(default_factory=dict)
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int | None = None
    engine: str = field(default_factory=default_engine)  # werkzeug | waitress
    quota: QuotaSpec = field(default_factory=QuotaSpec)  # CodeArtifact request quotas (none: count only)


class Sandbox:
    """The running stand-ins. Use as a context manager, or call :meth:`start` and :meth:`stop`.

    ``apps[name]`` is each stand-in's WSGI app (e.g. ``apps["codeartifact"].store``), ``faults[name]``
    its :class:`FaultController`, ``servers[name]`` its :class:`RunningServer`; ``quota`` the
    CodeArtifact stand-in's :class:`QuotaController` (request counters, enforced quotas).
    """

    def __init__(self, options: SandboxOptions | None = None):
        self.options = options or SandboxOptions()
        self._own_tmp = self.options.data is None
        self.data = Path(self.options.data or tempfile.mkdtemp(prefix="ferry-sandbox-"))
        self.servers: dict[str, RunningServer] = {}
        self.apps: dict[str, object] = {}
        self.faults: dict[str, FaultController] = {
            name: FaultController(name, self.options.faults, self.options.seed) for name in SERVICES
        }
        self.quota = QuotaController(self.options.quota)

    def start(self) -> "Sandbox":
        """Start every stand-in. Raises :class:`SandboxError` (after stopping what did start)."""
        from ferry.sandbox.artifactory import ArtifactoryApp
        from ferry.sandbox.codeartifact import CodeArtifactApp
        from ferry.sandbox.nexus import NexusApp

        makers = {"codeartifact": CodeArtifactApp, "nexus": NexusApp, "artifactory": ArtifactoryApp}
        try:
            _check_writable(self.data)
            for name in SERVICES:
                controller = self.faults[name]
                # The app gets the live controller, so settings like token_ttl follow run-time changes.
                app = makers[name](self.data / name, faults=controller)
                self.apps[name] = app
                wrapped = FaultMiddleware(app, controller, aws_prefix=_AWS_PREFIX.get(name))
                if name == "codeartifact":
                    # outermost: it counts every request a client sent, faulted or not
                    wrapped = QuotaMiddleware(wrapped, self.quota)
                if name in _URL_PATH:
                    from ferry.sandbox.artifactory.app import AdminAlias

                    wrapped = AdminAlias(wrapped, _URL_PATH[name])
                self.servers[name] = start_server(name, wrapped, self.options.host, self.options.ports.get(name, 0),
                                                  engine=self.options.engine)
        except (OSError, ValueError) as err:  # ValueError: a stand-in's setting from the environment is malformed
            self.stop()
            raise SandboxError(f"{name}: {err}") from None
        return self

    def urls(self) -> dict[str, str]:
        """The base URL of each stand-in, as printed by ``ferry sandbox serve``."""
        return {name: srv.url + _URL_PATH.get(name, "") for name, srv in self.servers.items()}

    def set_faults(self, spec: FaultSpec | str | None, seed: int | None | object = KEEP_SEED) -> None:
        """Change every stand-in's faults at run time and zero their counters.

        Each random sequence restarts from ``seed`` (by default the sandbox's seed; None: unseeded).
        Raises :class:`~ferry.sandbox.faults.FaultSpecError` for a bad spec text.
        """
        if not isinstance(spec, FaultSpec):
            spec = FaultSpec.parse(spec)
        if seed is KEEP_SEED:
            seed = self.options.seed
        for controller in self.faults.values():
            controller.configure(spec, seed)

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()
        self.servers.clear()
        for app in self.apps.values():
            close = getattr(app, "close", None)
            if close:
                close()
        self.apps.clear()
        if self._own_tmp:
            shutil.rmtree(self.data, ignore_errors=True)

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _check_writable(folder: Path) -> None:
    """Raise :class:`SandboxError` unless ``folder`` exists (or can be made) and takes new files."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=folder, prefix=".probe-", delete=False)
        probe.close()
        os.unlink(probe.name)
    except OSError as err:
        raise SandboxError(f"data folder {folder} is not writable: {err.strerror or err}") from None
