"""npm: one asset (``package.tgz``) per version; published with the registry's PUT, built from the tarball.

The publish document is the tarball's own ``package.json`` plus ``dist`` digests, with the tarball
attached in base64, exactly what ``npm publish`` sends. It is streamed: the JSON around the attachment is
small, and the base64 text is produced from the spool file chunk by chunk, so a 2 GB tarball never sits
in memory.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import tarfile
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import quote

from ferry.archives import members
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import PublishContext, Spooled, source_item
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import Source, SourceFile

MAX_PACKAGE_JSON = 5 * 1024 * 1024
_TARBALL = re.compile(r"^(?:@(?P<scope>[^/]+)/)?(?P<name>[^/@]+)/-/(?:@[^/]+/)?(?P<file>[^/]+\.tgz)$")
_B64_CHUNK = 3 * 256 * 1024  # a multiple of 3, so chunks encode without padding in between


def package_id(namespace: str, package: str) -> str:
    """``@scope/name`` or ``name``."""
    return f"@{namespace}/{package}" if namespace else package


def read_package_json(path: Path) -> dict[str, Any]:
    """The ``package.json`` at the top folder of an npm tarball. Raises ItemError if absent or malformed."""
    try:
        with tarfile.open(path, "r:gz") as tar:
            for member in members(tar, path):  # bounded: a tarball of millions of entries is refused
                parts = member.name.lstrip("./").split("/")
                if len(parts) == 2 and parts[1] == "package.json" and member.isfile():
                    if member.size > MAX_PACKAGE_JSON:
                        raise ItemError(f"package.json in {path.name} is {member.size} bytes; refusing to read it")
                    handle = tar.extractfile(member)
                    if handle is None:
                        break
                    return json.loads(handle.read().decode("utf-8"))
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ItemError(f"corrupt npm tarball: {type(err).__name__}: {err}") from None
    raise ItemError("npm tarball has no package/package.json")


class _StreamedDocument:
    """The publish body: JSON prefix, base64 of the file, JSON suffix. ``len()`` is known in advance."""

    def __init__(self, prefix: bytes, path: Path, size: int, suffix: bytes):
        self.prefix, self.path, self.size, self.suffix = prefix, path, size, suffix

    def __len__(self) -> int:
        return len(self.prefix) + 4 * ((self.size + 2) // 3) + len(self.suffix)

    def __iter__(self) -> Iterator[bytes]:
        yield self.prefix
        with open(self.path, "rb") as handle:
            while chunk := handle.read(_B64_CHUNK):
                yield base64.b64encode(chunk)
        yield self.suffix


def publish_document(name: str, version: str, manifest: dict[str, Any], tags: dict[str, str], spooled: Spooled,
                     tarball_url: str) -> _StreamedDocument:
    """The streamed body of ``PUT {registry}{name}`` for one version."""
    sha512 = spooled.checksums.sha512
    manifest = dict(manifest)
    manifest["_id"] = f"{name}@{version}"
    manifest["dist"] = {
        "shasum": spooled.checksums.sha1,
        "integrity": "sha512-" + base64.b64encode(bytes.fromhex(sha512)).decode() if sha512 else None,
        "tarball": tarball_url,
    }
    attachment = f"{name}-{version}.tgz"
    marker = "\x00FERRY-DATA\x00"
    doc = {
        "_id": name,
        "name": name,
        "description": manifest.get("description", ""),
        "dist-tags": tags,
        "versions": {version: manifest},
        "_attachments": {attachment: {"content_type": "application/octet-stream", "data": marker,
                                      "length": spooled.size}},
    }
    text = json.dumps(doc)
    head, _, tail = text.partition(json.dumps(marker)[1:-1])
    return _StreamedDocument(head.encode(), spooled.path, spooled.size, tail.encode())


class NpmMigrator:
    format = "npm"
    single_asset = True
    digests = ("sha1", "sha512")  # the publish document's dist.shasum and dist.integrity

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        if not file.path.endswith(".tgz"):
            return None
        m = _TARBALL.match(file.path)
        scope = (file.hints.get("npm.scope") or file.hints.get("group") or (m["scope"] if m else "") or "").lstrip("@")
        name = file.hints.get("npm.name") or file.hints.get("name") or (m["name"] if m else "")
        if "/" in name:  # hints may carry the full id "@scope/name"
            scope, _, name = name.lstrip("@").partition("/")
        version = file.hints.get("npm.version") or file.hints.get("version")
        if not version and m:
            stem = m["file"][: -len(".tgz")]
            if stem.startswith(name + "-"):
                version = stem[len(name) + 1:]
        if not name or not version:
            return source_item(file, ("npm", scope, name or posixpath.basename(file.path), version or "?",
                                      "package.tgz"),
                               unmappable=f"cannot tell npm name and version from path {file.path!r}")
        return source_item(file, ("npm", scope, name, version, "package.tgz"))

    def publish(self, ctx: PublishContext, item: SourceItem, spooled: Spooled, last_in_version: bool) -> None:
        key = item.key
        pid = package_id(key.namespace, key.package)
        manifest = read_package_json(spooled.path)
        if manifest.get("name") != pid or manifest.get("version") != key.version:
            raise ItemError(
                f"tarball's package.json says {manifest.get('name')}@{manifest.get('version')}, "
                f"but the source lists it as {pid}@{key.version}; not publishing"
            )
        endpoint = ctx.endpoint("npm")
        escaped = pid.replace("/", "%2f")
        tarball_url = f"{endpoint}{pid}/-/{key.package}-{key.version}.tgz"
        tags = {tag: ver for tag, ver in ctx.package_facts.get("dist_tags", {}).items() if ver == key.version}
        body = publish_document(pid, key.version, manifest, tags, spooled, tarball_url)
        ctx.send("PUT", f"{endpoint}{escaped}", f"npm publish {pid}@{key.version}", data=body,
                 headers={"Content-Type": "application/json", "npm-command": "publish"})

    def package_facts(self, source: Source, repository: str, key: ItemKey) -> dict[str, Any]:
        """The package's dist-tags in the source."""
        return {"dist_tags": dict(source.dist_tags(repository, package_id(key.namespace, key.package)))}

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        """Make the target's dist-tags that point at these versions follow the source."""
        versions = {i.key.version for i in items}
        # Only tags pointing at these versions are this call's business: most versions have none,
        # and then the target is not asked at all.
        ours = {tag: ver for tag, ver in ctx.package_facts.get("dist_tags", {}).items() if ver in versions}
        if ours:
            key = items[0].key
            sync_dist_tags(ctx, package_id(key.namespace, key.package), ours, remove=False)


def sync_dist_tags(ctx: PublishContext, package_id: str, want: dict[str, str], remove: bool = True) -> tuple[int, int]:
    """Make the target package's dist-tags in ``want`` point where it says: one GET, then a PUT per tag that
    differs. With ``remove``, tags the target has beyond ``want`` are deleted too (``latest`` never is, only
    moved); without, the target's other tags are left alone.

    Returns ``(tags set, tags removed)``. Raises :class:`ItemError` (no such package in the target, or a tag
    naming a version it does not have) or RetryableError.
    """
    url = _dist_tags_url(ctx, package_id)
    current = target_dist_tags(ctx, package_id)
    put = removed = 0
    for tag, version in sorted(want.items()):
        if current.get(tag) != version:
            ctx.send("PUT", f"{url}/{quote(tag)}", f"dist-tag {tag} of {package_id}", data=json.dumps(version),
                     headers={"Content-Type": "application/json"})
            put += 1
    for tag in sorted(set(current) - set(want) - {"latest"}) if remove else ():
        ctx.send("DELETE", f"{url}/{quote(tag)}", f"remove dist-tag {tag} of {package_id}")
        removed += 1
    return put, removed


def target_dist_tags(ctx: PublishContext, package_id: str) -> dict[str, str]:
    """The target package's dist-tags (one GET). Raises :class:`ItemError` when the target has no such
    package, RetryableError when the request may be tried again."""
    have = ctx.send("GET", _dist_tags_url(ctx, package_id), f"dist-tags of {package_id}", accept=(404,))
    if have.status_code == 404:
        raise ItemError(f"dist-tags of {package_id}: the target has no such npm package")
    return {str(tag): str(version) for tag, version in (have.json() or {}).items()}


def _dist_tags_url(ctx: PublishContext, package_id: str) -> str:
    return f"{ctx.endpoint('npm')}-/package/{quote(package_id, safe='@')}/dist-tags"
