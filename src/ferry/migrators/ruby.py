"""RubyGems: each ``.gem`` is one asset (``{full_name}.gem``) of (gem name, version); published as ``gem push``.

Identity comes from the source's hints (Nexus lists gems with name, version and platform; Artifactory's
indexing sets ``gem.name``/``gem.version``), else from the file name ``{name}-{version}[-{platform}].gem``
where it reads one way only (:func:`file_name_readings`), else from the gemspec in the gem itself, read
from its first bytes while the source is listed (:meth:`RubyMigrator.read_identity`). Platform gems of
one version are separate assets of that version, named as RubyGems names the file (canonical platform,
e.g. ``x86_64-linux``). The publish reads the gem's own ``metadata.gz`` and refuses a gem that says it is
something else, then POSTs the raw gem to ``{endpoint without /}/api/v1/gems`` with ``Authorization:
Bearer TOKEN``, which is what ``gem push`` sends with the API key CodeArtifact documents.

RubyGems compares versions by their canonical segments (trailing zeros dropped: ``1.0`` and ``1.0.0`` are one
version, :func:`canonical_version`), so of two source gems of one name and platform whose versions compare
equal, ``gem install -v 1.0.0`` from the target may fetch the other. The first listed is migrated and the later
one is unmappable, naming it (the claims of :mod:`ferry.migrators.claims`, as for NuGet).
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import BinaryIO

from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.base import NoPackageFacts, PublishContext, Spooled, safe_asset_name, source_item, \
    unidentified
from ferry.migrators.claims import Claims
from ferry.model import ItemKey, SourceItem
from ferry.rubygems.spec import GemError, full_name, platform_parts, read_gem
from ferry.sources.base import SourceFile

# As RubyGems writes a version in a file name: digits first (so "foo-2fa" is a name), no "-" (Gem::Version
# turns one into ".pre.").
_VERSION = re.compile(r"^\d+(?:\.[0-9A-Za-z]+)*$")
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
_VERSION_START = re.compile(r"-(?=\d)")
WHAT_TO_DO = "set its gem.name and gem.version properties in Artifactory, or replace it with a good gem"
_SEGMENT = re.compile(r"[0-9]+|[a-z]+", re.IGNORECASE)


def canonical_version(version: str) -> tuple[str, ...]:
    """``version`` as RubyGems compares it (``Gem::Version#canonical_segments``): its segments, with the trailing
    zeros of the numeric part and of the part from the first letters on dropped: ``1.0.0`` and ``1.0`` are
    ``("1",)``, ``2.0.0.pre.1.0`` and ``2.0.pre.1`` are ``("2", "pre", "1")``."""
    segments = [str(int(s)) if s.isdigit() else s for s in _SEGMENT.findall(version)]
    first_word = next((i for i, s in enumerate(segments) if not s.isdigit()), len(segments))
    canonical: list[str] = []
    for part in (segments[:first_word], segments[first_word:]):
        while part and part[-1] == "0":
            part = part[:-1]
        canonical += part
    return tuple(canonical)


def file_name_readings(filename: str) -> list[tuple[str, str, str]]:
    """Every ``(name, version, platform)`` RubyGems could have named ``filename`` from
    (``{name}-{version}[-{platform}].gem``, platform ``ruby`` when there is none): a cut at each ``-`` before a
    digit whose rest is a version, then nothing or a platform RubyGems knows. Where there is not exactly one,
    the file name does not tell (``baz-1.0-x86_64-darwin-19.gem`` is also gem ``baz-1.0-x86_64-darwin`` 19)."""
    stem = filename[: -len(".gem")] if filename.endswith(".gem") else ""
    readings = []
    for cut in _VERSION_START.finditer(stem):
        name, (version, _, platform) = stem[: cut.start()], stem[cut.end():].partition("-")
        if _NAME.match(name) and _VERSION.match(version) and (not platform or _known_platform(platform)):
            readings.append((name, version, platform or "ruby"))
    return readings


def _known_platform(platform: str) -> bool:
    cpu, os_name, _ = platform_parts(platform)
    # A "CPU" starting with a digit is a version: foo-2-1.0-java.gem is gem foo-2 1.0 for java, not foo 2.
    return os_name != "unknown" and not (cpu or "")[:1].isdigit()


class RubyMigrator(NoPackageFacts):
    format = "ruby"
    single_asset = False

    def __init__(self) -> None:
        self._claims = Claims()

    def identify(self, file: SourceFile, mapping: RepositoryMapping) -> SourceItem | None:
        filename = posixpath.basename(file.path)
        if not filename.endswith(".gem"):
            return None  # gemspec.rz files and index files are not items
        readings = file_name_readings(filename)
        only = readings[0] if len(readings) == 1 else None
        hints = file.hints
        name = hints.get("rubygems.name") or hints.get("name") or (only[0] if only else "")
        version = hints.get("rubygems.version") or hints.get("version") or (only[1] if only else "")
        platform = hints.get("rubygems.platform") or hints.get("platform") or \
            next((p for n, v, p in readings if (n, v) == (name, version)), "ruby")
        if platform != "ruby" and version.endswith(f"-{platform}"):
            version = version[: -len(platform) - 1]  # a source that lists "1.0-java" as the version
        asset = safe_asset_name(full_name(name, version, platform) + ".gem") if name and version else None
        if asset is None:
            unreadable = hints.get("unreadable")
            what_to_do = hints.get("unreadable_again") or WHAT_TO_DO
            why = f": its file name does not say, and its gemspec could not be read ({unreadable}); {what_to_do}" \
                if unreadable else ""
            return source_item(file, ("ruby", "", name or filename, version or "?", unidentified(file)),
                               unmappable=f"cannot tell the gem name and version of {file.path!r}{why}")
        holder = self._claims.claim(mapping, (name, canonical_version(version), platform), file)
        if holder is not None:
            return source_item(file, ("ruby", "", name, version, f"(collision) {file.path}"),
                               unmappable=f"{name} {version} ({platform}) is to RubyGems the gem version {holder!r} in "
                                          "this source already is (RubyGems drops trailing zeros of a version); not "
                                          "migrated: keep one of the two (exclude or remove the other in the source)")
        return source_item(file, ("ruby", "", name, version, asset))

    def forget(self, mapping: RepositoryMapping) -> None:
        """The listing of ``mapping`` has ended: its claims (see :mod:`ferry.migrators.claims`) are dropped."""
        self._claims.forget(mapping)

    def identity_unknown(self, file: SourceFile) -> bool:
        """Whether only the gem itself can tell what ``file`` is: a ``.gem`` without name and version hints
        whose file name reads no way or several (see :func:`file_name_readings`)."""
        hints = file.hints
        filename = posixpath.basename(file.path)
        hinted = (hints.get("rubygems.name") or hints.get("name")) and \
            (hints.get("rubygems.version") or hints.get("version"))
        return filename.endswith(".gem") and not hinted and len(file_name_readings(filename)) != 1

    def read_identity(self, file: SourceFile, stream: BinaryIO, spool: Path | None = None) -> dict[str, str]:
        """Name, version and platform hints from the gemspec of the gem ``stream`` holds, read forward as far as
        its ``metadata.gz`` (the first member RubyGems writes; nothing is copied, so ``spool`` is not used).
        Raises ItemError if it is not a readable gem."""
        try:
            spec = read_gem(stream)
        except GemError as err:
            raise ItemError(str(err)) from None
        return {"name": spec.name, "version": spec.version, "platform": spec.platform}

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
