"""The CodeArtifact stand-in's npm endpoint, proven with the real npm client (publish, install, view, dist-tag)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ferry.sandbox.codeartifact.app import endpoint_url

pytestmark = [
    pytest.mark.clients,
    pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed"),
]


@dataclass
class Npm:
    registry: str
    token: str
    home: Path
    store: object
    repo: object

    def run(self, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
        env.update(HOME=str(self.home), NPM_CONFIG_USERCONFIG=str(self.home / ".npmrc"),
                   NPM_CONFIG_CACHE=str(self.home / "cache"))
        cmd = ["npm", *args, "--registry", self.registry, "--prefer-online", "--audit=false", "--fund=false",
               "--update-notifier=false", "--loglevel=warn"]
        out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)
        if check and out.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
        return out

    def pack(self, workdir: Path, manifest: dict, files: dict[str, str]) -> Path:
        """A tarball made by ``npm pack`` from a package folder with ``manifest`` and ``files``."""
        src = workdir / "src"
        src.mkdir(parents=True)
        (src / "package.json").write_text(json.dumps(manifest))
        for name, text in files.items():
            (src / name).write_text(text)
        out = self.run("pack", "--json", "--pack-destination", str(workdir), cwd=src)
        return workdir / json.loads(out.stdout)[0]["filename"]


@pytest.fixture(scope="module")
def npm(module_sandbox, tmp_path_factory) -> Npm:
    store = module_sandbox.apps["codeartifact"].store
    domain = store.create_domain("us-east-1", "111122223333", "npmclients")
    repo = store.create_repository(domain, "npm-store")
    token, _ = store.issue_token(domain, 3600)
    registry = endpoint_url(module_sandbox.urls()["codeartifact"], domain, repo.name, "npm")
    home = tmp_path_factory.mktemp("npmhome")
    # The same auth line `aws codeartifact login --tool npm` writes: npm then sends "Bearer TOKEN".
    (home / ".npmrc").write_text(f"registry={registry}\n{registry.split(':', 1)[1]}:_authToken={token}\n")
    return Npm(registry, token, home, store, repo)


def _members(tgz: bytes) -> dict[str, bytes]:
    """File contents of an npm tarball keyed by path below ``package/``."""
    with tarfile.open(fileobj=io.BytesIO(tgz), mode="r:gz") as tar:
        return {m.name.split("/", 1)[1]: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def _installed(project: Path, name: str) -> dict[str, bytes]:
    root = project / "node_modules" / name
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _project(tmp_path: Path, name: str) -> Path:
    proj = tmp_path / name
    proj.mkdir()
    (proj / "package.json").write_text(json.dumps({"name": name, "version": "0.0.0", "private": True}))
    return proj


def test_publish_and_install_unscoped_and_scoped(npm, tmp_path):
    plain = npm.pack(tmp_path / "plain", {"name": "ferry-demo", "version": "1.0.0", "description": "demo",
                                          "license": "MIT"}, {"index.js": "module.exports = 'plain';\n"})
    scoped = npm.pack(tmp_path / "scoped", {"name": "@ferry/widget", "version": "3.2.1"},
                      {"index.js": "module.exports = 'scoped';\n", "README.md": "# widget\n"})
    for tgz in (plain, scoped):
        npm.run("publish", str(tgz), cwd=tmp_path)

    proj = _project(tmp_path, "consumer")
    npm.run("install", "ferry-demo", "@ferry/widget@3.2.1", cwd=proj)

    for tgz, name in ((plain, "ferry-demo"), (scoped, "@ferry/widget")):
        published = tgz.read_bytes()
        assert _installed(proj, name) == _members(published)
        namespace, _, pkg_name = name[1:].partition("/") if name.startswith("@") else (None, "", name)
        pkg = npm.store.require_package(npm.repo, "npm", namespace, pkg_name)
        ver = npm.store.versions(pkg)[0]
        assert [a.name for a in npm.store.assets(ver)] == ["package.tgz"]
        assert npm.store.asset(ver, "package.tgz").sha256 == hashlib.sha256(published).hexdigest()

    lock = json.loads((proj / "package-lock.json").read_text())
    entry = lock["packages"]["node_modules/@ferry/widget"]
    assert entry["resolved"].startswith(npm.registry + "@ferry/widget/-/widget-3.2.1.tgz")
    assert entry["integrity"].startswith("sha512-")
    # The escaped form npm uses for scoped names serves the same packument.
    auth = {"Authorization": f"Bearer {npm.token}"}
    escaped = requests.get(npm.registry + "@ferry%2fwidget", headers=auth, timeout=10).json()
    assert escaped["versions"]["3.2.1"]["dist"]["tarball"] == entry["resolved"]


def test_prerelease_with_dist_tag_and_view(npm, tmp_path):
    for version, tag in (("2.0.0", None), ("2.1.0-beta.1", "beta")):
        tgz = npm.pack(tmp_path / version, {"name": "ferry-tagged", "version": version},
                       {"index.js": f"module.exports = '{version}';\n"})
        npm.run("publish", str(tgz), *(["--tag", tag] if tag else []), cwd=tmp_path)

    view = npm.run("view", "ferry-tagged", "dist-tags", "--json", cwd=tmp_path)
    assert json.loads(view.stdout) == {"latest": "2.0.0", "beta": "2.1.0-beta.1"}
    versions = json.loads(npm.run("view", "ferry-tagged", "versions", "--json", cwd=tmp_path).stdout)
    assert versions == ["2.0.0", "2.1.0-beta.1"]

    proj = _project(tmp_path, "beta-consumer")
    npm.run("install", "ferry-tagged@beta", cwd=proj)
    assert json.loads((proj / "node_modules/ferry-tagged/package.json").read_text())["version"] == "2.1.0-beta.1"

    npm.run("dist-tag", "add", "ferry-tagged@2.1.0-beta.1", "next", cwd=tmp_path)
    npm.run("dist-tag", "rm", "ferry-tagged", "beta", cwd=tmp_path)
    listing = npm.run("dist-tag", "ls", "ferry-tagged", cwd=tmp_path).stdout
    assert sorted(listing.split("\n")[:-1]) == ["latest: 2.0.0", "next: 2.1.0-beta.1"]
    pkg = npm.store.require_package(npm.repo, "npm", None, "ferry-tagged")
    assert npm.store.dist_tags(pkg) == {"latest": "2.0.0", "next": "2.1.0-beta.1"}


def test_republishing_a_version_with_other_content_fails(npm, tmp_path):
    first = npm.pack(tmp_path / "a", {"name": "ferry-fixed", "version": "1.0.0"}, {"index.js": "1;\n"})
    npm.run("publish", str(first), cwd=tmp_path)
    other = npm.pack(tmp_path / "b", {"name": "ferry-fixed", "version": "1.0.0"}, {"index.js": "2;\n"})

    # npm refuses on its own once it sees 1.0.0 in the packument...
    assert npm.run("publish", str(other), cwd=tmp_path, check=False).returncode != 0
    # ...so hide the version (Unlisted: left out of the packument, still downloadable) to make the
    # stand-in itself refuse the PUT: npm then gets a 409, re-reads the packument and gives up.
    pkg = npm.store.require_package(npm.repo, "npm", None, "ferry-fixed")
    ver = npm.store.set_status(npm.store.version(pkg, "1.0.0"), "Unlisted")
    auth = {"Authorization": f"Bearer {npm.token}"}
    assert requests.get(npm.registry + "ferry-fixed", headers=auth, timeout=10).json()["versions"] == {}
    out = npm.run("publish", str(other), cwd=tmp_path, check=False)
    assert out.returncode != 0
    assert "409" in out.stderr  # the stand-in refused the PUT itself

    asset = npm.store.asset(npm.store.version(pkg, "1.0.0"), "package.tgz")
    assert asset.sha256 == hashlib.sha256(first.read_bytes()).hexdigest()
    assert npm.store.version(pkg, "1.0.0").revision == ver.revision
    tarball = requests.get(npm.registry + "ferry-fixed/-/ferry-fixed-1.0.0.tgz", headers=auth, timeout=10)
    assert tarball.status_code == 200 and tarball.content == first.read_bytes()


def test_deprecate_warns_on_install_and_an_empty_message_undeprecates(npm, tmp_path):
    for version in ("1.0.0", "1.1.0"):
        tgz = npm.pack(tmp_path / version, {"name": "@ferry/aging", "version": version}, {"index.js": "1;\n"})
        npm.run("publish", str(tgz), cwd=tmp_path)
    pkg = npm.store.require_package(npm.repo, "npm", "ferry", "aging")
    revision = npm.store.version(pkg, "1.0.0").revision

    npm.run("deprecate", "@ferry/aging@1.0.0", "use 1.1.0", cwd=tmp_path)
    assert npm.run("view", "@ferry/aging@1.0.0", "deprecated", cwd=tmp_path).stdout.strip() == "use 1.1.0"
    assert npm.run("view", "@ferry/aging@1.1.0", "deprecated", cwd=tmp_path).stdout.strip() == ""
    out = npm.run("install", "@ferry/aging@1.0.0", cwd=_project(tmp_path, "aging-consumer"))
    assert "deprecated @ferry/aging@1.0.0: use 1.1.0" in out.stderr
    assert npm.store.version(pkg, "1.0.0").revision == revision  # the files are unchanged

    npm.run("deprecate", "@ferry/aging@1.0.0", "", cwd=tmp_path)
    assert npm.run("view", "@ferry/aging@1.0.0", "deprecated", cwd=tmp_path).stdout.strip() == ""
