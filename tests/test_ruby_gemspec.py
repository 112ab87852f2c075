"""Reading gemspecs and writing Marshal, checked against Ruby itself (and PyYAML as a second YAML reader)."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
import zlib
from functools import cmp_to_key
from pathlib import Path

import pytest

from e2e_helpers import ForwardOnly
from ferry.rubygems import marshal
from ferry.rubygems.psych import PsychError, load
from ferry.rubygems.spec import (
    GemError, compare_versions, full_name, parse_metadata, platform_string, read_gem, spec_from_json, spec_to_json,
)
from gem_cargo_clients import HAVE_GEM, needs_gem

# Gemspecs that exercise what Psych writes: folded long strings, block scalars with leading spaces
# (indentation indicator), quotes, unicode, empty collections, symbols, metadata hashes, platforms.
SPECS = {
    "plain": 's.summary = "hello"',
    "wrapped": 's.summary = "word " * 40; s.description = ("x" * 90 + " ") * 3',
    "blocks": 's.description = "  indented first\\nsecond\\n\\nafter blank\\n"; s.post_install_message = "bye\\n\\n"',
    "quotes": """s.summary = %q{it's "quoted": yes # not a comment}; s.authors = ["O'Brien", "Zoë", "- dash", ": colon"]""",
    "unicode": 's.summary = "日本語 ✓ émoji 🎉"; s.email = ["a@example.com", "b@example.com"]',
    "special": 's.summary = "true"; s.description = "123"; s.homepage = "null"; s.metadata = {"k" => "1.0", "x" => "yes"}',
    "deps": 's.add_dependency "rake", ">= 12", "< 14"; s.add_development_dependency "minitest", "~> 5.0"; '
            's.required_ruby_version = ">= 2.7"; s.required_rubygems_version = "> 1.3.1"',
    "platform": 's.platform = "x86_64-linux"; s.summary = "native"',
    "prerelease": 's.version = "2.0.0.rc1"; s.summary = "pre"',
    "tabs": 's.description = "a\\tb\\ttab\\n\\tindented with tab\\n"; s.summary = "trailing space "',
}


def _ruby_yaml(folder: Path) -> dict[str, str]:
    """The YAML RubyGems writes for each of SPECS (``Gem::Specification#to_yaml``, as in metadata.gz)."""
    script = "require 'json'\nout = {}\n"
    for key, body in SPECS.items():
        script += (f"s = Gem::Specification.new do |s| s.name = 'probe-{key}'; s.version = '1.0.0'; "
                   f"s.authors = ['A']; s.files = ['lib/x.rb']; {body}; end\n"
                   f"out[{json.dumps(key)}] = s.to_yaml\n")
    script += "File.write(ARGV[0], JSON.dump(out))\n"
    target = folder / "yaml.json"
    subprocess.run(["ruby", "-e", script, str(target)], check=True, timeout=60)
    return json.loads(target.read_text())


@pytest.fixture(scope="module")
def ruby_yaml(tmp_path_factory) -> dict[str, str]:
    if not HAVE_GEM:
        pytest.skip("ruby not installed")
    return _ruby_yaml(tmp_path_factory.mktemp("yaml"))


@pytest.mark.clients
@needs_gem
@pytest.mark.parametrize("key", sorted(SPECS))
def test_psych_reader_agrees_with_pyyaml_on_what_rubygems_writes(ruby_yaml, key):
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!ruby/object:", lambda loader, suffix, node: loader.construct_mapping(node, deep=True))
    text = ruby_yaml[key]
    theirs, ours = yaml.load(text, Loader=Loader), load(text)
    theirs.pop("date"), ours.pop("date")  # PyYAML makes a datetime of it; the reader keeps the text
    assert ours == theirs


@pytest.mark.clients
@needs_gem
def test_psych_reader_agrees_with_pyyaml_on_every_gemspec_installed_here(tmp_path):
    """Real-world metadata: the gemspecs of the gems that come with Ruby, written as YAML by RubyGems."""
    yaml = pytest.importorskip("yaml")

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!ruby/object:", lambda loader, suffix, node: loader.construct_mapping(node, deep=True))
    target = tmp_path / "all.json"
    subprocess.run(["ruby", "-rjson", "-e", "out = {}; Gem::Specification.each { |s| out[s.full_name] = s.to_yaml }; "
                    "File.write(ARGV[0], JSON.dump(out))", str(target)], check=True, timeout=60)
    corpus = json.loads(target.read_text())
    assert len(corpus) >= 10
    for full, text in corpus.items():
        theirs, ours = yaml.load(text, Loader=Loader), load(text)
        theirs.pop("date"), ours.pop("date")
        assert ours == theirs, full
        assert parse_metadata(text).full_name == full


@pytest.mark.clients
@needs_gem
def test_gemspec_fields_match_what_ruby_reads(ruby_yaml):
    spec = parse_metadata(ruby_yaml["deps"])
    assert (spec.name, spec.version, spec.platform) == ("probe-deps", "1.0.0", "ruby")
    assert [(d.name, d.requirement, d.type) for d in spec.dependencies] == [
        ("rake", ((">=", "12"), ("<", "14")), "runtime"), ("minitest", (("~>", "5.0"),), "development")]
    assert spec.required_ruby_version == ((">=", "2.7"),)
    assert spec.required_rubygems_version == ((">", "1.3.1"),)
    native = parse_metadata(ruby_yaml["platform"])
    assert native.platform == "x86_64-linux" and native.file_name == "probe-platform-1.0.0-x86_64-linux.gem"
    assert parse_metadata(ruby_yaml["prerelease"]).prerelease
    blocks = parse_metadata(ruby_yaml["blocks"])
    assert blocks.description == "  indented first\nsecond\n\nafter blank\n"
    assert spec_from_json(json.loads(json.dumps(spec_to_json(spec)))) == spec


def test_anchors_aliases_and_old_style_requirements():
    text = """--- !ruby/object:Gem::Specification 
name: old-gem
version: !ruby/object:Gem::Version 
  version: 0.9.2
platform: ruby
dependencies: 
- !ruby/object:Gem::Dependency 
  name: rack
  prerelease: false
  requirement: &id001 !ruby/object:Gem::Requirement 
    none: false
    requirements: 
    - - ">="
      - !ruby/object:Gem::Version 
        hash: 3
        segments: 
        - 0
        version: "0"
  type: :runtime
  version_requirements: *id001
summary: >-
  folded
  summary
"""
    spec = parse_metadata(text)
    assert (spec.name, spec.version) == ("old-gem", "0.9.2")
    assert spec.dependencies[0].requirement == ((">=", "0"),) and spec.summary == "folded summary"


@pytest.mark.parametrize("text", [
    "name: [unclosed", "a: 1\n  b: 2", "a: 1\na: 2", "a: \"unterminated\n", "a: *nowhere", "a: !binary |\n  %%%\n",
])
def test_malformed_yaml_is_refused(text):
    with pytest.raises(PsychError):
        load(text)


def _tar(members: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    buf.seek(0)
    return buf


@pytest.mark.parametrize("members, needle", [
    ({"data.tar.gz": b"x"}, "no metadata.gz"),
    ({"metadata.gz": b"not gzip"}, "not a gem"),
    ({"metadata.gz": gzip.compress(b"--- !ruby/object:Gem::Specification\nversion: 1\n")}, "name"),
    ({"metadata.gz": gzip.compress(b"--- !ruby/object:Gem::Specification\nname: x\nversion: not-a-version\n")},
     "version"),
])
def test_unusable_gems_are_refused(members, needle):
    with pytest.raises(GemError, match=needle):
        read_gem(_tar(members))
    with pytest.raises(GemError):
        read_gem(io.BytesIO(b"definitely not a tar" * 100))


def test_a_gem_read_as_a_stream_is_read_only_up_to_its_gemspec():
    """Naming a gem from its bytes (a listing with nothing else to go on) reads it as it downloads: the
    metadata.gz RubyGems writes first is read, the megabytes of data.tar.gz after it are not."""
    import os

    metadata = gzip.compress(b"--- !ruby/object:Gem::Specification\nname: big\nversion: !ruby/object:Gem::Version\n"
                             b"  version: 1.0.0\nplatform: ruby\n")
    stream = ForwardOnly(_tar({"metadata.gz": metadata, "data.tar.gz": os.urandom(4 * 1024 ** 2)}).getvalue())
    spec = read_gem(stream)
    assert (spec.name, spec.version) == ("big", "1.0.0")
    assert stream.taken < 64 * 1024


PLATFORMS = ["x86_64-linux", "x86_64-linux-gnu", "x86_64-linux-musl", "i686-linux", "arm64-darwin", "universal-darwin-19",
             "x64-mingw32", "x64-mingw-ucrt", "java", "jruby", "x86-mswin32-60", "mswin32", "aarch64-linux",
             "arm-linux-gnueabihf", "powerpc-aix5.3", "sparc-solaris2.8", "x86_64-freebsd13", "weird-thing"]
VERSIONS = ["1.0", "1.0.0", "1.0.a", "1.0.b1", "1.0.a.2", "2", "1.10", "1.9", "1.0.0.pre", "1.0.rc1", "0.0.1", "10.0"]


@pytest.mark.clients
@needs_gem
def test_platforms_and_version_order_follow_rubygems():
    script = ("require 'json'; puts JSON.dump([ARGV[0].split(',').map { |p| Gem::Platform.new(p).to_s }, "
              "ARGV[1].split(',').sort_by { |v| Gem::Version.new(v) }])")
    out = subprocess.run(["ruby", "-e", script, ",".join(PLATFORMS), ",".join(VERSIONS)], capture_output=True,
                         text=True, check=True, timeout=60)
    platforms, ordered = json.loads(out.stdout)
    assert [platform_string(p) for p in PLATFORMS] == platforms
    assert sorted(VERSIONS, key=cmp_to_key(compare_versions)) == ordered
    assert full_name("nokogiri", "1.15.0", "x86_64-linux") == "nokogiri-1.15.0-x86_64-linux"
    assert full_name("rake", "13.0.0", "ruby") == "rake-13.0.0"


def _build(folder: Path, name: str, version: str, extra: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "lib").mkdir(exist_ok=True)
    (folder / "lib" / f"{name}.rb").write_text(f"module X; VERSION = '{version}'; end\n")
    (folder / f"{name}.gemspec").write_text(
        f"Gem::Specification.new do |s|\n s.name = '{name}'\n s.version = '{version}'\n s.summary = 'probe'\n"
        f" s.authors = ['A']\n s.files = ['lib/{name}.rb']\n s.license = 'MIT'\n {extra}\nend\n")
    subprocess.run(["gem", "build", f"{name}.gemspec"], cwd=folder, check=True, capture_output=True, timeout=60)
    return next(folder.glob(f"{name}-{version}*.gem"))


@pytest.mark.clients
@needs_gem
def test_marshalled_gemspec_loads_in_ruby_as_the_one_gem_generate_index_writes(tmp_path):
    gems = [
        _build(tmp_path / "a", "probe_a", "1.2.0", "s.add_dependency 'rake', '>= 12', '< 14'\n"
               " s.metadata = {'source_code_uri' => 'https://example.com'}\n s.email = ['x@example.com']\n"
               " s.description = \"two\\nlines\"\n s.instance_variable_set(:@summary, \" multi-\\n  line\\n\\tsummary \")"),
        _build(tmp_path / "b", "probe_b", "0.1.0.beta2", "s.platform = 'x86_64-linux'\n s.required_ruby_version = '>= 3'"),
        _build(tmp_path / "c", "probe_c", "3.0.0", "s.platform = 'java'\n s.add_development_dependency 'rspec', '~> 3'"),
    ]
    index = tmp_path / "index"
    (index / "gems").mkdir(parents=True)
    ours = tmp_path / "ours"
    ours.mkdir()
    for path in gems:
        (index / "gems" / path.name).write_bytes(path.read_bytes())
        spec = read_gem(path)
        assert spec.file_name == path.name
        (ours / f"{spec.full_name}.gemspec.rz").write_bytes(zlib.compress(marshal.specification(spec)))
    subprocess.run(["gem", "generate_index", "-d", str(index)], check=True, capture_output=True, timeout=120)
    script = """
      theirs = Dir[File.join(ARGV[0], "quick/Marshal.4.8/*.rz")].sort
      abort "no index" if theirs.size != 3
      theirs.each do |path|
        a = Marshal.load(Gem::Util.inflate(File.binread(path)))
        b = Marshal.load(Gem::Util.inflate(File.binread(File.join(ARGV[1], File.basename(path)))))
        abort "#{File.basename(path)} differs:\n#{a.to_yaml}\n#{b.to_yaml}" unless a == b && a.to_yaml == b.to_yaml &&
          a.dependencies == b.dependencies && a.platform == b.platform && a.date == b.date
      end
      puts "ok"
    """
    out = subprocess.run(["ruby", "-e", script, str(index), str(ours)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stdout + out.stderr


@pytest.mark.clients
@needs_gem
def test_marshal_scalars_round_trip_through_ruby():
    values = [None, True, False, 0, 1, 122, 123, 255, 256, -1, -123, -124, -256, 65535, -65536, 2**30 - 1, -(2**30),
              "", "ascii", "ünï", b"\x00\xff", [1, [2, []]], {"k": [None]}, marshal.Symbol("sym"),
              [marshal.Symbol("a"), marshal.Symbol("a")]]
    data = marshal.dumps(values)
    script = "v = Marshal.load(STDIN.binmode.read); print v.inspect"
    out = subprocess.run(["ruby", "-e", script], input=data, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == ('[nil, true, false, 0, 1, 122, 123, 255, 256, -1, -123, -124, -256, 65535, '
                                   '-65536, 1073741823, -1073741824, "", "ascii", "ünï", "\\x00\\xFF", [1, [2, []]], '
                                   '{"k"=>[nil]}, :sym, [:a, :a]]')
    with pytest.raises(TypeError):
        marshal.dumps(2**40)
