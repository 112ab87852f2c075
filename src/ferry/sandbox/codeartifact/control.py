"""Control plane of the CodeArtifact stand-in (placeholder: operations are being added)."""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.store import Store, ValidationError
from ferry.sandbox.faults import FaultSpec


class ControlPlane:
    def __init__(self, store: Store, faults: FaultSpec):
        self.store = store
        self.faults = faults

    def dispatch(self, request: Request, region: str) -> Response:
        raise ValidationError(f"Unknown operation {request.method} {request.path}")
