"""Artifactory → CodeArtifact for RubyGems and Cargo, end to end on the stand-ins.

Gems sit where an Artifactory ``gems`` local repository keeps them, ``gems/{name}-{version}[-{platform}].gem``,
next to the index files Artifactory generates at the repository root (``specs.4.8.gz``,
``latest_specs.4.8.gz``, ``prerelease_specs.4.8.gz``, ``quick/Marshal.4.8/*.gemspec.rz``; and, [U], the
compact index ``versions``/``names``/``info/{name}``). Crates sit in Artifactory's Cargo path format
``crates/{name}/{name}-{version}.crate`` next to the repository's index tree (``index/config.json`` and
one line file per crate). Only the packages may arrive in CodeArtifact, each byte for byte; a rerun
publishes nothing. Where ``gem``/``cargo`` are installed they install and build from the target.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import subprocess

import pytest
import requests

from artifactory_helpers import report, write_job
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import crate, gem
from ferry.state.reader import LedgerReader
from gem_cargo_clients import cargo, cargo_project, gem_install, needs_cargo, needs_gem, ruby

# (name, version, platform, Artifactory properties?) — acme-base carries the gem.* properties Artifactory's
# indexing sets [3P]; the others are known by their file names only.
GEMS = [("acme-base", "1.0.0", "ruby", True), ("acme-base", "1.1.0", "ruby", True),
        ("acme-app", "0.5.0", "ruby", False), ("acme-native", "3.0.0", "ruby", False),
        ("acme-native", "3.0.0", "x86_64-linux", False), ("acme-pre", "2.0.0.rc1", "ruby", False)]
CRATES = [("acme_core", "0.4.0"), ("acme_core", "0.4.1"), ("acme-util", "1.0.0"), ("acme-util", "1.1.0-rc.1")]


@pytest.fixture(params=["aql", "storage-api"])
def world(request, sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    if request.param == "storage-api":
        sandbox.apps["artifactory"].configure(aql_refused=403)
    seeder = ArtifactorySeeder(urls["artifactory"])
    monkeypatch.setenv("ARTIFACTORY_TOKEN", seeder.token())
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    return {"urls": urls, "ca": ca, "seeder": seeder, "tmp": tmp_path, "state": str(tmp_path / "ferry.db"),
            "sandbox": sandbox, "listing": request.param}


def _job(world, source: str, target: str) -> str:
    world["ca"].create_repository(domain="acme", repository=target)
    return str(write_job(world["tmp"] / f"{target}.toml", world["urls"]["artifactory"],
                         world["urls"]["codeartifact"], [{"source": source, "target": target}]))


def _seed_gems(seeder: ArtifactorySeeder) -> dict[str, tuple[str, str, bytes]]:
    """A gems local repository as Artifactory lays it out; returns file name -> (name, version, gem)."""
    seeder.create_repository("gems-local", "gems")
    built = {}
    for name, version, platform, props in GEMS:
        deps = {"acme-base": "~> 1.0"} if name == "acme-app" else None
        filename, data = gem(name, version, platform=platform, dependencies=deps)
        seeder.deploy("gems-local", f"gems/{filename}", data,
                      {"gem.name": name, "gem.version": version} if props else None)
        built[filename] = (name, version, data)
    specs = gzip.compress(b"\x04\x08[\x00")  # an empty Marshal array: what ferry must leave alone
    for path in ("specs.4.8.gz", "latest_specs.4.8.gz", "prerelease_specs.4.8.gz", "specs.4.8"):
        seeder.deploy("gems-local", path, specs)
    for filename in built:
        seeder.deploy("gems-local", f"quick/Marshal.4.8/{filename[:-4]}.gemspec.rz", b"x\x9c\x03\x00\x00\x00\x00\x01")
    seeder.deploy("gems-local", "versions", b"created_at: 2026-01-01T00:00:00Z\n---\nacme-base 1.0.0,1.1.0 x\n")
    seeder.deploy("gems-local", "names", b"---\nacme-app\nacme-base\nacme-native\nacme-pre\n")
    seeder.deploy("gems-local", "info/acme-base", b"---\n1.0.0 |checksum:x\n1.1.0 |checksum:y\n")
    return built


def _seed_crates(seeder: ArtifactorySeeder, url: str) -> dict[tuple[str, str], bytes]:
    """A cargo local repository in Artifactory's Cargo path format, with its index tree."""
    seeder.create_repository("cargo-local", "cargo", cargoInternalIndex=True)
    seeded = {}
    lines: dict[str, list[str]] = {}
    for name, version in CRATES:
        data, meta = crate(name, version)
        seeder.deploy("cargo-local", f"crates/{name}/{name}-{version}.crate", data)
        seeded[(name, version)] = data
        lines.setdefault(name, []).append(json.dumps({"name": name, "vers": version, "deps": [],
                                                      "cksum": hashlib.sha256(data).hexdigest(), "features": {},
                                                      "yanked": False}))
    seeder.deploy("cargo-local", "index/config.json",
                  json.dumps({"dl": f"{url}/api/cargo/cargo-local/v1/crates",
                              "api": f"{url}/api/cargo/cargo-local"}).encode())
    for name, entries in lines.items():
        seeder.deploy("cargo-local", f"index/{name[:2]}/{name[2:4]}/{name}", ("\n".join(entries) + "\n").encode())
    return seeded


def _assets(ca, repo: str, fmt: str, package: str, version: str) -> dict[str, str]:
    out = ca.list_package_version_assets(domain="acme", repository=repo, format=fmt, package=package,
                                         packageVersion=version)
    return {a["name"]: a["hashes"]["SHA-256"] for a in out["assets"]}


def _versions(ca, repo: str, fmt: str) -> set[tuple[str, str]]:
    """Every (package, version) the target repository holds."""
    found = set()
    for pkg in ca.list_packages(domain="acme", repository=repo, format=fmt)["packages"]:
        out = ca.list_package_versions(domain="acme", repository=repo, format=fmt, package=pkg["package"])
        found |= {(pkg["package"], v["version"]) for v in out["versions"] if v["status"] == "Published"}
    return found


def _ledger(state: str) -> dict[tuple[str, str, str], tuple[str, str | None, str | None]]:
    """The latest run's items: (package, version, asset) -> (state, source SHA-256, target SHA-256)."""
    with LedgerReader(state) as reader:
        return {(r.package, r.version, r.asset): (r.state, r.source_sha256, r.target_sha256) for r in reader.items()}


def _unchanged_rerun(world, job: str, count: int) -> None:
    """A second migrate publishes nothing: every file is "same", no version row changes."""
    store = world["sandbox"].apps["codeartifact"].store
    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert report(world["state"])["states"] == {"same": count}
    assert ferry("verify", job, "--state", world["state"]) == 0
    assert report(world["state"])["states"] == {"same": count}


def test_gems_in_artifactorys_layout_migrate_and_index_files_stay_behind(world):
    ca = world["ca"]
    built = _seed_gems(world["seeder"])
    job = _job(world, "gems-local", "gem-store")
    assert ferry("audit", job, "--state", world["state"]) == 0
    assert report(world["state"])["states"] == {"planned": len(built)}  # index files are not items
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    assert report(world["state"])["states"] == {"confirmed": len(built)}
    sha = {filename: hashlib.sha256(data).hexdigest() for filename, (_, _, data) in built.items()}
    assert _ledger(world["state"]) == {(n, v, f): ("confirmed", sha[f], sha[f]) for f, (n, v, _) in built.items()}

    assert _versions(ca, "gem-store", "ruby") == {(n, v) for n, v, _ in built.values()}
    for name, version, _ in built.values():
        assert _assets(ca, "gem-store", "ruby", name, version) == {
            f: sha[f] for f, (n, v, _) in built.items() if (n, v) == (name, version)}
    assert _assets(ca, "gem-store", "ruby", "acme-native", "3.0.0") == {  # the platform gem beside the plain one
        "acme-native-3.0.0.gem": sha["acme-native-3.0.0.gem"],
        "acme-native-3.0.0-x86_64-linux.gem": sha["acme-native-3.0.0-x86_64-linux.gem"]}
    _unchanged_rerun(world, job, len(built))


# Gems deployed by plain PUT (no gem.* properties) whose file names alone may not say where the name ends:
# path -> (name, version, platform).
UNHINTED_GEMS = {
    "gems/acme-2-1.0.0.gem": ("acme-2", "1.0.0", "ruby"),  # not gem "acme" 2 on a platform "1.0.0": told by its name
    # also gem "acme-x-1.0-x86_64-darwin" version 19: only the gemspec tells
    "gems/acme-x-1.0-x86_64-darwin-19.gem": ("acme-x", "1.0", "x86_64-darwin-19"),
    "uploads/acme-tool.gem": ("acme-tool", "2.0.0", "ruby"),  # a name with no version in it at all
}
# The gems whose gemspec is read to tell them (one read of its first kilobytes per listing).
GEMSPEC_READ = ("gems/acme-x-1.0-x86_64-darwin-19.gem", "uploads/acme-tool.gem")


def _seed_unhinted_gems(seeder: ArtifactorySeeder) -> dict[str, tuple[str, str, str, bytes]]:
    """UNHINTED_GEMS deployed without properties; returns path -> (name, version, RubyGems' file name, gem)."""
    seeder.create_repository("gems-local", "gems")
    seeded = {}
    for path, (name, version, platform) in UNHINTED_GEMS.items():
        filename, data = gem(name, version, platform=platform)
        seeder.deploy("gems-local", path, data)
        seeded[path] = (name, version, filename, data)
    return seeded


def _downloads(world, repo: str, paths) -> dict[str, int]:
    """How many times the Artifactory stand-in served each file (its download statistics)."""
    seeder = world["seeder"]
    return {p: seeder.http.get(f"{seeder.url}/api/storage/{repo}/{p}", params={"stats": ""},
                               timeout=10).json()["downloadCount"] for p in paths}


def test_gems_without_properties_migrate_by_their_gemspec_where_the_file_name_reads_several_ways(world):
    """A gem with no gem.name/gem.version properties was named by its file name alone, cut at the first "-"
    and digit: acme-2-1.0.0.gem was gem "acme" version "2" and failed on every run, and a name that reads
    several ways or none could never be migrated. Now the file name decides only where it reads one way as
    RubyGems writes it; otherwise the gem's own gemspec does, read from its first bytes."""
    ca = world["ca"]
    seeded = _seed_unhinted_gems(world["seeder"])
    job = _job(world, "gems-local", "gem-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    assert _versions(ca, "gem-store", "ruby") == {(n, v) for n, v, _, _ in seeded.values()}
    for name, version, filename, data in seeded.values():
        assert _assets(ca, "gem-store", "ruby", name, version) == {filename: hashlib.sha256(data).hexdigest()}
    # One download to publish each, and one gemspec read for each gem whose name does not tell.
    assert _downloads(world, "gems-local", seeded) == {p: 1 + (p in GEMSPEC_READ) for p in seeded}
    _unchanged_rerun(world, job, len(seeded))
    # The rerun's two listings (migrate, verify) read those gemspecs again, and download nothing else.
    assert _downloads(world, "gems-local", seeded) == {p: 1 + 3 * (p in GEMSPEC_READ) for p in seeded}


def test_a_gem_whose_file_name_and_gemspec_both_fail_to_tell_it_fails_alone_saying_what_to_do(world):
    seeder = world["seeder"]
    seeder.create_repository("gems-local", "gems")
    filename, data = gem("acme-base", "1.0.0")
    seeder.deploy("gems-local", f"gems/{filename}", data)
    seeder.deploy("gems-local", "uploads/acme-broken.gem", b"not a gem at all" * 100)
    job = _job(world, "gems-local", "gem-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 1
    assert report(world["state"])["states"] == {"confirmed": 1, "unmappable": 1}
    with LedgerReader(world["state"]) as reader:
        (broken,) = [r for r in reader.items() if r.state == "unmappable"]
    assert broken.asset == "uploads/acme-broken.gem"
    assert "uploads/acme-broken.gem" in broken.reason and "not a gem" in broken.reason, broken.reason
    assert broken.reason.endswith("set its gem.name and gem.version properties in Artifactory, or replace it with "
                                  "a good gem"), broken.reason


def test_a_gem_unmappable_on_one_run_and_named_on_the_next_leaves_no_unmappable_row_behind(world, monkeypatch):
    """A gem whose gemspec read kept failing (HTTP 502 through every retry) is unmappable under a key made of its
    path. Once a later run names it, that row stands for nothing: it was left in the ledger, so the whole ledger
    (``report --merge``, the scale-out runbook's final report) went on counting one unmappable file, a failure,
    after every gem had arrived. A run narrowed by --include leaves such rows alone (it did not list them)."""
    from ferry import engine
    from ferry.errors import RetryableError
    from ferry.retry import RetryPolicy
    from ferry.sources.artifactory import ArtifactorySource

    seeder, state, tmp = world["seeder"], world["state"], world["tmp"]
    seeder.create_repository("gems-local", "gems")
    _, data = gem("acme-tool", "2.0.0")
    seeder.deploy("gems-local", "uploads/acme-tool.gem", data)
    job = _job(world, "gems-local", "gem-store")
    monkeypatch.setattr(engine, "REQUEST", RetryPolicy(base_delay=0.001, max_delay=0.01))
    with monkeypatch.context() as patch:
        def unavailable(self, locator, label):
            raise RetryableError(f"download {label}: HTTP 502")

        patch.setattr(ArtifactorySource, "open_locator", unavailable)
        assert ferry("migrate", job, "--state", state, "--no-progress") == 1
    assert report(state)["states"] == {"unmappable": 1}
    assert ferry("migrate", job, "--state", state, "--no-progress", "--include", "other") == 0
    with LedgerReader(state) as reader:
        assert reader.counts() == {"unmappable": 1}  # the narrowed run did not list the gem: the row stays
    for shard in ("1/2", "2/2"):  # each shard plans only its packages: the other's rows stay in a shared ledger
        assert ferry("migrate", job, "--state", state, "--no-progress", "--shard", shard) == 0
    with LedgerReader(state) as reader:
        assert reader.counts() == {"confirmed": 1, "unmappable": 1}
    assert ferry("migrate", job, "--state", state, "--no-progress") == 0
    assert ferry("report", "--merge", state, "-o", str(tmp / "merged.json")) == 0
    merged = json.loads((tmp / "merged.json").read_text())
    assert (merged["states"], merged["failures_total"]) == ({"same": 1}, 0)  # the shard's run copied it


def test_crates_in_artifactorys_layout_migrate_and_the_index_tree_stays_behind(world):
    ca = world["ca"]
    seeded = _seed_crates(world["seeder"], world["urls"]["artifactory"])
    job = _job(world, "cargo-local", "crate-store")
    assert ferry("audit", job, "--state", world["state"]) == 0
    assert report(world["state"])["states"] == {"planned": len(seeded)}  # config.json and index lines are not items
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    assert report(world["state"])["states"] == {"confirmed": len(seeded)}
    sha = {key: hashlib.sha256(data).hexdigest() for key, data in seeded.items()}
    assert _ledger(world["state"]) == {(n, v, f"{n}-{v}.crate"): ("confirmed", sha[(n, v)], sha[(n, v)])
                                       for n, v in seeded}

    assert _versions(ca, "crate-store", "cargo") == set(seeded)
    for name, version in seeded:
        assert _assets(ca, "crate-store", "cargo", name, version) == {f"{name}-{version}.crate": sha[(name, version)]}
    _unchanged_rerun(world, job, len(seeded))


def test_dependencies_on_the_artifactory_registry_point_at_the_target_after_migrating(world):
    """A crate's ``Cargo.toml`` names a dependency of its own Artifactory registry by the index URL cargo was
    configured with (sparse ``{url}/api/cargo/{repo}/index/`` or git ``{url}/git/{repo}.git``), not by where
    the files sit; migrated, such a dependency must resolve in the target ("this registry"), while one of
    another registry keeps its index."""
    url, seeder = world["urls"]["artifactory"], world["seeder"]
    seeder.create_repository("cargo-local", "cargo", cargoInternalIndex=True)
    deps = {"acme_core": f"sparse+{url}/api/cargo/cargo-local/index/", "acme-util": f"{url}/git/cargo-local.git",
            "other": "sparse+https://other.example/index/"}
    assert _migrated_dependencies(world, deps) == {
        "acme_core": None, "acme-util": None, "other": "sparse+https://other.example/index/"}


def _migrated_dependencies(world, deps: dict[str, str]) -> dict[str, str | None]:
    """Deploy acme_core and an acme_app whose dependencies name ``deps`` (name -> registry index) into
    cargo-local, migrate it, and return the registry of each dependency in the target's index (None: this one)."""
    from ferry.sandbox.seed import _gzip_tar

    seeder = world["seeder"]
    base, _ = crate("acme_core", "0.4.0")
    seeder.deploy("cargo-local", "crates/acme_core/acme_core-0.4.0.crate", base)
    manifest = '[package]\nedition = "2021"\nname = "acme_app"\nversion = "0.1.0"\nlicense = "MIT"\n' + "".join(
        f'\n[dependencies.{name}]\nversion = "0.4"\nregistry-index = "{index}"\n' for name, index in deps.items())
    app = _gzip_tar({"acme_app-0.1.0/Cargo.toml": manifest.encode(), "acme_app-0.1.0/src/lib.rs": b""})
    seeder.deploy("cargo-local", "crates/acme_app/acme_app-0.1.0.crate", app)
    job = _job(world, "cargo-local", "crate-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    endpoint, token = _endpoint(world["ca"], "crate-store", "cargo")
    (line,) = [json.loads(x) for x in requests.get(f"{endpoint}ac/me/acme_app", headers={"Authorization": token},
                                                   timeout=10).text.splitlines()]
    return {d["name"]: d.get("registry") for d in line["deps"]}



@pytest.mark.parametrize("world", ["aql"], indirect=True)
def test_dependencies_named_through_a_cargo_virtual_repository_point_at_the_target(world):
    """Cargo users often read a local repository through a virtual one, so a crate names its dependencies from
    there by the virtual repository's index (or that of a virtual one aggregating it); migrated, they must
    resolve in the target, while a virtual repository that does not aggregate the local one stays named."""
    url, seeder = world["urls"]["artifactory"], world["seeder"]
    seeder.create_repository("cargo-local", "cargo", cargoInternalIndex=True)
    seeder.create_repository("cargo-other", "cargo", cargoInternalIndex=True)
    seeder.create_repository("cargo", "cargo", rclass="virtual", repositories=["cargo-local"])
    seeder.create_repository("cargo-all", "cargo", rclass="virtual", repositories=["cargo"])
    seeder.create_repository("cargo-elsewhere", "cargo", rclass="virtual", repositories=["cargo-other"])
    deps = {"acme_core": f"sparse+{url}/api/cargo/cargo/index/", "acme-util": f"sparse+{url}/api/cargo/cargo-all/index",
            "other": f"sparse+{url}/api/cargo/cargo-elsewhere/index/"}
    assert _migrated_dependencies(world, deps) == {"acme_core": None, "acme-util": None, "other": deps["other"]}


def test_a_cargo_virtual_repository_artifactory_will_not_show_is_a_note_not_a_failure():
    """Artifactory may show a repository's configuration only to an admin: the crates still move, and the run
    says which virtual repository's index their dependencies keep naming."""
    from ferry.sources.artifactory import ArtifactorySource

    class Session:
        def request(self, method, url, **kw):
            resp = requests.Response()
            resp.url, resp.headers["Content-Type"] = url, "application/json"
            if url.endswith("/api/repositories"):
                resp.status_code, resp._content = 200, json.dumps([
                    {"key": "cargo-local", "type": "LOCAL", "packageType": "Cargo"},
                    {"key": "cargo", "type": "VIRTUAL", "packageType": "Cargo"}]).encode()
            else:
                resp.status_code, resp._content = 403, b'{"errors":[{"status":403,"message":"Forbidden"}]}'
            return resp

    notes: list[str] = []
    source = ArtifactorySource("http://artifactory.example/artifactory", Session(), notes=notes)
    own = ("http://artifactory.example/artifactory/api/cargo/cargo-local/index",
           "http://artifactory.example/artifactory/git/cargo-local.git")
    assert source.cargo_indexes("cargo-local") == own
    assert source.cargo_indexes("cargo-local") == own  # read once: one note
    assert len(notes) == 1 and "virtual repository cargo (HTTP 403)" in notes[0]
    # and what to do about it, as the Nexus and CodeArtifact notes of the same kind say
    assert notes[0].endswith("; let the source's user read that repository's configuration (Artifactory shows it "
                             "to an admin) to repoint them"), notes[0]

def test_a_retried_read_of_the_cargo_virtual_repositories_notes_each_refusal_once():
    """The virtual repositories' configurations are read under the request retry: one answered 503 after another
    had been refused made the retry read them all again, so the refused one was noted once per attempt."""
    from ferry.errors import RetryableError
    from ferry.sources.artifactory import ArtifactorySource

    asked: list[str] = []

    class Session:
        def request(self, method, url, **kw):
            resp = requests.Response()
            resp.url, resp.headers["Content-Type"] = url, "application/json"
            name = url.rsplit("/", 1)[-1]
            if name == "repositories":
                resp.status_code, resp._content = 200, json.dumps([
                    {"key": "cargo-local", "type": "LOCAL", "packageType": "Cargo"},
                    {"key": "cargo-admins", "type": "VIRTUAL", "packageType": "Cargo"},
                    {"key": "cargo-all", "type": "VIRTUAL", "packageType": "Cargo"}]).encode()
                return resp
            asked.append(name)
            if name == "cargo-admins":
                resp.status_code, resp._content = 403, b'{"errors":[{"status":403,"message":"Forbidden"}]}'
            elif asked.count(name) == 1:
                resp.status_code, resp._content = 503, b""
            else:
                resp.status_code, resp._content = 200, json.dumps({"repositories": ["cargo-local"]}).encode()
            return resp

    notes: list[str] = []
    source = ArtifactorySource("http://artifactory.example/artifactory", Session(), notes=notes)
    with pytest.raises(RetryableError):
        source.cargo_indexes("cargo-local")
    assert source.cargo_indexes("cargo-local")[-1] == "http://artifactory.example/artifactory/api/cargo/cargo-all/index"
    assert len(notes) == 1 and "virtual repository cargo-admins (HTTP 403)" in notes[0]
    assert sorted(asked) == ["cargo-admins", "cargo-all", "cargo-all"]


def _endpoint(ca, repo: str, fmt: str) -> tuple[str, str]:
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    return ca.get_repository_endpoint(domain="acme", repository=repo, format=fmt)["repositoryEndpoint"], token


@pytest.mark.clients
@needs_gem
@pytest.mark.parametrize("world", ["aql"], indirect=True)
def test_gem_install_from_codeartifact_after_migrating_from_artifactory(world):
    built = _seed_gems(world["seeder"])
    job = _job(world, "gems-local", "gem-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    endpoint, token = _endpoint(world["ca"], "gem-store", "ruby")
    scheme, rest = endpoint.split("://", 1)
    home = world["tmp"] / "gem-home"
    gem_install(home, f"{scheme}://aws:{token}@{rest}", "acme-app", "acme-native")
    assert ruby(home, "require 'acme_app'; require 'acme_base'; print AcmeApp::VERSION, ' ', AcmeBase::VERSION") == \
        "0.5.0 1.1.0"
    for filename in ("acme-app-0.5.0.gem", "acme-base-1.1.0.gem", "acme-native-3.0.0-x86_64-linux.gem"):
        assert (home / "gems" / "cache" / filename).read_bytes() == built[filename][2]


@pytest.mark.clients
@needs_gem
@pytest.mark.parametrize("world", ["aql"], indirect=True)
def test_gem_install_of_gems_told_by_their_gemspec_after_migrating_from_artifactory(world):
    seeded = _seed_unhinted_gems(world["seeder"])
    job = _job(world, "gems-local", "gem-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    endpoint, token = _endpoint(world["ca"], "gem-store", "ruby")
    scheme, rest = endpoint.split("://", 1)
    home = world["tmp"] / "gem-home"
    gem_install(home, f"{scheme}://aws:{token}@{rest}", "acme-2", "acme-tool")
    assert ruby(home, "require 'acme_2'; require 'acme_tool'; print Acme2::VERSION, ' ', AcmeTool::VERSION") == \
        "1.0.0 2.0.0"
    for path in ("gems/acme-2-1.0.0.gem", "uploads/acme-tool.gem"):
        _, _, filename, data = seeded[path]
        assert (home / "gems" / "cache" / filename).read_bytes() == data


@pytest.mark.clients
@needs_cargo
@pytest.mark.parametrize("world", ["aql"], indirect=True)
def test_cargo_builds_from_codeartifact_after_migrating_from_artifactory(world):
    seeded = _seed_crates(world["seeder"], world["urls"]["artifactory"])
    job = _job(world, "cargo-local", "crate-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 0
    endpoint, token = _endpoint(world["ca"], "crate-store", "cargo")
    user = cargo_project(world["tmp"] / "user", "user", endpoint,
                         '[dependencies]\nacme_core = { version = "0.4", registry = "standin" }\n'
                         'acme-util = { version = "=1.1.0-rc.1", registry = "standin" }\n',
                         'fn main() { println!("{} {}", acme_core::version(), acme_util::version()); }\n')
    cargo(world["tmp"] / "cargo-home", user, token, "build")
    out = subprocess.run([str(user / "target" / "debug" / "user")], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "0.4.1 1.1.0-rc.1"
    cache = world["tmp"] / "cargo-home" / "registry" / "cache"
    for name, version in (("acme_core", "0.4.1"), ("acme-util", "1.1.0-rc.1")):
        assert next(cache.glob(f"*/{name}-{version}.crate")).read_bytes() == seeded[(name, version)]


@pytest.mark.parametrize("world", ["aql"], indirect=True)
def test_two_crates_cargo_cannot_tell_apart_migrate_once_and_the_other_is_named_unmappable(world):
    """Cargo finds a crate by its lower-cased name and a version without build metadata: ``Twin`` and ``twin``
    sit in one index file, and ``=1.0.1`` resolves to ``1.0.1+b7`` where both are listed. Published both,
    cargo fetched the other's bytes for one of each pair; the later file listed is now unmappable, naming the
    first, and the run does not end as a success."""
    seeder = world["seeder"]
    seeder.create_repository("cargo-local", "cargo")
    for name, version in (("meta-crate", "1.0.1"), ("meta-crate", "1.0.1+b7"), ("Twin", "0.1.0"), ("twin", "0.1.0"),
                          ("twin", "0.2.0")):
        data, _meta = crate(name, version, description=f"{name} {version}")
        seeder.deploy("cargo-local", f"crates/{name}/{name}-{version}.crate", data)
    job = _job(world, "cargo-local", "crate-store")
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 1
    same = ("(cargo lower-cases names and ignores build metadata); not migrated: keep one of the two (exclude or "
            "remove the other in the source)")
    rows = {f["key"]: f for f in report(world["state"])["failures"]}
    assert {k: (f["state"], f["reason"]) for k, f in rows.items()} == {
        "cargo:meta-crate@1.0.1/(collision) crates/meta-crate/meta-crate-1.0.1.crate": (
            "unmappable", "meta-crate 1.0.1 is to cargo the crate version "
            f"'crates/meta-crate/meta-crate-1.0.1+b7.crate' in this source already is {same}"),
        "cargo:twin@0.1.0/(collision) crates/twin/twin-0.1.0.crate": (
            "unmappable", f"twin 0.1.0 is to cargo the crate version 'crates/Twin/Twin-0.1.0.crate' in this source "
            f"already is {same}")}
    versions = world["sandbox"].apps["codeartifact"].store.query(
        "SELECT p.name, v.version FROM versions v JOIN packages p ON p.id = v.package_id")
    # The first listed of each pair is migrated (Artifactory lists "+" before "." and upper case first).
    assert sorted((r["name"], r["version"]) for r in versions) == [("Twin", "0.1.0"), ("meta-crate", "1.0.1+b7"),
                                                                   ("twin", "0.2.0")]
    assert ferry("migrate", job, "--state", world["state"], "--no-progress") == 1  # the same verdicts again
    assert len(report(world["state"])["failures"]) == 2
