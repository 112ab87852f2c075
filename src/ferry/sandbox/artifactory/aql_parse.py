"""Parsing AQL text into a :class:`Query`: ``<domain>.find(<json>)`` followed by ``.include()``, ``.sort()``,
``.offset()``, ``.limit()`` and ``.distinct()``. Criteria stay as JSON pairs (duplicate keys kept) for the
evaluator in :mod:`ferry.sandbox.artifactory.aql`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any


class AqlError(Exception):
    """The query cannot be parsed or run; rendered as HTTP 400."""


@dataclass
class Query:
    domain: str
    criteria: list[tuple[str, Any]]
    include: list[str] | None = None
    sort: tuple[str, list[str]] | None = None
    offset: int | None = None
    limit: int | None = None
    distinct: bool = True
    _calls: list[str] = field(default_factory=list)


def _closing(text: str, start: int) -> int:
    """Index of the ``)`` that closes the ``(`` at ``start``, skipping JSON strings."""
    depth, i, n = 0, start, len(text)
    while i < n:
        ch = text[i]
        if ch == '"':
            i += 1
            while i < n and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise AqlError("Failed to parse query: unbalanced parentheses")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=list)
    except json.JSONDecodeError as err:
        raise AqlError(f"Failed to parse query: {what} is not valid JSON ({err.msg})") from None


def parse(text: str) -> Query:
    """Parse AQL text. Raises AqlError."""
    text = text.strip()
    m = re.match(r"(\w+)\s*\.\s*find\s*\(", text)
    if not m:
        raise AqlError("Failed to parse query: expected <domain>.find(...)")
    domain = m.group(1)
    if domain != "items":
        raise AqlError(f"Failed to parse query: domain {domain!r} is not supported by this stand-in (items only)")
    open_at = m.end() - 1
    close_at = _closing(text, open_at)
    inner = text[open_at + 1:close_at].strip()
    criteria = _json(inner, "find criteria") if inner else []
    if not isinstance(criteria, list) or (criteria and not isinstance(criteria[0], tuple)):
        raise AqlError("Failed to parse query: find() takes a JSON object")
    query = Query(domain, criteria)
    rest = text[close_at + 1:]
    while rest.strip():
        m = re.match(r"\s*\.\s*(\w+)\s*\(", rest)
        if not m:
            raise AqlError(f"Failed to parse query near {rest.strip()[:30]!r}")
        name = m.group(1)
        open_at = m.end() - 1
        close_at = _closing(rest, open_at)
        arg = rest[open_at + 1:close_at].strip()
        rest = rest[close_at + 1:]
        if name in query._calls:
            raise AqlError(f"Failed to parse query: .{name}() given twice")
        query._calls.append(name)
        if name == "include":
            fields = _json(f"[{arg}]", "include") if arg else []
            if not all(isinstance(f, str) for f in fields):
                raise AqlError("Failed to parse query: include() takes field names")
            query.include = fields
        elif name == "sort":
            spec = _json(arg, "sort")
            if not isinstance(spec, list) or len(spec) != 1 or spec[0][0] not in ("$asc", "$desc") \
                    or not isinstance(spec[0][1], list):
                raise AqlError('Failed to parse query: sort takes {"$asc"|"$desc": [fields]}')
            query.sort = (spec[0][0], [str(f) for f in spec[0][1]])
        elif name in ("offset", "limit"):
            if not re.fullmatch(r"\d+", arg):
                raise AqlError(f"Failed to parse query: {name}() takes a whole number")
            setattr(query, name, int(arg))
        elif name == "distinct":
            if arg not in ("true", "false"):
                raise AqlError("Failed to parse query: distinct() takes true or false")
            query.distinct = arg == "true"
        else:
            raise AqlError(f"Failed to parse query: unknown element .{name}()")
    return query
