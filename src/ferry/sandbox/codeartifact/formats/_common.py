"""Helpers shared by the package-endpoint modules: status visibility, knobs, streamed asset responses.

Which versions a package manager sees follows the CodeArtifact user guide (packages-overview,
update-package-version-status): ``Published`` versions are listed and downloadable; ``Unlisted`` ones
can still be downloaded but are left out of the version lists clients get (``npm view``, the simple
index); ``Archived``, ``Unfinished``, ``Disposed`` and ``Deleted`` ones are neither listed nor served.

Behaviour the reference marks unverified ([U]) is set by environment variables read per request,
so a test or an operator can flip it without restarting the stand-in:

- ``FERRY_CA_ORIGIN_BLOCK_STATUS``: HTTP status for a publish refused by origin controls
  (``publish=BLOCK``); default ``403``.
- ``FERRY_CA_NPM_REPUBLISH``: ``identical-ok`` (default: re-publishing an npm version with the same
  tarball succeeds, different content is 409) or ``conflict`` (any re-publish of an existing version is 409).
- ``FERRY_CA_PYPI_REUPLOAD``: same choice for re-uploading an existing PyPI file
  (``identical-ok`` default, or ``conflict``).
"""

from __future__ import annotations

import os
from urllib.parse import quote

from werkzeug.wrappers import Request, Response
from werkzeug.wsgi import wrap_file

from ferry.sandbox.blobs import CHUNK
from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.store import Asset, Version

LISTED = frozenset({"Published"})
DOWNLOADABLE = frozenset({"Published", "Unlisted"})


def listed(ver: Version) -> bool:
    """True if package managers see ``ver`` in version lists (packument, simple index)."""
    return ver.status in LISTED


def downloadable(ver: Version) -> bool:
    """True if the assets of ``ver`` may be fetched through a package endpoint."""
    return ver.status in DOWNLOADABLE


def origin_block_status() -> int:
    """The HTTP status of a publish refused by ``publish=BLOCK`` (``FERRY_CA_ORIGIN_BLOCK_STATUS``, default 403)."""
    raw = os.environ.get("FERRY_CA_ORIGIN_BLOCK_STATUS", "").strip()
    return int(raw) if raw.isdigit() and 400 <= int(raw) <= 599 else 403


def republish_conflicts(variable: str) -> bool:
    """True if ``variable`` (``FERRY_CA_NPM_REPUBLISH``/``FERRY_CA_PYPI_REUPLOAD``) is set to ``conflict``."""
    return os.environ.get(variable, "identical-ok").strip().lower() == "conflict"


def send_asset(ctx: EndpointContext, request: Request, asset: Asset, mimetype: str,
               filename: str | None = None) -> Response:
    """A response streaming ``asset`` from the blob store in chunks (headers only for HEAD).

    Carries ``Content-Length``, an ``ETag`` of the SHA-256 and ``X-Checksum-Sha256``/``-Sha1``
    so callers can verify what they got without a second request.
    """
    headers = {
        "ETag": f'"{asset.sha256}"',
        "X-Checksum-Sha256": asset.sha256,
        "X-Checksum-Sha1": asset.sha1,
        "Accept-Ranges": "none",
    }
    if filename:
        headers["Content-Disposition"] = (
            f'attachment; filename="{filename}"' if filename.isascii() and '"' not in filename
            else f"attachment; filename*=UTF-8''{quote(filename, safe='')}"
        )
    if request.method == "HEAD":
        resp = Response(b"", mimetype=mimetype, headers=headers)
    else:
        body = wrap_file(request.environ, ctx.store.blobs.open(asset.sha256), CHUNK)
        resp = Response(body, mimetype=mimetype, headers=headers, direct_passthrough=True)
    resp.content_length = asset.size
    return resp


def text_error(message: str, status: int) -> Response:
    """A plain-text error response (what pip and twine print)."""
    return Response(message.rstrip("\n") + "\n", status=status, mimetype="text/plain")
