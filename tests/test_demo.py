"""`ferry demo` on a fresh folder: it migrates, verifies, and the install commands it prints really work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _path_of_a_fresh_machine(path: str) -> str:
    """PATH as the README's fresh machine has it: the venv is not activated (the README runs
    ``.venv/bin/ferry demo``), and the AWS CLI that ``.[test]`` installed is only in the venv."""
    kept = [folder for folder in path.split(os.pathsep)
            if folder and Path(folder).resolve() != BIN.resolve() and not os.access(Path(folder, "aws"), os.X_OK)]
    return os.pathsep.join(kept)


@pytest.mark.clients
@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
@pytest.mark.timeout(300)
def test_demo_migrates_and_its_printed_install_commands_work(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PIP_", "NPM_CONFIG_"))}
    env["PATH"] = _path_of_a_fresh_machine(env.get("PATH", ""))
    proc = subprocess.Popen([str(BIN / "ferry"), "demo", "--serve", "--data", str(tmp_path / "demo")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if "press Ctrl-C" in line:
                break
        output = "\n".join(lines)
        assert "Run 3 (verify, ok)" in output, output
        assert "maven-releases -> maven-store" in output
        assert "ferry-demo-placeholder" not in output and "admin123" not in output
        commands = [line.strip() for line in lines if line.startswith("  export ") or line.startswith("  npm ")
                    or line.startswith("  pip ")]
        assert [c.split()[0] for c in commands] == ["export", "export", "npm", "pip"]
        work = tmp_path / "try"
        work.mkdir()
        (work / "package.json").write_text(json.dumps({"name": "try", "version": "1.0.0", "private": True}))
        shell_env = {**env, "HOME": str(tmp_path / "home"), "NPM_CONFIG_USERCONFIG": str(tmp_path / "npmrc"),
                     "NPM_CONFIG_CACHE": str(tmp_path / "npm-cache"), "NPM_CONFIG_UPDATE_NOTIFIER": "false",
                     "NPM_CONFIG_AUDIT": "false", "NPM_CONFIG_FUND": "false", "PIP_CONFIG_FILE": os.devnull,
                     "PIP_TARGET": str(tmp_path / "site"), "PIP_NO_CACHE_DIR": "1",
                     "PIP_DISABLE_PIP_VERSION_CHECK": "1", "AWS_CONFIG_FILE": str(tmp_path / "awsconfig"),
                     "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "awscreds")}
        script = "set -e\n" + "\n".join(commands) + "\n"
        run = subprocess.run(["bash", "-c", script], cwd=work, env=shell_env, capture_output=True, text=True,
                             timeout=240)
        assert run.returncode == 0, run.stdout + run.stderr
        assert json.loads((work / "node_modules/@acme/ui-kit/package.json").read_text())["version"] == "2.0.0"
        assert (work / "node_modules/left-pad-acme/package.json").exists()
        assert (tmp_path / "site" / "acme_utils" / "__init__.py").read_text() == "__version__ = '1.2.3'\n"
        assert (tmp_path / "site" / "acme_billing_client" / "__init__.py").exists()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0


@pytest.mark.timeout(120)
def test_demo_run_again_on_its_data_folder_resumes(tmp_path):
    """``--data`` keeps the stand-ins and the ledger, so the demo can be run again there: the packages
    already in its Nexus are not seeded twice, and the rerun finds everything migrated."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    runs = [subprocess.run([str(BIN / "ferry"), "demo", "--data", str(tmp_path / "demo")], capture_output=True,
                           text=True, env=env, timeout=100) for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 0], runs[1].stderr
    again = runs[1].stdout
    assert "Run 6 (verify, ok)" in again and "actions: same 16" in again, again


@pytest.mark.timeout(120)
def test_demo_runs_on_a_machine_whose_environment_names_a_proxy(tmp_path):
    """A fresh machine behind a corporate proxy has HTTP(S)_PROXY set: the demo's stand-ins are on loopback,
    where that proxy cannot go, so the demo must not send its requests there."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k.lower() != "no_proxy"}
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9", http_proxy="http://127.0.0.1:9",
               https_proxy="http://127.0.0.1:9")
    run = subprocess.run([str(BIN / "ferry"), "demo", "--data", str(tmp_path / "demo")], capture_output=True,
                         text=True, env=env, timeout=100)
    assert run.returncode == 0, run.stderr
    assert "Run 3 (verify, ok)" in run.stdout
