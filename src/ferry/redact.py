"""Keeping secrets out of everything ferry writes: messages, log lines, tracebacks, ledger reasons.

Two nets, both applied by :func:`redact`:

- *known values*: every secret ferry handles is registered when it is first read (the source's
  password or token, the HTTP Basic header built from it, each CodeArtifact authorization token,
  the AWS secret key and session token) and replaced wherever it appears, also base64-encoded;
- *shapes*: what a secret looks like in the places libraries print them, so one is caught even
  before ferry has seen it (botocore logs the GetAuthorizationToken reply before the token is
  registered): ``Authorization`` and ``X-Amz-Security-Token`` headers, ``"authorizationToken"``
  JSON fields, ``Basic``/``Bearer`` credentials, passwords in URLs.

:func:`install` puts :func:`redact` in front of every log record of the process (a log record
factory, so every handler, including ones added later, sees redacted text) and is idempotent.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import traceback

MASK = "<redacted>"
# Shorter values are not treated as secrets: replacing "a" everywhere would wreck every message.
MIN_SECRET = 6

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None
_installed = False

_SHAPES = [
    # Header dumps: 'Authorization': b'...' / "Authorization": "..." / Authorization: ... (to end of line)
    (re.compile(r"""(?i)(['"]?(?:authorization|x-amz-security-token|proxy-authorization|x-jfrog-art-api|cookie)"""
                r"""['"]?\s*[:=]\s*b?)(['"])(.*?)\2"""), lambda m: f"{m.group(1)}{m.group(2)}{MASK}{m.group(2)}"),
    (re.compile(r"(?im)^((?:authorization|x-amz-security-token|proxy-authorization|cookie)\s*:\s*).+$"),
     lambda m: f"{m.group(1)}{MASK}"),
    # JSON and Python-repr fields that carry tokens and keys.
    (re.compile(r"""(?i)(['"](?:authorizationToken|secretAccessKey|sessionToken|aws_secret_access_key|"""
                r"""aws_session_token|password|token)['"]\s*:\s*b?['"])([^'"]*)(['"])"""),
     lambda m: f"{m.group(1)}{MASK}{m.group(3)}"),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{16,}"), lambda m: f"{m.group(1)} {MASK}"),
    # user:password@ in URLs
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@"), lambda m: f"{m.group(1)}:{MASK}@"),
]


def _forms(value: str) -> set[str]:
    forms = {value}
    for text in (value, f"aws:{value}"):
        forms.add(base64.b64encode(text.encode()).decode())
    return {f for f in forms if len(f) >= MIN_SECRET}


def register(value: str | None, *, user: str | None = None) -> None:
    """Remember ``value`` as a secret (and its base64 forms; with ``user``, the ``user:value`` Basic form)."""
    global _pattern
    if not value or len(value) < MIN_SECRET:
        return
    forms = _forms(value)
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode())
    with _lock:
        if forms <= _secrets:
            return
        _secrets.update(forms)
        # Longest first, so a secret that contains another is replaced whole.
        _pattern = re.compile("|".join(re.escape(s) for s in sorted(_secrets, key=len, reverse=True)))


def forget_all() -> None:
    """Forget every registered secret. For test isolation: one process runs many ferry commands."""
    global _pattern
    with _lock:
        _secrets.clear()
        _pattern = None


def redact(text: object) -> str:
    """``text`` with every known secret and every secret-shaped value replaced by ``<redacted>``."""
    out = text if isinstance(text, str) else str(text)
    pattern = _pattern
    if pattern is not None:
        out = pattern.sub(MASK, out)
    for shape, replace in _SHAPES:
        out = shape.sub(replace, out)
    return out


def format_exception(err: BaseException) -> str:
    """The traceback of ``err`` (as ``--debug`` prints it), redacted."""
    return redact("".join(traceback.format_exception(type(err), err, err.__traceback__)))


def install() -> None:
    """Redact every log record this process creates from now on (message, arguments, traceback)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
        previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg = redact(record.getMessage())
            record.args = None
            if record.exc_info and record.exc_info[1] is not None:
                record.exc_text = format_exception(record.exc_info[1])
            if record.stack_info:
                record.stack_info = redact(record.stack_info)
        except Exception:  # noqa: BLE001 - a log line must never break the program; drop its text instead
            record.msg, record.args = "<log message dropped: could not be redacted>", None
        return record

    logging.setLogRecordFactory(factory)


def known() -> int:
    """How many secret forms are registered (for tests)."""
    with _lock:
        return len(_secrets)
