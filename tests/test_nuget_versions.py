"""NuGet identity rules, checked against the documented examples in both implementations: the stand-in's
(:mod:`ferry.sandbox.codeartifact.formats.nuget_meta`) and the migrator's (:mod:`ferry.migrators.nuget`).

Examples: CodeArtifact nuget-name-normalization and NuGet's "Normalized version numbers"
(learn.microsoft.com/nuget/concepts/package-versioning).
"""

from __future__ import annotations

import pytest

from ferry.migrators import nuget as migrator
from ferry.sandbox.codeartifact.formats import nuget_meta as standin

DOCUMENTED = [
    # leading zeros are removed
    ("1.00", "1.0.0"), ("1.01.1", "1.1.1"), ("1.00.0.1", "1.0.0.1"),
    # a zero fourth part is omitted
    ("1.0.0.0", "1.0.0"), ("1.0.01.0", "1.0.1"),
    # SemVer 2.0.0 build metadata is removed
    ("1.0.7+r3456", "1.0.7"),
    # CodeArtifact's own example (--version 12.0.03.0 -> 12.0.3)
    ("12.0.03.0", "12.0.3"),
    # NuGet always shows three parts; release labels keep their text
    ("1", "1.0.0"), ("2.1", "2.1.0"), ("1.0.0-Beta.1+sha.abc", "1.0.0-Beta.1"), ("4.0.0.7-rc", "4.0.0.7-rc"),
]
INVALID = ["", "a.b", "1.0.0.0.0", "1.0.0-", "1..0", "1.0.0+", "v1.0.0", "1.0.0-beta_1"]


@pytest.mark.parametrize("raw, normalized", DOCUMENTED)
def test_versions_normalize_as_documented_in_both_implementations(raw, normalized):
    assert migrator.normalize_version(raw) == normalized
    parsed = standin.parse_version(raw)
    assert parsed is not None and parsed.normalized == normalized and parsed.lower == normalized.lower()


@pytest.mark.parametrize("raw", INVALID)
def test_invalid_versions_are_refused_by_both(raw):
    assert migrator.normalize_version(raw) is None
    assert standin.parse_version(raw) is None


@pytest.mark.parametrize("raw, semver2", [("1.0.0", False), ("1.0.0-beta", False), ("1.0.0-beta.1", True),
                                          ("1.0.0+build", True), ("1.0.0.1-rc", False)])
def test_semver2_versions_are_told_apart(raw, semver2):
    assert standin.parse_version(raw).semver2 is semver2


def test_precedence_orders_like_nuget():
    ordered = ["0.9.0", "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-Alpha.beta", "1.0.0-beta.2", "1.0.0-beta.11",
               "1.0.0-rc.1", "1.0.0", "1.0.0.1", "1.0.1", "1.10.0", "2.0.0"]
    shuffled = sorted(ordered, key=lambda v: hash(v) % 7)
    assert sorted(shuffled, key=lambda v: standin.parse_version(v).sort_key()) == ordered


@pytest.mark.parametrize("package_id, ok", [
    ("Newtonsoft.Json", True), ("Microsoft.NETCore.App.Ref", True), ("my-pkg_2", True), ("A", True),
    ("a..b", False), (".a", False), ("a.", False), ("a b", False), ("a/b", False), ("x" * 101, False), ("", False),
])
def test_package_id_rules(package_id, ok):
    assert migrator.valid_id(package_id) is ok
    assert standin.valid_id(package_id) is ok


@pytest.mark.parametrize("filename, expected", [
    ("Newtonsoft.Json.13.0.1.nupkg", ("Newtonsoft.Json", "13.0.1")),
    ("Microsoft.NETCore.App.Ref.8.0.0-rc.2.23479.6.nupkg", ("Microsoft.NETCore.App.Ref", "8.0.0-rc.2.23479.6")),
    ("Acme.2.Tools.3.1.0.nupkg", ("Acme.2.Tools", "3.1.0")),
    ("Acme.1.0.0-beta.2.nupkg", ("Acme", "1.0.0-beta.2")),  # NuGet names files by versions of 3 or 4 numbers
    # Names that read as two ids and versions as NuGet names files: only the package's .nuspec can tell.
    ("Acme.V2.Client.1.0.0.0.nupkg", None),  # or Acme.V2.Client.1 0.0.0
    ("Acme.2.1.0.0.nupkg", None),  # Acme 2.1.0.0 or Acme.2 1.0.0
    ("Acme.1.0.nupkg", None),  # Acme 1.0 or Acme.1 0
    ("acme.tools.3.1.0.snupkg", ("acme.tools", "3.1.0")),
    ("readme.nupkg", None),
])
def test_id_and_version_from_a_file_name(filename, expected):
    assert migrator.split_filename(filename) == expected


def test_asset_name_is_lowercased_from_normalized_parts():
    assert migrator.asset_name("acme.tools", migrator.normalize_version("01.2.0.0-RC")) == "acme.tools.1.2.0-rc.nupkg"
