"""Batch calls on the target that act on versions rather than bytes: status changes, deletes, disposals and
same-domain copies (each at most 100 versions per call, as the service allows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

from botocore.exceptions import ClientError

from ferry.codeartifact import Domain
from ferry.errors import FerryError

BATCH = 100


@dataclass
class BatchResult:
    """Versions that succeeded, and the failed ones with ``errorCode: message``."""

    ok: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def chunks(items: list[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _coords(fmt: str, namespace: str, package: str) -> dict[str, Any]:
    out: dict[str, Any] = {"format": fmt, "package": package}
    if namespace:
        out["namespace"] = namespace
    return out


def _collect(result: BatchResult, out: dict[str, Any], asked: list[str]) -> None:
    result.ok.extend(out.get("successfulVersions", {}))
    for ver, why in out.get("failedVersions", {}).items():
        result.failed[ver] = f"{why.get('errorCode', '?')}: {why.get('errorMessage', '')}".strip()
    # The copy API leaves identical versions out of both maps: they are already there.
    for ver in asked:
        if ver not in result.ok and ver not in result.failed:
            result.ok.append(ver)


def _not_found(err: ClientError) -> str | None:
    """``NOT_FOUND: message`` when the call's package (or repository) does not exist, else None."""
    if err.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
        return None
    return f"NOT_FOUND: {err.response['Error'].get('Message', '')}".strip()


def _batched(domain: Domain, operation: str, versions: Iterable[str], **params: Any) -> BatchResult:
    """Raises :class:`ClientError` for an error other than a missing package (those fail the batch)."""
    result = BatchResult()
    for batch in chunks(sorted(set(versions))):
        _send(result, batch, lambda b=batch: domain.retry(lambda: domain.call(operation, versions=b, **params)))
    return result


def _send(result: BatchResult, batch: list[str], call: Callable[[], dict]) -> None:
    """One batch's call, its answer collected into ``result``; a call that fails after the request retries,
    or names a package the service does not have, fails the batch's versions. Raises :class:`ClientError`
    for any other error."""
    try:
        out = call()
    except FerryError as err:
        result.failed.update({v: str(err) for v in batch})
        return
    except ClientError as err:
        # A package the target no longer has (removed by hand), or the source no longer has: its versions
        # are not found, as the service says of a missing version of a package it has, and callers treat
        # them so.
        why = _not_found(err)
        if why is None:
            raise
        result.failed.update({v: why for v in batch})
        return
    _collect(result, out, batch)


def set_status(domain: Domain, repository: str, fmt: str, namespace: str, package: str, versions: Iterable[str],
               status: str) -> BatchResult:
    """UpdatePackageVersionsStatus to ``status`` (Published, Unlisted or Archived)."""
    return _batched(domain, "update_package_versions_status", versions, repository=repository,
                    targetStatus=status, **_coords(fmt, namespace, package))


def delete(domain: Domain, repository: str, fmt: str, namespace: str, package: str,
           versions: Iterable[str]) -> BatchResult:
    """DeletePackageVersions."""
    return _batched(domain, "delete_package_versions", versions, repository=repository,
                    **_coords(fmt, namespace, package))


def dispose(domain: Domain, repository: str, fmt: str, namespace: str, package: str,
            versions: Iterable[str]) -> BatchResult:
    """DisposePackageVersions."""
    return _batched(domain, "dispose_package_versions", versions, repository=repository,
                    **_coords(fmt, namespace, package))


def copy(domain: Domain, source_repo: str, target_repo: str, fmt: str, namespace: str, package: str,
         revisions: dict[str, str | None]) -> BatchResult:
    """CopyPackageVersions within one domain, pinned to the revisions listed (MISMATCHED_REVISION if changed).
    A package gone from the source since it was listed fails its versions (NOT_FOUND). Raises
    :class:`ClientError` for other errors the service does not say are retryable."""
    result = BatchResult()
    for batch in chunks(sorted(revisions)):
        pinned = {v: revisions[v] for v in batch if revisions[v]}
        ask: dict[str, Any] = {"versionRevisions": pinned} if len(pinned) == len(batch) else {"versions": batch}
        # Retried like a read: copying a version the destination already holds identically succeeds.
        _send(result, batch, lambda a=ask: domain.retry(lambda: domain.call(
            "copy_package_versions", sourceRepository=source_repo, destinationRepository=target_repo,
            allowOverwrite=False, includeFromUpstream=False, **a, **_coords(fmt, namespace, package))))
    return result
