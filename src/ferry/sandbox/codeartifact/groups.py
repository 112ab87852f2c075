"""Package group patterns: parsing, matching and the parent/child hierarchy (pure functions).

A pattern follows a package path ``/{format}/{namespace}/{name}`` with the unspecified components left
out and one suffix: ``$`` exact, ``~`` prefix, ``*`` every value of the next component. The allowed
shapes are ``/*``, ``/npm/*``, ``/maven/com.anycompany~``, ``/npm/space/*``, ``/npm/space/ui~`` and
``/maven/org.apache.logging.log4j/log4j-core$``; formats without namespaces use an empty namespace
(``/pypi//requests$``). A package belongs to the most specific group whose pattern matches it.
"""

from __future__ import annotations

from dataclasses import dataclass

from ferry.sandbox.codeartifact.records import FORMATS, ValidationError

ROOT_PATTERN = "/*"
RESTRICTION_TYPES = ("EXTERNAL_UPSTREAM", "INTERNAL_UPSTREAM", "PUBLISH")
MODES = ("ALLOW", "ALLOW_SPECIFIC_REPOSITORIES", "BLOCK", "INHERIT")

# Levels, from least to most specific.
ALL, FORMAT, NS_PREFIX, NS, NAME_PREFIX, NAME = range(6)


@dataclass(frozen=True)
class Pattern:
    """A parsed package group pattern; ``value`` is the prefix or exact value of the last component."""

    level: int
    format: str | None = None
    namespace: str | None = None  # exact namespace (levels NS and deeper)
    value: str | None = None  # namespace prefix (NS_PREFIX), name prefix or name (NAME_PREFIX, NAME)

    def specificity(self) -> tuple[int, int]:
        """Sort key: a larger key is a more specific pattern among patterns matching one package."""
        return (self.level, len(self.value or ""))

    def covers(self, other: "Pattern") -> bool:
        """True if every package matched by ``other`` is matched by this pattern (and they differ)."""
        if self == other:
            return False
        if self.level == ALL:
            return True
        if other.level == ALL or other.format != self.format:
            return False
        if self.level == FORMAT:
            return True
        if self.level == NS_PREFIX:
            if other.level == FORMAT:
                return False
            ns = other.value if other.level == NS_PREFIX else other.namespace
            return (ns or "").startswith(self.value or "")
        if self.level == NS:
            return other.level in (NAME_PREFIX, NAME) and other.namespace == self.namespace
        if self.level == NAME_PREFIX:
            return (other.level in (NAME_PREFIX, NAME) and other.namespace == self.namespace
                    and (other.value or "").startswith(self.value or ""))
        return False

    def matches(self, fmt: str, namespace: str | None, name: str) -> bool:
        """True if the package ``/fmt/namespace/name`` belongs under this pattern."""
        pkg = Pattern(NAME, fmt, namespace or "", name)
        return self == pkg or self.covers(pkg)


def parse(text: str) -> Pattern:
    """Parse a package group pattern. Raises :class:`ValidationError` if it is not a valid shape."""

    def bad(why: str) -> ValidationError:
        return ValidationError(f"Invalid package group pattern {text!r}: {why}")

    if not text.startswith("/") or len(text) < 2:
        raise bad("it must start with '/' and end with '$', '~' or '*'")
    suffix = text[-1]
    if suffix not in "$~*":
        raise bad("it must end with '$', '~' or '*'")
    body = text[1:-1]
    if text == ROOT_PATTERN:
        return Pattern(ALL)
    parts = body.split("/")
    fmt = parts[0]
    if fmt not in FORMATS:
        raise bad(f"unknown format {fmt!r}")
    if suffix == "*":
        # "*" follows a slash and stands for every value of the next component.
        if not body.endswith("/"):
            raise bad("'*' must follow '/'")
        parts = parts[:-1]
        if len(parts) == 1:
            return Pattern(FORMAT, fmt)
        if len(parts) == 2:
            return Pattern(NS, fmt, parts[1])
        raise bad("too many components")
    if len(parts) == 2:
        if suffix == "$":
            raise bad("'$' needs a namespace and a name")
        if not parts[1]:
            raise bad("empty namespace prefix")
        return Pattern(NS_PREFIX, fmt, None, parts[1])
    if len(parts) == 3:
        if not parts[2]:
            raise bad("empty name")
        return Pattern(NAME if suffix == "$" else NAME_PREFIX, fmt, parts[1], parts[2])
    raise bad("wrong number of components")


def most_specific(candidates: list[tuple[Pattern, object]]) -> tuple[Pattern, object] | None:
    """The (pattern, item) pair with the most specific pattern, or None if there are none."""
    best = None
    for pattern, item in candidates:
        if best is None or pattern.specificity() > best[0].specificity():
            best = (pattern, item)
    return best


def parent_of(pattern: Pattern, others: list[tuple[Pattern, object]]) -> tuple[Pattern, object] | None:
    """The closest group among ``others`` that covers ``pattern`` (None for the root)."""
    return most_specific([(p, item) for p, item in others if p.covers(pattern)])


def association_type(pattern: Pattern) -> str:
    """STRONG for an exact ($) pattern, WEAK for wildcard/prefix patterns. [U] The docs describe strength
    only loosely; ferry does not depend on it."""
    return "STRONG" if pattern.level == NAME else "WEAK"
