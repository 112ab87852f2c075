"""Yanked crates: the Artifactory stand-in takes a real ``cargo yank`` / ``cargo yank --undo`` and shows it in
its sparse index (``"yanked": true``), as JFrog documents for local Cargo repositories; ferry still copies a
yanked version (a lockfile that pins it must keep working) but says so, since CodeArtifact has no yank: the
ledger row's reason, the run's notes and ``ferry report``.
"""

from __future__ import annotations

import json

import pytest
import requests

from artifactory_helpers import report, write_job
from e2e_helpers import aws_env, codeartifact, ferry
from ferry.sandbox.artifactory.seed import ArtifactorySeeder
from ferry.sandbox.seed import crate
from ferry.state.reader import LedgerReader
from gem_cargo_clients import cargo, cargo_project, needs_cargo

REPO = "cargo-local"


@pytest.fixture
def world(sandbox, tmp_path, monkeypatch):
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = ArtifactorySeeder(urls["artifactory"])
    token = seeder.token()
    monkeypatch.setenv("ARTIFACTORY_TOKEN", token)
    seeder.create_repository(REPO, "cargo")
    for version in ("0.4.0", "0.4.1"):
        data, _ = crate("acme_core", version)
        seeder.deploy(REPO, f"crates/acme_core/acme_core-{version}.crate", data)
    return {"urls": urls, "seeder": seeder, "token": token, "tmp": tmp_path, "sandbox": sandbox,
            "state": str(tmp_path / "ferry.db"), "index": f"{urls['artifactory']}/api/cargo/{REPO}/index/"}


def _index(world) -> dict[str, bool]:
    resp = requests.get(f"{world['index']}ac/me/acme_core", headers={"Authorization": f"Bearer {world['token']}"},
                        timeout=10)
    resp.raise_for_status()
    return {line["vers"]: line["yanked"] for line in map(json.loads, resp.text.splitlines())}


@pytest.mark.clients
@needs_cargo
def test_cargo_yank_and_undo_against_the_artifactory_stand_in_show_in_its_index(world):
    home, tmp = world["tmp"] / "cargo-home", world["tmp"]
    # JFrog's documented form: the token cargo sends verbatim is "Bearer <token>".
    token = f"Bearer {world['token']}"
    app = cargo_project(tmp / "app", "probe_app", world["index"],
                        '\n[dependencies]\nacme_core = { version = "=0.4.0", registry = "standin" }\n',
                        "fn main() {}\n")
    tool = cargo_project(tmp / "tool", "probe_tool", world["index"], "", "fn main() {}\n")
    assert _index(world) == {"0.4.0": False, "0.4.1": False}
    cargo(home, app, token, "generate-lockfile")  # resolves while 0.4.0 is not yanked

    cargo(home, tool, token, "yank", "acme_core@0.4.0", "--registry", "standin")
    assert _index(world) == {"0.4.0": True, "0.4.1": False}
    (app / "Cargo.lock").unlink()
    refused = cargo(home, app, token, "generate-lockfile", check=False)
    assert refused.returncode != 0 and "yanked" in refused.stderr, refused.stderr

    cargo(home, tool, token, "yank", "acme_core@0.4.0", "--undo", "--registry", "standin")
    assert _index(world) == {"0.4.0": False, "0.4.1": False}
    cargo(home, app, token, "generate-lockfile")


YANKED = "yanked in the source; copied, and installable in CodeArtifact, which cannot yank it"


def _yank(world, version: str) -> None:
    requests.delete(f"{world['urls']['artifactory']}/api/cargo/{REPO}/api/v1/crates/acme_core/{version}/yank",
                    headers={"Authorization": f"Bearer {world['token']}"}, timeout=10).raise_for_status()


def _migrate(world, capsys) -> str:
    """Migrate cargo-local into a new CodeArtifact repository; returns what ferry printed on stderr."""
    ca = codeartifact(world["urls"]["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="crate-store")
    job = write_job(world["tmp"] / "job.toml", world["urls"]["artifactory"], world["urls"]["codeartifact"],
                    [{"source": REPO, "target": "crate-store"}])
    capsys.readouterr()
    assert ferry("migrate", str(job), "--state", world["state"], "--no-progress") == 0
    return capsys.readouterr().err


def _rows(world) -> dict[str, tuple[str, str | None]]:
    with LedgerReader(world["state"]) as reader:
        return {row.version: (row.state, row.reason) for row in reader.items()}


def test_a_version_yanked_in_artifactory_is_copied_and_the_ledger_notes_and_report_say_so(world, capsys):
    _yank(world, "0.4.0")
    err = _migrate(world, capsys)
    # Copied all the same: a lockfile pinning it must keep working once the target is the registry.
    assert _rows(world) == {"0.4.0": ("confirmed", YANKED), "0.4.1": ("confirmed", None)}
    assert "note: 1 crate version(s) are yanked in the source: copied, and installable in CodeArtifact" in err, err
    shown = report(world["state"])
    assert [(r["key"], r["reason"]) for r in shown["remarks"]] == [("cargo:acme_core@0.4.0/acme_core-0.4.0.crate", YANKED)]
    assert shown["remarks_total"] == 1


def test_an_index_artifactory_will_not_show_is_one_note_and_the_crates_still_move(world, capsys):
    from ferry.sandbox.artifactory import render

    _yank(world, "0.4.0")
    cargo_api = world["sandbox"].apps["artifactory"].cargo
    served = cargo_api.dispatch
    cargo_api.dispatch = lambda request, repo, rest, *a: (
        render.error(403, "Forbidden") if rest.startswith("index/") else served(request, repo, rest, *a))
    err = _migrate(world, capsys)
    assert _rows(world) == {"0.4.0": ("confirmed", None), "0.4.1": ("confirmed", None)}
    notes = [line for line in err.splitlines() if "yanked" in line]
    assert len(notes) == 1 and "HTTP 403" in notes[0] and "acme_core" in notes[0], err
