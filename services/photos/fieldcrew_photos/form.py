"""Reading a photo upload's ``multipart/form-data`` body as it streams in, within fixed limits.

The route calls this only after the caller is known to be on the crew. The ``file`` part goes
straight into memory and is cut off with 413 the moment it passes ``max_upload_bytes``, so the
rest of an oversized body, or of one whose ``Content-Length`` lies or is absent, is never read.
The only other parts allowed are a short ``caption`` and a ``phase``; any other part, a second
file or a malformed body is refused with 422 (after reading the rest of the body, which the
route's body limit bounds, so that a client still sending receives the answer). Nothing is
written to disk, and the client's filename and declared content type are read past and never
kept: storage names come from the bytes' digest, the type from decoding them.
"""

from __future__ import annotations

from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fieldcrew_shared.api_models import MAX_CAPTION, MULTI_LINE
from fieldcrew_shared.errors import UploadRejectedError
from fieldcrew_shared.events import Phase
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

FILE = "file"
MAX_FIELD_BYTES = 4 * MAX_CAPTION  # UTF-8 takes at most four bytes a character
MAX_HEADER_BYTES = 1024


class PhotoFields(BaseModel):
    """The form fields beside the file."""

    model_config = ConfigDict(extra="forbid")

    caption: str = Field(default="", max_length=MAX_CAPTION, pattern=MULTI_LINE)
    phase: Phase | None = None


@dataclass(frozen=True)
class PhotoForm:
    """What the client sent: the file's bytes (unchecked) and the validated fields."""

    data: bytes
    fields: PhotoFields


def invalid(message: str, *where: str) -> RequestValidationError:
    """A 422 in the shape of FastAPI's own validation errors."""
    return RequestValidationError([{"loc": ("body", *where), "msg": message, "type": "value"}])


@dataclass
class _Parts:
    """multipart callbacks: collect each part within its limit as it arrives."""

    max_file_bytes: int
    values: dict[str, bytearray] = field(default_factory=dict)
    header_name: bytearray = field(default_factory=bytearray)
    header_value: bytearray = field(default_factory=bytearray)
    disposition: bytes = b""
    current: str = ""
    complete: bool = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]
        if len(self.header_value) > MAX_HEADER_BYTES:
            raise invalid("a part header is too long")

    def on_header_end(self) -> None:
        if bytes(self.header_name).lower() == b"content-disposition":
            self.disposition = bytes(self.header_value)
        self.header_name.clear()
        self.header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.disposition)
        self.disposition = b""
        name = options.get(b"name", b"").decode("utf-8", errors="replace")
        if name not in (FILE, *PhotoFields.model_fields):
            raise invalid("unknown form field", name)
        if name in self.values:
            raise invalid("the field is sent more than once", name)
        self.current, self.values[name] = name, bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        value = self.values[self.current]
        value += data[start:end]
        if self.current == FILE and len(value) > self.max_file_bytes:
            raise UploadRejectedError(
                f"the photo is larger than {self.max_file_bytes} bytes",
                status=413,
                code="too_large",
            )
        if self.current != FILE and len(value) > MAX_FIELD_BYTES:
            raise invalid("the field is too long", self.current)

    def on_end(self) -> None:
        self.complete = True


async def read_photo_form(request: Request, max_file_bytes: int) -> PhotoForm:
    """Parse the upload as it streams in; 413 past ``max_file_bytes``, 415 when the body is
    not multipart, 422 for anything else wrong with the form."""
    parts = _Parts(max_file_bytes)
    parser = _parser(request, parts)
    refusal: RequestValidationError | None = None
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            if refusal is not None:
                continue  # read on (bounded by the body limit) so that the 422 is received
            try:
                parser.write(chunk)
            except FormParserError as exc:
                refusal = invalid(f"the multipart body is malformed: {exc}")
            except RequestValidationError as exc:
                refusal = exc
    if refusal is not None:
        raise refusal
    if not parts.complete:
        raise invalid("the multipart body ends before its closing boundary")
    if FILE not in parts.values:
        raise invalid("Field required", FILE)
    return PhotoForm(bytes(parts.values.pop(FILE)), _fields(parts.values))


def _parser(request: Request, parts: _Parts) -> MultipartParser:
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data":
        raise UploadRejectedError(
            "a photo is uploaded as multipart/form-data with a `file` field",
            code="unsupported_media_type",
        )
    boundary = options.get(b"boundary")
    if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
        raise invalid("the multipart boundary is missing or too long")
    callbacks: MultipartCallbacks = {
        "on_header_field": parts.on_header_field,
        "on_header_value": parts.on_header_value,
        "on_header_end": parts.on_header_end,
        "on_headers_finished": parts.on_headers_finished,
        "on_part_data": parts.on_part_data,
        "on_end": parts.on_end,
    }
    return MultipartParser(boundary, callbacks, max_header_count=8)


def _fields(values: dict[str, bytearray]) -> PhotoFields:
    try:
        text = {name: value.decode("utf-8") for name, value in values.items() if value}
        return PhotoFields.model_validate(text)
    except UnicodeDecodeError as exc:
        raise invalid("a form field is not UTF-8") from exc
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_context=False)]
        ) from exc


async def discard(request: Request) -> None:
    """Read and drop the body of a refused upload, so that the refusal reaches a client that
    is still sending (closing on unread data would reset the connection instead). The route's
    body limit still bounds what is read."""
    async with aclosing(request.stream()) as stream:
        async for _ in stream:
            pass
