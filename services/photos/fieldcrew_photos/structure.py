"""What an image file is made of: pixel data, metadata, and whatever trails after the image.

A file can be a valid image *and* something else (a polyglot): PHP in a JPEG comment, HTML in
EXIF text, a ZIP archive appended after the image's end. Decoding the pixels does not notice
any of it, so the non-pixel parts are checked here:

- Every metadata segment (JPEG APPn/COM and tables, PNG chunks other than IDAT/fdAT, WebP
  chunks other than VP8/VP8L/ALPH/ANMF) and the trailer are scanned for markers of active
  content (``<?php``, ``<script``, ``<html``, ...) and for archive/executable signatures.
- Compressed pixel data is *not* scanned: it looks random, and short markers would turn up in
  honest photos by chance. The copy served to clients is re-encoded from decoded pixels, so a
  payload hidden in pixel data never reaches a client either.
- The metadata taken together is limited in size (a "huge EXIF" blob is refused).
- A trailer (bytes after JPEG EOI, PNG IEND or the WebP RIFF size) is allowed, because phones
  write one (Motion Photos, Samsung's trailer, the MPF images of Ultra HDR), but it is scanned.

Pure: no I/O. :func:`check` raises :class:`UploadRejectedError` with status 422.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from fieldcrew_shared.errors import UploadRejectedError

Span = tuple[int, int]

ACTIVE_CONTENT = re.compile(
    rb"(?i:<\?php\s|<script[\s>/]|<html[\s>]|<body[\s>]|<iframe[\s>]|<object[\s>]"
    rb"|<embed[\s>]|<svg[\s>/]|<!doctype\s|<\?xml-stylesheet|javascript:)"
    rb"|PK\x03\x04[\x0a\x14\x2d]\x00|PK\x05\x06\x00\x00\x00\x00"  # ZIP entry, end of archive
    rb"|%PDF-\d\.\d|\x7fELF[\x01\x02][\x01\x02]\x01|Rar!\x1a\x07|7z\xbc\xaf\x27\x1c"
)
"""Markers of script, markup, archives and executables, each long enough (5+ fixed bytes) that
an honest photo's metadata or trailer practically never holds one by chance."""

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_PIXELS = frozenset({b"IDAT", b"fdAT"})
_WEBP_PIXELS = frozenset({b"VP8 ", b"VP8L", b"ALPH", b"ANMF"})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM, RST0-7: no length follows
_JPEG_EOI, _JPEG_SOS = 0xD9, 0xDA


class MalformedImageError(ValueError):
    """The file's segments or chunks do not add up (truncated, or lengths that lie)."""


@dataclass(frozen=True)
class Anatomy:
    """Where a file's non-pixel parts are: ``metadata`` spans before the image's end, and the
    ``trailer`` span after it (empty when the file ends with the image)."""

    metadata: tuple[Span, ...]
    trailer: Span

    @property
    def metadata_bytes(self) -> int:
        return sum(end - start for start, end in self.metadata)


def check(
    data: bytes, image_format: str, *, max_metadata_bytes: int, extra: tuple[bytes, ...] = ()
) -> Anatomy:
    """Refuse (422) a file whose structure is broken, whose metadata is over
    ``max_metadata_bytes``, or whose metadata or trailer carries active content. ``extra``:
    metadata the decoder extracted from inside the pixel container (HEIF's Exif and XMP)."""
    try:
        parts = anatomy(data, image_format)
    except MalformedImageError as exc:
        raise UploadRejectedError(
            f"the image is truncated or corrupt: {exc}", status=422, code="corrupt_image"
        ) from exc
    for blob in extra:
        if found := ACTIVE_CONTENT.search(blob):
            raise UploadRejectedError(
                f"the image's metadata carries embedded content: {found.group()[:16]!r}",
                status=422,
                code="embedded_content",
            )
    if parts.metadata_bytes + sum(map(len, extra)) > max_metadata_bytes:
        raise UploadRejectedError(
            f"the image carries {parts.metadata_bytes + sum(map(len, extra))} bytes of "
            "metadata, more than "
            f"{max_metadata_bytes}",
            status=422,
            code="too_much_metadata",
        )
    for start, end in (*parts.metadata, parts.trailer):
        if found := ACTIVE_CONTENT.search(data, start, end):
            raise UploadRejectedError(
                f"the image carries embedded content: {found.group()[:16]!r} at byte "
                f"{found.start()}",
                status=422,
                code="embedded_content",
            )
    return parts


def anatomy(data: bytes, image_format: str) -> Anatomy:
    """Split ``data`` of a Pillow ``image_format`` (JPEG, MPO, PNG, WEBP, HEIF) into its
    parts."""
    if image_format in ("JPEG", "MPO"):
        return _jpeg(data)
    if image_format == "PNG":
        return _png(data)
    if image_format == "WEBP":
        return _webp(data)
    if image_format == "HEIF":
        return _heif(data)
    raise MalformedImageError(f"no known layout for {image_format}")


def _heif(data: bytes) -> Anatomy:
    """HEIF/HEIC (ISO BMFF): every top-level box but ``mdat`` is metadata (``ftyp``, ``meta``
    with its item table, properties and inline data). ``mdat`` holds the coded image and the
    Exif/XMP items: those are checked from what the decoder extracts (``extra`` in
    :func:`check`), the rest is pixel data. Whatever follows the last box is the trailer."""
    if data[4:8] != b"ftyp":
        raise MalformedImageError("no HEIF ftyp box")
    spans: list[Span] = []
    seen: set[bytes] = set()
    pos = 0
    while pos + 8 <= len(data):
        size, kind, header = _length(data, pos, 4, "big"), data[pos + 4 : pos + 8], 8
        if size == 1:  # a 64-bit size follows the type
            size, header = _length(data, pos + 8, 8, "big"), 16
        elif size == 0:  # the box runs to the end of the file
            size = len(data) - pos
        if size < header or pos + size > len(data):
            if seen >= {b"meta", b"mdat"}:  # the image is whole: what follows is a trailer
                break
            raise MalformedImageError(f"HEIF box {kind!r} runs past the end")
        seen.add(kind)
        if kind != b"mdat":
            spans.append((pos, pos + size))
        pos += size
    return Anatomy(tuple(spans), (pos, len(data)))


def _jpeg(data: bytes) -> Anatomy:
    if not data.startswith(b"\xff\xd8"):
        raise MalformedImageError("no JPEG start of image")
    spans: list[Span] = []
    pos = 2
    while True:
        start = pos
        marker, pos = _jpeg_marker(data, pos)
        if marker == _JPEG_EOI:
            return Anatomy(tuple(spans), (pos, len(data)))
        if marker in _JPEG_STANDALONE:
            continue
        end = pos + _length(data, pos, 2, "big")
        if end - pos < 2 or end > len(data):
            raise MalformedImageError(f"JPEG segment {marker:#04x} runs past the end")
        spans.append((start, end))
        pos = _end_of_scan(data, end) if marker == _JPEG_SOS else end


def _jpeg_marker(data: bytes, pos: int) -> tuple[int, int]:
    """The marker at ``pos`` (after any 0xFF fill bytes) and the position after it."""
    if pos >= len(data) or data[pos] != 0xFF:
        raise MalformedImageError("JPEG ends without an end-of-image marker")
    while pos < len(data) and data[pos] == 0xFF:
        pos += 1
    if pos >= len(data):
        raise MalformedImageError("JPEG ends inside a marker")
    return data[pos], pos + 1


def _end_of_scan(data: bytes, pos: int) -> int:
    """Skip entropy-coded data: the position of the next marker that is not a stuffed 0xFF00
    or a restart marker."""
    while (pos := data.find(b"\xff", pos)) != -1 and pos + 1 < len(data):
        follower = data[pos + 1]
        if follower == 0xFF:
            pos += 1
        elif follower == 0x00 or 0xD0 <= follower <= 0xD7:
            pos += 2
        else:
            return pos
    raise MalformedImageError("JPEG ends inside compressed image data")


def _png(data: bytes) -> Anatomy:
    if not data.startswith(_PNG_SIGNATURE):
        raise MalformedImageError("no PNG signature")
    spans: list[Span] = []
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + _length(data, pos, 4, "big")
        if end > len(data):
            raise MalformedImageError(f"PNG chunk {kind!r} runs past the end")
        if kind not in _PNG_PIXELS:
            spans.append((pos, end))
        pos = end
        if kind == b"IEND":
            return Anatomy(tuple(spans), (pos, len(data)))
    raise MalformedImageError("PNG ends without an IEND chunk")


def _webp(data: bytes) -> Anatomy:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise MalformedImageError("no RIFF/WEBP header")
    riff_end = 8 + _length(data, 4, 4, "little")
    if riff_end > len(data):
        raise MalformedImageError("WebP is shorter than its RIFF header says")
    spans: list[Span] = [(0, 12)]
    pos = 12
    while pos < riff_end:
        kind = data[pos : pos + 4]
        size = _length(data, pos + 4, 4, "little")
        if pos + 8 + size > riff_end:
            raise MalformedImageError(f"WebP chunk {kind!r} runs past the end")
        end = min(pos + 8 + size + (size & 1), riff_end)  # chunks are padded to even sizes
        if kind not in _WEBP_PIXELS:
            spans.append((pos, end))
        pos = end
    return Anatomy(tuple(spans), (riff_end, len(data)))


def _length(data: bytes, pos: int, width: int, order: Literal["big", "little"]) -> int:
    field = data[pos : pos + width]
    if len(field) < width:
        raise MalformedImageError("a length field runs past the end")
    return int.from_bytes(field, order)
