"""CodeArtifact stand-in: control plane (``/v1/...``, SigV4-signed by boto3) and package endpoints."""

from ferry.sandbox.codeartifact.app import CodeArtifactApp

__all__ = ["CodeArtifactApp"]
