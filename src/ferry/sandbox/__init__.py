"""Local stand-ins for CodeArtifact, Nexus 3 (and later Artifactory) that speak the real HTTP APIs.

They keep content on disk, stream bodies, and can inject faults, so ferry can be rehearsed and tested
with no cloud account. See ``docs/stand-ins.md`` for what each reproduces and which real clients accept it.
"""
