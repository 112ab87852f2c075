"""Reading Artifactory listings a piece at a time: AQL query texts, the storage API's file list as a
stream, and what a listed row means (hints from properties, checksums, times).

The storage API answers ``?list&deep=1`` with one JSON document for the whole repository.
:class:`FileListScanner` cuts the ``files`` array out of the byte stream entry by entry, so memory
stays bounded by one entry whatever the repository's size.
"""

from __future__ import annotations

import codecs
import json
import re
from typing import Any, Callable, Iterable, Iterator, Mapping

import requests

from ferry.errors import FatalError, RetryableError
from ferry.model import Checksums

# Item fields ferry asks AQL for (no properties: including them breaks sort/limit).
ITEM_FIELDS = ("repo", "path", "name", "size", "created", "modified", "sha256", "actual_sha1", "actual_md5",
               "original_sha1", "original_md5")


# Property -> the generic hint names it also fills.
_HINTS = {
    "npm.version": ("version",), "pypi.name": ("name",), "pypi.version": ("version",),
    "nuget.id": ("name",), "nuget.version": ("version",), "crate.name": ("name",), "crate.version": ("version",),
    "gem.name": ("name",), "gem.version": ("version",),
}
MAX_RESUMES = 5
# Artifactory's Swift deployment structure <SCOPE>/<NAME>/<NAME>-<VERSION>.zip (no properties are set).
_SWIFT = re.compile(r"^(?P<scope>[^/]+)/(?P<name>[^/]+)/(?P<file>[^/]+)\.zip$")


def items_query(repo: str, after: tuple[str, str] | None, limit: int) -> str:
    """One page of a repository's files, sorted by path and name: the first ``limit`` after ``after``
    (the ``(path, name)`` of the last file listed; None for the first page).

    The page starts after a file, not at a position (``offset``): files deleted or deployed before it
    while the listing runs would shift positions, and a page would start past a file that stayed.
    ``$gt`` compares strings in the order the database sorts them (AQL comparison operators take strings).
    """
    fields = ",".join(json.dumps(f) for f in ITEM_FIELDS)
    criteria: dict[str, Any] = {"repo": repo, "type": "file"}
    if after is not None:
        path, name = after
        criteria["$or"] = [{"path": {"$gt": path}}, {"$and": [{"path": {"$eq": path}}, {"name": {"$gt": name}}]}]
    return (f'items.find({json.dumps(criteria)}).include({fields}).sort({{"$asc":["path","name"]}})'
            f".limit({limit})")


def properties_queries(repo: str, items: list[tuple[str, str]], max_length: int) -> Iterator[str]:
    """Queries for the properties of ``items`` (``(path, name)`` pairs), each at most ``max_length``
    characters (Artifactory refuses long query texts), by ``$or`` over exact path and name."""
    head = 'items.find({"repo":' + json.dumps(repo) + ',"type":"file","$or":['
    tail = ']}).include("repo","path","name","property")'
    terms: list[str] = []
    size = len(head) + len(tail)
    for path, name in items:
        term = json.dumps({"path": path, "name": name}, separators=(",", ":"))
        if terms and size + len(term) + 1 > max_length:
            yield head + ",".join(terms) + tail
            terms, size = [], len(head) + len(tail)
        terms.append(term)
        size += len(term) + 1
    if terms:
        yield head + ",".join(terms) + tail


class FileListScanner:
    """Feed bytes of a ``{"uri":..,"files":[{..},{..}]}`` document; get each entry of ``files`` once complete.

    Raises ``ValueError`` when the document is not shaped like that (a cut-short document simply
    yields fewer entries; the caller checks :attr:`finished`).
    """

    def __init__(self, key: str = "files"):
        self._key = key
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._depth = 0
        self._in_string = False
        self._escape = False
        self._string: list[str] = []
        self._last_key: str | None = None
        self._in_array = False
        self._entry: list[str] | None = None
        self.finished = False

    def feed(self, data: bytes) -> Iterator[dict[str, Any]]:
        for ch in self._decoder.decode(data):
            if self._entry is not None:
                self._entry.append(ch)
            if self._in_string:
                if self._escape:
                    self._escape = False
                elif ch == "\\":
                    self._escape = True
                elif ch == '"':
                    self._in_string = False
                    if self._depth == 1 and self._entry is None:
                        self._last_key = "".join(self._string)
                elif self._depth == 1 and self._entry is None:
                    self._string.append(ch)
                continue
            if ch == '"':
                self._in_string = True
                self._string = []
            elif ch in "{[":
                self._depth += 1
                if ch == "[" and self._depth == 2 and self._last_key == self._key:
                    self._in_array = True
                elif ch == "{" and self._in_array and self._depth == 3 and self._entry is None:
                    self._entry = ["{"]
            elif ch in "}]":
                self._depth -= 1
                if ch == "}" and self._entry is not None and self._depth == 2:
                    entry = json.loads("".join(self._entry))
                    self._entry = None
                    if not isinstance(entry, dict):
                        raise ValueError("file list entries must be objects")
                    yield entry
                elif ch == "]" and self._in_array and self._depth == 1:
                    self._in_array = False
                elif self._depth == 0:
                    self.finished = True
            elif ch == ":" and self._depth == 1:
                pass
            elif ch == "," and self._depth == 1:
                self._last_key = None

    def scan(self, chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
        for chunk in chunks:
            yield from self.feed(chunk)


class _ListChanged(Exception):
    """The list read again after a break is not the one read before: files came or went meanwhile."""


def storage_entries(open_list: Callable[[], requests.Response], what: str) -> Iterator[dict[str, Any]]:
    """The file entries (not folders) of a storage-API list answer, streamed.

    When the connection breaks or the document ends early, the list is requested again and the
    entries already yielded are skipped (the order is stable), up to ``MAX_RESUMES`` times; then
    :class:`FatalError`. The last entry skipped must be the one read last before the break: if it is
    not, files were deleted or deployed meanwhile and skipping by count would pass over some never
    read, so the list is requested once more and read whole (entries read twice are folded by the
    plan). A body that is not a file list is a FatalError too.
    """
    done, last_uri, resumes = 0, None, 0
    while True:
        resp = open_list()
        seen, skip = 0, done
        scanner = FileListScanner()
        try:
            for entry in scanner.scan(resp.iter_content(64 * 1024)):
                seen += 1
                if seen <= skip:
                    if seen == skip and entry.get("uri") != last_uri:
                        raise _ListChanged
                    continue
                done, last_uri = seen, entry.get("uri")
                if not entry.get("folder"):
                    yield entry
            if not scanner.finished:
                raise RetryableError(f"{what} ended early")
            if seen < skip:
                raise _ListChanged  # shorter than what was read before the break
            return
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, RetryableError,
                _ListChanged) as err:
            if isinstance(err, _ListChanged):
                done, last_uri = 0, None
            resumes += 1
            if resumes > MAX_RESUMES:
                raise FatalError(f"{what} broke off {resumes} times: {err or 'it changed while being read'}") \
                    from None
        except ValueError as err:
            raise FatalError(f"{what} is not the JSON Artifactory sends: {err}") from None
        finally:
            resp.close()


def hints_from(props: Mapping[str, list[str]]) -> dict[str, str]:
    """Identity hints from Artifactory properties (first value of each known key, plus generic names)."""
    hints: dict[str, str] = {}
    for key, values in props.items():
        if not values or not (key.startswith(("npm.", "pypi.", "nuget.", "crate.", "gem."))):
            continue
        hints[key] = values[0]
        for alias in _HINTS.get(key, ()):
            hints.setdefault(alias, values[0])
    npm_name = hints.get("npm.name")
    if npm_name:
        scope, sep, bare = npm_name.lstrip("@").partition("/")
        if npm_name.startswith("@") and sep:
            hints["group"], hints["name"] = scope, bare
        else:
            hints["name"] = npm_name
    return hints


def checksums_of(sha256: Any, sha1: Any, md5: Any) -> Checksums:
    values = {"sha256": sha256, "sha1": sha1, "md5": md5}
    return Checksums.from_listing({algo: value for algo, value in values.items() if isinstance(value, str)})


def layout_hints(package_type: str, path: str) -> dict[str, str]:
    """Hints from where Artifactory's layout for ``package_type`` puts a file, where properties say nothing:
    Swift ``{scope}/{name}/{name}-{version}.zip`` gives ``swift.scope``/``swift.name``/``swift.version``."""
    if package_type == "swift":
        m = _SWIFT.match(path)
        if m and m["file"].lower().startswith(m["name"].lower() + "-"):
            return {"swift.scope": m["scope"], "swift.name": m["name"],
                    "swift.version": m["file"][len(m["name"]) + 1:]}
    return {}
