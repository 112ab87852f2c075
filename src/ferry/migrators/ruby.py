"""RubyGems: each ``.gem`` is one asset (``{full_name}.gem``) of (gem name, version); published as ``gem push``.

Identity comes from the source's hints (Nexus lists gems with name, version and platform), else from
the file name ``{name}-{version}[-{platform}].gem``. Platform gems of one version are separate assets
of that version, named as RubyGems names the file (canonical platform, e.g. ``x86_64-linux``). The
publish reads the gem's own ``metadata.gz`` and refuses a gem that says it is something else, then
POSTs the raw gem to ``{endpoint without /}/api/v1/gems`` with ``Authorization: Bearer TOKEN``, which is
what ``gem push`` sends with the API key CodeArtifact documents.
"""

from __future__ import annotations

import posixpath
import re

from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, safe_asset_name, source_item, \
    unidentified
from ferry.model import ItemKey, SourceItem
from ferry.rubygems.spec import GemError, full_name, read_gem
from ferry.sources.base import SourceFile

# A version must look like one (digits first), so names with dashes and digits ("foo-2fa") still parse.
_FILE = re.compile(r"^(?P<name>[A-Za-z0-9._-]+?)-(?P<version>\d+(?:\.[0-9A-Za-z]+)*)(?:-(?P<platform>[^/]+))?\.gem$")


class RubyMigrator(NoPackageFacts):
    format = "ruby"
    single_asset = False

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        filename = posixpath.basename(file.path)
        if not filename.endswith(".gem"):
            return None  # gemspec.rz files and index files are not items
        m = _FILE.match(filename)
        hints = file.hints
        name = hints.get("rubygems.name") or hints.get("name") or (m["name"] if m else "")
        version = hints.get("rubygems.version") or hints.get("version") or (m["version"] if m else "")
        platform = hints.get("rubygems.platform") or hints.get("platform") or \
            ((m["platform"] or "ruby") if m and m["name"] == name and m["version"] == version else "ruby")
        if platform != "ruby" and version.endswith(f"-{platform}"):
            version = version[: -len(platform) - 1]  # a source that lists "1.0-java" as the version
        asset = safe_asset_name(full_name(name, version, platform) + ".gem") if name and version else None
        if asset is None:
            return source_item(file, ("ruby", "", name or filename, version or "?", unidentified(file)),
                               unmappable=f"cannot tell the gem name and version of {file.path!r}")
        return source_item(file, ("ruby", "", name, version, asset))

    def extra_differs(self, key: ItemKey) -> bool:
        """For ``verify``: a ``.gem`` (another platform's, say) the source's same version lacks makes the
        version differ; anything else (never an item, see :meth:`identify`) does not."""
        return key.asset.endswith(".gem")

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        try:
            spec = read_gem(spooled.path)
        except GemError as err:
            raise ItemError(f"cannot read the gem's metadata: {err}") from None
        if (spec.name, spec.version, spec.file_name) != (key.package, key.version, key.asset):
            raise ItemError(f"the gem's metadata says {spec.file_name} ({spec.name} {spec.version}), but the source "
                            f"lists it as {key.asset} ({key.package} {key.version}); not publishing")
        url = ctx.endpoint("ruby").rstrip("/") + "/api/v1/gems"
        with open(spooled.path, "rb") as body:
            ctx.send("POST", url, f"gem push {key.asset}", data=body,
                     headers={"Content-Type": "application/octet-stream"}, scheme="bearer")

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        return None
