"""Generic package endpoint of the CodeArtifact stand-in: asset download only (a stand-in convenience).

Generic packages are published through the API (``PublishPackageVersion``) and read with
``GetPackageVersionAsset``; no package manager talks to the generic HTTP endpoint. For manual checks
the stand-in still serves ``GET {endpoint}{namespace}/{package}/{version}/{asset}``, streamed from the
blob store, for versions a client could download (Published or Unlisted). Everything else is 404.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import downloadable, send_asset, text_error

FORMAT = "generic"


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Stream the asset named by the path, or answer 404 (405 for anything but GET/HEAD)."""
    if request.method not in ("GET", "HEAD"):
        return text_error("Publish generic packages with the PublishPackageVersion API", 405)
    parts = ctx.path.split("/")
    if len(parts) != 4 or not all(parts):
        return text_error("Not found", 404)
    namespace, package, version, name = parts
    pkg = ctx.store.package(ctx.repo, FORMAT, namespace, package)
    ver = ctx.store.version(pkg, version) if pkg else None
    asset = ctx.store.asset(ver, name) if ver is not None and downloadable(ver) else None
    if asset is None:
        return text_error("Not found", 404)
    return send_asset(ctx, request, asset, "application/octet-stream", filename=name)
