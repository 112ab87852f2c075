"""Claims of normalizing formats (NuGet, Swift, Cargo, RubyGems): the same verdicts in memory and spilled to a
scratch file, which goes with the listing, and memory that stays small however many versions are claimed."""

from __future__ import annotations

import hashlib
import os
import tracemalloc

import pytest

from ferry.migrators.claims import Claims
from ferry.model import Checksums
from ferry.sources.base import SourceFile


def _file(path: str, content: str | None) -> SourceFile:
    sha = hashlib.sha256(content.encode()).hexdigest() if content is not None else None
    return SourceFile("nuget-hosted", path, f"http://nexus.example:8081/repository/nuget-hosted/{path}",
                      checksums=Checksums(sha256=sha))


class _Mapping:
    pass


@pytest.mark.parametrize("spill_after", [None, 3])
def test_claims_answer_the_same_before_and_after_spilling(spill_after):
    claims, mapping, other = Claims(spill_after=spill_after), _Mapping(), _Mapping()
    for i in range(10):
        assert claims.claim(mapping, ("acme.tools", f"1.{i}.0"), _file(f"Acme.Tools/1.{i}", f"v{i}")) is None
    first = _file("Acme.Tools/1.7", "v7")
    assert claims.claim(mapping, ("acme.tools", "1.7.0"), first) is None  # the same file listed again
    assert claims.claim(mapping, ("acme.tools", "1.7.0"), _file("acme.tools/1.7.0.0", "v7")) is None  # same bytes
    assert claims.claim(mapping, ("acme.tools", "1.7.0"), _file("acme.tools/1.7.0.0", "other")) == "Acme.Tools/1.7"
    assert claims.claim(mapping, ("acme.tools", "1.7.0"), _file("acme.tools/1.7.0.0", None)) == "Acme.Tools/1.7"
    assert claims.claim(other, ("acme.tools", "1.7.0"), _file("acme.tools/1.7.0.0", "other")) is None  # own listing
    # identities of tuples within tuples (RubyGems' canonical segments) are told apart by their structure
    assert claims.claim(mapping, ("eqv", ("1",), "ruby"), _file("eqv-1.0.gem", "a")) is None
    assert claims.claim(mapping, ("eqv", ("1",), "ruby"), _file("eqv-1.0.0.gem", "b")) == "eqv-1.0.gem"
    assert claims.claim(mapping, ("eqv", ("1", "0"), "ruby"), _file("eqv-1.0.0.gem", "b")) is None

    listing = claims._listings[id(mapping)][1]
    path = listing._path
    assert (path is not None) == (spill_after is not None)
    claims.forget(mapping)
    assert path is None or not os.path.exists(path)  # the listing's scratch file goes with it
    assert claims.claim(mapping, ("acme.tools", "1.7.0"), _file("acme.tools/1.7.0.0", "other")) is None  # afresh


def test_claims_past_the_spill_hold_little_memory():
    """One claim per version of a NuGet repository: kept as Python objects, 30,000 held 20 MB (100,000: 64 MB)."""
    claims, mapping = Claims(), _Mapping()
    tracemalloc.start()
    try:
        for i in range(30_000):
            name, version = f"Acme.Package{i // 5}", f"1.{i % 5}.0"
            file = _file(f"{name}/{version}/{name.lower()}.{version}.nupkg", str(i))
            assert claims.claim(mapping, (name.lower(), version), file) is None
        held, _peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        claims.forget(mapping)
    assert held < 6_000_000, held
