"""A reader for the YAML that RubyGems writes into a gem's ``metadata.gz`` (Psych's block style).

Not a general YAML parser: it reads what ``Gem::Specification#to_yaml`` produces, old and new:
block mappings and sequences (``- - ">="`` nested entries included), plain, single- and
double-quoted scalars (folded over several lines), literal and folded block scalars (``|``, ``|-``,
``|2-``, ``>``), empty and simple flow collections (``[]``, ``{}``, ``[a, b]``), anchors and aliases
(``&1`` / ``*1``, which older RubyGems wrote for shared requirements), and tags. Ruby object tags
(``!ruby/object:Gem::Version``) are dropped: the mapping under them is returned as a dict; ``!binary``
scalars are returned as ``bytes``. Plain scalars become ``None`` (empty, ``~``, ``null``), ``bool``,
``int`` or ``str`` — never ``float``: ``1.0`` stays the string it was, which is what a version needs.

A gem is untrusted input: nothing here evaluates anything, and malformed text raises
:class:`PsychError` rather than guessing.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ferry.rubygems import psych_scalars as scalars
from ferry.rubygems.psych_scalars import PsychError

__all__ = ["PsychError", "load"]


_KEY = re.compile(r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)"""
                  r"""\s*:(?:\s+|$)(?P<rest>.*)$""")
_MAX_DEPTH = 64


def load(text: str) -> Any:
    """The first document of ``text`` as dicts, lists and scalars. Raises :class:`PsychError`."""
    return _Reader(text).document()


class _Line:
    __slots__ = ("indent", "text", "number")

    def __init__(self, indent: int, text: str, number: int):
        self.indent, self.text, self.number = indent, text, number


class _Reader:
    def __init__(self, text: str):
        self.raw = text.replace("\r\n", "\n").split("\n")
        self.lines: list[_Line] = []
        for number, line in enumerate(self.raw, 1):
            stripped = line.lstrip(" ")
            self.lines.append(_Line(len(line) - len(stripped), stripped.rstrip(" \t"), number))
        self.pos = 0
        self.anchors: dict[str, Any] = {}
        self.depth = 0

    # -- lines --------------------------------------------------------------------------------------

    def _skip_blank(self) -> None:
        while self.pos < len(self.lines) and (not self.lines[self.pos].text or self.lines[self.pos].text[0] == "#"):
            self.pos += 1

    def _current(self) -> _Line | None:
        self._skip_blank()
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        if line.indent == 0 and (line.text == "..." or line.text == "---" or line.text.startswith(("--- ", "... "))):
            return None  # the next document (or the end marker) ends this one
        return line

    def _fail(self, message: str) -> PsychError:
        line = self.lines[min(self.pos, len(self.lines) - 1)] if self.lines else None
        return PsychError(f"{message} (line {line.number if line else 0})")

    # -- structure ----------------------------------------------------------------------------------

    def document(self) -> Any:
        self._skip_blank()
        if self.pos < len(self.lines):
            first = self.lines[self.pos]
            while first.indent == 0 and first.text.startswith("%"):  # directives
                self.pos += 1
                self._skip_blank()
                first = self.lines[self.pos]
            if first.indent == 0 and (first.text == "---" or first.text.startswith("--- ")):
                rest = first.text[3:].strip()
                if rest:  # "--- !ruby/object:Gem::Specification" or a one-line document
                    return self._inline(rest, -1, 0, in_sequence=False)
                self.pos += 1
        return self._after(-1, in_mapping=False)

    def _block(self, indent: int) -> Any:
        """The node whose first line is the current one, at column ``indent``."""
        self.depth += 1
        if self.depth > _MAX_DEPTH:
            raise self._fail("nesting too deep")
        try:
            line = self.lines[self.pos]
            if line.text == "-" or line.text.startswith("- "):
                return self._sequence(indent)
            if _KEY.match(line.text):
                return self._mapping(indent)
            return self._inline(line.text, indent - 1, indent, in_sequence=False)
        finally:
            self.depth -= 1

    def _sequence(self, indent: int) -> list[Any]:
        items: list[Any] = []
        while (line := self._current()) is not None and line.indent == indent and (
                line.text == "-" or line.text.startswith("- ")):
            rest = line.text[1:].lstrip(" ")
            items.append(self._inline(rest, indent, indent + len(line.text) - len(rest), in_sequence=True))
        line = self._current()
        if line is not None and line.indent > indent:
            raise self._fail("unexpected indentation in a sequence")
        return items

    def _mapping(self, indent: int) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        while (line := self._current()) is not None and line.indent == indent:
            m = _KEY.match(line.text)
            if not m:
                if line.text == "-" or line.text.startswith("- "):
                    break
                raise self._fail("expected a mapping key")
            key = self._key(m.group("key"))
            if key in result:
                raise self._fail(f"duplicate key {key!r}")
            result[key] = self._inline(m.group("rest"), indent, None, in_sequence=False)
        line = self._current()
        if line is not None and line.indent > indent:
            raise self._fail("unexpected indentation in a mapping")
        return result

    def _key(self, raw: str) -> Any:
        if raw[0] == '"':
            return scalars.double(raw[1:-1])
        if raw[0] == "'":
            return raw[1:-1].replace("''", "'")
        return scalars.plain(raw.strip())

    def _after(self, parent: int, in_mapping: bool) -> Any:
        """The node on the lines after the current one that belongs to a parent at column ``parent``."""
        line = self._current()
        if line is None:
            return None
        if line.indent > parent:
            return self._block(line.indent)
        if in_mapping and line.indent == parent and (line.text == "-" or line.text.startswith("- ")):
            return self._sequence(parent)  # Psych writes a mapping's sequence at the key's column
        return None

    def _inline(self, rest: str, parent: int, column: int | None, in_sequence: bool) -> Any:
        """The node starting with ``rest`` (what follows ``key:`` or ``-`` on the current line)."""
        anchor = tag = None
        while rest[:1] in ("&", "!"):
            prop, _, rest = rest.partition(" ")
            rest = rest.lstrip(" ")
            if prop[0] == "&":
                anchor = prop[1:]
            else:
                tag = prop
        if rest.startswith("#"):
            rest = ""
        if rest == "":
            self.pos += 1
            value = self._after(parent, in_mapping=not in_sequence)
        elif rest[0] == "*":
            self.pos += 1
            name = rest[1:].split(" ", 1)[0]
            if name not in self.anchors:
                raise self._fail(f"unknown alias *{name}")
            value = self.anchors[name]
        elif rest[0] in "|>":
            value = self._block_scalar(rest, parent)
        elif rest[0] in "\"'":
            value = self._quoted(rest, parent)
        elif rest[0] in "[{":
            self.pos += 1
            value = scalars.flow(rest)
        elif in_sequence and column is not None and (rest == "-" or rest.startswith("- ") or _KEY.match(rest)):
            # "- - x" or "- key: v": the rest of the line starts a node at its own column.
            line = self.lines[self.pos]
            self.lines[self.pos] = _Line(column, rest, line.number)
            value = self._block(column)
        else:
            value = self._plain_lines(rest, parent)
        if tag == "!binary" or tag == "!!binary":
            if not isinstance(value, str):
                raise self._fail("!binary needs a scalar")
            try:
                value = base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                raise self._fail("!binary is not base64") from None
        elif tag in ("!!str", "!str") and value is not None and not isinstance(value, (str, bytes)):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if anchor:
            self.anchors[anchor] = value
        return value

    # -- scalars ------------------------------------------------------------------------------------

    def _continuation(self, parent: int) -> list[str]:
        """Following lines that continue a multi-line scalar (indented past ``parent``; blanks kept)."""
        out: list[str] = []
        while self.pos < len(self.lines):
            line = self.lines[self.pos]
            if line.text and line.indent <= parent:
                break
            if line.indent == 0 and line.text in ("---", "...") and parent < 0:
                break
            out.append(line.text)
            self.pos += 1
        while out and not out[-1]:
            out.pop()
            self.pos -= 1
        return out

    def _plain_lines(self, first: str, parent: int) -> Any:
        self.pos += 1
        first = scalars.strip_comment(first)
        more = self._continuation(parent)
        if any(line.startswith("#") for line in more):
            more = more[: next(i for i, line in enumerate(more) if line.startswith("#"))]
        lines = [first] + [scalars.strip_comment(line) for line in more]
        if any(re.search(r":(?:\s|$)", line) for line in lines):
            raise self._fail("mapping values are not allowed in a plain scalar")
        return scalars.plain(first) if not more else scalars.fold(lines)

    def _quoted(self, first: str, parent: int) -> str:
        quote = first[0]
        pieces = [first[1:]]
        self.pos += 1
        while not scalars.closes(pieces[-1] if len(pieces) > 1 else pieces[0], quote):
            if self.pos >= len(self.lines):
                raise self._fail("unterminated quoted scalar")
            pieces.append(self.lines[self.pos].text)
            self.pos += 1
        last = pieces[-1]
        end = scalars.closing_index(last, quote)
        if last[end + 1:].strip() and not last[end + 1:].strip().startswith("#"):
            raise self._fail("text after a quoted scalar")
        pieces[-1] = last[:end]
        if quote == "'":
            return scalars.fold(pieces).replace("''", "'")
        joined = ""
        for i, piece in enumerate(pieces):
            if i == 0:
                joined = piece
                continue
            if joined.endswith("\\") and not joined.endswith("\\\\"):
                joined = joined[:-1] + piece  # an escaped line break joins without a space
            elif piece == "":
                joined += "\n"
            elif joined.endswith("\n") or joined == "":
                joined += piece
            else:
                joined += " " + piece
        return scalars.double(joined)

    def _block_scalar(self, header: str, parent: int) -> str:
        m = re.fullmatch(r"([|>])([1-9])?([+-])?([1-9])?(?:\s+#.*)?", header)
        if not m:
            raise self._fail(f"bad block scalar header {header!r}")
        style, chomp = m.group(1), m.group(3) or ""
        explicit = m.group(2) or m.group(4)
        self.pos += 1
        raw: list[str] = []
        while self.pos < len(self.lines):
            original = self.raw[self.lines[self.pos].number - 1].rstrip("\r")
            if original.strip() and self.lines[self.pos].indent <= parent:
                break
            raw.append(original)
            self.pos += 1
        if explicit:
            indent = max(parent, 0) + int(explicit)
        else:
            indent = next((len(r) - len(r.lstrip(" ")) for r in raw if r.strip()), 0)
        lines = [r[indent:] if len(r) >= indent else "" for r in raw]
        if any(r.strip() and len(r) - len(r.lstrip(" ")) < indent for r in raw):
            raise self._fail("block scalar line indented less than its first line")
        trailing = 0
        while lines and lines[-1].strip() == "":
            lines.pop()
            trailing += 1
        if style == "|":
            body = "\n".join(lines)
        else:
            body = scalars.fold_block(lines)
        if not lines:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return body
        if chomp == "+":
            return body + "\n" + "\n" * trailing
        return body + "\n"
