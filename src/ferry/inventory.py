"""Listing both sides of one repository mapping as plan inputs (*want* and *have*)."""

from __future__ import annotations

from typing import Iterator

from ferry.codeartifact import Domain
from ferry.config import Options, RepositoryMapping
from ferry.migrators.base import Migrator
from ferry.model import Checksums, ItemKey, SourceItem, TargetItem
from ferry.shard import Shard
from ferry.sources.base import Source
from ferry.state.target_memory import TargetMemory

# Versions in these states have no assets to list.
_NO_ASSETS = ("Disposed", "Deleted")


def want(source: Source, mapping: RepositoryMapping, migrator: Migrator, options: Options,
         shard: Shard | None = None) -> Iterator[SourceItem]:
    """The source items of ``mapping`` that the job selects (filters: include/exclude, ``since``,
    and with ``shard`` only the packages that shard owns)."""
    for file in source.files(mapping.source):
        item = migrator.identify(file, mapping)
        if item is None:
            continue
        if shard is not None and not shard.owns_key(item.key):
            continue
        if item.unmappable is None and not mapping.selects(item.key, options):
            continue
        if options.since is not None and file.published is not None and file.published < _aware(options.since):
            continue
        yield item


def have(domain: Domain, repository: str, fmt: str, shard: Shard | None = None,
         memory: TargetMemory | None = None, recall: bool = True) -> Iterator[TargetItem]:
    """Every asset of format ``fmt`` in the target repository, walked package by package
    (with ``shard``: only the packages that shard owns; the others' versions are never listed).

    One ListPackages walk, one ListPackageVersions walk per package, and one ListPackageVersionAssets
    per version (the only call that reports hashes), except, with ``memory`` and ``recall``, for
    versions whose revision is the one recorded with their assets on an earlier run: those assets
    come from the ledger. ``memory`` records every listing made. Each page is retried by the
    domain's policy.
    """
    for pkg in domain.packages(repository, fmt):
        namespace, package = pkg.get("namespace") or "", pkg["package"]
        if shard is not None and not shard.owns(fmt, namespace, package):
            continue
        known = memory.recall(repository, fmt, namespace, package) if memory is not None and recall else {}
        for ver in domain.versions(repository, fmt, namespace, package):
            if ver.get("status") in _NO_ASSETS:
                continue
            version, revision = ver["version"], ver.get("revision")
            recorded = known.get(version)
            if recorded is not None and revision and recorded[0] == revision:
                assets = recorded[1]
            else:
                assets = domain.assets(repository, fmt, namespace, package, version)
                if memory is not None:
                    memory.remember(repository, fmt, namespace, package, version, revision, assets)
            for asset in assets:
                yield TargetItem(
                    key=ItemKey(fmt, namespace, package, version, asset["name"]),
                    size=asset.get("size"),
                    checksums=Checksums.from_mapping(asset.get("hashes")),
                    status=ver.get("status", "Published"),
                    repository=repository,
                )


def _aware(when):
    from datetime import timezone

    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
