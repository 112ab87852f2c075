"""Package endpoints of the CodeArtifact stand-in, one module per format."""

from __future__ import annotations

FORMAT_HANDLERS: dict = {}
