"""The CodeArtifact stand-in's PyPI endpoint, proven with the real twine and pip."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from ferry.sandbox.codeartifact.app import endpoint_url

pytestmark = pytest.mark.clients
BIN = Path(sys.executable).parent


@dataclass
class PyPI:
    endpoint: str
    token: str
    store: object
    repo: object

    @property
    def index(self) -> str:
        """The simple index URL with ``aws:TOKEN`` credentials, as ``aws codeartifact login --tool pip`` sets it."""
        scheme, rest = self.endpoint.split("://", 1)
        return f"{scheme}://aws:{self.token}@{rest}simple/"

    def twine(self, *files: Path, check: bool = True) -> subprocess.CompletedProcess:
        cmd = [str(BIN / "twine"), "upload", "--repository-url", self.endpoint, "-u", "aws", "-p", self.token,
               "--non-interactive", "--disable-progress-bar", *map(str, files)]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_clean_env())
        if check and out.returncode != 0:
            raise AssertionError(f"twine failed:\n{out.stdout}\n{out.stderr}")
        return out

    def pip(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(BIN / "pip"), *args, "--no-cache-dir", "--no-deps", "--index-url", self.index]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=_clean_env())
        if out.returncode != 0:
            raise AssertionError(f"pip failed:\n{out.stdout}\n{out.stderr}")
        return out

    def get(self, url: str) -> requests.Response:
        return requests.get(url, auth=("aws", self.token), timeout=10)


def _clean_env() -> dict[str, str]:
    """The environment without pip settings, so pip sees only the stand-in (no machine-wide indexes)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TWINE_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.fixture(scope="module")
def pypi(module_sandbox) -> PyPI:
    store = module_sandbox.apps["codeartifact"].store
    domain = store.create_domain("us-east-1", "111122223333", "pypiclients")
    repo = store.create_repository(domain, "py-store")
    token, _ = store.issue_token(domain, 3600)
    return PyPI(endpoint_url(module_sandbox.urls()["codeartifact"], domain, repo.name, "pypi"), token, store, repo)


def _metadata(name: str, version: str, summary: str) -> bytes:
    return (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: {summary}\n"
            "Requires-Python: >=3.8\n\n").encode()


def build_wheel(folder: Path, name: str, version: str, module: str, code: str) -> Path:
    """A pure-Python wheel with METADATA, WHEEL and a RECORD of sha256 hashes, built with zipfile."""
    dist = re.sub(r"[-_.]+", "_", name)
    info = f"{dist}-{version}.dist-info"
    files = {
        f"{module}/__init__.py": code.encode(),
        f"{info}/METADATA": _metadata(name, version, "a ferry test package"),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: ferry-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    files[f"{info}/RECORD"] = ("\n".join(record) + f"\n{info}/RECORD,,\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as whl:
        for name_in_zip, data in files.items():
            whl.writestr(name_in_zip, data)
    return path


def build_sdist(folder: Path, name: str, version: str) -> Path:
    """A minimal sdist (PKG-INFO, setup.py) as a .tar.gz."""
    base = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{base}.tar.gz"
    members = {
        f"{base}/PKG-INFO": _metadata(name, version, "a ferry test package"),
        f"{base}/setup.py": f"from setuptools import setup\nsetup(name={name!r}, version={version!r})\n".encode(),
    }
    with tarfile.open(path, "w:gz") as tar:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _links(page: str) -> dict[str, tuple[str, str | None]]:
    """``{filename: (href, data-requires-python)}`` from a PEP 503 project page."""
    out = {}
    for attrs, text in re.findall(r"<a ([^>]*)>([^<]*)</a>", page):
        href = re.search(r'href="([^"]*)"', attrs).group(1).replace("&amp;", "&")
        requires = re.search(r'data-requires-python="([^"]*)"', attrs)
        out[text] = (href, requires.group(1).replace("&gt;", ">").replace("&lt;", "<") if requires else None)
    return out


def test_twine_upload_then_pip_download_and_install(pypi, tmp_path):
    wheel = build_wheel(tmp_path / "dist", "Ferry.Demo_pkg", "1.0.0", "ferry_demo_pkg", "VALUE = 'wheel'\n")
    sdist = build_sdist(tmp_path / "dist", "Ferry.Demo_pkg", "1.0.0")
    pypi.twine(wheel, sdist)

    pkg = pypi.store.require_package(pypi.repo, "pypi", None, "ferry-demo-pkg")  # stored under the PEP 503 name
    ver = pypi.store.version(pkg, "1.0.0")
    assert ver.status == "Published"
    assert {a.name: a.sha256 for a in pypi.store.assets(ver)} == {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in (wheel, sdist)}
    assert ver.metadata["summary"] == "a ferry test package"
    assert ver.metadata["requires_python"] == ">=3.8"

    root = pypi.get(pypi.endpoint + "simple/")
    assert root.status_code == 200 and 'href="ferry-demo-pkg/"' in root.text
    links = _links(pypi.get(pypi.endpoint + "simple/ferry-demo-pkg/").text)
    assert set(links) == {wheel.name, sdist.name}
    for dist in (wheel, sdist):
        href, requires = links[dist.name]
        url, _, fragment = href.partition("#")
        assert fragment == "sha256=" + hashlib.sha256(dist.read_bytes()).hexdigest()
        assert requires == ">=3.8"
        assert pypi.get(url).content == dist.read_bytes()

    # pip with a differently spelled name finds the project and downloads the very bytes uploaded.
    pypi.pip("download", "--only-binary", ":all:", "-d", str(tmp_path / "dl"), "ferry.demo-PKG==1.0.0")
    assert (tmp_path / "dl" / wheel.name).read_bytes() == wheel.read_bytes()

    pypi.pip("install", "--target", str(tmp_path / "site"), "Ferry_Demo.Pkg")
    with zipfile.ZipFile(wheel) as whl:
        assert (tmp_path / "site/ferry_demo_pkg/__init__.py").read_bytes() == whl.read("ferry_demo_pkg/__init__.py")


def test_reupload_identical_succeeds_and_different_content_conflicts(pypi, tmp_path):
    wheel = build_wheel(tmp_path / "a", "ferry-again", "0.3", "ferry_again", "X = 1\n")
    pypi.twine(wheel)
    pypi.twine(wheel)  # identical content: accepted, nothing changes
    pkg = pypi.store.require_package(pypi.repo, "pypi", None, "ferry-again")
    revision = pypi.store.version(pkg, "0.3").revision

    other = build_wheel(tmp_path / "b", "ferry-again", "0.3", "ferry_again", "X = 2\n")
    assert other.name == wheel.name
    out = pypi.twine(other, check=False)
    assert out.returncode != 0
    assert "409" in out.stdout + out.stderr
    ver = pypi.store.version(pkg, "0.3")
    assert ver.revision == revision
    assert pypi.store.asset(ver, wheel.name).sha256 == hashlib.sha256(wheel.read_bytes()).hexdigest()

    # A new file for an existing version is fine (PyPI versions hold several assets).
    sdist = build_sdist(tmp_path / "b", "ferry-again", "0.3")
    pypi.twine(sdist)
    assert sorted(a.name for a in pypi.store.assets(pypi.store.version(pkg, "0.3"))) == sorted(
        [wheel.name, sdist.name])
