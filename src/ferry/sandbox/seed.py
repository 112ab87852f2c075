"""Real-looking packages built on the spot, and seeding them into the stand-ins through their real APIs.

Used by ``ferry demo`` and by the end-to-end tests. Every file is a genuine package that npm, pip
and twine accept (an npm tarball with ``package/package.json``, a wheel with METADATA/WHEEL/RECORD,
an sdist with PKG-INFO), made deterministic so reruns give identical bytes. Maven artifacts are
either built (POM + jar + sources jar) or copied from Debian's ``/usr/share/maven-repo``.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import requests

NEXUS_AUTH = ("admin", "admin123")
_EPOCH = 1_700_000_000
# Debian's packaged Maven repository (maven-repo-helper layout): real jars and POMs to migrate.
DEBIAN_MAVEN_REPO = Path("/usr/share/maven-repo")


def _tar_add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = _EPOCH
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))


def _gzip_tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    # mtime=0 in the gzip header too, so the same input gives the same bytes.
    import gzip

    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w") as tar:
            for name, data in files.items():
                _tar_add(tar, name, data)
    return buf.getvalue()


def npm_tarball(name: str, version: str, description: str = "", body: str = "") -> bytes:
    """An ``npm pack`` tarball for ``name@version`` (``name`` may be scoped)."""
    manifest = {"name": name, "version": version, "description": description or f"{name} for the ferry demo",
                "main": "index.js", "license": "MIT"}
    code = body or f"module.exports = {{ name: {json.dumps(name)}, version: {json.dumps(version)} }};\n"
    return _gzip_tar({"package/package.json": json.dumps(manifest, indent=2).encode(),
                      "package/index.js": code.encode(),
                      "package/README.md": f"# {name}\n\nVersion {version}.\n".encode()})


def _record_line(path: str, data: bytes) -> list[str]:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return [path, f"sha256={digest}", str(len(data))]


def wheel(name: str, version: str, summary: str = "") -> tuple[str, bytes]:
    """A pure-Python wheel ``(filename, bytes)`` that pip installs."""
    module = name.lower().replace("-", "_").replace(".", "_")
    dist = module
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": f"__version__ = {version!r}\n".encode(),
        f"{info}/METADATA": (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                             f"Summary: {summary or name + ' for the ferry demo'}\nRequires-Python: >=3.8\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ferry-seed\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = io.StringIO()
    writer = csv.writer(record, lineterminator="\n")
    for path, data in files.items():
        writer.writerow(_record_line(path, data))
    writer.writerow([f"{info}/RECORD", "", ""])
    files[f"{info}/RECORD"] = record.getvalue().encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2023, 11, 14, 22, 13, 20))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return f"{dist}-{version}-py3-none-any.whl", buf.getvalue()


def sdist(name: str, version: str) -> tuple[str, bytes]:
    """A source distribution ``(filename, bytes)`` with PKG-INFO and a setup.py."""
    stem = f"{name.lower().replace('-', '_').replace('.', '_')}-{version}"
    pkg_info = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {name} sdist\n".encode()
    setup = f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n".encode()
    return f"{stem}.tar.gz", _gzip_tar({f"{stem}/PKG-INFO": pkg_info, f"{stem}/setup.py": setup})


def _zip(files: dict[str, bytes]) -> bytes:
    """A deflated zip of ``files`` with fixed timestamps, so the same input gives the same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zi = zipfile.ZipInfo(path, date_time=(2023, 11, 14, 22, 13, 20))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return buf.getvalue()


def nupkg(package_id: str, version: str, description: str = "", dependencies: dict[str, str] | None = None,
          symbols: bool = False, license_expression: str = "MIT", body: bytes = b"") -> bytes:
    """A ``.nupkg`` as ``dotnet pack`` lays it out: ``{id}.nuspec`` at the root (2013/05 schema),
    ``[Content_Types].xml``, ``_rels/.rels`` and a library. ``symbols`` makes a ``.snupkg`` (package
    type ``SymbolsPackage``, a ``.pdb`` instead of the library)."""
    from xml.sax.saxutils import escape

    deps = "".join(f'<dependency id="{escape(d)}" version="{escape(r)}" exclude="Build,Analyzers" />'
                   for d, r in (dependencies or {}).items())
    groups = f'<dependencies><group targetFramework=".NETStandard2.0">{deps}</group></dependencies>' if deps else ""
    kind = "<packageTypes><packageType name=\"SymbolsPackage\" /></packageTypes>" if symbols else ""
    nuspec = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">\n  <metadata>\n'
        f"    <id>{escape(package_id)}</id>\n    <version>{escape(version)}</version>\n"
        "    <authors>Acme</authors>\n"
        f'    <license type="expression">{escape(license_expression)}</license>\n'
        "    <projectUrl>https://example.com/acme</projectUrl>\n"
        f"    <description>{escape(description or package_id + ' for the ferry demo')}</description>\n"
        '    <repository type="git" url="https://example.com/acme/repo.git" />\n'
        f"    {kind}{groups}\n  </metadata>\n</package>\n"
    ).encode()
    content_types = (b'<?xml version="1.0" encoding="utf-8"?><Types xmlns="http://schemas.openxmlformats.org/'
                     b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
                     b'openxmlformats-package.relationships+xml" /><Default Extension="nuspec" ContentType='
                     b'"application/octet" /><Default Extension="dll" ContentType="application/octet" />'
                     b'<Default Extension="pdb" ContentType="application/octet" /></Types>')
    rels = (b'<?xml version="1.0" encoding="utf-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
            b'package/2006/relationships"><Relationship Type="http://schemas.microsoft.com/packaging/2010/07/'
            b'manifest" Target="/' + package_id.encode() + b'.nuspec" Id="R1" /></Relationships>')
    payload = (f"lib/netstandard2.0/{package_id}.pdb" if symbols else f"lib/netstandard2.0/{package_id}.dll",
               b"MZ\x90\x00" + f"{package_id} {version}".encode() + body)
    return _zip({"_rels/.rels": rels, f"{package_id}.nuspec": nuspec, payload[0]: payload[1],
                 "[Content_Types].xml": content_types})


def swift_source_archive(name: str, version: str, tools_version: str = "5.9",
                         extra_manifests: dict[str, str] | None = None) -> bytes:
    """A source archive as ``swift package archive-source`` makes it: the package folder at the top,
    ``Package.swift`` (and any ``Package@swift-X.swift`` in ``extra_manifests``: file name -> tools
    version) and one library target."""
    def manifest(tools: str) -> bytes:
        return (f"// swift-tools-version:{tools}\nimport PackageDescription\n\nlet package = Package(\n"
                f'    name: "{name}",\n    products: [.library(name: "{name}", targets: ["{name}"])],\n'
                f'    targets: [.target(name: "{name}")]\n)\n').encode()

    files = {f"{name}/Package.swift": manifest(tools_version)}
    for filename, tools in (extra_manifests or {}).items():
        files[f"{name}/{filename}"] = manifest(tools)
    files[f"{name}/Sources/{name}/{name}.swift"] = f'public let version = "{version}"\n'.encode()
    files[f"{name}/README.md"] = f"# {name}\n\nVersion {version}.\n".encode()
    return _zip(files)


# -- Maven ----------------------------------------------------------------------------------------------

MavenFiles = dict  # {(classifier or None, extension): bytes}


def maven_jar(entries: dict[str, bytes]) -> bytes:
    """A jar (zip with ``META-INF/MANIFEST.MF`` first) holding ``entries``; same input, same bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in {"META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nCreated-By: ferry-seed\r\n\r\n",
                           **entries}.items():
            zi = zipfile.ZipInfo(path, date_time=(2023, 11, 14, 22, 13, 20))
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, data)
    return buf.getvalue()


def maven_pom(group: str, artifact: str, version: str, packaging: str = "jar", description: str = "") -> bytes:
    """A minimal, valid POM for ``group:artifact:version`` (no parent, no dependencies)."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>{group}</groupId>\n  <artifactId>{artifact}</artifactId>\n  <version>{version}</version>\n"
        f"  <packaging>{packaging}</packaging>\n"
        f"  <description>{description or artifact + ' for the ferry demo'}</description>\n"
        "</project>\n"
    ).encode()


def maven_artifact(group: str, artifact: str, version: str, sources: bool = True) -> MavenFiles:
    """A built artifact: POM, a jar with one class-like file and, if ``sources``, a ``sources`` jar."""
    folder = group.replace(".", "/")
    files: MavenFiles = {
        (None, "pom"): maven_pom(group, artifact, version),
        (None, "jar"): maven_jar({f"{folder}/{artifact}.properties": f"version={version}\n".encode()}),
    }
    if sources:
        files[("sources", "jar")] = maven_jar({f"{folder}/Main.java": f"// {artifact} {version}\n".encode()})
    return files


def debian_maven_artifact(group: str, artifact: str, version: str,
                          root: Path = DEBIAN_MAVEN_REPO) -> MavenFiles | None:
    """The POM and jar Debian ships for ``group:artifact:version`` (read through its symlinks), or None."""
    folder = root / group.replace(".", "/") / artifact / version
    pom, jar = folder / f"{artifact}-{version}.pom", folder / f"{artifact}-{version}.jar"
    if not (pom.is_file() and jar.is_file()):
        return None
    return {(None, "pom"): pom.read_bytes(), (None, "jar"): jar.read_bytes()}


def maven_filename(artifact: str, version: str, classifier: str | None, extension: str) -> str:
    return f"{artifact}-{version}" + (f"-{classifier}" if classifier else "") + f".{extension}"


@dataclass
class NexusSeeder:
    """Creates hosted repositories and uploads components through Nexus' REST API."""

    url: str
    auth: tuple[str, str] = NEXUS_AUTH
    # Whether an upload the repository already holds (write policy ALLOW_ONCE refuses it) counts as done.
    exist_ok: bool = False

    def __post_init__(self) -> None:
        self.http = requests.Session()
        self.http.auth = self.auth

    def create_repository(self, fmt: str, name: str) -> None:
        """Create a hosted repository (Nexus format name: npm, pypi, raw, maven, nuget...); exists is fine."""
        body = {"name": name, "online": True,
                "storage": {"blobStoreName": "default", "strictContentTypeValidation": True,
                            "writePolicy": "ALLOW_ONCE"}}
        if fmt == "maven":
            body["maven"] = {"versionPolicy": "RELEASE", "layoutPolicy": "STRICT"}
        resp = self.http.post(f"{self.url}/service/rest/v1/repositories/{fmt}/hosted", json=body, timeout=30)
        if resp.status_code not in (201, 400):
            resp.raise_for_status()

    def upload(self, repository: str, files: dict, data: dict | None = None) -> None:
        resp = self.http.post(f"{self.url}/service/rest/v1/components", params={"repository": repository},
                              files=files, data=data or {}, timeout=60)
        if self.exist_ok and resp.status_code == 400 and "does not allow updating assets" in resp.text:
            return
        resp.raise_for_status()

    def npm(self, repository: str, name: str, version: str, **kw) -> bytes:
        tgz = npm_tarball(name, version, **kw)
        self.upload(repository, {"npm.asset": (f"{name.split('/')[-1]}-{version}.tgz", tgz)})
        return tgz

    def pypi(self, repository: str, filename: str, data: bytes) -> None:
        self.upload(repository, {"pypi.asset": (filename, data)})

    def raw(self, repository: str, directory: str, files: dict[str, bytes]) -> None:
        parts = {f"raw.asset{i}": (fname, data) for i, (fname, data) in enumerate(files.items(), 1)}
        fields = {"raw.directory": directory}
        fields.update({f"raw.asset{i}.filename": fname for i, fname in enumerate(files, 1)})
        self.upload(repository, parts, fields)

    def nuget(self, repository: str, package_id: str, version: str, **kw) -> bytes:
        """Upload a ``.nupkg`` built by :func:`nupkg` (Nexus reads id and version from its .nuspec)."""
        data = nupkg(package_id, version, **kw)
        self.upload(repository, {"nuget.asset": (f"{package_id}.{version}.nupkg", data)})
        return data

    def maven(self, repository: str, group: str, artifact: str, version: str, files: MavenFiles) -> None:
        """Upload one component's files with the ``maven2.*`` fields of the components API.

        Nexus takes the coordinates from the POM when one is uploaded, so the GAV fields are sent only
        without one.
        """
        parts, fields = {}, {}
        for n, ((classifier, extension), data) in enumerate(files.items(), 1):
            parts[f"maven2.asset{n}"] = (maven_filename(artifact, version, classifier, extension), data)
            fields[f"maven2.asset{n}.extension"] = extension
            if classifier:
                fields[f"maven2.asset{n}.classifier"] = classifier
        if (None, "pom") not in files:
            fields.update({"maven2.groupId": group, "maven2.artifactId": artifact, "maven2.version": version})
        self.upload(repository, parts, fields)

    def maven_put(self, repository: str, path: str, data: bytes) -> None:
        """PUT one file into a maven2 repository, as ``mvn deploy`` does (the only way into snapshots)."""
        resp = self.http.put(f"{self.url}/repository/{repository}/{path}", data=data, timeout=60)
        resp.raise_for_status()

    def npm_dist_tag(self, repository: str, name: str, tag: str, version: str) -> None:
        """Point a dist-tag at a version, as ``npm dist-tag add`` does."""
        escaped = name.replace("/", "%2f")
        resp = self.http.put(f"{self.url}/repository/{repository}/-/package/{escaped}/dist-tags/{tag}",
                             data=json.dumps(version), headers={"Content-Type": "application/json"}, timeout=30)
        resp.raise_for_status()

    def npm_deprecate(self, repository: str, name: str, version: str, message: str) -> None:
        """Deprecate a version (``""`` un-deprecates), as ``npm deprecate`` does: GET the packument, set the
        version's ``deprecated`` message, PUT the packument back."""
        url = f"{self.url}/repository/{repository}/{name.replace('/', '%2f')}"
        doc = self.http.get(url, params={"write": "true"}, timeout=30)
        doc.raise_for_status()
        packument = doc.json()
        packument["versions"][version]["deprecated"] = message
        resp = self.http.put(url, data=json.dumps(packument), headers={"Content-Type": "application/json"},
                             timeout=30)
        resp.raise_for_status()

    def rubygems(self, repository: str, filename: str, data: bytes) -> None:
        """Upload a ``.gem`` (Nexus reads name, version and platform from its ``metadata.gz``)."""
        self.upload(repository, {"rubygems.asset": (filename, data)})

    def cargo(self, repository: str, data: bytes, metadata: dict) -> None:
        """Publish a ``.crate`` as ``cargo publish`` does: ``PUT api/v1/crates/new`` with the framed body."""
        meta = json.dumps(metadata).encode()
        body = len(meta).to_bytes(4, "little") + meta + len(data).to_bytes(4, "little") + data
        resp = self.http.put(f"{self.url}/repository/{repository}/api/v1/crates/new", data=body, timeout=60,
                             headers={"Accept": "application/json"})
        resp.raise_for_status()


# -- RubyGems and Cargo --------------------------------------------------------------------------------


def _gzip(data: bytes) -> bytes:
    import gzip

    return gzip.compress(data, mtime=0)


def _yaml_requirement(pairs: list[tuple[str, str]], indent: str) -> str:
    lines = [f"{indent}requirements:"]
    for op, version in pairs:
        lines += [f"{indent}- - {json.dumps(op)}", f"{indent}  - !ruby/object:Gem::Version",
                  f"{indent}    version: {json.dumps(version)}"]
    return "\n".join(lines)


def gem(name: str, version: str, platform: str = "ruby", dependencies: dict[str, str] | None = None,
        summary: str = "", body: str = "") -> tuple[str, bytes]:
    """A ``.gem`` ``(filename, bytes)`` that ``gem install`` accepts: ``metadata.gz`` (the YAML gemspec as
    RubyGems writes it), ``data.tar.gz`` with ``lib/{name}.rb`` and ``checksums.yaml.gz``.
    ``dependencies`` maps runtime dependency names to one requirement (``"~> 1.0"``)."""
    module = "".join(part.capitalize() for part in name.replace("-", "_").split("_"))
    lib = f"lib/{name.replace('-', '_')}.rb"
    code = body or f"module {module}\n  VERSION = {json.dumps(version)}\nend\n"
    deps = []
    for dep, requirement in (dependencies or {}).items():
        op, _, ver = requirement.partition(" ")
        req = _yaml_requirement([(op, ver)], "    ")
        deps.append(f"- !ruby/object:Gem::Dependency\n  name: {dep}\n  requirement: !ruby/object:Gem::Requirement\n"
                    f"{req}\n  type: :runtime\n  prerelease: false\n"
                    f"  version_requirements: !ruby/object:Gem::Requirement\n{req}")
    metadata = "\n".join([
        "--- !ruby/object:Gem::Specification", f"name: {name}", "version: !ruby/object:Gem::Version",
        f"  version: {version}", f"platform: {platform}", "authors:", "- Ferry Demo", "autorequire:", "bindir: bin",
        "cert_chain: []", "date: 2023-11-14 00:00:00.000000000 Z",
        "dependencies:" + ("\n" + "\n".join(deps) if deps else " []"),
        f"description: {json.dumps(summary or name + ' for the ferry demo')}", "email:", "executables: []",
        "extensions: []", "extra_rdoc_files: []", "files:", f"- {lib}", f"homepage: https://example.com/{name}",
        "licenses:", "- MIT", "metadata: {}", "post_install_message:", "rdoc_options: []", "require_paths:", "- lib",
        "required_ruby_version: !ruby/object:Gem::Requirement", _yaml_requirement([(">=", "0")], "  "),
        "required_rubygems_version: !ruby/object:Gem::Requirement", _yaml_requirement([(">=", "0")], "  "),
        "requirements: []", "rubygems_version: 3.3.15", "signing_key:", "specification_version: 4",
        f"summary: {json.dumps(summary or name + ' for the ferry demo')}", "test_files: []", "",
    ])
    data_tar = _gzip_tar({lib: code.encode()})
    meta_gz = _gzip(metadata.encode())
    sums = "---\n" + "".join(
        f"{algo.upper()}:\n  metadata.gz: {getattr(hashlib, algo)(meta_gz).hexdigest()}\n"
        f"  data.tar.gz: {getattr(hashlib, algo)(data_tar).hexdigest()}\n" for algo in ("sha256", "sha512"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for member, data in (("metadata.gz", meta_gz), ("data.tar.gz", data_tar),
                             ("checksums.yaml.gz", _gzip(sums.encode()))):
            _tar_add(tar, member, data)
    stem = f"{name}-{version}" + ("" if platform == "ruby" else f"-{platform}")
    return f"{stem}.gem", buf.getvalue()


def crate(name: str, version: str, description: str = "", body: str = "") -> tuple[bytes, dict]:
    """A ``.crate`` (what ``cargo package`` makes: ``{name}-{version}/`` with the normalized
    ``Cargo.toml``, ``Cargo.toml.orig`` and ``src/lib.rs``) and the metadata ``cargo publish`` sends
    for it. No dependencies, so ``cargo build`` needs nothing else from any registry."""
    description = description or f"{name} for the ferry demo"
    manifest = (f'[package]\nedition = "2021"\nname = "{name}"\nversion = "{version}"\nauthors = ["Ferry Demo"]\n'
                f'description = {json.dumps(description)}\nlicense = "MIT"\n\n[lib]\nname = '
                f'"{name.replace("-", "_")}"\npath = "src/lib.rs"\n')
    code = body or f'pub const VERSION: &str = "{version}";\n\npub fn version() -> &\'static str {{\n    VERSION\n}}\n'
    data = _gzip_tar({f"{name}-{version}/Cargo.toml": b"# generated by ferry seed\n" + manifest.encode(),
                      f"{name}-{version}/Cargo.toml.orig": manifest.encode(),
                      f"{name}-{version}/src/lib.rs": code.encode()})
    metadata = {"name": name, "vers": version, "deps": [], "features": {}, "authors": ["Ferry Demo"],
                "description": description, "documentation": None, "homepage": None, "readme": None,
                "readme_file": None, "keywords": [], "categories": [], "license": "MIT", "license_file": None,
                "repository": None, "badges": {}, "links": None, "rust_version": None}
    return data, metadata


def seed_demo(nexus_url: str) -> dict[str, list[str]]:
    """Fill a Nexus stand-in with the demo's npm, PyPI and raw packages. Returns what was seeded, by repo.

    What the stand-in already holds (``ferry demo --data`` run again on the same folder) is left as it is.
    Raises ``requests.HTTPError`` for any other refused upload.
    """
    s = NexusSeeder(nexus_url, exist_ok=True)
    seeded: dict[str, list[str]] = {"npm-internal": [], "pypi-internal": [], "raw-files": [], "maven-releases": []}
    s.create_repository("npm", "npm-internal")
    s.create_repository("pypi", "pypi-internal")
    s.create_repository("raw", "raw-files")
    for name, version in [("left-pad-acme", "1.0.0"), ("left-pad-acme", "1.1.0"), ("@acme/ui-kit", "2.1.0-beta.1"),
                          ("@acme/ui-kit", "2.0.0")]:
        s.npm("npm-internal", name, version)
        seeded["npm-internal"].append(f"{name}@{version}")
    s.npm_dist_tag("npm-internal", "@acme/ui-kit", "beta", "2.1.0-beta.1")
    seeded["npm-internal"].append("dist-tag beta -> @acme/ui-kit@2.1.0-beta.1")
    for name, version in [("acme.billing_client", "0.9.0"), ("acme-utils", "1.2.3")]:
        s.pypi("pypi-internal", *wheel(name, version))
        seeded["pypi-internal"].append(f"{name}=={version} (wheel)")
    s.pypi("pypi-internal", *sdist("acme-utils", "1.2.3"))
    seeded["pypi-internal"].append("acme-utils==1.2.3 (sdist)")
    s.raw("raw-files", "installer/3.4.0", {"installer-linux.tar.gz": _gzip_tar({"bin/install": b"#!/bin/sh\n"}),
                                            "checksums.txt": b"demo\n"})
    s.raw("raw-files", "installer/3.5.0", {"installer-linux.tar.gz": _gzip_tar({"bin/install": b"#!/bin/sh\n#2\n"})})
    seeded["raw-files"] += ["installer/3.4.0 (2 files)", "installer/3.5.0 (1 file)"]
    # maven-releases exists in a fresh Nexus (and in the stand-in).
    for version in ("1.4.0", "1.5.0"):
        s.maven("maven-releases", "com.acme", "billing-core", version,
                maven_artifact("com.acme", "billing-core", version))
        seeded["maven-releases"].append(f"com.acme:billing-core:{version} (pom, jar, sources jar)")
    return seeded
