"""Reading a page of Nexus' components listing without holding the page.

``GET /service/rest/v1/components`` answers a page of components, each with every one of its assets: a Maven
version of 2,000 files is one component of 10,000 assets (each file with its four checksum files), a page
of 10 MB that cost 34 MB parsed whole. The page is spooled to a temporary file (so a body cut short is
found, and retried, before any of it is used), checked and its ``continuationToken`` read in one pass of
JSON events, and then read again one asset at a time: memory is bounded by one asset, not by the page.

What comes out is what the page parsed by :func:`json.loads` gives as ``page["items"][i]`` and each of its
``["assets"]``. A component's ``group``, ``name``, ``version`` and ``format`` come before its ``assets`` in
Nexus' answers; should they come after, that component's assets are held until its end.
"""

from __future__ import annotations

from typing import IO, Any, Iterator

import ijson

_READ_SIZE = 16 * 1024
_START = ("start_map", "start_array")
_END = ("end_map", "end_array")
HEADER = ("format", "group", "name", "version")  # what a component's assets are listed with


class NotAPage(Exception):
    """The spooled body is not JSON (cut short?)."""


def continuation_token(page: IO[bytes]) -> Any:
    """The top-level ``continuationToken`` of the page (None if absent; the last one if repeated), read in one
    pass that also checks the page is JSON. Raises :class:`NotAPage`."""
    depth, key, token = 0, None, None
    try:
        for event, data in ijson.basic_parse(page, use_float=True, buf_size=_READ_SIZE):
            if depth == 1 and event == "map_key":
                key = data
            elif depth == 1 and key == "continuationToken" and event not in _END:
                token = None if event in _START else data  # an object or array is no token
            if event in _START:
                depth += 1
            elif event in _END:
                depth -= 1
    except ijson.JSONError:
        raise NotAPage() from None
    return token


def components_assets(page: IO[bytes]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """``(component fields, asset)`` for each asset of each component in the page's ``items``, in order.
    The component fields are its scalar members (``format``, ``group``, ``name``, ``version``, ...).
    The page must already have been read once by :func:`continuation_token` (it is known to be JSON)."""
    events = iter(ijson.basic_parse(page, use_float=True, buf_size=_READ_SIZE))
    depth = 0
    top_key = None
    for event, data in events:
        if depth == 1 and event == "map_key":
            top_key = data
        elif depth == 1 and top_key == "items" and event == "start_array":
            yield from _items(events)
            continue  # _items consumed the array's end
        if event in _START:
            depth += 1
        elif event in _END:
            depth -= 1


def _items(events) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """The components of the ``items`` array whose ``start_array`` was just read, to its ``end_array``."""
    for event, data in events:
        if event == "end_array":
            return
        if event == "start_map":
            yield from _component(events)
        elif event == "start_array":
            _skip(events)


def _component(events) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    fields: dict[str, Any] = {}
    held: list[dict[str, Any]] | None = None  # assets read before the fields they are listed with
    key = None
    for event, data in events:
        if event == "end_map":
            break
        if event == "map_key":
            key = data
            continue
        if key == "assets" and event == "start_array":
            for asset in _assets(events):
                if held is None and all(k in fields for k in HEADER):
                    yield fields, asset
                else:
                    held = held if held is not None else []
                    held.append(asset)
        elif event in _START:
            fields.pop(key, None)
            _skip(events)
        else:
            fields[key] = data
    for asset in held or ():
        yield fields, asset


def _assets(events) -> Iterator[dict[str, Any]]:
    for event, data in events:
        if event == "end_array":
            return
        builder = ijson.ObjectBuilder()
        builder.event(event, data)
        if event in _START:
            depth = 1
            while depth:
                event, data = next(events)
                builder.event(event, data)
                depth += 1 if event in _START else -1 if event in _END else 0
        if isinstance(builder.value, dict):
            yield builder.value


def _skip(events) -> None:
    depth = 1
    while depth:
        event, _ = next(events)
        depth += 1 if event in _START else -1 if event in _END else 0
