"""Running the real ``gem``/``ruby`` and ``cargo`` against the stand-ins, isolated from this machine's config.

Each run gets its own HOME / GEM_HOME / CARGO_HOME under a test folder, so nothing is read from or
written to the user's gem or cargo configuration, and the only source a client knows is the one
the test gives it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HAVE_GEM = shutil.which("gem") is not None and shutil.which("ruby") is not None
HAVE_CARGO = shutil.which("cargo") is not None
needs_gem = pytest.mark.skipif(not HAVE_GEM, reason="ruby/gem not installed (Debian: apt-get install ruby)")
needs_cargo = pytest.mark.skipif(not HAVE_CARGO, reason="cargo not installed")


def _env(drop: tuple[str, ...], **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def gem_env(home: Path) -> dict[str, str]:
    home.mkdir(parents=True, exist_ok=True)
    return _env(("GEM_", "RUBY", "BUNDLE_"), HOME=str(home), GEM_HOME=str(home / "gems"),
                GEM_PATH=str(home / "gems"), GEM_SPEC_CACHE=str(home / "specs"))


def gem(home: Path, *args: str, check: bool = True, **extra: str) -> subprocess.CompletedProcess:
    """Run ``gem`` with HOME/GEM_HOME under ``home``."""
    env = {**gem_env(home), **extra}
    out = subprocess.run(["gem", *args], capture_output=True, text=True, timeout=180, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"gem {args[0]} failed:\n{out.stdout}\n{out.stderr}")
    return out


def gem_install(home: Path, source: str, *specs: str) -> subprocess.CompletedProcess:
    """``gem install`` from ``source`` only (the form ``aws codeartifact`` documents, credentials in the URL)."""
    return gem(home, "install", "--clear-sources", "--source", source, "--no-document", *specs)


def gem_push(home: Path, host: str, path: Path, token: str, check: bool = True) -> subprocess.CompletedProcess:
    """``gem push`` with the API key CodeArtifact documents (``Bearer TOKEN``)."""
    return gem(home, "push", "--host", host, str(path), check=check, GEM_HOST_API_KEY=f"Bearer {token}")


def ruby(home: Path, code: str) -> str:
    """Run Ruby code with the gems installed under ``home``; returns stdout."""
    out = subprocess.run(["ruby", "-e", code], capture_output=True, text=True, timeout=60, env=gem_env(home))
    if out.returncode != 0:
        raise AssertionError(f"ruby failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


def cargo_project(folder: Path, name: str, registry_index: str, manifest_tail: str, code: str,
                  lib: bool = False) -> Path:
    """A crate folder with ``.cargo/config.toml`` naming the registry ``standin`` (token from the env)."""
    (folder / "src").mkdir(parents=True)
    (folder / ".cargo").mkdir()
    (folder / ".cargo" / "config.toml").write_text(
        f'[registries.standin]\nindex = "sparse+{registry_index}"\ncredential-provider = ["cargo:token"]\n')
    (folder / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n'
                                       f'description = "probe"\nlicense = "MIT"\n{manifest_tail}')
    (folder / "src" / ("lib.rs" if lib else "main.rs")).write_text(code)
    return folder


def cargo(home: Path, project: Path, token: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run cargo in ``project`` with CARGO_HOME=``home`` and the stand-in's token for registry ``standin``."""
    env = _env(("CARGO_REGISTRIES_", "CARGO_REGISTRY_", "CARGO_NET_", "CARGO_HTTP_"), CARGO_HOME=str(home),
               CARGO_REGISTRIES_STANDIN_TOKEN=token, CARGO_TERM_COLOR="never",
               CARGO_TARGET_DIR=str(project / "target"))
    out = subprocess.run(["cargo", *args], cwd=project, capture_output=True, text=True, timeout=300, env=env)
    if check and out.returncode != 0:
        raise AssertionError(f"cargo {args[0]} failed:\n{out.stdout}\n{out.stderr}")
    return out
