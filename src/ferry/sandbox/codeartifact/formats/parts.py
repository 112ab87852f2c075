"""Streaming ``multipart/form-data`` reader that picks parts by position or name, file or not.

NuGet's push takes "the first part, whatever its name or filename" and SwiftPM sends its
``source-archive`` part without a filename, so :mod:`.multipart` (which streams only *file* parts of
one name) does not fit them. Here a caller says which parts are bodies to store; those stream into
the blob store, every other part is kept in memory up to a small limit. A part sent with
``Content-Transfer-Encoding: base64`` (the Swift registry spec's own example) is decoded on the way;
``quoted-printable`` is decoded for small parts.
"""

from __future__ import annotations

import base64
import binascii
import quopri
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Field, File, MultipartDecoder

from ferry.sandbox.blobs import Blob, BlobStore
from ferry.sandbox.codeartifact.formats.multipart import BadForm, decoder_events

MAX_SMALL_PART = 4 * 1024 ** 2  # a metadata document or a signature, never a package
MAX_PARTS = 64


@dataclass
class Parts:
    """What a body held: stored parts by name (and in order), small parts' bytes by name."""

    stored: list[tuple[str, Blob]] = field(default_factory=list)
    small: dict[str, bytes] = field(default_factory=dict)
    count: int = 0

    def blob(self, name: str) -> Blob | None:
        """The stored part called ``name`` (the first one), or None."""
        return next((b for n, b in self.stored if n == name), None)


def read_parts(stream: BinaryIO, content_type: str, blobs: BlobStore,
               store_it: Callable[[int, str], bool], keep_it: Callable[[int, str], bool] | None = None) -> Parts:
    """Read a multipart body; parts for which ``store_it(index, name)`` is true go to ``blobs``, the
    others are kept in memory when ``keep_it(index, name)`` is true (default: all) and read past otherwise.

    Returns :class:`Parts`. Raises :class:`~.multipart.BadForm` if the body is not
    multipart/form-data, is malformed, has too many parts, or a kept-in-memory part is too big.
    """
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        raise BadForm("expected a multipart/form-data body with a boundary")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=None, max_parts=MAX_PARTS)
    events = decoder_events(decoder, stream)
    parts = Parts()
    try:
        for event in events:
            if not isinstance(event, (Field, File)):
                continue
            encoding = (event.headers.get("Content-Transfer-Encoding") or "").strip().lower()
            index, parts.count = parts.count, parts.count + 1
            if store_it(index, event.name):
                chunks = _part_data(events)
                if encoding == "base64":
                    chunks = _b64_decoded(chunks)
                parts.stored.append((event.name, blobs.put_chunks(chunks)))
                continue
            if keep_it is not None and not keep_it(index, event.name):
                for _chunk in _part_data(events):
                    pass
                continue
            value = bytearray()
            for chunk in _part_data(events):
                value += chunk
                if len(value) > MAX_SMALL_PART:
                    raise BadForm(f"form part {event.name!r} is larger than {MAX_SMALL_PART} bytes")
            data = bytes(value)
            if encoding == "base64":
                data = _b64(data)
            elif encoding == "quoted-printable":
                data = quopri.decodestring(data)
            parts.small.setdefault(event.name, data)
    except RequestEntityTooLarge:
        raise BadForm("too many form parts") from None
    except BadForm:
        raise
    except ValueError as err:  # the decoder's own complaints
        raise BadForm(f"malformed multipart body: {err}") from None
    return parts


def _part_data(events: Iterator) -> Iterator[bytes]:
    """The bytes of the current part, pulled from the shared event iterator until the part ends."""
    for event in events:
        if not isinstance(event, Data):
            raise BadForm("multipart part ended unexpectedly")
        if event.data:
            yield event.data
        if not event.more_data:
            return
    raise BadForm("multipart body ended inside a part")


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(b"".join(data.split()), validate=True)
    except binascii.Error:
        raise BadForm("a base64 part is not valid base64") from None


def _b64_decoded(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Decode base64 text arriving in arbitrary chunks (line breaks allowed), a few KiB at a time."""
    pending = b""
    for chunk in chunks:
        pending += b"".join(chunk.split())
        whole = len(pending) - len(pending) % 4
        if whole:
            yield _b64(pending[:whole])
            pending = pending[whole:]
    if pending:
        yield _b64(pending)
