"""Nexus Repository 3 stand-in: REST v1 under ``/service/rest/v1`` and content under ``/repository``.

Modules: ``app`` (WSGI entry, auth), ``rest`` (repositories, components, assets, search routes),
``content`` (downloads, PUT, twine, npm/PyPI/Cargo endpoints), ``ingest`` (upload rules per format),
``formats`` and ``maven`` (what a package file is and where it goes), ``indexes`` (derived files:
checksums, maven-metadata.xml, packuments, simple pages, cargo index), ``search``, ``render`` (JSON
shapes and ids), ``store`` (SQLite + blob store), ``config`` (settings and their ``FERRY_NEXUS_*``
environment variables).
"""

from ferry.sandbox.nexus.app import NexusApp
from ferry.sandbox.nexus.config import NexusConfig

__all__ = ["NexusApp", "NexusConfig"]
