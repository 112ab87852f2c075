"""Value checks for the job file (:mod:`ferry.config`): each failure is one :class:`UsageError` line.

Lines read ``{file}: {key path}: {what is wrong}; {what to do}``. Values that might be secrets
(``*_env`` keys, URLs) are never echoed back.
"""

from __future__ import annotations

import difflib
import re
import string
from datetime import date, datetime, time, timezone
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from ferry.errors import UsageError
from ferry.model import FORMATS

SOURCE_KINDS = ("nexus", "artifactory", "codeartifact")
ORIGIN_POLICIES = ("report", "allow-publish")
# Maven SNAPSHOT versions: leave them out (counted as skipped) or publish their newest timestamped build.
SNAPSHOT_MODES = ("skip", "timestamped")
DEFAULT_SNAPSHOTS = "skip"
LAYOUT_FIELDS = ("namespace", "package", "version", "asset")

# CodeArtifact's own constraints (botocore model), see shared/reference/service-apis.md.
_DOMAIN = re.compile(r"[a-z][a-z0-9\-]{0,48}[a-z0-9]")
_REPOSITORY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._\-]{1,99}")
_NAMESPACE = re.compile(r"[^#/\s]{1,255}")
_ACCOUNT = re.compile(r"[0-9]{12}")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
# Names other tools use for CodeArtifact's formats (Nexus "raw", Artifactory "gems", ...).
_FORMAT_ALIASES = {"raw": "generic", "maven2": "maven", "rubygems": "ruby", "gems": "ruby", "pip": "pypi",
                   "python": "pypi", "crates": "cargo", "swiftpm": "swift"}
# Upper-case only on purpose: a lower-case "name" is more likely a pasted secret than a variable.
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the string {shown!r}"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, time):
        return "a time of day"
    if isinstance(value, (datetime, date)):
        return "a date"
    return type(value).__name__


class Reader:
    """Typed getters over one parsed TOML document, raising one-line errors that name the key."""

    def __init__(self, label: str):
        self.label = label

    def error(self, where: str, problem: str, fix: str) -> UsageError:
        """Return (not raise) the :class:`UsageError` for *where*."""
        return UsageError(f"{self.label}: {where}: {problem}; {fix}")

    @staticmethod
    def where(prefix: str, key: str) -> str:
        return f"{prefix}.{key}" if prefix else key

    def known_keys(self, table: dict[str, Any], prefix: str, allowed: tuple[str, ...]) -> None:
        """Raise for the first key not in *allowed*, suggesting the closest known one."""
        for key in table:
            if key in allowed:
                continue
            close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            fix = f"did you mean {close[0]!r}?" if close else f"known keys: {', '.join(allowed)}"
            raise self.error(self.where(prefix, key), "unknown key", fix)

    def _get(self, table, prefix, key, required, label):
        where = label or self.where(prefix, key)
        value = table.get(key)
        if value is None and required:
            raise self.error(where, "missing", f"add {key} = ... to [{prefix}]" if prefix else f"add a [{key}] table")
        return where, value

    def table(self, data: dict[str, Any], key: str, required: bool = False) -> dict[str, Any] | None:
        where, value = self._get(data, "", key, required, None)
        if value is not None and not isinstance(value, dict):
            raise self.error(where, f"expected a [{key}] table, not {_describe(value)}", f"write it as [{key}]")
        return value

    def string(self, table, prefix, key, required=False, label=None) -> str | None:
        where, value = self._get(table, prefix, key, required, label)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(where, f"expected a string, not {_describe(value)}", f'quote it: {key} = "..."')
        if not value.strip():
            raise self.error(where, "is empty", "give it a value or remove the key")
        return value.strip()

    def _pattern(self, table, prefix, key, pattern, what, required, label=None) -> str | None:
        value = self.string(table, prefix, key, required, label)
        if value is not None and not pattern.fullmatch(value):
            where = label or self.where(prefix, key)
            raise self.error(where, f"{value!r} is not a valid {what}", "fix the value")
        return value

    def domain(self, table, prefix, key, required=False) -> str | None:
        return self._pattern(table, prefix, key, _DOMAIN,
                             "CodeArtifact domain name (2-50 of a-z 0-9 -, starting with a letter)", required)

    def repository(self, table, prefix, key, required=False) -> str | None:
        return self._pattern(table, prefix, key, _REPOSITORY,
                             "CodeArtifact repository name (2-100 of A-Z a-z 0-9 . _ -, starting with a letter or digit)",
                             required)

    def namespace(self, table, prefix, key) -> str | None:
        return self._pattern(table, prefix, key, _NAMESPACE, "namespace (no '#', '/' or spaces; 1-255 chars)", False)

    def account(self, table, prefix, key) -> str | None:
        return self._pattern(table, prefix, key, _ACCOUNT, "AWS account id (12 digits)", False)

    def region(self, table, prefix, key, required=False) -> str | None:
        return self._pattern(table, prefix, key, _REGION, "AWS region (like us-east-1)", required)

    def role_arn(self, table, prefix, key) -> str | None:
        return self._pattern(table, prefix, key, _ROLE_ARN, "IAM role ARN (arn:aws:iam::123456789012:role/NAME)",
                             False)

    def url(self, table, prefix, key, required=False,
            credentials: str = "use username and password_env") -> str | None:
        """The URL at ``key``, without a trailing slash. ``credentials`` is where the error for credentials
        written into the URL sends the user instead."""
        where, value = self._get(table, prefix, key, required, None)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self.error(where, f"expected a URL string, not {_describe(value)}", f'write {key} = "https://..."')
        try:
            parts = urlsplit(value.strip())
        except ValueError:  # "http://[::1": an unclosed IPv6 bracket
            raise self.error(where, "not a valid URL", f'write {key} = "https://host[:port]/..."') from None
        # Before anything else: a password holding "/", "?" or "#" splits the URL early, so that the
        # user-info shows up as the host (and a port) or in the path; none of it may be echoed.
        if parts.username or parts.password or "@" in value.strip().partition("://")[2]:
            raise self.error(where, "credentials in the URL (it holds an '@')", f"remove them; {credentials}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise self.error(where, "not an http(s) URL", f'write {key} = "https://host[:port]/..."')
        try:
            parts.port
        except ValueError:
            raise self.error(where, "the port is not a number from 0 to 65535", f'write {key} = '
                             '"https://host[:port]/..."') from None
        return value.strip().rstrip("/")

    def env_name(self, table, prefix, key):
        """Return a :class:`ferry.config.Secret` naming the variable, or ``None``."""
        from ferry.config import Secret

        where, value = self._get(table, prefix, key, False, None)
        if value is None:
            return None
        if not isinstance(value, str) or not _ENV_NAME.fullmatch(value.strip()):
            raise self.error(
                where,
                "must be the NAME of an environment variable (A-Z, 0-9, _), not the secret itself",
                f'write {key} = "MY_SECRET" and export MY_SECRET',
            )
        return Secret(value.strip(), origin=f"{self.label}: {where}")

    def choice(self, table, prefix, key, choices, required=False, label=None, aliases=None) -> str | None:
        value = self.string(table, prefix, key, required, label)
        if value is not None and value not in choices:
            close = [aliases[value]] if aliases and value in aliases else []
            close = close or difflib.get_close_matches(value, choices, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"use one of: {', '.join(choices)}"
            raise self.error(label or self.where(prefix, key), f"{value!r} is not one of {', '.join(choices)}", hint)
        return value

    def format(self, table, prefix, key) -> str | None:
        return self.choice(table, prefix, key, tuple(f.value for f in FORMATS), aliases=_FORMAT_ALIASES)

    def integer(self, table, prefix, key, low, high, label=None) -> int | None:
        where, value = self._get(table, prefix, key, False, label)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(where, f"expected a whole number, not {_describe(value)}", f"write it unquoted, e.g. {key} = 4")
        if not low <= value <= high:
            raise self.error(where, f"{value} is out of range", f"use a number from {low} to {high}")
        return value

    def boolean(self, table, prefix, key, label=None) -> bool | None:
        where, value = self._get(table, prefix, key, False, label)
        if value is not None and not isinstance(value, bool):
            raise self.error(where, f"expected true or false, not {_describe(value)}", f"write {key} = true")
        return value

    def globs(self, table, prefix, key, label=None) -> tuple[str, ...]:
        where, value = self._get(table, prefix, key, False, label)
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            if label:  # a command-line flag: say it in command-line terms
                raise self.error(where, "an empty pattern", f"give a glob, e.g. {label} 'acme-*'")
            raise self.error(where, "expected an array of non-empty glob strings", f'write {key} = ["pattern", ...]')
        return tuple(v.strip() for v in value)


def check_rates(r: Reader, where: str, value: Any) -> tuple[tuple[str, float], ...]:
    """Read ``[options.rates]`` (or ``[options.source_rates]``, as ``where`` says): requests per second per
    operation class (0 = no client-side limit).

    Returns ``((class, rate), ...)`` sorted by class; raises for unknown classes and bad numbers.
    """
    from ferry.ratelimit import CLASSES

    if value is None:
        return ()
    if not isinstance(value, dict):
        raise r.error(where, f"expected a table, not {_describe(value)}", f"write it as [{where}]")
    r.known_keys(value, where, CLASSES)
    rates = []
    for name, rate in value.items():
        if isinstance(rate, bool) or not isinstance(rate, (int, float)):
            raise r.error(f"{where}.{name}", f"expected a number, not {_describe(rate)}",
                          f"write it unquoted, e.g. {name} = 10 (requests per second; 0 = no limit)")
        if not 0 <= rate <= 100_000:
            raise r.error(f"{where}.{name}", f"{rate:g} is out of range",
                          "use requests per second from 0 (no limit) to 100000")
        rates.append((name, float(rate)))
    return tuple(sorted(rates))


def check_date(r: Reader, where: str, value: Any) -> datetime | None:
    """Turn a TOML date/datetime or ISO 8601 string into an aware UTC datetime (naive = UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise r.error(where, "not an ISO 8601 date", "write e.g. 2024-01-31 or 2024-01-31T12:00:00Z") from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    raise r.error(where, f"expected a date, not {_describe(value)}", "write e.g. since = 2024-01-31")


def check_layout(r: Reader, where: str, layout: str, namespace_set: bool) -> None:
    """Raise unless *layout* uses known placeholders, each once, with {package} {version} {asset} present."""
    fix = "use {namespace} {package} {version} {asset} separated by text, e.g. \"{package}/{version}/{asset}\""
    try:
        parts = list(string.Formatter().parse(layout))
    except ValueError as err:
        raise r.error(where, f"unbalanced braces ({err})", fix) from None
    seen: list[str] = []
    for literal, name, spec, conv in parts:
        if name is None:
            continue
        if name not in LAYOUT_FIELDS:
            raise r.error(where, f"unknown placeholder {{{name}}}", fix)
        if name in seen:
            raise r.error(where, f"placeholder {{{name}}} appears twice", fix)
        if spec or conv:
            raise r.error(where, f"placeholder {{{name}}} has a format spec or conversion", fix)
        if seen and not literal:
            raise r.error(where, f"{{{seen[-1]}}}{{{name}}} cannot be told apart", "put text such as / between them")
        seen.append(name)
    missing = [name for name in ("package", "version", "asset") if name not in seen]
    if missing:
        raise r.error(where, f"missing {' '.join('{' + m + '}' for m in missing)}", fix)
    if namespace_set and "namespace" in seen:
        raise r.error(where, "uses {namespace} while namespace is also set", "drop one of the two")


@lru_cache(maxsize=64)
def compile_layout(layout: str) -> re.Pattern[str]:
    """A regex with one named group per placeholder; each matches one path segment or less."""
    pattern = []
    for literal, name, _spec, _conv in string.Formatter().parse(layout):
        pattern.append(re.escape(literal))
        if name is not None:
            pattern.append(f"(?P<{name}>[^/]+?)" if name != "asset" else f"(?P<{name}>[^/]+)")
    return re.compile("".join(pattern))

