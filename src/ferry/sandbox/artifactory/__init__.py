"""JFrog Artifactory stand-in, served under ``/artifactory``.

Modules: ``app`` (WSGI entry, auth, routing), ``rest`` (repositories, AQL endpoint, tokens, API keys,
system), ``aql_parse`` and ``aql`` (the query language: parser; SQL translation, paging, limits),
``storage`` (storage API: file/folder info, list, properties, stats), ``content`` (deploy with
properties and checksums, download, delete), ``npm`` (packuments, tarballs, dist-tags, publish),
``pypi`` (twine upload, simple index), ``indexing`` (properties Artifactory sets per package type),
``render`` (JSON shapes), ``store`` and ``store_meta`` (SQLite + blobs; npm metadata, tokens, API
keys), ``config`` (settings and their ``FERRY_ARTIFACTORY_*`` environment variables), ``seed``
(deploying packages the way CI does, for demos and tests).
"""

from ferry.sandbox.artifactory.app import ArtifactoryApp
from ferry.sandbox.artifactory.config import ArtifactoryConfig

__all__ = ["ArtifactoryApp", "ArtifactoryConfig"]
