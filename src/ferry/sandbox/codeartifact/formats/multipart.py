"""Streaming ``multipart/form-data`` reader for uploads (twine's legacy upload API).

werkzeug's form parser would spool the file part to a temporary file that then has to be copied into
the blob store; this reader drives werkzeug's sans-IO :class:`MultipartDecoder` itself instead, so
the chosen file part goes straight into :meth:`BlobStore.put_chunks` (hashed on the way) and the
small text fields are kept in memory up to a limit. Memory stays at about one read buffer whatever
the file's size, and the order of parts does not matter.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import BinaryIO, Iterator

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from ferry.sandbox.blobs import CHUNK, Blob, BlobStore

MAX_FIELDS_BYTES = 32 * 1024 ** 2  # all non-file parts together (a long description is the big one)
MAX_PARTS = 2000


class BadForm(ValueError):
    """The body is not usable multipart/form-data (the message says why)."""


class FormTooLarge(BadForm):
    """The text fields are over :data:`MAX_FIELDS_BYTES`."""


@dataclass
class Upload:
    """The streamed file part: its client-given filename, the stored blob, and its BLAKE2b-256."""

    filename: str
    blob: Blob
    blake2_256: str


@dataclass
class Form:
    fields: dict[str, list[str]] = field(default_factory=dict)
    upload: Upload | None = None

    def first(self, name: str) -> str | None:
        """The first value of field ``name``, or None."""
        values = self.fields.get(name)
        return values[0] if values else None


def read_form(stream: BinaryIO, content_type: str, blobs: BlobStore, file_field: str) -> Form:
    """Read a multipart body; the first file part named ``file_field`` is stored in ``blobs``.

    Returns the text fields (every other part, decoded as UTF-8) and the upload. Raises
    :class:`BadForm` if the body is not multipart/form-data or is malformed, :class:`FormTooLarge`
    if the text parts are too big.
    """
    mimetype, options = parse_options_header(content_type or "")
    boundary = options.get("boundary")
    if mimetype != "multipart/form-data" or not boundary:
        raise BadForm("expected a multipart/form-data body with a boundary")
    decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=MAX_FIELDS_BYTES,
                               max_parts=MAX_PARTS)
    events = decoder_events(decoder, stream)
    form = Form()
    budget = MAX_FIELDS_BYTES
    try:
        for event in events:
            if isinstance(event, File) and event.name == file_field and form.upload is None:
                blake = hashlib.blake2b(digest_size=32)
                blob = blobs.put_chunks(_part_data(events, blake))
                form.upload = Upload(event.filename, blob, blake.hexdigest())
            elif isinstance(event, (Field, File)):
                value = bytearray()
                for chunk in _part_data(events, None):
                    value += chunk
                    budget -= len(chunk)
                    if budget < 0:
                        raise FormTooLarge(f"form fields are larger than {MAX_FIELDS_BYTES} bytes")
                form.fields.setdefault(event.name, []).append(value.decode("utf-8", "replace"))
    except RequestEntityTooLarge:
        raise FormTooLarge("too many form parts or a form part is too large") from None
    except BadForm:
        raise
    except ValueError as err:  # the decoder's own complaints
        raise BadForm(f"malformed multipart body: {err}") from None
    return form


def decoder_events(decoder: MultipartDecoder, stream: BinaryIO) -> Iterator:
    """The decoder's events for ``stream``, fed in chunks, up to (not including) the epilogue."""
    while True:
        event = decoder.next_event()
        if isinstance(event, NeedData):
            data = stream.read(CHUNK)
            decoder.receive_data(data or None)
            continue
        if isinstance(event, Epilogue):
            return
        yield event


def _part_data(events: Iterator, blake) -> Iterator[bytes]:
    """The bytes of the current part, pulled from the shared event iterator until the part ends."""
    for event in events:
        if not isinstance(event, Data):
            raise BadForm("multipart part ended unexpectedly")
        if event.data:
            if blake is not None:
                blake.update(event.data)
            yield event.data
        if not event.more_data:
            return
    raise BadForm("multipart body ended inside a part")
