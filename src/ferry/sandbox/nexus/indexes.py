"""Files Nexus derives from uploaded content, kept as assets like the real service keeps them.

- maven2: ``.md5 .sha1 .sha256 .sha512`` beside every file (members of its component), and
  ``{group}/{artifact}/maven-metadata.xml`` (component-less, with its own checksums).
- npm: the packument at ``{package}`` (component-less). Its stored ``dist.tarball`` values are
  repository-relative paths; :func:`render_packument` makes them absolute when served, which is why,
  as in Nexus, the bytes served for a packument differ from the stored blob's checksums.
- pypi: ``simple/{normalized}/`` HTML pages (component-less) with relative links and sha256 fragments.
- cargo: the sparse-index line of each version is kept in the crate asset's private ``_index`` attribute.
"""

from __future__ import annotations

import base64
import html
import json
from typing import TYPE_CHECKING, Any

from ferry.sandbox.blobs import Blob
from ferry.sandbox.nexus import formats, maven
from ferry.sandbox.nexus.render import iso
from ferry.sandbox.nexus.store import AssetRow, BadRequest, NotFound, RepoRecord, Store

if TYPE_CHECKING:
    from ferry.sandbox.nexus.ingest import Who


def _hex(blob: Blob, name: str) -> str:
    return {"md5": blob.md5, "sha1": blob.sha1, "sha256": blob.sha256, "sha512": blob.sha512}[name]


def write_maven_hashes(store: Store, repo: RepoRecord, path: str, blob: Blob,
                       component: tuple[str, str, str] | None, who: "Who") -> None:
    """Store ``path.md5/.sha1/.sha256/.sha512`` holding the hex digests of ``blob``."""
    coords = maven.parse_path(path)
    for name in maven.HASH_SUFFIXES:
        sub = f"{path}.{name}"
        attrs = {}
        if coords:
            attrs = maven.MavenCoords(coords.group_id, coords.artifact_id, coords.base_version, coords.version,
                                      coords.classifier, f"{coords.extension}.{name}", path).attrs()
        digest = store.blobs.put_bytes(_hex(blob, name).encode())
        store.put_asset(repo.name, sub, digest, "text/plain", component=component, attrs=attrs,
                        uploader=who.user, uploader_ip=who.ip)


def refresh_maven_metadata(store: Store, repo: RepoRecord, group_id: str, artifact_id: str, who: "Who") -> None:
    """Rewrite ``{group}/{artifact}/maven-metadata.xml`` (and its checksums) from the stored versions."""
    versions = [c.version for c in store.components_named(repo.name, group_id, artifact_id) if c.version]
    path = f"{group_id.replace('.', '/')}/{artifact_id}/{maven.METADATA}"
    if not versions:
        for p in [path] + [f"{path}.{h}" for h in maven.HASH_SUFFIXES]:
            asset = store.asset_at(repo.name, p)
            if asset:
                store.delete_asset(asset)
        return
    blob = store.blobs.put_bytes(maven.artifact_metadata(group_id, artifact_id,
                                                         [maven.base_version(v) for v in versions]))
    store.put_asset(repo.name, path, blob, "application/xml", uploader=who.user, uploader_ip=who.ip)
    write_maven_hashes(store, repo, path, blob, None, who)


def refresh(store: Store, repo: RepoRecord, ident: formats.Identity, who: "Who") -> None:
    """Update the format's index after ``ident`` was added (npm packument, PyPI simple page)."""
    if repo.format == "npm":
        full = ident.attrs["name"]
        refresh_packument(store, repo, full, who, added=(ident.version, ident.metadata.get("package.json", {})))
    elif repo.format == "pypi":
        refresh_simple(store, repo, formats.pypi_normalize(ident.name), who)


def after_delete(store: Store, repo: RepoRecord, removed: list[AssetRow], who: "Who") -> None:
    """Bring indexes up to date after components or assets were deleted."""
    seen: set[tuple] = set()
    for asset in removed:
        if repo.format == "maven2":
            coords = maven.parse_path(asset.path)
            if coords and (coords.group_id, coords.artifact_id) not in seen:
                seen.add((coords.group_id, coords.artifact_id))
                refresh_maven_metadata(store, repo, coords.group_id, coords.artifact_id, who)
        elif repo.format == "npm" and "/-/" in asset.path:
            full = asset.path.split("/-/")[0]
            if full not in seen:
                seen.add(full)
                refresh_packument(store, repo, full, who)
        elif repo.format == "pypi" and asset.path.startswith("packages/"):
            norm = asset.path.split("/")[1]
            if norm not in seen:
                seen.add(norm)
                refresh_simple(store, repo, norm, who)


# -- npm ------------------------------------------------------------------------------------------

def _read_json(store: Store, asset: AssetRow | None) -> dict[str, Any]:
    if asset is None:
        return {}
    with store.blobs.open(asset.sha256) as fh:
        return json.load(fh)


def refresh_packument(store: Store, repo: RepoRecord, full_name: str, who: "Who",
                      added: tuple[str, dict] | None = None) -> None:
    """Rebuild the packument of ``full_name`` from the tarballs still stored (plus a new manifest)."""
    current = _read_json(store, store.asset_at(repo.name, full_name))
    manifests = current.get("versions", {})
    scope, _, name = full_name[1:].partition("/") if full_name.startswith("@") else (None, "", full_name)
    components = {c.version: c for c in store.components_named(repo.name, scope, name)}
    doc_versions: dict[str, Any] = {}
    times: dict[str, str] = {}
    for version, comp in components.items():
        tarball = next((a for a in store.assets_of([comp.seq])[comp.seq] if a.path.endswith(".tgz")), None)
        if tarball is None:
            continue
        manifest = dict(added[1]) if added and added[0] == version else dict(manifests.get(version, {}))
        manifest.setdefault("name", full_name)
        manifest.setdefault("version", version)
        integrity = base64.b64encode(bytes.fromhex(tarball.sha512)).decode()
        manifest["dist"] = {"shasum": tarball.sha1, "integrity": f"sha512-{integrity}", "tarball": tarball.path}
        doc_versions[version] = manifest
        times[version] = _npm_time(comp.created)
    existing = store.asset_at(repo.name, full_name)
    if not doc_versions:
        if existing:
            store.delete_asset(existing)
        return
    latest = (added[0] if added and added[0] in doc_versions else
              current.get("dist-tags", {}).get("latest") if current.get("dist-tags", {}).get("latest") in doc_versions
              else list(doc_versions)[-1])
    # Tags set with `npm dist-tag add` survive while their version does; latest follows uploads.
    tags = {tag: ver for tag, ver in current.get("dist-tags", {}).items() if ver in doc_versions}
    tags["latest"] = latest
    doc = {"_id": full_name, "name": full_name, "dist-tags": tags, "versions": doc_versions, "time": times}
    blob = store.blobs.put_bytes(json.dumps(doc, indent=2).encode())
    store.put_asset(repo.name, full_name, blob, "application/json", uploader=who.user, uploader_ip=who.ip)


def _npm_time(ts: float) -> str:
    return iso(ts).replace("+00:00", "Z")


def render_packument(data: bytes, repo_url: str) -> bytes:
    """The packument as served: each ``dist.tarball`` made absolute under ``repo_url``."""
    doc = json.loads(data)
    for manifest in doc.get("versions", {}).values():
        dist = manifest.get("dist") or {}
        if dist.get("tarball") and "://" not in dist["tarball"]:
            dist["tarball"] = f"{repo_url}/{dist['tarball']}"
    return json.dumps(doc).encode()


# -- PyPI -----------------------------------------------------------------------------------------

def refresh_simple(store: Store, repo: RepoRecord, normalized: str, who: "Who") -> None:
    """Rewrite ``simple/{normalized}/`` linking every stored file of that project."""
    files = [a for a in store.assets_under(repo.name, f"packages/{normalized}/") if a.component is not None]
    path = f"simple/{normalized}/"
    if not files:
        existing = store.asset_at(repo.name, path)
        if existing:
            store.delete_asset(existing)
        return
    lines = ["<!DOCTYPE html>", "<html lang=\"en\">", "<head><title>Links for "
             f"{html.escape(normalized)}</title></head>", "<body>", f"<h1>Links for {html.escape(normalized)}</h1>"]
    for a in files:
        filename = a.path.rsplit("/", 1)[-1]
        href = html.escape(f"../../{a.path}#sha256={a.sha256}", quote=True)
        lines.append(f'<a href="{href}" rel="internal">{html.escape(filename)}</a><br/>')
    lines += ["</body>", "</html>", ""]
    blob = store.blobs.put_bytes("\n".join(lines).encode())
    store.put_asset(repo.name, path, blob, "text/html", uploader=who.user, uploader_ip=who.ip)


def simple_root(store: Store, repo: RepoRecord) -> bytes:
    """The ``simple/`` page listing every project (generated per request, not stored)."""
    names = sorted({a.path.split("/")[1] for a in store.assets_under(repo.name, "simple/") if a.path.count("/") == 2})
    body = "".join(f'<a href="{html.escape(n)}/">{html.escape(n)}</a><br/>\n' for n in names)
    return f"<!DOCTYPE html>\n<html><head><title>Simple index</title></head><body>\n{body}</body></html>\n".encode()


# -- Cargo ----------------------------------------------------------------------------------------

def cargo_index_entry(metadata: dict[str, Any], cksum: str) -> dict[str, Any]:
    """The sparse-index line for a published crate (the Registry Index format's field names)."""
    deps = []
    for dep in metadata.get("deps") or []:
        explicit = dep.get("explicit_name_in_toml")
        entry = {"name": explicit or dep.get("name"), "req": dep.get("version_req"),
                 "features": dep.get("features") or [], "optional": bool(dep.get("optional")),
                 "default_features": dep.get("default_features", True), "target": dep.get("target"),
                 "kind": dep.get("kind") or "normal", "registry": dep.get("registry")}
        if explicit:
            entry["package"] = dep.get("name")
        deps.append(entry)
    entry = {"name": metadata["name"], "vers": metadata["vers"], "deps": deps, "cksum": cksum,
             "features": metadata.get("features") or {}, "yanked": False, "links": metadata.get("links")}
    if metadata.get("rust_version"):
        entry["rust_version"] = metadata["rust_version"]
    return entry


def cargo_index(store: Store, repo: RepoRecord, index_path: str) -> bytes | None:
    """The sparse-index file at ``index_path``: one JSON line per stored version, or ``None``."""
    lines = []
    crate = index_path.rsplit("/", 1)[-1]
    for asset in store.assets_under(repo.name, "crates/"):
        entry = asset.attrs.get("_index")
        if entry and entry["name"].lower() == crate and formats.cargo_index_path(entry["name"]) == index_path:
            lines.append(json.dumps(entry, separators=(",", ":")))
    return ("\n".join(lines) + "\n").encode() if lines else None


def dist_tags(store: Store, repo: RepoRecord, full_name: str) -> dict[str, str]:
    """The package's dist-tags. Raises :class:`NotFound` if the package has no packument."""
    asset = store.asset_at(repo.name, full_name)
    if asset is None:
        raise NotFound(f"Not found: {full_name}")
    return dict(_read_json(store, asset).get("dist-tags", {}))


def set_deprecations(store: Store, repo: RepoRecord, full_name: str, doc: Any, who: "Who") -> None:
    """Take the ``deprecated`` messages of the versions in ``doc``, the packument ``npm deprecate`` PUTs
    back after changing them (a message of ``""`` or none un-deprecates); other fields of ``doc`` are
    ignored, and versions the package does not have are refused.

    Raises :class:`NotFound` for an unknown package or version, :class:`BadRequest` for a body that is
    not a packument.
    """
    asset = store.asset_at(repo.name, full_name)
    if asset is None:
        raise NotFound(f"Not found: {full_name}")
    versions = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(versions, dict) or doc.get("_attachments"):
        raise BadRequest("Expected the packument with changed deprecation messages (this stand-in takes no npm "
                         "publish)")
    current = _read_json(store, asset)
    held = current.get("versions", {})
    for version, manifest in versions.items():
        if version not in held:
            raise NotFound(f"Version {version} of {full_name} not found")
        message = manifest.get("deprecated") if isinstance(manifest, dict) else None
        if isinstance(message, str) and message:
            held[version]["deprecated"] = message
        else:
            held[version].pop("deprecated", None)
    blob = store.blobs.put_bytes(json.dumps(current, indent=2).encode())
    store.put_asset(repo.name, full_name, blob, "application/json", uploader=who.user, uploader_ip=who.ip)


def set_dist_tag(store: Store, repo: RepoRecord, full_name: str, tag: str, version: str | None, who: "Who") -> None:
    """Point ``tag`` at ``version`` (``None`` removes it), as ``npm dist-tag add/rm`` does on a hosted repo.

    Raises :class:`NotFound` for an unknown package or version, :class:`BadRequest` for removing ``latest``.
    """
    asset = store.asset_at(repo.name, full_name)
    if asset is None:
        raise NotFound(f"Not found: {full_name}")
    doc = _read_json(store, asset)
    tags = doc.setdefault("dist-tags", {})
    if version is None:
        if tag == "latest":
            raise BadRequest("Cannot delete the latest tag")
        tags.pop(tag, None)
    else:
        if version not in doc.get("versions", {}):
            raise NotFound(f"Version {version} of {full_name} not found")
        tags[tag] = version
    blob = store.blobs.put_bytes(json.dumps(doc, indent=2).encode())
    store.put_asset(repo.name, full_name, blob, "application/json", uploader=who.user, uploader_ip=who.ip)
