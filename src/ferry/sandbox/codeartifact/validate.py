"""Request parsing and input validation for the control plane, driven by botocore's CodeArtifact model.

The model that boto3 uses to build requests is also the best description of what the service accepts:
where each member travels (query string, header, JSON body, raw payload), which are required, and their
constraints (length, range, enum, pattern). Reading it here keeps the stand-in's wire format and its
``ValidationException`` rules exactly in step with real clients.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Any

from botocore.model import OperationModel, Shape
from botocore.session import get_session
from werkzeug.wrappers import Request

from ferry.sandbox.codeartifact.records import ValidationError

SERVICE = "codeartifact"

# Java regex classes used in the model, as Python character-class contents. \p{C} is approximated by the
# control characters (Cc); the other C categories (format, private use, unassigned) are let through.
_CONTROL = r"\x00-\x1f\x7f-\x9f"
_NOT_CONTROL = r"\x20-\x7e\xa0-\U0010ffff"
_CLASSES = {r"\P{C}": _NOT_CONTROL, r"\p{C}": _CONTROL, r"\p{IsWhitespace}": r"\s"}


@lru_cache(maxsize=1)
def service_model():
    """botocore's ServiceModel for CodeArtifact (loaded once)."""
    return get_session().get_service_model(SERVICE)


@lru_cache(maxsize=1)
def routes() -> dict[tuple[str, str], str]:
    """(HTTP method, path) → operation name, for every operation in the model."""
    model = service_model()
    table = {}
    for name in model.operation_names:
        http = model.operation_model(name).http
        table[(http["method"], http["requestUri"].split("?")[0])] = name
    return table


@lru_cache(maxsize=None)
def _compile(pattern: str) -> re.Pattern:
    """A Python regex for a model (Java) pattern; the whole value must match."""
    out, i, in_class = [], 0, False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and pattern[i + 1:i + 2] in ("p", "P") and pattern[i + 2:i + 3] == "{":
            end = pattern.index("}", i)
            token = pattern[i:end + 1]
            body = _CLASSES[token]
            out.append(body if in_class else f"[{body}]")
            i = end + 1
            continue
        if c == "\\":
            out.append(pattern[i:i + 2])
            i += 2
            continue
        if c == "[":
            in_class = True
        elif c == "]":
            in_class = False
        out.append(c)
        i += 1
    return re.compile("".join(out), re.DOTALL)


def _convert(shape: Shape, raw: str, where: str) -> Any:
    """A query-string or header value converted to the member's type."""
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            raise ValidationError(f"Value '{raw}' at '{where}' failed to satisfy constraint: must be an integer") from None
    if shape.type_name == "boolean":
        if raw.lower() not in ("true", "false"):
            raise ValidationError(f"Value '{raw}' at '{where}' failed to satisfy constraint: must be true or false")
        return raw.lower() == "true"
    return raw


def parse_request(op: OperationModel, request: Request) -> dict[str, Any]:
    """The operation's input members from ``request`` (query string, headers, JSON body), validated.

    A streaming payload member (PublishPackageVersion's asset) is left in the request body for the
    handler to stream. Raises :class:`ValidationError` naming every violated constraint.
    """
    shape = op.input_shape
    params: dict[str, Any] = {}
    if shape is None:
        return params
    payload = shape.serialization.get("payload")
    body_members = [n for n, m in shape.members.items() if not m.serialization.get("location") and n != payload]
    body: dict[str, Any] = {}
    if body_members:
        data = request.get_data(cache=True)
        if data.strip():
            try:
                body = json.loads(data)
            except ValueError:
                raise ValidationError("The request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise ValidationError("The request body must be a JSON object")
    for name, member in shape.members.items():
        loc = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if loc == "querystring":
            if wire in request.args:
                params[name] = _convert(member, request.args[wire], name)
        elif loc == "header":
            if wire in request.headers:
                params[name] = _convert(member, request.headers[wire], name)
        elif name != payload and name in body:
            params[name] = body[name]
    errors: list[str] = []
    for name in shape.required_members:
        if name not in params and name != payload:
            errors.append(f"Value null at '{name}' failed to satisfy constraint: Member must not be null")
    for name, value in params.items():
        _check(shape.members[name], value, name, errors)
    if errors:
        raise ValidationError(f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
                              + "; ".join(errors))
    return params


def _check(shape: Shape, value: Any, where: str, errors: list[str]) -> None:
    """Append a message to ``errors`` for each constraint ``value`` breaks (recursing into containers)."""
    meta = shape.metadata
    t = shape.type_name

    def fail(constraint: str) -> None:
        shown = value if isinstance(value, (str, int, float, bool)) else json.dumps(value)[:200]
        errors.append(f"Value '{shown}' at '{where}' failed to satisfy constraint: {constraint}")

    if value is None:
        return
    if t == "string":
        if not isinstance(value, str):
            return fail("Member must be a string")
        if "min" in meta and len(value) < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
        if "enum" in meta and value not in meta["enum"]:
            fail(f"Member must satisfy enum value set: [{', '.join(meta['enum'])}]")
        if "pattern" in meta and not _compile(meta["pattern"]).fullmatch(value):
            fail(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    elif t in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return fail("Member must be an integer")
        if "min" in meta and value < meta["min"]:
            fail(f"Member must have value greater than or equal to {meta['min']}")
        if "max" in meta and value > meta["max"]:
            fail(f"Member must have value less than or equal to {meta['max']}")
    elif t == "boolean":
        if not isinstance(value, bool):
            fail("Member must be a boolean")
    elif t == "list":
        if not isinstance(value, list):
            return fail("Member must be a list")
        if "min" in meta and len(value) < meta["min"]:
            fail(f"Member must have length greater than or equal to {meta['min']}")
        if "max" in meta and len(value) > meta["max"]:
            fail(f"Member must have length less than or equal to {meta['max']}")
        for i, item in enumerate(value):
            _check(shape.member, item, f"{where}.{i + 1}.member", errors)
    elif t == "map":
        if not isinstance(value, dict):
            return fail("Member must be a map")
        for key, item in value.items():
            _check(shape.key, key, f"{where}.key", errors)
            _check(shape.value, item, f"{where}.{key}", errors)
    elif t == "structure":
        if not isinstance(value, dict):
            return fail("Member must be a structure")
        for name in shape.required_members:
            if value.get(name) is None:
                errors.append(f"Value null at '{where}.{name}' failed to satisfy constraint: Member must not be null")
        for name, item in value.items():
            if name in shape.members:
                _check(shape.members[name], item, f"{where}.{name}", errors)
