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

__all__ = ["PsychError", "load"]


class PsychError(ValueError):
    """The text is not YAML this reader understands."""


_KEY = re.compile(r"""^(?P<key>"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)"""
                  r"""\s*:(?:\s+|$)(?P<rest>.*)$""")
_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
            "L": "\u2028", "P": "\u2029"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}
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
            return _double(raw[1:-1])
        if raw[0] == "'":
            return raw[1:-1].replace("''", "'")
        return _plain(raw.strip())

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
            value = _flow(rest)
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
        first = _strip_comment(first)
        more = self._continuation(parent)
        if any(line.startswith("#") for line in more):
            more = more[: next(i for i, line in enumerate(more) if line.startswith("#"))]
        lines = [first] + [_strip_comment(line) for line in more]
        if any(re.search(r":(?:\s|$)", line) for line in lines):
            raise self._fail("mapping values are not allowed in a plain scalar")
        return _plain(first) if not more else _fold(lines)

    def _quoted(self, first: str, parent: int) -> str:
        quote = first[0]
        pieces = [first[1:]]
        self.pos += 1
        while not _closes(pieces[-1] if len(pieces) > 1 else pieces[0], quote):
            if self.pos >= len(self.lines):
                raise self._fail("unterminated quoted scalar")
            pieces.append(self.lines[self.pos].text)
            self.pos += 1
        last = pieces[-1]
        end = _closing_index(last, quote)
        if last[end + 1:].strip() and not last[end + 1:].strip().startswith("#"):
            raise self._fail("text after a quoted scalar")
        pieces[-1] = last[:end]
        if quote == "'":
            return _fold(pieces).replace("''", "'")
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
        return _double(joined)

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
            body = _fold_block(lines)
        if not lines:
            return "" if chomp != "+" else "\n" * trailing
        if chomp == "-":
            return body
        if chomp == "+":
            return body + "\n" + "\n" * trailing
        return body + "\n"


def _strip_comment(text: str) -> str:
    m = re.search(r"\s#", text)
    return text[: m.start()].rstrip() if m else text


def _fold(lines: list[str]) -> str:
    """Join the lines of a multi-line flow scalar: a line break is a space, a blank line a newline."""
    out = lines[0]
    pending_blank = 0
    for line in lines[1:]:
        if line == "":
            pending_blank += 1
            continue
        out += ("\n" * pending_blank) if pending_blank else " "
        out += line
        pending_blank = 0
    return out


def _fold_block(lines: list[str]) -> str:
    """A folded (``>``) block: adjacent text lines join with a space; blank lines are newlines; breaks
    next to more-indented lines are kept."""
    out = ""
    previous: str | None = None
    blanks = 0
    for line in lines:
        if line == "":
            blanks += 1
            continue
        if previous is None:
            out = "\n" * blanks + line
        elif line[0] in " \t" or previous[0] in " \t":
            out += "\n" * (blanks + 1) + line
        elif blanks:
            out += "\n" * blanks + line
        else:
            out += " " + line
        previous, blanks = line, 0
    return out


def _closing_index(text: str, quote: str) -> int:
    """Index of the closing quote in ``text`` (a quoted scalar's last line), or -1."""
    i = 0
    while i < len(text):
        ch = text[i]
        if quote == '"' and ch == "\\":
            i += 2
            continue
        if ch == quote:
            if quote == "'" and text[i + 1:i + 2] == "'":
                i += 2
                continue
            return i
        i += 1
    return -1


def _closes(text: str, quote: str) -> bool:
    return _closing_index(text, quote) >= 0


def _double(body: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        code = body[i + 1:i + 2]
        if code in _ESCAPES:
            out.append(_ESCAPES[code])
            i += 2
        elif code in _HEX_ESCAPES:
            width = _HEX_ESCAPES[code]
            digits = body[i + 2:i + 2 + width]
            if len(digits) != width or not re.fullmatch(r"[0-9A-Fa-f]+", digits):
                raise PsychError(f"bad escape \\{code}{digits}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        else:
            raise PsychError(f"unknown escape \\{code}")
    return "".join(out)


def _plain(text: str) -> Any:
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    return text


def _flow(text: str) -> Any:
    """A one-line flow collection of scalars: ``[]``, ``{}``, ``[a, 'b']``, ``{k: v}``."""
    text = _strip_comment(text).strip()
    opener, closer = text[0], "]" if text[0] == "[" else "}"
    if not text.endswith(closer):
        raise PsychError(f"unsupported flow collection {text!r}")
    inner = text[1:-1].strip()
    items = _split_flow(inner) if inner else []
    if opener == "[":
        return [_flow_scalar(i) for i in items]
    result = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep:
            raise PsychError(f"unsupported flow mapping entry {item!r}")
        result[_flow_scalar(key)] = _flow_scalar(value)
    return result


def _split_flow(inner: str) -> list[str]:
    items, current, quote = [], "", ""
    for ch in inner:
        if quote:
            current += ch
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
            current += ch
        elif ch in "[]{}":
            raise PsychError("nested flow collections are not supported")
        elif ch == ",":
            items.append(current.strip())
            current = ""
        else:
            current += ch
    if quote:
        raise PsychError("unterminated quote in a flow collection")
    if current.strip():
        items.append(current.strip())
    return items


def _flow_scalar(text: str) -> Any:
    text = text.strip()
    if text[:1] == '"' and text.endswith('"') and len(text) > 1:
        return _double(text[1:-1])
    if text[:1] == "'" and text.endswith("'") and len(text) > 1:
        return text[1:-1].replace("''", "'")
    return _plain(text)
