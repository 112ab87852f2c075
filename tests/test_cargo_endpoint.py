"""The CodeArtifact stand-in's Cargo endpoint (sparse registry), proven with the real ``cargo publish``
and ``cargo build``."""

from __future__ import annotations

import hashlib
import itertools
import json
import struct
import subprocess
from dataclasses import dataclass

import pytest
import requests

from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import crate
from gem_cargo_clients import cargo, cargo_project, needs_cargo

_names = itertools.count()


@dataclass
class Registry:
    endpoint: str
    token: str
    store: object
    repo: object

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.endpoint + path, headers={"Authorization": self.token, **kw.pop("headers", {})},
                            timeout=10, **kw)

    def publish(self, data: bytes, metadata: dict, token: str | None = None) -> requests.Response:
        meta = json.dumps(metadata).encode()
        body = struct.pack("<I", len(meta)) + meta + struct.pack("<I", len(data)) + data
        return requests.put(self.endpoint + "api/v1/crates/new", data=body, timeout=30,
                            headers={"Authorization": token or self.token, "Accept": "application/json"})

    def version(self, name: str, version: str):
        pkg = self.store.package(self.repo, "cargo", None, name)
        return self.store.version(pkg, version) if pkg else None


@pytest.fixture
def registry(module_sandbox) -> Registry:
    store = module_sandbox.apps["codeartifact"].store
    try:
        domain = store.domain("us-east-1", None, "cargoclients")
    except Exception:
        domain = store.create_domain("us-east-1", "111122223333", "cargoclients")
    repo = store.create_repository(domain, f"crates-{next(_names)}")
    token, _ = store.issue_token(domain, 3600)
    return Registry(endpoint_url(module_sandbox.urls()["codeartifact"], domain, repo.name, "cargo"), token, store,
                    repo)


_APP_MANIFEST = """
[dependencies]
probe_core = { version = "0.1", registry = "standin" }
extra = { package = "Probe-Extra", version = ">= 0.2.0-beta.1, < 0.3", registry = "standin", optional = true, default-features = false, features = ["fast"] }

[target.'cfg(unix)'.dependencies]
core_unix = { package = "probe_core", version = "=0.1.0", registry = "standin" }

[dev-dependencies]
core_dev = { package = "probe_core", version = "0.1.0", registry = "standin" }

[build-dependencies]
core_build = { package = "probe_core", version = "~0.1", registry = "standin" }

[features]
default = ["with-extra"]
with-extra = ["dep:extra"]
weak = ["extra?/fast"]
"""


@pytest.mark.clients
@needs_cargo
def test_cargo_publish_then_cargo_build_from_the_sparse_index(registry, tmp_path):
    home = tmp_path / "cargo-home"
    core = cargo_project(tmp_path / "probe_core", "probe_core", registry.endpoint,
                         '[features]\ndefault = ["answer"]\nanswer = []\n',
                         '#[cfg(feature = "answer")]\npub fn answer() -> u32 { 42 }\n', lib=True)
    extra = cargo_project(tmp_path / "extra", "Probe-Extra", registry.endpoint,
                          '[features]\nfast = []\n', 'pub fn extra() -> &\'static str { "fast" }\n', lib=True)
    (extra / "Cargo.toml").write_text((extra / "Cargo.toml").read_text().replace('"0.1.0"', '"0.2.0-beta.1"')
                                      .replace('license = "MIT"\n', 'license = "MIT"\nrust-version = "1.70"\n'))
    app = cargo_project(tmp_path / "probe_app", "probe_app", registry.endpoint, _APP_MANIFEST,
                        'fn main() { println!("{} {}", probe_core::answer(), extra::extra()); }\n')
    (app / "build.rs").write_text("fn main() {}\n")
    for folder in (core, extra, app):
        cargo(home, folder, registry.token, "publish", "--registry", "standin", "--allow-dirty", "--no-verify")

    lines = [json.loads(x) for x in registry.get("pr/ob/probe_app").text.splitlines()]
    assert len(lines) == 1
    entry = lines[0]
    crate_bytes = registry.get("api/v1/crates/probe_app/0.1.0/download").content
    assert entry["cksum"] == hashlib.sha256(crate_bytes).hexdigest()
    assert (entry["name"], entry["vers"], entry["yanked"], entry["links"]) == ("probe_app", "0.1.0", False, None)
    assert entry["features"] == {"default": ["with-extra"]}
    assert entry["features2"] == {"with-extra": ["dep:extra"], "weak": ["extra?/fast"]} and entry["v"] == 2
    deps = sorted(entry["deps"], key=lambda d: d["name"])
    assert deps == [
        {"name": "core_build", "req": "~0.1", "features": [], "optional": False, "default_features": True,
         "target": None, "kind": "build", "package": "probe_core"},
        {"name": "core_dev", "req": "^0.1.0", "features": [], "optional": False, "default_features": True,
         "target": None, "kind": "dev", "package": "probe_core"},
        {"name": "core_unix", "req": "=0.1.0", "features": [], "optional": False, "default_features": True,
         "target": "cfg(unix)", "kind": "normal", "package": "probe_core"},
        {"name": "extra", "req": ">=0.2.0-beta.1, <0.3", "features": ["fast"], "optional": True,
         "default_features": False, "target": None, "kind": "normal", "package": "Probe-Extra"},
        {"name": "probe_core", "req": "^0.1", "features": [], "optional": False, "default_features": True,
         "target": None, "kind": "normal"},
    ]
    # Mixed-case names live at the lower-cased path and keep their case in the line.
    [extra_line] = [json.loads(x) for x in registry.get("pr/ob/probe-extra").text.splitlines()]
    assert (extra_line["name"], extra_line["rust_version"]) == ("Probe-Extra", "1.70")

    user = cargo_project(tmp_path / "user", "user", registry.endpoint,
                         '[dependencies]\nprobe_app = { version = "0.1.0", registry = "standin" }\n'
                         'probe_core = { version = "0.1", registry = "standin" }\n'
                         'extra = { package = "Probe-Extra", version = "0.2.0-beta.1", registry = "standin" }\n',
                         'fn main() { println!("{}-{}", probe_core::answer(), extra::extra()); }\n')
    cargo(home, user, registry.token, "build")
    built = subprocess.run([str(user / "target" / "debug" / "user")], capture_output=True, text=True, timeout=30)
    assert built.stdout.strip() == "42-fast"
    cached = next((home / "registry" / "cache").glob("*/probe_app-0.1.0.crate"))
    assert cached.read_bytes() == crate_bytes

    # cargo itself refuses to publish a version its index already lists.
    again = cargo(home, core, registry.token, "publish", "--registry", "standin", "--allow-dirty", "--no-verify",
                  check=False)
    assert again.returncode != 0 and "already exists" in again.stderr


def test_publish_rules_identical_conflict_and_bad_bodies(registry):
    data, meta = crate("rules", "1.0.0")
    assert registry.publish(data, meta).json() == {"warnings": {"invalid_categories": [], "invalid_badges": [],
                                                                "other": []}}
    before = registry.version("rules", "1.0.0").revision
    assert registry.publish(data, meta).status_code == 200
    assert registry.version("rules", "1.0.0").revision == before
    other, _ = crate("rules", "1.0.0", description="changed")
    conflict = registry.publish(other, meta)
    assert conflict.status_code == 409 and "different content" in conflict.json()["errors"][0]["detail"]

    wrong, wrong_meta = crate("rules", "1.1.0")
    resp = registry.publish(wrong, {**wrong_meta, "vers": "1.2.0"})
    assert resp.status_code == 400 and "Cargo.toml" in resp.json()["errors"][0]["detail"]
    for bad in ({**meta, "name": "9bad"}, {**meta, "vers": "1.0"}, {**meta, "deps": [{"name": "x"}]}, []):
        resp = registry.publish(data, bad)
        assert resp.status_code == 400 and resp.json()["errors"][0]["detail"]
    truncated = requests.put(registry.endpoint + "api/v1/crates/new", data=b"\x10\x00", timeout=10,
                             headers={"Authorization": registry.token})
    assert truncated.status_code == 400
    assert registry.publish(data, meta, token="nope").status_code == 401
    bearer = registry.publish(*crate("bearer-ok", "0.1.0"), token=f"Bearer {registry.token}")
    assert bearer.status_code == 200


def test_config_index_paths_statuses_and_caching(registry):
    config = registry.get("config.json").json()
    assert config == {"dl": registry.endpoint + "api/v1/crates", "api": registry.endpoint.rstrip("/"),
                      "auth-required": True}
    assert requests.get(registry.endpoint + "config.json", timeout=10).status_code == 401
    for name, path in (("a", "1/a"), ("ab", "2/ab"), ("abc", "3/a/abc"), ("Abcd-E", "ab/cd/abcd-e")):
        data, meta = crate(name, "0.1.0")
        assert registry.publish(data, meta).status_code == 200
        assert json.loads(registry.get(path).text)["name"] == name
    assert registry.get("ab/zz/abcd-e").status_code == 404
    assert registry.get("xx/yy/xxyy").status_code == 404

    for version in ("1.0.0", "1.1.0", "1.2.0"):
        registry.publish(*crate("lifecycle", version))
    registry.store.set_status(registry.version("lifecycle", "1.1.0"), "Unlisted")
    registry.store.set_status(registry.version("lifecycle", "1.2.0"), "Archived")
    first = registry.get("li/fe/lifecycle")
    lines = [json.loads(x) for x in first.text.splitlines()]
    assert [(x["vers"], x["yanked"]) for x in lines] == [("1.0.0", False), ("1.1.0", True)]
    assert registry.get("api/v1/crates/lifecycle/1.1.0/download").content == crate("lifecycle", "1.1.0")[0]
    assert registry.get("api/v1/crates/lifecycle/1.2.0/download").status_code == 404
    cached = registry.get("li/fe/lifecycle", headers={"If-None-Match": first.headers["ETag"]})
    assert cached.status_code == 304
