"""JSON shapes of the Nexus REST API: ``RepositoryXO``, ``ComponentXO``, ``AssetXO``, ``Page``.

Ids are what Nexus calls a ``RepositoryItemIDXO``: URL-safe base64, unpadded, of ``{repository}:{id}``.
Keys come in Nexus's order and nulls are kept (Nexus's Jackson mapper serializes them).
"""

from __future__ import annotations

import base64
import binascii
import time
from typing import Any

from ferry.sandbox.nexus.config import NexusConfig
from ferry.sandbox.nexus.store import AssetRow, ComponentRow, NotFound, RepoRecord, Unprocessable


def iso(ts: float | None) -> str | None:
    """Nexus's date form, e.g. ``2018-08-25T15:00:50.408+00:00`` (``None`` stays ``None``)."""
    if ts is None:
        return None
    # time.gmtime, not datetime: three dates per asset of every listing page, and this is twice as fast.
    whole = int(ts // 1)
    micros = round((ts - whole) * 1e6)  # as datetime.fromtimestamp rounds
    if micros >= 1_000_000:
        whole, micros = whole + 1, 0
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{micros // 1000:03d}+00:00"


def item_id(repo: str, ext: str) -> str:
    """The public id of a component or asset."""
    return base64.urlsafe_b64encode(f"{repo}:{ext}".encode()).decode().rstrip("=")


def parse_item_id(value: str) -> tuple[str, str]:
    """``(repository, external id)`` from a public id.

    Raises :class:`NotFound` if it is not base64 (Nexus answers 404) and :class:`Unprocessable`
    if it decodes to something without exactly one ``:`` (422).
    """
    try:
        decoded = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise NotFound(f"Unable to locate asset with id {value}") from None
    parts = decoded.split(":")
    if len(parts) != 2 or not all(parts):
        raise Unprocessable(f"Unable to parse RepositoryItemIDXO {value}")
    return parts[0], parts[1]


def repo_url(base: str, name: str) -> str:
    """``{base}/repository/{name}`` (no trailing slash), as Nexus shows it."""
    return f"{base}/repository/{name}"


def repository_xo(base: str, repo: RepoRecord) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    if repo.type == "proxy":
        attributes = {"proxy": {"remoteUrl": (repo.config.get("proxy") or {}).get("remoteUrl")}}
    return {"name": repo.name, "format": repo.format, "type": repo.type, "url": repo_url(base, repo.name),
            "attributes": attributes}


def repository_config(base: str, repo: RepoRecord) -> dict[str, Any]:
    """The format-specific ``/v1/repositories/{format}/{type}/{name}`` shape: stored settings plus url."""
    body = dict(repo.config)
    body.update({"name": repo.name, "format": repo.format, "type": repo.type, "url": repo_url(base, repo.name)})
    body.setdefault("online", True)
    return body


class Renderer:
    """Builds item shapes for one request (the base URL comes from the request's host)."""

    def __init__(self, config: NexusConfig, base: str, repos: dict[str, RepoRecord]):
        self.config = config
        self.base = base
        self.repos = repos

    def path(self, stored: str) -> str:
        return "/" + stored if self.config.leading_slash else stored

    def asset(self, a: AssetRow) -> dict[str, Any]:
        repo = self.repos[a.repo]
        all_sums = {"sha1": a.sha1, "md5": a.md5, "sha256": a.sha256, "sha512": a.sha512}
        return {
            "downloadUrl": f"{repo_url(self.base, a.repo)}/{a.path}",
            "path": self.path(a.path),
            "id": item_id(a.repo, a.ext),
            "repository": a.repo,
            "format": repo.format,
            "checksum": {k: all_sums[k] for k in self.config.checksums},
            "contentType": a.content_type,
            "lastModified": iso(a.blob_created),
            "lastDownloaded": iso(a.last_downloaded),
            "uploader": a.uploader,
            "uploaderIp": a.uploader_ip,
            "fileSize": a.size,
            "blobCreated": iso(a.created),
            "blobStoreName": repo.blob_store,
            # Keys starting with "_" are the stand-in's own bookkeeping, not Nexus attributes.
            repo.format: {k: v for k, v in a.attrs.items() if not k.startswith("_")},
        }

    def component(self, c: ComponentRow, assets: list[AssetRow]) -> dict[str, Any]:
        # Raw components are named by their path, which follows the leading-slash setting too.
        version = c.version
        if version is None and self.config.datastore_era:
            # The datastore schema has no null versions: versionless formats (raw) show "".
            version = ""
        return {
            "id": item_id(c.repo, c.ext),
            "repository": c.repo,
            "format": self.repos[c.repo].format,
            "group": c.group,
            "name": self.path(c.name) if self.repos[c.repo].format == "raw" else c.name,
            "version": version,
            "assets": [self.asset(a) for a in assets],
        }


def page(items: list[Any], token: str | None) -> dict[str, Any]:
    return {"items": items, "continuationToken": token}
