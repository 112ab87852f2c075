"""What a ``.gem`` says about itself: its gemspec (from ``metadata.gz``), platform and file name.

A ``.gem`` is a plain tar holding ``metadata.gz`` (the gzipped YAML gemspec), ``data.tar.gz`` and
usually ``checksums.yaml.gz``. RubyGems names the file ``{name}-{version}.gem``, or
``{name}-{version}-{platform}.gem`` when the platform is not ``ruby``, where the platform is the
canonical form ``Gem::Platform`` gives it (``i686-linux`` becomes ``x86-linux``); :func:`platform_parts`
follows ``Gem::Platform#initialize`` for that.
"""

from __future__ import annotations

import gzip
import io
import re
import tarfile
import zlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ferry.rubygems.psych import PsychError, load

MAX_METADATA = 16 * 1024 * 1024  # a gemspec is kilobytes; refuse gzip bombs
RUBY = "ruby"
_NAME = re.compile(r"^[A-Za-z0-9._-]+$")
# Gem::Version::ANCHORED_VERSION_PATTERN
_VERSION = re.compile(r"^\s*([0-9]+(?:\.[0-9a-zA-Z]+)*(?:-[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?)?\s*$")


class GemError(ValueError):
    """The file is not a gem, or its gemspec is unusable."""


@dataclass(frozen=True)
class Dependency:
    """One ``add_dependency``: name, ``[(op, version)]`` requirement, ``runtime``/``development``."""

    name: str
    requirement: tuple[tuple[str, str], ...]
    type: str = "runtime"
    prerelease: bool = False

    def requirement_text(self) -> str:
        """``">= 12, < 14"`` as Gem::Requirement#to_s writes it."""
        return ", ".join(f"{op} {ver}" for op, ver in self.requirement)


@dataclass(frozen=True)
class GemSpec:
    """The fields of a gemspec that an index or an install needs."""

    name: str
    version: str
    platform: str = RUBY  # as written in the gemspec (Gem::Specification's original_platform)
    summary: str | None = None
    description: str | None = None
    authors: tuple[str, ...] = ()
    email: Any = None  # a string or a list of strings, as the gem author wrote it
    homepage: str | None = None
    licenses: tuple[str, ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    dependencies: tuple[Dependency, ...] = ()
    required_ruby_version: tuple[tuple[str, str], ...] = ((">=", "0"),)
    required_rubygems_version: tuple[tuple[str, str], ...] = ((">=", "0"),)
    rubygems_version: str | None = None
    specification_version: int | None = None
    date: str | None = None  # "YYYY-MM-DD"

    @property
    def prerelease(self) -> bool:
        """Gem::Version#prerelease?: any letter in the version."""
        return is_prerelease(self.version)

    @property
    def full_name(self) -> str:
        return full_name(self.name, self.version, self.platform)

    @property
    def file_name(self) -> str:
        return self.full_name + ".gem"

    def runtime_dependencies(self) -> list[Dependency]:
        return [d for d in self.dependencies if d.type == "runtime"]


def is_prerelease(version: str) -> bool:
    return bool(re.search(r"[a-zA-Z]", version))


def platform_parts(platform: str) -> tuple[str | None, str, str | None]:
    """``(cpu, os, version)`` of a platform string, as ``Gem::Platform.new(string)`` splits it."""
    arch = platform.split("-")
    if len(arch) > 2 and not re.search(r"\d", arch[-1]):  # reassemble x86-linux-gnu
        extra = arch.pop()
        arch[-1] += f"-{extra}"
    cpu: str | None = arch.pop(0)
    cpu = "x86" if cpu and re.search(r"i\d86", cpu) else cpu
    if len(arch) == 2 and re.search(r"^\d+(\.\d+)?$", arch[-1]):
        return cpu, arch[0], arch[1]
    os_name = arch[0] if arch else None
    if os_name is None:  # legacy jruby: "java"
        cpu, os_name = None, cpu or ""
    name, version = _os_version(os_name)
    if cpu is None and name.startswith("mswin") and name.endswith("32"):
        cpu = "x86"
    return cpu, name, version


_OS_RULES: tuple[tuple[str, str | None, bool], ...] = (
    # (pattern, os name or None for group 1, whether group 1/2 is the version)
    (r"aix(\d+)?", "aix", True), (r"cygwin", "cygwin", False), (r"darwin(\d+)?", "darwin", True),
    (r"^macruby$", "macruby", False), (r"freebsd(\d+)?", "freebsd", True), (r"hpux(\d+)?", "hpux", True),
    (r"^java$", "java", False), (r"^jruby$", "java", False), (r"^java([\d.]*)", "java", True),
    (r"^dalvik(\d+)?$", "dalvik", True), (r"^dotnet$", "dotnet", False), (r"^dotnet([\d.]*)", "dotnet", True),
    (r"linux-?((?!gnu)\w+)?", "linux", True), (r"mingw32", "mingw32", False), (r"mingw-?(\w+)?", "mingw", True),
)


def _os_version(os_name: str) -> tuple[str, str | None]:
    for pattern, name, versioned in _OS_RULES:
        m = re.search(pattern, os_name)
        if m:
            return name or "", (m.group(1) or None) if versioned else None
    m = re.search(r"(mswin\d+)(_(\d+))?", os_name)
    if m:
        return m.group(1), m.group(3)
    for pattern, name in ((r"netbsdelf", "netbsdelf"), (r"openbsd(\d+\.\d+)?", "openbsd"),
                          (r"bitrig(\d+\.\d+)?", "bitrig"), (r"solaris(\d+\.\d+)?", "solaris")):
        m = re.search(pattern, os_name)
        if m:
            return name, m.group(1) if m.groups() else None
    m = re.search(r"^(\w+_platform)(\d+)?", os_name)
    if m:
        return m.group(1), m.group(2)
    return "unknown", None


def platform_string(platform: str | None) -> str:
    """The canonical platform (``Gem::Platform#to_s``); ``ruby`` for the pure-Ruby platform or none."""
    if not platform or platform == RUBY:
        return RUBY
    return "-".join(p for p in platform_parts(platform) if p)


def full_name(name: str, version: str, platform: str | None = RUBY) -> str:
    """``name-version`` or ``name-version-platform`` (Gem::Specification#full_name)."""
    canonical = platform_string(platform)
    return f"{name}-{version}" if canonical == RUBY else f"{name}-{version}-{canonical}"


# -- reading a gem ----------------------------------------------------------------------------------


def read_gem(source: Path | BinaryIO) -> GemSpec:
    """The gemspec inside a ``.gem`` (a path, or a binary stream read forward only, as far as ``metadata.gz``:
    RubyGems writes it first, so a download need not go further). Raises :class:`GemError`."""
    try:
        with (tarfile.open(source, "r:") if isinstance(source, Path) else tarfile.open(fileobj=source, mode="r|")) \
                as archive:
            for member in archive:
                if member.name == "metadata.gz" and member.isfile():
                    handle = archive.extractfile(member)
                    if handle is None:
                        break
                    return parse_metadata(_gunzip(handle.read(MAX_METADATA + 1)))
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise GemError(f"not a gem: {type(err).__name__}: {err}") from None
    raise GemError("not a gem: no metadata.gz")


def _gunzip(data: bytes) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as gz:
        out = gz.read(MAX_METADATA + 1)
    if len(out) > MAX_METADATA:
        raise GemError("metadata.gz is too large")
    return out


def parse_metadata(text: bytes | str) -> GemSpec:
    """A :class:`GemSpec` from the YAML of ``metadata.gz``. Raises :class:`GemError`."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    try:
        doc = load(text)
    except PsychError as err:
        raise GemError(f"unreadable gemspec: {err}") from None
    if not isinstance(doc, dict):
        raise GemError("the gemspec is not a mapping")
    name = _text(doc.get("name"))
    version = _version_of(doc.get("version"))
    if not name or not _NAME.match(name):
        raise GemError(f"the gemspec has no valid name ({name!r})")
    if not version or not _VERSION.match(version):
        raise GemError(f"the gemspec has no valid version ({version!r})")
    platform = _text(doc.get("platform")) or RUBY
    deps = tuple(_dependency(d) for d in (doc.get("dependencies") or []))
    return GemSpec(
        name=name, version=version.strip(), platform=platform,
        summary=_text(doc.get("summary")), description=_text(doc.get("description")),
        authors=tuple(_text(a) or "" for a in _list(doc.get("authors"))),
        email=[_text(e) for e in doc["email"]] if isinstance(doc.get("email"), list) else _text(doc.get("email")),
        homepage=_text(doc.get("homepage")),
        licenses=tuple(_text(x) or "" for x in _list(doc.get("licenses"))),
        metadata={str(k): _text(v) or "" for k, v in (doc.get("metadata") or {}).items()}
        if isinstance(doc.get("metadata"), dict) else {},
        dependencies=deps,
        required_ruby_version=_requirement(doc.get("required_ruby_version")),
        required_rubygems_version=_requirement(doc.get("required_rubygems_version")),
        rubygems_version=_text(doc.get("rubygems_version")),
        specification_version=doc.get("specification_version") if isinstance(doc.get("specification_version"),
                                                                                int) else None,
        date=_date(doc.get("date")),
    )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _version_of(value: Any) -> str | None:
    if isinstance(value, dict):
        value = value.get("version")
    return _text(value)


def _requirement(value: Any) -> tuple[tuple[str, str], ...]:
    """``[(op, version)]`` of a Gem::Requirement mapping (``>= 0`` when absent)."""
    reqs = value.get("requirements") if isinstance(value, dict) else None
    out = []
    for entry in reqs or []:
        if not isinstance(entry, list) or len(entry) != 2:
            raise GemError(f"bad requirement entry {entry!r}")
        op, ver = _text(entry[0]) or "=", _version_of(entry[1])
        if ver is None:
            raise GemError(f"bad requirement entry {entry!r}")
        out.append((op, ver))
    return tuple(out) or ((">=", "0"),)


def _dependency(value: Any) -> Dependency:
    if not isinstance(value, dict) or not value.get("name"):
        raise GemError(f"bad dependency {value!r}")
    requirement = value.get("requirement") or value.get("version_requirements")
    kind = (_text(value.get("type")) or ":runtime").lstrip(":")
    return Dependency(_text(value["name"]) or "", _requirement(requirement), kind, value.get("prerelease") is True)


def _date(value: Any) -> str | None:
    m = re.match(r"^(\d{4})-(\d{2})-(\d{2})", _text(value) or "")
    return "-".join(m.groups()) if m else None


# -- versions ---------------------------------------------------------------------------------------


def _segments(version: str) -> list[int | str]:
    return [int(s) if s.isdigit() else s for s in re.findall(r"[0-9]+|[a-z]+", version, re.I)]


def _canonical(version: str) -> list[int | str]:
    """Gem::Version#canonical_segments: trailing zeros dropped from the release and prerelease parts."""
    segs = _segments(version)
    split = next((i for i, s in enumerate(segs) if isinstance(s, str)), len(segs))
    out: list[int | str] = []
    for part in (segs[:split], segs[split:]):
        while part and part[-1] == 0:
            part = part[:-1]
        out += part
    return out


def compare_versions(a: str, b: str) -> int:
    """``Gem::Version.new(a) <=> Gem::Version.new(b)`` (-1, 0 or 1)."""
    left, right = _canonical(a), _canonical(b)
    for i in range(max(len(left), len(right))):
        x = left[i] if i < len(left) else 0
        y = right[i] if i < len(right) else 0
        if x == y:
            continue
        if isinstance(x, str) and not isinstance(y, str):
            return -1
        if not isinstance(x, str) and isinstance(y, str):
            return 1
        return -1 if x < y else 1  # type: ignore[operator]
    return 0


# -- storing a spec as JSON ---------------------------------------------------------------------------


def spec_to_json(spec: GemSpec) -> dict[str, Any]:
    """A JSON-safe dict of ``spec`` (:func:`spec_from_json` reverses it)."""
    data = asdict(spec)
    data["dependencies"] = [asdict(d) for d in spec.dependencies]
    return data


def spec_from_json(data: dict[str, Any]) -> GemSpec:
    """The :class:`GemSpec` :func:`spec_to_json` stored."""
    fields = dict(data)
    fields["dependencies"] = tuple(
        Dependency(d["name"], tuple(tuple(r) for r in d["requirement"]), d.get("type", "runtime"),
                   bool(d.get("prerelease"))) for d in data.get("dependencies") or [])
    for key in ("required_ruby_version", "required_rubygems_version"):
        fields[key] = tuple(tuple(r) for r in data.get(key) or [(">=", "0")])
    for key in ("authors", "licenses"):
        fields[key] = tuple(data.get(key) or ())
    return GemSpec(**fields)
