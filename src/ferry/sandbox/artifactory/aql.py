"""AQL (Artifactory Query Language), the subset ferry and common clients send, parsed and run on the store.

``items.find(<criteria>).include(<fields>).sort({"$asc"|"$desc":[fields]}).offset(n).limit(n).distinct(b)``

- Criteria: JSON objects whose keys are item fields (``repo``, ``path``, ``name``, ``type``, ``size``,
  ``depth``, ``created``..., checksums), properties (``"@npm.name"``) or ``$and``/``$or`` over lists of
  objects; values are literals (``$eq``) or ``{op: value}`` with ``$eq $ne $gt $gte $lt $lte $match
  $nmatch`` (``*``/``?`` wildcards) and ``$last``/``$before`` (``"3d"``) on dates. Without a ``type``
  criterion only files match, as in Artifactory.
- ``include``: item fields, ``"*"``, ``"property"``/``"property.*"``/``"@"`` (all properties),
  ``"@key"`` (one property), ``"stat"``. Without it the default field set is returned.
- ``sort``/``offset``/``limit`` work on item fields; with properties included they "do not work"
  (Artifactory's docs): what happens then is :attr:`ArtifactoryConfig.property_paging`.
- The answer is ``{"results": [...], "range": {"start_pos", "end_pos", "total"[, "limit"][, "notification"]}}``;
  more rows than the hard limit are trimmed with a notification.

Errors are :class:`AqlError` (HTTP 400 with Artifactory's "Failed to parse query" style message).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ferry.sandbox.artifactory.aql_parse import AqlError, Query, parse
from ferry.sandbox.artifactory.config import ArtifactoryConfig
from ferry.sandbox.artifactory.store import Node, Store

# AQL field -> nodes column
FIELDS = {
    "repo": "repo", "path": "path", "name": "name", "type": "type", "size": "size", "depth": "depth",
    "created": "created", "created_by": "created_by", "modified": "modified", "modified_by": "modified_by",
    "updated": "updated", "original_md5": "original_md5", "actual_md5": "md5", "original_sha1": "original_sha1",
    "actual_sha1": "sha1", "sha256": "sha256",
}
DATE_FIELDS = ("created", "modified", "updated")
DEFAULT_INCLUDE = ("repo", "path", "name", "type", "size", "created", "created_by", "modified", "modified_by",
                   "updated")
_ALL_PROPS = ("property", "property.*", "@", "property.key", "property.value")
_OPS = {"$eq": "=", "$ne": "IS NOT", "$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_DURATION = re.compile(r"^(\d+)\s*(mo|ms|s|mi|m|h|d|w|y|minutes|days|weeks|months|years)?$")
_UNITS = {"ms": 0.001, "s": 1, "mi": 60, "minutes": 60, "m": 60, "h": 3600, "d": 86400, "days": 86400,
          "w": 604800, "weeks": 604800, "mo": 2592000, "months": 2592000, "y": 31536000, "years": 31536000}
TRIMMED = "AQL query reached the search hard limit, results are trimmed."
NO_ORIGINAL = "NO_ORIG"  # what a missing client checksum shows as [U]


# -- translating criteria into SQL -----------------------------------------------------------------


def _glob(pattern: str) -> str:
    """AQL wildcards (``*``, ``?``) as a SQLite GLOB pattern with ``[``/``]`` taken literally."""
    return "".join({"[": "[[]", "]": "[]]"}.get(ch, ch) for ch in pattern)


def _date(value: Any) -> float:
    if isinstance(value, (int, float)):
        return float(value) / 1000 if value > 1e11 else float(value)
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise AqlError(f"Failed to parse query: {value!r} is not a date") from None
    return (when if when.tzinfo else when.replace(tzinfo=timezone.utc)).timestamp()


def _duration(value: Any) -> float:
    m = _DURATION.match(str(value).strip())
    if not m:
        raise AqlError(f"Failed to parse query: {value!r} is not a relative time (e.g. 3d)")
    return int(m.group(1)) * _UNITS[m.group(2) or "d"]


def _field_term(name: str, op: str, value: Any) -> tuple[str, list[Any]]:
    column = f"n.{FIELDS[name]}"
    if name == "type":
        if op not in ("$eq", "$ne") or value not in ("file", "folder", "any"):
            raise AqlError("Failed to parse query: type takes file, folder or any")
        if value == "any":
            return ("1" if op == "$eq" else "0"), []
        return f"{column} {'=' if op == '$eq' else '!='} ?", [value]
    if op in ("$last", "$before"):
        if name not in DATE_FIELDS:
            raise AqlError(f"Failed to parse query: {op} works on dates, not {name}")
        edge = time.time() - _duration(value)
        return f"{column} {'>=' if op == '$last' else '<'} ?", [edge]
    if op in ("$match", "$nmatch"):
        if not isinstance(value, str):
            raise AqlError(f"Failed to parse query: {op} takes a string")
        sql = f"{column} GLOB ?" if op == "$match" else f"({column} IS NULL OR {column} NOT GLOB ?)"
        return sql, [_glob(value)]
    if op not in _OPS:
        raise AqlError(f"Failed to parse query: unknown operator {op}")
    if name in DATE_FIELDS:
        value = _date(value)
    elif name in ("size", "depth"):
        try:
            value = int(value)
        except (TypeError, ValueError):
            raise AqlError(f"Failed to parse query: {name} takes a number") from None
    elif name in ("actual_md5", "actual_sha1", "sha256", "original_md5", "original_sha1", "original_sha256") \
            and isinstance(value, str):
        value = value.lower()
    elif not isinstance(value, str):
        value = str(value)
    return f"{column} {_OPS[op]} ?", [value]


def _property_term(key: str, op: str, value: Any) -> tuple[str, list[Any]]:
    exists = "EXISTS (SELECT 1 FROM props p WHERE p.node = n.id AND p.key GLOB ? AND p.value {} ?)"
    key_glob = _glob(key)
    value = str(value)
    if op == "$eq":
        return exists.format("="), [key_glob, value]
    if op == "$ne":
        return "NOT " + exists.format("="), [key_glob, value]
    if op == "$match":
        return exists.format("GLOB"), [key_glob, _glob(value)]
    if op == "$nmatch":
        return "NOT " + exists.format("GLOB"), [key_glob, _glob(value)]
    if op in _OPS:
        return exists.format(_OPS[op]), [key_glob, value]
    raise AqlError(f"Failed to parse query: unknown operator {op}")


def _ops(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, list) and value and all(isinstance(p, tuple) for p in value):
        return value
    if isinstance(value, list):
        raise AqlError("Failed to parse query: a list is only valid after $and/$or")
    return [("$eq", value)]


def _criteria(pairs: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    parts: list[str] = []
    args: list[Any] = []
    for key, value in pairs:
        if key in ("$and", "$or"):
            if not isinstance(value, list):
                raise AqlError(f"Failed to parse query: {key} takes a list of objects")
            subs = [value] if value and isinstance(value[0], tuple) else value
            pieces = []
            for sub in subs:
                if not isinstance(sub, list):
                    raise AqlError(f"Failed to parse query: {key} takes a list of objects")
                sql, sub_args = _criteria(sub)
                pieces.append(f"({sql})")
                args += sub_args
            joiner = " AND " if key == "$and" else " OR "
            parts.append("(" + (joiner.join(pieces) or ("1" if key == "$and" else "0")) + ")")
        elif key.startswith("@"):
            for op, val in _ops(value):
                sql, term_args = _property_term(key[1:], op, val)
                parts.append(sql)
                args += term_args
        elif key in FIELDS:
            for op, val in _ops(value):
                sql, term_args = _field_term(key, op, val)
                parts.append(sql)
                args += term_args
        else:
            raise AqlError(f"Failed to parse query: field {key!r} does not exist in domain items")
    return (" AND ".join(parts) or "1"), args


def _mentions_type(pairs: list[tuple[str, Any]]) -> bool:
    for key, value in pairs:
        if key == "type":
            return True
        if key in ("$and", "$or") and isinstance(value, list):
            subs = [value] if value and isinstance(value[0], tuple) else value
            if any(isinstance(s, list) and _mentions_type(s) for s in subs):
                return True
    return False


# -- running ---------------------------------------------------------------------------------------


def iso(ts: float | None) -> str | None:
    """Artifactory's timestamp text: ``2016-05-27T16:07:12.138Z``."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _render_field(node: Node, name: str) -> Any:
    if name in DATE_FIELDS:
        return iso(getattr(node, name))
    if name.startswith("original_"):
        return getattr(node, name) or NO_ORIGINAL
    value = getattr(node, FIELDS[name])
    if name in ("actual_md5", "actual_sha1", "sha256") and value is None:
        return None
    return value


@dataclass
class _Shape:
    fields: list[str]
    props: str | None  # None | "*" | a property key
    stats: bool


def _shape(include: list[str] | None) -> _Shape:
    if include is None:
        return _Shape(list(DEFAULT_INCLUDE), None, False)
    fields: list[str] = []
    props: str | None = None
    stats = False
    for name in include:
        if name == "*":
            fields += [f for f in FIELDS if f not in fields]
        elif name in _ALL_PROPS:
            props = "*"
        elif name.startswith("@"):
            props = name[1:] if props is None else "*"
        elif name in ("stat", "stat.*") or name.startswith("stat."):
            stats = True
        elif name in FIELDS:
            if name not in fields:
                fields.append(name)
        else:
            raise AqlError(f"Failed to parse query: field {name!r} does not exist in domain items")
    return _Shape(fields, props, stats)


def run(store: Store, text: str, config: ArtifactoryConfig) -> dict[str, Any]:
    """Parse and run an AQL query against ``store``. Returns the JSON answer; raises AqlError."""
    if len(text) > config.aql_max_query:
        raise AqlError(f"AQL query is too long ({len(text)} characters; the limit is {config.aql_max_query})")
    query = parse(text)
    shape = _shape(query.include)
    where, args = _criteria(query.criteria)
    if not _mentions_type(query.criteria):
        where = f"({where}) AND n.type = 'file'"
    paging = query.sort is not None or query.offset is not None or query.limit is not None
    with_props = shape.props is not None
    if with_props and paging and config.property_paging == "error":
        raise AqlError("Failed to parse query: sort, offset and limit cannot be used when properties are included")
    hard = config.aql_hard_limit
    if with_props and paging and config.property_paging == "rows":
        return _run_property_rows(store, where, args, query, shape, hard)
    order = "n.id"
    offset, limit = (query.offset or 0), query.limit
    if with_props and paging:  # property_paging == "ignore"
        offset, limit = 0, None
    elif query.sort is not None:
        direction, names = query.sort
        for name in names:
            if name not in FIELDS:
                raise AqlError(f"Failed to parse query: cannot sort by {name!r}")
            if name not in shape.fields:
                raise AqlError(f"Failed to parse query: sort field {name!r} must be included in the result")
        word = "ASC" if direction == "$asc" else "DESC"
        order = ", ".join(f"n.{FIELDS[n]} {word}" for n in names) + f", n.id {word}"
    fetch = hard + 1 if limit is None else min(limit, hard + 1)
    rows = store.query(f"SELECT n.* FROM nodes n WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                       [*args, fetch, offset])
    nodes = [Node(**{k: r[k] for k in r.keys()}) for r in rows]
    trimmed = len(nodes) > hard
    nodes = nodes[:hard]
    props = store.properties_of([n.id for n in nodes]) if with_props else {}
    results = [_result(store, node, shape, props.get(node.id, [])) for node in nodes]
    return _answer(results, offset, limit, trimmed, hard)


def _run_property_rows(store: Store, where: str, args: list[Any], query: Query, shape: _Shape,
                       hard: int) -> dict[str, Any]:
    """Properties included with sort/offset/limit: paging applies to item x property rows and the
    sort is not applied, so items come back in storage order, and an item on a page edge carries only
    some of its properties -- the trap jfrog-cli avoids with a second query."""
    key_filter = "" if shape.props == "*" else " AND p.key = ?"
    key_args = [] if shape.props == "*" else [shape.props]
    offset, limit = query.offset or 0, query.limit
    fetch = hard + 1 if limit is None else min(limit, hard + 1)
    rows = store.query(
        f"SELECT n.*, p.key AS pkey, p.value AS pvalue FROM nodes n LEFT JOIN props p ON p.node = n.id{key_filter} "
        f"WHERE {where} ORDER BY n.id, p.rowid LIMIT ? OFFSET ?", [*key_args, *args, fetch, offset])
    trimmed = len(rows) > hard
    grouped: dict[int, tuple[Node, list[tuple[str, str]]]] = {}
    for r in rows[:hard]:
        if r["id"] not in grouped:
            grouped[r["id"]] = (Node(**{k: r[k] for k in r.keys() if k not in ("pkey", "pvalue")}), [])
        if r["pkey"] is not None:
            grouped[r["id"]][1].append((r["pkey"], r["pvalue"]))
    results = [_result(store, node, shape, pairs) for node, pairs in grouped.values()]
    return _answer(results, offset, limit, trimmed, hard)


def _result(store: Store, node: Node, shape: _Shape, props: list[tuple[str, str]]) -> dict[str, Any]:
    out = {name: _render_field(node, name) for name in shape.fields}
    if shape.props is not None:
        chosen = [(k, v) for k, v in props if shape.props == "*" or k == shape.props]
        if chosen:
            out["properties"] = [{"key": k, "value": v} for k, v in chosen]
    if shape.stats:
        out["stats"] = [{"downloaded": iso(node.last_downloaded) or "1970-01-01T00:00:00.000Z",
                         "downloads": node.downloads, "downloaded_by": node.last_downloaded_by or "",
                         "remote_downloads": 0}]
    return out


def _answer(results: list[dict], offset: int, limit: int | None, trimmed: bool, hard: int) -> dict[str, Any]:
    rng: dict[str, Any] = {"start_pos": offset, "end_pos": offset + len(results), "total": len(results)}
    if limit is not None:
        rng["limit"] = limit
    if trimmed:
        rng["limit"] = hard
        rng["notification"] = TRIMMED
    return {"results": results, "range": rng}
