"""Nexus → CodeArtifact for Cargo: the publish metadata ferry rebuilds equals what ``cargo publish`` sent,
and migrated crates build with the real ``cargo build`` from the target's sparse index."""

from __future__ import annotations

import hashlib
import json
import subprocess

import pytest
import requests

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.config import RepositoryMapping
from ferry.errors import ItemError
from ferry.migrators.cargo import CargoMigrator
from ferry.migrators.cargo_manifest import CRATES_IO_INDEX, publish_metadata, version_req
from ferry.sandbox.seed import NEXUS_AUTH, NexusSeeder, crate
from ferry.sources.base import SourceFile
from gem_cargo_clients import cargo, cargo_project, needs_cargo

MAPPING = RepositoryMapping(source="crates-internal", target="crate-store", namespace="")


@pytest.mark.parametrize("text, printed", [
    ("0.1", "^0.1"), ("1.2.3", "^1.2.3"), ("^1", "^1"), ("~0.1", "~0.1"), ("=0.1.0", "=0.1.0"), ("*", "*"),
    ("1.*", "1.*"), ("1.x", "1.*"), (">= 0.2.0-beta.1, < 0.3", ">=0.2.0-beta.1, <0.3"), ("> 1,<=2", ">1, <=2"),
])
def test_version_requirements_print_as_cargo_sends_them(text, printed):
    assert version_req(text) == printed


def test_dependency_registries_crates_io_this_registry_and_others():
    manifest = {
        "package": {"name": "x", "version": "1.0.0"},
        "dependencies": {
            "serde": {"version": "1.0", "features": ["derive"]},
            "local": {"version": "0.2", "registry-index": "sparse+http://nexus.example/repository/crates/"},
            "elsewhere": {"version": "3", "registry-index": "sparse+https://other.example/index/"},
            "short": "0.3",
        },
    }
    same = lambda index: index.startswith("sparse+http://nexus.example/")  # noqa: E731
    deps = {d["name"]: d for d in publish_metadata(manifest, {}, same)["deps"]}
    assert deps["serde"]["registry"] == CRATES_IO_INDEX and deps["serde"]["features"] == ["derive"]
    assert "registry" not in deps["local"]
    assert deps["elsewhere"]["registry"] == "sparse+https://other.example/index/"
    assert deps["short"]["version_req"] == "^0.3"
    with pytest.raises(ItemError, match="no version"):
        publish_metadata({"package": {}, "dependencies": {"p": {"path": "../p"}}}, {}, same)


@pytest.mark.parametrize("path, hints, key", [
    ("crates/probe_core/0.1.0/probe_core-0.1.0.crate", {"name": "probe_core", "version": "0.1.0"},
     ("probe_core", "0.1.0")),
    ("crates/x/1.0.0-beta.2/x-1.0.0-beta.2.crate", {}, ("x", "1.0.0-beta.2")),
    ("my-crate-2-1.2.3.crate", {}, ("my-crate-2", "1.2.3")),
])
def test_identify_from_hints_or_file_name(path, hints, key):
    item = CargoMigrator().identify(SourceFile("crates-internal", path, f"http://n/{path}", hints=hints), MAPPING)
    assert item is not None and item.unmappable is None
    assert (item.key.package, item.key.version, item.key.asset) == (*key, f"{key[0]}-{key[1]}.crate")
    assert CargoMigrator().identify(SourceFile("crates-internal", "config.json", "http://n/c"), MAPPING) is None
    odd = CargoMigrator().identify(SourceFile("crates-internal", "weird.crate", "http://n/w"), MAPPING)
    assert odd is not None and odd.unmappable


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    seeder.create_repository("cargo", "crates-internal")
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="crate-store")
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                    [{"source": "crates-internal", "target": "crate-store"}])
    token = ca.get_authorization_token(domain="acme")["authorizationToken"]
    endpoint = ca.get_repository_endpoint(domain="acme", repository="crate-store",
                                          format="cargo")["repositoryEndpoint"]
    return {"ca": ca, "job": str(job), "state": str(tmp_path / "ferry.db"), "seeder": seeder, "urls": urls,
            "sandbox": sandbox, "tmp": tmp_path, "token": token, "endpoint": endpoint,
            "nexus_index": f"{urls['nexus']}/repository/crates-internal/"}


def _lines(url: str, **auth) -> list[dict]:
    resp = requests.get(url, timeout=10, **auth)
    assert resp.status_code == 200, (url, resp.status_code, resp.text)
    return [json.loads(x) for x in resp.text.splitlines()]


def _semantics(line: dict) -> dict:
    """An index line with the spellings the format allows either way made alike: ``registry: null`` or
    absent, ``dep:`` features in ``features`` or in ``features2`` (with ``v: 2``), dependency order."""
    line = dict(line)
    line["features"] = {**line.get("features", {}), **line.pop("features2", {})}
    line.pop("v", None)
    line["deps"] = sorted(({k: v for k, v in d.items() if not (k == "registry" and v is None)} for d in line["deps"]),
                          key=lambda d: d["name"])
    return line


def _migrate(world) -> int:
    return ferry("migrate", world["job"], "--state", world["state"], "--no-progress")


@pytest.mark.clients
@needs_cargo
def test_crates_cargo_published_to_nexus_arrive_with_the_index_lines_cargo_made(world):
    """Real cargo publishes into the Nexus stand-in; after migrating, the target's index lines (deps with
    renames, targets, kinds, features2, links, rust_version) equal the source's, and cargo builds from it."""
    tmp, index, home = world["tmp"], world["nexus_index"], world["tmp"] / "cargo-home"
    nexus_token = "Basic " + __import__("base64").b64encode(":".join(NEXUS_AUTH).encode()).decode()
    from test_cargo_endpoint import _APP_MANIFEST

    core = cargo_project(tmp / "probe_core", "probe_core", index, '[features]\ndefault = ["answer"]\nanswer = []\n',
                         '#[cfg(feature = "answer")]\npub fn answer() -> u32 { 42 }\n', lib=True)
    extra = cargo_project(tmp / "extra", "Probe-Extra", index, '[features]\nfast = []\n',
                          'pub fn extra() -> &\'static str { "fast" }\n', lib=True)
    (extra / "Cargo.toml").write_text((extra / "Cargo.toml").read_text().replace('"0.1.0"', '"0.2.0-beta.1"').replace(
        'license = "MIT"\n', 'license = "MIT"\nrust-version = "1.70"\nlinks = "probeextra"\nbuild = "build.rs"\n'))
    (extra / "build.rs").write_text("fn main() {}\n")
    (extra / "README.md").write_text("# Extra\n")
    app = cargo_project(tmp / "probe_app", "probe_app", index, _APP_MANIFEST,
                        'fn main() { println!("{} {}", probe_core::answer(), extra::extra()); }\n')
    (app / "build.rs").write_text("fn main() {}\n")
    for folder in (core, extra, app):
        cargo(home, folder, nexus_token, "publish", "--registry", "standin", "--allow-dirty", "--no-verify")

    assert _migrate(world) == 0
    auth = {"auth": NEXUS_AUTH}
    target_auth = {"headers": {"Authorization": world["token"]}}
    for path in ("pr/ob/probe_core", "pr/ob/probe-extra", "pr/ob/probe_app"):
        source = [_semantics(x) for x in _lines(index + path, **auth)]
        target = [_semantics(x) for x in _lines(world["endpoint"] + path, **target_auth)]
        assert target == source
    described = world["ca"].describe_package_version(domain="acme", repository="crate-store", format="cargo",
                                                     package="probe_app", packageVersion="0.1.0")["packageVersion"]
    assert described["summary"] == "probe" and described["licenses"] == [{"name": "MIT"}]

    user = cargo_project(tmp / "user", "user", world["endpoint"],
                         '[dependencies]\nprobe_app = { version = "0.1.0", registry = "standin" }\n'
                         'probe_core = { version = "0.1", registry = "standin" }\n',
                         'fn main() { println!("{}", probe_core::answer()); }\n')
    cargo(tmp / "cargo-home-2", user, world["token"], "build")
    out = subprocess.run([str(user / "target" / "debug" / "user")], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "42"


@pytest.mark.clients
@needs_cargo
def test_migrate_crates_rerun_uploads_nothing_conflict_untouched_and_cargo_builds(world, capsys):
    seeded = {}
    for name, version in [("acme_core", "0.4.0"), ("acme_core", "0.4.1"), ("acme-util", "1.0.0"),
                          ("acme-util", "1.1.0-rc.1")]:
        data, meta = crate(name, version)
        world["seeder"].cargo("crates-internal", data, meta)
        seeded[(name, version)] = data
    store = world["sandbox"].apps["codeartifact"].store
    repo = store.repository(store.domain("us-east-1", None, "acme"), "crate-store")
    planted, planted_meta = crate("acme-util", "1.0.0", description="planted")
    resp = requests.put(world["endpoint"] + "api/v1/crates/new", timeout=30, headers={"Authorization": world["token"]},
                        data=len(json.dumps(planted_meta)).to_bytes(4, "little") + json.dumps(planted_meta).encode()
                        + len(planted).to_bytes(4, "little") + planted)
    assert resp.status_code == 200

    assert _migrate(world) == 1
    assert "acme-util@1.0.0" in capsys.readouterr().out
    ca = world["ca"]

    def asset(package, version):
        out = ca.list_package_version_assets(domain="acme", repository="crate-store", format="cargo",
                                             package=package, packageVersion=version)["assets"]
        return {a["name"]: a["hashes"]["SHA-256"] for a in out}

    assert asset("acme-util", "1.0.0") == {"acme-util-1.0.0.crate": hashlib.sha256(planted).hexdigest()}
    for (name, version), data in seeded.items():
        if (name, version) != ("acme-util", "1.0.0"):
            assert asset(name, version) == {f"{name}-{version}.crate": hashlib.sha256(data).hexdigest()}

    before = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert _migrate(world) == 1  # the conflict stays a conflict; nothing else moves
    after = store.query("SELECT COUNT(*) AS n, MAX(changed) AS last FROM versions")[0]
    assert (before["n"], before["last"]) == (after["n"], after["last"])
    assert store.version(store.package(repo, "cargo", None, "acme_core"), "0.4.1").status == "Published"

    user = cargo_project(world["tmp"] / "user", "user", world["endpoint"],
                         '[dependencies]\nacme_core = { version = "0.4", registry = "standin" }\n',
                         'fn main() { println!("{}", acme_core::version()); }\n')
    cargo(world["tmp"] / "cargo-home", user, world["token"], "build")
    out = subprocess.run([str(user / "target" / "debug" / "user")], capture_output=True, text=True, timeout=30)
    assert out.stdout.strip() == "0.4.1"
    cached = next((world["tmp"] / "cargo-home" / "registry" / "cache").glob("*/acme_core-0.4.1.crate"))
    assert cached.read_bytes() == seeded[("acme_core", "0.4.1")]


def _publish(endpoint: str, token: str, data: bytes, metadata: dict) -> None:
    """``cargo publish``'s request to a CodeArtifact cargo endpoint (the api URL from its config.json)."""
    auth = {"Authorization": token}
    api = requests.get(endpoint + "config.json", headers=auth, timeout=10).json()["api"].rstrip("/")
    meta = json.dumps(metadata).encode()
    body = len(meta).to_bytes(4, "little") + meta + len(data).to_bytes(4, "little") + data
    resp = requests.put(api + "/api/v1/crates/new", data=body, headers=auth, timeout=30)
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize("command", ["replicate", "migrate"])
def test_dependencies_on_the_source_codeartifact_repository_point_at_the_target(sandbox, tmp_path, monkeypatch,
                                                                               command):
    """A crate published to a CodeArtifact repository names a dependency from that repository by its cargo
    endpoint (``registry-index``); copied to another region, the dependency must resolve in the target
    repository ("this registry", as in the source), not in the source region's."""
    from ferry.sandbox.seed import _gzip_tar
    from replicate_helpers import SOURCE_REGION, TARGET_REGION, write_replica_job

    aws_env(monkeypatch, tmp_path)
    url = sandbox.urls()["codeartifact"]
    source = codeartifact(url, SOURCE_REGION)
    source.create_domain(domain="acme")
    source.create_repository(domain="acme", repository="crates")
    endpoint = source.get_repository_endpoint(domain="acme", repository="crates", format="cargo")["repositoryEndpoint"]
    token = source.get_authorization_token(domain="acme")["authorizationToken"]
    base, metadata = crate("acme_core", "0.4.0")
    _publish(endpoint, token, base, metadata)
    manifest = ('[package]\nedition = "2021"\nname = "acme_app"\nversion = "0.1.0"\nlicense = "MIT"\n\n'
                f'[dependencies.acme_core]\nversion = "0.4"\nregistry-index = "sparse+{endpoint}"\n')
    app = _gzip_tar({"acme_app-0.1.0/Cargo.toml": manifest.encode(), "acme_app-0.1.0/src/lib.rs": b""})
    dep = {"name": "acme_core", "version_req": "^0.4", "features": [], "optional": False, "default_features": True,
           "target": None, "kind": "normal"}
    _publish(endpoint, token, app, {**metadata, "name": "acme_app", "vers": "0.1.0", "deps": [dep]})
    (line,) = _lines(endpoint + "ac/me/acme_app", headers={"Authorization": token})
    assert "registry" not in line["deps"][0]  # the source's own index: this registry

    job = write_replica_job(tmp_path / "job.toml", url, [("crates", "crates")], options="create_missing = true")
    assert ferry(command, str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress") == 0
    target = codeartifact(url, TARGET_REGION)
    there = target.get_repository_endpoint(domain="acme", repository="crates", format="cargo")["repositoryEndpoint"]
    (copied,) = _lines(there + "ac/me/acme_app",
                       headers={"Authorization": target.get_authorization_token(domain="acme")["authorizationToken"]})
    assert copied["deps"][0].get("registry") is None


def _nexus_group(world, name: str, members: list[str]) -> None:
    resp = world["seeder"].http.post(f"{world['urls']['nexus']}/service/rest/v1/repositories/cargo/group", timeout=30,
                                     json={"name": name, "online": True, "group": {"memberNames": members},
                                           "storage": {"blobStoreName": "default", "strictContentTypeValidation": True}})
    assert resp.status_code == 201, resp.text


def test_dependencies_named_through_a_nexus_cargo_group_point_at_the_target(world):
    """Cargo users read a Nexus hosted repository through a group, so a crate published to it names its
    dependencies from there by the group's index (or a group's holding that group); after migrating they must
    resolve in the target ("this registry"), not in Nexus. A group that does not serve the migrated repository
    is another registry and stays named."""
    from ferry.sandbox.seed import _gzip_tar

    nexus = world["urls"]["nexus"]
    world["seeder"].create_repository("cargo", "crates-other")
    _nexus_group(world, "cargo-group", ["crates-internal"])
    _nexus_group(world, "cargo-all", ["cargo-group"])
    _nexus_group(world, "other-group", ["crates-other"])
    base, metadata = crate("acme_core", "0.4.0")
    world["seeder"].cargo("crates-internal", base, metadata)
    indexes = {"group": f"sparse+{nexus}/repository/cargo-group/", "nested": f"sparse+{nexus}/repository/cargo-all",
               "other": f"sparse+{nexus}/repository/other-group/"}
    for tag, index in indexes.items():
        name = f"app_{tag}"
        manifest = (f'[package]\nedition = "2021"\nname = "{name}"\nversion = "0.1.0"\nlicense = "MIT"\n\n'
                    f'[dependencies.acme_core]\nversion = "0.4"\nregistry-index = "{index}"\n')
        dep = {"name": "acme_core", "version_req": "^0.4", "features": [], "optional": False,
               "default_features": True, "target": None, "kind": "normal", "registry": index[len("sparse+"):]}
        world["seeder"].cargo("crates-internal", _gzip_tar({f"{name}-0.1.0/Cargo.toml": manifest.encode(),
                                                            f"{name}-0.1.0/src/lib.rs": b""}),
                              {**metadata, "name": name, "vers": "0.1.0", "deps": [dep]})

    assert _migrate(world) == 0
    auth = {"headers": {"Authorization": world["token"]}}
    registries = {tag: _lines(f"{world['endpoint']}ap/p_/app_{tag}", **auth)[0]["deps"][0].get("registry")
                  for tag in indexes}
    assert registries == {"group": None, "nested": None, "other": indexes["other"]}


def test_nexus_refusing_its_repository_settings_is_a_note_not_a_failure():
    """Listing groups takes a repository-admin privilege a migration user may lack: the crates still move,
    and the run says their dependencies named through a group keep the Nexus URL."""
    from ferry.sources.nexus import NexusSource

    class Refusing:
        def get(self, url, **kw):
            resp = requests.Response()
            resp.status_code, resp._content, resp.url = 403, b"", url
            return resp

    notes: list[str] = []
    source = NexusSource("http://nexus.example", Refusing(), "migrator", "pw", notes=notes)
    assert source.cargo_indexes("crates-internal") == ()
    assert source.cargo_indexes("crates-internal") == ()  # asked once: one note
    assert len(notes) == 1 and "HTTP 403" in notes[0] and "nx-repository-admin-cargo-*-read" in notes[0]


def test_dependencies_named_through_a_downstream_codeartifact_repository_point_at_the_target(sandbox, tmp_path,
                                                                                           monkeypatch):
    """Cargo users read a CodeArtifact repository through one that has it as an upstream, so a crate published
    to it names its dependencies from there by that repository's endpoint; replicated to another region, the
    dependency must resolve in the target, not in the source region's repository."""
    from ferry.sandbox.seed import _gzip_tar
    from replicate_helpers import SOURCE_REGION, TARGET_REGION, write_replica_job

    aws_env(monkeypatch, tmp_path)
    url = sandbox.urls()["codeartifact"]
    source = codeartifact(url, SOURCE_REGION)
    source.create_domain(domain="acme")
    source.create_repository(domain="acme", repository="crates")
    source.create_repository(domain="acme", repository="crates-all", upstreams=[{"repositoryName": "crates"}])
    source.create_repository(domain="acme", repository="everything", upstreams=[{"repositoryName": "crates-all"}])
    source.create_repository(domain="acme", repository="elsewhere")
    endpoint, token = (source.get_repository_endpoint(domain="acme", repository="crates", format="cargo")
                       ["repositoryEndpoint"], source.get_authorization_token(domain="acme")["authorizationToken"])
    base, metadata = crate("acme_core", "0.4.0")
    _publish(endpoint, token, base, metadata)
    indexes = {repo: "sparse+" + source.get_repository_endpoint(domain="acme", repository=repo,
                                                                 format="cargo")["repositoryEndpoint"]
               for repo in ("crates-all", "everything", "elsewhere")}
    for repo, index in indexes.items():
        name = f"app_{repo.replace('-', '_')}"
        manifest = (f'[package]\nedition = "2021"\nname = "{name}"\nversion = "0.1.0"\nlicense = "MIT"\n\n'
                    f'[dependencies.acme_core]\nversion = "0.4"\nregistry-index = "{index}"\n')
        dep = {"name": "acme_core", "version_req": "^0.4", "features": [], "optional": False,
               "default_features": True, "target": None, "kind": "normal", "registry": index}
        _publish(endpoint, token, _gzip_tar({f"{name}-0.1.0/Cargo.toml": manifest.encode(),
                                             f"{name}-0.1.0/src/lib.rs": b""}),
                 {**metadata, "name": name, "vers": "0.1.0", "deps": [dep]})

    job = write_replica_job(tmp_path / "job.toml", url, [("crates", "crates")], options="create_missing = true")
    assert ferry("replicate", str(job), "--state", str(tmp_path / "ferry.db"), "--no-progress") == 0
    target = codeartifact(url, TARGET_REGION)
    there = target.get_repository_endpoint(domain="acme", repository="crates", format="cargo")["repositoryEndpoint"]
    auth = {"headers": {"Authorization": target.get_authorization_token(domain="acme")["authorizationToken"]}}
    registries = {repo: _lines(f"{there}ap/p_/app_{repo.replace('-', '_')}", **auth)[0]["deps"][0].get("registry")
                  for repo in indexes}
    assert registries == {"crates-all": None, "everything": None, "elsewhere": indexes["elsewhere"]}


def test_a_source_domain_whose_repositories_cannot_be_listed_is_a_note_not_a_failure():
    """Listing the source domain's repositories takes a permission a replication identity may lack: the
    crates still move, and the run says their dependencies named through another repository keep its URL."""
    from ferry.errors import FatalError
    from ferry.sources.codeartifact import CodeArtifactSource

    class Domain:
        def pages(self, operation, key, **params):
            raise FatalError(f"{operation}: CodeArtifact refused the source's credentials (AccessDeniedException)")

        def endpoint(self, repository, fmt):
            return f"https://acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/{fmt}/{repository}/"

    notes: list[str] = []
    source = CodeArtifactSource(Domain())
    source.notes = notes
    own = ("https://acme-111122223333.d.codeartifact.eu-west-1.amazonaws.com/cargo/crates/",)
    assert source.cargo_indexes("crates") == own and source.cargo_indexes("crates") == own
    assert len(notes) == 1 and "codeartifact:ListRepositoriesInDomain" in notes[0]
