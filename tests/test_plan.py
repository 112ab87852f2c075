"""The planner with plain data: no network, no files."""

from __future__ import annotations

import hashlib
import random

import pytest

from ferry.model import Action, Checksums, ItemKey, SourceItem, TargetItem, VersionStatus
from ferry.plan import ORPHANED_UNFINISHED, compare, plan


def digests(content: bytes) -> dict[str, str]:
    return {
        "sha256": hashlib.sha256(content).hexdigest(),
        "sha512": hashlib.sha512(content).hexdigest(),
        "sha1": hashlib.sha1(content).hexdigest(),
        "md5": hashlib.md5(content).hexdigest(),
    }


def key(package="left-pad", version="1.0.0", asset="package.tgz", fmt="npm", ns=""):
    return ItemKey(fmt, ns, package, version, asset)


def src(k, content=b"A", algos=("sha256", "sha1", "md5"), **kw):
    sums = {a: v for a, v in digests(content).items() if a in algos}
    return SourceItem(k, size=len(content), checksums=sums, locator=f"http://nexus/{k.package}", **kw)


def tgt(k, content=b"A", status="Published", algos=("sha256", "sha512", "sha1", "md5")):
    sums = {a: v for a, v in digests(content).items() if a in algos}
    return TargetItem(k, size=len(content), checksums=sums, status=status)


def one(want, have):
    entries = list(plan(want, have))
    assert len(entries) == 1
    return entries[0]


def test_absent_in_target_is_copy():
    k = key()
    entry = one([src(k)], [])
    assert (entry.action, entry.reason, entry.target) == (Action.COPY, "", None)
    assert entry.source.key == k


def test_equal_sha256_is_same():
    k = key()
    entry = one([src(k, b"x")], [tgt(k, b"x")])
    assert (entry.action, entry.reason) == (Action.SAME, "")
    assert entry.target.sha256 == hashlib.sha256(b"x").hexdigest()


def test_different_sha256_is_conflict_and_says_which_digest():
    k = key()
    entry = one([src(k, b"x")], [tgt(k, b"y")])
    assert entry.action is Action.CONFLICT
    assert entry.reason.startswith("sha256 differs")
    assert hashlib.sha256(b"x").hexdigest()[:12] in entry.reason


def test_source_without_sha256_compares_sha1_and_says_so():
    k = key(fmt="maven", ns="org.acme", package="lib", version="1.0", asset="lib-1.0.jar")
    same = one([src(k, b"jar", algos=("sha1", "md5"))], [tgt(k, b"jar")])
    assert same.action is Action.SAME
    assert "sha1" in same.reason and "no sha256" in same.reason
    differs = one([src(k, b"jar", algos=("sha1", "md5"))], [tgt(k, b"other")])
    assert differs.action is Action.CONFLICT
    assert differs.reason.startswith("sha1 differs") and "no sha256" in differs.reason


def test_md5_only_source_against_sha256_only_target_is_copy_with_reason():
    k = key()
    entry = one([src(k, b"x", algos=("md5",))], [tgt(k, b"x", algos=("sha256",))])
    assert entry.action is Action.COPY
    assert "no checksum comparable" in entry.reason


def test_no_comparable_checksum_but_different_size_is_conflict():
    k = key()
    entry = one([src(k, b"xx", algos=())], [tgt(k, b"x", algos=("sha256",))])
    assert entry.action is Action.CONFLICT
    assert "size differs" in entry.reason


def test_unmappable_passes_through_and_swallows_the_target_key():
    k = key(fmt="generic", ns="raw", package="README.txt", version="", asset="")
    entry = one([src(k, unmappable="path does not match layout {package}/{version}/{asset}")], [tgt(k)])
    assert entry.action is Action.UNMAPPABLE
    assert entry.reason == "path does not match layout {package}/{version}/{asset}"
    assert entry.target is not None


def test_only_in_target_comes_last_sorted():
    a, b, c = key("a"), key("b"), key("c")
    entries = list(plan([src(b)], [tgt(c), tgt(a), tgt(b)]))
    assert [(e.key, e.action) for e in entries] == [
        (b, Action.SAME),
        (a, Action.ONLY_IN_TARGET),
        (c, Action.ONLY_IN_TARGET),
    ]
    assert entries[1].source is None and entries[1].target.key == a


@pytest.mark.parametrize(
    "status, content, action, phrase",
    [
        (VersionStatus.UNFINISHED, b"A", Action.COPY, "Unfinished"),
        (VersionStatus.UNFINISHED, b"B", Action.CONFLICT, "sha256 differs"),
        (VersionStatus.DISPOSED, b"A", Action.CONFLICT, "Disposed"),
        (VersionStatus.DELETED, b"B", Action.COPY, "deleted"),
        (VersionStatus.ARCHIVED, b"A", Action.SAME, "Archived"),
        (VersionStatus.UNLISTED, b"A", Action.SAME, "Unlisted"),
    ],
)
def test_target_version_status(status, content, action, phrase):
    k = key()
    entry = one([src(k, b"A")], [tgt(k, content, status=status)])
    assert entry.action is action
    assert phrase in entry.reason


def test_repeated_identical_source_key_is_planned_once():
    k = key()
    entries = list(plan([src(k), src(k)], []))
    assert [e.key for e in entries] == [k]


def test_repeated_source_key_with_different_content_is_an_error():
    k = key()
    with pytest.raises(ValueError, match="twice with different content"):
        list(plan([src(k, b"1"), src(k, b"2")], []))


def test_target_key_listed_twice_differently_is_an_error():
    k = key()
    with pytest.raises(ValueError, match="target listed"):
        list(plan([], [tgt(k, b"1"), tgt(k, b"2")]))


def test_want_is_streamed_have_is_indexed():
    consumed = {"want": 0, "have": 0}

    def want():
        for i in range(1000):
            consumed["want"] += 1
            yield src(key(f"p{i}"))

    def have():
        for i in range(0, 1000, 2):
            consumed["have"] += 1
            yield tgt(key(f"p{i}"))

    entries = plan(want(), have())
    assert consumed == {"want": 0, "have": 0}  # lazy
    first = next(entries)
    assert first.key == key("p0") and first.action is Action.SAME
    assert consumed == {"want": 1, "have": 500}
    rest = list(entries)
    assert consumed == {"want": 1000, "have": 500}
    assert len(rest) == 999


def test_compare_is_what_plan_uses():
    k = key()
    s, t = src(k, b"x"), tgt(k, b"y")
    entry = one([s], [t])
    assert compare(s, t) == (entry.action, entry.reason)


# --- property-style: random inventories, fixed seeds -----------------------------------------

FORMATS = ["npm", "pypi", "maven", "generic", "nuget"]
ALGO_SETS = [("sha256",), ("sha256", "sha1"), ("sha1", "md5"), ("md5",), ()]


def random_inventory(rng: random.Random):
    keys = [
        ItemKey(rng.choice(FORMATS), rng.choice(["", "ns", "org.acme"]), f"p{rng.randrange(30)}",
                f"{rng.randrange(4)}.0", rng.choice(["a.tgz", "b.jar"]))
        for _ in range(rng.randrange(0, 120))
    ]
    keys = list(dict.fromkeys(keys))
    content = {k: rng.choice([b"1", b"2", b"3"]) for k in keys}
    want_keys = [k for k in keys if rng.random() < 0.7]
    have_keys = [k for k in keys if rng.random() < 0.6]
    want = []
    for k in want_keys:
        unmappable = "no mapping" if rng.random() < 0.05 else None
        want.append(src(k, content[k], algos=rng.choice(ALGO_SETS), unmappable=unmappable))
    have = [
        tgt(k, content[k] if rng.random() < 0.8 else b"9",
            status=rng.choice(["Published"] * 6 + ["Unfinished", "Archived", "Disposed", "Deleted"]),
            algos=rng.choice([("sha256", "sha512", "sha1", "md5"), ("sha256",)]))
        for k in have_keys
    ]
    # Sources sometimes repeat an item verbatim (overlapping pages).
    want += [item for item in want if rng.random() < 0.1]
    return want, have


@pytest.mark.parametrize("seed", range(40))
def test_every_key_appears_exactly_once_and_actions_are_consistent(seed):
    rng = random.Random(seed)
    want, have = random_inventory(rng)
    entries = list(plan(want, have))
    want_keys = {s.key for s in want}
    have_keys = {t.key for t in have}

    keys = [e.key for e in entries]
    assert len(keys) == len(set(keys))
    assert set(keys) == want_keys | have_keys

    by_key_have = {t.key: t for t in have}
    for e in entries:
        if e.action is Action.ONLY_IN_TARGET:
            assert e.key not in want_keys and e.source is None and e.target is by_key_have[e.key]
            continue
        if e.source is None:  # a target-only file of an Unfinished version the source compared nothing of
            assert e.action is Action.CONFLICT and e.reason == ORPHANED_UNFINISHED and e.key not in want_keys
            assert e.target.status == VersionStatus.UNFINISHED
            assert not [s for s in want if s.key.version_id == e.key.version_id and not s.unmappable]
            continue
        assert e.source is not None and e.source.key == e.key
        assert e.target is by_key_have.get(e.key)
        if e.source.unmappable:
            assert e.action is Action.UNMAPPABLE and e.reason == e.source.unmappable
        elif e.action is Action.SAME:
            algo = e.source.checksums.common_algorithm(e.target.checksums)
            assert algo is not None
            assert e.source.checksums[algo] == e.target.checksums[algo]
            assert ("no sha256" in e.reason) == (algo != "sha256")
        elif e.action is Action.CONFLICT:
            assert e.target is not None
        elif e.action is Action.COPY:
            assert e.target is None or e.reason  # copying over something existing is always explained
    # Source order is kept; target-only entries trail, sorted.
    first_seen = list(dict.fromkeys(s.key for s in want))
    assert keys[: len(first_seen)] == first_seen
    trailing = keys[len(first_seen):]
    assert trailing == sorted(have_keys - want_keys)


@pytest.mark.parametrize("seed", range(10))
def test_plan_does_not_depend_on_target_listing_order(seed):
    rng = random.Random(1000 + seed)
    want, have = random_inventory(rng)
    shuffled = list(have)
    rng.shuffle(shuffled)
    assert list(plan(want, have)) == list(plan(want, shuffled))


def test_checksums_accept_codeartifact_and_nexus_spellings():
    sums = digests(b"z")
    ca = Checksums.from_mapping({"SHA-256": sums["sha256"], "SHA-1": sums["sha1"], "MD5": sums["md5"]})
    nexus = Checksums.from_mapping({"sha256": sums["sha256"].upper(), "sha1": sums["sha1"], "md5": sums["md5"]})
    assert ca == nexus
    assert ca.get("sha-256") == sums["sha256"]
    assert ca.as_dict() == {"sha256": sums["sha256"], "sha1": sums["sha1"], "md5": sums["md5"]}
    assert Checksums(sha1=f" {sums['sha1'].upper()}\n").sha1 == sums["sha1"]
    with pytest.raises(ValueError):
        Checksums(sha256="abc")
    with pytest.raises(ValueError):
        Checksums(sha1="g" * 40)


def test_item_key_normalizes_missing_namespace_and_prints_like_people_do():
    assert ItemKey("npm", None, "node", "1.0.0", "package.tgz") == ItemKey("npm", "", "node", "1.0.0", "package.tgz")
    assert str(ItemKey("npm", "types", "node", "1.0.0", "package.tgz")) == "npm:@types/node@1.0.0/package.tgz"
    assert str(ItemKey("maven", "org.acme", "lib", "1.0", "lib-1.0.jar")) == "maven:org.acme/lib@1.0/lib-1.0.jar"
    assert str(ItemKey("pypi", "", "requests", "2.0", "requests-2.0.tar.gz")) == "pypi:requests@2.0/requests-2.0.tar.gz"
    with pytest.raises(ValueError):
        ItemKey("rpm", "", "x", "1", "x.rpm")


def test_target_item_keeps_sha256_and_checksums_in_step():
    k = key()
    sums = digests(b"q")
    assert TargetItem(k, sha256=sums["sha256"]).checksums.sha256 == sums["sha256"]
    assert TargetItem(k, checksums={"SHA-256": sums["sha256"]}).sha256 == sums["sha256"]
    with pytest.raises(ValueError, match="disagree"):
        TargetItem(k, sha256=sums["sha256"], checksums={"sha256": digests(b"r")["sha256"]})


def _maven(version="1.0", asset="lib-1.0.jar", package="lib"):
    return key(fmt="maven", ns="com.acme", package=package, version=version, asset=asset)


def _flag_all(_key):
    return True


def test_an_extra_asset_in_a_version_the_source_has_differs_only_when_verifying():
    jar, extra = _maven(), _maven(asset="lib-1.0-sources.jar")
    want, have = [src(jar, b"jar")], [tgt(jar, b"jar"), tgt(extra, b"src")]
    plain = {e.key: e for e in plan(want, have)}
    assert plain[extra].action is Action.ONLY_IN_TARGET  # audit and migrate: the target's own, never deleted
    strict = {e.key: e for e in plan(want, have, extra=_flag_all)}
    assert strict[jar].action is Action.SAME
    assert strict[extra].action is Action.CONFLICT and strict[extra].source is None
    assert strict[extra].reason == "the target's 1.0 holds lib-1.0-sources.jar, which the source's 1.0 does not"
    assert strict[extra].target.sha256 == hashlib.sha256(b"src").hexdigest()


def test_extra_assets_in_versions_or_packages_the_source_lacks_stay_only_in_target():
    want = [src(_maven(), b"jar")]
    have = [tgt(_maven(), b"jar"), tgt(_maven("2.0", "lib-2.0.jar"), b"two"),
            tgt(_maven("1.0", "other-1.0.jar", package="other"), b"other"),
            tgt(ItemKey("generic", "com.acme", "lib", "1.0", "lib-1.0.jar"), b"generic")]
    actions = [e.action for e in plan(want, have, extra=_flag_all)]
    assert actions == [Action.SAME] + [Action.ONLY_IN_TARGET] * 3


def test_extra_assets_the_format_derives_or_beside_skipped_and_unmappable_versions_stay_only_in_target():
    checksum = _maven(asset="lib-1.0.jar.sha1")
    skipped = src(_maven("2.0-SNAPSHOT", "lib-2.0-SNAPSHOT.jar"), skipped="SNAPSHOT version")
    unmappable = src(_maven("3.0", "lib-3.0.jar"), unmappable="bad coordinates")
    want = [src(_maven(), b"jar"), skipped, unmappable]
    have = [tgt(_maven(), b"jar"), tgt(checksum, b"sum"), tgt(_maven("2.0-SNAPSHOT", "x.jar")),
            tgt(_maven("3.0", "y.jar"))]
    only = {e.key.asset: e.action for e in plan(want, have, extra=lambda k: not k.asset.endswith(".sha1"))
            if e.source is None}
    assert only == {"lib-1.0.jar.sha1": Action.ONLY_IN_TARGET, "x.jar": Action.ONLY_IN_TARGET,
                    "y.jar": Action.ONLY_IN_TARGET}


def test_a_version_with_a_missing_or_differing_asset_still_counts_as_the_sources():
    """COPY and CONFLICT verdicts also mean the source has the version: its extra asset differs too."""
    want = [src(_maven(), b"jar"), src(_maven(asset="lib-1.0.pom"), b"pom")]
    have = [tgt(_maven(), b"other jar"), tgt(_maven(asset="lib-1.0.zip"), b"zip")]
    verdicts = {e.key.asset: e.action for e in plan(want, have, extra=_flag_all)}
    assert verdicts == {"lib-1.0.jar": Action.CONFLICT, "lib-1.0.pom": Action.COPY, "lib-1.0.zip": Action.CONFLICT}


@pytest.mark.parametrize("fmt, version, asset, differs", [
    ("maven", "1.0", "lib-1.0-sources.jar", True),
    ("maven", "1.0", "lib-1.0.jar.asc", True),  # a signature is an item in a source listing: it is migrated
    ("maven", "1.0", "lib-1.0.jar.sha1", False),  # checksums and metadata: the target derives them
    ("maven", "1.0", "lib-1.0.pom.md5", False),
    ("maven", "1.0", "maven-metadata.xml", False),
    ("maven", "1.0-SNAPSHOT", "lib-1.0-20240101.120000-1.jar", False),  # builds depend on the target's history
    ("generic", "1.0", "notes.txt", True),
    ("pypi", "1.0", "lib-1.0-py3-none-any.whl", True),
    ("pypi", "1.0", "lib-1.0.tar.gz", True),
    ("pypi", "1.0", "lib-1.0.tar.gz.asc", False),
    ("ruby", "1.0", "lib-1.0-java.gem", True),
    ("ruby", "1.0", "lib-1.0.gemspec.rz", False),
])
def test_which_extra_target_assets_make_a_shared_version_differ(fmt, version, asset, differs):
    from ferry.migrators import MIGRATORS

    ns = "" if fmt in ("pypi", "ruby") else "com.acme"
    assert MIGRATORS[fmt].extra_differs(ItemKey(fmt, ns, "lib", version, asset)) is differs


@pytest.mark.parametrize("fmt", ["npm", "nuget", "swift", "cargo"])
def test_single_asset_formats_never_hold_an_extra_asset_against_the_source(fmt):
    """One asset per version: a second one in the target is the registry's own, not a copy gone wrong."""
    from ferry.migrators import MIGRATORS

    assert MIGRATORS[fmt].single_asset and getattr(MIGRATORS[fmt], "extra_differs", None) is None


def test_a_target_only_unfinished_version_the_source_lists_nothing_of_is_a_conflict():
    # A version deleted in the source after part of it was published leaves that part Unfinished in the target:
    # unusable, and no later run would finish it or say so if it passed as the target's own.
    jar, pom = ItemKey("maven", "g", "a", "1.0", "a-1.0.jar"), ItemKey("maven", "g", "a", "1.0", "a-1.0.pom")
    (entry,) = plan([], [tgt(jar, status="Unfinished")])
    assert (entry.action, entry.reason) == (Action.CONFLICT, ORPHANED_UNFINISHED)
    # The target's own Published versions stay its own, and a version the source still lists part of is
    # finished by the transfer as before.
    assert one([], [tgt(jar)]).action is Action.ONLY_IN_TARGET
    unfinished = [tgt(jar, status="Unfinished"), tgt(pom, status="Unfinished")]
    entries = {e.key: e.action for e in plan([src(pom)], unfinished)}
    assert entries == {pom: Action.COPY, jar: Action.ONLY_IN_TARGET}
