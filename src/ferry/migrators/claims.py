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
afresh. Memory: a listing's claims move to a scratch SQLite file once there are many
(:class:`ferry.target_index.ClaimedIdentities`); kept as Python objects, 100,000 of them held 64 MB.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from ferry.sources.base import SourceFile
from ferry.target_index import ClaimedIdentities, fields_digest


class Claims:
    """Identity → the source file that claimed it first, for the listing under way. Thread-safe."""

    def __init__(self, spill_after: int | None = None) -> None:
        self._lock = threading.Lock()
        self._spill_after = spill_after
        # id(mapping) -> (mapping, its claims); the mapping is held so its id stays its own.
        self._listings: dict[int, tuple[Any, ClaimedIdentities]] = {}

    def claim(self, mapping: Any, identity: tuple, file: SourceFile) -> str | None:
        """Claim ``identity`` (a tuple of strings and tuples of strings) for ``file`` in ``mapping``'s listing.
        Returns None if it is ``file``'s (first claim, the same file listed again, or a copy with the same
        SHA-256, which the plan folds into one item), else the path of the source file that already holds it."""
        sha = file.checksums.sha256
        digest = fields_digest((json.dumps(identity),))
        url = fields_digest((file.url,))
        with self._lock:
            listing = self._listings.get(id(mapping))
            if listing is None:
                listing = self._listings[id(mapping)] = (mapping, ClaimedIdentities(self._spill_after))
            owner_url, owner_sha, path = listing[1].setdefault(digest, url, sha, file.path)
        return None if owner_url == url or (sha is not None and sha == owner_sha) else path

    def forget(self, mapping: Any) -> None:
        """Drop the claims of ``mapping``'s listing (it has ended): the next listing of it starts afresh."""
        with self._lock:
            listing = self._listings.pop(id(mapping), None)
        if listing is not None:
            listing[1].close()
