"""PyPI package endpoint of the CodeArtifact stand-in (what ``pip`` and ``twine`` talk to).

Routes below the repository endpoint:

- ``GET simple/``: the PEP 503 project list (projects with at least one listed version).
- ``GET simple/{project}/``: the PEP 503 project page: one link per file of each listed version,
  with a ``#sha256=`` fragment and ``data-requires-python`` when known. Any spelling of the name
  that normalizes (PEP 503) to a stored project is served.
- ``GET simple/{project}/{version}/{filename}``: the file, streamed from the blob store.
- ``POST`` to the endpoint itself: the legacy upload API twine uses (``:action=file_upload``,
  file part ``content`` plus metadata fields). ``md5_digest`` is not required; ``sha256_digest``,
  ``md5_digest`` and ``blake2_256_digest`` are checked when sent. The body is streamed by
  :mod:`.multipart`, so the file never sits in memory.

In the store the package name is the normalized name (display name: as uploaded), there is no
namespace, and each distribution file is one asset of the version. Version metadata keeps
``summary``, ``homePage``, ``licenses`` (DescribePackageVersion's names), the PyPI fields under
``pypi`` and, per file, ``requires_python``/``filetype``/``pyversion`` under ``files``.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import quote

from packaging.utils import (
    InvalidSdistFilename, InvalidWheelFilename, canonicalize_name, parse_sdist_filename, parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version as PyVersion
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ferry.sandbox.codeartifact.app import EndpointContext
from ferry.sandbox.codeartifact.formats._common import (
    downloadable, listed, origin_block_status, republish_conflicts, send_asset, text_error,
)
from ferry.sandbox.codeartifact.formats.multipart import BadForm, Form, FormTooLarge, read_form
from ferry.sandbox.codeartifact.store import Conflict, OriginBlocked

FORMAT = "pypi"
_PYPI_FIELDS = (
    "metadata_version", "name", "version", "summary", "home_page", "download_url", "author", "author_email",
    "maintainer", "maintainer_email", "license_expression", "keywords", "requires_python",
    "description_content_type", "classifiers", "requires_dist", "provides_extra", "project_urls", "platform",
)
_REPEATED = {"classifiers", "requires_dist", "provides_extra", "project_urls", "platform"}


def handle(ctx: EndpointContext, request: Request) -> Response:
    """Serve one PyPI request below the repository endpoint; returns the response (never raises StoreError)."""
    path, method = ctx.path, request.method
    if path == "" and method == "POST":
        return _upload(ctx, request)
    if method not in ("GET", "HEAD"):
        return text_error(f"Method {method} is not supported here", 405)
    if path in ("simple", "simple/"):
        return _project_list(ctx)
    if not path.startswith("simple/"):
        return text_error("Not found", 404)
    parts = path[len("simple/"):].split("/")
    if len(parts) == 1:
        return redirect(f"{ctx.base_url}simple/{quote(parts[0])}/", 301)
    if len(parts) == 2 and parts[1] == "":
        return _project_page(ctx, parts[0])
    if len(parts) == 3 and all(parts):
        return _download(ctx, request, *parts)
    return text_error("Not found", 404)


# -- simple index --------------------------------------------------------------------------------------


def _page(title: str, links: list[str]) -> Response:
    body = (
        "<!DOCTYPE html>\n<html>\n  <head>\n"
        '    <meta name="pypi:repository-version" content="1.0">\n'
        f"    <title>{html.escape(title)}</title>\n  </head>\n  <body>\n"
        + "".join(f"    {link}<br/>\n" for link in links)
        + "  </body>\n</html>\n"
    )
    return Response(body, mimetype="text/html")


def _project_list(ctx: EndpointContext) -> Response:
    # Store has no "list packages" call for this yet; read the table directly (read-only).
    rows = ctx.store.query(
        "SELECT p.name, p.display_name FROM packages p WHERE p.repo_id=? AND p.format=?"
        " AND EXISTS (SELECT 1 FROM versions v WHERE v.package_id=p.id AND v.status='Published')"
        " ORDER BY p.name",
        (ctx.repo.id, FORMAT),
    )
    links = [f'<a href="{quote(r["name"])}/">{html.escape(r["display_name"] or r["name"])}</a>' for r in rows]
    return _page("Simple index", links)


def _project_page(ctx: EndpointContext, project: str) -> Response:
    name = canonicalize_name(project)
    pkg = ctx.store.package(ctx.repo, FORMAT, None, name)
    if pkg is None:
        return text_error(f"Project {project} not found", 404)
    links = []
    for ver in ctx.store.versions(pkg):
        if not listed(ver):
            continue
        files = ver.metadata.get("files") or {}
        for asset in ctx.store.assets(ver):
            url = f"{ctx.base_url}simple/{name}/{quote(ver.version)}/{quote(asset.name)}#sha256={asset.sha256}"
            attrs = f'href="{html.escape(url)}"'
            requires = (files.get(asset.name) or {}).get("requires_python") or ver.metadata.get("requires_python")
            if requires:
                attrs += f' data-requires-python="{html.escape(requires)}"'
            links.append(f"<a {attrs}>{html.escape(asset.name)}</a>")
    return _page(f"Links for {pkg.display_name or name}", links)


def _download(ctx: EndpointContext, request: Request, project: str, version: str, filename: str) -> Response:
    pkg = ctx.store.package(ctx.repo, FORMAT, None, canonicalize_name(project))
    ver = ctx.store.version(pkg, version) if pkg else None
    asset = ctx.store.asset(ver, filename) if ver is not None and downloadable(ver) else None
    if asset is None:
        return text_error("Not found", 404)
    return send_asset(ctx, request, asset, "application/octet-stream", filename=filename)


# -- upload ---------------------------------------------------------------------------------------------


def _upload(ctx: EndpointContext, request: Request) -> Response:
    try:
        form = read_form(request.stream, request.headers.get("Content-Type", ""), ctx.store.blobs, "content")
    except FormTooLarge as err:
        return text_error(str(err), 413)
    except BadForm as err:
        return text_error(str(err), 400)
    problem = _check(form)
    if problem:
        return text_error(problem, 400)
    upload = form.upload
    assert upload is not None
    display, version = form.first("name") or "", form.first("version") or ""
    name, filename = canonicalize_name(display), _basename(upload.filename)
    store = ctx.store
    try:
        with store.tx():
            pkg = store.package(ctx.repo, FORMAT, None, name)
            old = store.version(pkg, version) if pkg else None
            if old is not None and republish_conflicts("FERRY_CA_PYPI_REUPLOAD") and store.asset(old, filename):
                return text_error(f"{filename} already exists in {name} {version}", 409)
            kept = old is not None and old.status != "Deleted"  # a Deleted version is replaced whole
            files = dict((old.metadata.get("files") if kept else None) or {})
            files[filename] = {k: form.first(k) for k in ("requires_python", "filetype", "pyversion") if form.first(k)}
            store.publish_asset(ctx.repo, FORMAT, None, name, version, filename, upload.blob,
                                metadata=_version_metadata(form, files), display_name=display)
    except OriginBlocked as err:
        return text_error(err.message, origin_block_status())
    except Conflict as err:
        return text_error(err.message, 409)
    return Response("OK\n", status=200, mimetype="text/plain")


def _basename(filename: str) -> str:
    return filename.replace("\\", "/").rsplit("/", 1)[-1]


def _check(form: Form) -> str | None:
    """Why the upload form is refused, or None if it is acceptable."""
    action = form.first(":action")
    if action != "file_upload":
        return f"Unsupported :action {action!r} (only file_upload is supported)"
    name, version, upload = form.first("name"), form.first("version"), form.upload
    if not name or not version:
        return "The name and version fields are required"
    if upload is None:
        return "The content file part is required"
    filename = _basename(upload.filename)
    if not filename or filename in (".", "..") or "/" in version:
        return f"Invalid distribution filename {upload.filename!r}"
    for field, ours in (("sha256_digest", upload.blob.sha256), ("md5_digest", upload.blob.md5),
                        ("blake2_256_digest", upload.blake2_256)):
        sent = form.first(field)
        if sent and sent.strip().lower() != ours:
            return f"The {field} does not match the uploaded file"
    parsed = _parse_filename(filename)
    if parsed is not None:
        file_name, file_version = parsed
        if file_name != canonicalize_name(name):
            return f"Filename {filename} does not belong to project {name}"
        try:
            if file_version is not None and file_version != PyVersion(version):
                return f"Filename {filename} does not belong to version {version}"
        except InvalidVersion:
            pass
    return None


def _parse_filename(filename: str) -> tuple[str, PyVersion | None] | None:
    """(normalized project, version) encoded in a wheel or sdist filename; None for other kinds of file."""
    try:
        if filename.endswith(".whl"):
            name, version, _build, _tags = parse_wheel_filename(filename)
            return name, version
        name, version = parse_sdist_filename(filename)
        return name, version
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None


def _version_metadata(form: Form, files: dict[str, Any]) -> dict[str, Any]:
    pypi = {}
    for key in _PYPI_FIELDS:
        values = form.fields.get(key)
        if values:
            pypi[key] = values if key in _REPEATED else values[0]
    meta: dict[str, Any] = {"pypi": pypi, "files": files}
    if pypi.get("summary"):
        meta["summary"] = pypi["summary"]
    if pypi.get("requires_python"):
        meta["requires_python"] = pypi["requires_python"]
    if pypi.get("home_page"):
        meta["homePage"] = pypi["home_page"]
    if form.first("description"):
        meta["readme"] = form.first("description")
    license_name = pypi.get("license_expression") or (form.first("license") or "").strip()
    if license_name and "\n" not in license_name and len(license_name) <= 200:
        meta["licenses"] = [{"name": license_name}]
    return meta
