"""Writing Ruby's Marshal format (4.8), enough for the RubyGems index files a gem source serves.

``gem install`` against a source without the Compact Index reads ``specs.4.8.gz`` (a marshalled
array of ``[name, Gem::Version, platform]``), ``quick/Marshal.4.8/{full_name}.gemspec.rz`` (a
deflated, marshalled ``Gem::Specification``) and, for Bundler, ``/api/v1/dependencies`` (a marshalled
array of hashes). This module writes those shapes exactly as Ruby's ``Marshal.dump`` lays them out:
``Gem::Version`` and ``Gem::Requirement`` through ``marshal_dump`` (type ``U``), ``Gem::Specification``
through ``_dump`` (type ``u``), ``Gem::Dependency`` and ``Gem::Platform`` as plain objects (type ``o``).
Strings are UTF-8 (with the ``E`` encoding flag Ruby adds), repeated symbols are written as links.
Only writing: nothing here ever loads Marshal data, which would be unsafe for untrusted input.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import Any, Iterable

from ferry.rubygems.spec import RUBY, Dependency, GemSpec, platform_parts

MARSHAL_VERSION = b"\x04\x08"


class Symbol(str):
    """A Ruby symbol (``:runtime``)."""


@dataclass(frozen=True)
class UserMarshal:
    """An object whose class defines ``marshal_dump``: written as ``U``, class name, then ``data``."""

    cls: str
    data: Any


@dataclass(frozen=True)
class UserDefined:
    """An object whose class defines ``_dump``: written as ``u``, class name, then the bytes ``data``."""

    cls: str
    data: bytes


@dataclass(frozen=True)
class RubyObject:
    """A plain object: ``o``, class name, then its instance variables in order."""

    cls: str
    ivars: tuple[tuple[str, Any], ...]


def dumps(value: Any) -> bytes:
    """``Marshal.dump(value)``. Raises ``TypeError`` for values with no Ruby counterpart here."""
    writer = _Writer()
    writer.value(value)
    return MARSHAL_VERSION + bytes(writer.out)


class _Writer:
    def __init__(self) -> None:
        self.out = bytearray()
        self.symbols: dict[str, int] = {}

    def long(self, n: int) -> None:
        if not -(2 ** 30) <= n < 2 ** 30:
            raise TypeError(f"integer {n} is outside the Fixnum range this writer handles")
        if n == 0:
            self.out.append(0)
        elif 0 < n < 123:
            self.out.append(n + 5)
        elif -124 < n < 0:
            self.out.append((n - 5) & 0xFF)
        else:
            raw = struct.pack("<i", n)
            size = 4
            while size > 1 and raw[size - 1] == (0 if n > 0 else 0xFF):
                size -= 1
            self.out.append(size if n > 0 else (256 - size))
            self.out += raw[:size]

    def raw_bytes(self, data: bytes) -> None:
        self.long(len(data))
        self.out += data

    def symbol(self, name: str) -> None:
        if name in self.symbols:
            self.out += b";"
            self.long(self.symbols[name])
            return
        self.symbols[name] = len(self.symbols)
        if not name.isascii():
            raise TypeError("non-ASCII symbols are not supported")
        self.out += b":"
        self.raw_bytes(name.encode())

    def value(self, value: Any) -> None:
        if value is None:
            self.out += b"0"
        elif value is True:
            self.out += b"T"
        elif value is False:
            self.out += b"F"
        elif isinstance(value, int):
            self.out += b"i"
            self.long(value)
        elif isinstance(value, Symbol):
            self.symbol(str(value))
        elif isinstance(value, str):
            self.out += b'I"'  # a UTF-8 string carries one instance variable: E => true
            self.raw_bytes(value.encode("utf-8"))
            self.long(1)
            self.symbol("E")
            self.out += b"T"
        elif isinstance(value, (bytes, bytearray)):
            self.out += b'"'  # ASCII-8BIT: no encoding ivar
            self.raw_bytes(bytes(value))
        elif isinstance(value, (list, tuple)):
            self.out += b"["
            self.long(len(value))
            for item in value:
                self.value(item)
        elif isinstance(value, dict):
            self.out += b"{"
            self.long(len(value))
            for key, item in value.items():
                self.value(key)
                self.value(item)
        elif isinstance(value, UserMarshal):
            self.out += b"U"
            self.symbol(value.cls)
            self.value(value.data)
        elif isinstance(value, UserDefined):
            self.out += b"u"
            self.symbol(value.cls)
            self.raw_bytes(value.data)
        elif isinstance(value, RubyObject):
            self.out += b"o"
            self.symbol(value.cls)
            self.long(len(value.ivars))
            for name, item in value.ivars:
                self.symbol(name)
                self.value(item)
        else:
            raise TypeError(f"cannot marshal {type(value).__name__}")


# -- RubyGems objects -------------------------------------------------------------------------------


def gem_version(version: str) -> UserMarshal:
    """``Gem::Version.new(version)`` (``marshal_dump`` is ``[version_string]``)."""
    return UserMarshal("Gem::Version", [version])


def requirement(pairs: Iterable[tuple[str, str]]) -> UserMarshal:
    """``Gem::Requirement`` (``marshal_dump`` is ``[[[op, Gem::Version], ...]]``)."""
    return UserMarshal("Gem::Requirement", [[[op, gem_version(ver)] for op, ver in pairs]])


def dependency(dep: Dependency) -> RubyObject:
    """``Gem::Dependency`` with the instance variables RubyGems sets (requirement twice, as it does)."""
    req = requirement(dep.requirement)
    return RubyObject("Gem::Dependency", (("@name", dep.name), ("@requirement", req), ("@type", Symbol(dep.type)),
                                          ("@prerelease", dep.prerelease), ("@version_requirements", req)))


def platform_object(platform: str) -> Any:
    """The gemspec's ``new_platform``: the string ``"ruby"`` or a ``Gem::Platform`` object."""
    if not platform or platform == RUBY:
        return RUBY
    cpu, os_name, version = platform_parts(platform)
    return RubyObject("Gem::Platform", (("@cpu", cpu), ("@os", os_name), ("@version", version)))


def _summary(text: str | None) -> str:
    """Gem::Specification#summary= (which the indexer's ``sanitize`` applies): one line, trimmed."""
    text = (text or "").strip(" \t\n\v\f\r\0")
    text = re.sub(r"(\w-)\n[ \t]*(\w)", r"\1\2", text, flags=re.ASCII)
    return re.sub(r"\n[ \t]*", " ", text)


def specification(spec: GemSpec) -> bytes:
    """``Marshal.dump(spec)`` for a ``Gem::Specification`` as ``gem generate_index`` writes it into
    ``quick/``: the field array ``_dump`` writes, after the indexer's ``sanitize`` (summary on one
    line, a missing description as ``""``)."""
    fields = [
        spec.rubygems_version or "0",
        spec.specification_version if spec.specification_version is not None else 4,
        spec.name,
        gem_version(spec.version),
        spec.date,  # Gem::Specification#date= turns "YYYY-MM-DD" (or nil: today) into a Time
        _summary(spec.summary),
        requirement(spec.required_ruby_version),
        requirement(spec.required_rubygems_version),
        spec.platform or RUBY,
        [dependency(d) for d in spec.dependencies],
        "",  # rubyforge_project
        spec.email,
        list(spec.authors),
        spec.description or "",
        spec.homepage,
        True,  # has_rdoc
        platform_object(spec.platform),
        list(spec.licenses),
        dict(spec.metadata),
    ]
    return dumps(UserDefined("Gem::Specification", dumps(fields)))


def spec_tuples(tuples: Iterable[tuple[str, str, str]]) -> bytes:
    """The content of ``specs.4.8`` and friends: ``[[name, Gem::Version, platform], ...]``."""
    return dumps([[name, gem_version(version), platform] for name, version, platform in tuples])


def dependency_api(entries: Iterable[tuple[str, str, str, list[tuple[str, str]]]]) -> bytes:
    """The ``/api/v1/dependencies`` body: ``[{name:, number:, platform:, dependencies: [[n, req]]}]``."""
    return dumps([{Symbol("name"): name, Symbol("number"): number, Symbol("platform"): platform,
                   Symbol("dependencies"): [[n, req] for n, req in deps]}
                  for name, number, platform, deps in entries])
