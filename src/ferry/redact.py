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
:func:`redacted_output` does the same for everything written to ``sys.stdout`` and ``sys.stderr``
while a command runs, so a message that forgot to call :func:`redact` is still caught.
"""

from __future__ import annotations

import base64
import io
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

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
    # The same headers quoted inside a line (a server echoing the request in an error body).
    (re.compile(r"(?i)\b((?:proxy-)?authorization|x-amz-security-token|x-jfrog-art-api)(\s*:\s*)"
                r"(?!(?:(?:basic|bearer|aws4-hmac-sha256)\s+)?<redacted>)"
                r"((?:basic|bearer|aws4-hmac-sha256)\s+)?[^\s,;'\"<>]+"),
     lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}{MASK}"),
    # JSON and Python-repr fields that carry tokens and keys (also WebIdentityToken, SessionToken...).
    (re.compile(r"""(?i)(['"](?:authorizationToken|secretAccessKey|aws_secret_access_key|password|"""
                r"""[a-z_]*token)['"]\s*:\s*b?['"])([^'"]*)(['"])"""),
     lambda m: f"{m.group(1)}{MASK}{m.group(3)}"),
    # XML elements of STS and IAM replies (AssumeRole*, GetSessionToken) as botocore's debug log shows them.
    (re.compile(r"(?i)(<(SecretAccessKey|SessionToken|WebIdentityToken|Password)>)[^<]*(</\2>)"),
     lambda m: f"{m.group(1)}{MASK}{m.group(3)}"),
    (re.compile(r"(?i)\b(basic|bearer)\s+[A-Za-z0-9._~+/=-]{16,}"), lambda m: f"{m.group(1)} {MASK}"),
    # Credentials in a URL's query (?access_token=..., &password=...) and the signatures of the signed URLs
    # Artifactory hands downloads to its cloud storage with (S3 X-Amz-Signature, GCS X-Goog-Signature, Azure sig).
    (re.compile(r"(?i)([?&](?:[a-z_-]*token|api[_-]?key|password|secret|[a-z_-]*signature|x-amz-credential|"
                r"x-amz-security-token|sig)=)[^&\s'\"#]+"), lambda m: f"{m.group(1)}{MASK}"),
    # user:password@ in URLs (a shell variable in its place, as in printed install commands, is no secret); up to
    # the last "@" before the host, as URL parsers read it: a password holding an unescaped "@" is hidden whole
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):(?!\$\{?[a-z_][a-z0-9_]*\}?@)[^/\s]*[^/\s@]@"),
     lambda m: f"{m.group(1)}:{MASK}@"),
]


def _forms(value: str) -> set[str]:
    forms = {value}
    for text in (value, f"aws:{value}"):
        forms.add(base64.b64encode(text.encode()).decode())
    return {f for f in forms if len(f) >= MIN_SECRET}


def register(value: str | None, *, user: str | None = None) -> None:
    """Remember ``value`` as a secret (and its base64 forms; with ``user``, the ``user:value`` Basic form)."""
    global _pattern
    if not value:
        return
    forms = _forms(value) if len(value) >= MIN_SECRET else set()
    if user is not None:
        # The Basic form is kept even for a short password: it is long and unique enough to replace.
        basic = base64.b64encode(f"{user}:{value}".encode()).decode()
        if len(basic) >= MIN_SECRET:
            forms.add(basic)
    if not forms:
        return
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


_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def one_line(text: str | None) -> str:
    """``text`` for one terminal line: a server's answer quoted in a reason, or a file name the source chose
    (in an item's key, in a note), may hold line breaks (which would break the list apart) or escape
    sequences (which would restyle or retitle the operator's terminal). Here, beside :func:`redact`, so the
    ledger keeps a run's notes as it keeps them: one line each, no secret."""
    return " ".join(_CONTROL.sub(" ", text or "").split())


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


class RedactingWriter(io.TextIOBase):
    """A text stream that passes everything written to it through :func:`redact` first.

    It has no ``buffer``, so nothing (click's echo looks for one) can write around it.
    """

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # click probes with b"" to tell binary streams from text ones
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self._stream.write(redact(text) if text else text)
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self._stream, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self._stream, "errors", None)


@contextmanager
def redacted_output() -> Iterator[None]:
    """While the block runs, ``sys.stdout`` and ``sys.stderr`` redact everything written to them."""
    out, err = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = RedactingWriter(out), RedactingWriter(err)
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
