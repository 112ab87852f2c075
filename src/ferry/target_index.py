"""The planner's memory of one mapping: the target listing by key, and which source keys it has seen.

Both grow with the repository, so neither keeps Python objects per item once it is large:

- :class:`TargetIndex` holds the target listing in a dict while it is small and moves it to a
  temporary SQLite file (deleted on close) after ``spill_after`` items, so a 100,000-asset target
  costs a few MB of page cache instead of some hundred bytes per asset of Python objects;
- :func:`key_digest` turns an item's identity into a 128-bit integer, what :class:`SeenKeys`
  remembers instead of the key itself (two different keys sharing a digest is a 1-in-10^29 event at
  a million keys); :class:`SeenKeys` moves to a scratch SQLite file the same way past ``spill_after``,
  and so do :class:`FirstNames` (the source's spelling of each version's package name),
  :class:`SeenVersions` (the package versions a listing has named) and :class:`ClaimedIdentities` (who
  claimed each identity of a normalizing format, :mod:`ferry.migrators.claims`).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import replace

from ferry.errors import ListedTwice
from ferry.model import Checksums, ItemKey, TargetItem

SPILL_AFTER = 20_000
# The asset name of an item that stands for a whole target version without assets (Disposed): it
# answers for every key of that version and is never left over.
VERSION_MARKER = ""
# A seen key costs about a tenth of a listed target item (two ints), so many more fit before spilling.
SEEN_SPILL_AFTER = 50_000
# A claim keeps a path and a SHA-256 (about 400 bytes): fewer fit before spilling.
CLAIMS_SPILL_AFTER = 20_000
_CHUNK = 2_000  # rows per insert call once spilled


def key_digest(key: ItemKey) -> int:
    """128 bits of BLAKE2b over the key's five fields."""
    return fields_digest((key.format.value, key.namespace, key.package, key.version, key.asset))


def fields_digest(fields: tuple[str, ...]) -> int:
    """128 bits of BLAKE2b over ``fields`` joined by NULs (surrogates from undecodable names pass through)."""
    text = "\0".join(fields)
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest(), "big")


class _Spilling:
    """Owner of a scratch SQLite file (deleted on close) that a structure moves into once it is large."""

    _db: sqlite3.Connection | None = None
    _path: str | None = None

    def _open_scratch(self, prefix: str, **connect) -> sqlite3.Connection:
        fd, self._path = tempfile.mkstemp(prefix=prefix, suffix=".db")
        os.close(fd)
        self._db = sqlite3.connect(self._path, check_same_thread=False, **connect)
        self._db.execute("PRAGMA journal_mode = OFF")  # a scratch file: nothing to recover
        self._db.execute("PRAGMA synchronous = OFF")
        return self._db

    def _spill_into(self, prefix: str, table: str, insert: str, rows: Iterable[tuple]) -> None:
        """Open the scratch file (autocommit), create ``table`` and fill it with ``rows`` in one transaction."""
        db = self._open_scratch(prefix, isolation_level=None)
        db.execute(table)
        db.execute("BEGIN")
        db.executemany(insert, rows)
        db.execute("COMMIT")

    def close(self) -> None:
        """Drop the scratch file, if any."""
        if self._db is not None:
            self._db.close()
            self._db = None
        if self._path is not None:
            try:
                os.unlink(self._path)
            except OSError:
                pass
            self._path = None

    def __del__(self) -> None:  # a plan abandoned half-way still leaves no scratch file behind
        self.close()


class TargetIndex(_Spilling):
    """The target listing by key; :meth:`pop` takes an item out, :meth:`leftovers` yields the rest sorted.

    A key listed twice with the same content is kept once; twice with different content raises
    :class:`~ferry.errors.ListedTwice` (a target cannot hold two assets under one key, so the listing is broken). An item
    named :data:`VERSION_MARKER` stands for its whole version: :meth:`pop` answers with it (under the
    asked key) for any key of that version the listing does not hold, and it is no leftover.
    """

    def __init__(self, have: Iterable[TargetItem], spill_after: int | None = None):
        spill_after = SPILL_AFTER if spill_after is None else spill_after
        self._items: dict[ItemKey, TargetItem] | None = {}
        self._pending: list[tuple] = []
        self._versions: dict[tuple[str, str, str, str], TargetItem] = {}  # few: Disposed versions only
        for item in have:
            if item.key.asset == VERSION_MARKER:
                self._versions[item.key.version_id] = item
            elif self._items is not None:
                self._remember(item)
                if len(self._items) > spill_after:
                    self._spill()
            else:
                self._pending.append(_row(item))
                if len(self._pending) >= _CHUNK:
                    self._insert()
        if self._db is not None:
            self._insert()
            self._db.commit()

    # -- building

    def _remember(self, item: TargetItem) -> None:
        assert self._items is not None
        prior = self._items.get(item.key)
        if prior is not None:
            _same_or_raise(item, prior.checksums, prior.size)
            return
        self._items[item.key] = item

    def _insert(self) -> None:
        """Write the pending rows in one call; a key already there is checked for the same content."""
        assert self._db is not None
        rows, self._pending = self._pending, []
        before = self._db.total_changes
        self._db.executemany("INSERT OR IGNORE INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        if self._db.total_changes - before == len(rows):
            return
        # Some keys were listed before (rare: pages overlapping, or a listing bug): same content or refuse.
        for row in rows:
            checksums, size = self._db.execute("SELECT checksums, size FROM t WHERE digest = ?", (row[0],)).fetchone()
            _same_or_raise(_item(row[1:]), Checksums.from_mapping(json.loads(checksums)), size)

    def _spill(self) -> None:
        self._open_scratch("ferry-target-").execute("CREATE TABLE t (digest BLOB PRIMARY KEY, format TEXT, namespace TEXT, package TEXT, "
                         "version TEXT, asset TEXT, size INTEGER, checksums TEXT, status TEXT, repository TEXT)")
        items, self._items = self._items or {}, None
        self._pending = [_row(item) for item in items.values()]
        self._insert()

    # -- reading

    def pop(self, key: ItemKey) -> TargetItem | None:
        """The target's item under ``key`` (None if none), taken out of the index; for a key of a version
        listed as a whole (:data:`VERSION_MARKER`), that version's item under ``key``."""
        if self._items is not None:
            found = self._items.pop(key, None)
        else:
            assert self._db is not None
            row = self._db.execute("DELETE FROM t WHERE digest = ? RETURNING format, namespace, package, version, "
                                   "asset, size, checksums, status, repository",
                                   (key_digest(key).to_bytes(16, "big"),)).fetchone()
            found = _item(row) if row is not None else None
        if found is None and key.version_id in self._versions:
            return replace(self._versions[key.version_id], key=key)
        return found

    def leftovers(self) -> Iterator[TargetItem]:
        """The items never popped, sorted by key (the order of :class:`ItemKey`)."""
        if self._items is not None:
            for key in sorted(self._items):
                yield self._items[key]
            return
        assert self._db is not None
        # UTF-8 byte order (SQLite's BINARY collation) is code point order, which is how Python sorts str.
        cursor = self._db.execute("SELECT format, namespace, package, version, asset, size, checksums, status, "
                                  "repository FROM t ORDER BY format, namespace, package, version, asset")
        for row in cursor:
            yield _item(row)

    def __len__(self) -> int:
        if self._items is not None:
            return len(self._items)
        assert self._db is not None
        return self._db.execute("SELECT COUNT(*) FROM t").fetchone()[0]



def _same_or_raise(item: TargetItem, checksums: Checksums, size: int | None) -> None:
    if (checksums, size) != (item.checksums, item.size):
        raise ListedTwice(f"target listed {item.key} twice with different content")


def _row(item: TargetItem) -> tuple:
    k = item.key
    return (key_digest(k).to_bytes(16, "big"), k.format.value, k.namespace, k.package, k.version, k.asset, item.size,
            json.dumps(item.checksums.as_dict()), str(item.status), item.repository)


def _item(row: tuple) -> TargetItem:
    fmt, namespace, package, version, asset, size, checksums, status, repository = row
    return TargetItem(key=ItemKey(fmt, namespace, package, version, asset), size=size,
                      checksums=Checksums.from_mapping(json.loads(checksums)), status=status,
                      repository=repository)


class SeenKeys(_Spilling):
    """The keys a listing has produced so far, each with a fingerprint of its content.

    A dict of 128-bit digests while small; past ``spill_after`` keys (default 50,000), a table in a
    scratch SQLite file (deleted on close), so a listing of millions of items costs page cache, not a
    Python object per item.
    """

    def __init__(self, spill_after: int | None = None):
        self._spill_after = SEEN_SPILL_AFTER if spill_after is None else spill_after
        self._dict: dict[int, int] | None = {}

    def add(self, key: ItemKey, fingerprint: int) -> str:
        """Remember ``key`` with ``fingerprint``. Returns ``"new"``, ``"same"`` (seen before with this
        fingerprint) or ``"different"`` (seen before with another; the first one is kept)."""
        digest = key_digest(key)
        fingerprint = _int64(fingerprint)
        if self._dict is not None:
            prior = self._dict.get(digest)
            if prior is not None:
                return "same" if prior == fingerprint else "different"
            self._dict[digest] = fingerprint
            if len(self._dict) > self._spill_after:
                self._spill()
            return "new"
        assert self._db is not None
        blob = digest.to_bytes(16, "big")
        before = self._db.total_changes
        self._db.execute("INSERT OR IGNORE INTO s VALUES (?, ?)", (blob, fingerprint))
        if self._db.total_changes != before:
            return "new"
        stored = self._db.execute("SELECT fingerprint FROM s WHERE digest = ?", (blob,)).fetchone()[0]
        return "same" if stored == fingerprint else "different"

    def _spill(self) -> None:
        entries, self._dict = self._dict or {}, None
        self._spill_into("ferry-seen-", "CREATE TABLE s (digest BLOB PRIMARY KEY, fingerprint INTEGER) WITHOUT ROWID",
                         "INSERT INTO s VALUES (?, ?)", ((d.to_bytes(16, "big"), f) for d, f in entries.items()))


class FirstNames(_Spilling):
    """The first spelling seen of each package version's source name (PyPI ``Foo.Bar`` vs ``foo-bar``).

    A dict of 128-bit digests while small; past ``spill_after`` versions (default 50,000), a table in a
    scratch SQLite file (deleted on close), so memory does not grow with the number of versions listed.
    """

    def __init__(self, spill_after: int | None = None):
        self._spill_after = SEEN_SPILL_AFTER if spill_after is None else spill_after
        self._dict: dict[int, str] | None = {}

    def first(self, version: tuple[str, ...], name: str) -> str:
        """The name first given for ``version`` (a tuple of strings); ``name`` if this is the first."""
        digest = fields_digest(version)
        if self._dict is not None:
            prior = self._dict.setdefault(digest, name)
            if len(self._dict) > self._spill_after:
                self._spill()
            return prior
        assert self._db is not None
        blob = digest.to_bytes(16, "big")
        self._db.execute("INSERT OR IGNORE INTO n VALUES (?, ?)", (blob, name))
        return self._db.execute("SELECT name FROM n WHERE digest = ?", (blob,)).fetchone()[0]

    def _spill(self) -> None:
        entries, self._dict = self._dict or {}, None
        self._spill_into("ferry-names-", "CREATE TABLE n (digest BLOB PRIMARY KEY, name TEXT) WITHOUT ROWID",
                         "INSERT INTO n VALUES (?, ?)", ((d.to_bytes(16, "big"), n) for d, n in entries.items()))


class SeenVersions(_Spilling):
    """The package versions a listing has named, each as a 128-bit digest of its fields.

    A set while small; past ``spill_after`` versions (default 50,000), a table in a scratch SQLite file
    (deleted on close), so memory does not grow with the number of versions listed.
    """

    def __init__(self, spill_after: int | None = None):
        self._spill_after = SEEN_SPILL_AFTER if spill_after is None else spill_after
        self._set: set[int] | None = set()

    def add(self, version: tuple[str, ...]) -> None:
        """Remember ``version`` (a tuple of strings, e.g. :attr:`ItemKey.version_id`)."""
        digest = fields_digest(version)
        if self._set is not None:
            self._set.add(digest)
            if len(self._set) > self._spill_after:
                self._spill()
            return
        assert self._db is not None
        self._db.execute("INSERT OR IGNORE INTO v VALUES (?)", (digest.to_bytes(16, "big"),))

    def __contains__(self, version: tuple[str, ...]) -> bool:
        digest = fields_digest(version)
        if self._set is not None:
            return digest in self._set
        assert self._db is not None
        row = self._db.execute("SELECT 1 FROM v WHERE digest = ?", (digest.to_bytes(16, "big"),)).fetchone()
        return row is not None

    def _spill(self) -> None:
        entries, self._set = self._set or set(), None
        self._spill_into("ferry-versions-", "CREATE TABLE v (digest BLOB PRIMARY KEY) WITHOUT ROWID",
                         "INSERT INTO v VALUES (?)", ((d.to_bytes(16, "big"),) for d in entries))


class ClaimedIdentities(_Spilling):
    """One listing's claims (:mod:`ferry.migrators.claims`): an identity's digest -> the first file's URL digest,
    SHA-256 and path.

    A dict while small; past ``spill_after`` identities (default :data:`CLAIMS_SPILL_AFTER`), a table in a
    scratch SQLite file (deleted on close): each claim keeps a path and a SHA-256, about 400 bytes of Python
    objects, and a NuGet or Cargo repository lists one per version.
    """

    def __init__(self, spill_after: int | None = None):
        self._spill_after = CLAIMS_SPILL_AFTER if spill_after is None else spill_after
        self._dict: dict[int, tuple[int, str | None, str]] | None = {}

    def setdefault(self, identity: int, url: int, sha256: str | None, path: str) -> tuple[int, str | None, str]:
        """``(url, sha256, path)`` of the first claim of ``identity`` (these, if this is the first)."""
        if self._dict is not None:
            prior = self._dict.setdefault(identity, (url, sha256, path))
            if len(self._dict) > self._spill_after:
                self._spill()
            return prior
        assert self._db is not None
        blob = identity.to_bytes(16, "big")
        self._db.execute("INSERT OR IGNORE INTO c VALUES (?, ?, ?, ?)", (blob, url.to_bytes(16, "big"), sha256, path))
        stored_url, stored_sha, stored_path = self._db.execute(
            "SELECT url, sha256, path FROM c WHERE digest = ?", (blob,)).fetchone()
        return int.from_bytes(stored_url, "big"), stored_sha, stored_path

    def _spill(self) -> None:
        entries, self._dict = self._dict or {}, None
        self._spill_into("ferry-claims-",
                         "CREATE TABLE c (digest BLOB PRIMARY KEY, url BLOB, sha256 TEXT, path TEXT) WITHOUT ROWID",
                         "INSERT INTO c VALUES (?, ?, ?, ?)",
                         ((d.to_bytes(16, "big"), u.to_bytes(16, "big"), sha, path)
                          for d, (u, sha, path) in entries.items()))


def _int64(value: int) -> int:
    """``value`` folded into SQLite's signed 64-bit INTEGER range (fingerprints are Python hashes)."""
    value &= (1 << 64) - 1
    return value - (1 << 64) if value >= 1 << 63 else value
