"""Generic: raw files mapped to namespace/package/version/asset by the job's ``layout``; published with
PublishPackageVersion, ``unfinished`` on every asset but a version's last."""

from __future__ import annotations

import re
import unicodedata

from ferry.codeartifact import Domain
from ferry.config import RepositoryMapping
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, safe_asset_name, source_item
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import SourceFile

_NAME = re.compile(r"^[^#/\s]{1,255}$")
# What CodeArtifact takes in a generic asset name besides letters and digits (the user guide's list); spaces
# are the only whitespace. A file named otherwise would be refused at publish, on every run.
_ASSET_SPECIALS = frozenset("~!@^&()-`_+[]{};,. ")
_ASSET_LETTERS = ("Ll", "Lm", "Lo", "Lt", "Lu", "Nl", "Nd")


class GenericMigrator(NoPackageFacts):
    format = "generic"
    single_asset = False
    # A version whose last asset was not published by this run (found there already, or a run stopped between
    # assets) stays Unfinished until finish_version sets it Published.
    finishes_versions = True

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        parts = _from_hints(file.hints) or mapping.match_path(file.path)
        if parts is None:
            # Keyed by the whole path as it is: a key made lossy (a/b_c and a_b/c both a_b_c) would fold two files
            # into one ledger row, the second dropped from every count or called a clash with the first.
            return source_item(file, ("generic", mapping.namespace, file.path, "?", "?"),
                               unmappable=f"path {file.path!r} does not fit layout {mapping.layout!r}")
        ns = parts.get("namespace") or mapping.namespace
        package, version, asset = parts.get("package"), parts.get("version"), parts.get("asset")
        bad = [n for n, v in (("namespace", ns), ("package", package), ("version", version)) if not v or
               not _NAME.match(v)]
        if bad or not asset or safe_asset_name(asset) is None:
            what = ", ".join(bad) or "asset"
            return source_item(file, ("generic", ns or "?", package or "?", version or "?", asset or "?"),
                               unmappable=f"path {file.path!r} gives an invalid generic {what}")
        refused = _refused_character(asset)
        if refused:
            return source_item(file, ("generic", ns, package, version, asset),
                               unmappable=f"path {file.path!r} gives the asset name {asset!r}, whose character "
                                          f"{refused} CodeArtifact does not take in a generic asset name; rename "
                                          "the file in the source")
        return source_item(file, ("generic", ns, package, version, asset))

    def extra_differs(self, key: ItemKey) -> bool:
        """For ``verify``: any file a generic version holds beyond the source's is a difference (the
        target derives none of its own)."""
        return True

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        with open(spooled.path, "rb") as body:
            out = ctx.domain.publish_generic(ctx.repository, key.namespace, key.package, key.version, key.asset,
                                             body, spooled.checksums.sha256, unfinished=not last_in_version)
        asset = out.get("asset") or {}
        if asset.get("name") == key.asset:
            ctx.shown[key.asset] = asset
            ctx.shown_revision = out.get("versionRevision")
        if last_in_version:
            ctx.notes["status"] = out.get("status")

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        """A version left Unfinished (a run stopped between assets) is marked Published once all are there.

        When this run's last publish of the version was answered ``Published``, there is nothing to ask.
        """
        if not items or ctx.notes.get("status") == "Published":
            return
        key = items[0].key
        domain: Domain = ctx.domain
        out = domain.read("describe_package_version", repository=ctx.repository, format="generic",
                          namespace=key.namespace, package=key.package, packageVersion=key.version)
        if out["packageVersion"]["status"] == "Unfinished":
            domain.read("update_package_versions_status", repository=ctx.repository, format="generic",
                        namespace=key.namespace, package=key.package, versions=[key.version],
                        targetStatus="Published")


def _refused_character(asset: str) -> str | None:
    """The first character of ``asset`` CodeArtifact refuses in a generic asset name, shown with its code
    point (a combining accent, as in a name written on macOS, is invisible on its own), or None."""
    for ch in asset:
        if ch not in _ASSET_SPECIALS and unicodedata.category(ch) not in _ASSET_LETTERS:
            return f"{ch!r} (U+{ord(ch):04X})"
    return None


def _from_hints(hints) -> dict[str, str] | None:
    """A source that knows the generic identity (CodeArtifact) says it in hints; the layout is then moot."""
    if all(hints.get(k) for k in ("namespace", "name", "version", "asset")):
        return {"namespace": hints["namespace"], "package": hints["name"], "version": hints["version"],
                "asset": hints["asset"]}
    return None
