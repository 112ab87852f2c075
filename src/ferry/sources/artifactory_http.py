"""HTTP details of the Artifactory source: the credential forms, error statuses as ferry's error kinds."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

from ferry.http import raise_for_status


class _Auth(requests.auth.AuthBase):
    """Sets one header; its repr never shows the secret."""

    def __init__(self, header: str, value: str, label: str):
        self._header, self._value, self.label = header, value, label

    def __call__(self, request):
        request.headers[self._header] = self._value
        return request

    def __repr__(self) -> str:
        return f"<{self.label}, redacted>"


def make_auth(username: str | None, password: str | None, token: str | None) -> _Auth | None:
    """The auth ferry sends: Basic (username + password or token), Bearer (token), X-JFrog-Art-Api (API key)."""
    if username and (password or token):
        # As UTF-8 (RFC 7617), how Artifactory decodes Basic credentials: given text, requests would send
        # Latin-1 (a password with an umlaut refused) or fail outright past it (a euro sign).
        secret = password or token or ""
        return _Auth("Authorization", requests.auth._basic_auth_str(username.encode(), secret.encode()), "basic auth")
    if token:
        if token.startswith("AKC"):
            return _Auth("X-JFrog-Art-Api", token, "API key")
        return _Auth("Authorization", f"Bearer {token}", "bearer token")
    return None


def raise_for(response: requests.Response, what: str) -> None:
    """Turn an HTTP error status into ferry's error kinds; return quietly on success.

    Only an error answer's body is read (for its message): a successful answer may be a download or a
    listing that is still to be streamed.
    """
    if response.status_code < 400:
        return
    raise_for_status(
        response, what, detail=message(response),
        refused=("Artifactory refused the credentials", "check token_env, or username and password_env"),
        forbidden=("the credentials may not read this", "the user or token needs read permission on the repository"),
    )


def message(response: requests.Response) -> str:
    try:
        errors = response.json().get("errors") or []
        return f": {errors[0].get('message')}" if errors else ""
    except (ValueError, AttributeError, IndexError):
        return ""


def same_origin(url: str, base: str) -> bool:
    """Whether ``url`` is on the host (scheme, name and port) of ``base``; a port left out is the scheme's
    (a link that spells ``:443`` out is the same host, and keeps its credentials)."""
    def origin(text: str) -> tuple:
        parts = urlsplit(text)
        return parts.scheme, parts.hostname, parts.port or {"http": 80, "https": 443}.get(parts.scheme)

    return origin(url) == origin(base)
