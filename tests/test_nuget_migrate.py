"""NuGet migrator: identity from source listings, the push against the stand-in, Nexus → CodeArtifact end to end."""

from __future__ import annotations

import hashlib
import io
import os
import sqlite3
import zipfile

import pytest
from werkzeug.wrappers import Response

from artifactory_packages import unseekable_zip
from e2e_helpers import ForwardOnly, aws_env, codeartifact, ferry, target_domain, write_job
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators import MIGRATORS
from ferry.migrators.base import PublishContext, Spooled
from ferry.migrators.nuget import SYMBOLS, NugetMigrator
from ferry.model import Checksums, ItemKey, SourceItem
from ferry.sandbox.seed import NexusSeeder, nupkg
from ferry.sources.base import SourceFile

MAPPING = RepositoryMapping(source="nuget-internal", target="nuget-store", namespace="")


def nexus_file(package_id: str, version: str, data: bytes = b"", path: str | None = None) -> SourceFile:
    """A file as NexusSource lists a NuGet component: path ``{id}/{version}``, hints name/version."""
    data = data or nupkg(package_id, version)
    path = path or f"{package_id}/{version}"
    return SourceFile("nuget-internal", path, f"http://nexus/repository/nuget-internal/{path}", size=len(data),
                      checksums=Checksums(sha256=hashlib.sha256(data).hexdigest()),
                      hints={"name": package_id, "version": version})


def plain_file(path: str, **hints) -> SourceFile:
    return SourceFile("nuget-local", path, f"http://af/nuget-local/{path}", size=10, hints=hints)


def test_migrator_is_registered():
    assert isinstance(MIGRATORS["nuget"], NugetMigrator) and MIGRATORS["nuget"].single_asset


def test_identity_from_nexus_hints_is_normalized():
    item = NugetMigrator().identify(nexus_file("Acme.Tools", "3.01.0.0+build"), MAPPING)
    assert item.unmappable is None
    assert item.key == ItemKey("nuget", "", "acme.tools", "3.1.0", "acme.tools.3.1.0.nupkg")
    assert item.locator == "http://nexus/repository/nuget-internal/Acme.Tools/3.01.0.0+build"


@pytest.mark.parametrize("path, hints, key", [
    ("Newtonsoft.Json.13.0.1.nupkg", {}, ("newtonsoft.json", "13.0.1", "newtonsoft.json.13.0.1.nupkg")),
    ("feeds/acme/Acme.Lib.2.0.0-RC.1.nupkg", {}, ("acme.lib", "2.0.0-RC.1", "acme.lib.2.0.0-rc.1.nupkg")),
    ("x/weird-name.nupkg", {"nuget.id": "Real.Id", "nuget.version": "1.0"},
     ("real.id", "1.0.0", "real.id.1.0.0.nupkg")),
])
def test_identity_from_file_names_and_artifactory_properties(path, hints, key):
    item = NugetMigrator().identify(plain_file(path, **hints), MAPPING)
    assert item.unmappable is None and (item.key.package, item.key.version, item.key.asset) == key


@pytest.mark.parametrize("path", ["Acme.Tools.nuspec", "index.json", ".nuget/v3/index.json",
                                  "Acme.Tools.1.0.0.nupkg.sha512",
                                  "notes.txt", "some/other/file"])
def test_files_that_are_not_packages_are_not_items(path):
    assert NugetMigrator().identify(plain_file(path), MAPPING) is None


def test_symbol_packages_are_reported_not_dropped():
    item = NugetMigrator().identify(plain_file("Acme.Tools.3.1.0.snupkg"), MAPPING)
    assert item is not None and item.unmappable == SYMBOLS
    assert item.key.asset == "Acme.Tools.3.1.0.snupkg" and item.key.version == "3.1.0"


def _entries(data: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    return {info.filename: archive.read(info) for info in archive.infolist()}


def test_a_package_read_as_a_stream_is_read_only_up_to_its_nuspec():
    """Naming a package from its bytes (a listing with nothing else to go on) reads it as it downloads: NuGet's
    pack writes _rels/.rels and then the .nuspec first, so the megabytes after them are not read, whether the
    entries' sizes are in their headers or (written to a pipe) after their data."""
    body = os.urandom(4 * 1024 ** 2)
    packed = nupkg("Acme.2", "1.0.0", body=body)
    piped = unseekable_zip(_entries(packed), zipfile.ZIP_DEFLATED)
    for data in (packed, piped):
        stream = ForwardOnly(data)
        assert NugetMigrator().read_identity(plain_file("Acme.2.1.0.0.nupkg"), stream) == {
            "name": "Acme.2", "version": "1.0.0"}
        assert stream.taken < 256 * 1024


def test_a_package_whose_nuspec_comes_late_is_read_whole_and_a_broken_one_is_refused():
    entries = _entries(nupkg("Acme.2", "1.0.0"))
    nuspec_last = unseekable_zip(dict(sorted(entries.items(), key=lambda e: e[0].endswith(".nuspec"))))
    assert NugetMigrator().read_identity(plain_file("Acme.2.1.0.0.nupkg"), ForwardOnly(nuspec_last)) == {
        "name": "Acme.2", "version": "1.0.0"}
    for junk in (b"not a zip" * 100, b"PK\x03\x04" + b"\x00" * 40):
        with pytest.raises(ItemError, match="corrupt NuGet package"):
            NugetMigrator().read_identity(plain_file("Acme.2.1.0.0.nupkg"), ForwardOnly(junk))


NUSPEC = (b'<?xml version="1.0"?><package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">'
          b"<metadata><id>Acme.2</id><version>1.0.0</version></metadata></package>")


def _zip(entries: dict[str, tuple[bytes, int]]) -> bytearray:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, (data, method) in entries.items():
            archive.writestr(name, data, compress_type=method)
    return bytearray(buf.getvalue())


def _patch(data: bytearray, name: bytes, local_offset: int, central_offset: int, value: int) -> bytearray:
    """``data`` with the 2-byte field of entry ``name`` at these offsets of its local and central headers set."""
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        at = data.find(signature)
        while data[at + (30 if signature == b"PK\x03\x04" else 46):].find(name) != 0:
            at = data.find(signature, at + 1)
        data[at + offset:at + offset + 2] = value.to_bytes(2, "little")
    return data


def _odd_packages() -> dict[str, bytes]:
    """Packages a zip reader cannot read, each in another way; the walk from the start gives up on each first
    (an entry compressed otherwise than stored or deflated), so the package is read whole."""
    rels = (b"<Relationships/>" * 20, zipfile.ZIP_LZMA)
    method = _patch(_zip({"Acme.2.nuspec": (NUSPEC, zipfile.ZIP_BZIP2)}), b"Acme.2.nuspec", 8, 10, 9)  # Deflate64
    encrypted = _patch(_zip({"Acme.2.nuspec": (NUSPEC, zipfile.ZIP_BZIP2)}), b"Acme.2.nuspec", 6, 8, 1)
    lzma = _zip({"_rels/.rels": rels, "Acme.2.nuspec": (NUSPEC * 4, zipfile.ZIP_LZMA)})
    start = lzma.find(b"Acme.2.nuspec") + len("Acme.2.nuspec") + 20
    lzma[start:start + 40] = b"\xff" * 40
    deflate = _zip({"_rels/.rels": rels, "Acme.2.nuspec": (NUSPEC * 4, zipfile.ZIP_DEFLATED)})
    start = deflate.find(b"Acme.2.nuspec") + len("Acme.2.nuspec")
    deflate[start:start + 8] = b"\xff" * 8
    offset = _zip({"_rels/.rels": rels, "Acme.2.nuspec": (NUSPEC, zipfile.ZIP_LZMA)})
    end = offset.rfind(b"PK\x05\x06")
    offset[end + 16:end + 20] = (int.from_bytes(offset[end + 16:end + 20], "little") + 100).to_bytes(4, "little")
    encoding = _zip({"Acme.2.nuspec": (NUSPEC.replace(b'version="1.0"?>', b'version="1.0" encoding="x-acme"?>'),
                                       zipfile.ZIP_DEFLATED)})
    return {"compression method 9": bytes(method), "encrypted": bytes(encrypted), "corrupt LZMA": bytes(lzma),
            "corrupt deflate": bytes(deflate), "central directory offset": bytes(offset),
            "unknown XML encoding": bytes(encoding)}


@pytest.mark.parametrize("what", sorted(_odd_packages()))
def test_a_package_no_zip_reader_can_read_is_refused_as_corrupt_not_a_crash(what):
    """Read while the source is listed, any error of the zip reader is this package's: an ItemError (the
    package unmappable, saying why), never another exception, which would end the listing and the run."""
    data = _odd_packages()[what]
    for read in (lambda: NugetMigrator().read_identity(plain_file("Acme.2.1.0.0.nupkg"), ForwardOnly(data)),
                 lambda: NugetMigrator().read_identity(plain_file("Acme.2.1.0.0.nupkg"), io.BytesIO(data))):
        with pytest.raises(ItemError, match="corrupt NuGet package"):
            read()


def test_a_listing_goes_on_past_a_package_it_cannot_read():
    from ferry import inventory
    from ferry.config import Options

    odd, good = _odd_packages()["compression method 9"], nupkg("Acme.2", "1.0.0")

    class Response:
        def __init__(self, data: bytes):
            self.raw = io.BytesIO(data)

        def close(self) -> None:
            pass

    class Source:
        kind = "artifactory"

        def files(self, repository):
            return iter([plain_file("odd/Acme.2.1.0.0.nupkg"), plain_file("good/Acme.2.1.0.0.nupkg")])

        def open_locator(self, locator, label):
            return Response(odd if label.startswith("odd/") else good)

    items = list(inventory.want(Source(), MAPPING, NugetMigrator(), Options()))
    assert [(i.key.package, i.key.version, i.unmappable) for i in items[1:]] == [("acme.2", "1.0.0", None)]
    assert items[0].unmappable.startswith("cannot tell the NuGet id and version of 'odd/Acme.2.1.0.0.nupkg': its "
                                          "file name does not say, and its .nuspec could not be read (corrupt NuGet "
                                          "package: NotImplementedError")


@pytest.mark.parametrize("path, hints, unknown", [
    ("Newtonsoft.Json.13.0.1.nupkg", {}, False),
    ("Acme.2.1.0.0.nupkg", {}, True),
    ("Acme.2.1.0.0.nupkg", {"nuget.id": "Acme.2", "nuget.version": "1.0.0"}, False),
    ("mystery.nupkg", {}, True),
    ("Acme.2.1.0.0.snupkg", {}, False),  # a symbol package is unmappable whatever it is
    ("index.json", {}, False),
])
def test_only_a_package_whose_hints_and_file_name_do_not_tell_it_is_read(path, hints, unknown):
    assert NugetMigrator().identity_unknown(plain_file(path, **hints)) is unknown


def test_a_package_whose_nuspec_could_not_be_read_is_unmappable_saying_what_to_do():
    item = NugetMigrator().identify(plain_file("feeds/Acme.2.1.0.0.nupkg", unreadable="corrupt NuGet package: x"),
                                    MAPPING)
    assert item.key.asset == "feeds/Acme.2.1.0.0.nupkg"
    assert item.unmappable == ("cannot tell the NuGet id and version of 'feeds/Acme.2.1.0.0.nupkg': its file name "
                               "does not say, and its .nuspec could not be read (corrupt NuGet package: x); set its "
                               "nuget.id and nuget.version properties in Artifactory, or replace it with a good "
                               "package")


@pytest.mark.parametrize("path, hints, why", [
    ("Acme.Tools/one", {"name": "Acme.Tools", "version": "one"}, "not a valid NuGet version"),
    ("bad id/1.0.0", {"name": "bad id", "version": "1.0.0"}, "not a valid NuGet id"),
    ("mystery.nupkg", {}, "cannot tell the NuGet id"),
])
def test_unusable_identities_are_unmappable_with_a_reason(path, hints, why):
    item = NugetMigrator().identify(plain_file(path, **hints), MAPPING)
    assert item.unmappable and why in item.unmappable


def test_two_files_that_normalize_to_one_identity_are_not_merged():
    migrator = NugetMigrator()
    first = migrator.identify(nexus_file("Acme.Tools", "1.1.0"), MAPPING)
    second = migrator.identify(nexus_file("acme.tools", "1.1.0.0", data=nupkg("acme.tools", "1.1.0.0")), MAPPING)
    assert first.unmappable is None and first.key.version == "1.1.0"
    assert second.unmappable and "'Acme.Tools/1.1.0'" in second.unmappable and "acme.tools 1.1.0" in second.unmappable
    assert second.key != first.key
    # the same file listed again, or an exact copy elsewhere, is the same item, not a collision
    assert migrator.identify(nexus_file("Acme.Tools", "1.1.0"), MAPPING) == first
    copy = migrator.identify(nexus_file("Acme.Tools", "1.1.0", path="mirror/Acme.Tools.1.1.0.nupkg"), MAPPING)
    assert copy.unmappable is None and copy.key == first.key
    # a new listing (another mapping) starts afresh: whichever comes first there keeps the identity
    other = RepositoryMapping(source="nuget-internal", target="nuget-store", namespace="")
    again = migrator.identify(nexus_file("acme.tools", "1.1.0.0", data=nupkg("acme.tools", "1.1.0.0")), other)
    assert again.unmappable is None


def test_a_collision_is_found_while_another_mapping_is_listed_at_the_same_time():
    """The engine lists the next mapping while it plans the current one, so two listings call identify in
    turns: the one's claims must survive the other's, and the first file keeps its identity."""
    migrator = NugetMigrator()
    other = RepositoryMapping(source="nuget-other", target="nuget-other-store", namespace="")
    first = migrator.identify(nexus_file("Acme.Tools", "1.1.0"), MAPPING)
    assert migrator.identify(nexus_file("Contoso.Lib", "1.0.0"), other).unmappable is None
    second = migrator.identify(nexus_file("acme.tools", "1.1.0.0", data=nupkg("acme.tools", "1.1.0.0")), MAPPING)
    assert first.unmappable is None
    assert second.unmappable and "'Acme.Tools/1.1.0'" in second.unmappable and second.key != first.key
    # once a listing has ended, the next listing of that mapping starts afresh
    migrator.forget(MAPPING)
    assert migrator.identify(nexus_file("acme.tools", "1.1.0.0", data=nupkg("acme.tools", "1.1.0.0")),
                             MAPPING).unmappable is None


# -- publishing against the stand-in ----------------------------------------------------------------------


@pytest.fixture
def target(sandbox, tmp_path):
    url = sandbox.urls()["codeartifact"]
    ca, domain = target_domain(url, "nuget-store")
    import requests

    ctx = PublishContext(domain, "nuget-store", requests.Session(), {})
    return ca, domain, ctx, tmp_path


def spooled(tmp_path, data: bytes, name: str) -> Spooled:
    path = tmp_path / name
    path.write_bytes(data)
    return Spooled(path, len(data), Checksums(sha256=hashlib.sha256(data).hexdigest()))


def item_for(package: str, version: str, data: bytes) -> SourceItem:
    return SourceItem(ItemKey("nuget", "", package, version, f"{package}.{version}.nupkg".lower()), size=len(data),
                      checksums={"sha256": hashlib.sha256(data).hexdigest()})


def test_publish_discovers_the_push_resource_and_streams_the_package(target, monkeypatch):
    ca, domain, ctx, tmp = target
    monkeypatch.setenv("FERRY_CA_NUGET_PUBLISH_PATH", "api/v2/package")  # the @id is read, never assumed
    migrator = NugetMigrator()
    data = nupkg("Acme.Tools", "1.0.0")
    migrator.publish(ctx, item_for("acme.tools", "1.0.0", data), spooled(tmp, data, "a.nupkg"), True)
    assert migrator.publish_url(ctx).endswith("/nuget/nuget-store/api/v2/package/")
    state = domain.asset_state("nuget-store", "nuget", None, "acme.tools", "1.0.0", "acme.tools.1.0.0.nupkg")
    assert state.sha256 == hashlib.sha256(data).hexdigest() and state.status == "Published"
    desc = ca.describe_package_version(domain="acme", repository="nuget-store", format="nuget", package="acme.tools",
                                       packageVersion="1.0.0")["packageVersion"]
    assert desc["displayName"] == "Acme.Tools"


def test_publish_refuses_a_package_that_is_not_what_the_source_says(target):
    _ca, domain, ctx, tmp = target
    data = nupkg("Acme.Other", "1.0.0")
    with pytest.raises(ItemError, match="nuspec says Acme.Other 1.0.0"):
        NugetMigrator().publish(ctx, item_for("acme.tools", "1.0.0", data), spooled(tmp, data, "a.nupkg"), True)
    symbols = nupkg("Acme.Tools", "1.0.0", symbols=True)
    with pytest.raises(ItemError, match="symbol package"):
        NugetMigrator().publish(ctx, item_for("acme.tools", "1.0.0", symbols), spooled(tmp, symbols, "s.nupkg"), True)
    with pytest.raises(ItemError, match="corrupt NuGet package"):
        NugetMigrator().publish(ctx, item_for("acme.tools", "1.0.0", b"junk"), spooled(tmp, b"junk", "j.nupkg"), True)
    assert domain.asset_state("nuget-store", "nuget", None, "acme.tools", "1.0.0", "acme.tools.1.0.0.nupkg") is None


def test_publish_over_different_content_is_an_item_error(target):
    _ca, domain, ctx, tmp = target
    first, second = nupkg("Clash", "1.0.0"), nupkg("Clash", "1.0.0", body=b"other")
    NugetMigrator().publish(ctx, item_for("clash", "1.0.0", first), spooled(tmp, first, "1.nupkg"), True)
    NugetMigrator().publish(ctx, item_for("clash", "1.0.0", first), spooled(tmp, first, "2.nupkg"), True)
    with pytest.raises(ItemError, match="409"):
        NugetMigrator().publish(ctx, item_for("clash", "1.0.0", second), spooled(tmp, second, "3.nupkg"), True)
    state = domain.asset_state("nuget-store", "nuget", None, "clash", "1.0.0", "clash.1.0.0.nupkg")
    assert state.sha256 == hashlib.sha256(first).hexdigest()


# -- Nexus -> CodeArtifact end to end ----------------------------------------------------------------------

SEEDED = [("Acme.Tools", "1.0.0"), ("Acme.Tools", "1.1.0"), ("Acme.Tools", "2.0.0-beta.1"), ("Contoso.Lib", "3.2.0.0")]
REPOS = [{"source": "nuget-internal", "target": "nuget-store"}]


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("nuget", "nuget-internal")
    files = {(pid, ver): seeder.nuget("nuget-internal", pid, ver, dependencies={"Newtonsoft.Json": "13.0.1"})
             for pid, ver in SEEDED}
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="nuget-store")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    return {"ca": ca, "job": str(job), "state": str(tmp_path / "ferry.db"), "files": files, "seeder": seeder,
            "store": sandbox.apps["codeartifact"].store}


def _ledger(state: str) -> list[tuple]:
    with sqlite3.connect(state) as db:
        return db.execute("SELECT package, version, asset, state, source_sha256, target_sha256, reason FROM items "
                          "ORDER BY package, version").fetchall()


def _target_assets(ca) -> dict[tuple[str, str], dict[str, str]]:
    found = {}
    for pkg in ca.list_packages(domain="acme", repository="nuget-store")["packages"]:
        for ver in ca.list_package_versions(domain="acme", repository="nuget-store", format="nuget",
                                            package=pkg["package"])["versions"]:
            assets = ca.list_package_version_assets(domain="acme", repository="nuget-store", format="nuget",
                                                    package=pkg["package"], packageVersion=ver["version"])["assets"]
            found[(pkg["package"], ver["version"])] = {a["name"]: a["hashes"]["SHA-256"] for a in assets}
    return found


def test_nexus_nuget_repository_migrates_verified_and_a_rerun_uploads_nothing(world):
    ca, state = world["ca"], world["state"]
    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 0
    expected = {("acme.tools", "1.0.0"), ("acme.tools", "1.1.0"), ("acme.tools", "2.0.0-beta.1"),
                ("contoso.lib", "3.2.0")}
    assets = _target_assets(ca)
    assert set(assets) == expected
    for (pid, ver), data in world["files"].items():
        package, version = pid.lower(), ver.removesuffix(".0") if ver.count(".") == 3 else ver
        name = f"{package}.{version}.nupkg".lower()
        assert assets[(package, version)] == {name: hashlib.sha256(data).hexdigest()}
    for package, version, asset, row_state, source_sha, target_sha, _reason in _ledger(state):
        assert row_state == "confirmed" and source_sha == target_sha == assets[(package, version)][asset]
    display = ca.describe_package_version(domain="acme", repository="nuget-store", format="nuget",
                                          package="contoso.lib", packageVersion="3.2.0")["packageVersion"]
    assert display["displayName"] == "Contoso.Lib"

    before = world["store"].query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 0
    after = world["store"].query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert {row[3] for row in _ledger(state)} == {"same"}
    assert ferry("verify", world["job"], "--state", state) == 0


def test_a_rerun_downloads_nothing_when_the_source_lists_no_sha256(world, sandbox, monkeypatch):
    """Older Nexus releases list only SHA-1 and MD5. The first run downloads to hash; a rerun recalls the
    target's listings from the ledger and must still find every package the same by SHA-1, not download
    the whole repository again to hash it."""
    from dataclasses import replace

    from ferry.sources.nexus import NexusSource

    rest = sandbox.apps["nexus"].rest
    monkeypatch.setattr(rest, "config", replace(rest.config, checksums=("sha1", "md5")))
    downloads = []
    real = NexusSource.open_locator
    monkeypatch.setattr(NexusSource, "open_locator",
                        lambda self, locator, label: downloads.append(label) or real(self, locator, label))
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 0
    assert len(downloads) == len(SEEDED)
    downloads.clear()
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 0
    assert {row[3] for row in _ledger(world["state"])} == {"same"}
    assert downloads == []


def test_a_different_package_already_in_the_target_is_a_conflict_left_untouched(world, capsys):
    store = world["store"]
    repo = store.repository(store.domain("us-east-1", None, "acme"), "nuget-store")
    planted = nupkg("Acme.Tools", "1.1.0", body=b"planted")
    store.publish_asset(repo, "nuget", None, "acme.tools", "1.1.0", "acme.tools.1.1.0.nupkg",
                        store.blobs.put_bytes(planted), single_asset=True, display_name="Acme.Tools")
    state = world["state"]
    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 1
    assert "acme.tools@1.1.0" in capsys.readouterr().out
    assets = _target_assets(world["ca"])
    assert assets[("acme.tools", "1.1.0")] == {"acme.tools.1.1.0.nupkg": hashlib.sha256(planted).hexdigest()}
    assert ("acme.tools", "1.0.0") in assets and ("contoso.lib", "3.2.0") in assets
    rows = {(r[0], r[1]): r for r in _ledger(state)}
    conflict = rows[("acme.tools", "1.1.0")]
    assert conflict[3] == "conflict" and conflict[5] == hashlib.sha256(planted).hexdigest()
    assert conflict[4] == hashlib.sha256(world["files"][("Acme.Tools", "1.1.0")]).hexdigest()


def test_a_push_whose_answer_was_lost_is_not_a_conflict_when_the_target_refuses_any_repush(world, sandbox,
                                                                                            monkeypatch):
    """The target takes the first push, but a gateway answers 504; the retried push gets 409, as a feed that
    refuses any existing version answers. The target holds the very bytes, so the item is confirmed (not
    failed as "different content") and the run ends 0."""
    monkeypatch.setenv("FERRY_CA_NUGET_REPUBLISH", "conflict")
    app, lost = sandbox.apps["codeartifact"], {"left": 1}
    real = app._package_endpoint

    def answer(request):
        response = real(request)
        if lost["left"] and request.method == "PUT" and request.path.endswith("/v2/package/"):
            lost["left"] -= 1
            return Response("gateway timeout", status=504)
        return response

    monkeypatch.setattr(app, "_package_endpoint", answer)
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress") == 0
    assert lost["left"] == 0
    assets = _target_assets(world["ca"])
    assert len(assets) == len(SEEDED)
    for package, version, asset, row_state, source_sha, target_sha, _reason in _ledger(world["state"]):
        assert row_state == "confirmed" and source_sha == target_sha == assets[(package, version)][asset]
    assert ferry("verify", world["job"], "--state", world["state"]) == 0


def test_a_different_package_pushed_since_the_plan_is_a_conflict_left_untouched(world, sandbox, monkeypatch):
    """Another Acme.Tools 1.1.0 lands in the target between the plan and ferry's push: the push's 409 is
    checked against the target, and the item is a conflict naming both hashes (the target's copy stays)."""
    store, app = world["store"], sandbox.apps["codeartifact"]
    repo = store.repository(store.domain("us-east-1", None, "acme"), "nuget-store")
    planted = nupkg("Acme.Tools", "1.1.0", body=b"planted")
    real, pending = app._package_endpoint, {"plant": True}

    def answer(request):
        if pending["plant"] and request.method == "PUT" and request.path.endswith("/v2/package/"):
            pending["plant"] = False
            store.publish_asset(repo, "nuget", None, "acme.tools", "1.1.0", "acme.tools.1.1.0.nupkg",
                                store.blobs.put_bytes(planted), single_asset=True, display_name="Acme.Tools")
        return real(request)

    monkeypatch.setattr(app, "_package_endpoint", answer)
    monkeypatch.setenv("FERRY_CA_NUGET_REPUBLISH", "conflict")
    assert ferry("migrate", world["job"], "--state", world["state"], "--no-progress", "--workers", "1",
                 "--include", "Acme.Tools@1.1.0") == 1
    rows = {(r[0], r[1]): r for r in _ledger(world["state"])}
    conflict = rows[("acme.tools", "1.1.0")]
    source_sha = hashlib.sha256(world["files"][("Acme.Tools", "1.1.0")]).hexdigest()
    assert conflict[3:6] == ("conflict", source_sha, hashlib.sha256(planted).hexdigest())
    assert _target_assets(world["ca"])[("acme.tools", "1.1.0")] == {
        "acme.tools.1.1.0.nupkg": hashlib.sha256(planted).hexdigest()}


def test_source_versions_that_collide_after_normalization_are_reported(world, capsys):
    clash = world["seeder"].nuget("nuget-internal", "acme.tools", "1.1.0.0", description="another build")
    state = world["state"]
    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 1
    rows = _ledger(state)
    (collision,) = [r for r in rows if r[3] == "unmappable"]
    assert collision[0] == "acme.tools" and collision[1] == "1.1.0.0"
    assert "'Acme.Tools/1.1.0'" in collision[6] and "lowercased" in collision[6]
    # the first one listed keeps the identity and arrived intact; the other was not merged into it
    assets = _target_assets(world["ca"])
    assert assets[("acme.tools", "1.1.0")] == {
        "acme.tools.1.1.0.nupkg": hashlib.sha256(world["files"][("Acme.Tools", "1.1.0")]).hexdigest()}
    assert hashlib.sha256(clash).hexdigest() not in str(assets)
    assert sum(1 for r in rows if r[3] == "confirmed") == 4
    # a rerun lists in the same order and reaches the same verdicts, publishing nothing
    assert ferry("migrate", world["job"], "--state", state, "--no-progress") == 1
    again = _ledger(state)
    assert [r for r in again if r[3] == "unmappable"] == [collision]
    assert sum(1 for r in again if r[3] == "same") == 4 and _target_assets(world["ca"]) == assets


def big_nupkg(path, package_id: str, version: str, mib: int) -> str:
    """Write a ``.nupkg`` with ``mib`` MiB of stored random library bytes to ``path``; returns its SHA-256."""
    import os
    import zipfile

    small = nupkg(package_id, version)
    with zipfile.ZipFile(path, "w") as out:
        with zipfile.ZipFile(__import__("io").BytesIO(small)) as template:
            for info in template.infolist():
                out.writestr(info, template.read(info))
        with out.open("lib/netstandard2.0/big.bin", "w") as member:
            for _ in range(mib):
                member.write(os.urandom(1024 * 1024))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_large_package_streams_through_push_and_download(target):
    """A 40 MiB package goes out (multipart encoder) and in (stand-in part reader) without being held in memory."""
    import tracemalloc

    _ca, domain, ctx, tmp = target
    path = tmp / "big.nupkg"
    sha = big_nupkg(path, "Big.Pkg", "1.0.0", 40)
    size = path.stat().st_size
    item = SourceItem(ItemKey("nuget", "", "big.pkg", "1.0.0", "big.pkg.1.0.0.nupkg"), size=size,
                      checksums={"sha256": sha})
    tracemalloc.start()
    try:
        NugetMigrator().publish(ctx, item, Spooled(path, size, Checksums(sha256=sha)), True)
        url = f"{domain.endpoint('nuget-store', 'nuget')}v3/package/big.pkg/1.0.0/big.pkg.1.0.0.nupkg"
        down = hashlib.sha256()
        with ctx.session.get(url, auth=("aws", domain.token()), stream=True, timeout=60) as resp:
            for chunk in resp.iter_content(1024 * 1024):
                down.update(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert down.hexdigest() == sha
    assert domain.asset_state("nuget-store", "nuget", None, "big.pkg", "1.0.0", "big.pkg.1.0.0.nupkg").size == size
    assert peak < 20 * 1024 * 1024, peak  # half the body: a buffered body would exceed it
