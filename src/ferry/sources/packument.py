"""Reading what ferry needs from an npm packument without holding the packument.

A packument carries every version's whole manifest: a package published on every build for years has
thousands of versions and a packument of tens of MB (Nexus serves the full document; the abbreviated one
ferry asks for first is not served everywhere). Parsed whole, it costs about five times its size in Python
objects, once per package being read at a time. ferry reads two things from it, the dist-tags and each
version's ``deprecated`` message, so the body is parsed as a stream of JSON events (ijson, on its C
backend where installed) and only those two are built; memory is bounded by the largest of those values,
not by the number of versions.

Where ferry deprecates versions in the target it must write the whole packument back, as ``npm deprecate``
does: :func:`packument_versions` reads which versions it lists and their messages from a copy spooled to
disk, and :func:`rewrite_deprecations` copies it event by event with the messages changed, so the
document is never held in memory there either.

The result is what :func:`ferry.sources.base.npm_facts_of` makes of the whole document parsed by
:func:`json.loads`: where a key repeats, the last one counts, as there.
"""

from __future__ import annotations

import json
from typing import IO, Any, Collection

import ijson
import urllib3

from ferry.errors import RetryableError
from ferry.sources.base import npm_facts_of

# Bytes read at a time. The C parser hands over the events of each read as one batch, about ten times the
# bytes in Python objects: 16 KiB keeps that batch near 160 KB, and read a 25 MB packument no slower than 64 KiB.
_READ_SIZE = 16 * 1024
_START = ("start_map", "start_array")
_END = ("end_map", "end_array")


class _Value:
    """Builds one JSON value from its events (a scalar is one event, a container its events to the end)."""

    def __init__(self) -> None:
        self._builder = ijson.ObjectBuilder()
        self._depth = 0

    def feed(self, event: str, value: Any) -> bool:
        """Take one event; True once the value is complete."""
        self._builder.event(event, value)
        if event in _START:
            self._depth += 1
        elif event in _END:
            self._depth -= 1
        return self._depth == 0

    @property
    def value(self) -> Any:
        return self._builder.value


def packument_facts(body: IO[bytes], what: str) -> dict[str, dict[str, str]]:
    """``{"dist_tags": {tag: version}, "deprecated": {version: message}}`` from the packument read from
    ``body`` (a file-like object of its bytes), as :func:`~ferry.sources.base.npm_facts_of` gives them
    for the parsed document (both empty for JSON that is not a packument).

    Reads ``body`` to its end. Raises RetryableError, naming ``what``, when the bytes are not JSON (a body
    cut short reads so) or the connection breaks off while reading.
    """
    reduced = _reduced(body, what)
    return npm_facts_of(reduced)


def packument_versions(body: IO[bytes], what: str, among: Collection[str]) -> tuple[set[str], dict[str, Any]] | None:
    """``(listed, deprecated)`` of the packument read from ``body``: the versions of ``among`` that are keys of
    its ``versions`` object, and the ``deprecated`` value (any JSON value) of each version whose manifest has
    one, as the document parsed by :func:`json.loads` gives ``doc["versions"]`` and
    ``doc["versions"][v]["deprecated"]`` (both empty when ``versions`` is not an object). None when the
    document is not a JSON object. Holds the versions of ``among`` and the messages, not the others.

    Raises RetryableError, naming ``what``, as :func:`packument_facts` does.
    """
    names = _Among(among)
    document = _reduced(body, what, names)
    if document is None:
        return None
    versions = document.get("versions")
    return names, {v: m["deprecated"] for v, m in versions.items()} if isinstance(versions, dict) else {}


class _Among(set):
    """A set that keeps only the members of ``among`` added to it."""

    def __init__(self, among: Collection[str]):
        super().__init__()
        self._among = among

    def add(self, name: str) -> None:
        if name in self._among:
            super().add(name)


def _reduced(body: IO[bytes], what: str, names: set[str] | None = None) -> Any:
    """The packument with only ``dist-tags`` and the ``deprecated`` of each version that has one kept (None if
    the document is not a JSON object); ``names`` receives every version the ``versions`` object lists."""
    try:
        return _walk(ijson.basic_parse(body, use_float=True, buf_size=_READ_SIZE), names)
    except ijson.JSONError:
        raise RetryableError(f"{what}: the answer is not JSON (cut short?)") from None
    except (urllib3.exceptions.HTTPError, OSError) as err:  # the connection broke off mid-body
        raise RetryableError(f"{what}: {type(err).__name__} while reading") from None


def _walk(events, names: set[str] | None = None) -> Any:
    depth = 0          # containers open before the current event
    top_key = None     # the top-level key whose value is being read
    version = None     # under "versions": the version whose manifest is being read
    field = None       # in that manifest: the key whose value is being read
    value: _Value | None = None  # a value being built: the dist-tags, or a version's deprecated
    document: dict[str, Any] | None = None
    # version -> its "deprecated" value, for the versions that have one: a version without one costs nothing
    deprecations: dict[str, Any] | None = None
    for event, data in events:
        if value is not None:
            if value.feed(event, data):
                if top_key == "dist-tags":
                    document["dist-tags"] = value.value
                else:
                    deprecations[version] = value.value
                value = None
            continue
        if event in _END:
            pass  # the end of a container this walk reads into (the end of a value being built is fed above)
        elif depth == 0:
            if event == "start_map":
                document = {}
        elif depth == 1 and document is not None:
            if event == "map_key":
                top_key = data
            elif top_key == "dist-tags":
                value = _Value()
                if value.feed(event, data):
                    document["dist-tags"] = value.value
                    value = None
                continue
            elif top_key == "versions":
                # A repeated "versions" key replaces the earlier one, as json.loads keeps the last.
                deprecations = {} if event == "start_map" else None
                document["versions"] = deprecations
                if names is not None:
                    names.clear()
        elif depth == 2 and deprecations is not None and top_key == "versions":
            if event == "map_key":
                version = data
                deprecations.pop(version, None)  # a repeated version replaces the earlier one
                field = None
                if names is not None:
                    names.add(data)
            elif event != "start_map":
                version = None  # not a manifest: nothing in it is read
        elif depth == 3 and version is not None and deprecations is not None and top_key == "versions":
            if event == "map_key":
                field = data
            elif field == "deprecated":
                deprecations.pop(version, None)  # a repeated key: the last one counts
                value = _Value()
                if value.feed(event, data):
                    deprecations[version] = value.value
                    value = None
                continue
        if event in _START:
            depth += 1
        elif event in _END:
            depth -= 1
    if document is not None and document.get("versions") is not None:
        document["versions"] = {v: {"deprecated": message} for v, message in deprecations.items()}
    return document


def rewrite_deprecations(body: IO[bytes], out: IO[bytes], messages: dict[str, str], what: str) -> None:
    """Copy the packument read from ``body`` to ``out`` as JSON with ``versions[v]["deprecated"]`` set to
    ``messages[v]`` for each version named there whose manifest is an object (the key added where the manifest
    lacks it). Everything else is copied value for value: :func:`json.loads` of the copy is the document
    parsed whole with those messages set. Holds one scalar at a time, never the document.

    Raises RetryableError, naming ``what``, when ``body`` is not JSON or breaks off.
    """
    try:
        _rewrite(ijson.basic_parse(body, use_float=True, buf_size=_READ_SIZE), out, messages)
    except ijson.JSONError:
        raise RetryableError(f"{what}: the answer is not JSON (cut short?)") from None
    except (urllib3.exceptions.HTTPError, OSError) as err:
        raise RetryableError(f"{what}: {type(err).__name__} while reading") from None


def _rewrite(events, out: IO[bytes], messages: dict[str, str]) -> None:
    stack: list[_Open] = []
    key: str | None = None  # in a map: the key of the member whose value comes next
    skipping = False  # the events of a replaced "deprecated" value go by
    depth = 0  # while skipping: containers of that value still open

    def write(text: str) -> None:
        out.write(text.encode("utf-8"))

    def member() -> None:
        """The separator, and in a map the key, before a value of the innermost container."""
        if stack:
            frame = stack[-1]
            if frame.members:
                write(",")
            frame.members += 1
            if frame.is_map:
                write(json.dumps(key) + ":")

    for event, data in events:
        if skipping:
            depth += 1 if event in _START else -1 if event in _END else 0
            skipping = depth > 0
            continue
        if event == "map_key":
            key = data
            frame = stack[-1]
            if frame.message is not None and data == "deprecated":
                # The manifest's message, written anew (a repeated key each time: the last still counts).
                member()
                write(json.dumps(frame.message))
                frame.written = True
                skipping, depth = True, 0
            continue
        if event in _END:
            frame = stack.pop()
            if frame.message is not None and not frame.written:
                write(("," if frame.members else "") + '"deprecated":' + json.dumps(frame.message))
            write("}" if event == "end_map" else "]")
            continue
        under = key if stack and stack[-1].is_map else None
        member()
        if event in _START:
            frame = _Open(event == "start_map", under if len(stack) == 1 else None)
            # The manifest of a version to deprecate: an object in the top-level object's "versions" object.
            if frame.is_map and len(stack) == 2 and stack[0].is_map and stack[1].is_map \
                    and stack[1].name == "versions" and under in messages:
                frame.message = messages[under]
            stack.append(frame)
            write("{" if frame.is_map else "[")
        else:
            write(json.dumps(data))


class _Open:
    """A container being copied: whether it is an object, members written so far, the top-level key it is
    the value of (for those directly in the document), and for a manifest the message to set."""

    __slots__ = ("is_map", "name", "members", "message", "written")

    def __init__(self, is_map: bool, name: str | None):
        self.is_map, self.name, self.members = is_map, name, 0
        self.message: str | None = None
        self.written = False
