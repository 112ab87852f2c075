"""What a run tells about versions a CodeArtifact source had from elsewhere (an external connection such
as npmjs or PyPI, or another repository of its domain, an upstream).

ferry copies such a version like any other: in the target it is a direct publish. CodeArtifact sets a
package's origin controls by how its first version arrived: for a direct publish ``publish=ALLOW,
upstream=BLOCK``, so newer versions of that package no longer reach the target repository through its
own upstreams or external connection (in the source they did). Nothing in the files shows this, so the
run's notes count those versions per mapping (``audit``: those it would copy; ``migrate``: those it
copied), naming where they came from, and the ledger keeps each one's origin (``source_origin``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ferry.state.reader import LedgerReader

if TYPE_CHECKING:
    from ferry.engine import Engine

_SHOWN = 3  # origins named in a note; the rest are counted


def note(engine: "Engine", reader: LedgerReader, run_id: int | None, command: str) -> None:
    """Append one note per mapping of the run whose copied (``audit``: to be copied) versions came into the
    source from elsewhere. Nothing for other commands or sources without origins."""
    if command not in ("audit", "migrate") or getattr(engine.source, "kind", None) != "codeartifact":
        return  # no other source has origins: no need to read the run's rows back
    which = "action = 'copy'" if command == "audit" else "state = 'confirmed'"
    for m in engine.repository_pairs():
        rows = reader.db.execute(
            "SELECT source_origin, COUNT(*), COUNT(DISTINCT format || ' ' || namespace || ' ' || package) FROM ("
            "SELECT DISTINCT source_origin, format, namespace, package, version FROM items WHERE run_id = ? AND "
            f"target_repo = ? AND source_repo = ? AND source_origin IS NOT NULL AND {which}) "
            "GROUP BY source_origin ORDER BY COUNT(*) DESC, source_origin", [run_id, m.target, m.source]).fetchall()
        if not rows:
            continue
        versions = sum(row[1] for row in rows)
        packages = reader.db.execute(
            "SELECT COUNT(DISTINCT format || ' ' || namespace || ' ' || package) FROM items WHERE run_id = ? AND "
            f"target_repo = ? AND source_repo = ? AND source_origin IS NOT NULL AND {which}",
            [run_id, m.target, m.source]).fetchone()[0]
        named = ", ".join(f"{_label(origin)} {n}" for origin, n, _ in rows[:_SHOWN])
        more = f", {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
        verb = "would copy" if command == "audit" else "copied"
        engine.settings.notes.append(
            f"{m.source} -> {m.target}: {verb} {versions} version(s) of {packages} package(s) the source had from "
            f"elsewhere ({named}{more}) as direct publishes; a package created so gets origin controls "
            "publish=ALLOW, upstream=BLOCK, so its newer versions no longer arrive through the target's upstreams: "
            "set its origin controls, or exclude it to leave it to them (the ledger's source_origin names each "
            "version)")


def _label(origin: str) -> str:
    kind, _, name = origin.partition(":")
    return f"external connection {name}" if kind == "external" else f"repository {name}"
