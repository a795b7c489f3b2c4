"""The file of a ``multipart/form-data`` upload, read as it arrives.

``curl --form file=@model.onnx`` (the style some of GitLab's docs show) sends the file as the ``file``
field of a form; GitLab's Workhorse takes that field's bytes as the upload. ``FilePart`` does the
same, as a stream: it feeds the request body to werkzeug's incremental multipart decoder a chunk at a
time and hands on only the bytes of the ``file`` field, so the file is never held in memory nor
spooled to a temporary file (DESIGN: uploads stream to the store), and the envelope (boundaries,
part headers, other fields) is never stored. Other fields are read past and dropped.
"""
from __future__ import annotations

from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import NEED_DATA, Data, Epilogue, Field, File, MultipartDecoder

from package_api.errors import InvalidInput
from package_api.storage import CHUNK_SIZE, Readable

#: The form field that carries the file, as Workhorse reads it.
FILE_FIELD = "file"
#: How much of the envelope (part headers, a preamble) may pile up before a boundary: a body that
#: never closes its part headers is refused instead of filling memory.
MAX_ENVELOPE = 64 * 1024


def is_multipart(content_type: str | None) -> bool:
    return parse_options_header(content_type)[0] == "multipart/form-data"


class FilePart:
    """The bytes of the ``file`` field of a ``multipart/form-data`` body read from ``stream``, for
    ``read`` as any upload body. Reading raises ``InvalidInput`` for a body that is not well-formed
    multipart, has no ``file`` field, or has more than one."""

    def __init__(self, stream: Readable, content_type: str | None, *, chunk_size: int = CHUNK_SIZE) -> None:
        boundary = parse_options_header(content_type)[1].get("boundary")
        if not boundary:
            raise InvalidInput("a multipart/form-data body needs a boundary in its Content-Type")
        self._stream = stream
        self._chunk_size = chunk_size
        self._decoder = MultipartDecoder(boundary.encode("latin-1"), max_form_memory_size=MAX_ENVELOPE + chunk_size)
        self._pending = bytearray()
        self._part: str | None = None  # the field whose data the decoder is giving: "file", or another
        self._seen_file = False
        self._file_done = False
        self._ended = False

    def read(self, size: int = -1, /) -> bytes:
        wanted = size if size is not None and size > 0 else self._chunk_size
        while len(self._pending) < wanted and not self._file_done:
            self._next()
        if not self._pending and self._file_done and not self._ended:
            while not self._ended:  # read past what follows the file, so the body is checked whole
                self._next()
        data = bytes(self._pending[:wanted])
        del self._pending[:wanted]
        return data

    def _next(self) -> None:
        """Take the decoder's next event, feeding it the body when it needs more."""
        try:
            event = self._decoder.next_event()
            if event is NEED_DATA:
                if self._decoder.complete:
                    raise InvalidInput("the multipart/form-data body ended before its last boundary")
                self._decoder.receive_data(self._stream.read(self._chunk_size) or None)
                return
        except (ValueError, RequestEntityTooLarge):
            raise InvalidInput("the multipart/form-data body is malformed") from None
        if isinstance(event, File | Field):
            if event.name == FILE_FIELD and self._seen_file:
                raise InvalidInput(f"the multipart/form-data body has more than one '{FILE_FIELD}' field")
            self._part = event.name
            self._seen_file = self._seen_file or event.name == FILE_FIELD
        elif isinstance(event, Data) and self._part == FILE_FIELD:
            self._pending += event.data
            self._file_done = not event.more_data
        elif isinstance(event, Epilogue):
            if not self._seen_file:
                raise InvalidInput(
                    f"the multipart/form-data body has no '{FILE_FIELD}' field: send the file as "
                    f"--form {FILE_FIELD}=@<path>, or as the body (curl --upload-file <path>)"
                )
            self._file_done = self._ended = True
