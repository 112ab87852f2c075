"""Package endpoints of the CodeArtifact stand-in, one module per format.

Each module exposes ``handle(ctx: EndpointContext, request) -> Response`` and is registered here
under its CodeArtifact format name.
"""

from __future__ import annotations

from ferry.sandbox.codeartifact.formats import cargo, ruby
from ferry.sandbox.codeartifact.formats import generic, maven, npm, nuget, pypi, swift

FORMAT_HANDLERS: dict = {
    "npm": npm.handle,
    "pypi": pypi.handle,
    "generic": generic.handle,
    "ruby": ruby.handle,
    "cargo": cargo.handle,
    "nuget": nuget.handle,
    "swift": swift.handle,
    "maven": maven.handle,
}
