"""The planner's target index: the same answers in memory and spilled to SQLite; the plan is unchanged by spilling."""

from __future__ import annotations

import hashlib
import os
import random

import pytest

import ferry.target_index as target_index
from ferry.model import ItemKey, SourceItem, TargetItem
from ferry.plan import plan
from ferry.target_index import TargetIndex, key_digest


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def targets(n: int) -> list[TargetItem]:
    out = []
    for i in range(n):
        # non-ASCII names too: the spilled order must be Python's order
        name = ["lib", "Lib", "lïb", "l-ib", "日本"][i % 5] + str(i // 5)
        out.append(TargetItem(ItemKey("pypi" if i % 2 else "npm", "" if i % 3 else "acme", name, f"1.{i % 7}", "a.tgz"),
                              size=i, checksums={"sha256": sha(str(i)), "md5": hashlib.md5(str(i).encode()).hexdigest()},
                              status="Unfinished" if i % 11 == 0 else "Published", repository="store"))
    return out


@pytest.mark.parametrize("spill_after", [10_000, 3])
def test_pop_and_sorted_leftovers_in_memory_and_spilled(spill_after):
    items = targets(60)
    shuffled = items[:]
    random.Random(4).shuffle(shuffled)
    index = TargetIndex(shuffled + shuffled[:10], spill_after=spill_after)  # repeats with the same content
    assert len(index) == 60
    taken = [index.pop(t.key) for t in items[::3]]
    assert taken == items[::3]
    assert index.pop(items[0].key) is None and index.pop(ItemKey("npm", "", "nope", "1", "x")) is None
    rest = list(index.leftovers())
    assert rest == sorted((t for i, t in enumerate(items) if i % 3), key=lambda t: t.key)
    index.close()


def test_spilled_index_refuses_a_key_listed_with_two_contents_and_cleans_up(tmp_path, monkeypatch):
    monkeypatch.setattr(target_index.tempfile, "tempdir", str(tmp_path))
    items = targets(10)
    clash = TargetItem(items[7].key, size=1, checksums={"sha256": sha("other")})
    with pytest.raises(ValueError, match="twice with different content"):
        TargetIndex(items + [clash], spill_after=2)
    index = TargetIndex(items, spill_after=2)
    assert list(tmp_path.iterdir())  # the scratch file
    index.close()
    assert not list(tmp_path.iterdir())


def test_plan_is_the_same_whether_the_target_spills(monkeypatch):
    items = targets(200)
    want = [SourceItem(t.key, size=t.size, checksums={"sha256": t.sha256 if i % 4 else sha("changed")})
            for i, t in enumerate(items[:150])]
    want += [SourceItem(ItemKey("npm", "", f"new{i}", "1", "a.tgz"), size=1, checksums={"sha256": sha(f"n{i}")})
             for i in range(20)]
    in_memory = list(plan(want, items))
    monkeypatch.setattr(target_index, "SPILL_AFTER", 5)
    spilled = list(plan(want, items))
    assert spilled == in_memory
    assert {e.action.value for e in spilled} == {"same", "conflict", "copy", "only-in-target"}


def test_key_digest_tells_keys_apart():
    keys = {ItemKey("npm", "", f"p{i}", "1", "a") for i in range(5000)}
    keys |= {ItemKey("npm", f"p{i}", "", "1", "a") for i in range(1, 5000)}  # fields do not run together
    assert len({key_digest(k) for k in keys}) == len(keys)


@pytest.mark.parametrize("spill_after", [None, 3])
def test_seen_keys_tell_new_same_and_different_before_and_after_spilling(spill_after):
    from ferry.target_index import SeenKeys

    seen = SeenKeys(spill_after=spill_after)
    keys = [ItemKey("npm", "", f"p{i}", "1.0", "package.tgz") for i in range(10)]
    assert [seen.add(k, i) for i, k in enumerate(keys)] == ["new"] * 10
    assert [seen.add(k, i) for i, k in enumerate(keys)] == ["same"] * 10
    assert seen.add(keys[4], 99) == "different"
    assert seen.add(keys[4], 4) == "same"  # the first fingerprint is the one kept
    # Python hashes are signed 64-bit and may be negative; both fit the scratch table
    assert seen.add(ItemKey("npm", "", "neg", "1", "a"), -(2**63)) == "new"
    assert seen.add(ItemKey("npm", "", "neg", "1", "a"), -(2**63)) == "same"
    path = seen._path
    assert (path is not None) == (spill_after is not None)
    seen.close()
    assert path is None or not os.path.exists(path)


@pytest.mark.parametrize("spill_after", [None, 3])
def test_first_names_keep_the_first_spelling_per_version_before_and_after_spilling(spill_after):
    from ferry.target_index import FirstNames

    names = FirstNames(spill_after=spill_after)
    versions = [("pypi", "", f"p{i}", "1.0", "pypi-local") for i in range(10)]
    assert [names.first(v, f"P{i}") for i, v in enumerate(versions)] == [f"P{i}" for i in range(10)]
    assert names.first(versions[7], "p-7") == "P7"  # another spelling: the first one is answered
    assert names.first(("pypi", "", "p7", "1.0", "other-repo"), "p-7") == "p-7"  # another source repository
    assert names.first(("pypi", "", "p7", "2.0", "pypi-local"), "p-7") == "p-7"  # another version
    path = names._path
    assert (path is not None) == (spill_after is not None)
    names.close()
    assert path is None or not os.path.exists(path)


@pytest.mark.parametrize("spill_after", [None, 3])
def test_seen_versions_answer_the_same_before_and_after_spilling(spill_after):
    from ferry.target_index import SeenVersions

    versions = SeenVersions(spill_after=spill_after)
    named = [("maven", "com.acme", f"lib{i}", "1.0") for i in range(10)]
    for v in named + named[:4]:  # a version named again by its next asset
        versions.add(v)
    assert all(v in versions for v in named)
    assert ("maven", "com.acme", "lib1", "2.0") not in versions  # another version of a package it has
    assert ("maven", "com.acme", "lib10", "1.0") not in versions
    assert ("generic", "com.acme", "lib1", "1.0") not in versions  # the same names in another format
    path = versions._path
    assert (path is not None) == (spill_after is not None)
    versions.close()
    assert path is None or not os.path.exists(path)


@pytest.mark.parametrize("spill_after", [0, 1000])
def test_a_disposed_version_answers_for_each_of_its_files_and_is_no_leftover(spill_after):
    """A Disposed version lists no assets: the one item standing for it makes each source file of that
    version a conflict, in memory and spilled alike, and is not reported as the target's own."""
    from ferry.model import Action
    from ferry.target_index import VERSION_MARKER

    disposed = TargetItem(ItemKey("pypi", "", "tool", "1.0", VERSION_MARKER), status="Disposed")
    kept = TargetItem(ItemKey("pypi", "", "tool", "2.0", "tool-2.0.tar.gz"), 10, sha("b"))
    index = TargetIndex([disposed, kept], spill_after=spill_after)
    wheel_key = ItemKey("pypi", "", "tool", "1.0", "tool-1.0-py3-none-any.whl")
    assert index.pop(wheel_key) == TargetItem(wheel_key, status="Disposed")
    assert index.pop(ItemKey("pypi", "", "tool", "3.0", "tool-3.0.tar.gz")) is None
    assert [t.key for t in index.leftovers()] == [kept.key]
    index.close()
    want = [SourceItem(ItemKey("pypi", "", "tool", "1.0", name), size=1, checksums={"sha256": sha(name)})
            for name in ("tool-1.0.tar.gz", "tool-1.0-py3-none-any.whl")]
    entries = list(plan(want, [disposed]))
    assert [(e.key.asset, e.action) for e in entries] == [("tool-1.0.tar.gz", Action.CONFLICT),
                                                         ("tool-1.0-py3-none-any.whl", Action.CONFLICT)]
    assert all("Disposed in the target" in e.reason for e in entries)
