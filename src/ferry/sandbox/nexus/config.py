"""Settings of the Nexus stand-in: what differs between Nexus releases and installations.

Every setting can be given to :class:`NexusConfig` directly or through an environment variable
(read by :meth:`NexusConfig.from_env`, which ``NexusApp`` uses when no config is passed):

=============================  ==========================  =============================================
setting                        variable                    meaning
=============================  ==========================  =============================================
``page_size``                  ``FERRY_NEXUS_PAGE_SIZE``   items per page of ``/v1/components`` and
                                                           ``/v1/assets``: 10 before Nexus 3.74, 100 from
                                                           3.74 (default 100)
``search_page_size``           ``FERRY_NEXUS_SEARCH_PAGE`` components per page of ``/v1/search*`` (50)
``leading_slash``              ``FERRY_NEXUS_LEADING_SLASH`` asset ``path`` starts with ``/`` as in the
                                                           H2/PostgreSQL "datastore" era (default ``1``);
                                                           ``0`` gives OrientDB-era paths without it
``anonymous_read``             ``FERRY_NEXUS_ANONYMOUS``   anonymous users may read (default ``0``)
``users``                      ``FERRY_NEXUS_ADMIN_PASSWORD`` ``{"admin": <password>}``; default
                                                           ``admin123``, the classic default password
``checksums``                  ``FERRY_NEXUS_CHECKSUMS``   hash names listed in an asset's ``checksum``
                                                           (default ``sha1,md5,sha256,sha512``; older
                                                           releases show only ``sha1,md5``)
``seed_defaults``              ``FERRY_NEXUS_SEED``        create the repositories a fresh Nexus has
                                                           (maven-releases, maven-snapshots, maven-central,
                                                           maven-public, nuget-hosted, nuget.org-proxy,
                                                           nuget-group) on first start (default ``1``)
=============================  ==========================  =============================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

ALL_CHECKSUMS = ("sha1", "md5", "sha256", "sha512")


def _flag(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class NexusConfig:
    """How this stand-in behaves; see the module docstring for each field."""

    page_size: int = 100
    search_page_size: int = 50
    leading_slash: bool = True
    anonymous_read: bool = False
    users: dict[str, str] = field(default_factory=lambda: {"admin": "admin123"})
    checksums: tuple[str, ...] = ALL_CHECKSUMS
    seed_defaults: bool = True

    def __post_init__(self):
        if self.page_size < 1 or self.search_page_size < 1:
            raise ValueError("page sizes must be at least 1")
        unknown = set(self.checksums) - set(ALL_CHECKSUMS)
        if unknown:
            raise ValueError(f"unknown checksum names {sorted(unknown)}; known: {', '.join(ALL_CHECKSUMS)}")

    @property
    def datastore_era(self) -> bool:
        """True when the stand-in mimics an H2/PostgreSQL Nexus (paths with ``/``, raw versions ``""``)."""
        return self.leading_slash

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> "NexusConfig":
        """Defaults overridden by ``FERRY_NEXUS_*`` variables. Raises ``ValueError`` on bad values."""
        env = os.environ if environ is None else environ
        kwargs: dict = {}
        if env.get("FERRY_NEXUS_PAGE_SIZE"):
            kwargs["page_size"] = int(env["FERRY_NEXUS_PAGE_SIZE"])
        if env.get("FERRY_NEXUS_SEARCH_PAGE"):
            kwargs["search_page_size"] = int(env["FERRY_NEXUS_SEARCH_PAGE"])
        if env.get("FERRY_NEXUS_LEADING_SLASH"):
            kwargs["leading_slash"] = _flag(env["FERRY_NEXUS_LEADING_SLASH"])
        if env.get("FERRY_NEXUS_ANONYMOUS"):
            kwargs["anonymous_read"] = _flag(env["FERRY_NEXUS_ANONYMOUS"])
        if env.get("FERRY_NEXUS_ADMIN_PASSWORD"):
            kwargs["users"] = {"admin": env["FERRY_NEXUS_ADMIN_PASSWORD"]}
        if env.get("FERRY_NEXUS_CHECKSUMS"):
            kwargs["checksums"] = tuple(p.strip() for p in env["FERRY_NEXUS_CHECKSUMS"].split(",") if p.strip())
        if env.get("FERRY_NEXUS_SEED"):
            kwargs["seed_defaults"] = _flag(env["FERRY_NEXUS_SEED"])
        return cls(**kwargs)
