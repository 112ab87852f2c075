"""JSON shapes of the Artifactory REST API, and its error body ``{"errors":[{"status":..,"message":..}]}``."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from werkzeug.wrappers import Response

from ferry.sandbox.artifactory.aql import iso
from ferry.sandbox.artifactory.store import Node, Repo, Store

# Repository configuration defaults the client models expect, per rclass.
_LOCAL_DEFAULTS = {
    "description": "", "notes": "", "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "simple-default",
    "checksumPolicyType": "client-checksums", "handleReleases": True, "handleSnapshots": True,
    "maxUniqueSnapshots": 0, "maxUniqueTags": 0, "snapshotVersionBehavior": "unique",
    "suppressPomConsistencyChecks": False, "blackedOut": False, "xrayIndex": False, "propertySets": [],
    "archiveBrowsingEnabled": False, "calculateYumMetadata": False, "yumRootDepth": 0, "dockerApiVersion": "V2",
    "enableFileListsIndexing": False, "downloadRedirect": False, "cdnRedirect": False, "priorityResolution": False,
}
_REMOTE_DEFAULTS = {
    "description": "", "notes": "", "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "simple-default",
    "remoteRepoChecksumPolicyType": "generate-if-absent", "handleReleases": True, "handleSnapshots": True,
    "maxUniqueSnapshots": 0, "suppressPomConsistencyChecks": False, "hardFail": False, "offline": False,
    "blackedOut": False, "storeArtifactsLocally": True, "socketTimeoutMillis": 15000,
    "retrievalCachePeriodSecs": 7200, "missedRetrievalCachePeriodSecs": 1800, "unusedArtifactsCleanupPeriodHours": 0,
    "assumedOfflinePeriodSecs": 300, "shareConfiguration": False, "synchronizeProperties": False,
    "blockMismatchingMimeTypes": True, "propertySets": [], "allowAnyHostAuth": False, "enableCookieManagement": False,
    "bypassHeadRequests": False, "xrayIndex": False, "dockerApiVersion": "V2",
}
_VIRTUAL_DEFAULTS = {
    "description": "", "notes": "", "includesPattern": "**/*", "excludesPattern": "", "repoLayoutRef": "simple-default",
    "repositories": [], "artifactoryRequestsCanRetrieveRemoteArtifacts": False,
    "pomRepositoryReferencesCleanupPolicy": "discard_active_reference", "dockerApiVersion": "V2",
}
DEFAULTS = {"local": _LOCAL_DEFAULTS, "remote": _REMOTE_DEFAULTS, "virtual": _VIRTUAL_DEFAULTS,
            "federated": _LOCAL_DEFAULTS}
LAYOUTS = {"maven": "maven-2-default", "gradle": "maven-2-default", "npm": "npm-default", "nuget": "nuget-default",
           "pypi": "simple-default", "generic": "simple-default", "cargo": "cargo-default"}


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    """Artifactory's JSON error body."""
    body = json.dumps({"errors": [{"status": status, "message": message}]}, indent=2)
    return Response(body, status=status, mimetype="application/json", headers=headers or {})


def json_response(body: Any, status: int = 200) -> Response:
    # Artifactory pretty-prints its REST answers.
    return Response(json.dumps(body, indent=2), status=status, mimetype="application/json")


def package_type_label(package_type: str) -> str:
    """The capitalized form the repository list shows (``npm`` -> ``Npm``)."""
    return package_type[:1].upper() + package_type[1:]


def repo_config(repo: Repo) -> dict[str, Any]:
    """GET /api/repositories/{key}: the stored configuration over the defaults of its rclass."""
    out = {"key": repo.key, **DEFAULTS.get(repo.rclass, {})}
    out["repoLayoutRef"] = LAYOUTS.get(repo.package_type, "simple-default")
    out.update(repo.config)
    out.update({"key": repo.key, "rclass": repo.rclass, "packageType": repo.package_type})
    if repo.package_type != "generic":
        out[f"enable{package_type_label(repo.package_type)}Support"] = True
    out.pop("password", None)
    return out


def repo_entry(repo: Repo, base: str) -> dict[str, Any]:
    """One entry of GET /api/repositories."""
    url = repo.config.get("url") if repo.rclass == "remote" else f"{base}/{repo.key}"
    entry = {"key": repo.key, "type": repo.rclass.upper(), "url": url or "",
             "packageType": package_type_label(repo.package_type)}
    if repo.config.get("description"):
        entry["description"] = repo.config["description"]
    return entry


def item_uri(base: str, repo: str, full_path: str) -> str:
    return f"{base}/api/storage/{repo}" + (f"/{quote(full_path, safe='/@')}" if full_path else "")


def file_info(base: str, node: Node) -> dict[str, Any]:
    """File info: checksums as computed, originalChecksums as the client published them."""
    originals = {algo: getattr(node, f"original_{algo}") for algo in ("sha1", "md5", "sha256")}
    return {
        "repo": node.repo, "path": "/" + node.full_path,
        "created": iso(node.created), "createdBy": node.created_by,
        "lastModified": iso(node.modified), "modifiedBy": node.modified_by, "lastUpdated": iso(node.updated),
        "downloadUri": f"{base}/{node.repo}/{quote(node.full_path, safe='/@')}",
        "mimeType": node.mime or "application/octet-stream", "size": str(node.size),
        "checksums": {"sha1": node.sha1, "md5": node.md5, "sha256": node.sha256},
        "originalChecksums": {k: v for k, v in originals.items() if v},
        "uri": item_uri(base, node.repo, node.full_path),
    }


def folder_info(base: str, store: Store, repo: str, node: Node | None, created: float) -> dict[str, Any]:
    """Folder info (``node`` None: the repository root)."""
    full = node.full_path if node else ""
    children = [{"uri": "/" + c.name, "folder": c.is_folder} for c in store.children(repo, full)]
    when = iso(node.created if node else created)
    return {
        "repo": repo, "path": "/" + full, "created": when, "createdBy": node.created_by if node else "system",
        "lastModified": iso(node.modified) if node else when, "modifiedBy": node.modified_by if node else "system",
        "lastUpdated": iso(node.updated) if node else when, "children": children,
        "uri": item_uri(base, repo, full),
    }
