"""Scalars in the YAML RubyGems writes: plain, quoted and block text, folding, and one-line flow collections.

Helpers of :mod:`ferry.rubygems.psych`. :class:`PsychError` is defined here and re-exported there.
"""

from __future__ import annotations

import re
from typing import Any


class PsychError(ValueError):
    """The text is not YAML this reader understands."""


_INT = re.compile(r"^[-+]?(?:0|[1-9][0-9_]*)$")
_ESCAPES = {"0": "\0", "a": "\a", "b": "\b", "t": "\t", "\t": "\t", "n": "\n", "v": "\v", "f": "\f",
            "r": "\r", "e": "\x1b", " ": " ", '"': '"', "/": "/", "\\": "\\", "N": "\x85", "_": "\xa0",
            "L": "\u2028", "P": "\u2029"}
_HEX_ESCAPES = {"x": 2, "u": 4, "U": 8}


def strip_comment(text: str) -> str:
    """``text`` without a trailing `` # comment``."""
    m = re.search(r"\s#", text)
    return text[: m.start()].rstrip() if m else text


def fold(lines: list[str]) -> str:
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


def fold_block(lines: list[str]) -> str:
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


def closing_index(text: str, quote: str) -> int:
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


def closes(text: str, quote: str) -> bool:
    """Whether ``text`` holds the closing ``quote`` of a quoted scalar."""
    return closing_index(text, quote) >= 0


def double(body: str) -> str:
    """The value of a double-quoted scalar's ``body`` (escapes resolved). Raises PsychError on a bad escape."""
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


def plain(text: str) -> Any:
    """A plain scalar's value: None, bool, int or the text (never float, so versions stay text)."""
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE"):
        return True
    if text in ("false", "False", "FALSE"):
        return False
    if _INT.match(text):
        return int(text.replace("_", ""))
    return text


def flow(text: str) -> Any:
    """A one-line flow collection of scalars: ``[]``, ``{}``, ``[a, 'b']``, ``{k: v}``. Raises PsychError
    for anything else (nesting, multi-line)."""
    text = strip_comment(text).strip()
    opener, closer = text[0], "]" if text[0] == "[" else "}"
    if not text.endswith(closer):
        raise PsychError(f"unsupported flow collection {text!r}")
    inner = text[1:-1].strip()
    items = split_flow(inner) if inner else []
    if opener == "[":
        return [flow_scalar(i) for i in items]
    result = {}
    for item in items:
        key, sep, value = item.partition(":")
        if not sep:
            raise PsychError(f"unsupported flow mapping entry {item!r}")
        result[flow_scalar(key)] = flow_scalar(value)
    return result


def split_flow(inner: str) -> list[str]:
    """The comma-separated entries of a flow collection's inside. Raises PsychError on nesting."""
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


def flow_scalar(text: str) -> Any:
    """One flow entry's value (quoted or plain)."""
    text = text.strip()
    if text[:1] == '"' and text.endswith('"') and len(text) > 1:
        return double(text[1:-1])
    if text[:1] == "'" and text.endswith("'") and len(text) > 1:
        return text[1:-1].replace("''", "'")
    return plain(text)
