"""Batch operations on package versions: status updates, deletes, disposals and same-domain copies.

All four follow the service's current all-or-nothing behaviour: every requested version is checked
first; if any fails, nothing changes and the others are reported as ``SKIPPED``. Results are
``successfulVersions {version: {revision, status}}`` and ``failedVersions {version: {errorCode,
errorMessage}}``.

Every handler takes a :class:`~ferry.sandbox.codeartifact.api.Call` and returns the operation's output
members as botocore's model names them; it raises :class:`~ferry.sandbox.codeartifact.records.StoreError`
subclasses (``NotFound``, ``Conflict``, ``ValidationError``, ...) for the modeled service errors.
"""

from __future__ import annotations

from typing import Any, Callable

from ferry.sandbox.codeartifact.api import Call
from ferry.sandbox.codeartifact.api import operation as op
from ferry.sandbox.codeartifact.records import (
    NotFound, OriginBlocked, Package, Repository, ValidationError, Version, label,
)

UPDATABLE_TARGETS = ("Published", "Unlisted", "Archived")

Failure = dict[str, str]


def _fail(code: str, message: str) -> Failure:
    return {"errorCode": code, "errorMessage": message}


def _requested(call: Call) -> tuple[list[str], dict[str, str]]:
    """Requested versions in order (``versions`` then extra keys of ``versionRevisions``) and revisions."""
    revisions = dict(call.get("versionRevisions") or {})
    names = list(dict.fromkeys(list(call.get("versions") or []) + list(revisions)))
    if not names:
        raise ValidationError("Specify at least one version in versions or versionRevisions")
    return names, revisions


def _check_versions(
    call: Call, pkg: Package, names: list[str], revisions: dict[str, str],
    extra: Callable[[Version], Failure | None] = lambda v: None,
) -> tuple[list[Version], dict[str, Failure]]:
    """The versions to act on, or (when any check fails) no versions and every failure/SKIPPED entry."""
    expected = call.get("expectedStatus")
    ok: list[Version] = []
    failed: dict[str, Failure] = {}
    for name in names:
        ver = call.find_version(pkg, name)
        if ver is None or ver.status == "Deleted":
            failed[name] = _fail("NOT_FOUND", f"Package version {name} not found")
        elif name in revisions and revisions[name] != ver.revision:
            failed[name] = _fail("MISMATCHED_REVISION", f"Revision of {name} is {ver.revision}, not {revisions[name]}")
        elif expected and ver.status != expected:
            failed[name] = _fail("MISMATCHED_STATUS", f"Status of {name} is {ver.status}, not {expected}")
        elif (problem := extra(ver)) is not None:
            failed[name] = problem
        else:
            ok.append(ver)
    return _all_or_nothing(ok, failed)


def _all_or_nothing(ok: list[Version], failed: dict[str, Failure]) -> tuple[list[Version], dict[str, Failure]]:
    if not failed:
        return ok, failed
    for ver in ok:
        failed[ver.version] = _fail("SKIPPED", "Skipped because another version in the request failed")
    return [], failed


def _result(successful: dict[str, dict[str, str]], failed: dict[str, Failure]) -> dict[str, Any]:
    return {"successfulVersions": successful, "failedVersions": failed}


@op("UpdatePackageVersionsStatus")
def update_package_versions_status(call: Call) -> dict:
    target = call.params["targetStatus"]
    if target not in UPDATABLE_TARGETS:
        raise ValidationError(f"targetStatus must be one of {', '.join(UPDATABLE_TARGETS)}; use "
                              "DisposePackageVersions or DeletePackageVersions for other changes")
    pkg = call.package()
    names, revisions = _requested(call)

    def allowed(ver: Version) -> Failure | None:
        if ver.status == "Disposed":
            return _fail("NOT_ALLOWED", f"Version {ver.version} is Disposed and cannot change status")
        return None

    with call.store.tx():
        ok, failed = _check_versions(call, pkg, names, revisions, allowed)
        done = {v.version: call.store.set_status(v, target) for v in ok}
    return _result({k: {"revision": v.revision, "status": v.status} for k, v in done.items()}, failed)


@op("DeletePackageVersions")
def delete_package_versions(call: Call) -> dict:
    pkg = call.package()
    names, _ = _requested(call)
    with call.store.tx():
        ok, failed = _check_versions(call, pkg, names, {})
        done = {v.version: call.store.mark_deleted(v) for v in ok}
    return _result({k: {"revision": v.revision, "status": v.status} for k, v in done.items()}, failed)


@op("DisposePackageVersions")
def dispose_package_versions(call: Call) -> dict:
    pkg = call.package()
    names, revisions = _requested(call)
    with call.store.tx():
        ok, failed = _check_versions(call, pkg, names, revisions)
        done = {v.version: call.store.set_status(v, "Disposed") for v in ok}
    return _result({k: {"revision": v.revision, "status": v.status} for k, v in done.items()}, failed)


# -- copy ------------------------------------------------------------------------------------------


def _find_source(call: Call, repos: list[Repository], fmt: str, ns: str | None, name: str,
                 version: str) -> tuple[Package, Version] | None:
    """The first repository in ``repos`` holding a live ``version`` of the package."""
    for repo in repos:
        pkg = call.store.package(repo, fmt, ns, name)
        ver = call.find_version(pkg, version) if pkg else None
        if ver is not None and ver.status != "Deleted":
            return pkg, ver
    return None


@op("CopyPackageVersions")
def copy_package_versions(call: Call) -> dict:
    versions, revisions = call.get("versions"), call.get("versionRevisions")
    if bool(versions) == bool(revisions):
        raise ValidationError("Specify exactly one of versions or versionRevisions")
    domain = call.domain()
    src = call.repo("sourceRepository", domain)
    dst = call.repo("destinationRepository", domain)
    if src.id == dst.id:
        raise ValidationError("The source and destination repositories must differ")
    fmt, ns, name = call.coordinates()
    search = [src] + (call.store.upstream_closure(src) if call.get("includeFromUpstream") else [])
    if not any(call.store.package(r, fmt, ns, name) for r in search):
        raise NotFound(f"Package {label(ns, name)} not found in repository {src.name}", "package", name)
    names = list(versions or revisions)
    revisions = dict(revisions or {})
    overwrite = bool(call.get("allowOverwrite"))
    with call.store.tx():
        dst_pkg = call.store.package(dst, fmt, ns, name)
        blocked = dst_pkg is not None and dst_pkg.publish == "BLOCK"
        if not blocked:
            try:
                call.store.check_publish_allowed(dst, fmt, ns, name)
            except OriginBlocked:
                blocked = True
        ok: list[tuple[Package, Version]] = []
        failed: dict[str, Failure] = {}
        for v in dict.fromkeys(names):
            found = _find_source(call, search, fmt, ns, name, v)
            if found is None:
                failed[v] = _fail("NOT_FOUND", f"Package version {v} not found in {src.name}")
                continue
            src_pkg, ver = found
            existing = call.find_version(dst_pkg, v) if dst_pkg else None
            if v in revisions and revisions[v] != ver.revision:
                failed[v] = _fail("MISMATCHED_REVISION", f"Revision of {v} is {ver.revision}, not {revisions[v]}")
            elif ver.status == "Disposed":
                failed[v] = _fail("NOT_ALLOWED", f"Version {v} is Disposed and cannot be copied")
            elif blocked:
                failed[v] = _fail("NOT_ALLOWED", f"Origin configuration of {label(ns, name)} in {dst.name} blocks it")
            elif (existing is not None and existing.status != "Deleted" and not overwrite
                  and not call.store.same_content(ver, existing)):
                failed[v] = _fail("ALREADY_EXISTS", f"Version {v} already exists in {dst.name}")
            else:
                ok.append((src_pkg, ver))
        if failed:
            for _pkg, ver in ok:
                failed[ver.version] = _fail("SKIPPED", "Skipped because another version in the request failed")
            return _result({}, failed)
        display = next((p.display_name for p, _ in ok if p.display_name), None)
        dst_pkg = dst_pkg or call.store.ensure_package(dst, fmt, ns, name, display)
        successful: dict[str, dict[str, str]] = {}
        for src_pkg, ver in ok:
            outcome, new = call.store.copy_version(ver, dst_pkg, overwrite=overwrite)
            if outcome == "copied" and new is not None:
                successful[ver.version] = {"revision": new.revision, "status": new.status}
            if fmt == "npm":
                # npm dist-tags follow the versions they point at (destination tags are overwritten).
                for tag, tagged in call.store.dist_tags(src_pkg).items():
                    if tagged == ver.version:
                        call.store.set_dist_tag(dst_pkg, tag, tagged)
    return _result(successful, {})
