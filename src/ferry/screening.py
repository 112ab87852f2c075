"""Screening a source listing before the plan: problems of the source's own making become unmappable items.

A file whose name is not valid text, one over the asset size quota, two project spellings CodeArtifact files
under one name, two files that map onto one item: each is one item the run cannot move, said why in its
ledger row; none stops the run or reaches a publish.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Iterator

from ferry import transfer
from ferry.model import ItemKey, SourceItem
from ferry.plan import content_fingerprint
from ferry.state.ledger import LedgerWriter
from ferry.target_index import FirstNames, SeenKeys


def screened(want: Iterator[SourceItem], writer: LedgerWriter, target: str) -> Iterator[SourceItem]:
    """``want`` with source problems turned into unmappable items instead of stopping the run; each item key
    passed on once.

    - a name that is not valid text (undecodable bytes in the source) is unmappable, whatever else the
      migrator found wrong with it: it could not be reproduced, and its key is stored escaped;
    - an asset over the asset size quota is unmappable;
    - two source projects whose names CodeArtifact normalizes to one (PyPI ``Foo.Bar`` and ``foo-bar``,
      told apart by the ``source_name`` a migrator puts in ``extras``) for one version make every item
      of that version unmappable: which one the target should hold is the user's call;
    - two source files that map onto one item with different content: the item is unmappable, naming
      both files, and the second is passed on as an unmappable item of its own, keyed ``(duplicate) {locator}``
      (under the item's key the plan would refuse it).
    """
    seen = SeenKeys()  # key digest -> content fingerprint, spilled to a scratch file when large
    names = FirstNames()  # version -> the source's first spelling of its package name, spilled when large
    clashes: dict[tuple, str] = {}  # version -> why its items are unmappable (rare: kept whole)
    for item in want:
        bad_text = _undecodable(item)
        if bad_text:
            # Whatever the migrator made of the file (one it already called unmappable, or skipped, included):
            # a key that is not valid text cannot even be stored in the ledger until it is escaped.
            item = _escaped(item if item.skipped else replace(item, unmappable=bad_text))
        elif item.unmappable is None and not item.skipped:
            reason = transfer.too_big(item.size)
            if reason:
                item = replace(item, unmappable=reason)
        spelled = item.extras.get("source_name") if item.extras else None
        vid = (item.key.version_id, item.repository)
        first = names.first((*vid[0], vid[1]), spelled) if spelled and vid not in clashes else spelled
        if first != spelled:
            key = item.key
            clashes[vid] = (f"the source has both {first!r} and {spelled!r} {key.version}, which CodeArtifact "
                            f"files under the one name {key.package!r}; keep one (exclude or remove the other in "
                            "the source)")
            # The version's items planned so far were planned as copies: the action changes with the state,
            # or audit and the report would count a publish that never comes.
            writer.call(lambda db, key=key, why=clashes[vid]: db.execute(
                "UPDATE items SET state = 'unmappable', action = 'unmappable', reason = ? WHERE target_repo = ? AND "
                "format = ? AND namespace = ? AND package = ? AND version = ? AND run_id = ?",
                [why, target, key.format.value, key.namespace, key.package, key.version, writer.run_id]))
        if vid in clashes and item.unmappable is None:
            item = replace(item, unmappable=clashes[vid])
        verdict = seen.add(item.key, content_fingerprint(item))
        if verdict == "new":
            yield item
        elif verdict == "different":
            # Rare, so the first file's locator is read back from its ledger row rather than kept for every item.
            other = writer.call(lambda db, key=item.key: db.execute(
                "SELECT locator FROM items WHERE target_repo=? AND format=? AND namespace=? AND package=? AND "
                "version=? AND asset=?", [target, key.format.value, key.namespace, key.package, key.version,
                                          key.asset]).fetchone())
            reason = (f"two source files map to {item.key} with different content ({other[0] if other else '?'} "
                      f"and {item.locator}); CodeArtifact can hold only one: remove or exclude the other in the source")
            writer.transition(target, item.key, "unmappable", source_repo=item.repository, reason=reason)
            # The second file is a row of its own, keyed by where it is: folded into the first one's row, it was
            # left out of every count, so the repository showed a file fewer than the source holds.
            yield replace(item, key=replace(item.key, asset=f"(duplicate) {item.locator}"), unmappable=reason)
    seen.close()  # (a plan abandoned half-way drops them with the generator: both clean up when collected)
    names.close()


_SURROGATE = re.compile("[\ud800-\udfff]")


def _bad_text(text: str) -> bool:
    """True for text that was not valid UTF-8 where it came from (lone surrogates, or U+FFFD put in its place)."""
    if text.isascii():  # nearly every name: no per-character walk
        return False
    return "\ufffd" in text or _SURROGATE.search(text) is not None


def _undecodable(item: SourceItem) -> str | None:
    key = item.key
    for part in (key.namespace, key.package, key.version, key.asset, item.locator):
        if _bad_text(part):
            shown = part.encode("utf-8", "backslashreplace").decode("utf-8")
            return f"name {shown!r} is not valid UTF-8 in the source; rename it there to migrate it"
    return None


def _escaped(item: SourceItem) -> SourceItem:
    """``item`` with undecodable characters in its key and locator escaped, so the ledger can store it."""
    if not _undecodable(item):
        return item
    clean = lambda text: text.encode("utf-8", "backslashreplace").decode("utf-8")  # noqa: E731
    key = item.key
    return replace(item, key=ItemKey(key.format, clean(key.namespace), clean(key.package), clean(key.version),
                                     clean(key.asset)), locator=clean(item.locator))
