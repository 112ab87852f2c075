"""Running real package clients (npm, pip) against the stand-ins, isolated from this machine's config."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def npm(home: Path, registry: str, *args: str, cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    """Run npm with its user config, cache and HOME under ``home`` and only ``registry`` to talk to."""
    env = {k: v for k, v in os.environ.items() if not k.lower().startswith("npm_config_")}
    env.update(HOME=str(home), NPM_CONFIG_USERCONFIG=str(home / ".npmrc"), NPM_CONFIG_CACHE=str(home / "cache"))
    cmd = ["npm", *args, "--registry", registry, "--prefer-online", "--audit=false", "--fund=false",
           "--update-notifier=false", "--loglevel=warn"]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    if check and out.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{out.stdout}\n{out.stderr}")
    return out


def npm_login(home: Path, registry: str, token: str) -> None:
    """The .npmrc that ``aws codeartifact login --tool npm`` writes (npm then sends ``Bearer TOKEN``)."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".npmrc").write_text(f"registry={registry}\n{registry.split(':', 1)[1]}:_authToken={token}\n")


def clean_pip_env() -> dict[str, str]:
    """The environment without pip/twine settings, so pip sees only the index it is given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "TWINE_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


def pip(index: str, *args: str) -> subprocess.CompletedProcess:
    """Run this venv's pip with only ``index`` (a simple-index URL, credentials included)."""
    cmd = [str(BIN / "pip"), *args, "--no-cache-dir", "--no-deps", "--index-url", index]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=clean_pip_env())
    if out.returncode != 0:
        raise AssertionError(f"pip failed:\n{out.stdout}\n{out.stderr}")
    return out


def with_basic_auth(url: str, token: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://aws:{token}@{rest}"
