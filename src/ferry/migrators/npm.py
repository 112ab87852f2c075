"""npm: one asset (``package.tgz``) per version; published with the registry's PUT, built from the tarball.

The publish document is the tarball's own ``package.json`` plus ``dist`` digests, with the tarball
attached in base64, exactly what ``npm publish`` sends. It is streamed: the JSON around the attachment is
small, and the base64 text is produced from the spool file chunk by chunk, so a 2 GB tarball never sits
in memory.

What the tarball does not carry is read from the source's packument and set after the publish: the
dist-tags pointing at the version as it is finished, and the deprecation messages of the package's versions
after the transfer (``npm deprecate``'s GET and PUT of the packument, once per package: :mod:`ferry.dist_tags`),
so ``npm install`` warns from the target as it did from the source.
"""

from __future__ import annotations

import base64
import json
import posixpath
import re
import shutil
import tarfile
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, Callable, Collection, Iterable, Iterator
from urllib.parse import quote

import urllib3

from ferry.archives import members
from ferry.config import RepositoryMapping
from ferry.errors import ItemError, RetryableError
from ferry.migrators.base import PublishContext, Spooled, source_item, unidentified
from ferry.model import ItemKey, SourceItem
from ferry.sources.base import Source, SourceFile
from ferry.sources.packument import packument_facts, packument_versions, rewrite_deprecations

MAX_PACKAGE_JSON = 5 * 1024 * 1024
_TARBALL = re.compile(r"^(?:@(?P<scope>[^/]+)/)?(?P<name>[^/@]+)/-/(?:@[^/]+/)?(?P<file>[^/]+\.tgz)$")
_B64_CHUNK = 3 * 256 * 1024  # a multiple of 3, so chunks encode without padding in between
_LOCKS = tuple(threading.Lock() for _ in range(64))


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
                                      unidentified(file)),
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
        """The package's dist-tags in the source, and the deprecation message of each deprecated version
        (``{"dist_tags": {tag: version}, "deprecated": {version: message}}``), from one packument read
        where the source has ``npm_package``; a source without it gives dist-tags alone."""
        pid = package_id(key.namespace, key.package)
        read = getattr(source, "npm_package", None)
        if read is None:
            return {"dist_tags": dict(source.dist_tags(repository, pid)), "deprecated": {}}
        facts = read(repository, pid)
        return {"dist_tags": dict(facts.get("dist_tags") or {}), "deprecated": dict(facts.get("deprecated") or {})}

    def finish_version(self, ctx: PublishContext, items: list[SourceItem]) -> None:
        """Make the target's dist-tags that point at these versions follow the source.

        Their deprecation messages are not set here but by the run's follow pass (:mod:`ferry.dist_tags`),
        for all of a package's versions at once: deprecating means reading and writing the whole packument,
        so doing it per version would cost a package deprecated in every one of its thousands of versions
        a read and a rewrite of its growing packument each (quadratic, and a publish-quota slot each)."""
        versions = {i.key.version for i in items}
        key = items[0].key if items else None
        # Only tags pointing at these versions are this call's business: most versions have none, and then
        # the target is not asked at all.
        ours = {tag: ver for tag, ver in ctx.package_facts.get("dist_tags", {}).items() if ver in versions}
        if ours and key is not None:
            sync_dist_tags(ctx, package_id(key.namespace, key.package), ours, remove=False)


def sync_dist_tags(ctx: PublishContext, package_id: str, want: dict[str, str], remove: bool = True,
                   keep: Iterable[str] = ()) -> tuple[int, int]:
    """Make the target package's dist-tags in ``want`` point where it says: one GET, then a PUT per tag that
    differs. With ``remove``, tags the target has beyond ``want`` and ``keep`` are deleted too (``latest``
    never is, only moved); without, the target's other tags are left alone.

    Returns ``(tags set, tags removed)``. Raises :class:`ItemError` (no such package in the target, or a tag
    naming a version it does not have) or RetryableError.
    """
    url = _dist_tags_url(ctx, package_id)
    current = target_dist_tags(ctx, package_id)
    put = removed = 0
    for tag, version in sorted(want.items()):
        if current.get(tag) != version:
            resp = ctx.send("PUT", f"{url}/{quote(tag)}", f"dist-tag {tag} of {package_id}", data=json.dumps(version),
                            headers={"Content-Type": "application/json"}, accept=(404,))
            if resp.status_code == 404:  # the version's copy failed or is still to come: this package's problem
                raise ItemError(f"dist-tag {tag} of {package_id}: the target has no version {version} to tag")
            put += 1
    for tag in sorted(set(current) - set(want) - set(keep) - {"latest"}) if remove else ():
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


def target_deprecations(ctx: PublishContext, package_id: str) -> dict[str, str]:
    """The deprecation message of each deprecated version of the target package (one GET of its
    packument, read as a stream: see :mod:`ferry.sources.packument`). Raises :class:`ItemError` when the
    target has no such package, RetryableError when the request may be tried again."""
    what = f"packument of {package_id}"
    with _target_packument_body(ctx, package_id, what) as body:
        return packument_facts(body, what)["deprecated"]


def sync_deprecations(ctx: PublishContext, package_id: str, want: dict[str, str],
                      remove: Callable[[str], bool] | None = None) -> int:
    """Deprecate the target package's versions in ``want`` with their messages, as ``npm deprecate``
    does: one GET of the packument (its messages read as a stream), and, if a message differs, a GET of the
    whole packument (spooled to a temporary file) and one PUT of it with those messages set (rewritten
    from that file as a stream: a packument of thousands of versions is never held in memory).
    Without ``remove``, versions not in ``want`` keep what they have (the target's own deprecations
    stay); with it, a deprecated version not in ``want`` for which ``remove(version)`` is true is
    un-deprecated in the same PUT (an empty message, as ``npm deprecate pkg@v ""`` sends).

    Returns the number of versions changed. Raises :class:`ItemError` (no such package or version in
    the target, or the target refused) or RetryableError.
    """
    # Two versions of a package finishing at once would each PUT the packument they read: one at a time.
    with _LOCKS[hash((ctx.repository, package_id)) % len(_LOCKS)]:
        # First the messages alone, streamed: on most runs nothing differs, and a package of thousands of
        # versions is not held whole (nor is it to write it back, which only a difference costs).
        held = target_deprecations(ctx, package_id)
        if all(held.get(version) == message for version, message in want.items()) and not (
                remove is not None and any(v not in want and remove(v) for v in held)):
            return 0
        with tempfile.TemporaryFile() as original, tempfile.TemporaryFile() as edited:
            # The packument is written back whole: spooled to disk and rewritten as a stream, never held.
            listed, messages = _spool_target_packument(ctx, package_id, original, want)
            missing = sorted(set(want) - listed)
            if missing:
                raise ItemError(f"deprecating {package_id}@{missing[0]}: the target does not list that version")
            want = dict(want)
            for version, message in messages.items():
                if remove is not None and version not in want and message and remove(version):
                    want[version] = ""
            changed = [v for v, message in want.items() if (messages.get(v) or "") != message]
            if changed:
                what = f"packument of {package_id}"
                original.seek(0)
                rewrite_deprecations(original, edited, {v: want[v] for v in changed}, what)
                edited.seek(0)
                ctx.send("PUT", f"{ctx.endpoint('npm')}{package_id.replace('/', '%2f')}",
                         f"deprecate {package_id}@{changed[0]}" + (f" and {len(changed) - 1} more"
                                                                    if len(changed) > 1 else ""),
                         data=edited, headers={"Content-Type": "application/json", "npm-command": "deprecate"})
        return len(changed)


@contextmanager
def _target_packument_body(ctx: PublishContext, package_id: str, what: str) -> Iterator[IO[bytes]]:
    """The body of the target's full packument of ``package_id``, to be read as a stream (closed on leaving).
    Raises :class:`ItemError` when the target has no such package, and what :meth:`PublishContext.send` raises."""
    have = ctx.send("GET", _packument_url(ctx, package_id), what, accept=(404,),
                    headers={"Accept": "application/json"}, stream=True)
    with have:
        if have.status_code == 404:
            raise ItemError(f"{what}: the target has no such npm package")
        have.raw.decode_content = True
        yield have.raw


def _packument_url(ctx: PublishContext, package_id: str) -> str:
    """Where the target's full packument of ``package_id`` is read, as ``npm deprecate`` reads it (``?write=true``)."""
    return f"{ctx.endpoint('npm')}{package_id.replace('/', '%2f')}?write=true"


def _spool_target_packument(ctx: PublishContext, package_id: str, spool: IO[bytes],
                            among: Collection[str]) -> tuple[set[str], dict[str, Any]]:
    """Copy the target's full packument of ``package_id`` into ``spool`` as it is read (to be written back),
    and return the versions of ``among`` it lists and the ``deprecated`` value of each of its versions that has
    one (:func:`~ferry.sources.packument.packument_versions`).

    Raises :class:`ItemError` when the target has no such package or answers with something that is not a
    packument, RetryableError when the answer is not JSON (cut short?) or breaks off.
    """
    what = f"packument of {package_id}"
    with _target_packument_body(ctx, package_id, what) as body:
        try:
            shutil.copyfileobj(body, spool, 1 << 16)
        except (urllib3.exceptions.HTTPError, OSError) as err:  # the connection broke off mid-body
            raise RetryableError(f"{what}: {type(err).__name__} while reading") from None
    spool.seek(0)
    found = packument_versions(spool, what, among)
    if found is None:
        raise ItemError(f"{what}: the target answered with something that is not a packument")
    return found


def _dist_tags_url(ctx: PublishContext, package_id: str) -> str:
    return f"{ctx.endpoint('npm')}-/package/{quote(package_id, safe='@')}/dist-tags"
