"""The CodeArtifact stand-in's RubyGems endpoint, proven with the real ``gem push`` / ``gem install``
(Debian's RubyGems 3.3) and checked against the index files ``gem generate_index`` writes."""

from __future__ import annotations

import gzip
import hashlib
import itertools
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ferry.sandbox.codeartifact.app import endpoint_url
from ferry.sandbox.seed import gem
from gem_cargo_clients import gem_install, gem_push, needs_gem, ruby

_names = itertools.count()


@dataclass
class Gems:
    endpoint: str
    token: str
    store: object
    domain: object
    repo: object

    @property
    def source(self) -> str:
        """The ``gem install --source`` URL with ``aws:TOKEN`` credentials, as the user guide shows it."""
        scheme, rest = self.endpoint.split("://", 1)
        return f"{scheme}://aws:{self.token}@{rest}"

    @property
    def host(self) -> str:
        return self.endpoint.rstrip("/")

    def get(self, path: str, **kw) -> requests.Response:
        return requests.get(self.endpoint + path, auth=("aws", self.token), timeout=10, **kw)

    def push(self, data: bytes, auth: str | None = None) -> requests.Response:
        headers = {"Authorization": auth or f"Bearer {self.token}", "Content-Type": "application/octet-stream"}
        return requests.post(self.host + "/api/v1/gems", data=data, headers=headers, timeout=30)


@pytest.fixture
def gems(module_sandbox) -> Gems:
    """A fresh repository per test (in a module-wide sandbox)."""
    store = module_sandbox.apps["codeartifact"].store
    try:
        domain = store.domain("us-east-1", None, "rubyclients")
    except Exception:
        domain = store.create_domain("us-east-1", "111122223333", "rubyclients")
    repo = store.create_repository(domain, f"gem-store-{next(_names)}")
    token, _ = store.issue_token(domain, 3600)
    return Gems(endpoint_url(module_sandbox.urls()["codeartifact"], domain, repo.name, "ruby"), token, store, domain,
                repo)


def _write(folder: Path, built: tuple[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / built[0]
    path.write_bytes(built[1])
    return path


def _version(gems: Gems, name: str, version: str):
    pkg = gems.store.package(gems.repo, "ruby", None, name)
    return gems.store.version(pkg, version) if pkg else None


@pytest.mark.clients
@needs_gem
def test_gem_push_then_gem_install_resolves_dependencies_and_platforms(gems, tmp_path):
    home = tmp_path / "home"
    built = [gem("acme-base", "1.0.0"), gem("acme-base", "1.1.0"), gem("acme-base", "2.0.0.beta1"),
             gem("acme-app", "0.5.0", dependencies={"acme-base": "~> 1.0"}),
             gem("acme-native", "3.0.0", body="module AcmeNative; KIND = 'ruby'; end\n"),
             gem("acme-native", "3.0.0", platform="x86_64-linux", body="module AcmeNative; KIND = 'native'; end\n")]
    for item in built:
        out = gem_push(home, gems.host, _write(tmp_path / "built", item), gems.token)
        assert "Successfully registered gem" in out.stdout
    native = _version(gems, "acme-native", "3.0.0")
    assert {a.name for a in gems.store.assets(native)} == {"acme-native-3.0.0.gem", "acme-native-3.0.0-x86_64-linux.gem"}

    gem_install(home, gems.source, "acme-app", "acme-native")
    installed = sorted(p.name for p in (home / "gems" / "gems").iterdir())
    # acme-app needs acme-base ~> 1.0: the newest 1.x, not the prerelease 2.0; on x86_64 Linux gem picks
    # the native platform gem over the pure-Ruby one.
    assert installed == ["acme-app-0.5.0", "acme-base-1.1.0", "acme-native-3.0.0-x86_64-linux"]
    assert ruby(home, "require 'acme_app'; require 'acme_native'; print AcmeApp::VERSION, AcmeNative::KIND") == \
        "0.5.0native"
    cached = home / "gems" / "cache" / "acme-base-1.1.0.gem"
    assert cached.read_bytes() == built[1][1]

    # Re-pushing the same bytes succeeds and changes nothing; other bytes for that file are a conflict.
    before = _version(gems, "acme-base", "1.1.0").revision
    gem_push(home, gems.host, _write(tmp_path / "built", built[1]), gems.token)
    assert _version(gems, "acme-base", "1.1.0").revision == before
    other = _write(tmp_path / "other", gem("acme-base", "1.1.0", summary="different"))
    failed = gem_push(home, gems.host, other, gems.token, check=False)
    assert failed.returncode != 0 and "different content" in failed.stdout + failed.stderr
    asset = gems.store.asset(_version(gems, "acme-base", "1.1.0"), "acme-base-1.1.0.gem")
    assert asset.sha256 == hashlib.sha256(built[1][1]).hexdigest()


@pytest.mark.clients
@needs_gem
def test_index_files_load_in_ruby_as_gem_generate_index_writes_them(gems, tmp_path):
    built = [gem("idx-a", "1.0.0"), gem("idx-a", "1.2.0"), gem("idx-a", "0.9.0"), gem("idx-a", "2.0.0.rc1"),
             gem("idx-b", "0.1.0", platform="java"), gem("idx-b", "0.1.0"), gem("idx-b", "0.2.0.pre")]
    index = tmp_path / "index"
    for item in built:
        assert gems.push(item[1]).status_code == 200
        _write(index / "gems", item)
    subprocess.run(["gem", "generate_index", "-d", str(index)], check=True, capture_output=True, timeout=120)
    for name in ("specs.4.8", "latest_specs.4.8", "prerelease_specs.4.8"):
        ours = gems.get(name + ".gz")
        assert ours.status_code == 200
        (tmp_path / f"ours-{name}").write_bytes(gzip.decompress(ours.content))
        assert gems.get(name).content == gzip.decompress(ours.content)
    # latest_specs: the newest release per name and platform, as rubygems.org serves it (RubyGems 3.3's
    # generate_index keeps one platform per name, so it is not the oracle for this file).
    assert _marshal_names((tmp_path / "ours-latest_specs.4.8").read_bytes()) == \
        "idx-a 1.2.0 ruby,idx-b 0.1.0 java,idx-b 0.1.0 ruby"
    script = """
      %w[specs.4.8 prerelease_specs.4.8].each do |n|
        a = Marshal.load(File.binread(File.join(ARGV[0], "index", n))).sort
        b = Marshal.load(File.binread(File.join(ARGV[0], "ours-#{n}"))).sort
        abort "#{n}: #{a.inspect} != #{b.inspect}" unless a == b && !a.empty?
      end
      print "ok"
    """
    out = subprocess.run(["ruby", "-e", script, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.stdout == "ok", out.stderr
    spec = gems.get("quick/Marshal.4.8/idx-b-0.1.0-java.gemspec.rz")
    assert spec.status_code == 200
    theirs = (index / "quick" / "Marshal.4.8" / "idx-b-0.1.0-java.gemspec.rz").read_bytes()
    check = ("a = Marshal.load(Gem::Util.inflate(File.binread(ARGV[0]))); b = Marshal.load(Gem::Util.inflate("
             "File.binread(ARGV[1]))); print(a == b && a.platform == b.platform && a.platform.to_s == 'java')")
    (tmp_path / "ours.rz").write_bytes(spec.content)
    (tmp_path / "theirs.rz").write_bytes(theirs)
    out = subprocess.run(["ruby", "-e", check, str(tmp_path / "ours.rz"), str(tmp_path / "theirs.rz")],
                         capture_output=True, text=True, timeout=60)
    assert out.stdout == "true", out.stderr
    deps = gems.get("api/v1/dependencies", params={"gems": "idx-a,idx-b,nope"})
    out = subprocess.run(["ruby", "-e", "print Marshal.load(STDIN.binmode.read).map { |h| "
                          "[h[:name], h[:number], h[:platform]].join(' ') }.sort.join(',')"],
                         input=deps.content, capture_output=True, timeout=60)
    assert out.stdout.decode() == ("idx-a 0.9.0 ruby,idx-a 1.0.0 ruby,idx-a 1.2.0 ruby,idx-a 2.0.0.rc1 ruby,"
                                   "idx-b 0.1.0 java,idx-b 0.1.0 ruby,idx-b 0.2.0.pre ruby")


def _marshal_names(data: bytes) -> str:
    out = subprocess.run(["ruby", "-e", "print Marshal.load(STDIN.binmode.read).map { |n, v, p| "
                          "[n, v.to_s, p].join(' ') }.sort.join(',')"], input=data, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.decode()


@pytest.mark.clients
@needs_gem
def test_statuses_decide_what_is_listed_and_what_downloads(gems):
    for version in ("1.0.0", "1.1.0", "1.2.0"):
        assert gems.push(gem("stat", version)[1]).status_code == 200
    gems.store.set_status(_version(gems, "stat", "1.1.0"), "Unlisted")
    gems.store.set_status(_version(gems, "stat", "1.2.0"), "Archived")
    assert _marshal_names(gzip.decompress(gems.get("specs.4.8.gz").content)) == "stat 1.0.0 ruby"
    assert _marshal_names(gzip.decompress(gems.get("latest_specs.4.8.gz").content)) == "stat 1.0.0 ruby"
    assert gems.get("gems/stat-1.1.0.gem").content == gem("stat", "1.1.0")[1]  # Unlisted still downloads
    assert gems.get("gems/stat-1.2.0.gem").status_code == 404
    assert gems.get("quick/Marshal.4.8/stat-1.2.0.gemspec.rz").status_code == 404
    spec = zlib.decompress(gems.get("quick/Marshal.4.8/stat-1.0.0.gemspec.rz").content)
    assert spec.startswith(b"\x04\x08u:\x17Gem::Specification")


def test_no_compact_index_and_bad_requests(gems):
    # RubyGems probes the root; a 404 there makes it use the specs files, which CodeArtifact serves.
    assert requests.head(gems.endpoint, auth=("aws", gems.token), timeout=10).status_code == 404
    for path in ("versions", "names", "info/rake", "gems/nope-1.0.0.gem", "quick/Marshal.4.8/nope-1.gemspec.rz"):
        assert gems.get(path).status_code == 404, path
    assert gems.push(b"not a gem").status_code == 400
    assert gems.push(gem("x", "1.0.0")[1], auth="Bearer wrong").status_code == 401
    basic = requests.post(gems.host + "/api/v1/gems", data=gem("basic-ok", "1.0.0")[1], auth=("aws", gems.token),
                          timeout=10)
    assert basic.status_code == 200 and basic.text == "Successfully registered gem: basic-ok (1.0.0)"
    assert requests.put(gems.host + "/api/v1/gems", data=b"", auth=("aws", gems.token), timeout=10).status_code == 405
    pkg = gems.store.ensure_package(gems.repo, "ruby", None, "blocked")
    gems.store.set_origin(pkg, "BLOCK", "ALLOW")
    assert gems.push(gem("blocked", "1.0.0")[1]).status_code == 403
    assert gems.store.versions(pkg) == []
