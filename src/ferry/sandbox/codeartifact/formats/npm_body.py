"""Streaming reader for the body of ``npm publish`` (a JSON document that may be up to 2 GB).

The body is ``{"name", "versions": {...}, "dist-tags": {...}, "_attachments": {"<file>.tgz":
{"data": "<base64>", "length": N, ...}}}``. Almost all of it is the base64 tarball, so this reader
parses the JSON itself, one buffer at a time: every value except ``_attachments.*.data`` becomes a
normal Python object (that part is small), and each ``data`` string is base64-decoded chunk by chunk
straight into the blob store, leaving a :class:`~ferry.sandbox.blobs.Blob` in its place. Memory
therefore stays at about one read buffer whatever the tarball's size, and the order of keys in the
document does not matter.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, BinaryIO, Iterator

from ferry.sandbox.blobs import CHUNK, Blob, BlobStore

MAX_BODY = 2 * 1024 ** 3  # CodeArtifact's fixed limit for one npm publish request
MAX_METADATA = 64 * 1024 ** 2  # everything but the attachment data; far above any real package.json
MAX_DEPTH = 256

_SCALAR = re.compile(rb"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null")
_DELIMITER = re.compile(rb"[ \t\r\n,\]}]")
_SPACE = b" \t\r\n"
_B64_ALPHABET = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=")


class BadBody(ValueError):
    """The body is not a well-formed publish document (the message says where)."""


class BodyTooLarge(BadBody):
    """The body, or its metadata part, is over the limit."""


def read_publish_body(stream: BinaryIO, blobs: BlobStore, max_body: int = MAX_BODY) -> dict[str, Any]:
    """Parse a publish body from ``stream``; attachment ``data`` strings are stored in ``blobs``.

    Returns the document as a dict in which each ``_attachments[name]["data"]`` that was a string is
    now the stored :class:`Blob` of its decoded bytes. Raises :class:`BadBody` for malformed JSON or
    base64, :class:`BodyTooLarge` past ``max_body`` bytes or :data:`MAX_METADATA` of metadata.
    """
    reader = _Reader(stream, blobs, max_body)
    if reader.peek() != ord("{"):
        raise BadBody("the publish body must be a JSON object")
    doc = reader.value(())
    reader.end()
    return doc


class _Reader:
    def __init__(self, stream: BinaryIO, blobs: BlobStore, max_body: int):
        self._stream = stream
        self._blobs = blobs
        self._max_body = max_body
        self._buf = b""
        self._pos = 0
        self._read = 0
        self._meta_left = MAX_METADATA

    # -- buffer ------------------------------------------------------------------------------------

    def _more(self) -> bool:
        """Append the next chunk, dropping what was consumed. Offsets from ``_pos`` stay valid."""
        data = self._stream.read(CHUNK)
        if not data:
            return False
        self._read += len(data)
        if self._read > self._max_body:
            raise BodyTooLarge(f"publish body is larger than {self._max_body} bytes")
        self._buf = self._buf[self._pos:] + data
        self._pos = 0
        return True

    def _need(self, n: int) -> None:
        while len(self._buf) - self._pos < n:
            if not self._more():
                raise BadBody("publish body ended early")

    def peek(self) -> int:
        """The next non-whitespace byte (not consumed)."""
        while True:
            buf, pos = self._buf, self._pos
            while pos < len(buf) and buf[pos] in _SPACE:
                pos += 1
            self._pos = pos
            if pos < len(buf):
                return buf[pos]
            if not self._more():
                raise BadBody("publish body ended early")

    def _expect(self, char: bytes) -> None:
        if self.peek() != char[0]:
            raise BadBody(f"expected {char.decode()!r} at byte {self._read - len(self._buf) + self._pos}")
        self._pos += 1

    def end(self) -> None:
        while True:
            rest = self._buf[self._pos:]
            if rest.strip(_SPACE):
                raise BadBody("unexpected data after the JSON document")
            self._pos = len(self._buf)
            if not self._more():
                return

    # -- values ------------------------------------------------------------------------------------

    def value(self, path: tuple) -> Any:
        if len(path) > MAX_DEPTH:
            raise BadBody("JSON nested too deeply")
        c = self.peek()
        if c == ord("{"):
            self._pos += 1
            obj: dict[str, Any] = {}
            if self.peek() == ord("}"):
                self._pos += 1
                return obj
            while True:
                if self.peek() != ord('"'):
                    raise BadBody("expected an object key")
                key = self._string()
                self._expect(b":")
                obj[key] = self.value(path + (key,))
                c = self.peek()
                self._pos += 1
                if c == ord("}"):
                    return obj
                if c != ord(","):
                    raise BadBody("expected ',' or '}' in an object")
        if c == ord("["):
            self._pos += 1
            arr: list[Any] = []
            if self.peek() == ord("]"):
                self._pos += 1
                return arr
            while True:
                arr.append(self.value(path + (len(arr),)))
                c = self.peek()
                self._pos += 1
                if c == ord("]"):
                    return arr
                if c != ord(","):
                    raise BadBody("expected ',' or ']' in an array")
        if c == ord('"'):
            if len(path) == 3 and path[0] == "_attachments" and path[2] == "data":
                return self._blobs.put_chunks(self._base64_chunks())
            return self._string()
        return self._scalar()

    def _string(self) -> str:
        """A JSON string at ``_pos`` (which holds the opening quote), decoded."""
        rel = 1
        while True:
            end = self._buf.find(b'"', self._pos + rel)
            if end == -1:
                rel = len(self._buf) - self._pos
                if not self._more():
                    raise BadBody("unterminated string")
                continue
            slashes = 0
            while self._buf[end - 1 - slashes] == 0x5C:
                slashes += 1
            if slashes % 2 == 0:
                break
            rel = end - self._pos + 1
        raw = self._buf[self._pos:end + 1]
        self._pos = end + 1
        self._meta_left -= len(raw)
        if self._meta_left < 0:
            raise BodyTooLarge(f"publish metadata is larger than {MAX_METADATA} bytes")
        try:
            return json.loads(raw, strict=False)
        except ValueError as err:
            raise BadBody(f"bad string: {err}") from None

    def _scalar(self) -> Any:
        """A number, true, false or null: the bytes up to the next delimiter, which may be in a later chunk."""
        while True:
            m = _DELIMITER.search(self._buf, self._pos)
            if m:
                end = m.start()
                break
            if len(self._buf) - self._pos > 512:  # no number or literal is that long
                raise BadBody("expected a JSON value")
            if not self._more():
                end = len(self._buf)
                break
        token = self._buf[self._pos:end]
        if not _SCALAR.fullmatch(token):
            raise BadBody("expected a JSON value")
        self._pos = end
        return json.loads(token)

    def _base64_chunks(self) -> Iterator[bytes]:
        """Decoded bytes of the base64 JSON string at ``_pos``, chunk by chunk, consuming it."""
        self._pos += 1
        carry = b""
        while True:
            buf = self._buf
            quote = buf.find(b'"', self._pos)
            slash = buf.find(b"\\", self._pos, quote if quote != -1 else len(buf))
            stop = slash if slash != -1 else quote
            piece = buf[self._pos:stop] if stop != -1 else buf[self._pos:]
            self._pos = stop if stop != -1 else len(buf)
            if piece:
                text = carry + piece
                whole = len(text) // 4 * 4
                if whole:
                    yield _b64decode(text[:whole])
                carry = text[whole:]
            if stop == -1:
                if not self._more():
                    raise BadBody("unterminated attachment data")
                continue
            if stop == quote:
                self._pos += 1
                break
            # An escape inside base64: only "\/" and escaped whitespace or ASCII can occur.
            self._need(2)
            esc = self._buf[self._pos + 1]
            if esc == ord("u"):
                self._need(6)
                try:
                    char = int(self._buf[self._pos + 2:self._pos + 6], 16)
                except ValueError:
                    raise BadBody("bad \\u escape in attachment data") from None
                self._pos += 6
            else:
                char = {ord("/"): 0x2F, ord("n"): 0x0A, ord("r"): 0x0D, ord("t"): 0x09}.get(esc, -1)
                self._pos += 2
            if char in _B64_ALPHABET:
                carry += bytes([char])
            elif char not in _SPACE:
                raise BadBody("attachment data is not base64")
        if carry.strip(b"="):
            raise BadBody("attachment data is not base64 (length is not a multiple of 4)")


def _b64decode(text: bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise BadBody("attachment data is not base64") from None


def attachment_blobs(doc: dict[str, Any]) -> dict[str, tuple[Blob, Any]]:
    """``{attachment name: (blob, declared length)}`` for the attachments whose data was stored."""
    out: dict[str, tuple[Blob, Any]] = {}
    attachments = doc.get("_attachments")
    if isinstance(attachments, dict):
        for name, att in attachments.items():
            if isinstance(att, dict) and isinstance(att.get("data"), Blob):
                out[name] = (att["data"], att.get("length"))
    return out
