"""NuGet registration ("package metadata") documents, shaped as
learn.microsoft.com/nuget/api/registration-base-url-resource describes them: an index of pages, pages of
leaves, and one leaf document per version.

Paging follows nuget.org's documented heuristic: fewer than 128 versions → pages of 64 inlined in the
index; 128 or more → pages of 64 that the client fetches by their ``@id``. Which versions appear:
every downloadable one (``Unlisted`` shows with ``listed: false``); the hives for older clients
(``RegistrationsBaseUrl`` up to ``/3.4.0``) leave SemVer 2.0.0 versions out, ``/3.6.0`` includes them.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

from ferry.sandbox.codeartifact.formats.nuget_meta import NuGetVersion
from ferry.sandbox.codeartifact.store import Package, Version

PAGE_SIZE = 64
INLINE_BELOW = 128

# hive path below the endpoint -> (includes SemVer 2.0.0 versions, gzip when the client accepts it)
HIVES = {
    "v3/registrations/": (False, False),
    "v3/registrations-gz/": (False, True),
    "v3/registrations-gz-semver2/": (True, True),
}
HIVE_TYPES = {
    "v3/registrations/": ("RegistrationsBaseUrl", "RegistrationsBaseUrl/3.0.0-beta", "RegistrationsBaseUrl/3.0.0-rc"),
    "v3/registrations-gz/": ("RegistrationsBaseUrl/3.4.0",),
    "v3/registrations-gz-semver2/": ("RegistrationsBaseUrl/3.6.0",),
}


def iso(epoch: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}+00:00"


class Registrations:
    """Builds the documents of one hive for one package. ``versions`` is sorted by precedence."""

    def __init__(self, endpoint: str, hive: str, pkg: Package, versions: list[tuple[Version, NuGetVersion]],
                 flat: str):
        self.endpoint, self.hive, self.pkg, self.flat = endpoint, hive, pkg, flat
        semver2 = HIVES[hive][0]
        self.versions = [(v, n) for v, n in versions if semver2 or not n.semver2]
        self.base = f"{endpoint}{hive}{quote(pkg.name)}/"

    @property
    def index_url(self) -> str:
        return f"{self.base}index.json"

    def leaf_url(self, n: NuGetVersion) -> str:
        return f"{self.base}{quote(n.lower)}.json"

    def content_url(self, n: NuGetVersion) -> str:
        name, ver = quote(self.pkg.name), quote(n.lower)
        return f"{self.endpoint}{self.flat}{name}/{ver}/{name}.{ver}.nupkg"

    def _pages(self) -> list[list[tuple[Version, NuGetVersion]]]:
        return [self.versions[i:i + PAGE_SIZE] for i in range(0, len(self.versions), PAGE_SIZE)]

    def _page_url(self, chunk: list[tuple[Version, NuGetVersion]], inline: bool) -> str:
        lower, upper = chunk[0][1].lower, chunk[-1][1].lower
        if inline:
            return f"{self.index_url}#page/{lower}/{upper}"
        return f"{self.base}page/{quote(lower)}/{quote(upper)}.json"

    def _leaf_in_page(self, ver: Version, n: NuGetVersion) -> dict[str, Any]:
        catalog = dict((ver.metadata.get("nuget") or {}).get("catalog") or {})
        content = self.content_url(n)
        catalog.update({
            "@id": self.leaf_url(n),
            "id": self.pkg.display_name or self.pkg.name,
            "version": n.normalized,
            "listed": ver.status == "Published",
            "packageContent": content,
            "published": iso(ver.published),
        })
        return {"@id": self.leaf_url(n), "catalogEntry": catalog, "packageContent": content,
                "registration": self.index_url}

    def _page_object(self, chunk: list[tuple[Version, NuGetVersion]], inline: bool,
                     with_items: bool) -> dict[str, Any]:
        page: dict[str, Any] = {"@id": self._page_url(chunk, inline), "count": len(chunk),
                                "lower": chunk[0][1].normalized, "upper": chunk[-1][1].normalized}
        if with_items:
            page["items"] = [self._leaf_in_page(v, n) for v, n in chunk]
            page["parent"] = self.index_url
        return page

    def index(self) -> dict[str, Any] | None:
        """The registration index, or None when the hive shows no version of the package."""
        if not self.versions:
            return None
        inline = len(self.versions) < INLINE_BELOW
        pages = [self._page_object(chunk, inline, inline) for chunk in self._pages()]
        return {"@id": self.index_url, "count": len(pages), "items": pages}

    def page(self, lower: str, upper: str) -> dict[str, Any] | None:
        """A registration page fetched by its ``@id`` (only pages the index did not inline)."""
        if len(self.versions) < INLINE_BELOW:
            return None
        for chunk in self._pages():
            if (chunk[0][1].lower, chunk[-1][1].lower) == (lower.lower(), upper.lower()):
                return self._page_object(chunk, False, True)
        return None

    def leaf(self, version: str) -> dict[str, Any] | None:
        """The registration leaf document of ``version`` (normalized, any case)."""
        for ver, n in self.versions:
            if n.lower == version.lower():
                return {"@id": self.leaf_url(n), "listed": ver.status == "Published",
                        "packageContent": self.content_url(n),
                        "published": iso(ver.published), "registration": self.index_url}
        return None
