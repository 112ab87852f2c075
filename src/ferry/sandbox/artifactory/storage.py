"""The storage API under ``/artifactory/api/storage/{repo}/{path}``: file and folder info, file list,
properties and download statistics (and ``PATCH /api/metadata`` for property updates).

``?list&deep=1`` streams its JSON answer item by item, so a repository of any size is listed with
bounded memory. Folder entries have ``"size": -1``; ``sha2`` is the SHA-256, as Artifactory names it.
"""

from __future__ import annotations

import json
from typing import Iterator

from werkzeug.wrappers import Request, Response

from ferry.sandbox.artifactory import render
from ferry.sandbox.artifactory.aql import iso
from ferry.sandbox.artifactory.store import ArtifactoryError, Node, NotFound, Repo, Store


def _split_values(text: str) -> list[str]:
    """``a,b\\,c`` -> ``["a", "b,c"]`` (a backslash escapes ``,``, ``|``, ``;`` and ``=``)."""
    values, current, escaped = [], [], False
    for ch in text:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == ",":
            values.append("".join(current))
            current = []
        else:
            current.append(ch)
    values.append("".join(current))
    return values


def parse_properties(text: str) -> dict[str, list[str]]:
    """``k1=v1,v2|k2=v3`` (``;`` also separates pairs, as some clients send) as ``{key: [values]}``."""
    out: dict[str, list[str]] = {}
    pair, pairs, escaped = [], [], False
    for ch in text:
        if escaped:
            pair.append("\\" + ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in "|;":
            pairs.append("".join(pair))
            pair = []
        else:
            pair.append(ch)
    pairs.append("".join(pair))
    for item in pairs:
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not key:
            raise ArtifactoryError("Invalid property: empty key", 400)
        out.setdefault(key, []).extend(_split_values(value) if sep else [""])
    return out


class StorageApi:
    def __init__(self, store: Store):
        self.store = store

    def _locate(self, path: str) -> tuple[Repo, str, str, Node | None]:
        key, _, rest = path.strip("/").partition("/")
        repo = self.store.storage_repo(key)
        if repo is None:
            raise NotFound(f"Unable to find item: {key}")
        storage = key if key != repo.key else repo.storage_key
        rest = rest.strip("/")
        node = self.store.node(storage, rest) if rest else None
        if rest and node is None:
            raise NotFound("Unable to find item")
        return repo, storage, rest, node

    def dispatch(self, request: Request, path: str, base: str) -> Response:
        """Handle ``/api/storage/{path}``; ``path`` is decoded."""
        try:
            repo, storage, rest, node = self._locate(path)
            args = request.args
            if request.method == "GET":
                if "list" in args:
                    return self._list(request, repo, storage, rest, node, base)
                if "properties" in args:
                    return self._properties(storage, rest, node, args.get("properties", ""), base)
                if "stats" in args:
                    return self._stats(storage, rest, node, base)
                if node is None or node.is_folder:
                    return render.json_response(render.folder_info(base, self.store, storage, node, repo.created))
                return render.json_response(render.file_info(base, node))
            if request.method == "PUT" and "properties" in args:
                targets = self._targets(storage, rest, node, args.get("recursive", "1") != "0")
                self.store.set_properties(targets, parse_properties(args.get("properties", "")))
                return Response(status=204)
            if request.method == "DELETE" and "properties" in args:
                targets = self._targets(storage, rest, node, args.get("recursive", "1") != "0")
                self.store.delete_properties(targets, [k for k in args.get("properties", "").split(",") if k])
                return Response(status=204)
            return render.error(405, f"Method {request.method} is not allowed here")
        except ArtifactoryError as err:
            return render.error(err.status, err.message)

    def patch_metadata(self, request: Request, path: str) -> Response:
        """``PATCH /api/metadata/{repo}/{path}`` with ``{"props": {key: value|null}}``."""
        try:
            _repo, storage, rest, node = self._locate(path)
            body = request.get_json(silent=True) or {}
            props = body.get("props") if isinstance(body, dict) else None
            if not isinstance(props, dict):
                raise ArtifactoryError('Expected {"props": {...}}', 400)
            targets = self._targets(storage, rest, node, request.args.get("recursiveProperties", "0") == "1")
            self.store.delete_properties(targets, [k for k, v in props.items() if v is None])
            self.store.set_properties(targets, {k: (v if isinstance(v, list) else _split_values(str(v)))
                                                for k, v in props.items() if v is not None})
            return Response(status=204)
        except ArtifactoryError as err:
            return render.error(err.status, err.message)

    def _targets(self, storage: str, rest: str, node: Node | None, recursive: bool) -> list[int]:
        ids = [node.id] if node is not None else []
        if recursive and (node is None or node.is_folder):
            ids += [n.id for n in self.store.descendants(storage, rest)]
        return ids

    def _properties(self, storage: str, rest: str, node: Node | None, wanted: str, base: str) -> Response:
        props = self.store.properties(node.id) if node is not None else {}
        names = [k for k in wanted.split(",") if k]
        if names:
            props = {k: v for k, v in props.items() if k in names}
        if not props:
            return render.error(404, "No properties could be found.")
        return render.json_response({"properties": props, "uri": render.item_uri(base, storage, rest)})

    def _stats(self, storage: str, rest: str, node: Node | None, base: str) -> Response:
        if node is None or node.is_folder:
            raise ArtifactoryError("Statistics are only available for files", 400)
        last = int((node.last_downloaded or 0) * 1000)
        return render.json_response({"uri": render.item_uri(base, storage, rest), "downloadCount": node.downloads,
                                     "lastDownloaded": last, "lastDownloadedBy": node.last_downloaded_by,
                                     "remoteDownloadCount": 0, "remoteLastDownloaded": 0})

    def _list(self, request: Request, repo: Repo, storage: str, rest: str, node: Node | None,
              base: str) -> Response:
        if node is not None and not node.is_folder:
            raise ArtifactoryError("Expected a folder but found a file", 400)
        args = request.args
        deep = args.get("deep", "0") == "1"
        depth = int(args["depth"]) if args.get("depth", "").isdigit() else None
        folders = args.get("listFolders", "0") == "1"
        timestamps = args.get("mdTimestamps", "0") == "1"
        include_root = args.get("includeRootPath", "0") == "1"
        created = node.created if node is not None else repo.created
        prefix_len = len(rest) + 1 if rest else 0
        base_depth = rest.count("/") + 1 if rest else 0

        def entries() -> Iterator[dict]:
            if include_root and folders:
                yield {"uri": "/", "size": -1, "lastModified": iso(created), "folder": True}
            source = self.store.descendants(storage, rest) if deep else iter(self.store.children(storage, rest))
            for item in source:
                level = item.depth - base_depth
                if depth is not None and level > depth:
                    continue
                if item.is_folder:
                    if folders:
                        yield {"uri": "/" + item.full_path[prefix_len:], "size": -1,
                               "lastModified": iso(item.modified), "folder": True}
                    continue
                entry = {"uri": "/" + item.full_path[prefix_len:], "size": item.size,
                         "lastModified": iso(item.modified), "folder": False, "sha1": item.sha1, "sha2": item.sha256}
                if timestamps:
                    entry["mdTimestamps"] = {"properties": iso(item.modified)}
                yield entry

        head = {"uri": render.item_uri(base, storage, rest), "created": iso(created)}

        def body() -> Iterator[bytes]:
            yield json.dumps(head)[:-1].encode() + b',"files":['
            first = True
            for entry in entries():
                yield (b"" if first else b",") + json.dumps(entry).encode()
                first = False
            yield b"]}"

        return Response(body(), mimetype="application/json")
