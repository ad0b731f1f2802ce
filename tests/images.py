"""Test images made in memory with Pillow: real bytes, different for every seed.

``jpeg(1) != jpeg(2)``, ``jpeg(1) == jpeg(1)``. Pixels are seeded noise, so two seeds never
compress to the same bytes. ``jpeg`` can carry EXIF capture time and GPS position.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from datetime import datetime

import pillow_heif
from PIL import ExifTags, Image, ImageDraw
from PIL.TiffImagePlugin import IFDRational

Size = tuple[int, int]


def picture(seed: int, size: Size = (64, 48)) -> Image.Image:
    """An RGB image of seeded noise."""
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    return Image.frombytes("RGB", size, noise)


def jpeg(
    seed: int,
    size: Size = (64, 48),
    exif_time: datetime | None = None,
    gps: tuple[float, float] | None = None,
) -> bytes:
    """A JPEG; ``exif_time`` becomes DateTimeOriginal (plus OffsetTimeOriginal when aware),
    ``gps`` (lat, lon in signed degrees) the GPS position."""
    return _encode(picture(seed, size), "JPEG", exif(exif_time, gps), quality=90)


def scene(
    seed: int,
    size: Size = (640, 480),
    exif_time: datetime | None = None,
    gps: tuple[float, float] | None = None,
) -> bytes:
    """A JPEG a person can tell apart from others at a glance (a sky, ground and a few
    coloured shapes, seeded), for pages and PDFs someone looks at."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, (rng.randrange(90, 160), rng.randrange(140, 200), 230))
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.rectangle((0, height * 2 // 3, width, height), fill=(90, 110 + rng.randrange(60), 70))
    for _ in range(4):
        x, y = rng.randrange(width), rng.randrange(height)
        r = rng.randrange(20, max(21, width // 5))
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=colour, outline=(0, 0, 0), width=3)
    return _encode(image, "JPEG", exif(exif_time, gps), quality=88)


def heic(
    seed: int,
    size: Size = (64, 48),
    exif_time: datetime | None = None,
    gps: tuple[float, float] | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """A real HEIC, as an iPhone sends, encoded by pillow-heif (libheif, x265)."""
    pillow_heif.register_heif_opener()
    options: dict[str, object] = {"quality": 80}
    if xmp is not None:
        options["xmp"] = xmp
    return _encode(picture(seed, size), "HEIF", exif(exif_time, gps), **options)


def png(seed: int, size: Size = (64, 48)) -> bytes:
    """A PNG."""
    return _encode(picture(seed, size), "PNG", None)


def webp(seed: int, size: Size = (64, 48)) -> bytes:
    """A lossless WebP."""
    return _encode(picture(seed, size), "WEBP", None, lossless=True)


def exif(when: datetime | None, gps: tuple[float, float] | None) -> Image.Exif | None:
    """EXIF with DateTimeOriginal and GPS tags, or None when there is nothing to say."""
    if when is None and gps is None:
        return None
    tags = Image.Exif()
    if when is not None:
        sub = tags.get_ifd(ExifTags.IFD.Exif)
        sub[ExifTags.Base.DateTimeOriginal] = when.strftime("%Y:%m:%d %H:%M:%S")
        offset = when.strftime("%z")  # "+0200" or "" when naive
        if offset:
            sub[ExifTags.Base.OffsetTimeOriginal] = f"{offset[:3]}:{offset[3:]}"
    if gps is not None:
        lat, lon = gps
        place = tags.get_ifd(ExifTags.IFD.GPSInfo)
        place[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        place[ExifTags.GPS.GPSLatitude] = _dms(lat)
        place[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        place[ExifTags.GPS.GPSLongitude] = _dms(lon)
    return tags


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Unsigned degrees, minutes and seconds (to 1/10000 s) as EXIF rationals."""
    degrees = abs(value)
    whole = int(degrees)
    minutes = int((degrees - whole) * 60)
    seconds = round((degrees - whole - minutes / 60) * 3600 * 10_000)
    return IFDRational(whole, 1), IFDRational(minutes, 1), IFDRational(seconds, 10_000)


def _encode(image: Image.Image, fmt: str, tags: Image.Exif | None, **options: object) -> bytes:
    buffer = io.BytesIO()
    if tags is not None:
        options["exif"] = tags.tobytes()  # bytes: Pillow skips an Exif holding only sub-IFDs
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG whose header claims ``width`` x ``height`` pixels: a
    decompression bomb as far as any decoder that trusts the header is concerned."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
