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
from ferry.report import build_report, render_markdown, render_table
from ferry.report_html import render_html
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
    assert [(r["key"], r["reason"]) for r in shown["remarks"]] == [
        ("cargo:acme_core@0.4.0/acme_core-0.4.0.crate", YANKED)]
    assert shown["remarks_total"] == 1
    with LedgerReader(world["state"]) as reader:
        built = build_report(reader, reader.last_run().id)
    for page in (render_table(built), render_markdown(built), render_html(built)):
        assert "acme_core@0.4.0" in page and "installable in CodeArtifact, which cannot yank it" in page, page


def test_the_index_of_a_crate_is_read_once_however_many_versions_the_workers_move_at_once(world, capsys):
    """The engine's workers move a crate's versions side by side; each asked the index while none had its
    answer yet: 4 reads for 8 versions."""
    for version in ("0.5.0", "0.5.1", "0.6.0", "0.7.0", "0.8.0", "0.9.0"):
        data, _ = crate("acme_core", version)
        world["seeder"].deploy(REPO, f"crates/acme_core/acme_core-{version}.crate", data)
    cargo_api = world["sandbox"].apps["artifactory"].cargo
    served, asked = cargo_api.dispatch, []
    cargo_api.dispatch = lambda request, repo, rest, *a: (asked.append(rest), served(request, repo, rest, *a))[1]
    _yank(world, "0.5.1")
    _migrate(world, capsys)
    assert asked.count("index/ac/me/acme_core") == 1, asked
    assert [v for v, (_, reason) in _rows(world).items() if reason] == ["0.5.1"]


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


@pytest.mark.clients
@needs_cargo
def test_a_version_cargo_yanked_in_nexus_is_copied_and_named(sandbox, tmp_path, monkeypatch, capsys):
    """Nexus serves cargo yank too [D: help.sonatype.com "Rust / Cargo"]: the real cargo publishes two
    versions into the Nexus stand-in and yanks one; ferry copies both and names the yanked one."""
    import base64

    from e2e_helpers import write_job as write_nexus_job
    from ferry.sandbox.seed import NEXUS_AUTH, NexusSeeder

    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    NexusSeeder(urls["nexus"]).create_repository("cargo", "crates-internal")
    index, home = f"{urls['nexus']}/repository/crates-internal/", tmp_path / "cargo-home"
    token = "Basic " + base64.b64encode(":".join(NEXUS_AUTH).encode()).decode()
    lib = cargo_project(tmp_path / "probe_core", "probe_core", index, "", "pub fn f() {}\n", lib=True)
    for version in ("0.1.0", "0.2.0"):
        (lib / "Cargo.toml").write_text((lib / "Cargo.toml").read_text().replace('"0.1.0"', f'"{version}"'))
        cargo(home, lib, token, "publish", "--registry", "standin", "--allow-dirty", "--no-verify")
    cargo(home, lib, token, "yank", "probe_core@0.1.0", "--registry", "standin")
    lines = requests.get(f"{index}pr/ob/probe_core", auth=NEXUS_AUTH, timeout=10).text.splitlines()
    assert {x["vers"]: x["yanked"] for x in map(json.loads, lines)} == {"0.1.0": True, "0.2.0": False}

    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    ca.create_repository(domain="acme", repository="crate-store")
    job = write_nexus_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"],
                          [{"source": "crates-internal", "target": "crate-store"}])
    state = str(tmp_path / "ferry.db")
    capsys.readouterr()
    assert ferry("migrate", str(job), "--state", state, "--no-progress") == 0
    assert "note: 1 crate version(s) are yanked in the source" in capsys.readouterr().err
    with LedgerReader(state) as reader:
        assert {r.version: (r.state, r.reason) for r in reader.items()} == {
            "0.1.0": ("confirmed", YANKED), "0.2.0": ("confirmed", None)}


class _Index:
    """A session answering every GET with one status and body, streamed as requests does."""

    def __init__(self, status: int, body: bytes):
        self.status, self.body, self.urls = status, body, []

    def request(self, method, url, **kw):
        return self.get(url, **kw)

    def get(self, url, **kw):
        import io

        self.urls.append(url)
        resp = requests.Response()
        resp.status_code, resp.url, resp.raw = self.status, url, io.BytesIO(self.body)
        return resp


def _sources(session, notes):
    from ferry.sources.artifactory import ArtifactorySource
    from ferry.sources.nexus import NexusSource

    return [ArtifactorySource("http://art.example/artifactory", session, notes=notes),
            NexusSource("http://nexus.example", session, notes=notes)]


def test_yanked_versions_are_read_from_the_crates_index_file_and_an_absent_field_means_not_yanked():
    body = b'{"name":"Acme","vers":"1.0.0","yanked":true}\n{"name":"Acme","vers":"1.1.0"}\n\n' \
           b'{"name":"Acme","vers":"1.2.0","yanked":false}\n'
    session = _Index(200, body)
    for source in _sources(session, []):
        assert source.cargo_yanked("crates", "Acme") == {"1.0.0"}
    assert session.urls == ["http://art.example/artifactory/api/cargo/crates/index/ac/me/acme",
                            "http://nexus.example/repository/crates/ac/me/acme"]


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_an_index_file_the_source_refuses_is_one_note_per_repository_not_a_failure(status):
    notes: list[str] = []
    for source in _sources(_Index(status, b'{"errors":[]}'), notes):
        assert source.cargo_yanked("crates", "acme") is None
        assert source.cargo_yanked("crates", "other") is None
    assert len(notes) == 2 and all(f"crates: could not read the Cargo index file of acme (HTTP {status})" in n
                                   for n in notes), notes


def test_an_answer_that_is_no_index_file_is_one_note_per_repository_not_a_failed_crate():
    """A proxy or login page answering 200 in place of the index file: asking again would get the same page,
    and the crate is no less worth copying, so the run's notes say it once and the crate goes on."""
    notes: list[str] = []
    for source in _sources(_Index(200, b"<!DOCTYPE html>\n<html><body>Sign in</body></html>\n"), notes):
        assert source.cargo_yanked("crates", "acme") is None
        assert source.cargo_yanked("crates", "other") is None
    assert len(notes) == 2 and all("crates: could not read the Cargo index file of acme (the answer is not a Cargo "
                                   "index file)" in n for n in notes), notes


def test_an_index_file_cut_short_is_retried_not_taken_as_no_yanks():
    from ferry.errors import RetryableError

    for source in _sources(_Index(200, b'{"name":"acme","vers":"1.0.0","yanked":true}\n{"name":"ac'), []):
        with pytest.raises(RetryableError, match="not a JSON object"):
            source.cargo_yanked("crates", "acme")
