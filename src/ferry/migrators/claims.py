"""Who took each CodeArtifact identity during one listing: how normalizing formats (NuGet, Swift) find
two source files that would land on the same package version, and Cargo and RubyGems two that their
clients take for one version (``Twin``/``twin``, ``1.0.1``/``1.0.1+b7``; gem ``1.0``/``1.0.0``: see
:mod:`ferry.migrators.cargo` and :mod:`ferry.migrators.ruby`).

CodeArtifact lowercases NuGet ids and normalizes their versions, and lowercases Swift scopes and names,
so ``Acme.Tools 1.0.0`` and ``acme.tools 1.0.0.0`` are one package version there. Merging them
silently would publish one and report the other as "same" or "conflict" against it. Instead the
first file listed keeps the identity and every later file claiming it is reported as unmappable,
naming the file that holds it. A rerun lists in the same order, so the verdicts are stable.

Claims are kept per mapping object, since the engine lists the next mapping while it plans the current
one (two listings call ``identify`` in turns); :meth:`Claims.forget` drops a mapping's claims once its
listing has ended (``inventory.want`` calls the migrator's ``forget``), so the next listing of it starts
afresh. Memory: one small entry per package version of each repository being listed.
"""

from __future__ import annotations

import threading
from typing import Any

from ferry.sources.base import SourceFile


class Claims:
    """Identity → the source file that claimed it first, for the listing under way. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        # id(mapping) -> (mapping, identity -> (url, path, sha256)); the mapping is held so its id stays its own.
        self._listings: dict[int, tuple[Any, dict[tuple, tuple[str, str, str | None]]]] = {}

    def claim(self, mapping: Any, identity: tuple, file: SourceFile) -> str | None:
        """Claim ``identity`` for ``file`` in ``mapping``'s listing. Returns None if it is ``file``'s (first
        claim, the same file listed again, or a copy with the same SHA-256, which the plan folds into one
        item), else the path of the source file that already holds it."""
        sha = file.checksums.sha256
        with self._lock:
            owners = self._listings.setdefault(id(mapping), (mapping, {}))[1]
            url, path, owner_sha = owners.setdefault(identity, (file.url, file.path, sha))
            return None if url == file.url or (sha is not None and sha == owner_sha) else path

    def forget(self, mapping: Any) -> None:
        """Drop the claims of ``mapping``'s listing (it has ended): the next listing of it starts afresh."""
        with self._lock:
            self._listings.pop(id(mapping), None)
