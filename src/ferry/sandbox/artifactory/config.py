"""Settings of the Artifactory stand-in: what differs between Artifactory releases and installations.

Every setting can be given to :class:`ArtifactoryConfig` directly or through an environment variable
(read by :meth:`ArtifactoryConfig.from_env`, which ``ArtifactoryApp`` uses when no config is passed):

=====================  ==================================  ================================================
setting                variable                            meaning
=====================  ==================================  ================================================
``users``              ``FERRY_ARTIFACTORY_ADMIN_PASSWORD`` ``{"admin": <password>}``; default ``password``,
                                                           what a fresh Artifactory has
``anonymous_read``     ``FERRY_ARTIFACTORY_ANONYMOUS``     anonymous users may read (default ``0``)
``aql_hard_limit``     ``FERRY_ARTIFACTORY_AQL_HARD_LIMIT`` most rows one AQL answer holds; more are trimmed
                                                           with a ``notification`` in ``range`` (500000, the
                                                           SaaS ``aql.search.query.max.limit``)
``aql_refused``        ``FERRY_ARTIFACTORY_AQL_REFUSED``   0: AQL works; else the HTTP status every AQL call
                                                           gets (403 as for a user AQL is blocked for, 400,
                                                           404 where the endpoint is off)
``aql_max_query``      ``FERRY_ARTIFACTORY_AQL_MAX_QUERY`` longest query text accepted (6000 chars; longer
                                                           is 400) [3P]
``property_paging``    ``FERRY_ARTIFACTORY_PROPERTY_PAGING`` what ``sort``/``offset``/``limit`` do when the
                                                           query includes properties: ``rows`` (default: they
                                                           apply to item-property rows, so items come back
                                                           unsorted with partial properties), ``ignore`` (they
                                                           are dropped), ``error`` (400) [U: docs say only
                                                           "will not work"]
``download_redirect``  ``FERRY_ARTIFACTORY_DOWNLOAD_REDIRECT`` a base URL (e.g. the same server under another host
                                                           name); file downloads then answer 302 to
                                                           ``{base}/artifactory/__cdn/{sha256}``, served
                                                           without credentials, like a CDN redirect
                                                           (default: none)
``seed_defaults``      ``FERRY_ARTIFACTORY_SEED``          create the repositories a fresh Artifactory offers
                                                           (``example-repo-local``, generic) (default ``1``)
=====================  ==================================  ================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

PROPERTY_PAGING = ("rows", "ignore", "error")


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ArtifactoryConfig:
    """How this stand-in behaves; see the module docstring for each field."""

    users: dict[str, str] = field(default_factory=lambda: {"admin": "password"})
    anonymous_read: bool = False
    aql_hard_limit: int = 500_000
    aql_refused: int = 0
    aql_max_query: int = 6000
    property_paging: str = "rows"
    download_redirect: str = ""
    seed_defaults: bool = True

    def __post_init__(self):
        if self.aql_hard_limit < 1:
            raise ValueError("aql_hard_limit must be at least 1")
        if self.aql_refused and not 400 <= self.aql_refused <= 599:
            raise ValueError("aql_refused must be 0 or an HTTP error status")
        if self.property_paging not in PROPERTY_PAGING:
            raise ValueError(f"property_paging must be one of {', '.join(PROPERTY_PAGING)}")

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "ArtifactoryConfig":
        """Defaults overridden by ``FERRY_ARTIFACTORY_*`` variables. Raises ``ValueError`` on bad values."""
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        prefix = "FERRY_ARTIFACTORY_"
        if env.get(prefix + "ADMIN_PASSWORD"):
            kwargs["users"] = {"admin": env[prefix + "ADMIN_PASSWORD"]}
        if env.get(prefix + "ANONYMOUS"):
            kwargs["anonymous_read"] = _flag(env[prefix + "ANONYMOUS"])
        for name in ("aql_hard_limit", "aql_refused", "aql_max_query"):
            if env.get(prefix + name.upper()):
                kwargs[name] = int(env[prefix + name.upper()])
        if env.get(prefix + "PROPERTY_PAGING"):
            kwargs["property_paging"] = env[prefix + "PROPERTY_PAGING"].strip()
        if env.get(prefix + "DOWNLOAD_REDIRECT"):
            kwargs["download_redirect"] = env[prefix + "DOWNLOAD_REDIRECT"].rstrip("/")
        if env.get(prefix + "SEED"):
            kwargs["seed_defaults"] = _flag(env[prefix + "SEED"])
        return cls(**kwargs)
