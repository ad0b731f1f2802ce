"""What the uploaded bytes really are: format, size in pixels, EXIF capture time and place.

The bytes decide, never the filename or the declared content type. An upload is accepted only
when Pillow recognises it as JPEG, PNG, WebP or HEIC (through pillow-heif), its header claims
no more than the pixel limit, its non-pixel parts are clean
(:mod:`fieldcrew_photos.structure`) **and** it decodes completely, so text renamed to
``.jpg``, other formats, polyglots, truncated files and decompression bombs are refused
before anything is stored. Pure CPU work: callers run :func:`inspect` in a worker thread.
"""

from __future__ import annotations

import io
import math
import re
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pillow_heif
from fieldcrew_shared.errors import UploadRejectedError
from fieldcrew_shared.events import GeoPoint
from PIL import ExifTags, Image

from fieldcrew_photos import structure

CONTENT_TYPES = {
    "JPEG": "image/jpeg",
    "MPO": "image/jpeg",
    "PNG": "image/png",
    "WEBP": "image/webp",
    "HEIF": "image/heic",
}
"""Accepted Pillow formats and the content type recorded for each (MPO: a phone's JPEG)."""

_OPENERS = ["JPEG", "PNG", "WEBP", "HEIF"]
pillow_heif.register_heif_opener()  # Pillow learns HEIF/HEIC; nothing is opened here
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height on display
_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")
# Pillow signals broken input with any of these; a DecompressionBombWarning only surfaces as an
# exception when warnings are errors (as in the tests): both mean "refuse".
_UNREADABLE = (OSError, SyntaxError, ValueError, EOFError, struct.error)
_BOMB = (Image.DecompressionBombError, Image.DecompressionBombWarning)
MAX_METADATA_BYTES = 256 * 1024


@dataclass(frozen=True)
class ImageInfo:
    """What an accepted upload is, as read from its bytes."""

    content_type: str
    width: int
    height: int
    captured_at: datetime | None
    location: GeoPoint | None


def inspect(
    data: bytes, *, max_pixels: int, max_metadata_bytes: int = MAX_METADATA_BYTES
) -> ImageInfo:
    """Identify, check and fully decode ``data``; UploadRejectedError (415/422) when it is not
    an accepted, clean, complete image of at most ``max_pixels`` pixels."""
    image = _open(data)
    with image:
        width, height = image.size  # before _decode: a JPEG draft shrinks ``size``
        if width * height > max_pixels:
            raise _too_many_pixels(f"{width}x{height} is over {max_pixels}")
        structure.check(
            data, str(image.format), max_metadata_bytes=max_metadata_bytes, extra=_inner(image)
        )
        _decode(image)
        exif = image.getexif()
        if exif.get(ExifTags.Base.Orientation) in _ROTATED:
            width, height = height, width
        return ImageInfo(
            content_type=CONTENT_TYPES[str(image.format)],
            width=width,
            height=height,
            captured_at=capture_time(exif),
            location=capture_place(exif),
        )


def _inner(image: Image.Image) -> tuple[bytes, ...]:
    """Metadata a HEIF keeps inside its media data (Exif, XMP): what pillow-heif extracted."""
    if image.format != "HEIF":
        return ()
    found = (image.info.get("exif"), image.info.get("xmp"))
    return tuple(blob for blob in found if isinstance(blob, bytes))


def _open(data: bytes) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data), formats=_OPENERS)
    except _BOMB as exc:
        raise _too_many_pixels(str(exc)) from exc
    except _UNREADABLE as exc:  # UnidentifiedImageError is an OSError
        raise UploadRejectedError(
            "the file is not a JPEG, PNG, WebP or HEIC image", code="unsupported_media_type"
        ) from exc
    if image.format not in CONTENT_TYPES:
        image.close()
        raise UploadRejectedError(
            f"{image.format} images are not accepted", code="unsupported_media_type"
        )
    return image


def _decode(image: Image.Image) -> None:
    """Decode every pixel so that a truncated or corrupt file is caught now."""
    if image.format in ("JPEG", "MPO"):
        # Decode at 1/8 scale: every byte is still read, with 1/64 of the memory.
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
    try:
        image.load()
    except _UNREADABLE as exc:
        raise UploadRejectedError(
            f"the image is truncated or corrupt: {exc}", status=422, code="corrupt_image"
        ) from exc


def _too_many_pixels(detail: str) -> UploadRejectedError:
    return UploadRejectedError(
        f"the image has too many pixels: {detail}", status=422, code="too_many_pixels"
    )


def capture_time(exif: Image.Exif) -> datetime | None:
    """EXIF ``DateTimeOriginal``, in the zone of ``OffsetTimeOriginal`` or else UTC."""
    tags = exif.get_ifd(ExifTags.IFD.Exif)
    raw = _text(tags.get(ExifTags.Base.DateTimeOriginal))
    if raw is None:
        return None
    try:
        naive = datetime.strptime(raw[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:  # "0000:00:00 00:00:00" and other placeholders
        return None
    return naive.replace(tzinfo=_zone(_text(tags.get(ExifTags.Base.OffsetTimeOriginal))))


def _zone(offset: str | None) -> timezone:
    match = _OFFSET.match(offset or "")
    if match is None:
        return UTC
    sign = -1 if match[1] == "-" else 1
    delta = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(sign * delta) if delta < timedelta(hours=24) else UTC


def capture_place(exif: Image.Exif) -> GeoPoint | None:
    """EXIF GPS latitude and longitude as signed decimal degrees, or None."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), _text(gps.get(ExifTags.GPS.GPSLatitudeRef)))
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), _text(gps.get(ExifTags.GPS.GPSLongitudeRef)))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    return GeoPoint(lat=lat, lon=lon)


def _degrees(value: Any, ref: str | None) -> float | None:
    """``(degrees, minutes, seconds)`` rationals and an N/S/E/W ref to signed degrees."""
    if not isinstance(value, tuple) or len(value) != 3 or ref not in ("N", "S", "E", "W"):
        return None
    try:
        d, m, s = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees):
        return None
    return -degrees if ref in ("S", "W") else degrees


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ") or None
