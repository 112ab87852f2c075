"""Cargo: one ``.crate`` per version, published with the registry web API as ``cargo publish`` does.

Identity comes from the source's hints (Nexus lists a crate as component name/version), else from the
file name ``{name}-{version}.crate``; the publish checks it against the ``Cargo.toml`` in the crate.
The publish body is cargo's: little-endian u32 length + JSON metadata (rebuilt from the crate's
``Cargo.toml`` by :mod:`.cargo_manifest`), u32 length + the ``.crate``, streamed from the spool file to
``PUT {api}/api/v1/crates/new``, where ``api`` is read from the registry's ``config.json`` as cargo reads
it. Dependencies that named the source registry (their ``registry-index`` is where the crate came
from, or one of the index URLs the source gives for the repository: Artifactory's
``api/cargo/{repo}/index`` and those of the virtual repositories aggregating it, a source CodeArtifact
repository's cargo endpoint and those of the repositories reaching it through upstreams, the Nexus Cargo
groups that serve the repository) are published as "this registry", so they resolve in the target along
with the migrated crate.

Cargo finds a crate by its lower-cased name (the sparse index has one file per lower-cased name) and a version
without its build metadata (``=1.0.1`` resolves to ``1.0.1+b7`` when the index lists both, and crates.io refuses
the second). Two source files that are one crate to cargo in that sense would both publish, and cargo would then
fetch one in place of the other; so the first listed is migrated and the later one is unmappable, naming it
(the claims of :mod:`ferry.migrators.claims`, as for NuGet).

A version the source's index marks yanked is copied all the same (a lockfile that pins it must keep
resolving), but CodeArtifact has no ``cargo yank``: there any new resolution may pick it. So its ledger row
says so (:data:`YANKED`), and the run's notes count such versions (:func:`yanked_note`).
"""

from __future__ import annotations

import json
import posixpath
import re
import struct
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping
from urllib.parse import urlsplit

from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import PublishContext, Spooled, source_item, unidentified
from ferry.migrators.cargo_manifest import publish_metadata, read_crate
from ferry.migrators.claims import Claims
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import Source, SourceFile
from ferry.state.reader import LedgerReader

_FILE = re.compile(r"^(?P<name>[A-Za-z][A-Za-z0-9_-]*?)-(?P<version>\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?)\.crate$")
_CHUNK = 1024 * 1024
YANKED = "yanked in the source; copied, and installable in CodeArtifact, which cannot yank it"


def asset_name(name: str, version: str) -> str:
    return f"{name}-{version}.crate"


class _Body:
    """``cargo publish``'s body, streamed: JSON framed by lengths, then the ``.crate`` from disk."""

    def __init__(self, metadata: bytes, path: Path, size: int):
        self.head = struct.pack("<I", len(metadata)) + metadata + struct.pack("<I", size)
        self.path, self.size = path, size

    def __len__(self) -> int:
        return len(self.head) + self.size

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        with open(self.path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk


def _same_registry(locator: str, endpoint: str, indexes: Iterable[str] = ()):
    """A predicate: does a ``registry-index`` URL name the registry ``locator`` came from (its files' URLs
    start with the index URL, as in Nexus, or it is one of the source's ``indexes``) or the target?"""

    def base(url: str) -> str:
        url = url.removeprefix("sparse+").removeprefix("registry+")
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}".rstrip("/").lower()

    here, known = locator.lower(), {base(endpoint), *(base(i) for i in indexes)}

    def check(index: str) -> bool:
        b = base(index)
        return bool(b) and (here.startswith(b + "/") or b in known)

    return check


class CargoMigrator:
    format = "cargo"
    single_asset = True

    def __init__(self) -> None:
        self._claims = Claims()

    def package_facts(self, source: Source, repository: str, key: ItemKey) -> Mapping[str, Any]:
        """``{"indexes": [...], "yanked": [...]}``: the source's own index URLs for ``repository`` where its
        files' URLs do not start with them (Artifactory's ``api/cargo/{repo}/index``, a CodeArtifact
        repository's cargo endpoint, the Nexus Cargo groups serving it), so dependencies naming them are found
        to be of the migrated registry; and the crate's versions its index marks yanked. Either is left out
        for sources that cannot tell. Raises what the source's reads raise."""
        facts: dict[str, Any] = {}
        indexes = getattr(source, "cargo_indexes", None)
        if indexes is not None:
            facts["indexes"] = list(indexes(repository))
        yanked = getattr(source, "cargo_yanked", None)
        if yanked is not None:
            facts["yanked"] = sorted(yanked(repository, key.package) or ())
        return facts

    def remark(self, ctx: PublishContext, key: ItemKey) -> str | None:
        """What the ledger row of a copied version adds: :data:`YANKED` when the source has it yanked."""
        return YANKED if key.version in (ctx.package_facts.get("yanked") or ()) else None

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        filename = posixpath.basename(file.path)
        if not filename.endswith(".crate"):
            return None
        m = _FILE.match(filename)
        name = file.hints.get("cargo.name") or file.hints.get("name") or (m["name"] if m else "")
        version = file.hints.get("cargo.version") or file.hints.get("version") or (m["version"] if m else "")
        if not name or not version or "/" in name or "/" in version:
            return source_item(file, ("cargo", "", name or filename, version or "?", unidentified(file)),
                               unmappable=f"cannot tell the crate name and version of {file.path!r}")
        holder = self._claims.claim(mapping, (name.lower(), version.partition("+")[0]), file)
        if holder is not None:
            return source_item(file, ("cargo", "", name, version, f"(collision) {file.path}"),
                               unmappable=f"{name} {version} is to cargo the crate version {holder!r} in this source "
                                          "already is (cargo lower-cases names and ignores build metadata); not "
                                          "migrated: keep one of the two (exclude or remove the other in the source)")
        return source_item(file, ("cargo", "", name, version, asset_name(name, version)))

    def forget(self, mapping: RepositoryMapping) -> None:
        """The listing of ``mapping`` has ended: its claims (see :mod:`ferry.migrators.claims`) are dropped."""
        self._claims.forget(mapping)

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        manifest, readmes = read_crate(spooled.path, key.package, key.version)
        package = manifest.get("package") or {}
        if package.get("name") != key.package or package.get("version") != key.version:
            raise ItemError(f"the crate's Cargo.toml says {package.get('name')}@{package.get('version')}, "
                            f"but the source lists it as {key.package}@{key.version}; not publishing")
        endpoint = ctx.endpoint("cargo")
        same = _same_registry(item.locator or "", endpoint, ctx.package_facts.get("indexes") or ())
        metadata = publish_metadata(manifest, readmes, same)
        config = ctx.send("GET", f"{endpoint}config.json", "read the registry's config.json")
        try:
            api = str(config.json()["api"]).rstrip("/")
        except (ValueError, KeyError, TypeError):
            raise ItemError("the target's config.json has no \"api\" URL; cannot publish crates there") from None
        body = _Body(json.dumps(metadata, separators=(",", ":")).encode(), spooled.path, spooled.size)
        ctx.send("PUT", f"{api}/api/v1/crates/new", f"cargo publish {key.package}@{key.version}", data=body,
                 headers={"Accept": "application/json", "Content-Type": "application/octet-stream"},
                 scheme="raw")

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        return None


def yanked_note(reader: LedgerReader, run_id: int | None) -> str | None:
    """The run's note counting the crate versions it copied that the source has yanked, or None."""
    row = reader.db.execute("SELECT COUNT(DISTINCT package || ' ' || version) FROM items WHERE run_id = ? AND "
                            "format = 'cargo' AND state = 'confirmed' AND reason = ?", [run_id, YANKED]).fetchone()
    if not row or not row[0]:
        return None
    return (f"{row[0]} crate version(s) are yanked in the source: copied, and installable in CodeArtifact, which "
            "has no cargo yank (ferry report lists them under remarks)")
