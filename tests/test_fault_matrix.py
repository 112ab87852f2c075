"""The fault matrix: a few hundred mixed versions migrated under each stand-in fault, alone and together.

Every scenario migrates the same Nexus content (npm, PyPI, raw) into a fresh CodeArtifact domain with
faults switched on for *both* stand-ins, then switches them off and runs ``ferry verify``. It must end
with every version on the target with the source's SHA-256, ``verify`` exit 0, and nothing ever sent
twice with different content (every publish the CodeArtifact stand-in received is recorded here).
Faults that cannot heal (a source serving bytes that do not match its checksum, a target that shows
another hash than it was sent) end with exactly that item failed with a precise reason, the rest
done, exit 1.

Retry waits are shortened (policies with 10 ms caps, confirm delay 10 ms) so the matrix runs in
about a minute; attempts and decisions are ferry's own.

``python tests/test_fault_matrix.py`` runs the same scenarios and rewrites the figures table in
docs/reliability.md (``bench/reliability.py`` regenerates it together with the crash figures and the bad-input list).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import sqlite3
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from werkzeug.wrappers import Response

from e2e_helpers import AWS_ENV, ferry, write_job
from ferry.retry import RetryPolicy
from ferry.sandbox.faults import FaultMiddleware, FaultSpec
from ferry.sandbox.seed import NexusSeeder, sdist, wheel
from ferry.sandbox.server import Sandbox, SandboxOptions

REPOS = [
    {"source": "npm-internal", "target": "npm-store"},
    {"source": "pypi-internal", "target": "pypi-store"},
    {"source": "raw-files", "target": "generic-store", "namespace": "tools"},
]
# The stand-ins are not the subject here: ferry's own client-side rate limits are off.
NO_RATE_LIMITS = "\n[options.rates]\n" + "".join(
    f"{c} = 0\n" for c in ("publish", "copy", "asset_read", "list", "token", "write", "read"))
# (name, --faults spec); the same spec is set on the Nexus and the CodeArtifact stand-in.
SCENARIOS = [
    ("throttle", "throttle=0.2"),
    ("error5xx", "error5xx=0.1"),
    ("reset", "reset=0.05"),
    ("truncate", "truncate=0.05"),
    ("latency", "latency=5ms"),
    ("token_ttl", "token_ttl=1s"),
    ("all", "throttle=0.1,error5xx=0.05,reset=0.01,truncate=0.01,latency=2ms,token_ttl=1s"),
]
SEED = 20261125
NPM_VERSIONS, PYPI_VERSIONS, RAW_VERSIONS = 80, 70, 50
FAST_REQUEST = RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01, max_retry_after=0.01)
FAST_ITEM = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.01, max_retry_after=0.01)

Key = tuple  # (format, namespace, package, version, asset)


def fast_retries(patch) -> None:
    """Shorten ferry's waits (not its attempts): ``patch(obj, name, value)``."""
    import ferry.engine
    import ferry.transfer
    import ferry.version_copy

    patch(ferry.engine, "REQUEST", FAST_REQUEST)
    patch(ferry.version_copy, "ITEM", FAST_ITEM)
    patch(ferry.transfer, "CONFIRM_DELAY", 0.01)


def seed(url: str) -> dict[Key, str]:
    """Fill Nexus; returns what the target must end up holding {key: sha256}."""
    s = NexusSeeder(url)
    for fmt, name in (("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")):
        s.create_repository(fmt, name)
    expected: dict[Key, str] = {}
    for i in range(NPM_VERSIONS):
        scope, name = ("acme", f"ui{i % 10}") if i % 2 else ("", f"left-pad{i % 10}")
        full = f"@{scope}/{name}" if scope else name
        tgz = s.npm("npm-internal", full, f"1.{i}.0")
        expected[("npm", scope, name, f"1.{i}.0", "package.tgz")] = hashlib.sha256(tgz).hexdigest()
    for i in range(PYPI_VERSIONS):
        dists = [wheel(f"acme-lib{i % 10}", f"0.{i}.0")]
        if i % 5 == 0:
            dists.append(sdist(f"acme-lib{i % 10}", f"0.{i}.0"))
        for fname, data in dists:
            s.pypi("pypi-internal", fname, data)
            expected[("pypi", "", f"acme-lib{i % 10}", f"0.{i}.0", fname)] = hashlib.sha256(data).hexdigest()
    for i in range(RAW_VERSIONS):
        files = {f"tool-{i}.bin": bytes(range(256)) * (i + 1), "NOTES.txt": f"release {i}\n".encode()}
        s.raw("raw-files", f"tool{i % 5}/{i}.0", files)
        for fname, data in files.items():
            expected[("generic", "tools", f"tool{i % 5}", f"{i}.0", fname)] = hashlib.sha256(data).hexdigest()
    return expected


def target_assets(store, domain: str) -> dict[Key, tuple[str, str]]:
    """{key: (sha256, version status)} of every asset in ``domain`` on the CodeArtifact stand-in."""
    rows = store.query(
        "SELECT p.format, p.namespace, p.name, v.version, a.name AS asset, a.sha256, v.status FROM assets a "
        "JOIN versions v ON v.id = a.version_id JOIN packages p ON p.id = v.package_id "
        "JOIN repositories r ON r.id = p.repo_id JOIN domains d ON d.id = r.domain_id WHERE d.name = ?", (domain,))
    return {(r["format"], r["namespace"], r["name"], r["version"], r["asset"]): (r["sha256"], r["status"])
            for r in rows}


def ledger_rows(path: Path) -> list[dict]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT * FROM items")]


class PublishRecorder:
    """Wraps the CodeArtifact stand-in's ``publish_asset``: every body it was sent, per (domain, key)."""

    def __init__(self, store):
        self.sent: dict[tuple, list[str]] = defaultdict(list)
        self._real = store.publish_asset

    def __call__(self, repo, fmt, namespace, package, version, asset_name, blob, **kw):
        self.sent[(repo.domain.name, fmt, namespace or "", package, version, asset_name)].append(blob.sha256)
        return self._real(repo, fmt, namespace, package, version, asset_name, blob, **kw)

    def for_domain(self, domain: str) -> dict[Key, list[str]]:
        return {k[1:]: v for k, v in self.sent.items() if k[0] == domain}


@dataclass
class Figures:
    """What one scenario did (one row of the docs table)."""

    name: str
    spec: str
    versions: int
    items: int
    migrate_exit: int
    verify_exit: int
    verified: int  # items the target holds with the source's SHA-256
    failed: list[str]  # "key: reason" for every item ending in a bad state
    request_retries: int
    item_retries: int
    retry_note: str
    injected: dict[str, dict[str, int]]
    tokens: int
    publishes: int  # bodies the target stand-in received (re-sends of identical content included)
    seconds: float
    output: str = field(repr=False, default="")


def run_scenario(world: dict, name: str, spec: str, tmp: Path) -> Figures:
    """Migrate ``world``'s Nexus into a new domain with ``spec`` on both stand-ins, then verify without faults."""
    sandbox, store = world["sandbox"], world["store"]
    domain = "fm-" + name.replace("_", "-")
    job = write_job(tmp / f"{name}.toml", world["urls"]["nexus"], world["urls"]["codeartifact"], REPOS,
                    domain=domain, extra=NO_RATE_LIMITS)
    ledger = tmp / f"{name}.db"
    sandbox.set_faults(spec, seed=SEED)
    out, err = io.StringIO(), io.StringIO()
    started = time.monotonic()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = ferry("migrate", str(job), "--state", str(ledger), "--no-progress", "--create-missing",
                     "--workers", "8")
    seconds = time.monotonic() - started
    injected = {svc: {k: v for k, v in c.status()["injected"].items() if v}
                for svc, c in sandbox.faults.items() if svc in ("nexus", "codeartifact")}
    sandbox.set_faults(None)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        verify = ferry("verify", str(job), "--state", str(ledger))
    rows = ledger_rows(ledger)
    held = target_assets(store, domain)
    expected = world["expected"]
    note = next((line for line in err.getvalue().splitlines() if "retried" in line), "")
    found = {layer: int(n) for n, layer in re.findall(r"(\d+) (requests|items)", note)}
    tokens = store.query("SELECT COUNT(*) AS n FROM tokens t JOIN domains d ON d.id = t.domain_id WHERE d.name = ?",
                         (domain,))[0]["n"]
    return Figures(
        name=name, spec=spec, versions=len({k[:4] for k in expected}), items=len(expected), migrate_exit=code,
        verify_exit=verify, verified=sum(1 for k, sha in expected.items() if held.get(k, ("",))[0] == sha),
        failed=[f"{r['format']}:{r['package']}@{r['version']}/{r['asset']}: {r['reason']}" for r in rows
                if r["state"] in ("failed", "conflict", "unmappable")],
        request_retries=found.get("requests", 0), item_retries=found.get("items", 0), retry_note=note,
        injected=injected, tokens=tokens, publishes=sum(len(v) for v in world["recorder"].for_domain(domain).values()),
        seconds=seconds, output=out.getvalue() + err.getvalue())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("matrix")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in AWS_ENV.items():
            mp.setenv(key, value)
        mp.setenv("AWS_CONFIG_FILE", str(tmp / "aws-config"))
        mp.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp / "aws-credentials"))
        mp.delenv("AWS_PROFILE", raising=False)
        fast_retries(mp.setattr)
        with Sandbox(SandboxOptions(data=tmp / "sandbox")) as sandbox:
            store = sandbox.apps["codeartifact"].store
            recorder = PublishRecorder(store)
            mp.setattr(store, "publish_asset", recorder)
            expected = seed(sandbox.urls()["nexus"])
            yield {"sandbox": sandbox, "store": store, "urls": sandbox.urls(), "expected": expected,
                   "recorder": recorder, "tmp": tmp}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name, spec", SCENARIOS, ids=[s[0] for s in SCENARIOS])
def test_every_version_arrives_exactly_under_faults(world, name, spec):
    fig = run_scenario(world, name, spec, world["tmp"])
    assert fig.migrate_exit == 0, fig.output[-3000:]
    assert fig.verify_exit == 0, fig.output[-3000:]
    domain = "fm-" + name.replace("_", "-")
    held = target_assets(world["store"], domain)
    assert {k: v[0] for k, v in held.items()} == world["expected"]
    assert {status for _sha, status in held.values()} == {"Published"}
    # Nothing was ever sent with content other than the source's (re-sends of identical bytes are allowed:
    # a publish whose answer was lost is sent again, and CodeArtifact accepts an identical re-publish).
    sent = world["recorder"].for_domain(domain)
    assert set(sent) == set(world["expected"])
    assert {k: set(v) for k, v in sent.items()} == {k: {sha} for k, sha in world["expected"].items()}
    # The ledger tells the truth: everything confirmed, with the target's digest.
    rows = ledger_rows(world["tmp"] / f"{name}.db")
    assert {r["state"] for r in rows} <= {"confirmed", "same"}
    assert all(r["target_sha256"] == world["expected"][(r["format"], r["namespace"], r["package"], r["version"],
                                                        r["asset"])] for r in rows)
    # The fault really happened, on both stand-ins, and ferry paid for it with retries (not luck).
    kind = {"error5xx": "error5xx", "throttle": "throttle", "reset": "reset", "truncate": "truncate",
            "latency": "latency"}.get(name)
    if kind:
        assert fig.injected["nexus"].get(kind) and fig.injected["codeartifact"].get(kind), fig.injected
    if name in ("throttle", "error5xx", "reset", "truncate", "all"):
        assert fig.request_retries > 0, fig.retry_note
    if name in ("token_ttl", "all"):
        assert fig.tokens > 1  # tokens expired mid-run and were fetched again


# -- faults that cannot heal ---------------------------------------------------------------------


@pytest.fixture
def small(sandbox, tmp_path, monkeypatch):
    """A small Nexus (npm, PyPI, raw) and an existing target domain, with fast retry waits."""
    for key, value in AWS_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    fast_retries(monkeypatch.setattr)
    urls = sandbox.urls()
    s = NexusSeeder(urls["nexus"])
    for fmt, name in (("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")):
        s.create_repository(fmt, name)
    files = {}
    for i in range(4):
        files[f"npm{i}"] = s.npm("npm-internal", f"left-pad{i}", "1.0.0")
        fname, data = wheel(f"acme-lib{i}", "1.0.0")
        s.pypi("pypi-internal", fname, data)
        files[f"pypi{i}"] = data
        s.raw("raw-files", f"tool/{i}.0", {"tool.bin": f"tool {i}".encode() * 100})
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS, extra=NO_RATE_LIMITS)
    return {"sandbox": sandbox, "job": job, "ledger": tmp_path / "ferry.db", "files": files,
            "nexus": sandbox.apps["nexus"].store, "store": sandbox.apps["codeartifact"].store}


def _migrate(small, *extra: str) -> int:
    return ferry("migrate", str(small["job"]), "--state", str(small["ledger"]), "--no-progress",
                 "--create-missing", *extra)


def test_a_source_file_that_does_not_match_its_checksum_fails_alone_with_the_reason(small, capsys):
    nexus = small["nexus"]
    (asset,) = [a for a in nexus.assets_under("pypi-internal", "") if a.path.endswith("acme_lib2-1.0.0-py3-none-any.whl")]
    blob = nexus.blobs.path(asset.sha256)
    good = blob.read_bytes()
    blob.write_bytes(good[:-8] + b"\x00" * 8)  # same size, other bytes: Nexus still reports the old digests
    bad_sha = hashlib.sha256(blob.read_bytes()).hexdigest()

    assert _migrate(small) == 1
    out = capsys.readouterr().out
    rows = {(r["package"], r["version"], r["asset"]): r for r in ledger_rows(small["ledger"])}
    failed = {k: r for k, r in rows.items() if r["state"] != "confirmed"}
    assert list(failed) == [("acme-lib2", "1.0.0", "acme_lib2-1.0.0-py3-none-any.whl")]
    reason = failed[("acme-lib2", "1.0.0", "acme_lib2-1.0.0-py3-none-any.whl")]["reason"]
    assert reason == (f"source says sha256 {asset.sha256} but the bytes hash to {bad_sha}; the file changed in the "
                      "source after it was listed, or the source sent it corrupt: nothing was published, and a rerun "
                      "lists it again")
    assert "acme-lib2" in out
    held = target_assets(small["store"], "acme")
    assert not [k for k in held if k[2] == "acme-lib2"]  # the bad bytes never reached the target
    assert len(held) == len(rows) - 1
    # Later runs keep saying so (nothing is ever published from bad bytes), and verify agrees.
    assert _migrate(small) == 1
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 1


def test_a_target_showing_another_hash_after_a_publish_is_never_reported_done(small, monkeypatch, capsys):
    store = small["store"]
    real = store.publish_asset
    swapped = "0" * 64

    def lying_publish(repo, fmt, namespace, package, version, asset_name, blob, **kw):
        result = real(repo, fmt, namespace, package, version, asset_name, blob, **kw)
        if package == "left-pad1":  # accepted, but what the target then shows is not what was sent
            with store.tx() as db:
                db.execute("UPDATE assets SET sha256 = ? WHERE sha256 = ?", (swapped, blob.sha256))
        return result

    monkeypatch.setattr(store, "publish_asset", lying_publish)
    assert _migrate(small) == 1
    out = capsys.readouterr().out
    rows = {r["package"]: r for r in ledger_rows(small["ledger"])}
    bad = rows.pop("left-pad1")
    good_sha = hashlib.sha256(small["files"]["npm1"]).hexdigest()
    assert bad["state"] == "failed"
    assert bad["reason"] == (f"npm:left-pad1@1.0.0/package.tgz: after publishing, the target shows sha256 "
                             f"{swapped}, expected {good_sha}")
    assert "left-pad1" in out
    assert {r["state"] for r in rows.values()} == {"confirmed"}
    # A rerun does not take the target's word either: it is a conflict, left untouched.
    assert _migrate(small) == 1
    assert {r["package"]: r["state"] for r in ledger_rows(small["ledger"])}["left-pad1"] == "conflict"
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 1


def test_tokens_refused_mid_run_are_fetched_again(small, capsys):
    """The service refuses a token before its stated expiry (revoked): 401, token dropped, a new one fetched."""
    store = small["store"]
    real = store.publish_asset
    count = {"n": 0}

    def revoking_publish(*args, **kwargs):
        result = real(*args, **kwargs)
        count["n"] += 1
        if count["n"] % 3 == 0:
            with store.tx() as db:
                db.execute("DELETE FROM tokens")  # every token issued so far stops working
        return result

    store.publish_asset = revoking_publish
    assert _migrate(small) == 0
    err = capsys.readouterr().err
    note = next(line for line in err.splitlines() if "retried" in line)
    assert re.search(r"401 \d+", note), note
    assert {r["state"] for r in ledger_rows(small["ledger"])} == {"confirmed"}
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def _unavailable(monkeypatch, app, handler: str, failing) -> dict:
    """Make the stand-in ``app`` answer 503 to every request ``failing(request)`` picks, whatever the retries,
    while the returned switch's ``on`` is true."""
    real, switch = getattr(app, handler), {"on": True}
    monkeypatch.setattr(app, handler, lambda request: Response("Service Unavailable\n", status=503)
                        if switch["on"] and failing(request) else real(request))
    return switch


def test_new_tokens_refused_again_and_again_end_the_run_as_refused_credentials(small, monkeypatch, capsys):
    """The package endpoints refuse every token, however new (401): not a token that ran out, but credentials
    the target will not take. The run stops as for any refused credentials (exit 3, nothing called failed)
    after a few new tokens, instead of failing every item in turn and fetching a token for each attempt."""
    app, refusing = small["sandbox"].apps["codeartifact"], {"on": True}
    real = app._package_endpoint
    monkeypatch.setattr(app, "_package_endpoint", lambda request: Response("Unauthorized\n", status=401)
                        if refusing["on"] else real(request))
    assert _migrate(small) == 3
    assert capsys.readouterr().err.splitlines()[-1] == (
        "ferry: error: CodeArtifact's target repository endpoints refused 3 new authorization tokens in a row "
        "(HTTP 401); check that the [target] AWS identity may read from and publish to the repository")
    assert "failed" not in {r["state"] for r in ledger_rows(small["ledger"])}
    refusing["on"] = False
    assert _migrate(small) == 0
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def test_a_package_the_source_keeps_failing_to_describe_fails_alone(small, monkeypatch, capsys):
    """The npm packument (read for the package's dist-tags) answers 503 past every retry: only that
    package's versions fail, with the reason; the run goes on and the rerun finishes the job."""
    asked = []
    outage = _unavailable(monkeypatch, small["sandbox"].apps["nexus"], "_handle",
                          lambda request: request.path == "/repository/npm-internal/left-pad2"
                          and not asked.append(request.path))
    assert _migrate(small) == 1
    # The one read is tried as often as the request retry allows, once: not retried inside the retry too.
    assert len(asked) == FAST_REQUEST.max_attempts
    out = capsys.readouterr().out
    rows = {r["package"]: r for r in ledger_rows(small["ledger"])}
    bad = rows.pop("left-pad2")
    assert bad["state"] == "failed"
    assert bad["reason"] == ("left-pad2 1.0.0: reading its package from the source: gave up after retries: "
                             "Nexus /repository/npm-internal/left-pad2: HTTP 503")
    assert "left-pad2" in out
    assert {r["state"] for r in rows.values()} == {"confirmed"}
    assert not [k for k in target_assets(small["store"], "acme") if k[2] == "left-pad2"]
    outage["on"] = False
    assert _migrate(small) == 0
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def test_a_version_the_target_keeps_failing_to_finish_fails_alone(small, monkeypatch, capsys):
    """Its asset is confirmed, but the target's npm dist-tags answer 503 past every retry: that version is
    failed with the reason (not finished), the run goes on, and the rerun finishes it."""
    outage = _unavailable(monkeypatch, small["sandbox"].apps["codeartifact"], "_package_endpoint",
                          lambda request: request.path.endswith("/-/package/left-pad1/dist-tags"))
    assert _migrate(small) == 1
    rows = {r["package"]: r for r in ledger_rows(small["ledger"])}
    bad = rows.pop("left-pad1")
    assert bad["state"] == "failed"
    assert bad["reason"] == "finishing the version: gave up after retries: dist-tags of left-pad1: HTTP 503"
    assert {r["state"] for r in rows.values()} == {"confirmed"}
    outage["on"] = False
    assert _migrate(small) == 0
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def test_a_publish_whose_answer_is_always_cut_short_fails_naming_the_publish(small, monkeypatch):
    """The target takes left-pad1's publish but cuts every answer short: ferry cannot know it landed, so after
    the retries the item fails, saying which request broke (not requests' bare 'Connection broken ...')."""
    app, controller = small["sandbox"].apps["codeartifact"], small["sandbox"].faults["codeartifact"]
    real, cutting = app._package_endpoint, {"on": True}

    def answer(request):
        response = real(request)
        if cutting["on"] and request.method == "PUT" and request.path.endswith("/npm/npm-store/left-pad1"):
            return lambda environ, start_response: FaultMiddleware(response, controller)._truncated(
                environ, start_response, 0.5)
        return response

    monkeypatch.setattr(app, "_package_endpoint", answer)
    assert _migrate(small) == 1
    rows = {r["package"]: r for r in ledger_rows(small["ledger"])}
    bad = rows.pop("left-pad1")
    assert (bad["state"], bad["reason"]) == ("failed", "gave up after retries: npm publish left-pad1@1.0.0: "
                                                       "ChunkedEncodingError")
    assert {r["state"] for r in rows.values()} == {"confirmed"}
    assert controller.status()["injected"]["truncate"] == FAST_REQUEST.max_attempts * FAST_ITEM.max_attempts
    cutting["on"] = False
    assert _migrate(small) == 0
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def test_a_side_that_keeps_throttling_ends_the_run_saying_to_run_it_again(small, capsys):
    faults = small["sandbox"].faults["codeartifact"]
    faults.configure(FaultSpec(throttle=1.0, retry_after=0))
    assert _migrate(small) == 3
    assert capsys.readouterr().err.splitlines() == [
        "ferry: error: describe_domain: ThrottlingException Rate exceeded; it kept failing through every retry: "
        "run the same command again to resume"]
    assert faults.status()["injected"]["throttle"] == FAST_REQUEST.max_attempts
    faults.configure(FaultSpec())
    assert _migrate(small) == 0


def test_a_publish_answered_after_longer_than_a_read_may_take_is_waited_for(small, monkeypatch):
    """A publish is answered only once the service has taken the whole asset: for a large one that can take
    longer than a read may (botocore's read timeout, 2 s here instead of 60 s). It is waited for, not cut off
    and sent again."""
    from botocore.config import Config

    monkeypatch.setitem(Config.OPTION_DEFAULTS, "read_timeout", 2)
    control = small["sandbox"].apps["codeartifact"]._control
    real, publishes = control.dispatch, []

    def slow(request, region):
        if request.path == "/v1/package/version/publish":
            publishes.append(request.args["package"])
            if len(publishes) == 1:
                time.sleep(4)
        return real(request, region)

    monkeypatch.setattr(control, "dispatch", slow)
    assert _migrate(small) == 0
    assert sorted(publishes) == ["tool"] * 4  # one publish per raw file, none sent twice
    assert {r["state"] for r in ledger_rows(small["ledger"])} == {"confirmed"}


# -- figures for docs/reliability.md --------------------------------------------------------------

FIGURES_START = "<!-- generated:matrix -->"
FIGURES_END = "<!-- /generated:matrix -->"


def figures_table(rows: list[Figures]) -> str:
    lines = ["| scenario | faults (both stand-ins) | versions | items | migrate | verify | verified | failed "
             "| injected (Nexus / CodeArtifact) | retries: requests / items | tokens | publishes sent | time |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for f in rows:
        inj = " / ".join(", ".join(f"{k} {v}" for k, v in sorted(f.injected.get(svc, {}).items()) if k != "latency")
                         or "-" for svc in ("nexus", "codeartifact"))
        lines.append(f"| {f.name} | `{f.spec}` | {f.versions} | {f.items} | {f.migrate_exit} | {f.verify_exit} "
                     f"| {f.verified} | {len(f.failed)} | {inj} | {f.request_retries} / {f.item_retries} "
                     f"| {f.tokens} | {f.publishes} | {f.seconds:.1f} s |")
    return "\n".join(lines)


def matrix_figures() -> list[Figures]:
    """Run every scenario once in a fresh sandbox; returns their figures, in SCENARIOS order."""
    import os
    import tempfile

    tmp = Path(tempfile.mkdtemp(prefix="ferry-fault-matrix-"))
    os.environ.update(AWS_ENV)
    os.environ["AWS_CONFIG_FILE"] = str(tmp / "aws-config")
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp / "aws-credentials")
    os.environ.pop("AWS_PROFILE", None)
    fast_retries(setattr)
    with Sandbox(SandboxOptions(data=tmp / "sandbox")) as sandbox:
        store = sandbox.apps["codeartifact"].store
        recorder = PublishRecorder(store)
        store.publish_asset = recorder
        world = {"sandbox": sandbox, "store": store, "urls": sandbox.urls(), "recorder": recorder,
                 "expected": seed(sandbox.urls()["nexus"])}
        rows = []
        for name, spec in SCENARIOS:
            fig = run_scenario(world, name, spec, tmp)
            print(f"{name}: migrate {fig.migrate_exit}, verify {fig.verify_exit}, {fig.verified}/{fig.items} verified,"
                  f" {fig.retry_note or 'no retries'}", file=sys.stderr)
            rows.append(fig)
    return rows


def main() -> None:
    """Run every scenario once and write the table into docs/reliability.md (between the markers)."""
    rows = matrix_figures()
    doc = Path(__file__).resolve().parent.parent / "docs" / "reliability.md"
    text = doc.read_text()
    head, _, rest = text.partition(FIGURES_START)
    _, _, tail = rest.partition(FIGURES_END)
    doc.write_text(f"{head}{FIGURES_START}\n{figures_table(rows)}\n{FIGURES_END}{tail}")
    print(json.dumps({f.name: f.retry_note for f in rows}, indent=1))


if __name__ == "__main__":
    main()


# -- Ctrl-C ----------------------------------------------------------------------------------------


def _count(ledger: Path, sql: str) -> int:
    if not ledger.exists():
        return 0
    try:
        with contextlib.closing(sqlite3.connect(f"file:{ledger}?mode=ro", uri=True, timeout=5)) as db:
            return db.execute(sql).fetchone()[0]
    except sqlite3.OperationalError:
        return 0  # not created yet


def _confirmed_count(ledger: Path) -> int:
    return _count(ledger, "SELECT COUNT(*) FROM items WHERE state = 'confirmed'")


@pytest.mark.timeout(300)
@pytest.mark.parametrize("moment, stop_signal", [("planning", "SIGINT"), ("after-first-confirmation", "SIGINT"),
                                                 ("half-way", "SIGINT"), ("half-way", "SIGTERM")])
def test_sigint_stops_with_130_and_the_same_command_finishes_the_job(small, moment, stop_signal):
    """Ctrl-C, or the SIGTERM with which Kubernetes, AWS Batch and CI runners stop a job: the run stops with one
    line, exit 130 (143 for SIGTERM, as a shell reports it), the ledger says interrupted, and the same command
    then finishes the job without sending again what was confirmed. (Before, SIGTERM ended ferry at once:
    return code -15, nothing said, the run left "running" in the ledger.)"""
    import os
    import signal
    import subprocess

    sandbox, ledger = small["sandbox"], small["ledger"]
    s = NexusSeeder(sandbox.urls()["nexus"])
    for i in range(4, 16):  # enough work to still be busy when the signal comes
        s.npm("npm-internal", f"left-pad{i}", "1.0.0")
        s.raw("raw-files", f"tool/{i}.0", {"tool.bin": f"tool {i}".encode() * 100, "b.txt": b"b"})
    recorder = PublishRecorder(small["store"])
    small["store"].publish_asset = recorder
    sandbox.set_faults("latency=40ms", seed=SEED)
    cmd = [sys.executable, "-m", "ferry", "migrate", str(small["job"]), "--state", str(ledger), "--no-progress",
           "--create-missing", "--workers", "4"]
    env = {**os.environ, **AWS_ENV}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    total = 12 + 24 + 12
    deadline = time.monotonic() + 120
    want = {"planning": None, "after-first-confirmation": 1, "half-way": total // 2}[moment]
    if want is None:  # the run is recorded: ferry is listing both sides
        while not _count(ledger, "SELECT COUNT(*) FROM runs") and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    else:
        while _confirmed_count(ledger) < want and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    assert proc.poll() is None, "finished before the signal: give it more work"
    proc.send_signal(getattr(signal, stop_signal))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == {"SIGINT": 130, "SIGTERM": 143}[stop_signal], err
    *notes, last = err.strip().splitlines()
    assert last == "ferry: interrupted; run the same command again to resume"
    assert all(line.startswith("note: ") for line in notes), err  # what it created, said before it stopped
    with contextlib.closing(sqlite3.connect(ledger)) as db:
        status = db.execute("SELECT status FROM runs ORDER BY id DESC LIMIT 1").fetchone()[0]
    assert status == "interrupted"
    confirmed = {("acme", r["format"], r["namespace"], r["package"], r["version"], r["asset"])
                 for r in ledger_rows(ledger) if r["state"] == "confirmed"}
    assert len(confirmed) < total  # it stopped mid-way
    sent_before = {k: len(v) for k, v in recorder.sent.items()}

    sandbox.set_faults(None)
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    verify = subprocess.run([sys.executable, "-m", "ferry", "verify", str(small["job"]), "--state", str(ledger)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    held = target_assets(small["store"], "acme")
    assert len(held) == total and {status for _sha, status in held.values()} == {"Published"}
    # Each asset was only ever sent with one content, and what was confirmed before Ctrl-C was not sent again.
    assert all(len(set(v)) == 1 for v in recorder.sent.values())
    assert {k: len(recorder.sent[k]) for k in confirmed} == {k: sent_before[k] for k in confirmed}


# -- the spool disk --------------------------------------------------------------------------------


def _big_raw_file(small) -> bytes:
    data = bytes(range(256)) * 16384  # 4 MiB
    NexusSeeder(small["sandbox"].urls()["nexus"]).raw("raw-files", "big/1.0", {"big.bin": data})
    return data


@pytest.mark.timeout(300)
def test_a_spool_file_over_the_size_limit_is_a_clear_fatal_error_and_the_rerun_completes(small, tmp_path):
    """RLIMIT_FSIZE makes the spool write fail with EFBIG, as a full disk fails with ENOSPC."""
    import os
    import subprocess

    _big_raw_file(small)
    spool = tmp_path / "spool"
    limited = (
        "import resource, signal, sys\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # a write past the limit fails instead of killing us
        "resource.setrlimit(resource.RLIMIT_FSIZE, (2 * 1024 * 1024, 2 * 1024 * 1024))\n"
        "sys.argv = ['ferry', *sys.argv[1:]]\n"
        "from ferry.cli import main\n"
        "main()\n"
    )
    args = ["migrate", str(small["job"]), "--state", str(small["ledger"]), "--no-progress", "--create-missing",
            "--spool", str(spool)]
    env = {**os.environ, **AWS_ENV}
    run = subprocess.run([sys.executable, "-c", limited, *args], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 3, run.stderr
    lines = run.stderr.strip().splitlines()
    assert lines[-1] == (f"ferry: error: spool folder {spool} cannot take more (File too large); free space or give "
                         "another --spool")
    assert "Traceback" not in run.stderr
    big = [r for r in ledger_rows(small["ledger"]) if r["package"] == "big"]
    assert [r["state"] for r in big] == ["downloading"]  # still to do, not a failed or corrupt item
    assert not [k for k in target_assets(small["store"], "acme") if k[2] == "big"]
    assert list(spool.iterdir()) == []  # no partial file left behind

    again = subprocess.run([sys.executable, "-m", "ferry", *args], env=env, capture_output=True, text=True,
                           timeout=120)
    assert again.returncode == 0, again.stderr
    assert ferry("verify", str(small["job"]), "--state", str(small["ledger"])) == 0


def test_a_full_spool_disk_is_a_clear_fatal_error(small, tmp_path, monkeypatch, capsys):
    import ferry.transfer

    _big_raw_file(small)
    real_open = open

    def dev_full(path, mode="r", *args, **kwargs):  # every spool file lands on a disk with no space left
        return real_open("/dev/full", mode, *args, **kwargs) if "w" in mode else real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(ferry.transfer, "open", dev_full, raising=False)
    spool = tmp_path / "spool"
    assert _migrate(small, "--spool", str(spool)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == (f"ferry: error: spool folder {spool} cannot take more (No space left on device); free space "
                       "or give another --spool")
    assert {r["state"] for r in ledger_rows(small["ledger"])} <= {"planned", "downloading"}
    assert target_assets(small["store"], "acme") == {}
    monkeypatch.delattr(ferry.transfer, "open")  # space again
    assert _migrate(small, "--spool", str(spool)) == 0


@pytest.mark.parametrize("how", ["under-a-file", "is-a-file"])
def test_a_spool_path_that_cannot_be_a_folder_is_refused_before_the_run(small, tmp_path, capsys, how):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    spool = blocker / "spool" if how == "under-a-file" else blocker
    assert _migrate(small, "--spool", str(spool)) == 2  # bad input: found before anything is contacted
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ferry: error: --spool {spool}: {blocker} is a file, not a folder; choose another path"
                   if how == "under-a-file" else f"ferry: error: --spool {spool}: is a file, not a folder; name a folder"]
    assert target_assets(small["store"], "acme") == {}


def test_a_spool_folder_that_fails_during_the_run_is_a_clear_fatal_error(small, tmp_path, capsys, monkeypatch):
    """What the check before the run cannot see (the folder made read-only, removed, its disk gone): exit 3."""
    import ferry.transfer

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(ferry.transfer.tempfile, "mkstemp", refused)
    spool = tmp_path / "spool"
    assert _migrate(small, "--spool", str(spool)) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"ferry: error: spool folder {spool} is not usable (Permission denied); give a writable --spool"
    assert target_assets(small["store"], "acme") == {}


@pytest.mark.timeout(300)
def test_a_source_that_goes_down_mid_run_stops_the_run_instead_of_failing_every_item(small, monkeypatch, capsys):
    """Nexus stops answering once the plan is made (every request a 503): each item would spend its retries and
    be failed in turn, hours for a large job, ending in exit 1 with everything failed. After OUTAGE_ITEMS items
    in a row gave up so, the run stops with one line (exit 3), the rest left to do, and the same command
    completes once Nexus is back."""
    from ferry.engine import Engine
    from ferry.outage import OUTAGE_ITEMS

    sandbox = small["sandbox"]
    s = NexusSeeder(sandbox.urls()["nexus"])
    for i in range(4, 44):  # 40 more raw versions: more items than the outage takes to be told
        s.raw("raw-files", f"tool/{i}.0", {"tool.bin": f"tool {i}".encode() * 100})
    total = 4 * 3 + 40
    planned = Engine.transfer

    def nexus_goes_down(self, *args, **kwargs):
        sandbox.faults["nexus"].configure(FaultSpec.parse("error5xx=1"), SEED)
        return planned(self, *args, **kwargs)

    monkeypatch.setattr(Engine, "transfer", nexus_goes_down)
    assert _migrate(small, "--workers", "4") == 3
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith(f"ferry: error: {OUTAGE_ITEMS} items in a row gave up after every retry on 5xx errors"), last
    assert last.endswith("a side stopped answering: check it, then run the same command again to resume"), last
    states = [r["state"] for r in ledger_rows(small["ledger"])]
    assert states.count("failed") >= OUTAGE_ITEMS
    assert len([s for s in states if s in ("planned", "downloading")]) > 0  # stopped before the rest
    assert len(states) == total

    sandbox.faults["nexus"].configure(FaultSpec.parse(None), SEED)  # Nexus is back
    monkeypatch.setattr(Engine, "transfer", planned)
    assert _migrate(small) == 0
    assert {r["state"] for r in ledger_rows(small["ledger"])} == {"confirmed"}
