"""`ferry report --html`: one self-contained page from a real migration's ledger, rendered by headless Chromium."""

from __future__ import annotations

import html
import re
import shutil
import struct
import subprocess
import zlib

import pytest

from e2e_helpers import aws_env, codeartifact, ferry, write_job
from ferry.report import build_report
from ferry.report_html import render_html
from ferry.sandbox.seed import NexusSeeder, npm_tarball, wheel
from ferry.state.reader import LedgerReader

REPOS = [
    {"source": "npm-internal", "target": "npm-store"},
    {"source": "pypi-internal", "target": "pypi-store"},
    {"source": "raw-files", "target": "generic-store", "namespace": "tools"},
]


@pytest.fixture
def migrated(sandbox, tmp_path, monkeypatch):
    """A migration with one conflict (a different left-pad-acme 1.1.0 planted in the target); returns paths."""
    aws_env(monkeypatch, tmp_path)
    urls = sandbox.urls()
    seeder = NexusSeeder(urls["nexus"])
    for fmt, name in [("npm", "npm-internal"), ("pypi", "pypi-internal"), ("raw", "raw-files")]:
        seeder.create_repository(fmt, name)
    for name, version in [("left-pad-acme", "1.0.0"), ("left-pad-acme", "1.1.0"), ("@acme/ui-kit", "2.0.0")]:
        seeder.npm("npm-internal", name, version)
    seeder.pypi("pypi-internal", *wheel("acme-utils", "1.2.3"))
    seeder.raw("raw-files", "installer/3.4.0", {"installer.bin": b"\x7fELF installer 3.4.0" * 500,
                                                "notes.txt": b"n"})
    ca = codeartifact(urls["codeartifact"])
    ca.create_domain(domain="acme")
    for repo in REPOS:
        ca.create_repository(domain="acme", repository=repo["target"])
    store = sandbox.apps["codeartifact"].store
    target = store.repository(store.domain("us-east-1", None, "acme"), "npm-store")
    planted = npm_tarball("left-pad-acme", "1.1.0", body="module.exports = 'planted';\n")
    store.publish_asset(target, "npm", None, "left-pad-acme", "1.1.0", "package.tgz",
                        store.blobs.put_bytes(planted), single_asset=True)
    job = write_job(tmp_path / "job.toml", urls["nexus"], urls["codeartifact"], REPOS)
    state = tmp_path / "ferry.db"
    assert ferry("migrate", str(job), "--state", str(state), "--no-progress") == 1
    return {"state": state, "tmp": tmp_path}


def _page(migrated, capsys) -> str:
    out = migrated["tmp"] / "run.html"
    assert ferry("report", "--state", str(migrated["state"]), "--html", str(out)) == 0
    assert "HTML report written" in capsys.readouterr().out
    return out.read_text(encoding="utf-8")


def test_the_page_shows_repositories_counts_throughput_and_escaped_failures(migrated, capsys):
    page = _page(migrated, capsys)
    with LedgerReader(migrated["state"]) as reader:
        run = reader.last_run("migrate")
        report = build_report(reader, run.id)
        per_minute = reader.finished_per_minute(run.id)
        largest = reader.largest(run.id, 1)[0]
    # self-contained: no script, no external reference of any kind
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=|url\(|@import""", page, re.I)
    assert page.count("<svg") == 2
    # one table row per (repository, format), with the group's counts from the ledger
    for g in report.groups:
        row = re.search(re.escape(html.escape(f"{g.source_repo} → {g.target_repo}")) + r"</td><td>" + g.format
                        + r"</td>(.*?)</tr>", page)
        assert row, g
        numbers = re.findall(r'<td class="n">([^<]*)</td>', row.group(1))
        assert numbers[0] == str(g.versions) and numbers[1] == str(g.files)
        done = g.states.get("confirmed", 0) + g.states.get("same", 0)
        failed = sum(g.states.get(s, 0) for s in ("conflict", "failed", "unmappable"))
        assert numbers[3] == str(done) and numbers[-1] == str(failed)
    assert {g.target_repo for g in report.groups} == {"npm-store", "pypi-store", "generic-store"}
    # throughput: the run's finished items, all of them counted once
    total = sum(n for _, n in per_minute)
    assert total == sum(report.counts.get(s, 0) for s in ("confirmed", "same", "conflict", "failed", "skipped",
                                                           "unmappable"))
    assert f"{total} items finished over" in page
    # the largest item is the big raw file
    assert largest.asset == "installer.bin"
    assert "Largest items" in page and html.escape(str(largest.key)) in page
    # the failure, its reason escaped
    (failure,) = report.failures
    assert failure.package == "left-pad-acme" and failure.state == "conflict" and failure.reason
    assert "Failed items (1)" in page
    assert html.escape(failure.reason, quote=True) in page
    if html.escape(failure.reason, quote=True) != failure.reason:
        assert failure.reason not in page


def test_every_ledger_value_is_escaped(migrated):
    """A reason carrying markup is shown as text: written into the real ledger the way SQL would, rendered."""
    with LedgerReader(migrated["state"]) as reader:
        run = reader.last_run("migrate")
        reader.db.execute("UPDATE items SET reason = ? WHERE state = 'conflict'",
                          ["<img src=x onerror=alert(1)> & 'quoted' \"too\""])
        reader.db.conn.commit()
        page = render_html(build_report(reader, run.id), reader)
    assert "<img" not in page
    assert "&lt;img src=x onerror=alert(1)&gt; &amp; &#x27;quoted&#x27; &quot;too&quot;" in page


def test_report_output_with_html_extension_writes_the_same_page(migrated, capsys):
    out = migrated["tmp"] / "o.html"
    assert ferry("report", "--state", str(migrated["state"]), "-o", str(out)) == 0
    assert out.read_text(encoding="utf-8") == _page(migrated, capsys)


def _png_pixels(data: bytes) -> tuple[int, int, set[bytes]]:
    """Width, height and the set of distinct scanline payloads' pixel values (RGB/RGBA, 8 bit) of a PNG."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            bpp = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * bpp
    colours: set[bytes] = set()
    prev = bytearray(stride)
    for y in range(height):
        line = raw[y * (stride + 1):(y + 1) * (stride + 1)]
        ftype, cur = line[0], bytearray(line[1:])
        for i in range(stride):
            a = cur[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if ftype == 1:
                cur[i] = (cur[i] + a) & 0xFF
            elif ftype == 2:
                cur[i] = (cur[i] + b) & 0xFF
            elif ftype == 3:
                cur[i] = (cur[i] + (a + b) // 2) & 0xFF
            elif ftype == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xFF
        if y % 4 == 0:
            colours.update(bytes(cur[i:i + 3]) for i in range(0, stride, bpp * 4))
        prev = cur
    return width, height, colours


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.clients
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_headless_chromium_renders_the_page(migrated, capsys, tmp_path):
    page_path = migrated["tmp"] / "run.html"
    _page(migrated, capsys)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*flags, "--dump-dom", page_path.as_uri()], capture_output=True, text=True, timeout=120,
                         check=True).stdout
    for text in ("npm-store", "pypi-store", "generic-store", "Failed items (1)", "left-pad-acme",
                 "items finished over"):
        assert text in dom, text
    assert dom.count("<rect") >= 4
    shot = tmp_path / "out.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", page_path.as_uri()],
                   capture_output=True, timeout=120, check=True)
    width, height, colours = _png_pixels(shot.read_bytes())
    assert (width, height) == (1200, 900)
    # Not blank: the bars' colours are there, not only white and text greys.
    assert bytes.fromhex("2e7d32") in colours and bytes.fromhex("c62828") in colours, len(colours)


def test_the_page_of_a_killed_run_says_to_run_the_command_again(tmp_path):
    """A run whose process died holds no end time: the page says so as status and report do, rather
    than "ended not ended"."""
    from ferry.state import LedgerWriter
    from ferry.state.ledger import writer_lock

    ledger = tmp_path / "ferry.db"
    with writer_lock(ledger), LedgerWriter(ledger) as writer:
        run_id = writer.start_run("migrate", "job.toml")  # and its process stops before end_run
    with LedgerReader(ledger) as reader:
        page = render_html(build_report(reader, run_id), reader)
    assert "crashed" in page and "not ended" not in page
    assert "ended not recorded: its process stopped; run the same command again to resume" in page
