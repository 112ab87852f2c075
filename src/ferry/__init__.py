"""ferry: move software packages into AWS CodeArtifact exactly, once, and verifiably."""

__version__ = "0.1.0"
