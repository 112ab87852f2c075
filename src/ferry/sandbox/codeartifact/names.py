"""How the control plane normalizes package coordinates it is given, as CodeArtifact does.

The service stores NuGet and Swift packages under normalized names and normalizes the matching API
inputs, so a caller may name a package however it was cased when published (reference 1.6, [V]:
nuget-name-normalization, swift-name-normalization):

- NuGet: the package name is lowercased; the package version is normalized the way NuGet does it
  (``12.0.03.0`` → ``12.0.3``, build metadata dropped). Asset names are *not* normalized.
- Swift: namespace and package name are lowercased; versions are kept as given.
- PyPI is deliberately absent: its documentation says API calls must already use the normalized name.

``ListPackages`` prefixes are not documented either way [U]; :func:`prefix` lowercases them for the two
formats when the call names one (stored names are lowercase, so this only ever finds more).
"""

from __future__ import annotations

from ferry.sandbox.codeartifact.formats.nuget_meta import parse_version

# Formats whose package names (and, for Swift, namespaces) the service lowercases on input.
CASE_INSENSITIVE = ("nuget", "swift")


def coordinates(fmt: str, namespace: str | None, name: str) -> tuple[str | None, str]:
    """(namespace, name) as the service stores them for ``fmt``; other formats come back unchanged."""
    if fmt == "nuget":
        return namespace, name.lower()
    if fmt == "swift":
        return (namespace.lower() if namespace else namespace), name.lower()
    return namespace, name


def version(fmt: str, text: str) -> str:
    """``text`` as the service stores a version of ``fmt``: NuGet versions normalized (an input NuGet
    would not parse is passed through, so the lookup simply finds nothing); other formats unchanged."""
    if fmt != "nuget":
        return text
    parsed = parse_version(text)
    return parsed.normalized if parsed is not None else text


def prefix(fmt: str | None, text: str | None) -> str | None:
    """A ``ListPackages`` name or namespace prefix, lowercased when ``fmt`` is NuGet or Swift [U]."""
    if text and fmt in CASE_INSENSITIVE:
        return text.lower()
    return text
