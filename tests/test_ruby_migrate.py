"""Nexus → CodeArtifact for RubyGems, end to end on the stand-ins, proven with the real ``gem install``."""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import urllib3

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.ruby import RubyMigrator, canonical_version
from ferry.sandbox.seed import NexusSeeder, gem
from ferry.sources.base import SourceFile
from gem_cargo_clients import gem_install, needs_gem, ruby

MAPPING = RepositoryMapping(source="gems-internal", target="gem-store", namespace="")


def _file(path: str, **hints: str) -> SourceFile:
    return SourceFile(repository="gems-internal", path=path, url=f"http://nexus/repository/gems-internal/{path}",
                      hints=hints)


@pytest.mark.parametrize("path, hints, key", [
    ("gems/rake-13.0.6.gem", {"name": "rake", "version": "13.0.6", "platform": "ruby"},
     ("rake", "13.0.6", "rake-13.0.6.gem")),
    ("gems/nokogiri-1.15.0-x86_64-linux.gem", {"name": "nokogiri", "version": "1.15.0", "platform": "x86_64-linux"},
     ("nokogiri", "1.15.0", "nokogiri-1.15.0-x86_64-linux.gem")),
    # Without hints the file name decides; a name may hold dashes and digits.
    ("gems/foo-2fa-1.0.0.gem", {}, ("foo-2fa", "1.0.0", "foo-2fa-1.0.0.gem")),
    ("gems/rails-7.1.0.beta1.gem", {}, ("rails", "7.1.0.beta1", "rails-7.1.0.beta1.gem")),
    ("gems/ffi-1.16.3-x64-mingw-ucrt.gem", {}, ("ffi", "1.16.3", "ffi-1.16.3-x64-mingw-ucrt.gem")),
    ("gems/jdbc-1.0.0-java.gem", {"name": "jdbc", "version": "1.0.0-java", "platform": "java"},
     ("jdbc", "1.0.0", "jdbc-1.0.0-java.gem")),
    # The asset name is RubyGems' file name, with the canonical platform.
    ("gems/old-1.0-i686-linux.gem", {"name": "old", "version": "1.0", "platform": "i686-linux"},
     ("old", "1.0", "old-1.0-x86-linux.gem")),
    # A name ending in "-" and digits: the only reading as RubyGems names files (no platform "1.0" or CPU "1.0").
    ("gems/foo-2-1.0.gem", {}, ("foo-2", "1.0", "foo-2-1.0.gem")),
    ("gems/foo-2-1.0-java.gem", {}, ("foo-2", "1.0", "foo-2-1.0-java.gem")),
    # Hints tell name and version of a file name that reads two ways; the file name still gives the platform.
    ("gems/baz-1.0-x86_64-darwin-19.gem", {"name": "baz", "version": "1.0"},
     ("baz", "1.0", "baz-1.0-x86_64-darwin-19.gem")),
])
def test_identify_from_hints_or_file_name(path, hints, key):
    item = RubyMigrator().identify(_file(path, **hints), MAPPING)
    assert item is not None and item.unmappable is None
    assert (item.key.format, item.key.namespace) == ("ruby", "")
    assert (item.key.package, item.key.version, item.key.asset) == key


def test_identify_skips_index_files_and_flags_what_it_cannot_name():
    migrator = RubyMigrator()
    for path in ("quick/Marshal.4.8/rake-13.0.6.gemspec.rz", "specs.4.8.gz", "latest_specs.4.8"):
        assert migrator.identify(_file(path), MAPPING) is None
    item = migrator.identify(_file("gems/no_version.gem"), MAPPING)
    assert item is not None and "cannot tell" in item.unmappable


@pytest.mark.parametrize("path, hints, unknown", [
    ("gems/rake-13.0.6.gem", {}, False),
    ("gems/foo-2-1.0.gem", {}, False),
    ("gems/baz-1.0-x86_64-darwin-19.gem", {}, True),  # or gem "baz-1.0-x86_64-darwin" version 19
    ("gems/baz-1.0-x86_64-darwin-19.gem", {"name": "baz", "version": "1.0"}, False),
    ("uploads/acme-tool.gem", {}, True),  # no version in the name at all
    ("specs.4.8.gz", {}, False),
])
def test_only_a_gem_whose_hints_and_file_name_do_not_tell_it_is_read(path, hints, unknown):
    assert RubyMigrator().identity_unknown(_file(path, **hints)) is unknown


def test_what_a_gem_says_of_itself_names_it_and_an_unreadable_one_is_unmappable_saying_why():
    migrator = RubyMigrator()
    _, data = gem("baz", "1.0", platform="x86_64-darwin-19")
    read = migrator.read_identity(_file("gems/baz-1.0-x86_64-darwin-19.gem"), io.BytesIO(data))
    item = migrator.identify(_file("gems/baz-1.0-x86_64-darwin-19.gem", **read), MAPPING)
    assert item.unmappable is None
    assert (item.key.package, item.key.version, item.key.asset) == ("baz", "1.0", "baz-1.0-x86_64-darwin-19.gem")
    with pytest.raises(ItemError, match="not a gem"):
        migrator.read_identity(_file("uploads/x.gem"), io.BytesIO(b"junk" * 200))
    item = migrator.identify(_file("uploads/x.gem", unreadable="not a gem: no metadata.gz"), MAPPING)
    assert item.key.asset == "uploads/x.gem"
    assert item.unmappable == ("cannot tell the gem name and version of 'uploads/x.gem': its file name does not say, "
                               "and its gemspec could not be read (not a gem: no metadata.gz); set its gem.name and "
                               "gem.version properties in Artifactory, or replace it with a good gem")


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("rubygems", "gems-internal")
    built = {}
    for name, version, kw in [("acme-base", "1.0.0", {}), ("acme-base", "1.1.0", {}),
                              ("acme-app", "0.5.0", {"dependencies": {"acme-base": "~> 1.0"}}),
                              ("acme-native", "3.0.0", {}), ("acme-native", "3.0.0", {"platform": "x86_64-linux"}),
                              ("acme-pre", "2.0.0.rc1", {})]:
        filename, data = gem(name, version, **kw)
        seeder.rubygems("gems-internal", filename, data)
        built[filename] = data
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="gem-store")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "gems-internal", "target": "gem-store"}])
    return {"ca": ca, "job": str(job), "state": str(tmp_path / "ferry.db"), "built": built, "sandbox": sandbox,
            "tmp": tmp_path}


def _assets(ca, package, version):
    out = ca.list_package_version_assets(domain="acme", repository="gem-store", format="ruby", package=package,
                                         packageVersion=version)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def _report(state: str) -> dict:
    from typer.testing import CliRunner

    from ferry.cli import app

    result = CliRunner().invoke(app, ["report", "--state", state])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.clients
@needs_gem
def test_migrate_gems_rerun_uploads_nothing_and_gem_install_works(world):
    ca, built = world["ca"], world["built"]
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 0
    sha = {name: hashlib.sha256(data).hexdigest() for name, data in built.items()}
    assert _assets(ca, "acme-native", "3.0.0") == {"acme-native-3.0.0.gem": sha["acme-native-3.0.0.gem"],
                                                   "acme-native-3.0.0-x86_64-linux.gem":
                                                       sha["acme-native-3.0.0-x86_64-linux.gem"]}
    assert _assets(ca, "acme-app", "0.5.0") == {"acme-app-0.5.0.gem": sha["acme-app-0.5.0.gem"]}
    described = ca.describe_package_version(domain="acme", repository="gem-store", format="ruby",
                                            package="acme-app", packageVersion="0.5.0")["packageVersion"]
    assert described["status"] == "Published" and described["summary"] == "acme-app for the ferry demo"

    store = world["sandbox"].apps["codeartifact"].store
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 0
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert ferry("verify", world["job"], "--state", world["state"]) == 0
    assert _report(world["state"])["states"].get("same") == len(built)

    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="gem-store", format="ruby")["repositoryEndpoint"]
    scheme, rest = endpoint.split("://", 1)
    home = world["tmp"] / "gem-home"
    gem_install(home, f"{scheme}://aws:{token}@{rest}", "acme-app", "acme-native")
    assert ruby(home, "require 'acme_app'; require 'acme_base'; print AcmeApp::VERSION, ' ', AcmeBase::VERSION") == \
        "0.5.0 1.1.0"
    assert (home / "gems" / "cache" / "acme-native-3.0.0-x86_64-linux.gem").read_bytes() == \
        built["acme-native-3.0.0-x86_64-linux.gem"]


def test_a_different_gem_already_in_the_target_is_a_conflict_left_untouched(world, capsys):
    store = world["sandbox"].apps["codeartifact"].store
    repo = store.repository(store.domain("us-east-1", None, "acme"), "gem-store")
    _, planted = gem("acme-base", "1.1.0", summary="planted")
    store.publish_asset(repo, "ruby", None, "acme-base", "1.1.0", "acme-base-1.1.0.gem", store.blobs.put_bytes(planted))
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 1
    assert "acme-base@1.1.0" in capsys.readouterr().out
    assert _assets(world["ca"], "acme-base", "1.1.0") == {"acme-base-1.1.0.gem": hashlib.sha256(planted).hexdigest()}
    assert _assets(world["ca"], "acme-base", "1.0.0")  # the rest arrived
    report = _report(world["state"])
    assert report["states"]["conflict"] == 1 and report["states"]["confirmed"] == len(world["built"]) - 1


class _Response:
    """What a source's open_locator returns, as far as reading an identity needs it."""

    def __init__(self, raw):
        self.raw = raw

    def close(self) -> None:
        pass


class _BreaksOff(io.RawIOBase):
    """A body whose connection breaks as soon as it is read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        raise urllib3.exceptions.ProtocolError("Connection broken: IncompleteRead")


def test_a_gemspec_read_that_breaks_off_is_retried_and_one_that_keeps_breaking_fails_that_gem_alone():
    """The listing reads the gemspec of a gem it cannot name under the request retry: a body that breaks off
    is read again; once the retries are spent, that gem is unmappable with the reason, and the listing goes on."""
    from ferry import inventory
    from ferry.config import Options
    from ferry.retry import REQUEST, retrying

    _, data = gem("acme-x", "1.0", platform="x86_64-darwin-19")
    flaky, broken = "gems/acme-x-1.0-x86_64-darwin-19.gem", "uploads/acme-tool.gem"
    opened: list[str] = []

    class Source:
        kind = "artifactory"

        def files(self, repository):
            return iter([_file(flaky), _file(broken)])

        def open_locator(self, locator, label):
            opened.append(label)
            return _Response(io.BytesIO(data) if label == flaky and opened.count(label) > 1 else _BreaksOff())

    items = list(inventory.want(Source(), MAPPING, RubyMigrator(), Options(),
                                retry=retrying(REQUEST, sleep=lambda seconds: None)))
    assert [(i.key.package, i.key.version, i.key.asset, i.unmappable) for i in items[:1]] == [
        ("acme-x", "1.0", "acme-x-1.0-x86_64-darwin-19.gem", None)]
    assert items[1].key.asset == broken and items[1].unmappable.startswith(
        f"cannot tell the gem name and version of {broken!r}: its file name does not say, and its gemspec could "
        f"not be read (reading {broken}: ProtocolError)")
    assert opened == [flaky, flaky] + [broken] * REQUEST.max_attempts


@pytest.mark.parametrize("path, what_to_change", [
    ("uploads/acme-tool.gem", "set its gem.name and gem.version properties"),
    ("Acme.2.1.0.0.nupkg", "set its nuget.id and nuget.version properties"),
])
def test_an_identity_read_that_kept_failing_says_to_run_again_not_to_change_the_package(path, what_to_change):
    """A gemspec or .nuspec read that broke off on every attempt is the connection's doing, not the file's: the
    reason told the user to set the package's properties in Artifactory or replace it with a good one, which
    cures nothing. It says to run the same command again; a file that is no package still gets that advice."""
    from ferry import inventory
    from ferry.config import Options
    from ferry.migrators.nuget import NugetMigrator
    from ferry.retry import REQUEST, retrying

    class Source:
        kind = "artifactory"

        def files(self, repository):
            return iter([_file(path), _file("not-a-package/" + path)])

        def open_locator(self, locator, label):
            return _Response(io.BytesIO(b"not a package at all" * 10) if label.startswith("not-a-package/")
                             else _BreaksOff())

    migrator = RubyMigrator() if path.endswith(".gem") else NugetMigrator()
    flaky, broken = inventory.want(Source(), MAPPING, migrator, Options(),
                                   retry=retrying(REQUEST, sleep=lambda seconds: None))
    assert f"could not be read (reading {path}: ProtocolError)" in flaky.unmappable, flaky.unmappable
    assert flaky.unmappable.endswith("it kept failing through every retry: run the same command again to resume"), \
        flaky.unmappable
    assert what_to_change not in flaky.unmappable
    assert what_to_change in broken.unmappable, broken.unmappable


def test_two_gems_rubygems_takes_for_one_version_migrate_once_and_the_other_is_named_unmappable(world):
    """RubyGems compares versions by their canonical segments: 1.0 and 1.0.0 are one version to ``gem``, which
    fetched eqv-1.0.gem for ``-v 1.0.0`` once both were in the target. The later file listed is now unmappable,
    naming the first; the same version for another platform is its own gem and migrates."""
    seeder = NexusSeeder(world["sandbox"].urls()["nexus"])
    for version, platform in (("1.0", "ruby"), ("1.0.0", "ruby"), ("1.0.0", "java"), ("2.0.pre.1", "ruby"),
                              ("2.0.0.pre.1.0", "ruby")):
        seeder.rubygems("gems-internal", *gem("eqv", version, platform=platform, summary=version))
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 1
    failures = {f["key"]: (f["state"], f["reason"]) for f in _report(world["state"])["failures"]}
    assert failures == {
        "ruby:eqv@1.0.0/(collision) gems/eqv-1.0.0.gem": (
            "unmappable", "eqv 1.0.0 (ruby) is to RubyGems the gem version 'gems/eqv-1.0.gem' in this source "
            "already is (RubyGems drops trailing zeros of a version); not migrated: keep one of the two (exclude or "
            "remove the other in the source)"),
        "ruby:eqv@2.0.0.pre.1.0/(collision) gems/eqv-2.0.0.pre.1.0.gem": (
            "unmappable", "eqv 2.0.0.pre.1.0 (ruby) is to RubyGems the gem version 'gems/eqv-2.0.pre.1.gem' in this "
            "source already is (RubyGems drops trailing zeros of a version); not migrated: keep one of the two "
            "(exclude or remove the other in the source)")}
    assert set(_assets(world["ca"], "eqv", "1.0")) == {"eqv-1.0.gem"}
    assert set(_assets(world["ca"], "eqv", "1.0.0")) == {"eqv-1.0.0-java.gem"}


@pytest.mark.parametrize("version, canonical", [
    ("1.0.0", ("1",)), ("1.0", ("1",)), ("1", ("1",)), ("1.01", ("1", "1")), ("1.0.1", ("1", "0", "1")),
    ("2.0.0.pre.1.0", ("2", "pre", "1")), ("2.0.pre1", ("2", "pre", "1")), ("1.0.0.rc1", ("1", "rc", "1")),
    ("0.0.0", ()), ("1.0.A", ("1", "A")),
])
def test_canonical_version_is_what_rubygems_compares(version, canonical):
    assert canonical_version(version) == canonical
